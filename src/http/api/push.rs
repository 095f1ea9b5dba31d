//! `POST /api/v1/notifications` and `GET /api/v1/users/{user}/notifications`:
//! thin shells around the notifications feature ([`PushService`],
//! [`idempotency`], the store's list).

use axum::{
    Extension, Json,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode},
};
use socketioxide::adapter::Adapter;

use super::{
    ApiState,
    error::{ApiError, parse_json},
};
use crate::{
    notifications::{
        InboxPage, ListRequest,
        credentials::KeyId,
        idempotency,
        service::{PushError, PushRequest, PushService, Receipt},
    },
    protocol::{ErrorCode, UserId},
};

type Created = (StatusCode, Json<Receipt>);

/// The 201 of `receipt`. The first answer and every replay are built here
/// from the same stored record, so they are the same bytes.
fn created(receipt: Receipt) -> Created {
    (StatusCode::CREATED, Json(receipt))
}

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::Refused(e) => e.into(),
            PushError::KeyReused => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::BadRequest,
                "this Idempotency-Key was already used within 24 hours for a different request body",
            ),
            PushError::Store(e) => ApiError::store_write(&e),
            PushError::Internal(e) => ApiError::internal(&e),
        }
    }
}

/// The push: parse the body and the `Idempotency-Key`, then one call.
pub async fn create<A: Adapter>(
    State(state): State<ApiState<A>>,
    Extension(key): Extension<KeyId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Created, ApiError> {
    let body = body?;
    let push = parse_json::<PushRequest>(&body)?.parse()?;
    let header = headers.get("idempotency-key").map(|v| v.as_bytes());
    let claim = idempotency::claim(header, &key, &body)?;
    let service: &PushService<A> = &state.push;
    Ok(created(service.push(push, claim).await?))
}

pub async fn list<A: Adapter>(
    State(state): State<ApiState<A>>,
    Path(user): Path<String>,
    query: Result<Query<ListRequest>, QueryRejection>,
) -> Result<Json<InboxPage>, ApiError> {
    let Query(query) = query?;
    let user = UserId::parse(&user).map_err(|e| ApiError::bad_request(format!("user id: {e}")))?;
    let query = query.parse()?;
    let (notifications, unread) = state
        .push
        .store
        .list(user.as_str(), query)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(InboxPage {
        notifications,
        unread,
    }))
}
