//! A notification as clients see it (PROTOCOL.md's Notification), for both
//! stored and live-only (topic, broadcast) pushes.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::{protocol::now_ms, store::StoredNotification};

/// `{"id", "user", "kind", "data", "topic"?, "ts", "read"}`, in that order.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationView<'a> {
    pub id: String,
    /// `None` (JSON `null`) for live-only pushes, which are not per user.
    pub user: Option<&'a str>,
    pub kind: &'a str,
    pub data: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<&'a str>,
    pub ts: i64,
    pub read: bool,
}

impl<'a> From<&'a StoredNotification> for NotificationView<'a> {
    fn from(n: &'a StoredNotification) -> Self {
        Self {
            id: n.id.to_string(),
            user: Some(&n.user),
            kind: &n.kind,
            data: &n.data,
            topic: None,
            ts: n.ts,
            read: n.read,
        }
    }
}

/// A page of a user's inbox and their unread count: the `/notifications`
/// `list` ack and the HTTP API's list answer.
#[derive(Debug, Serialize)]
pub struct InboxPage {
    #[serde(serialize_with = "as_views")]
    pub notifications: Vec<StoredNotification>,
    pub unread: i64,
}

fn as_views<S: Serializer>(list: &[StoredNotification], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(list.iter().map(NotificationView::from))
}

/// Ids of live-only pushes: `live:` and 16 digits, increasing within this
/// process and (starting from the clock) across restarts. Never valid as
/// `since`: they are not part of any user's stream.
pub struct LiveIds(AtomicU64);

impl Default for LiveIds {
    fn default() -> Self {
        let start = u64::try_from(now_ms()).unwrap_or(0).saturating_mul(1000);
        Self(AtomicU64::new(start))
    }
}

impl LiveIds {
    pub fn next(&self) -> String {
        format!("live:{:016}", self.0.fetch_add(1, Ordering::Relaxed))
    }
}

/// A live-only notification to a topic (`Some`) or to everyone (`None`).
pub fn live_view<'a>(
    id: String,
    kind: &'a str,
    data: &'a Value,
    topic: Option<&'a str>,
) -> NotificationView<'a> {
    NotificationView {
        id,
        user: None,
        kind,
        data,
        topic,
        ts: now_ms(),
        read: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StreamId;

    #[test]
    fn stored_notifications_serialize_in_contract_order() {
        let stored = StoredNotification {
            id: StreamId(42),
            user: "alice".into(),
            kind: "order.shipped".into(),
            data: serde_json::json!({"order": 7}),
            ts: 1_700_000_000_000,
            read: false,
        };
        assert_eq!(
            serde_json::to_string(&NotificationView::from(&stored)).unwrap(),
            r#"{"id":"0000000000000042","user":"alice","kind":"order.shipped","data":{"order":7},"ts":1700000000000,"read":false}"#
        );
    }

    #[test]
    fn live_ids_increase_and_are_not_stream_ids() {
        let ids = LiveIds::default();
        let (a, b) = (ids.next(), ids.next());
        assert!(a < b);
        assert!(a.starts_with("live:") && a.len() == 21);
        assert!(a.parse::<StreamId>().is_err());
        let data = Value::Null;
        let view = live_view(a, "news", &data, Some("sports"));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["user"], Value::Null);
        assert_eq!(json["topic"], "sports");
    }
}
