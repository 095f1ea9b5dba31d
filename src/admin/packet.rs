//! An event packet as the Admin UI shows it: its arguments, the event name
//! first, binary attachments in place (the UI gets them as binary, as the
//! reference sends them).
//!
//! socketioxide hands the tap an event as its parser holds it: for the
//! common parser, the packet's JSON array (a sent packet: its whole
//! encoding, `2/chat,["event",...]`, the array after the header) and its
//! attachments. JSON placeholders (`{"_placeholder":true,"num":N}`) become
//! the attachment they point to.

use socketioxide::handler::Value;

/// The size of an event as it goes over the wire: its text and its
/// attachments.
pub fn size(value: &Value) -> usize {
    match value {
        Value::Str(text, attachments) => {
            text.len() + attachments.iter().flatten().map(|a| a.len()).sum::<usize>()
        }
        Value::Bytes(bytes) => bytes.len(),
    }
}

/// Whether an encoded packet is an event (EVENT `2` or BINARY_EVENT `5`),
/// not an ack, a CONNECT or a DISCONNECT.
pub fn is_event(encoded: &Value) -> bool {
    match encoded {
        Value::Str(text, _) => matches!(text.as_bytes().first(), Some(b'2' | b'5')),
        Value::Bytes(_) => false,
    }
}

/// The event's arguments, its name first; `None` when it is not a JSON
/// array (the msgpack parser's binary form, which the server does not use).
pub fn args(value: &Value) -> Option<Vec<rmpv::Value>> {
    let Value::Str(text, attachments) = value else {
        return None;
    };
    let text = text.as_str();
    let json = &text[text.find('[')?..];
    let parsed: serde_json::Value = serde_json::from_str(json).ok()?;
    let serde_json::Value::Array(items) = parsed else {
        return None;
    };
    let attachments: Vec<&[u8]> = attachments.iter().flatten().map(|a| a.as_ref()).collect();
    Some(
        items
            .into_iter()
            .map(|item| to_rmpv(item, &attachments))
            .collect(),
    )
}

/// A JSON value as rmpv, placeholders replaced by their attachment.
fn to_rmpv(value: serde_json::Value, attachments: &[&[u8]]) -> rmpv::Value {
    use serde_json::Value as J;
    match value {
        J::Null => rmpv::Value::Nil,
        J::Bool(b) => rmpv::Value::Boolean(b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                rmpv::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                rmpv::Value::from(u)
            } else {
                rmpv::Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        J::String(s) => rmpv::Value::from(s),
        J::Array(items) => {
            rmpv::Value::Array(items.into_iter().map(|i| to_rmpv(i, attachments)).collect())
        }
        J::Object(map) => {
            if map.get("_placeholder") == Some(&J::Bool(true))
                && let Some(num) = map.get("num").and_then(J::as_u64)
                && let Some(bytes) = usize::try_from(num).ok().and_then(|n| attachments.get(n))
            {
                return rmpv::Value::Binary(bytes.to_vec());
            }
            rmpv::Value::Map(
                map.into_iter()
                    .map(|(k, v)| (rmpv::Value::from(k), to_rmpv(v, attachments)))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use bytes::Bytes;
    use socketioxide_core::Str;

    use super::*;

    #[test]
    fn received_and_sent_forms_give_the_same_arguments() {
        let received = Value::Str(Str::from(r#"["message",{"text":"hi"},2]"#), None);
        let sent = Value::Str(Str::from(r#"2/chat,17["message",{"text":"hi"},2]"#), None);
        let expected = vec![
            rmpv::Value::from("message"),
            rmpv::Value::Map(vec![(rmpv::Value::from("text"), rmpv::Value::from("hi"))]),
            rmpv::Value::from(2),
        ];
        assert_eq!(args(&received), Some(expected.clone()));
        assert_eq!(args(&sent), Some(expected));
        assert!(is_event(&sent));
        assert!(!is_event(&Value::Str(
            Str::from(r#"3/chat,17[{"ok":true}]"#),
            None
        )));
    }

    #[test]
    fn placeholders_become_their_attachments() {
        let bins = VecDeque::from([Bytes::from_static(&[1, 2, 3])]);
        let value = Value::Str(
            Str::from(
                r#"51-/echo,["bin",{"_placeholder":true,"num":0},{"_placeholder":true,"num":5}]"#,
            ),
            Some(bins),
        );
        let got = args(&value).unwrap();
        assert_eq!(got[1], rmpv::Value::Binary(vec![1, 2, 3]));
        // One that points past the attachments stays as it is.
        assert!(matches!(got[2], rmpv::Value::Map(_)));
        assert_eq!(size(&value), value_len(&value));
    }

    fn value_len(value: &Value) -> usize {
        match value {
            Value::Str(text, bins) => {
                text.len() + bins.as_ref().map_or(0, |b| b.iter().map(Bytes::len).sum())
            }
            Value::Bytes(b) => b.len(),
        }
    }
}
