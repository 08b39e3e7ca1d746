//! Why a request's credentials were refused.

/// A bearer token, or its absence, that cannot authenticate a request. The message is safe to
/// show the caller (it never echoes the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("a bearer token is required")]
    Missing,
    /// Not a JWT, or claims of the wrong shape.
    #[error("the bearer token is malformed")]
    Malformed,
    /// Signed with an algorithm the server does not accept (or `none`).
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// Signed by a key the issuer does not publish (even after a refetch).
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    Signature,
    /// Past `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `aud` does not name this server.
    #[error("the token was not issued for this server")]
    Audience,
    /// `iss` is not the configured issuer.
    #[error("the token was not issued by the expected issuer")]
    Issuer,
    /// The issuer's keys could not be read (its JWKS endpoint is down).
    #[error("the issuer's keys cannot be read right now")]
    KeysUnavailable,
}

impl AuthError {
    /// Every reason, in a fixed order (for counters per reason).
    pub const ALL: [Self; 10] = [
        Self::Missing,
        Self::Malformed,
        Self::Algorithm,
        Self::UnknownKey,
        Self::Signature,
        Self::Expired,
        Self::NotYetValid,
        Self::Audience,
        Self::Issuer,
        Self::KeysUnavailable,
    ];

    /// A short label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::UnknownKey => "unknown_key",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Audience => "audience",
            Self::Issuer => "issuer",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }

    /// The RFC 6750 error code for `WWW-Authenticate`.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Missing => None,
            _ => Some("invalid_token"),
        }
    }
}
