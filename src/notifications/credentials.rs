//! Which token keys and API keys this server accepts, including what happens
//! when none are configured (see `docs/notifications.md`, "Development mode").
//! Token keys are a secret, PEM public keys or a JWKS; the development secret
//! stands in only when none of them is configured.
//!
//! A loopback-bound server is only reachable from its own machine, so it falls
//! back to public development values and one `cargo run` gives a working demo.
//! Any other address gets no fallback: nothing is open to anyone by default.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::TokenVerifier;
use crate::{
    config::{Secret, ServeConfig},
    identity::{JwksSettings, VerifierSettings},
};

/// The JWT secret a loopback server uses when none is configured. Public.
pub const DEVELOPMENT_SECRET: &str = "switchboard-development-secret";
/// The API key a loopback server accepts when none is configured. Public.
pub const DEVELOPMENT_API_KEY: &str = "switchboard-dev-key";

/// The resolved secrets.
#[derive(Clone)]
pub struct Credentials {
    /// `None`: nobody can sign in to `/notifications`.
    pub jwt_secret: Option<Secret>,
    /// The secret is [`DEVELOPMENT_SECRET`]; only then is `/demo/token` served.
    pub development_secret: bool,
    /// What `/demo/token` signs with: the first of `--jwt-algorithms`.
    pub signing_algorithm: jsonwebtoken::Algorithm,
    pub api_keys: ApiKeys,
}

impl Credentials {
    /// Decides from the settings and the listen address, and logs what it
    /// decided (never the values).
    pub fn resolve(config: &ServeConfig) -> Self {
        let loopback = is_loopback(config.listen);
        let public_keys = !config.jwt_public_key_files.is_empty() || config.jwks_url.is_some();
        let (jwt_secret, development_secret) = match (&config.jwt_secret, loopback) {
            (Some(secret), _) => (Some(secret.clone()), false),
            // Tokens come from an identity provider: a public secret beside
            // it would let anyone sign in as anyone.
            (None, _) if public_keys => (None, false),
            (None, true) => {
                tracing::warn!(
                    "no SWITCHBOARD_JWT_SECRET: using the public development secret (loopback only); \
                     set one before listening on another address"
                );
                (Some(Secret::new(DEVELOPMENT_SECRET)), true)
            }
            (None, false) => {
                tracing::error!(
                    "no SWITCHBOARD_JWT_SECRET, SWITCHBOARD_JWT_PUBLIC_KEY_FILES nor SWITCHBOARD_JWKS_URL \
                     on a non-loopback address: /notifications refuses every connection"
                );
                (None, false)
            }
        };
        let api_keys = match (config.api_keys.is_empty(), loopback) {
            (false, _) => ApiKeys::new(&config.api_keys, false),
            (true, true) => {
                tracing::warn!(
                    "no SWITCHBOARD_API_KEYS: the HTTP API accepts the public development key (loopback only)"
                );
                ApiKeys::new(&[Secret::new(DEVELOPMENT_API_KEY)], true)
            }
            (true, false) => {
                tracing::error!(
                    "no SWITCHBOARD_API_KEYS on a non-loopback address: /api/v1 refuses every request"
                );
                ApiKeys::new(&[], false)
            }
        };
        Self {
            jwt_secret,
            development_secret,
            signing_algorithm: config
                .jwt_algorithms
                .first()
                .copied()
                .unwrap_or(jsonwebtoken::Algorithm::HS256),
            api_keys,
        }
    }

    /// The verifier of every configured key source. Reads the PEM files: an
    /// unreadable one is an error naming the setting and the file.
    pub fn token_verifier(&self, config: &ServeConfig) -> anyhow::Result<TokenVerifier> {
        TokenVerifier::new(&VerifierSettings {
            secret: self
                .jwt_secret
                .clone()
                .map(|secret| (secret, config.jwt_algorithms.clone())),
            public_key_files: config.jwt_public_key_files.clone(),
            jwks: config.jwks_url.clone().map(|url| JwksSettings {
                url,
                timeout: config.jwks_timeout,
                min_refresh_interval: config.jwks_min_refresh_interval,
                refresh: config.jwks_refresh,
            }),
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            leeway: config.jwt_leeway,
        })
    }
}

