//! End to end: `keel audit` against a real `keel serve` with every built-in, bearer
//! authentication (two API-key principals, for the cross-principal cache probe) and rate
//! limits on. The hostile inputs (XSS, `../../etc/passwd`, `${jndi:…}`, `DROP TABLE`,
//! `__proto__`, NUL bytes, bidi overrides) in every string argument of every read-only tool,
//! the token, transport and protocol probes: no finding at all.

mod support;

use serde_json::Value;
use support::{KeelHttp, keel_command};

const ALICE: &str = "k-audit-alice-7c1d9e2b5a3f8e6d";
const BOB: &str = "k-audit-bob-4e8a2c6f1b9d3e7a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keel_audit_finds_nothing_in_keel_with_auth_and_rate_limits_on() {
    let dir = tempfile::tempdir().unwrap();
    // An issuer (whose keys sign nothing here) so the metadata names an authorization
    // server; the callers use API keys.
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys":[]}"#).unwrap();
    let config = format!(
        "[http]\nheader_read_timeout_secs = 2\n\
         [auth]\nresource = \"http://127.0.0.1/mcp\"\nissuer = \"https://idp.test\"\n\
         jwks_file = \"{}\"\n\
         [[auth.api_keys]]\nname = \"alice\"\nsha256 = \"{}\"\nscopes = []\n\
         [[auth.api_keys]]\nname = \"bob\"\nsha256 = \"{}\"\nscopes = []\n\
         [rate_limits]\nper_principal = {{ per_second = 1000, burst = 1000 }}\n",
        jwks.display(),
        keel_auth::api_key_digest(ALICE),
        keel_auth::api_key_digest(BOB),
    );
    let server = KeelHttp::start_with_config(&config).await;
    let json = dir.path().join("report.json");
    let url = server.url.clone();
    let json_arg = json.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        keel_command("error")
            .args([
                "audit",
                &url,
                "--token",
                ALICE,
                "--second-token",
                BOB,
                "--slow-bound-secs",
                "5",
                "--json",
                &json_arg,
            ])
            .output()
            .expect("run keel audit")
    })
    .await
    .unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let findings = report["findings"].as_array().expect("findings");
    assert!(findings.is_empty(), "{text}");
    // The probes that matter here did run.
    let ran = report.to_string();
    for probe in ["injection", "auth", "cache"] {
        assert!(ran.contains(probe), "no {probe} probe in {text}");
    }
}
