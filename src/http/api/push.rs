//! `POST /api/v1/notifications` and `GET /api/v1/users/{user}/notifications`.

use axum::{
    Extension, Json,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode},
};
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use socketioxide::adapter::Adapter;

use super::{
    ApiState,
    error::{ApiError, parse_json},
};
use crate::{
    namespaces::{
        names::RoomId,
        notifications::{NAMESPACE, payload::ListRequest, topic_room_of},
    },
    notifications::{NotificationView, UserId, credentials::KeyId, wire::live_view},
    store::notifications::{
        IdempotencyClaim, IdempotencyRecord, NewNotification, PushOutcome, PushResponse,
    },
};

/// Most users one push may name.
pub const MAX_USERS: usize = 1000;
/// Longest `kind`, in characters.
pub const MAX_KIND_CHARS: usize = 64;
/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushRequest {
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

enum Target {
    Users(Vec<UserId>),
    Topic(RoomId),
    Broadcast,
}

struct Push {
    target: Target,
    kind: String,
    data: Value,
}

impl PushRequest {
    fn parse(self) -> Result<Push, ApiError> {
        let target = match (self.users, self.topic, self.broadcast.filter(|b| *b)) {
            (Some(users), None, None) => Target::Users(parse_users(&users)?),
            (None, Some(topic), None) => Target::Topic(RoomId::parse("topic", &topic)?),
            (None, None, Some(_)) => Target::Broadcast,
            (None, None, None) => {
                return Err(ApiError::bad_request(
                    "no target: give exactly one of `users`, `topic` or `broadcast: true`",
                ));
            }
            _ => {
                return Err(ApiError::bad_request(
                    "more than one target: give exactly one of `users`, `topic` or `broadcast: true`",
                ));
            }
        };
        let chars = self.kind.chars().count();
        if !(1..=MAX_KIND_CHARS).contains(&chars) || self.kind.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
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
fn check_no_nul_in_data(data: &Value) -> Result<(), ApiError> {
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
            return Err(ApiError::bad_request(
                "`data` must not contain NUL (U+0000) characters in its strings or keys",
            ));
        }
    }
    Ok(())
}

/// Checked and de-duplicated (in order): naming a user twice notifies once.
fn parse_users(users: &[String]) -> Result<Vec<UserId>, ApiError> {
    if users.is_empty() || users.len() > MAX_USERS {
        return Err(ApiError::bad_request(format!(
            "`users` must hold 1 to {MAX_USERS} user ids"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut parsed = Vec::with_capacity(users.len());
    for user in users {
        let id = UserId::parse(user).map_err(|e| ApiError::bad_request(format!("`users`: {e}")))?;
        if seen.insert(id.clone()) {
            parsed.push(id);
        }
    }
    Ok(parsed)
}

/// The `Idempotency-Key` claim of this request, if it has the header.
fn idempotency_claim(
    headers: &HeaderMap,
    key: &KeyId,
    body: &[u8],
) -> Result<Option<IdempotencyClaim>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .ok()
        .filter(|v| {
            (1..=MAX_IDEMPOTENCY_KEY).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`Idempotency-Key` must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ))
        })?;
    let body_hash = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Some(IdempotencyClaim {
        scope_key: format!("{}:{value}", key.0),
        body_hash,
    }))
}

type Created = (StatusCode, Json<Value>);

/// The 201 of `response`. The first answer and every replay are built here
/// from the same stored record, so they are the same bytes.
fn created(response: PushResponse) -> Created {
    (
        StatusCode::CREATED,
        Json(json!({ "notifications": response.notifications, "online": response.online })),
    )
}

/// The first response again, or 409 when the key was used for another body.
fn replay(record: IdempotencyRecord, claim: &IdempotencyClaim) -> Result<Created, ApiError> {
    if record.body_hash != claim.body_hash {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            crate::namespaces::reply::ErrorCode::BadRequest,
            "this Idempotency-Key was already used within 24 hours for a different request body",
        ));
    }
    Ok(created(record.response))
}

