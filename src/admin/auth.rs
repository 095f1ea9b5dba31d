//! Signing in to `/admin`, as the reference server's basic authentication:
//! the connect's `auth` holds `{username, password}`, or the `sessionId` an
//! earlier sign-in got, which the UI keeps and reconnects with. Anything else
//! is refused with the reference's `invalid credentials` (the message the UI
//! recognises).
//!
//! The user name and a plain password are compared in constant time (their
//! SHA-256 digests, so their lengths do not show); a bcrypt hash is checked
//! by bcrypt on the blocking pool, at most [`BCRYPT_AT_ONCE`] at a time, so
//! that a crowd of wrong guesses cannot take every core (each costs tens of
//! milliseconds; the connect rate limit of `--connect-rate-limit` bounds them
//! per address). Nothing of the `auth` payload is logged.
//!
//! Sessions are random ids ([`Sid`], 120 bits) valid for [`SESSION_TTL`],
//! kept as digests: in memory (at most [`MAX_SESSIONS`], the oldest dropped
//! first) and on a cluster also in Redis ([`super::cluster`]), so the UI
//! reconnecting to another node keeps its session. The digest covers the
//! configured credentials too: a new password ends every earlier session.

use std::{
    collections::HashMap,
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use socketioxide::{adapter::Adapter, extract::SocketRef, socket::Sid};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::Admin;
use crate::config::AdminPassword;

/// How long a session id signs in again (the reference's Redis store keeps
/// them a day).
pub const SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Sessions one node remembers; past it the oldest is forgotten.
pub const MAX_SESSIONS: usize = 10_000;
/// bcrypt checks that may run at once.
pub const BCRYPT_AT_ONCE: usize = 2;

/// The configured user name and password, ready to compare.
pub struct Credentials {
    username: [u8; 32],
    password: Password,
    /// A digest of both: what a session's digest is salted with.
    fingerprint: [u8; 32],
    bcrypt_slots: Semaphore,
}

enum Password {
    Plain([u8; 32]),
    Bcrypt(String),
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

impl Credentials {
    pub fn new(username: &str, password: &AdminPassword) -> Self {
        let (password, secret) = match password {
            AdminPassword::Plain(secret) => (
                Password::Plain(digest(&[secret.expose().as_bytes()])),
                secret.expose(),
            ),
            AdminPassword::Bcrypt(hash) => {
                (Password::Bcrypt(hash.expose().to_owned()), hash.expose())
            }
        };
        Self {
            username: digest(&[username.as_bytes()]),
            password,
            fingerprint: digest(&[b"switchboard admin", username.as_bytes(), secret.as_bytes()]),
            bcrypt_slots: Semaphore::new(BCRYPT_AT_ONCE),
        }
    }

    /// Whether `username` and `password` are the configured ones. The
    /// password is checked even when the user name is wrong, so the time
    /// taken does not tell which was.
    pub async fn check(&self, username: &str, password: &str) -> bool {
        let username_ok: bool = digest(&[username.as_bytes()]).ct_eq(&self.username).into();
        let password_ok = match &self.password {
            Password::Plain(expected) => digest(&[password.as_bytes()]).ct_eq(expected).into(),
            Password::Bcrypt(hash) => {
                let Ok(_slot) = self.bcrypt_slots.acquire().await else {
                    return false;
                };
                let (password, hash) = (password.to_owned(), hash.clone());
                tokio::task::spawn_blocking(move || {
                    bcrypt::verify(password, &hash).unwrap_or(false)
                })
                .await
                .unwrap_or(false)
            }
        };
        username_ok & password_ok
    }

    /// What a session id is kept as.
    pub fn session_key(&self, session: &str) -> [u8; 32] {
        digest(&[&self.fingerprint, session.as_bytes()])
    }
}

/// The sessions this node handed out or found valid.
pub struct Sessions {
    local: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Sessions {
    pub fn new() -> Self {
        Self {
            local: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers `key` until [`SESSION_TTL`] from now.
    pub fn remember(&self, key: [u8; 32]) {
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, expires| *expires > now);
        while sessions.len() >= MAX_SESSIONS {
            let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(key, _)| *key)
            else {
                break;
            };
            sessions.remove(&oldest);
        }
        sessions.insert(key, now + SESSION_TTL);
    }

    /// Whether `key` is a live session of this node's.
    pub fn knows(&self, key: &[u8; 32]) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|expires| *expires > Instant::now())
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new()
    }
}

/// How an `/admin` socket got in (in its extensions until its connect
/// handler has sent `session`).
#[derive(Clone)]
pub enum SignedIn {
    /// With the user name and password: the new session id.
    Fresh(String),
    /// With a session id.
    Resumed,
}

/// A refused sign-in: the connect error the stock UI recognises.
#[derive(Debug)]
pub struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid credentials")
    }
}

