//! Committed notifications to the hubs of every node.
//!
//! The node whose writer committed a batch hands it to its own hub at once
//! (as on a single node) and publishes it on one Redis channel; every other
//! node hands what it hears to its hub. Redis delivers each node's messages in
//! order, but batches of different nodes may interleave, so in a cluster a
//! live notification is only a wake-up: the socket's delivery task reads the
//! store from its cursor (PostgreSQL commits notifications in id order, see
//! the store), which makes the stream gap-free and ordered whatever arrives
//! when. A message lost while Redis is away delays delivery until the next
//! one for that user, or the next reconnect: nothing stored is lost.
//!
//! The fan-out does not go through [`PushService::push`]: by the time other
//! nodes hear of a notification it is stored, its `online` counted (across
//! the cluster, once) and its `Idempotency-Key` claimed, on the node that
//! took the request. What the other nodes lack is only delivery to their own
//! sockets, which is what their hubs do.
//!
//! [`PushService::push`]: crate::notifications::PushService::push

use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use socketioxide_redis::drivers::Driver;
use tokio::sync::mpsc;

use super::RedisDriver;
use crate::{
    notifications::Hub,
    protocol::StreamId,
    store::{CommitListener, StoredNotification},
    tasks::Tasks,
};

/// The Redis channel of committed notifications.
pub const CHANNEL: &str = "switchboard#notifications";
/// Batches waiting for the publisher before new ones are dropped (the
/// receivers catch up from the store on the next one).
const OUTBOX: usize = 4096;

#[derive(Serialize, Deserialize)]
struct Envelope {
    node: String,
    notifications: Vec<Item>,
}

#[derive(Serialize, Deserialize)]
struct Item {
    id: i64,
    user: String,
    kind: String,
    data: serde_json::Value,
    ts: i64,
}

/// The [`CommitListener`] of a cluster node.
pub struct ClusterFanout {
    hub: Hub,
    node: String,
    outbox: mpsc::Sender<Vec<u8>>,
}

impl ClusterFanout {
    /// Subscribes to the channel and starts the publisher and the listener.
    /// The publisher is one of `tasks`' writers: it ends once the store's
    /// notification writer (which holds this listener) has drained, after
    /// publishing what it committed. The listener ends when the shutdown
    /// closes the sockets.
    pub async fn start(driver: RedisDriver, hub: Hub, tasks: &Tasks) -> anyhow::Result<Arc<Self>> {
        let node = format!("{:016x}", rand_node_id());
        let incoming = driver
            .subscribe(CHANNEL.to_owned(), OUTBOX)
            .await
            .map_err(|e| anyhow::anyhow!("cannot subscribe to Redis channel {CHANNEL}: {e}"))?;
        let (outbox, mut queue) = mpsc::channel::<Vec<u8>>(OUTBOX);
        let publisher = driver.clone();
        tasks.spawn_writer(async move {
            while let Some(message) = queue.recv().await {
                // Failures are logged by the driver; receivers catch up later.
                publisher.publish(CHANNEL.to_owned(), message).await.ok();
            }
        });
        let listener_hub = hub.clone();
        let own = node.clone();
        let stopping = tasks.stopping();
        tasks.spawn(async move {
            let mut incoming = std::pin::pin!(incoming.take_until(stopping));
            while let Some((_, payload)) = incoming.next().await {
                match serde_json::from_slice::<Envelope>(&payload) {
                    Ok(envelope) if envelope.node == own => {}
                    Ok(envelope) => {
                        let notifications: Vec<StoredNotification> = envelope
                            .notifications
                            .into_iter()
                            .map(Item::into_stored)
                            .collect();
                        listener_hub.committed(&notifications);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable notification batch from Redis")
                    }
                }
            }
        });
        Ok(Arc::new(Self { hub, node, outbox }))
    }
}

impl Item {
    fn into_stored(self) -> StoredNotification {
        StoredNotification {
            id: StreamId(self.id),
            user: self.user,
            kind: self.kind,
            data: self.data,
            ts: self.ts,
            read: false,
        }
    }
}

impl CommitListener for ClusterFanout {
    fn committed(&self, notifications: &[StoredNotification]) -> Vec<usize> {
        let reached = self.hub.committed(notifications);
        if !notifications.is_empty() {
            let envelope = Envelope {
                node: self.node.clone(),
                notifications: notifications
                    .iter()
                    .map(|n| Item {
                        id: n.id.0,
                        user: n.user.clone(),
                        kind: n.kind.clone(),
                        data: n.data.clone(),
                        ts: n.ts,
                    })
                    .collect(),
            };
            match serde_json::to_vec(&envelope) {
                Ok(message) => {
                    if self.outbox.try_send(message).is_err() {
                        tracing::warn!(
                            "notification fan-out queue full; other nodes catch up on the next push"
                        );
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot encode a notification batch"),
            }
        }
        reached
    }
}

/// A node id for telling its own messages apart: clock and process id mixed,
/// unique enough between the nodes of one cluster.
fn rand_node_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}
