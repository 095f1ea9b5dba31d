//! What clients send to `/notifications`, parsed into typed, checked values
//! at the boundary (`list`'s payload, shared with the HTTP API, is
//! [`ListRequest`](crate::notifications::ListRequest)). Each `parse` returns the
//! first problem as `bad_request`, naming the field.

use serde::Deserialize;
use serde_json::Value;

use crate::protocol::bounds::{MAX_READ_IDS, MAX_TOPICS_PER_REQUEST};
use crate::{
    notifications::list::parse_id,
    protocol::{EventError, RoomId, StreamId, payload::object_payloads},
    store::notifications::ReadTarget,
};

object_payloads!(
    ConnectAuth: "{token, since?}",
    ReadRequest: "{ids} or {all: true}",
    TopicsRequest: "{topics}",
);

/// The connect payload: `{token, since?}`. One that is not an object is as
/// good as none: `unauthorized`.
#[derive(Deserialize, Default)]
#[serde(remote = "Self")]
pub struct ConnectAuth {
    pub token: Option<Value>,
    pub since: Option<Value>,
}

/// `since` from the connect payload: absent or `null`, or an id.
pub fn parse_since(since: Option<&Value>) -> Result<Option<StreamId>, EventError> {
    match since {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => parse_id("since", id).map(Some),
        Some(_) => Err(EventError::bad_request(
            "`since` must be a notification id string",
        )),
    }
}

/// `read {ids: [id]}` or `read {all: true}`.
#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct ReadRequest {
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    all: Option<bool>,
}

impl ReadRequest {
    pub fn parse(self) -> Result<ReadTarget, EventError> {
        match (self.ids, self.all) {
            (Some(ids), None) => {
                if ids.is_empty() || ids.len() > MAX_READ_IDS {
                    return Err(EventError::bad_request(format!(
                        "`ids` must hold 1 to {MAX_READ_IDS} ids"
                    )));
                }
                let ids = ids
                    .iter()
                    .map(|id| parse_id("ids", id))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ReadTarget::Ids(ids))
            }
            (None, Some(true)) => Ok(ReadTarget::All),
            (None, Some(false)) => Err(EventError::bad_request("`all` must be true when given")),
            (Some(_), Some(_)) => Err(EventError::bad_request(
                "give either `ids` or `all`, not both",
            )),
            (None, None) => Err(EventError::bad_request(
                "give `ids: [id, ...]` or `all: true`",
            )),
        }
    }
}

/// `subscribe {topics}` / `unsubscribe {topics}`.
#[derive(Deserialize)]
#[serde(remote = "Self")]
pub struct TopicsRequest {
    topics: Vec<String>,
}

impl TopicsRequest {
    pub fn parse(self) -> Result<Vec<RoomId>, EventError> {
        if self.topics.is_empty() || self.topics.len() > MAX_TOPICS_PER_REQUEST {
            return Err(EventError::bad_request(format!(
                "`topics` must hold 1 to {MAX_TOPICS_PER_REQUEST} topics"
            )));
        }
        self.topics
            .iter()
            .map(|t| RoomId::parse("topics", t))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value) -> Result<ReadTarget, EventError> {
        serde_json::from_value::<ReadRequest>(value)
            .unwrap()
            .parse()
    }

    #[test]
    fn read_takes_ids_or_all_but_not_both() {
        assert!(matches!(read(json!({"all": true})), Ok(ReadTarget::All)));
        assert!(
            matches!(read(json!({"ids": ["0000000000000001", "7"]})), Ok(ReadTarget::Ids(ids)) if ids == vec![StreamId(1), StreamId(7)])
        );
        for bad in [
            json!({}),
            json!({"all": false}),
            json!({"ids": []}),
            json!({"ids": ["x"]}),
            json!({"ids": ["1"], "all": true}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn since_is_an_id_or_nothing() {
        assert_eq!(parse_since(None).unwrap(), None);
        assert_eq!(parse_since(Some(&Value::Null)).unwrap(), None);
        assert_eq!(
            parse_since(Some(&json!("0000000000000003"))).unwrap(),
            Some(StreamId(3))
        );
        assert!(parse_since(Some(&json!(3))).is_err());
        assert!(parse_since(Some(&json!("live:0000000000000003"))).is_err());
        assert!(parse_since(Some(&json!(""))).is_err());
    }
}
