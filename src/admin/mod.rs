//! The Socket.IO Admin UI: the `/admin` namespace that the stock
//! @socket.io/admin-ui 0.5 speaks, and that UI itself, served at `/admin/`
//! ([`ui`]). Only with `--admin-username` and `--admin-password`; without
//! them neither exists.
//!
//! The wire is the reference server's (`instrument()` of the npm package,
//! `dist/index.js`), in its development mode, where the UI lists every
//! socket and shows every event:
//!
//! - a connect with `auth: {username, password}` (or `{sessionId}` from an
//!   earlier sign-in) is admitted or refused with `invalid credentials`
//!   ([`auth`]); a fresh sign-in gets `session`, the id to come back with;
//! - then `config` (the supported features: the actions unless
//!   `--admin-read-only`), `server_stats` (at once and every 2 s, from every
//!   node: [`stats`]) and `all_sockets` ([`sockets`]);
//! - live: `socket_connected`, `socket_updated` (a transport upgrade),
//!   `socket_disconnected`, `room_joined`, `room_left`, `event_received` and
//!   `event_sent` ([`feed`]);
//! - the actions `emit`, `join`, `leave` and `_disconnect`, by socket id or
//!   room (`filter`) or namespace-wide ([`actions`]); an ack, when the
//!   client asks for one, says `{ok}` or the contract's error (the stock UI
//!   asks for none).
//!
//! Where the reports come from ([`tap`]): socketioxide has no server-wide
//! hooks, so the fork has one (`socketioxide::tap`, fork entry 18): every
//! namespace socket's connect and disconnect, every event it receives and
//! every event sent to it (one per recipient of a broadcast, also one that
//! came from another node) reach [`tap::AdminTap`] from socketioxide's own
//! paths, whatever namespace code runs; nothing in `crate::namespaces` calls
//! the admin. Rooms are found by
//! looking: while someone watches, each node compares its sockets' rooms
//! and transports with what it last reported, every
//! [`feed::SCAN_EVERY`] and right after an action ([`feed`]), so a room
//! change made anywhere (a handler, an action of another node, a recovered
//! session) is seen, at the cost of that delay. Rooms whose name holds
//! U+001F are the server's own (presence markers, recovery groups:
//! [`crate::protocol::rooms`]) and are not shown.
//!
//! On a cluster each node reports its own `server_stats` under its own
//! `serverId`, and the live events of its own sockets to every node's
//! `/admin` sockets through the adapter; `all_sockets` and the actions cover
//! every node ([`cluster`]).

pub mod actions;
pub mod auth;
pub mod cluster;
pub mod feed;
pub mod packet;
pub mod sockets;
pub mod stats;
pub mod tap;
pub mod ui;

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use anyhow::Context;
use ipnet::IpNet;
use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{SocketRef, State, TryData},
};

use crate::{
    cluster::RedisDriver,
    config::{AdminPassword, ServeConfig},
    tasks::Tasks,
};

pub use auth::Refused;

/// The namespace the stock UI connects to.
pub const NAMESPACE: &str = "/admin";

/// What `--admin-*` and the rest of the settings say about the Admin UI.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub username: String,
    pub password: AdminPassword,
    /// `--admin-read-only`: no actions.
    pub read_only: bool,
    /// Whose `X-Forwarded-For` names a socket's client (its address shown).
    pub trusted_proxies: Vec<IpNet>,
}

impl AdminSettings {
    /// `None` unless both the user name and the password are set (the
    /// settings refuse one without the other).
    pub fn from_config(config: &ServeConfig) -> Option<Self> {
        Some(Self {
            username: config.admin_username.clone()?,
            password: config.admin_password.clone()?,
            read_only: config.admin_read_only,
            trusted_proxies: config.trusted_proxies.clone(),
        })
    }
}

/// The Admin UI of one server (socketioxide state): cheap to clone.
pub struct Admin<A: Adapter> {
    inner: Arc<Inner<A>>,
}

