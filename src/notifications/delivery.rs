//! One task per socket delivers its user's stored notifications: first
//! everything after the cursor from the store, then live ones from the hub,
//! skipping what it already sent. Being the only sender, it keeps the order.
//!
//! Why no gap: the hub subscription was opened *before* the store was read (see
//! the connect middleware), and the store's writer publishes to the hub only
//! after a commit. A notification committed before the read is in the read; one
//! committed after it is in the subscription queue. Whatever is in both is sent
//! once (ids at or below the cursor are skipped).
//!
//! On a cluster, batches committed by different nodes may reach this node's
//! hub out of order, so a live notification is only a wake-up: the task reads
//! the store from its cursor instead (the store commits notifications in id
//! order across nodes), and sends what it finds, in order.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{StreamExt, stream::FuturesUnordered};
use serde::de::IgnoredAny;
use socketioxide::{AckError, SendError, SocketError, adapter::Adapter, extract::SocketRef};
use tokio_util::sync::CancellationToken;

use crate::{
    metrics::{self, Metrics},
    notifications::{NotificationView, hub::Subscription},
    protocol::{StreamId, UserId, now_ms},
    store::{NotificationStore, StoredNotification},
    tasks::Tasks,
};

/// Notifications read from the store per query while catching up.
const PAGE: u32 = 200;
/// How long to wait before retrying when the socket's buffer is full (a slow
/// client) or the store failed; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub struct Delivery<A: Adapter> {
    pub socket: SocketRef<A>,
    pub user: UserId,
    pub subscription: Subscription,
    pub cursor: StreamId,
    pub store: NotificationStore,
    pub metrics: Metrics,
    pub closed: CancellationToken,
    /// Read the store on every live notification instead of sending it as is.
    pub live_is_wake_up: bool,
    /// Where the delivery receipts are written.
    pub tasks: Tasks,
    /// What the client acknowledged (connection state recovery resumes after it).
    pub acked: Arc<AckedCursor>,
}

/// The id every notification up to which the client acknowledged: a socket
/// that recovers without `since` is replayed what follows it, so a
/// notification lost with the transport (sent, never acked) is sent again
/// rather than skipped. One acked after an unacked one is sent again too
/// (the client de-duplicates by id).
#[derive(Debug)]
pub struct AckedCursor(Mutex<AckMarks>);

#[derive(Debug)]
struct AckMarks {
    /// Every notification up to it is acked (or was before this socket).
    floor: StreamId,
    /// Sent and not acked yet.
    outstanding: BTreeSet<StreamId>,
    /// The last one sent.
    last_sent: Option<StreamId>,
}

impl AckedCursor {
    /// Starting after `cursor` (the socket's replay cursor).
    pub fn new(cursor: StreamId) -> Self {
        Self(Mutex::new(AckMarks {
            floor: cursor,
            outstanding: BTreeSet::new(),
            last_sent: None,
        }))
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, AckMarks> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sent(&self, id: StreamId) {
        let mut marks = self.marks();
        marks.outstanding.insert(id);
        marks.last_sent = Some(id);
    }

    fn acked(&self, id: StreamId) {
        self.marks().outstanding.remove(&id);
    }

    /// Where a recovering socket's replay starts (exclusive).
    pub fn resume_after(&self) -> StreamId {
        let marks = self.marks();
        match marks.outstanding.first() {
            Some(first) => StreamId(first.0 - 1),
            None => marks.last_sent.unwrap_or(marks.floor),
        }
    }
}

/// Why sending stopped.
enum Stop {
    /// The socket closed (or is closing): the task ends.
    Closed,
}

type AckFuture = std::pin::Pin<Box<dyn std::future::Future<Output = (StreamId, bool)> + Send>>;

impl<A: Adapter> Delivery<A> {
    /// Runs until the socket closes.
    pub async fn run(mut self) {
        let closed = self.closed.clone();
        tokio::select! {
            () = closed.cancelled() => {}
            () = self.deliver() => {}
        }
    }

