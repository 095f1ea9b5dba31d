//! Checking a token: its `alg` against the keys that accept it, its signature,
//! then its claims (`exp`, `nbf`, `iss`, `aud`, `sub`).

use std::{sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

use super::{
    Identity, TokenError,
    jwks::{Jwks, JwksSettings},
    keys::VerifyingKey,
};
use crate::protocol::UserId;

/// Everything a [`TokenVerifier`] is built from.
#[derive(Debug, Clone, Default)]
pub struct VerifierSettings {
    /// The shared secret and the HS algorithms it signs with.
    pub secret: Option<(crate::config::Secret, Vec<Algorithm>)>,
    pub public_key_files: Vec<std::path::PathBuf>,
    pub jwks: Option<JwksSettings>,
    /// The `iss` a token must carry, when set.
    pub issuer: Option<String>,
    /// The `aud` a token must carry (one of its values), when set. Unset:
    /// an `aud` claim is ignored like any other.
    pub audience: Option<String>,
    /// Grace for clock drift on `exp` and `nbf`.
    pub leeway: Duration,
}

/// Checks tokens against the configured keys (or refuses all when there are
/// none). Cheap to clone.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    /// The secret and the PEM keys: known at start, never change.
    fixed: Vec<VerifyingKey>,
    jwks: Option<Arc<Jwks>>,
    /// Everything but `algorithms`, which is set per key and token.
    validation: Validation,
}

/// What trying a token against a list of keys came to.
enum Outcome {
    Verified(Identity),
    /// A key checked the signature and the token was still refused.
    Refused(TokenError),
    /// Keys accepted the `alg` but none matched the signature.
    Mismatch,
    /// No key accepts this `alg` (and `kid`).
    NoKey,
}

impl TokenVerifier {
    /// Reads the PEM files (an error names the setting and the file) and
    /// prepares the JWKS client; the JWKS itself is fetched by
    /// [`Self::prefetch`] and on demand.
    pub fn new(settings: &VerifierSettings) -> anyhow::Result<Self> {
        let mut fixed = Vec::new();
        if let Some((secret, algorithms)) = &settings.secret {
            fixed.push(VerifyingKey::secret(secret.expose().as_bytes(), algorithms));
        }
        for path in &settings.public_key_files {
            let key = VerifyingKey::from_pem_file(path).map_err(|why| {
                anyhow::anyhow!("--jwt-public-key-files: {}: {why}", path.display())
            })?;
            fixed.push(key);
        }
        let jwks = settings
            .jwks
            .clone()
            .map(Jwks::new)
            .transpose()?
            .map(Arc::new);

        // `algorithms` is replaced by the token's own for each key tried.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = settings.leeway.as_secs();
        // jsonwebtoken accepts `exp == now` (it refuses `exp < now`): one
        // second more makes a token expire at its `exp`, as RFC 7519 says.
        validation.reject_tokens_expiring_in_less_than = 1;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &settings.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // No audience configured: an `aud` claim is just another claim.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self {
            inner: Arc::new(Inner {
                fixed,
                jwks,
                validation,
            }),
        })
    }

    /// A verifier that refuses every token ([`TokenError::Disabled`]).
    pub fn disabled() -> Self {
        Self::new(&VerifierSettings::default()).expect("no files, no JWKS")
    }

    /// Only a shared secret, HS256: as `switchboard token` signs.
    pub fn with_secret(secret: &str) -> Self {
        Self::new(&VerifierSettings {
            secret: Some((secret.into(), vec![Algorithm::HS256])),
            ..VerifierSettings::default()
        })
        .expect("no files, no JWKS")
    }

    /// The first fetch of the JWKS, if there is one. A failure is logged and
    /// retried on demand; it never stops the server.
    pub async fn prefetch(&self) {
        if let Some(jwks) = &self.inner.jwks {
            jwks.refresh(jwks.snapshot().generation).await;
        }
    }

    /// Who a token stands for, or why not.
    pub async fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let inner = &self.inner;
        if inner.fixed.is_empty() && inner.jwks.is_none() {
            return Err(TokenError::Disabled);
        }
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        let (alg, kid) = (header.alg, header.kid.as_deref());

        let mut outcome = inner.try_keys(token, alg, None, &inner.fixed);
        if matches!(outcome, Outcome::Mismatch | Outcome::NoKey)
            && let Some(jwks) = &inner.jwks
        {
            jwks.refresh_if_stale();
            let snapshot = jwks.snapshot();
            let mut from_jwks = inner.try_keys(token, alg, kid, &snapshot.keys);
            // An unknown `kid` (or no keys yet): the set may have rotated. A
            // known `kid` with another `alg` is no reason to refetch.
            let unknown_kid = kid.is_none_or(|kid| {
                !snapshot
                    .keys
                    .iter()
                    .any(|key| key.kid.as_deref() == Some(kid))
            });
            if matches!(from_jwks, Outcome::NoKey)
                && unknown_kid
                && jwks.refresh(snapshot.generation).await
            {
                from_jwks = inner.try_keys(token, alg, kid, &jwks.snapshot().keys);
            }
            if jwks.snapshot().generation == 0 && matches!(from_jwks, Outcome::NoKey) {
                from_jwks = Outcome::Refused(TokenError::KeysUnavailable);
            }
            outcome = match (outcome, from_jwks) {
                (_, decided @ (Outcome::Verified(_) | Outcome::Refused(_))) => decided,
                (Outcome::Mismatch, _) | (_, Outcome::Mismatch) => Outcome::Mismatch,
                _ => Outcome::NoKey,
            };
        }
        match outcome {
            Outcome::Verified(identity) => Ok(identity),
            Outcome::Refused(error) => Err(error),
            Outcome::Mismatch => Err(TokenError::BadSignature),
            Outcome::NoKey => Err(TokenError::NoKey {
                alg,
                kid: kid.map(str::to_owned),
            }),
        }
    }
}

