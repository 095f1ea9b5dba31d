//! The push service: one call, [`PushService::push`], takes a parsed push
//! and its optional idempotency claim and answers the receipt (the 201's
//! body). The HTTP handler is a thin shell around it.
//!
//! `online` is counted once, here, before the write: on one node from this
//! node's rooms, on a cluster from every node's through the adapter. The
//! count then goes into the receipt the store records with the
//! `Idempotency-Key` in the push's own transaction, so every retry answers
//! exactly what the first request did. A user push is acked only after its
//! commit (the store's writer hands it to the hub, and on a cluster to
//! every node's hub, before it answers); a live-only push is sent after its
//! key, if any, is claimed.

use std::{sync::Arc, time::Instant};

use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use socketioxide::{SocketIo, adapter::Adapter};

use super::{
    NAMESPACE,
    idempotency::{self, KeyReused},
    wire::{LiveIds, live_view},
};
use crate::{
    metrics::{Delivery, Metrics},
    protocol::{ErrorCode, EventError, RoomId, UserId, rooms},
    store::{
        NotificationStore, StoreError,
        notifications::{IdempotencyClaim, NewNotification, PushOutcome, PushResponse},
    },
    tasks::Tasks,
};

/// Most users one push may name.
pub const MAX_USERS: usize = 1000;
/// Longest `kind`, in characters.
pub const MAX_KIND_CHARS: usize = 64;

/// What a push answers: `{"notifications": [{"id", "user"}], "online"}`.
pub type Receipt = PushResponse;

/// The body of `POST /api/v1/notifications`, as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    #[serde(default)]
    users: Option<Vec<String>>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    broadcast: Option<bool>,
    kind: String,
    #[serde(default)]
    data: Value,
}

/// Who a push goes to.
pub enum Target {
    /// Stored, one notification per user (de-duplicated, in order).
    Users(Vec<UserId>),
    /// Live only, to the topic's sockets.
    Topic(RoomId),
    /// Live only, to every socket of `/notifications`.
    Broadcast,
}

/// A checked push.
pub struct Push {
    pub target: Target,
    pub kind: String,
    pub data: Value,
}

/// Why a push was not done.
#[derive(Debug)]
pub enum PushError {
    /// Refused as the contract says (`bad_request`, `too_large`).
    Refused(EventError),
    /// The `Idempotency-Key` was used for another request body.
    KeyReused,
    /// The store could not write: nothing was stored.
    Store(StoreError),
    /// Something else failed; the caller logs it and answers `internal`.
    Internal(String),
}

impl From<EventError> for PushError {
    fn from(e: EventError) -> Self {
        Self::Refused(e)
    }
}

impl From<KeyReused> for PushError {
    fn from(_: KeyReused) -> Self {
        Self::KeyReused
    }
}

impl PushRequest {
    pub fn parse(self) -> Result<Push, EventError> {
        let target = match (self.users, self.topic, self.broadcast.filter(|b| *b)) {
            (Some(users), None, None) => Target::Users(parse_users(&users)?),
            (None, Some(topic), None) => Target::Topic(RoomId::parse("topic", &topic)?),
            (None, None, Some(_)) => Target::Broadcast,
            (None, None, None) => {
                return Err(EventError::bad_request(
                    "no target: give exactly one of `users`, `topic` or `broadcast: true`",
                ));
            }
            _ => {
                return Err(EventError::bad_request(
                    "more than one target: give exactly one of `users`, `topic` or `broadcast: true`",
                ));
            }
        };
        let chars = self.kind.chars().count();
        if !(1..=MAX_KIND_CHARS).contains(&chars) || self.kind.chars().any(char::is_control) {
            return Err(EventError::bad_request(format!(
                "`kind` must be 1 to {MAX_KIND_CHARS} characters without control characters"
            )));
        }
        check_no_nul_in_data(&self.data)?;
        Ok(Push {
            target,
            kind: self.kind,
            data: self.data,
        })
    }
}

