//! `Idempotency-Key` on `POST /api/v1/notifications` (PROTOCOL.md): the
//! header's parsing, the request body's hash, the claim the store records in
//! the push's own transaction, the replay of the first response, and the
//! hourly purge of expired keys.
//!
//! The store does the claiming (in the push's transaction, so a retry that
//! races the first request finds the key and writes nothing); what it
//! records is the whole first response, so every replay answers the same
//! bytes.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::credentials::KeyId;
use crate::{
    protocol::EventError,
    store::{
        NotificationStore,
        notifications::{IdempotencyClaim, IdempotencyRecord, PushResponse},
    },
};

pub use crate::store::notifications::IDEMPOTENCY_WINDOW_MS;

/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// How often expired keys are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// The claim of a request with the header value `header` (`None`: no
/// header), made by API key `key` for `body`: the key is scoped to the API
/// key, and the body's SHA-256 tells a retry from another request.
pub fn claim(
    header: Option<&[u8]>,
    key: &KeyId,
    body: &[u8],
) -> Result<Option<IdempotencyClaim>, EventError> {
    let Some(value) = header else {
        return Ok(None);
    };
    let value = std::str::from_utf8(value)
        .ok()
        .filter(|v| {
            (1..=MAX_IDEMPOTENCY_KEY).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            EventError::bad_request(format!(
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

/// The key was used within the window for another request body (409).
#[derive(Debug)]
pub struct KeyReused;

/// The first response again, or [`KeyReused`] when the key was used for
/// another body.
pub fn replay(
    record: IdempotencyRecord,
    claim: &IdempotencyClaim,
) -> Result<PushResponse, KeyReused> {
    if record.body_hash != claim.body_hash {
        return Err(KeyReused);
    }
    Ok(record.response)
}

/// Deletes expired `Idempotency-Key` records once an hour, until `stopping`.
pub async fn purge_hourly(store: NotificationStore, stopping: impl Future<Output = ()>) {
    let mut stopping = std::pin::pin!(stopping);
    let mut hourly = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            () = &mut stopping => return,
            _ = hourly.tick() => {}
        }
        match store.purge_idempotency_keys().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired idempotency keys deleted"),
            Err(e) => tracing::warn!(error = %e, "idempotency key purge failed"),
        }
    }
}
