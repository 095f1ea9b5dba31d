//! Who a token says a client is: JSON Web Tokens from any issuer.
//!
//! A backend that already has a login keeps it: its identity provider signs
//! tokens with a shared secret (HS256/384/512) or a private key
//! (RS256/384/512, PS256/384/512, ES256/384, EdDSA), and Switchboard checks them with the secret, with PEM
//! public key files, or with the provider's published JWKS. Nothing here knows
//! about namespaces: `/notifications` calls [`TokenVerifier::verify`] in its
//! connect middleware and maps every [`TokenError`] to `unauthorized`.
//!
//! - [`keys`]: where keys come from, each with the algorithms it accepts.
//! - [`jwks`]: the JWKS fetcher and cache (timeout, size bound, refresh on an
//!   unknown `kid` at most once per interval, single flight).
//! - [`verifier`]: `alg` to key, signature, then the claims.

pub mod jwks;
pub mod keys;
pub mod verifier;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

pub use jwks::JwksSettings;
pub use verifier::{TokenVerifier, VerifierSettings};

use crate::protocol::UserId;

/// A verified token: the user (its `sub`) and all its claims, kept for the
/// features that read more of them (a display name from a chosen claim).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub user: UserId,
    pub claims: Map<String, Value>,
}

/// Why a token was refused. Clients only ever see `unauthorized`; the reason is
/// for the server's log (which never shows the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf`)")]
    NotYetValid,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("no configured key accepts a {alg:?} token (kid {kid:?})")]
    NoKey { alg: Algorithm, kid: Option<String> },
    #[error("the JWKS has not been fetched yet")]
    KeysUnavailable,
    #[error("the token's issuer (`iss`) is not the configured one")]
    WrongIssuer,
    #[error("the token's audience (`aud`) is not the configured one")]
    WrongAudience,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token's subject is not a user id: {0}")]
    BadSubject(String),
    #[error("no token key is configured on a non-loopback server")]
    Disabled,
}
