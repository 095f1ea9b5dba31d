//! The Admin UI on a cluster (`--redis-url`). What goes through the
//! socketioxide-redis adapter as for any namespace: every node's live events
//! and `server_stats` reach the `/admin` sockets of every node, and the
//! actions reach sockets on every node (broadcast operators, and
//! `fetch_sockets` to find a socket by id). What the adapter cannot carry,
//! on Redis channels of this module:
//!
//! - `all_sockets` lists every node's sockets: the node of a new `/admin`
//!   socket asks the others on [`DESCRIBE`] and each answers on the
//!   asker's own channel with its sockets described (handshake, rooms,
//!   transport, as its own events describe them); whatever has not answered
//!   within [`crate::cluster::REQUEST_TIMEOUT`] is left out;
//! - a node reports its events only while somebody watches: a node with an
//!   `/admin` socket says so on [`WATCHING`] every
//!   [`super::stats::STATS_EVERY`] (and a describe request says it too), and
//!   the others report for [`WATCHED_FOR`] after they last heard it;
//! - sessions are kept in Redis too (as digests, with their time to live),
//!   so the UI keeps its session when it reconnects to another node.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt;
use redis::{AsyncCommands, aio::ConnectionManager};
use serde::{Deserialize, Serialize};
use socketioxide::adapter::Adapter;
use socketioxide_redis::drivers::Driver;
use tokio::sync::mpsc;

use super::{Admin, auth::SESSION_TTL, feed::MAX_LISTED, sockets::Described};
use crate::{
    cluster::{REQUEST_TIMEOUT, RedisDriver},
    protocol::now_ms,
    tasks::Tasks,
};

/// Where a node with an `/admin` socket says so.
pub const WATCHING: &str = "switchboard#admin#watching";
/// Where a node asks the others for their sockets.
pub const DESCRIBE: &str = "switchboard#admin#describe";
/// How long a node reports after it last heard that an `/admin` socket is
/// elsewhere: three announcements.
pub const WATCHED_FOR: Duration = Duration::from_secs(6);
/// Messages of this module's channels waiting to be read.
const INBOX: usize = 1024;

/// The channel where `node` gets the answers to its requests.
fn replies(node: &str) -> String {
    format!("switchboard#admin#sockets#{node}")
}

fn session_key(key: &[u8; 32]) -> String {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    format!("switchboard:admin:session:{hex}")
}

#[derive(Serialize, Deserialize)]
struct Watching {
    node: String,
}

#[derive(Serialize, Deserialize)]
struct Describe {
    node: String,
    request: u64,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    node: String,
    request: u64,
    sockets: Vec<Described>,
}

/// This node's part of the cluster's Admin UI.
pub struct Cluster {
    driver: RedisDriver,
    conn: ConnectionManager,
    node: String,
    next_request: AtomicU64,
    /// The requests waiting for answers, by id.
    pending: Mutex<HashMap<u64, mpsc::UnboundedSender<Vec<Described>>>>,
}

