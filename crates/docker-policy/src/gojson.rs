//! JSON decoded the way dockerd decodes it: Go's `encoding/json` into Go
//! structs, reproduced as a serde `Deserializer` so that any
//! `#[derive(Deserialize)]` type of [`crate::model`] gets Go's semantics:
//!
//! - **Object keys match struct fields like Go**: an exact match first, else
//!   the first field (in declaration order) equal under Unicode simple case
//!   folding. For the ASCII field names of the Docker API that means ASCII
//!   case-insensitive, plus `ſ` (U+017F) for `s` and the Kelvin sign (U+212A)
//!   for `k` — `hostconfig`, `PRIVILEGED` and `Bindſ` all reach the fields
//!   dockerd would fill.
//! - **Repeated keys decode into the same value, in order**: the last scalar
//!   wins; a repeated object merges into the struct (or map) the earlier ones
//!   filled; an array replaces; `null` resets a pointer, slice or map and
//!   leaves any other value alone. Our models say which by their Rust type:
//!   `Option<T>`, `Option<Vec<T>>` and `Option<BTreeMap<..>>` are Go's
//!   pointers, slices and maps; plain types are Go values.
//! - Numbers into integer fields must be integer literals in range (Go refuses
//!   `1.0` and `1e3` there too); a document must be one JSON value (we refuse
//!   trailing data, which Go's stream decoder would ignore); invalid UTF-8 and
//!   lone surrogates are refused (Go would replace them).
//! - Unknown keys are left to the type: our models deny them, so a field the
//!   model does not know is refused with its path instead of being dropped.
//!
//! The caller re-serialises the decoded value with serde_json: dockerd then
//! reads exactly one spelling of each field, the one that was checked.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A JSON value with its object entries in order, duplicates kept.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// A JSON number as serde_json reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::Array(_) => "an array",
            Node::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Number(Number::Unsigned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Number(Number::Signed(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Number(Number::Float(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Node>()? {
                    entries.push((key, value));
                }
                Ok(Node::Object(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Why a body could not be decoded, with the path of the field (`HostConfig.Binds[2]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    path: Vec<String>,
    message: String,
}

impl Error {
    fn at(mut self, segment: impl Into<String>) -> Self {
        self.path.insert(0, segment.into());
        self
    }

    /// The field's path, e.g. `HostConfig.Mounts[0].Type`; empty for the whole body.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in &self.path {
            if !segment.starts_with('[') && !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
        out
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.path() {
            path if path.is_empty() => f.write_str(&self.message),
            path => write!(f, "`{path}`: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self { path: Vec::new(), message: msg.to_string() }
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        let _ = field; // the map access adds the key to the path
        Self { path: Vec::new(), message: "is not a field Dockyard knows, so the request is refused".into() }
    }
}

/// Parses `bytes` as one JSON document, keeping key order and duplicates.
pub fn parse(bytes: &[u8]) -> Result<Node, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let node = Node::deserialize(&mut deserializer).map_err(|e| de::Error::custom(format!("not valid JSON: {e}")))?;
    deserializer.end().map_err(|e| de::Error::custom(format!("not one JSON value: {e}")))?;
    Ok(node)
}

/// Decodes `bytes` into `T` the way Go's `json.Unmarshal` would fill the Go type `T` mirrors.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    from_node(&parse(bytes)?)
}

/// Decodes a parsed document into `T` with Go's semantics.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, Error> {
    T::deserialize(Values(vec![node]))
}

/// The names a struct type's deserializer matches keys against (its serde field names).
pub fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Capture(Option<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for &mut Capture {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("captured"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut capture = Capture(None);
    let _ = T::deserialize(&mut capture);
    capture.0.unwrap_or(&[])
}

/// Folds a key the way Go's `encoding/json` compares it with a field name:
/// ASCII letters to upper case, and the two non-ASCII runes whose fold orbit
/// holds an ASCII letter (`ſ` → `S`, Kelvin sign → `K`).
pub fn fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{017F}' => 'S',
            '\u{212A}' => 'K',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// The field of `fields` that Go would fill for `key`: exact match first, else
/// the first one equal under case folding.
pub fn match_field(fields: &'static [&'static str], key: &str) -> Option<&'static str> {
    if let Some(exact) = fields.iter().find(|f| **f == key) {
        return Some(exact);
    }
    let folded = fold(key);
    fields.iter().find(|f| fold(f) == folded).copied()
}

/// The values a JSON document gives one Go destination, in order: one for a
/// plain value, several when a key is repeated (or spelt several ways).
struct Values<'a>(Vec<&'a Node>);

impl<'a> Values<'a> {
    /// Go leaves a value-type destination alone on `null`: the last other value counts.
    fn last_non_null(&self) -> Option<&'a Node> {
        self.0.iter().rev().find(|n| !matches!(n, Node::Null)).copied()
    }

    /// Go resets a pointer, slice or map on `null`: only what follows the last one counts.
    fn after_last_null(&self) -> Vec<&'a Node> {
        let start = self.0.iter().rposition(|n| matches!(n, Node::Null)).map_or(0, |i| i + 1);
        self.0[start..].to_vec()
    }

    fn invalid(node: &Node, expected: &str) -> Error {
        de::Error::custom(format!("{} where {expected} is expected", node.kind()))
    }

    /// The entries of every object, in order (all of them must be objects).
    fn entries(nodes: &[&'a Node], expected: &str) -> Result<Vec<(&'a str, &'a Node)>, Error> {
        let mut entries = Vec::new();
        for node in nodes {
            match node {
                Node::Object(object) => entries.extend(object.iter().map(|(k, v)| (k.as_str(), v))),
                other => return Err(Self::invalid(other, expected)),
            }
        }
        Ok(entries)
    }

    fn integer(&self) -> Result<Number, Error> {
        match self.last_non_null() {
            None => Ok(Number::Unsigned(0)),
            Some(Node::Number(n @ (Number::Unsigned(_) | Number::Signed(_)))) => Ok(*n),
            Some(Node::Number(Number::Float(f))) => {
                Err(de::Error::custom(format!("{f} is not an integer; an integer is expected")))
            }
            Some(other) => Err(Self::invalid(other, "an integer")),
        }
    }
}

/// Grouped entries: each key (canonical field name or map key) with every value it was given.
struct Entries<'a> {
    entries: std::vec::IntoIter<(String, Vec<&'a Node>)>,
    value: Option<(String, Vec<&'a Node>)>,
}

impl<'a> Entries<'a> {
    fn grouped(pairs: impl IntoIterator<Item = (String, &'a Node)>) -> Self {
        let mut grouped: Vec<(String, Vec<&'a Node>)> = Vec::new();
        for (key, node) in pairs {
            match grouped.iter_mut().find(|(k, _)| *k == key) {
                Some((_, values)) => values.push(node),
                None => grouped.push((key, vec![node])),
            }
        }
        Self { entries: grouped.into_iter(), value: None }
    }
}

impl<'de, 'a> MapAccess<'de> for Entries<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, values)) = self.entries.next() else { return Ok(None) };
        let result = seed.deserialize(key.as_str().into_deserializer()).map_err(|e: Error| e.at(key.clone()));
        self.value = Some((key, values));
        result.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, values) = self.value.take().expect("a value follows its key");
        seed.deserialize(Values(values)).map_err(|e| e.at(key))
    }
}

struct Items<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'de, 'a> SeqAccess<'de> for Items<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some((i, node)) = self.items.next() else { return Ok(None) };
        seed.deserialize(Values(vec![node])).map(Some).map_err(|e| e.at(format!("[{i}]")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

macro_rules! integers {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let value = match self.integer()? {
                Number::Unsigned(n) => <$ty>::try_from(n).ok(),
                Number::Signed(n) => <$ty>::try_from(n).ok(),
                Number::Float(_) => None,
            };
            match value {
                Some(v) => visitor.$visit(v),
                None => Err(de::Error::custom(concat!("the number is out of range of ", stringify!($ty)))),
            }
        }
    )*};
}

impl<'de, 'a> Deserializer<'de> for Values<'a> {
    type Error = Error;

    /// For types that take several JSON kinds (a command as a string or a
    /// list): the last non-null value, as Go's custom unmarshalers see it.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.last_non_null() {
            None => visitor.visit_unit(),
            Some(Node::Null) => unreachable!("skipped"),
            Some(Node::Bool(b)) => visitor.visit_bool(*b),
            Some(Node::Number(Number::Unsigned(n))) => visitor.visit_u64(*n),
            Some(Node::Number(Number::Signed(n))) => visitor.visit_i64(*n),
            Some(Node::Number(Number::Float(n))) => visitor.visit_f64(*n),
            Some(Node::String(s)) => visitor.visit_str(s),
            Some(Node::Array(items)) => visitor.visit_seq(Items { items: items.iter().enumerate() }),
            Some(node @ Node::Object(_)) => {
                let entries = Self::entries(&[node], "an object")?;
                visitor.visit_map(Entries::grouped(entries.into_iter().map(|(k, v)| (k.to_string(), v))))
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.last_non_null() {
            None => visitor.visit_bool(false),
            Some(Node::Bool(b)) => visitor.visit_bool(*b),
            Some(other) => Err(Self::invalid(other, "true or false")),
        }
    }

    integers! {
        deserialize_i8 => visit_i8: i8, deserialize_i16 => visit_i16: i16, deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64, deserialize_u8 => visit_u8: u8, deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32, deserialize_u64 => visit_u64: u64,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.last_non_null() {
            None => visitor.visit_f64(0.0),
            Some(Node::Number(Number::Unsigned(n))) => visitor.visit_f64(*n as f64),
            Some(Node::Number(Number::Signed(n))) => visitor.visit_f64(*n as f64),
            Some(Node::Number(Number::Float(n))) => visitor.visit_f64(*n),
            Some(other) => Err(Self::invalid(other, "a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.last_non_null() {
            None => visitor.visit_str(""),
            Some(Node::String(s)) => visitor.visit_str(s),
            Some(other) => Err(Self::invalid(other, "a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(de::Error::custom("byte fields are not part of the Docker API models"))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    /// A Go pointer, slice or map: `null` resets it.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.after_last_null() {
            values if values.is_empty() => visitor.visit_none(),
            values => visitor.visit_some(Values(values)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.last_non_null() {
            None => visitor.visit_unit(),
            Some(other) => Err(Self::invalid(other, "null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// A Go slice: the last array replaces the earlier ones.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.last() {
            None | Some(Node::Null) => visitor.visit_seq(Items { items: [].iter().enumerate() }),
            Some(Node::Array(items)) => visitor.visit_seq(Items { items: items.iter().enumerate() }),
            Some(other) => Err(Self::invalid(other, "an array")),
        }
    }

    /// A Go array (fixed length): like a slice here; the Rust type checks the length.
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        match self.last_non_null() {
            None => visitor.visit_seq(Items { items: [].iter().enumerate() }),
            Some(Node::Array(items)) => visitor.visit_seq(Items { items: items.iter().enumerate() }),
            Some(other) => Err(Self::invalid(other, "an array")),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    /// A Go map: repeated objects add to it, a repeated key replaces its value
    /// (Go decodes each map element afresh); keys are matched exactly.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let entries = Self::entries(&self.after_last_null(), "an object")?;
        let mut last: Vec<(String, &'a Node)> = Vec::new();
        for (key, node) in entries {
            match last.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = node,
                None => last.push((key.to_string(), node)),
            }
        }
        visitor.visit_map(Entries::grouped(last))
    }

    /// A Go struct: every object fills the same struct in order, keys matched
    /// to fields as Go matches them; `null` leaves it alone.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let non_null: Vec<&Node> = self.0.iter().copied().filter(|n| !matches!(n, Node::Null)).collect();
        let entries = Self::entries(&non_null, "an object")?;
        let canonical = entries.into_iter().map(|(key, node)| {
            let name = match_field(fields, key).map_or_else(|| key.to_string(), str::to_string);
            (name, node)
        });
        visitor.visit_map(Entries::grouped(canonical))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.last_non_null() {
            Some(Node::String(s)) => visitor.visit_enum(s.as_str().into_deserializer()),
            None => visitor.visit_enum("".into_deserializer()),
            Some(other) => Err(Self::invalid(other, "a string")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Host {
        #[serde(rename = "Privileged", default)]
        privileged: bool,
        #[serde(rename = "Binds", default)]
        binds: Option<Vec<String>>,
        #[serde(rename = "Memory", default)]
        memory: i64,
        #[serde(rename = "PidsLimit", default)]
        pids_limit: Option<i64>,
        #[serde(rename = "Sysctls", default)]
        sysctls: Option<BTreeMap<String, String>>,
        #[serde(rename = "LogConfig", default)]
        log: Log,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Log {
        #[serde(rename = "Type", default)]
        kind: String,
        #[serde(rename = "Config", default)]
        config: Option<BTreeMap<String, String>>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Create {
        #[serde(rename = "Image", default)]
        image: String,
        #[serde(rename = "HostConfig", default)]
        host: Option<Host>,
    }

    fn create(json: &str) -> Create {
        from_slice(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn privileged(json: &str) -> bool {
        create(json).host.unwrap_or_default().privileged
    }

    #[test]
    fn keys_match_fields_as_go_matches_them() {
        assert!(privileged(r#"{"HostConfig":{"Privileged":true}}"#));
        assert!(privileged(r#"{"hostconfig":{"privileged":true}}"#));
        assert!(privileged(r#"{"HOSTCONFIG":{"PRIVILEGED":true}}"#));
        assert!(privileged(r#"{"HoſtConfig":{"Privileged":true}}"#), "long s folds to s");
        assert!(privileged(r#"{"HostConfig":{"Privil\u0065ged":true}}"#), "escapes are decoded first");
        let binds = create(r#"{"HostConfig":{"Bindſ":["/:/host"]}}"#).host.unwrap().binds;
        assert_eq!(binds, Some(vec!["/:/host".to_string()]));
        // The Kelvin sign folds to k; no ASCII-named field is reached by other look-alikes.
        assert_eq!(fold("\u{212A}ernel"), "KERNEL");
        assert_ne!(fold("Prıvileged"), fold("Privileged"), "dotless i is not i in Go's folding");
        assert!(from_slice::<Create>(r#"{"HostConfig":{"Prıvileged":true}}"#.as_bytes()).is_err());
    }

    #[test]
    fn repeated_keys_decode_in_order_into_the_same_value() {
        assert!(privileged(r#"{"HostConfig":{"Privileged":false,"privileged":true}}"#));
        assert!(!privileged(r#"{"HostConfig":{"privileged":true,"Privileged":false}}"#));
        // A second HostConfig object merges into the first (Go reuses the pointer's struct).
        let host = create(r#"{"HostConfig":{"Privileged":true},"hostconfig":{"Memory":5}}"#).host.unwrap();
        assert!(host.privileged && host.memory == 5);
        // null resets a pointer, and is ignored by a value.
        assert_eq!(create(r#"{"HostConfig":{"Privileged":true},"HostConfig":null}"#).host, None);
        assert!(privileged(r#"{"HostConfig":{"Privileged":true,"Privileged":null}}"#));
        let host = create(r#"{"HostConfig":{"PidsLimit":5,"PidsLimit":null,"Binds":["a:/a"],"binds":null}}"#);
        let host = host.host.unwrap();
        assert_eq!((host.pids_limit, host.binds), (None, None));
        // Arrays replace, maps merge (last value of a key wins), structs merge.
        let host = create(
            r#"{"HostConfig":{"Binds":["a:/a","b:/b"],"Binds":["c:/c"],
                "Sysctls":{"a":"1","b":"2"},"sysctls":{"b":"3"},
                "LogConfig":{"Type":"json-file"},"logconfig":{"Config":{"max-size":"1m"}}}}"#,
        )
        .host
        .unwrap();
        assert_eq!(host.binds, Some(vec!["c:/c".to_string()]));
        let sysctls = host.sysctls.unwrap();
        assert_eq!((sysctls["a"].as_str(), sysctls["b"].as_str()), ("1", "3"));
        assert_eq!(host.log.kind, "json-file");
        assert_eq!(host.log.config.unwrap()["max-size"], "1m");
        // Map keys are not folded.
        let sysctls = create(r#"{"HostConfig":{"Sysctls":{"A":"1","a":"2"}}}"#).host.unwrap().sysctls.unwrap();
        assert_eq!(sysctls.len(), 2);
    }

    #[test]
    fn what_go_would_refuse_or_not_read_is_refused() {
        for (json, path) in [
            (r#"{"HostConfig":{"Memory":1.0}}"#, "HostConfig.Memory"),
            (r#"{"HostConfig":{"Memory":1e3}}"#, "HostConfig.Memory"),
            (r#"{"HostConfig":{"Memory":"1"}}"#, "HostConfig.Memory"),
            (r#"{"HostConfig":{"Memory":99999999999999999999}}"#, "HostConfig.Memory"),
            (r#"{"HostConfig":{"Privileged":"true"}}"#, "HostConfig.Privileged"),
            (r#"{"HostConfig":{"Binds":["a",1]}}"#, "HostConfig.Binds[1]"),
            (r#"{"HostConfig":{"CapAdd":["SYS_ADMIN"]}}"#, "HostConfig.CapAdd"),
            (r#"{"Privileged":true}"#, "Privileged"),
            (r#"{"HostConfig":[]}"#, "HostConfig"),
        ] {
            let error = from_slice::<Create>(json.as_bytes()).expect_err(json);
            assert_eq!(error.path(), path, "{json}: {error}");
        }
        for json in [r#"{"Image":"a"} {"HostConfig":{}}"#, r#"{"Image":"\ud800"}"#, "{", ""] {
            assert!(from_slice::<Create>(json.as_bytes()).is_err(), "{json}");
        }
        assert!(from_slice::<Create>(b"{\"Image\":\"\xff\"}").is_err(), "invalid UTF-8");
    }

    #[test]
    fn field_names_are_read_from_the_type() {
        assert_eq!(field_names::<Create>(), ["Image", "HostConfig"]);
        assert_eq!(match_field(field_names::<Host>(), "bindſ"), Some("Binds"));
        assert_eq!(match_field(field_names::<Host>(), "Bind"), None);
    }
}