fn is_loopback(listen: SocketAddr) -> bool {
    listen.ip().is_loopback()
}

/// The accepted API keys, kept as SHA-256 digests and compared in constant
/// time, so neither memory dumps nor response timing give a key away.
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
    development: bool,
}

/// Which key a request used (a digest prefix): scopes `Idempotency-Key`s so
/// two backends cannot collide. Safe to store and log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(pub String);

impl ApiKeys {
    pub fn new(keys: &[Secret], development: bool) -> Self {
        Self {
            digests: keys.iter().map(|k| digest(k.expose())).collect(),
            development,
        }
    }

    /// The development key is the one accepted (for `/demo/token`).
    pub fn is_development(&self) -> bool {
        self.development
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The key's id when `presented` is one of the keys.
    pub fn check(&self, presented: &str) -> Option<KeyId> {
        let presented = digest(presented);
        let mut found = None;
        // Look at every key, match or not, so timing says nothing about which.
        for known in &self.digests {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(known);
            }
        }
        found.map(|d| KeyId(d[..8].iter().map(|b| format!("{b:02x}")).collect()))
    }
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, secret: Option<&str>, keys: &[&str]) -> ServeConfig {
        ServeConfig {
            listen: listen.parse().unwrap(),
            jwt_secret: secret.map(Secret::from),
            api_keys: keys.iter().map(|k| Secret::from(*k)).collect(),
            ..ServeConfig::defaults()
        }
    }

    #[test]
    fn loopback_without_settings_uses_the_development_values() {
        let c = Credentials::resolve(&config("127.0.0.1:3000", None, &[]));
        assert!(c.development_secret);
        assert_eq!(c.jwt_secret.unwrap().expose(), DEVELOPMENT_SECRET);
        assert!(c.api_keys.check(DEVELOPMENT_API_KEY).is_some());
        assert!(c.api_keys.is_development());
    }

    #[test]
    fn other_addresses_without_settings_accept_nobody() {
        let c = Credentials::resolve(&config("0.0.0.0:3000", None, &[]));
        assert!(c.jwt_secret.is_none());
        assert!(!c.development_secret);
        assert!(c.api_keys.check(DEVELOPMENT_API_KEY).is_none());
        assert!(c.api_keys.check("").is_none());
    }

    #[test]
    fn configured_values_win_everywhere() {
        let c = Credentials::resolve(&config(
            "127.0.0.1:3000",
            Some("a-real-secret-0123456"),
            &["key-one-0123456789", "key-two-0123456789"],
        ));
        assert!(!c.development_secret);
        assert!(c.api_keys.check(DEVELOPMENT_API_KEY).is_none());
        let one = c.api_keys.check("key-one-0123456789").unwrap();
        let two = c.api_keys.check("key-two-0123456789").unwrap();
        assert_ne!(one, two);
        assert!(c.api_keys.check("key-one-012345678").is_none());
    }

    #[test]
    fn public_key_sources_replace_the_development_secret() {
        let jwks = ServeConfig {
            jwks_url: Some("http://127.0.0.1:1/jwks".parse().unwrap()),
            ..config("127.0.0.1:3000", None, &[])
        };
        let c = Credentials::resolve(&jwks);
        assert!(c.jwt_secret.is_none() && !c.development_secret);

        let pem = ServeConfig {
            jwt_public_key_files: vec!["/nonexistent/key.pem".into()],
            ..config("127.0.0.1:3000", None, &[])
        };
        let c = Credentials::resolve(&pem);
        assert!(c.jwt_secret.is_none() && !c.development_secret);
        let error = c
            .token_verifier(&pem)
            .err()
            .expect("a missing file stops the start");
        assert!(
            error
                .to_string()
                .contains("--jwt-public-key-files: /nonexistent/key.pem"),
            "{error}"
        );
    }
}
