//! Token authentication on the namespaces that may go without it (`/chat`,
//! `/game`): one mode per namespace (`--chat-auth`, `--game-auth`) and one
//! connect step shared by both.
//!
//! The token is the Socket.IO `auth` payload's `token`, checked by the same
//! [`TokenVerifier`] as `/notifications`. A verified socket holds its
//! [`Identity`] in its extensions as `Arc<Identity>`; an identity already
//! there when [`admit`] runs (put there by a step that ran earlier, such as
//! a connect proxy) is taken as is, without a token. The member's display
//! name then comes from a configured claim ([`display_name`]).

use std::sync::Arc;

use serde::Deserialize;
use socketioxide::{adapter::Adapter, extract::SocketRef};

use super::{Common, notifications::Refusal};
use crate::{
    identity::{Identity, TokenError, TokenVerifier},
    protocol::DisplayName,
};

/// The longest token looked at (bytes): a longer one is refused before any
/// decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Whether a namespace checks tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthMode {
    /// `auth.token` is ignored: sockets are anonymous (but one a connect
    /// proxy already identified).
    Off,
    /// No token: anonymous; a token: it must verify, else `unauthorized`.
    #[default]
    Optional,
    /// No token or a bad one: `unauthorized`.
    Required,
}

/// A namespace's authentication settings (part of its state).
#[derive(Clone)]
pub struct NamespaceAuth {
    pub mode: AuthMode,
    pub verifier: TokenVerifier,
    /// The claim display names come from (`--display-name-claim`).
    pub display_name_claim: Arc<str>,
}

/// The auth payload's field that concerns this step.
#[derive(Deserialize, Default)]
pub struct TokenAuth {
    /// Any JSON: a present non-string token is a bad token, not no token.
    #[serde(default)]
    token: Option<serde_json::Value>,
}

/// Decides who `socket` is before the namespace sets it up: `Ok(None)`
/// anonymous, `Ok(Some)` the identity (also stored in the socket's
/// extensions), `Err` the refusal its `connect_error` carries (counted in
/// `switchboard_connect_refusals_total`). `auth` is the payload, `None` when
/// absent or not an object.
pub async fn admit<A: Adapter>(
    socket: &SocketRef<A>,
    auth: Option<TokenAuth>,
    settings: &NamespaceAuth,
    common: &Common,
) -> Result<Option<Arc<Identity>>, Refusal> {
    if let Some(identity) = socket.extensions.get::<Arc<Identity>>() {
        return Ok(Some(identity));
    }
    let token = auth.and_then(|auth| auth.token).filter(|t| !t.is_null());
    let token = match (settings.mode, token) {
        (AuthMode::Off, _) | (AuthMode::Optional, None) => return Ok(None),
        (AuthMode::Required, None) => Err(TokenError::Missing),
        (_, Some(serde_json::Value::String(token))) if token.len() > MAX_TOKEN_BYTES => Err(
            TokenError::Malformed(format!("longer than {MAX_TOKEN_BYTES} bytes")),
        ),
        (_, Some(serde_json::Value::String(token))) => Ok(token),
        (_, Some(_)) => Err(TokenError::Malformed("`auth.token` is not a string".into())),
    };
    let verified = match token {
        Ok(token) => settings.verifier.verify(&token).await,
        Err(e) => Err(e),
    };
    match verified {
        Ok(identity) => {
            let identity = Arc::new(identity);
            socket.extensions.insert(identity.clone());
            Ok(Some(identity))
        }
        Err(reason) => {
            let ns = socket.ns();
            if matches!(reason, TokenError::Disabled) {
                tracing::warn!(socket_id = %socket.id, "refused {ns} connection: {reason}");
            } else {
                tracing::info!(socket_id = %socket.id, "refused {ns} connection: {reason}");
            }
            let refusal = Refusal::Unauthorized;
            common.metrics.connect_refused(ns, &refusal.to_string());
            Err(refusal)
        }
    }
}

/// A recovering socket that is not its held session's user (nor anonymous
/// again, when the session was): refused `unauthorized`, logged and counted.
pub fn not_the_sessions_user<A: Adapter>(socket: &SocketRef<A>, common: &Common) -> Refusal {
    let ns = socket.ns();
    tracing::info!(socket_id = %socket.id, "refused {ns} connection: not the recovered session's user");
    let refusal = Refusal::Unauthorized;
    common.metrics.connect_refused(ns, &refusal.to_string());
    refusal
}

/// The display name of `identity`: its `claim` when that is a string and a
/// valid display name, else its user id (cut to a display name's 32
/// characters), else `user`.
pub fn display_name(identity: &Identity, claim: &str) -> DisplayName {
    identity
        .claims
        .get(claim)
        .and_then(|value| value.as_str())
        .and_then(|name| DisplayName::parse("name", name).ok())
        .or_else(|| {
            let user: String = identity.user.as_str().chars().take(32).collect();
            DisplayName::parse("name", &user).ok()
        })
        .unwrap_or_else(|| DisplayName::parse("name", "user").expect("a valid display name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::UserId;
    use serde_json::json;

    fn identity(user: &str, claims: serde_json::Value) -> Identity {
        Identity {
            user: UserId::parse(user).unwrap(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn the_name_comes_from_the_claim_or_the_user_id() {
        let ada = identity("u-1", json!({"sub": "u-1", "name": " Ada ", "nick": "ace"}));
        assert_eq!(display_name(&ada, "name").as_str(), "Ada");
        assert_eq!(display_name(&ada, "nick").as_str(), "ace");
        assert_eq!(display_name(&ada, "missing").as_str(), "u-1");
        for bad in [
            json!(42),
            json!(""),
            json!("a\u{202e}b"),
            json!("x".repeat(33)),
        ] {
            let who = identity("u-2", json!({"name": bad}));
            assert_eq!(display_name(&who, "name").as_str(), "u-2", "{bad}");
        }
        let long = identity(&"z".repeat(40), json!({}));
        assert_eq!(display_name(&long, "name").as_str(), "z".repeat(32));
    }
}
