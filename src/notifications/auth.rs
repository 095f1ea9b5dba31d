//! Shared-secret tokens for `/notifications`: signing (`switchboard token`,
//! the demo page). Checking them, and tokens from any other issuer, is
//! [`crate::identity`]'s; its types are re-exported here for the namespace.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

pub use crate::identity::{Identity, TokenError, TokenVerifier};
use crate::protocol::{UserId, now_ms};

/// The claims Switchboard reads and writes. Other claims in a backend's token
/// are ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// A token for `user` valid for `ttl`, signed with `secret` (HS256).
pub fn sign_token(secret: &str, user: &UserId, ttl: Duration) -> String {
    sign_token_with(secret, Algorithm::HS256, user, ttl)
}

/// [`sign_token`] with another HS algorithm (the first of
/// `--jwt-algorithms`). `algorithm` must be HS256, HS384 or HS512.
pub fn sign_token_with(secret: &str, algorithm: Algorithm, user: &UserId, ttl: Duration) -> String {
    assert!(
        crate::identity::keys::is_hmac(algorithm),
        "shared-secret tokens are HS*"
    );
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    let claims = Claims {
        sub: user.as_str().to_owned(),
        exp: now.saturating_add(ttl.as_secs().max(1)),
        iat: Some(now),
    };
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HMAC signing of plain claims cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "unit-test-secret-0123";

    #[tokio::test]
    async fn a_signed_token_verifies_as_its_user() {
        let alice = UserId::parse("alice").unwrap();
        let token = sign_token(SECRET, &alice, Duration::from_secs(60));
        let identity = TokenVerifier::with_secret(SECRET)
            .verify(&token)
            .await
            .unwrap();
        assert_eq!(identity.user, alice);
        assert_eq!(identity.claims["sub"], "alice");
        assert!(identity.claims["iat"].is_u64());
    }

    #[test]
    #[should_panic(expected = "HS*")]
    fn only_hmac_algorithms_sign_with_a_secret() {
        let alice = UserId::parse("alice").unwrap();
        sign_token_with(SECRET, Algorithm::RS256, &alice, Duration::from_secs(60));
    }
}