/// The `auth` fields a sign-in reads (strings only; anything else is absent).
fn field<'a>(auth: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    auth.get(name)
        .and_then(serde_json::Value::as_str)
        .filter(|value| !value.is_empty() && value.len() <= 1024)
}

/// Signs `socket` in with its connect's `auth`: a known session, or the
/// configured user name and password (a new session).
pub async fn sign_in<A: Adapter>(
    admin: &Admin<A>,
    socket: &SocketRef<A>,
    auth: &serde_json::Value,
) -> Result<SignedIn, Refused> {
    let inner = &admin.inner;
    if let Some(session) = field(auth, "sessionId") {
        let key = inner.credentials.session_key(session);
        let known = inner.sessions.knows(&key)
            || match &inner.cluster {
                Some(cluster) => cluster.session_exists(&key).await,
                None => false,
            };
        if known {
            inner.sessions.remember(key);
            tracing::info!(socket_id = %socket.id, "admin signed in with a session");
            return Ok(SignedIn::Resumed);
        }
    }
    if let (Some(username), Some(password)) = (field(auth, "username"), field(auth, "password"))
        && inner.credentials.check(username, password).await
    {
        let session = Sid::new().to_string();
        let key = inner.credentials.session_key(&session);
        inner.sessions.remember(key);
        if let Some(cluster) = &inner.cluster {
            cluster.save_session(&key).await;
        }
        tracing::info!(socket_id = %socket.id, "admin signed in");
        return Ok(SignedIn::Fresh(session));
    }
    tracing::warn!(socket_id = %socket.id, "admin sign-in refused: invalid credentials");
    Err(Refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[tokio::test]
    async fn plain_and_bcrypt_passwords_check_the_user_name_too() {
        let plain = Credentials::new("ops", &AdminPassword::Plain(Secret::new("p".repeat(16))));
        assert!(plain.check("ops", &"p".repeat(16)).await);
        assert!(!plain.check("ops", &"p".repeat(15)).await);
        assert!(!plain.check("Ops", &"p".repeat(16)).await);
        // "hunter2" at cost 4, made by bcryptjs as the reference's docs say.
        let hash = "$2a$04$G0bHZcJiJLcUtU1hTj/oAuaxHBLt7bHoxCX5drBDP0qJVQm7WvG9i";
        let hashed = Credentials::new("ops", &AdminPassword::Bcrypt(Secret::new(hash)));
        assert!(hashed.check("ops", "hunter2").await);
        assert!(!hashed.check("ops", "hunter3").await);
        assert!(!hashed.check("dev", "hunter2").await);
    }

    #[test]
    fn sessions_are_bounded_and_salted_by_the_credentials() {
        let a = Credentials::new("ops", &AdminPassword::Plain(Secret::new("a".repeat(16))));
        let b = Credentials::new("ops", &AdminPassword::Plain(Secret::new("b".repeat(16))));
        assert_ne!(a.session_key("s"), b.session_key("s"));
        let sessions = Sessions::new();
        sessions.remember(a.session_key("s"));
        assert!(sessions.knows(&a.session_key("s")));
        assert!(!sessions.knows(&b.session_key("s")));
        for i in 0..MAX_SESSIONS + 5 {
            sessions.remember(a.session_key(&i.to_string()));
        }
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
    }
}