impl<A: Adapter> Clone for Admin<A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<A: Adapter> {
    settings: AdminSettings,
    credentials: auth::Credentials,
    sessions: auth::Sessions,
    /// The server, once built ([`Admin::start`]).
    io: OnceLock<SocketIo<A>>,
    /// Where the admin's own short tasks run.
    tasks: OnceLock<Tasks>,
    /// Who watches, and the reports on their way to them.
    feed: feed::Feed<A>,
    /// What `server_stats` counts between two of them.
    counters: stats::Counters,
    node: stats::Node,
    /// This node's part of the cluster's view, `None` on one node.
    cluster: Option<cluster::Cluster>,
}

impl<A: Adapter> Admin<A> {
    /// The Admin UI of these settings, before the server is built; with
    /// `redis` (its URL and the adapter's driver), one node of a cluster.
    pub async fn new(
        settings: AdminSettings,
        redis: Option<(&str, RedisDriver)>,
    ) -> anyhow::Result<Self> {
        let credentials = auth::Credentials::new(&settings.username, &settings.password);
        let node = stats::Node::here(Instant::now());
        let cluster = match redis {
            Some((url, driver)) => Some(
                cluster::Cluster::connect(url, driver, &node.server_id)
                    .await
                    .context("cannot connect to Redis for the Admin UI (--redis-url)")?,
            ),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                credentials,
                sessions: auth::Sessions::new(),
                io: OnceLock::new(),
                tasks: OnceLock::new(),
                feed: feed::Feed::new(),
                counters: stats::Counters::default(),
                node,
                cluster,
            }),
        })
    }

    /// The tap to put in the server's state before it is built: every
    /// namespace added afterwards reports to it.
    pub fn tap(&self) -> socketioxide::tap::Tap<A> {
        socketioxide::tap::Tap::new(tap::AdminTap {
            admin: self.clone(),
        })
    }

    /// Once the server is built: the feed, the stats every 2 s and, on a
    /// cluster, the requests of the other nodes, until the shutdown.
    pub async fn start(&self, io: &SocketIo<A>, tasks: &Tasks) -> anyhow::Result<()> {
        self.inner.io.set(io.clone()).ok();
        self.inner.tasks.set(tasks.clone()).ok();
        feed::spawn(self.clone(), tasks);
        stats::spawn(self.clone(), tasks);
        if let Some(cluster) = &self.inner.cluster {
            cluster.start(self.clone(), tasks).await?;
        }
        Ok(())
    }

    fn io(&self) -> Option<&SocketIo<A>> {
        self.inner.io.get()
    }

    /// Runs `task` until it ends or the shutdown begins.
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let Some(tasks) = self.inner.tasks.get() else {
            return;
        };
        let stopping = tasks.stopping();
        tasks.spawn(async move {
            tokio::select! {
                () = task => {}
                () = stopping => {}
            }
        });
    }

    fn settings(&self) -> &AdminSettings {
        &self.inner.settings
    }
}

/// The `/admin` connect middleware: signs the socket in ([`auth`]) or
/// refuses it with `invalid credentials`, then registers the actions, all
/// before the CONNECT reply goes out.
pub async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<serde_json::Value>,
    State(admin): State<Admin<A>>,
) -> Result<(), Refused> {
    let auth = auth.unwrap_or(serde_json::Value::Null);
    let signed_in = auth::sign_in(&admin, &socket, &auth).await?;
    socket.extensions.insert(signed_in);
    actions::register(&socket, admin.settings().read_only);
    Ok(())
}

/// After the CONNECT reply: a fresh sign-in's `session`, then `config`,
/// this node's `server_stats`, and `all_sockets` of every node.
pub async fn on_connect<A: Adapter>(socket: SocketRef<A>, State(admin): State<Admin<A>>) {
    if let Some(auth::SignedIn::Fresh(session)) = socket.extensions.get::<auth::SignedIn>() {
        socket.emit("session", &session).ok();
    }
    socket
        .emit("config", &actions::config(admin.settings().read_only))
        .ok();
    if let Some(io) = admin.io() {
        socket
            .emit("server_stats", &stats::snapshot(&admin, io, false))
            .ok();
    }
    admin.inner.feed.welcome(socket);
}
