//! A page of a user's inbox: `list`'s payload on `/notifications` and the
//! query string of `GET /api/v1/users/{user}/notifications`, one type for both.

use serde::Deserialize;

use crate::protocol::bounds::{DEFAULT_LIST, MAX_LIST};
use crate::{
    protocol::{
        EventError, StreamId,
        payload::{object_payloads, page_limit},
    },
    store::notifications::ListQuery,
};

object_payloads!(ListRequest: "{unread_only?, before?, limit?}");

/// A stored notification's id in a field, or `bad_request`.
pub fn parse_id(field: &str, value: &str) -> Result<StreamId, EventError> {
    value.parse().map_err(|()| {
        EventError::bad_request(format!(
            "`{field}` must be a notification id (up to 16 digits, as the server sent it)"
        ))
    })
}

/// `list {unread_only?, before?, limit?}`; the HTTP API's query string too.
#[derive(Deserialize, Default)]
#[serde(remote = "Self")]
pub struct ListRequest {
    pub unread_only: Option<bool>,
    pub before: Option<String>,
    pub limit: Option<i64>,
}

impl ListRequest {
    pub fn parse(self) -> Result<ListQuery, EventError> {
        let limit = page_limit(self.limit, DEFAULT_LIST, MAX_LIST)?;
        Ok(ListQuery {
            unread_only: self.unread_only.unwrap_or(false),
            before: self
                .before
                .as_deref()
                .map(|b| parse_id("before", b))
                .transpose()?,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn list_limits_are_checked() {
        let parse = |v: Value| serde_json::from_value::<ListRequest>(v).unwrap().parse();
        assert_eq!(parse(json!({})).unwrap().limit, DEFAULT_LIST);
        assert_eq!(
            parse(json!({"limit": 100, "before": "12"})).unwrap().before,
            Some(StreamId(12))
        );
        for bad in [
            json!({"limit": 0}),
            json!({"limit": 101}),
            json!({"limit": -1}),
            json!({"before": "abc"}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }
}