impl Inner {
    /// Tries `token` against each key that accepts `alg` (and, with `kid`,
    /// carries that `kid`).
    fn try_keys(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
        keys: &[VerifyingKey],
    ) -> Outcome {
        let mut outcome = Outcome::NoKey;
        let candidates = keys
            .iter()
            .filter(|key| key.accepts(alg))
            .filter(|key| kid.is_none() || key.kid.as_deref() == kid);
        for key in candidates {
            let mut validation = self.validation.clone();
            validation.algorithms = vec![alg];
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return identity(data.claims),
                Err(e) => match e.kind() {
                    ErrorKind::InvalidSignature => outcome = Outcome::Mismatch,
                    // Only reached once the signature checked out.
                    ErrorKind::ExpiredSignature => return Outcome::Refused(TokenError::Expired),
                    ErrorKind::ImmatureSignature => {
                        return Outcome::Refused(TokenError::NotYetValid);
                    }
                    ErrorKind::InvalidIssuer => return Outcome::Refused(TokenError::WrongIssuer),
                    ErrorKind::InvalidAudience => {
                        return Outcome::Refused(TokenError::WrongAudience);
                    }
                    ErrorKind::MissingRequiredClaim(claim) => {
                        return Outcome::Refused(TokenError::Malformed(format!(
                            "no `{claim}` claim"
                        )));
                    }
                    // A key that cannot be used (say, a malformed JWK):
                    // the next one may match.
                    ErrorKind::InvalidKeyFormat
                    | ErrorKind::InvalidEcdsaKey
                    | ErrorKind::InvalidRsaKey(_) => {
                        if matches!(outcome, Outcome::NoKey) {
                            outcome = Outcome::Mismatch;
                        }
                    }
                    _ => return Outcome::Refused(TokenError::Malformed(e.to_string())),
                },
            }
        }
        outcome
    }
}