/// Refuses a NUL (U+0000) in any string or key of `data`, as everywhere a
/// client's text may be stored (PostgreSQL cannot store one in `text`).
fn check_no_nul_in_data(data: &Value) -> Result<(), EventError> {
    let mut values = vec![data];
    while let Some(value) = values.pop() {
        let nul = match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => {
                values.extend(items);
                false
            }
            Value::Object(fields) => {
                values.extend(fields.values());
                fields.keys().any(|k| k.contains('\0'))
            }
            _ => false,
        };
        if nul {
            return Err(EventError::bad_request(
                "`data` must not contain NUL (U+0000) characters in its strings or keys",
            ));
        }
    }
    Ok(())
}

/// Checked and de-duplicated (in order): naming a user twice notifies once.
fn parse_users(users: &[String]) -> Result<Vec<UserId>, EventError> {
    if users.is_empty() || users.len() > MAX_USERS {
        return Err(EventError::bad_request(format!(
            "`users` must hold 1 to {MAX_USERS} user ids"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut parsed = Vec::with_capacity(users.len());
    for user in users {
        let id =
            UserId::parse(user).map_err(|e| EventError::bad_request(format!("`users`: {e}")))?;
        if seen.insert(id.clone()) {
            parsed.push(id);
        }
    }
    Ok(parsed)
}

/// Pushes notifications, stored or live. Cheap to clone.
pub struct PushService<A: Adapter> {
    pub io: SocketIo<A>,
    pub store: NotificationStore,
    pub metrics: Metrics,
    pub live_ids: Arc<LiveIds>,
    /// Most bytes one user push may store, payload times users
    /// (`--api-max-stored-bytes`; `too_large` above).
    pub max_stored_bytes: u64,
    /// Several nodes: counts of reached sockets ask every node.
    pub clustered: bool,
    /// Where the acks of live pushes are awaited.
    pub tasks: Tasks,
}

impl<A: Adapter> Clone for PushService<A> {
    fn clone(&self) -> Self {
        Self {
            io: self.io.clone(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            live_ids: self.live_ids.clone(),
            max_stored_bytes: self.max_stored_bytes,
            clustered: self.clustered,
            tasks: self.tasks.clone(),
        }
    }
}

impl<A: Adapter> PushService<A> {
    /// Does `push`, or, when `claim`'s key was used within the window for
    /// the same body, nothing: either way the answer is the receipt of the
    /// first request with that key.
    pub async fn push(
        &self,
        push: Push,
        claim: Option<IdempotencyClaim>,
    ) -> Result<Receipt, PushError> {
        let accepted = Instant::now();
        let Push { target, kind, data } = push;
        let (topic, rooms) = match &target {
            Target::Users(users) => {
                self.check_stored_size(&kind, &data, users.len())?;
                (None, Some(users.iter().map(rooms::user).collect()))
            }
            Target::Topic(topic) => (Some(topic), Some(vec![rooms::topic(topic)])),
            Target::Broadcast => (None, None),
        };
        let online = count(self.sockets_in(rooms).await?);
        let outcome = match (&target, &claim) {
            (Target::Users(users), _) => {
                let new = users
                    .iter()
                    .map(|user| NewNotification {
                        user: user.as_str().to_owned(),
                        kind: kind.clone(),
                        data: data.clone(),
                    })
                    .collect();
                self.store.push(new, claim.clone(), online).await
            }
            // Record the key (with the whole receipt) before sending: a
            // concurrent retry then finds it and sends nothing.
            (_, Some(claim)) => self.store.claim_key(claim.clone(), online).await,
            (_, None) => Ok(PushOutcome::Stored {
                notifications: Vec::new(),
                response: PushResponse {
                    notifications: Value::Array(Vec::new()),
                    online,
                },
            }),
        };
        let receipt = match outcome.map_err(PushError::Store)? {
            PushOutcome::Duplicate(record) => {
                let claim = claim.as_ref().expect("a duplicate has a claim");
                return Ok(idempotency::replay(record, claim)?);
            }
            PushOutcome::Stored { response, .. } => response,
        };
        self.metrics.push_accepted(match target {
            Target::Users(_) => "users",
            Target::Topic(_) => "topic",
            Target::Broadcast => "broadcast",
        });
        if !matches!(target, Target::Users(_)) {
            self.emit_live(topic, &kind, &data, (online, accepted))
                .await?;
        }
        Ok(receipt)
    }

    /// Refuses a user push that would store more than `--api-max-stored-bytes`:
    /// each user gets its own copy of `kind` and `data`, so one request within
    /// the body limit could otherwise store the body a thousand times over.
    fn check_stored_size(&self, kind: &str, data: &Value, users: usize) -> Result<(), EventError> {
        let payload = kind.len() + serialized_len(data);
        let total = (payload as u64).saturating_mul(users as u64);
        if total <= self.max_stored_bytes {
            return Ok(());
        }
        self.metrics.limit_hit("api_stored_bytes");
        Err(EventError::new(
            ErrorCode::TooLarge,
            format!(
                "this push would store {total} bytes (`kind` and `data`, {payload} bytes, for each of              {users} users); the limit is {} bytes (--api-max-stored-bytes): send a smaller `data`              or fewer users per request",
                self.max_stored_bytes
            ),
        ))
    }

    /// A live-only push to a topic's sockets or every socket of the namespace.
    /// `online` (the sockets counted before the write, every node's) and
    /// `accepted` (when the push came in) are for the metrics: the node that
    /// accepts a live push counts its deliveries, wherever the sockets are.
    async fn emit_live(
        &self,
        topic: Option<&RoomId>,
        kind: &str,
        data: &Value,
        (online, accepted): (i64, Instant),
    ) -> Result<(), PushError> {
        let Some(namespace) = self.io.of(NAMESPACE) else {
            return Err(not_registered());
        };
        let recipients = match topic {
            Some(topic) => namespace.within(rooms::topic(topic)),
            None => namespace,
        };
        let view = live_view(self.live_ids.next(), kind, data, topic.map(RoomId::as_str));
        let acks = recipients
            .emit_with_ack::<_, IgnoredAny>("notification", &view)
            .await
            .map_err(|e| PushError::Internal(e.to_string()))?;
        self.metrics.event_out(NAMESPACE);
        self.metrics
            .notifications_delivered(Delivery::Live, u64::try_from(online).unwrap_or(0));
        self.metrics.push_delivered_after(accepted.elapsed());
        // Live pushes keep no receipt, but the acks must be awaited (or time out)
        // so the sockets forget them.
        self.tasks.spawn(acks.for_each(|_| std::future::ready(())));
        Ok(())
    }

    /// Sockets of `/notifications` in any of `rooms` (all when `None`): this
    /// node's on a single node, every node's through the adapter on a cluster
    /// (this node's alone when the others cannot be asked). A user's sockets
    /// join the user's room in the connect middleware that opens their live
    /// subscription (the hub), so the user rooms count the sockets a push reaches.
    async fn sockets_in(&self, rooms: Option<Vec<String>>) -> Result<usize, PushError> {
        let Some(namespace) = self.io.of(NAMESPACE) else {
            return Err(not_registered());
        };
        let recipients = match rooms {
            Some(rooms) => namespace.within(rooms),
            None => namespace,
        };
        if !self.clustered {
            return Ok(recipients.sockets().len());
        }
        match recipients.clone().fetch_sockets().await {
            Ok(sockets) => Ok(sockets.len()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the sockets of every node");
                Ok(recipients.sockets().len())
            }
        }
    }
}

fn not_registered() -> PushError {
    PushError::Internal("the /notifications namespace is not registered".to_owned())
}

/// The length of `value` as JSON, as the store keeps it, without building
/// the text.
fn serialized_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` into a sink that never fails cannot fail.
    serde_json::to_writer(&mut counter, value).ok();
    counter.0
}

fn count(sockets: usize) -> i64 {
    i64::try_from(sockets).unwrap_or(i64::MAX)
}
