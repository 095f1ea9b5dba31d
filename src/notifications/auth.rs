//! HS256 tokens for `/notifications`: signing (`switchboard token`, the demo
//! page) and checking (the namespace's connect middleware).

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

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

/// Why a token was refused. Clients only ever see `unauthorized`; the reason is
/// for the server's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token's subject is not a user id: {0}")]
    BadSubject(String),
    #[error("no JWT secret is configured on a non-loopback server")]
    Disabled,
}

/// Checks tokens against one secret (or refuses all when there is none).
#[derive(Clone)]
pub struct TokenVerifier {
    key: Option<DecodingKey>,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(secret: Option<&str>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // The contract says expired tokens are refused: no grace period.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: secret.map(|s| DecodingKey::from_secret(s.as_bytes())),
            validation,
        }
    }

    /// The user a token stands for.
    pub fn verify(&self, token: &str) -> Result<UserId, TokenError> {
        let key = self.key.as_ref().ok_or(TokenError::Disabled)?;
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::InvalidSignature => TokenError::BadSignature,
                    _ => TokenError::Malformed(e.to_string()),
                }
            })?;
        UserId::parse(&data.claims.sub).map_err(|e| TokenError::BadSubject(e.to_string()))
    }
}

/// A token for `user` valid for `ttl`, signed with `secret`.
pub fn sign_token(secret: &str, user: &UserId, ttl: Duration) -> String {
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    let claims = Claims {
        sub: user.as_str().to_owned(),
        exp: now.saturating_add(ttl.as_secs().max(1)),
        iat: Some(now),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing of plain claims cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "unit-test-secret-0123";

    fn alice() -> UserId {
        UserId::parse("alice").unwrap()
    }

    #[test]
    fn a_signed_token_verifies_as_its_user() {
        let token = sign_token(SECRET, &alice(), Duration::from_secs(60));
        assert_eq!(TokenVerifier::new(Some(SECRET)).verify(&token), Ok(alice()));
    }

    #[test]
    fn bad_tokens_are_refused_with_a_reason() {
        let verifier = TokenVerifier::new(Some(SECRET));
        let other = sign_token("another-secret-0123456", &alice(), Duration::from_secs(60));
        assert_eq!(verifier.verify(&other), Err(TokenError::BadSignature));
        assert_eq!(verifier.verify(""), Err(TokenError::Missing));
        assert!(matches!(
            verifier.verify("not.a.jwt"),
            Err(TokenError::Malformed(_))
        ));

        let past = u64::try_from(now_ms() / 1000).unwrap() - 10;
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "alice".into(),
                exp: past,
                iat: None,
            },
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(verifier.verify(&expired), Err(TokenError::Expired));

        let none_alg =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert!(verifier.verify(none_alg).is_err());
        assert_eq!(
            TokenVerifier::new(None).verify(&sign_token(SECRET, &alice(), Duration::from_secs(60))),
            Err(TokenError::Disabled)
        );
    }
}
