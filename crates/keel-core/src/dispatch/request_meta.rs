//! A request's params, read in one pass with its `_meta` object apart: the members every
//! modern request carries get fixed slots instead of map entries with long keys.

use std::{borrow::Cow, fmt};

use keel_protocol::meta;
use serde::{
    Deserialize, Deserializer,
    de::{MapAccess, SeqAccess, Visitor},
};
use serde_json::{Map, Value};

/// A request's `_meta` object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestMeta {
    protocol_version: Option<Value>,
    client_capabilities: Option<Value>,
    other: Map<String, Value>,
}

impl RequestMeta {
    /// The member named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match key {
            meta::PROTOCOL_VERSION => self.protocol_version.as_ref(),
            meta::CLIENT_CAPABILITIES => self.client_capabilities.as_ref(),
            _ => self.other.get(key),
        }
    }

    /// Whether the object has a member named `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn insert(&mut self, key: Cow<'_, str>, value: Value) {
        match key.as_ref() {
            meta::PROTOCOL_VERSION => self.protocol_version = Some(value),
            meta::CLIENT_CAPABILITIES => self.client_capabilities = Some(value),
            _ => {
                self.other.insert(key.into_owned(), value);
            }
        }
    }

    /// Splits a parsed `_meta` object the same way.
    pub(crate) fn from_map(map: Map<String, Value>) -> Self {
        let mut meta = Self::default();
        for (k, v) in map {
            meta.insert(Cow::Owned(k), v);
        }
        meta
    }
}

/// Params as the dispatcher keeps them: every member but an object `_meta` in `map`.
#[derive(Default)]
pub(crate) struct Params {
    pub(crate) map: Map<String, Value>,
    pub(crate) meta: Option<RequestMeta>,
}

impl Params {
    /// Takes an object `_meta` out of already parsed params; any other `_meta` stays put, as
    /// it is no metadata a request can use.
    pub(crate) fn split(mut map: Map<String, Value>) -> Self {
        let meta = match map.remove("_meta") {
            Some(Value::Object(m)) => Some(RequestMeta::from_map(m)),
            Some(other) => {
                map.insert("_meta".into(), other);
                None
            }
            None => None,
        };
        Self { map, meta }
    }
}

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ParamsVisitor;
        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = Params;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Params, A::Error> {
                let mut params = Params::default();
                while let Some(Key(key)) = access.next_key()? {
                    if key == "_meta" {
                        match access.next_value::<MetaOrValue>()? {
                            MetaOrValue::Meta(m) => {
                                params.map.remove("_meta");
                                params.meta = Some(m);
                            }
                            MetaOrValue::Value(v) => {
                                params.meta = None;
                                params.map.insert(key.into_owned(), v);
                            }
                        }
                    } else {
                        let value = access.next_value()?;
                        params.map.insert(key.into_owned(), value);
                    }
                }
                Ok(params)
            }
        }
        d.deserialize_map(ParamsVisitor)
    }
}

/// An object key, borrowed from the input when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// `_meta` as an object to split, or any other JSON value kept as it is.
enum MetaOrValue {
    Meta(RequestMeta),
    Value(Value),
}

impl<'de> Deserialize<'de> for MetaOrValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MetaVisitor;
        impl<'de> Visitor<'de> for MetaVisitor {
            type Value = MetaOrValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<MetaOrValue, A::Error> {
                let mut meta = RequestMeta::default();
                while let Some(Key(key)) = access.next_key()? {
                    let value = access.next_value()?;
                    meta.insert(key, value);
                }
                Ok(MetaOrValue::Meta(meta))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<MetaOrValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = access.next_element()? {
                    items.push(item);
                }
                Ok(MetaOrValue::Value(Value::Array(items)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<MetaOrValue, E> {
                Ok(MetaOrValue::Value(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<MetaOrValue, E> {
                Ok(MetaOrValue::Value(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<MetaOrValue, E> {
                Ok(MetaOrValue::Value(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<MetaOrValue, E> {
                Ok(MetaOrValue::Value(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<MetaOrValue, E> {
                Ok(MetaOrValue::Value(Value::from(v)))
            }
            fn visit_string<E>(self, v: String) -> Result<MetaOrValue, E> {
                Ok(MetaOrValue::Value(Value::String(v)))
            }
            fn visit_unit<E>(self) -> Result<MetaOrValue, E> {
                Ok(MetaOrValue::Value(Value::Null))
            }
        }
        d.deserialize_any(MetaVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both_ways(params: &str) -> (Params, Params) {
        let one_pass: Params = serde_json::from_str(params).unwrap();
        let parsed: Map<String, Value> = serde_json::from_str(params).unwrap();
        (one_pass, Params::split(parsed))
    }

    #[test]
    fn meta_members_read_the_same_one_pass_or_split() {
        for params in [
            r#"{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"progressToken":7}}"#,
            r#"{"_meta":{"io.modelcontextprotocol\/protocolVersion":"x","a":[1,2.5,null,true,"s"]}}"#,
            r#"{"_meta":{"progressToken":"p","progressToken":"q"},"x":1}"#,
            r#"{"_meta":{},"_meta":{"k":1}}"#,
        ] {
            let (one, split) = both_ways(params);
            assert_eq!(one.map, split.map, "{params}");
            assert_eq!(one.meta, split.meta, "{params}");
            assert!(one.meta.is_some());
        }
        let (one, _) = both_ways(
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"v","progressToken":"p"}}"#,
        );
        let meta = one.meta.unwrap();
        assert_eq!(meta.get(meta::PROTOCOL_VERSION), Some(&Value::from("v")));
        assert_eq!(meta.get("progressToken"), Some(&Value::from("p")));
        assert!(!meta.contains_key(meta::CLIENT_CAPABILITIES));
    }

    #[test]
    fn a_meta_that_is_no_object_stays_in_the_params() {
        for params in [
            r#"{"_meta":"text"}"#,
            r#"{"_meta":[1,{"a":-2}]}"#,
            r#"{"_meta":null}"#,
            r#"{"_meta":-1.5e3}"#,
            r#"{"_meta":{"a":1},"_meta":false}"#,
            r#"{"_meta":18446744073709551615}"#,
        ] {
            let (one, split) = both_ways(params);
            assert_eq!(one.map, split.map, "{params}");
            assert!(one.meta.is_none() && split.meta.is_none(), "{params}");
            assert!(one.map.contains_key("_meta"));
        }
    }
}