    async fn deliver(&mut self) {
        let mut acks: FuturesUnordered<AckFuture> = FuturesUnordered::new();
        let mut catch_up = true;
        // The first read is the connecting socket's replay: its latency is
        // how long the user was away, not the delivery's.
        let mut live = false;
        loop {
            if catch_up {
                if let Err(Stop::Closed) = self.catch_up(&mut acks, live).await {
                    return;
                }
                catch_up = false;
                live = true;
            }
            tokio::select! {
                next = self.subscription.recv() => {
                    let Some(notification) = next else { return };
                    if self.subscription.take_lagged() {
                        // Some were left out of the queue: the store has them.
                        catch_up = true;
                        continue;
                    }
                    if self.live_is_wake_up {
                        if notification.id > self.cursor {
                            // Whatever else is queued is covered by the same read.
                            self.subscription.drain();
                            catch_up = true;
                        }
                        continue;
                    }
                    if notification.id <= self.cursor {
                        continue;
                    }
                    if let Err(Stop::Closed) = self.send(&notification, &mut acks, true).await {
                        return;
                    }
                }
                Some((id, acked)) = acks.next(), if !acks.is_empty() => {
                    if acked {
                        self.metrics.notification_receipts.inc();
                        self.acked.acked(id);
                        self.record_delivery(id);
                    }
                }
            }
        }
    }

    /// Sends everything after the cursor that is in the store (`live` when
    /// not the connecting socket's replay).
    async fn catch_up(
        &mut self,
        acks: &mut FuturesUnordered<AckFuture>,
        live: bool,
    ) -> Result<(), Stop> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let page = match self
                .store
                .after(self.user.as_str(), self.cursor, PAGE)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, user = %self.user, "notification replay read failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let complete = page.len() < PAGE as usize;
            for notification in &page {
                self.send(notification, acks, live).await?;
            }
            if complete {
                return Ok(());
            }
        }
    }

    /// Emits one notification asking for an ack, waiting while the socket's
    /// buffer is full (socketioxide has no way to await room in it). A `live`
    /// one records its push-to-delivery latency, from the store's timestamp
    /// (the writer's clock, taken when it took the push) to now.
    async fn send(
        &mut self,
        notification: &StoredNotification,
        acks: &mut FuturesUnordered<AckFuture>,
        live: bool,
    ) -> Result<(), Stop> {
        let view = NotificationView::from(notification);
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self
                .socket
                .emit_with_ack::<_, IgnoredAny>("notification", &view)
            {
                Ok(ack) => {
                    let id = notification.id;
                    acks.push(Box::pin(async move {
                        // Any answer is an ack, whatever it holds.
                        let acked = matches!(ack.await, Ok(_) | Err(AckError::Decode(_)));
                        (id, acked)
                    }));
                    self.metrics.event_out(self.socket.ns());
                    self.metrics
                        .notifications_delivered(metrics::Delivery::Stored, 1);
                    if live {
                        let ms = u64::try_from(now_ms() - notification.ts).unwrap_or(0);
                        self.metrics.push_delivered_after(Duration::from_millis(ms));
                    }
                    self.acked.sent(id);
                    self.cursor = notification.id;
                    return Ok(());
                }
                Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(SendError::Socket(SocketError::Closed)) => return Err(Stop::Closed),
                Err(e) => {
                    // Serializing a `serde_json::Value` cannot fail; if it
                    // somehow did, skip it rather than stall the stream.
                    tracing::error!(error = %e, id = %notification.id, "notification not sent");
                    self.cursor = notification.id;
                    return Ok(());
                }
            }
        }
    }

    /// Records the delivery receipt without holding up the stream.
    fn record_delivery(&self, id: StreamId) {
        let store = self.store.clone();
        self.tasks.spawn(async move {
            if let Err(e) = store.mark_delivered(id).await {
                tracing::warn!(error = %e, %id, "delivery receipt not recorded");
            }
        });
    }
}
