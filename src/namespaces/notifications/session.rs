//! Per-socket `/notifications` state, kept in the socket's extensions.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, MutexGuard},
};

use tokio_util::sync::CancellationToken;

use crate::protocol::bounds::MAX_TOPICS_PER_SOCKET;
use crate::{
    notifications::{delivery::AckedCursor, hub::Subscription},
    protocol::{RoomId, StreamId, UserId},
};

pub struct NotificationSession {
    pub user: UserId,
    topics: Mutex<BTreeSet<RoomId>>,
    /// Set up by the connect middleware, taken by the delivery task once the
    /// socket is connected.
    pending: Mutex<Option<(Subscription, StreamId)>>,
    /// Ends the delivery task when the socket goes.
    pub closed: CancellationToken,
    /// What the client acknowledged (a recovered socket resumes after it).
    pub acked: Arc<AckedCursor>,
}

/// The session as kept while its socket is away (connection state recovery).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct HeldSession {
    pub user: String,
    pub topics: Vec<String>,
    /// Replay after this id when the client gives no `since`.
    pub after: i64,
}

impl NotificationSession {
    pub fn new(user: UserId, subscription: Subscription, cursor: StreamId) -> Self {
        Self {
            user,
            topics: Mutex::new(BTreeSet::new()),
            pending: Mutex::new(Some((subscription, cursor))),
            closed: CancellationToken::new(),
            acked: Arc::new(AckedCursor::new(cursor)),
        }
    }

    /// The session as kept while its socket is away.
    pub fn to_data(&self) -> serde_json::Value {
        let held = HeldSession {
            user: self.user.as_str().to_owned(),
            topics: lock(&self.topics)
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            after: self.acked.resume_after().0,
        };
        serde_json::to_value(held).expect("a held session serializes")
    }

    /// The live subscription and the replay cursor, once.
    pub fn take_pending(&self) -> Option<(Subscription, StreamId)> {
        lock(&self.pending).take()
    }

    /// Adds topics; refuses (changing nothing) past [`MAX_TOPICS_PER_SOCKET`].
    /// Returns all topics held afterwards.
    pub fn subscribe(&self, topics: &[RoomId]) -> Result<Vec<RoomId>, ()> {
        let mut held = lock(&self.topics);
        let new = topics
            .iter()
            .filter(|t| !held.contains(*t))
            .collect::<BTreeSet<_>>();
        if held.len() + new.len() > MAX_TOPICS_PER_SOCKET {
            return Err(());
        }
        held.extend(new.into_iter().cloned());
        Ok(held.iter().cloned().collect())
    }

    /// Removes topics (unknown ones are ignored); returns the topics left.
    pub fn unsubscribe(&self, topics: &[RoomId]) -> Vec<RoomId> {
        let mut held = lock(&self.topics);
        for topic in topics {
            held.remove(topic);
        }
        held.iter().cloned().collect()
    }
}

/// Each operation under these locks is a single collection call, so a
/// poisoned lock cannot hold half-updated state and is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
