//! The keys of a JWKS URL: fetched with a timeout, bounded in size and key
//! count, cached, and refreshed on demand but never more often than a minimum
//! interval, one fetch at a time.
//!
//! Why this shape: an identity provider rotates its keys by publishing a new
//! `kid` before signing with it, so a token naming an unknown `kid` is the
//! signal to refetch; but anyone can send such tokens, so the refetch rate is
//! bounded (`--jwks-min-refresh-interval`), and concurrent verifications wait
//! for the one fetch in flight instead of each starting their own. A failed
//! fetch keeps the keys already known (an outage at the provider does not sign
//! everyone out) and is retried on demand after the same interval.

use std::{
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, Uri, body::Bytes};
use jsonwebtoken::jwk::Jwk;

use super::keys::VerifyingKey;
use crate::http_client::{self, OutboundClient};

/// Most bytes of a JWKS response.
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// Most keys in a JWKS; a larger set is refused whole.
pub const MAX_JWKS_KEYS: usize = 100;

/// How a JWKS is fetched and kept.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    pub url: Uri,
    pub timeout: Duration,
    /// No two fetches start closer together than this.
    pub min_refresh_interval: Duration,
    /// Keys older than this are refetched in the background on the next use.
    pub refresh: Duration,
}

/// The keys of one JWKS URL. Cheap to share (`Arc`).
pub struct Jwks {
    settings: JwksSettings,
    client: OutboundClient<Empty<Bytes>>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Held for the whole of a fetch: the single flight. Holds when the last
    /// fetch started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    /// A periodic refresh task is running: no second one is spawned.
    background: AtomicBool,
}

/// The keys as of one fetch.
#[derive(Default)]
pub struct Snapshot {
    pub keys: Vec<VerifyingKey>,
    /// Bumped by every successful fetch.
    pub generation: u64,
    fetched_at: Option<Instant>,
}

impl Jwks {
    /// The HTTP client (rustls on the `ring` provider, the system's trust
    /// roots); nothing is fetched yet.
    pub fn new(settings: JwksSettings) -> anyhow::Result<Self> {
        let client = http_client::build("--jwks-url")?;
        Ok(Self {
            settings,
            client,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            fetching: tokio::sync::Mutex::new(None),
            background: AtomicBool::new(false),
        })
    }

    /// The periodic refresh: when the keys are older than `--jwks-refresh`,
    /// one background task refetches them (within the same interval and
    /// single-flight rules); the caller goes on with the keys at hand.
    pub fn refresh_if_stale(self: &Arc<Self>) {
        let snapshot = self.snapshot();
        let stale = snapshot
            .fetched_at
            .is_some_and(|at| at.elapsed() >= self.settings.refresh);
        if !stale
            || self
                .background
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let jwks = self.clone();
        tokio::spawn(async move {
            jwks.refresh(snapshot.generation).await;
            jwks.background.store(false, Ordering::Release);
        });
    }

    pub fn url(&self) -> &Uri {
        &self.settings.url
    }

    /// The keys known now (maybe none yet).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("not poisoned").clone()
    }

    /// Fetches the set again unless a fetch started less than the minimum
    /// interval ago. `seen` is the generation the caller looked at: when a
    /// newer one arrived meanwhile (say, while waiting for the fetch in
    /// flight), nothing is fetched. True when there are keys newer than
    /// `seen`.
    pub async fn refresh(&self, seen: u64) -> bool {
        let mut last_attempt = self.fetching.lock().await;
        if self.snapshot().generation != seen {
            return true;
        }
        if last_attempt.is_some_and(|at| at.elapsed() < self.settings.min_refresh_interval) {
            return false;
        }
        *last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(url = %self.settings.url, keys = keys.len(), "fetched the JWKS");
                let mut snapshot = self.snapshot.write().expect("not poisoned");
                *snapshot = Arc::new(Snapshot {
                    keys,
                    generation: seen + 1,
                    fetched_at: Some(Instant::now()),
                });
                true
            }
            Err(e) => {
                tracing::warn!(
                    url = %self.settings.url,
                    "cannot fetch the JWKS: {e}; keeping the keys known so far, retrying on demand"
                );
                false
            }
        }
    }

    /// One GET, the whole of it (connect, headers, body) within the timeout.
    /// Redirects are not followed.
    async fn fetch(&self) -> Result<Vec<VerifyingKey>, String> {
        tokio::time::timeout(self.settings.timeout, self.fetch_body())
            .await
            .map_err(|_| format!("no answer within {:?}", self.settings.timeout))
            .and_then(|body| body)
            .and_then(|body| parse_key_set(&body))
    }

    async fn fetch_body(&self) -> Result<Bytes, String> {
        let request = Request::get(self.settings.url.clone())
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| format!("bad request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {}", http_client::causes(&e)))?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map(|body| body.to_bytes())
            .map_err(|e| format!("reading the response (at most {MAX_JWKS_BYTES} bytes): {e}"))
    }
}

/// The usable keys of a JWKS document. Entries jsonwebtoken cannot read, or
/// that are not signing keys, are skipped (logged at debug); a document that
/// is not a key set, or has more than [`MAX_JWKS_KEYS`] entries, is refused.
pub fn parse_key_set(body: &[u8]) -> Result<Vec<VerifyingKey>, String> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(body).map_err(|e| format!("not a JWK set: {e}"))?;
    if document.keys.len() > MAX_JWKS_KEYS {
        return Err(format!(
            "{} keys, more than {MAX_JWKS_KEYS}",
            document.keys.len()
        ));
    }
    let mut keys = Vec::new();
    for (index, value) in document.keys.into_iter().enumerate() {
        let key = serde_json::from_value::<Jwk>(value)
            .map_err(|e| e.to_string())
            .and_then(|jwk| VerifyingKey::from_jwk(&jwk));
        match key {
            Ok(key) => keys.push(key),
            Err(why) => tracing::debug!(index, "skipped a JWKS entry: {why}"),
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sets_are_bounded_and_bad_entries_skipped() {
        let ed = serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "e",
            "x": "0Ts3PZR8_Fw3nnejyzDfx-NtpyQWy0k_YAe6CV9Xqik"
        });
        let set = serde_json::json!({"keys": [ed, {"kty": "oct", "k": "AA"}, {"kty": "weird"}]});
        let keys = parse_key_set(set.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);

        let many = serde_json::json!({"keys": vec![ed; MAX_JWKS_KEYS + 1]});
        assert!(parse_key_set(many.to_string().as_bytes()).is_err());
        assert!(parse_key_set(b"[]").is_err());
        assert!(parse_key_set(b"not json").is_err());
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_url_is_a_failed_refresh_not_an_error() {
        for url in [
            "https://127.0.0.1:1/jwks.json",
            "http://127.0.0.1:1/jwks.json",
        ] {
            let jwks = Jwks::new(JwksSettings {
                url: url.parse().unwrap(),
                timeout: Duration::from_secs(2),
                min_refresh_interval: Duration::from_secs(60),
                refresh: Duration::from_secs(600),
            })
            .unwrap();
            assert!(!jwks.refresh(0).await, "{url}");
            assert_eq!(jwks.snapshot().generation, 0);
            // Within the interval nothing is tried again.
            assert!(!jwks.refresh(0).await);
        }
    }
}
