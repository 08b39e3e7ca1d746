//! Real tokens, minted here with ES256 keys, checked against an issuer whose JWKS is served
//! on loopback: every way a token can be wrong, `scope` and `scp`, and a key rotation picked
//! up by a refetch that unknown key ids cannot turn into a flood.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use keel_auth::{AuthError, JwtSettings, KeySource, Verifier};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ISSUER: &str = "https://idp.test";
const RESOURCE: &str = "https://mcp.test/mcp";

fn signer(name: &str) -> EncodingKey {
    let pem = std::fs::read(format!(
        "{}/tests/keys/{name}.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("test key");
    EncodingKey::from_ec_pem(&pem).expect("EC key")
}

fn public(name: &str, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&signer(name), Algorithm::ES256).expect("JWK");
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn mint(key: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &signer(key)).expect("sign")
}

fn claims(extra: Value) -> Value {
    let now = get_current_timestamp();
    let mut c = json!({ "iss": ISSUER, "aud": RESOURCE, "sub": "alice", "exp": now + 300, "iat": now,
        "scope": "tools:query tools:echo" });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// Serves `jwks` (replaceable) at any path; counts the fetches.
async fn issuer(jwks: Arc<Mutex<JwkSet>>) -> (String, Arc<Mutex<u32>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let fetches = Arc::new(Mutex::new(0u32));
    let counted = Arc::clone(&fetches);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            *counted.lock().unwrap() += 1;
            let body = serde_json::to_string(&*jwks.lock().unwrap()).unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    (url, fetches)
}

fn settings() -> JwtSettings {
    JwtSettings {
        issuer: ISSUER.into(),
        audiences: vec![RESOURCE.into(), "client-123".into()],
        algorithms: vec![Algorithm::ES256],
        leeway: Duration::from_secs(5),
    }
}

async fn verifier() -> (Verifier, Arc<Mutex<JwkSet>>, Arc<Mutex<u32>>) {
    let jwks = Arc::new(Mutex::new(JwkSet {
        keys: vec![public("signer-a", "a")],
    }));
    let (url, fetches) = issuer(Arc::clone(&jwks)).await;
    let source = KeySource::Jwks {
        url,
        min_refetch: Duration::from_millis(300),
        max_age: Duration::from_secs(3600),
        timeout: Duration::from_secs(2),
    };
    (Verifier::new(settings(), source), jwks, fetches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_tokens_pass_and_every_bad_one_is_named() {
    let (v, _, _) = verifier().await;
    let p = v
        .verify(&mint("signer-a", "a", &claims(json!({}))))
        .await
        .expect("valid");
    assert_eq!(p.subject(), Some("alice"));
    assert_eq!(p.issuer(), Some(ISSUER));
    assert_eq!(p.scopes(), ["tools:query", "tools:echo"]);
    // Okta's `scp` array, and a provider putting the client id in `aud`.
    let okta = claims(json!({ "scope": null, "scp": ["tools:query"], "aud": "client-123" }));
    assert_eq!(
        v.verify(&mint("signer-a", "a", &okta))
            .await
            .unwrap()
            .scopes(),
        ["tools:query"]
    );
    let now = get_current_timestamp();
    let cases = [
        (claims(json!({ "exp": now - 60 })), AuthError::Expired),
        (claims(json!({ "nbf": now + 60 })), AuthError::NotYetValid),
        (
            claims(json!({ "aud": "https://other.test/mcp" })),
            AuthError::Audience,
        ),
        (claims(json!({ "aud": null })), AuthError::Audience),
        (
            claims(json!({ "iss": "https://evil.test" })),
            AuthError::Issuer,
        ),
        (claims(json!({ "sub": null })), AuthError::Malformed),
    ];
    for (c, expected) in cases {
        assert_eq!(
            v.verify(&mint("signer-a", "a", &c)).await.unwrap_err(),
            expected,
            "{c}"
        );
    }
    // Within the allowed skew.
    let skewed = claims(json!({ "exp": now - 2 }));
    assert!(v.verify(&mint("signer-a", "a", &skewed)).await.is_ok());
    // Signed by a key the issuer never published, under a known key id.
    let forged = mint("stranger", "a", &claims(json!({})));
    assert_eq!(v.verify(&forged).await.unwrap_err(), AuthError::Signature);
    // `alg: none`, unsigned.
    let b64 = |v: &Value| {
        use std::fmt::Write;
        let bytes = serde_json::to_vec(v).unwrap();
        // base64url without padding, written out to keep the test's dependencies small.
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut s = String::new();
        for c in bytes.chunks(3) {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=c.len() {
                let _ = write!(s, "{}", T[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        s
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(json!({})))
    );
    assert!(v.verify(&none).await.is_err());
    // An algorithm outside the allow-list.
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    assert_eq!(v.verify(&hs).await.unwrap_err(), AuthError::Algorithm);
    assert_eq!(
        v.verify("not-a-jwt").await.unwrap_err(),
        AuthError::Malformed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_and_unknown_ids_cannot_flood_the_issuer() {
    let (v, jwks, fetches) = verifier().await;
    let token_a = mint("signer-a", "a", &claims(json!({})));
    v.verify(&token_a).await.unwrap();
    assert_eq!(*fetches.lock().unwrap(), 1);
    // Fifty tokens naming made-up key ids within the refetch interval: one fetch at most.
    for i in 0..50 {
        let t = mint("stranger", &format!("made-up-{i}"), &claims(json!({})));
        assert_eq!(v.verify(&t).await.unwrap_err(), AuthError::UnknownKey);
    }
    assert!(
        *fetches.lock().unwrap() <= 2,
        "{} fetches",
        fetches.lock().unwrap()
    );
    // The issuer rotates to key b.
    jwks.lock().unwrap().keys.push(public("signer-b", "b"));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let token_b = mint("signer-b", "b", &claims(json!({})));
    assert_eq!(v.verify(&token_b).await.unwrap().subject(), Some("alice"));
    let fetched = *fetches.lock().unwrap();
    // Known keys need no further fetch.
    v.verify(&token_a).await.unwrap();
    v.verify(&token_b).await.unwrap();
    assert_eq!(*fetches.lock().unwrap(), fetched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_issuer_refuses_with_a_clear_reason() {
    let source = KeySource::Jwks {
        url: "http://127.0.0.1:9/jwks.json".into(),
        min_refetch: Duration::from_millis(100),
        max_age: Duration::from_secs(60),
        timeout: Duration::from_millis(500),
    };
    let v = Verifier::new(settings(), source);
    let t = mint("signer-a", "a", &claims(json!({})));
    assert_eq!(v.verify(&t).await.unwrap_err(), AuthError::KeysUnavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_token_is_remembered_until_it_expires() {
    let (v, _, _) = verifier().await;
    let now = get_current_timestamp();
    // Expires in 2 s; the verifier allows 5 s of skew.
    let short = mint("signer-a", "a", &claims(json!({ "exp": now + 2 })));
    assert!(v.verify(&short).await.is_ok());
    assert!(v.verify(&short).await.is_ok(), "answered from memory");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Past `exp` the memory no longer answers: checked again, still inside the skew.
    assert!(v.verify(&short).await.is_ok());
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(v.verify(&short).await.unwrap_err(), AuthError::Expired);
}
