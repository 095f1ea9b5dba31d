//! The contract's rule for every event payload and connect payload of
//! `/chat`, `/notifications` and `/game`: a JSON object.

/// Implements `Deserialize` for client payloads that the contract describes
/// as an object: anything else (an array above all, which serde would
/// otherwise accept for a struct, field by field in order) is refused before
/// any field is read, so the event gets `bad_request`. Unknown fields stay
/// allowed.
///
/// Each payload struct derives `Deserialize` with `#[serde(remote = "Self")]`
/// (which makes the derived code an inherent `deserialize` function instead
/// of the trait impl) and is listed here with the shape the error names:
///
/// ```ignore
/// #[derive(Deserialize)]
/// #[serde(remote = "Self")]
/// pub struct JoinRequest { room: String, name: String }
///
/// object_payloads!(JoinRequest: "{room, name}");
/// ```
///
/// The fields are read from the payload's own map, so binary attachments and
/// the deserializer's own value types (a query string's text numbers) are
/// unchanged.
macro_rules! object_payloads {
    ($($payload:ty: $shape:literal),+ $(,)?) => {$(
        impl<'de> ::serde::Deserialize<'de> for $payload {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                struct Fields;

                impl<'de> ::serde::de::Visitor<'de> for Fields {
                    type Value = $payload;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter) -> ::std::fmt::Result {
                        f.write_str(concat!("an object ", $shape))
                    }

                    fn visit_map<M: ::serde::de::MapAccess<'de>>(
                        self,
                        map: M,
                    ) -> ::std::result::Result<$payload, M::Error> {
                        // The derived (remote = "Self") inherent function.
                        <$payload>::deserialize(::serde::de::value::MapAccessDeserializer::new(map))
                    }
                }

                deserializer.deserialize_map(Fields)
            }
        }
    )+};
}
pub(crate) use object_payloads;

/// A page size from a payload: `default` when absent, otherwise a whole
/// number from 1 to `max`, or `bad_request` naming the range.
pub fn page_limit(limit: Option<i64>, default: u32, max: u32) -> Result<u32, super::EventError> {
    let Some(n) = limit else {
        return Ok(default);
    };
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| super::EventError::bad_request(format!("`limit` must be 1 to {max}")))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(remote = "Self")]
    struct Pair {
        a: String,
        #[serde(default)]
        b: Option<u32>,
    }

    object_payloads!(Pair: "{a, b?}");

    #[test]
    fn object_payloads_take_objects_only() {
        let pair: Pair = serde_json::from_str(r#"{"b":2,"extra":[1],"a":"x"}"#).unwrap();
        assert_eq!(
            pair,
            Pair {
                a: "x".into(),
                b: Some(2)
            }
        );
        for bad in [r#"["x",2]"#, r#""x""#, "7", "null", "true", "[]"] {
            let err = serde_json::from_str::<Pair>(bad).unwrap_err().to_string();
            assert!(err.contains("expected an object {a, b?}"), "{bad}: {err}");
        }
        // Through `Option` (an event sent without a payload), too.
        assert_eq!(serde_json::from_str::<Option<Pair>>("null").unwrap(), None);
        assert!(serde_json::from_str::<Option<Pair>>(r#"["x"]"#).is_err());
        // Field errors are still the fields' own.
        let err = serde_json::from_str::<Pair>(r#"{"a":1}"#).unwrap_err();
        assert!(err.to_string().contains("invalid type: integer"), "{err}");
    }
}