fn identity(claims: Map<String, Value>) -> Outcome {
    let user = match claims.get("sub") {
        Some(Value::String(sub)) => UserId::parse(sub),
        _ => return Outcome::Refused(TokenError::BadSubject("not a string".into())),
    };
    match user {
        Ok(user) => Outcome::Verified(Identity { user, claims }),
        Err(e) => Outcome::Refused(TokenError::BadSubject(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &str = "unit-test-secret-0123";
    const RSA_KEY: &str = include_str!("../../tests/api/fixtures/jwt/rsa.key.pem");
    const RSA_PUB: &str = include_str!("../../tests/api/fixtures/jwt/rsa.pub.pem");
    const P256_KEY: &str = include_str!("../../tests/api/fixtures/jwt/p256.key.pem");
    const P384_KEY: &str = include_str!("../../tests/api/fixtures/jwt/p384.key.pem");
    const ED_KEY: &str = include_str!("../../tests/api/fixtures/jwt/ed25519.key.pem");

    fn now() -> u64 {
        u64::try_from(crate::protocol::now_ms() / 1000).unwrap()
    }

    fn claims(extra: Value) -> Value {
        let mut claims = json!({"sub": "alice", "exp": now() + 60});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    }

    fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
    }

    fn hs(alg: Algorithm, claims: &Value) -> String {
        sign(alg, &EncodingKey::from_secret(SECRET.as_bytes()), claims)
    }

    /// The secret (all HS algorithms) and the fixtures' public keys, by PEM
    /// file, with `settings` adjusting the rest.
    fn verifier(adjust: impl FnOnce(&mut VerifierSettings)) -> TokenVerifier {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/fixtures/jwt");
        let mut settings = VerifierSettings {
            secret: Some((
                SECRET.into(),
                vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
            )),
            public_key_files: ["rsa", "p256", "p384", "ed25519"]
                .iter()
                .map(|name| format!("{dir}/{name}.pub.pem").into())
                .collect(),
            ..VerifierSettings::default()
        };
        adjust(&mut settings);
        TokenVerifier::new(&settings).unwrap()
    }

    #[tokio::test]
    async fn every_algorithm_verifies_with_its_key() {
        let verifier = verifier(|_| {});
        let claims = claims(json!({"name": "Alice"}));
        let rsa = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
        let tokens = [
            hs(Algorithm::HS256, &claims),
            hs(Algorithm::HS384, &claims),
            hs(Algorithm::HS512, &claims),
            sign(Algorithm::RS256, &rsa, &claims),
            sign(Algorithm::RS384, &rsa, &claims),
            sign(Algorithm::RS512, &rsa, &claims),
            sign(
                Algorithm::ES256,
                &EncodingKey::from_ec_pem(P256_KEY.as_bytes()).unwrap(),
                &claims,
            ),
            sign(
                Algorithm::ES384,
                &EncodingKey::from_ec_pem(P384_KEY.as_bytes()).unwrap(),
                &claims,
            ),
            sign(
                Algorithm::EdDSA,
                &EncodingKey::from_ed_pem(ED_KEY.as_bytes()).unwrap(),
                &claims,
            ),
        ];
        for token in tokens {
            let identity = verifier.verify(&token).await.unwrap();
            assert_eq!(identity.user.as_str(), "alice");
            assert_eq!(
                identity.claims["name"], "Alice",
                "the other claims are kept"
            );
        }
    }

    #[tokio::test]
    async fn the_algorithm_must_be_the_keys() {
        // HS256 only: an HS512 token with the right secret is refused.
        let only_256 = verifier(|s| s.secret.as_mut().unwrap().1 = vec![Algorithm::HS256]);
        assert!(matches!(
            only_256
                .verify(&hs(Algorithm::HS512, &claims(json!({}))))
                .await,
            Err(TokenError::NoKey {
                alg: Algorithm::HS512,
                ..
            })
        ));

        // HS256 signed with the RSA public key's PEM as the secret.
        let confused = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(RSA_PUB.as_bytes()),
            &claims(json!({})),
        );
        assert_eq!(
            only_256.verify(&confused).await,
            Err(TokenError::BadSignature)
        );
        let no_secret = verifier(|s| s.secret = None);
        assert!(matches!(
            no_secret.verify(&confused).await,
            Err(TokenError::NoKey {
                alg: Algorithm::HS256,
                ..
            })
        ));

        // `alg: none`, unsigned.
        let none =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert!(matches!(
            only_256.verify(none).await,
            Err(TokenError::Malformed(_))
        ));

        // A P-256 key does not check an ES384 token.
        let es384_by_p256 = {
            let header = Header::new(Algorithm::ES384);
            let mut token = jsonwebtoken::encode(
                &header,
                &claims(json!({})),
                &EncodingKey::from_ec_pem(P384_KEY.as_bytes()).unwrap(),
            )
            .unwrap();
            token.truncate(token.rfind('.').unwrap() + 1);
            token.push_str("AAAA");
            token
        };
        assert!(no_secret.verify(&es384_by_p256).await.is_err());
    }

    #[tokio::test]
    async fn time_claims_with_and_without_leeway() {
        let strict = verifier(|_| {});
        let now = now();
        let token = |c: Value| hs(Algorithm::HS256, &c);
        let at_exp = token(json!({"sub": "alice", "exp": now}));
        assert_eq!(strict.verify(&at_exp).await, Err(TokenError::Expired));
        let future_nbf = token(json!({"sub": "alice", "exp": now + 60, "nbf": now + 30}));
        assert_eq!(
            strict.verify(&future_nbf).await,
            Err(TokenError::NotYetValid)
        );
        let nbf_now = token(json!({"sub": "alice", "exp": now + 60, "nbf": now}));
        assert!(strict.verify(&nbf_now).await.is_ok());
        let no_exp = token(json!({"sub": "alice"}));
        assert!(matches!(
            strict.verify(&no_exp).await,
            Err(TokenError::Malformed(_))
        ));

        let lenient = verifier(|s| s.leeway = Duration::from_secs(60));
        assert!(lenient.verify(&at_exp).await.is_ok());
        assert!(lenient.verify(&future_nbf).await.is_ok());
        let long_gone = token(json!({"sub": "alice", "exp": now - 61}));
        assert_eq!(lenient.verify(&long_gone).await, Err(TokenError::Expired));
    }

    #[tokio::test]
    async fn issuer_and_audience() {
        let token = |extra: Value| hs(Algorithm::HS256, &claims(extra));
        let open = verifier(|_| {});
        assert!(
            open.verify(&token(json!({"aud": "anyone", "iss": "x"})))
                .await
                .is_ok()
        );
        assert!(
            open.verify(&token(json!({"aud": ["a", "b"]})))
                .await
                .is_ok()
        );

        let checked = verifier(|s| {
            s.issuer = Some("https://idp.test".into());
            s.audience = Some("switchboard".into());
        });
        let good = json!({"iss": "https://idp.test", "aud": "switchboard"});
        assert!(checked.verify(&token(good)).await.is_ok());
        let in_list = json!({"iss": "https://idp.test", "aud": ["other", "switchboard"]});
        assert!(checked.verify(&token(in_list)).await.is_ok());
        let cases = [
            (
                json!({"iss": "https://evil.test", "aud": "switchboard"}),
                TokenError::WrongIssuer,
            ),
            (
                json!({"iss": "https://idp.test", "aud": "other"}),
                TokenError::WrongAudience,
            ),
        ];
        for (claims, error) in cases {
            assert_eq!(checked.verify(&token(claims)).await, Err(error));
        }
        for missing in [
            json!({"aud": "switchboard"}),
            json!({"iss": "https://idp.test"}),
        ] {
            assert!(matches!(
                checked.verify(&token(missing)).await,
                Err(TokenError::Malformed(_))
            ));
        }
    }

    #[tokio::test]
    async fn subjects_signatures_and_no_keys() {
        let verifier = verifier(|_| {});
        for sub in [json!(""), json!(7), json!("tab\there")] {
            let token = hs(Algorithm::HS256, &json!({"sub": sub, "exp": now() + 60}));
            assert!(
                matches!(
                    verifier.verify(&token).await,
                    // A non-string `sub` is no `sub` to jsonwebtoken.
                    Err(TokenError::BadSubject(_) | TokenError::Malformed(_))
                ),
                "{sub}"
            );
        }
        let other = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(b"another-secret-0123456"),
            &claims(json!({})),
        );
        assert_eq!(verifier.verify(&other).await, Err(TokenError::BadSignature));
        assert_eq!(verifier.verify("").await, Err(TokenError::Missing));
        assert!(matches!(
            verifier.verify("not.a.jwt").await,
            Err(TokenError::Malformed(_))
        ));
        assert_eq!(
            TokenVerifier::disabled().verify(&other).await,
            Err(TokenError::Disabled)
        );
    }
}
