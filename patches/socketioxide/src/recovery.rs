//! SWITCHBOARD PATCH (connection state recovery): the hook that lets an application restore
//! a disconnected socket's identity, as socket.io 4.6+ does with `connectionStateRecovery`.
//!
//! socketioxide fixes a socket's id before any middleware runs (`Socket::new`), and has no
//! session store of its own, so the application decides, through this hook, which id a
//! connecting socket gets and whether the CONNECT reply carries a private session id
//! (`pid`). What a recovered socket gets back (rooms, data, missed packets) is the
//! application's business: this hook only carries identity.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use serde::Deserialize;
use socketioxide_core::Sid;

/// What the client claims in its CONNECT auth payload: socket.io-client 4.6+ sends the `pid`
/// the server gave it and the offset of the last packet it received when it reconnects.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RecoveryClaim {
    /// The private session id of the earlier connection.
    #[serde(default)]
    pub pid: Option<String>,
    /// The offset of the last event the client received.
    #[serde(default)]
    pub offset: Option<String>,
}

/// The identity a connecting socket gets from [`SessionRecovery::identify`].
#[derive(Debug, Clone)]
pub struct Identity {
    /// The socket id: a fresh one, or the restored session's.
    pub sid: Sid,
    /// The private session id to send in the CONNECT reply, `None` for a namespace that
    /// does not recover (the reply then carries only `sid`, as without the hook).
    pub pid: Option<Sid>,
    /// Whether this is a restored session (`sid` and `pid` are the earlier connection's).
    pub recovered: bool,
}

impl Identity {
    /// A new socket with a random id and no recovery.
    pub fn fresh() -> Self {
        Self {
            sid: Sid::new(),
            pid: None,
            recovered: false,
        }
    }
}

/// The future [`SessionRecovery::identify`] returns.
pub type IdentifyFuture<'a> = Pin<Box<dyn Future<Output = Identity> + Send + 'a>>;

/// Decides the identity of each socket that connects to a namespace.
///
/// It runs before the connect middlewares. It must never fail a connection: an unknown,
/// expired or malformed claim gives a fresh identity, as in the reference server.
pub trait SessionRecovery: Send + Sync + 'static {
    /// The identity of a socket connecting to `ns` with `claim` (`None` when the auth
    /// payload has no recovery fields or is not an object).
    fn identify<'a>(&'a self, ns: &'a str, claim: Option<RecoveryClaim>) -> IdentifyFuture<'a>;
}

/// The hook as kept in [`SocketIoConfig`](crate::SocketIoConfig).
#[derive(Clone)]
pub(crate) struct RecoveryHook(pub(crate) Arc<dyn SessionRecovery>);

impl fmt::Debug for RecoveryHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryHook")
    }
}
