//! The live fan-out of stored notifications to the sockets of their user on
//! this node.
//!
//! The store's writer calls [`Hub::committed`] after each commit, in commit
//! order, so every [`Subscription`] receives its user's notifications in id
//! order. A subscription whose queue is full is not blocked on and loses
//! nothing: it is marked lagged, and its owner catches up from the store.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::sync::mpsc;

use crate::{
    protocol::UserId,
    store::{CommitListener, StoredNotification},
};

/// Live notifications one socket may have waiting before it is marked lagged.
pub const QUEUE: usize = 1024;

/// Who is listening, by user. Cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    users: Mutex<HashMap<String, Vec<Subscriber>>>,
    next_id: AtomicU64,
}

struct Subscriber {
    id: u64,
    queue: mpsc::Sender<Arc<StoredNotification>>,
    lagged: Arc<AtomicBool>,
}

/// One socket's live feed; unsubscribes when dropped.
pub struct Subscription {
    inner: Arc<Inner>,
    user: String,
    id: u64,
    queue: mpsc::Receiver<Arc<StoredNotification>>,
    lagged: Arc<AtomicBool>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts receiving `user`'s notifications committed from now on.
    pub fn subscribe(&self, user: &UserId) -> Subscription {
        let (sender, queue) = mpsc::channel(QUEUE);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner
            .users
            .lock()
            .expect("hub lock")
            .entry(user.as_str().to_owned())
            .or_default()
            .push(Subscriber {
                id,
                queue: sender,
                lagged: lagged.clone(),
            });
        Subscription {
            inner: self.inner.clone(),
            user: user.as_str().to_owned(),
            id,
            queue,
            lagged,
        }
    }

    /// Users with at least one subscription (for tests and metrics).
    pub fn users(&self) -> usize {
        self.inner.users.lock().expect("hub lock").len()
    }
}

impl CommitListener for Hub {
    fn committed(&self, notifications: &[StoredNotification]) -> Vec<usize> {
        let users = self.inner.users.lock().expect("hub lock");
        notifications
            .iter()
            .map(|n| {
                let Some(subscribers) = users.get(&n.user) else {
                    return 0;
                };
                let shared = Arc::new(n.clone());
                subscribers
                    .iter()
                    .filter(|s| match s.queue.try_send(shared.clone()) {
                        Ok(()) => true,
                        // Reached all the same: its owner reads the store.
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            s.lagged.store(true, Ordering::Release);
                            true
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                    })
                    .count()
            })
            .collect()
    }
}

impl Subscription {
    /// The next live notification; `None` only if the hub is gone.
    pub async fn recv(&mut self) -> Option<Arc<StoredNotification>> {
        self.queue.recv().await
    }

    /// Drops whatever is queued now (the caller reads the store instead).
    pub fn drain(&mut self) {
        while self.queue.try_recv().is_ok() {}
    }

    /// Whether notifications were left out since the last call (the queue was
    /// full): the owner must read the store from its last id.
    pub fn take_lagged(&self) -> bool {
        self.lagged.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut users = self.inner.users.lock().expect("hub lock");
        if let Some(subscribers) = users.get_mut(&self.user) {
            subscribers.retain(|s| s.id != self.id);
            if subscribers.is_empty() {
                users.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StreamId;

    fn notification(id: i64, user: &str) -> StoredNotification {
        StoredNotification {
            id: StreamId(id),
            user: user.into(),
            kind: "k".into(),
            data: serde_json::Value::Null,
            ts: 0,
            read: false,
        }
    }

    #[tokio::test]
    async fn each_user_gets_only_their_own_in_order() {
        let hub = Hub::new();
        let mut alice = hub.subscribe(&UserId::parse("alice").unwrap());
        let mut alice2 = hub.subscribe(&UserId::parse("alice").unwrap());
        let reached = hub.committed(&[
            notification(1, "alice"),
            notification(2, "bob"),
            notification(3, "alice"),
        ]);
        assert_eq!(reached, vec![2, 0, 2]);
        for sub in [&mut alice, &mut alice2] {
            assert_eq!(sub.recv().await.unwrap().id, StreamId(1));
            assert_eq!(sub.recv().await.unwrap().id, StreamId(3));
        }
        drop(alice);
        assert_eq!(hub.committed(&[notification(4, "alice")]), vec![1]);
        drop(alice2);
        assert_eq!(
            hub.users(),
            0,
            "the last unsubscribe frees the user's entry"
        );
    }

    #[tokio::test]
    async fn a_full_queue_marks_the_subscription_lagged() {
        let hub = Hub::new();
        let sub = hub.subscribe(&UserId::parse("alice").unwrap());
        let many: Vec<_> = (0..=i64::try_from(QUEUE).unwrap())
            .map(|i| notification(i, "alice"))
            .collect();
        let reached = hub.committed(&many);
        assert!(reached.iter().all(|&n| n == 1));
        assert!(sub.take_lagged());
        assert!(!sub.take_lagged(), "taking the flag clears it");
    }
}
