//! JSON read with object keys in the order sent (`serde_json::Value` sorts them), for tests
//! that check field order.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Scalar(serde_json::Value),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Scalar(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Scalar(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Scalar(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(Json::Scalar(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::Scalar(v.into()))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::Scalar(v.into()))
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Scalar(serde_json::Value::Null))
            }
            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Scalar(serde_json::Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = a.next_element()? {
                    out.push(v);
                }
                Ok(Json::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry()? {
                    out.push((k, v));
                }
                Ok(Json::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The key orders of the objects at every path (list indices written `[*]`): each distinct
/// order once (objects at one path usually share one; a trust-or-board parent has two).
pub fn key_orders(text: &str) -> BTreeMap<String, BTreeSet<Vec<String>>> {
    let mut out = BTreeMap::new();
    if let Ok(j) = serde_json::from_str::<Json>(text) {
        walk(&j, String::new(), &mut out);
    }
    out
}

fn walk(j: &Json, path: String, out: &mut BTreeMap<String, BTreeSet<Vec<String>>>) {
    match j {
        Json::Scalar(_) => {}
        Json::Array(list) => {
            for v in list {
                walk(v, format!("{path}[*]"), out);
            }
        }
        Json::Object(fields) => {
            let keys: Vec<String> = fields.iter().map(|(k, _)| k.clone()).collect();
            out.entry(path.clone()).or_default().insert(keys);
            for (k, v) in fields {
                walk(v, format!("{path}.{k}"), out);
            }
        }
    }
}

/// The keys of the top-level object (or of the first item of a top-level list), in order.
pub fn first_keys(text: &str) -> Vec<String> {
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(f)) => f.into_iter().map(|(k, _)| k).collect(),
        Ok(Json::Array(list)) => match list.into_iter().next() {
            Some(Json::Object(f)) => f.into_iter().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}
