//! JSON objects as their members in order, the values left unparsed (borrowed from the input):
//! one scan reads an object, and writing members back copies them verbatim. Pure.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The members of one JSON object.
#[derive(Debug, Default)]
pub struct Members<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    /// The members of the object `text` (an error when it is not one).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The value of `key` (the first, should the object repeat it).
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The object of the members `keep` accepts, written as JSON; `None` when none is kept.
    pub fn write<'s>(
        &self,
        mut keep: impl FnMut(&str) -> Option<Option<&'s str>>,
    ) -> Result<Option<String>, serde_json::Error> {
        let mut out = Vec::new();
        for (key, value) in &self.0 {
            // `Some(None)`: keep the value as it is; `Some(Some(text))`: put `text` in its place.
            let Some(replaced) = keep(key) else { continue };
            out.push(b',');
            serde_json::to_writer(&mut out, key.as_ref())?;
            out.push(b':');
            out.extend_from_slice(replaced.unwrap_or(value.get()).as_bytes());
        }
        let Some(first) = out.first_mut() else {
            return Ok(None);
        };
        *first = b'{';
        out.push(b'}');
        // Keys were written by serde_json, values copied from valid UTF-8 text.
        Ok(String::from_utf8(out).ok())
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn members_keep_their_order_and_text() {
        let m = Members::parse(r#"{"b": [1, 2], "a\"x": {"k":1}, "c": null}"#).unwrap();
        assert_eq!(m.get("b").unwrap().get(), "[1, 2]");
        assert_eq!(m.get("a\"x").unwrap().get(), r#"{"k":1}"#);
        let out = m
            .write(|k| match k {
                "c" => None,
                "b" => Some(Some("3")),
                _ => Some(None),
            })
            .unwrap()
            .unwrap();
        assert_eq!(out, r#"{"b":3,"a\"x":{"k":1}}"#);
        assert_eq!(m.write(|_| None).unwrap(), None);
        assert!(Members::parse("[1]").is_err());
    }
}