/// The push, with `online` counted before the store write: the count is then
/// part of the response recorded with the `Idempotency-Key` in the push's own
/// transaction, and every retry answers exactly what the first request did.
pub async fn create<A: Adapter>(
    State(state): State<ApiState<A>>,
    Extension(key): Extension<KeyId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Created, ApiError> {
    let body = body?;
    let push = parse_json::<PushRequest>(&body)?.parse()?;
    let claim = idempotency_claim(&headers, &key, &body)?;
    let store = &state.store;

    match push.target {
        Target::Users(users) => {
            check_stored_size(&state, &push.kind, &push.data, users.len())?;
            let rooms: Vec<String> = users.iter().map(UserId::room).collect();
            let online = count(sockets_in(&state, Some(rooms)).await?);
            let new = users
                .into_iter()
                .map(|user| NewNotification {
                    user: user.as_str().to_owned(),
                    kind: push.kind.clone(),
                    data: push.data.clone(),
                })
                .collect();
            match store
                .push(new, claim.clone(), online)
                .await
                .map_err(|e| ApiError::store_write(&e))?
            {
                PushOutcome::Duplicate(record) => {
                    replay(record, claim.as_ref().expect("a duplicate has a claim"))
                }
                PushOutcome::Stored { response, .. } => Ok(created(response)),
            }
        }
        target @ (Target::Topic(_) | Target::Broadcast) => {
            let topic = match &target {
                Target::Topic(topic) => Some(topic),
                _ => None,
            };
            let online = count(sockets_in(&state, topic.map(|t| vec![topic_room_of(t)])).await?);
            let response = match &claim {
                // Record the key (with the whole response) before sending: a
                // concurrent retry then finds it and sends nothing.
                Some(claim) => match store
                    .push(Vec::new(), Some(claim.clone()), online)
                    .await
                    .map_err(|e| ApiError::store_write(&e))?
                {
                    PushOutcome::Duplicate(record) => return replay(record, claim),
                    PushOutcome::Stored { response, .. } => response,
                },
                None => PushResponse {
                    notifications: Value::Array(Vec::new()),
                    online,
                },
            };
            emit_live(&state, topic, &push.kind, &push.data).await?;
            Ok(created(response))
        }
    }
}

/// Refuses a user push that would store more than `--api-max-stored-bytes`:
/// each user gets its own copy of `kind` and `data`, so one request within
/// the body limit could otherwise store the body a thousand times over.
fn check_stored_size<A: Adapter>(
    state: &ApiState<A>,
    kind: &str,
    data: &Value,
    users: usize,
) -> Result<(), ApiError> {
    let payload = kind.len() + serialized_len(data);
    let total = (payload as u64).saturating_mul(users as u64);
    if total <= state.max_stored_bytes {
        return Ok(());
    }
    state.metrics.limit_hit("api_stored_bytes");
    Err(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        crate::namespaces::reply::ErrorCode::TooLarge,
        format!(
            "this push would store {total} bytes (`kind` and `data`, {payload} bytes, for each of              {users} users); the limit is {} bytes (--api-max-stored-bytes): send a smaller `data`              or fewer users per request",
            state.max_stored_bytes
        ),
    ))
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

/// A live-only push to a topic's sockets or every socket of the namespace.
async fn emit_live<A: Adapter>(
    state: &ApiState<A>,
    topic: Option<&RoomId>,
    kind: &str,
    data: &Value,
) -> Result<(), ApiError> {
    let Some(namespace) = state.io.of(NAMESPACE) else {
        return Err(ApiError::internal(
            &"the /notifications namespace is not registered",
        ));
    };
    let recipients = match topic {
        Some(topic) => namespace.within(topic_room_of(topic)),
        None => namespace,
    };
    let view = live_view(state.live_ids.next(), kind, data, topic.map(RoomId::as_str));
    let acks = recipients
        .emit_with_ack::<_, IgnoredAny>("notification", &view)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    state.metrics.event_out(NAMESPACE);
    // Live pushes keep no receipt, but the acks must be awaited (or time out)
    // so the sockets forget them.
    state.tasks.spawn(acks.for_each(|_| std::future::ready(())));
    Ok(())
}

/// Sockets of `/notifications` in any of `rooms` (all when `None`): this
/// node's on a single node, every node's through the adapter on a cluster
/// (this node's alone when the others cannot be asked). A user's sockets
/// join the user's room in the connect middleware that opens their live
/// subscription (the hub), so the user rooms count the sockets a push reaches.
async fn sockets_in<A: Adapter>(
    state: &ApiState<A>,
    rooms: Option<Vec<String>>,
) -> Result<usize, ApiError> {
    let Some(namespace) = state.io.of(NAMESPACE) else {
        return Err(ApiError::internal(
            &"the /notifications namespace is not registered",
        ));
    };
    let recipients = match rooms {
        Some(rooms) => namespace.within(rooms),
        None => namespace,
    };
    if !state.clustered {
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

pub async fn list<A: Adapter>(
    State(state): State<ApiState<A>>,
    Path(user): Path<String>,
    query: Result<Query<ListRequest>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let user = UserId::parse(&user).map_err(|e| ApiError::bad_request(format!("user id: {e}")))?;
    let query = query.parse()?;
    let (notifications, unread) = state
        .store
        .list(user.as_str(), query)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let views: Vec<NotificationView<'_>> =
        notifications.iter().map(NotificationView::from).collect();
    Ok(Json(json!({ "notifications": views, "unread": unread })))
}
