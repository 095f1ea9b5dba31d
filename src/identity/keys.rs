//! Where the keys that check tokens come from, each with the algorithms it
//! accepts: a shared secret (HS*), PEM public keys (RS*, PS*, ES256/ES384,
//! EdDSA, by the key's type and curve) and the keys of a JWKS.
//!
//! Every key carries an explicit list of algorithms. A token is only tried
//! against keys whose list names its `alg`, so `none` matches no key, and an
//! HS256 token signed with an RSA public key's PEM bytes as the secret is
//! never checked against that public key (the classic HS/RS confusion).

use std::path::Path;

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse},
};

/// The algorithms an RSA key accepts: PKCS#1 v1.5 (RS*) and PSS (PS*), as
/// identity providers sign with either.
const RSA: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// One key and what it may check.
#[derive(Clone)]
pub struct VerifyingKey {
    /// The JWK's `kid`; `None` for the secret and PEM keys, which are tried
    /// whatever `kid` a token names.
    pub kid: Option<String>,
    pub key: DecodingKey,
    /// Never empty; never `none` (jsonwebtoken has no such algorithm).
    pub algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for VerifyingKey {
    /// The key itself is left out: it may be the shared secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The shared secret, for the HS* algorithms in `algorithms`.
    pub fn secret(secret: &[u8], algorithms: &[Algorithm]) -> Self {
        debug_assert!(algorithms.iter().all(|a| is_hmac(*a)));
        Self {
            kid: None,
            key: DecodingKey::from_secret(secret),
            algorithms: algorithms.to_vec(),
        }
    }

    /// A PEM public key file: RSA, EC (P-256 or P-384) or Ed25519. The error
    /// says why, for a startup message naming the setting and the file.
    pub fn from_pem_file(path: &Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
        Self::from_pem(&pem)
    }

    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let text = String::from_utf8_lossy(pem);
        if text.contains("PRIVATE KEY") {
            return Err("it holds a private key; give the issuer's public key".into());
        }
        if !text.contains("-----BEGIN") {
            return Err("it is not a PEM file".into());
        }
        let (key, algorithms) = if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            (key, RSA.to_vec())
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            // The key is the SEC1 point: 65 bytes on P-256, 97 on P-384
            // (uncompressed), 33 or 49 compressed.
            let algorithm = match key.as_bytes().len() {
                65 | 33 => Algorithm::ES256,
                97 | 49 => Algorithm::ES384,
                _ => return Err("an EC key on a curve other than P-256 or P-384".into()),
            };
            (key, vec![algorithm])
        } else if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            (key, vec![Algorithm::EdDSA])
        } else {
            return Err("not an RSA, EC (P-256, P-384) or Ed25519 public key".into());
        };
        Ok(Self {
            kid: None,
            key,
            algorithms,
        })
    }

    /// A JWKS entry, or why it is skipped. Its `alg`, when given, is the
    /// only algorithm it accepts; otherwise its type and curve decide.
    /// Symmetric (`oct`) keys and encryption keys are skipped: a shared secret
    /// has no business in a published key set.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        if matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        ) {
            return Err("not a signing key (`use`)".into());
        }
        let family: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => RSA.to_vec(),
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return Err("an EC key on an unsupported curve".into()),
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            AlgorithmParameters::OctetKeyPair(_) => {
                return Err("an OKP key on an unsupported curve".into());
            }
            AlgorithmParameters::OctetKey(_) => {
                return Err("a symmetric key (`oct`) in a JWKS".into());
            }
        };
        let algorithms = match jwk.common.key_algorithm {
            None => family,
            Some(alg) => {
                let alg: Algorithm = alg
                    .to_string()
                    .parse()
                    .map_err(|_| format!("unsupported `alg` {alg}"))?;
                if !family.contains(&alg) {
                    return Err(format!("`alg` {alg:?} does not fit the key type"));
                }
                vec![alg]
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key: {e}"))?;
        Ok(Self {
            kid: jwk.common.key_id.clone(),
            key,
            algorithms,
        })
    }

    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }
}

pub fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_PUB: &str = include_str!("../../tests/api/fixtures/jwt/rsa.pub.pem");
    const P256_PUB: &str = include_str!("../../tests/api/fixtures/jwt/p256.pub.pem");
    const P384_PUB: &str = include_str!("../../tests/api/fixtures/jwt/p384.pub.pem");
    const ED_PUB: &str = include_str!("../../tests/api/fixtures/jwt/ed25519.pub.pem");
    const RSA_KEY: &str = include_str!("../../tests/api/fixtures/jwt/rsa.key.pem");

    #[test]
    fn pem_keys_get_their_family_and_curve() {
        let algorithms = |pem: &str| VerifyingKey::from_pem(pem.as_bytes()).unwrap().algorithms;
        assert_eq!(algorithms(RSA_PUB), RSA.to_vec());
        assert_eq!(algorithms(P256_PUB), vec![Algorithm::ES256]);
        assert_eq!(algorithms(P384_PUB), vec![Algorithm::ES384]);
        assert_eq!(algorithms(ED_PUB), vec![Algorithm::EdDSA]);
    }

    #[test]
    fn private_keys_and_other_files_are_refused() {
        for bad in [
            RSA_KEY,
            "",
            "hello",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ] {
            assert!(VerifyingKey::from_pem(bad.as_bytes()).is_err(), "{bad}");
        }
        let missing = VerifyingKey::from_pem_file(Path::new("/nonexistent/key.pem"));
        assert!(missing.unwrap_err().contains("cannot read"));
    }

    #[test]
    fn jwks_entries_take_their_alg_or_their_family() {
        let jwk = |v: serde_json::Value| serde_json::from_value::<Jwk>(v).unwrap();
        let ed = jwk(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "e",
            "x": "0Ts3PZR8_Fw3nnejyzDfx-NtpyQWy0k_YAe6CV9Xqik"
        }));
        let key = VerifyingKey::from_jwk(&ed).unwrap();
        assert_eq!(
            (key.kid.as_deref(), key.algorithms),
            (Some("e"), vec![Algorithm::EdDSA])
        );

        let rsa_with_alg = jwk(serde_json::json!({
            "kty": "RSA", "alg": "RS384", "n": "sXch", "e": "AQAB"
        }));
        assert_eq!(
            VerifyingKey::from_jwk(&rsa_with_alg).unwrap().algorithms,
            vec![Algorithm::RS384]
        );
        for refused in [
            serde_json::json!({"kty": "RSA", "alg": "ES256", "n": "sXch", "e": "AQAB"}),
            serde_json::json!({"kty": "RSA", "use": "enc", "n": "sXch", "e": "AQAB"}),
            serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}),
        ] {
            assert!(
                VerifyingKey::from_jwk(&jwk(refused.clone())).is_err(),
                "{refused}"
            );
        }
    }
}
