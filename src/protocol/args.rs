//! [`Args`]: the arguments of one Socket.IO event, however many there are and
//! whatever they hold, binary attachments included.
//!
//! socketioxide hands a handler either the first argument (`Data<T>`) or a
//! fixed tuple (`Data<(A, B)>`). The echo contract needs "any number of
//! arguments, binary included, returned exactly as sent", so `Args` asks the
//! parser for a tuple of unknown length and keeps each argument as an
//! [`rmpv::Value`]: unlike `serde_json::Value` it has a binary variant (which
//! the parser fills from the attachments and serializes back as attachments)
//! and it keeps object keys in the order they arrived. Arguments that still
//! hold a binary placeholder (more placeholders than attachments) are refused.

use std::fmt;

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{Error as _, SeqAccess, Visitor},
    ser::SerializeTuple,
};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Args(pub Vec<rmpv::Value>);

impl Args {
    /// One argument: `data` as a value (a typed event recorded for
    /// connection state recovery, sent later with its offset appended). By
    /// way of JSON: rmpv's own serializer writes a struct as an array.
    pub fn from_value<T: Serialize + ?Sized>(data: &T) -> Result<Self, String> {
        let json = serde_json::to_value(data).map_err(|e| e.to_string())?;
        let value = rmpv::ext::to_value(json).map_err(|e| e.to_string())?;
        Ok(Self(vec![value]))
    }
}

impl Serialize for Args {
    /// As a tuple: socketioxide spreads a tuple into separate event arguments.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for value in &self.0 {
            tuple.serialize_element(value)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Args {
    /// As a tuple of any length: socketioxide then passes every argument after
    /// the event name, instead of only the first.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;

        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence of event arguments")
            }

            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Args, S::Error> {
                let mut args = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(value) = seq.next_element()? {
                    if holds_placeholder(&value) {
                        return Err(S::Error::custom(format!(
                            "argument {} holds a binary placeholder without its attachment",
                            args.len() + 1
                        )));
                    }
                    args.push(value);
                }
                Ok(Args(args))
            }
        }

        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

/// Whether `value` still holds a binary placeholder (`{"_placeholder": true,
/// ...}`) after the parser put the packet's attachments in place: one that
/// points past the attachments the packet brought. Sent back, it would point
/// at nothing, and the reference client refuses such a packet ("illegal
/// attachments") and drops its connection.
fn holds_placeholder(value: &rmpv::Value) -> bool {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            rmpv::Value::Array(items) => pending.extend(items),
            rmpv::Value::Map(entries) => {
                if entries
                    .iter()
                    .any(|(k, v)| k.as_str() == Some("_placeholder") && v.as_bool() == Some(true))
                {
                    return true;
                }
                pending.extend(entries.iter().map(|(_, v)| v));
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_tuple_for_socketioxide_in_both_directions() {
        assert!(socketioxide_core::parser::is_de_tuple::<Args>());
        assert!(socketioxide_core::parser::is_ser_tuple(&Args(vec![])));
    }

    #[test]
    fn refuses_placeholders_left_without_an_attachment() {
        for json in [
            r#"[{"_placeholder":true,"num":0}]"#,
            r#"[1,{"a":[{"num":5,"_placeholder":true}]}]"#,
        ] {
            let err = serde_json::from_str::<Args>(json).unwrap_err();
            assert!(err.to_string().contains("placeholder"), "{json}: {err}");
        }
        // Only `_placeholder: true` marks one.
        let json = r#"[{"_placeholder":false,"num":0},{"placeholder":true}]"#;
        assert_eq!(serde_json::from_str::<Args>(json).unwrap().0.len(), 2);
    }

    #[test]
    fn keeps_key_order_and_types_through_json() {
        let json = r#"[1,"2",{"z":[true],"a":null},1.5,-7]"#;
        let args: Args = serde_json::from_str(json).unwrap();
        assert_eq!(args.0.len(), 5);
        assert_eq!(serde_json::to_string(&args).unwrap(), json);
    }
}

#[cfg(test)]
mod from_value_tests {
    use super::Args;

    #[derive(serde::Serialize)]
    struct Message {
        text: &'static str,
        n: u32,
    }

    #[test]
    fn a_struct_becomes_one_object_argument_in_field_order() {
        let args = Args::from_value(&Message { text: "hi", n: 2 }).unwrap();
        assert_eq!(
            serde_json::to_string(&args).unwrap(),
            r#"[{"text":"hi","n":2}]"#
        );
    }
}