impl Cluster {
    /// Connects to Redis (`url`) for the sessions; `driver` carries the
    /// channels.
    pub async fn connect(url: &str, driver: RedisDriver, node: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REQUEST_TIMEOUT))
            .set_response_timeout(Some(REQUEST_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(Self {
            driver,
            conn,
            node: node.to_owned(),
            next_request: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Subscribes to the channels and answers the other nodes until the
    /// shutdown.
    pub async fn start<A: Adapter>(&self, admin: Admin<A>, tasks: &Tasks) -> anyhow::Result<()> {
        let subscribe = |channel: String| {
            let driver = self.driver.clone();
            async move {
                driver.subscribe(channel.clone(), INBOX).await.map_err(|e| {
                    anyhow::anyhow!("cannot subscribe to Redis channel {channel}: {e}")
                })
            }
        };
        let watching = subscribe(WATCHING.to_owned()).await?;
        let describe = subscribe(DESCRIBE.to_owned()).await?;
        let answers = subscribe(replies(&self.node)).await?;
        let mut incoming = futures_util::stream::select_all([watching, describe, answers]);
        let stopping = tasks.stopping();
        tasks.spawn(async move {
            let listen = async {
                while let Some((channel, payload)) = incoming.next().await {
                    if let Some(cluster) = &admin.inner.cluster {
                        cluster.heard(&admin, &channel, &payload);
                    }
                }
            };
            tokio::select! {
                () = listen => {}
                () = stopping => {}
            }
        });
        Ok(())
    }

    fn heard<A: Adapter>(&self, admin: &Admin<A>, channel: &str, payload: &[u8]) {
        let feed = &admin.inner.feed;
        let watched_until = now_ms() + WATCHED_FOR.as_millis() as i64;
        if channel == WATCHING {
            if let Ok(watching) = serde_json::from_slice::<Watching>(payload)
                && watching.node != self.node
            {
                feed.watched_from_afar(watched_until);
            }
        } else if channel == DESCRIBE {
            if let Ok(describe) = serde_json::from_slice::<Describe>(payload)
                && describe.node != self.node
            {
                feed.watched_from_afar(watched_until);
                feed.describe_for(describe.node, describe.request);
            }
        } else if let Ok(answer) = serde_json::from_slice::<Answer>(payload) {
            let pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(waiting) = pending.get(&answer.request) {
                waiting.send(answer.sockets).ok();
            }
        }
    }

    async fn publish<T: Serialize>(&self, channel: String, message: &T) {
        match serde_json::to_vec(message) {
            Ok(payload) => {
                // The driver logs a failure; a lost message leaves the UI
                // short of one node's part until it reconnects.
                self.driver.publish(channel, payload).await.ok();
            }
            Err(e) => tracing::warn!("admin cluster message not encoded: {e}"),
        }
    }

    /// Tells the other nodes that an `/admin` socket is here.
    pub async fn announce_watching(&self) {
        let message = Watching {
            node: self.node.clone(),
        };
        self.publish(WATCHING.to_owned(), &message).await;
    }

    /// Answers node `node`'s request `request` with this node's sockets (at
    /// most [`MAX_LISTED`]: the asker lists no more).
    pub async fn answer(&self, node: String, request: u64, mut sockets: Vec<Described>) {
        sockets.truncate(MAX_LISTED);
        let message = Answer {
            node: self.node.clone(),
            request,
            sockets,
        };
        self.publish(replies(&node), &message).await;
    }

    /// The sockets of every other node, as they answer within
    /// [`REQUEST_TIMEOUT`].
    pub async fn remote_sockets(&self) -> Vec<Described> {
        let others = self
            .driver
            .num_serv(DESCRIBE)
            .await
            .map_or(0, |n| usize::from(n).saturating_sub(1));
        if others == 0 {
            return Vec::new();
        }
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(request, tx);
        let message = Describe {
            node: self.node.clone(),
            request,
        };
        self.publish(DESCRIBE.to_owned(), &message).await;
        let mut all = Vec::new();
        let collect = async {
            for _ in 0..others {
                match rx.recv().await {
                    Some(sockets) => all.extend(sockets),
                    None => break,
                }
            }
        };
        if tokio::time::timeout(REQUEST_TIMEOUT, collect)
            .await
            .is_err()
        {
            tracing::warn!("not every node listed its sockets for the Admin UI in time");
        }
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&request);
        all
    }

    /// Whether the session of digest `key` was handed out by some node.
    pub async fn session_exists(&self, key: &[u8; 32]) -> bool {
        let mut conn = self.conn.clone();
        match conn.exists::<_, bool>(session_key(key)).await {
            Ok(exists) => exists,
            Err(e) => {
                tracing::warn!("cannot look an admin session up in Redis: {e}");
                false
            }
        }
    }

    /// Keeps the session of digest `key` for every node.
    pub async fn save_session(&self, key: &[u8; 32]) {
        let mut conn = self.conn.clone();
        if let Err(e) = conn
            .set_ex::<_, _, ()>(session_key(key), 1, SESSION_TTL.as_secs())
            .await
        {
            tracing::warn!(
                "cannot keep an admin session in Redis (other nodes will ask to sign in): {e}"
            );
        }
    }
}
