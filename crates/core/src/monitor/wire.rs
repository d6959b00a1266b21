//! The wire shape of a monitor: one flat object (`{"name": …, "type": "http",
//! "url": …}`), read into [`MonitorConfig`] (the common fields) and [`KindConfig`]
//! (the type's own), and written back the same way.
//!
//! Reading goes field by field through the caller's deserializer, so an error names
//! its field with the full path (`expect.status[1]`) whatever the format (JSON bodies,
//! YAML files). Each value is deserialized by the struct that owns it — the common
//! fields by `MonitorConfig`'s derived code, a type's fields by that type's struct —
//! one field at a time, and the struct is then assembled from the fields read. A field
//! of another monitor type is not an error here but recorded in
//! `MonitorConfig::foreign_fields` (`build` refuses it by name); a field of no type at
//! all is an error. Fields written before `type` are held as JSON values until the
//! type is known (their errors then name the field in the message only).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::PartialSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

use super::{
    HeartbeatConfig, HttpConfig, KINDS, KindConfig, MonitorConfig, RedisConfig, TcpConfig,
};

/// The fields a derived struct reads, from its own derived code: it passes them to
/// `deserialize_struct`, which this deserializer records and then refuses.
fn struct_fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    struct Spy<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Spy<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields recorded"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Spy(&mut fields));
    fields
}

/// The fields every monitor takes, besides `type`.
pub(super) fn common_fields() -> &'static [&'static str] {
    const COMMON: &[&str] = &[
        "name",
        "interval",
        "timeout",
        "regions",
        "quorum",
        "confirmations",
        "regional_notice_after",
        "policy",
        "tags",
        "depends_on",
        "paused",
    ];
    COMMON
}

/// The fields of a known monitor type; `None` for a type this version does not know.
pub(super) fn kind_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "http" => struct_fields::<HttpConfig>(),
        "tcp" => struct_fields::<TcpConfig>(),
        "redis" => struct_fields::<RedisConfig>(),
        "heartbeat" => struct_fields::<HeartbeatConfig>(),
        _ => return None,
    })
}

/// Deserializes `key`'s value (from `value`) with `T`'s own derived code, as if `T`
/// were given an object with that one field, and returns the field as JSON (`None`
/// when `T` writes it as absent, like an empty list).
fn one_field<'de, T, D>(key: &str, value: D) -> Result<Option<Value>, D::Error>
where
    T: Deserialize<'de> + Serialize,
    D: Deserializer<'de>,
{
    let parsed = T::deserialize(OneField {
        key,
        value: Some(value),
        _de: PhantomData,
    })?;
    let mut written = serde_json::to_value(parsed).map_err(de::Error::custom)?;
    Ok(written.as_object_mut().and_then(|m| m.remove(key)))
}

/// An object with one field whose value is still in a deserializer.
struct OneField<'k, 'de, D> {
    key: &'k str,
    value: Option<D>,
    _de: PhantomData<&'de ()>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for OneField<'_, 'de, D> {
    type Error = D::Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        visitor.visit_map(self)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
        enum identifier ignored_any
    }
}

impl<'de, D: Deserializer<'de>> MapAccess<'de> for OneField<'_, 'de, D> {
    type Error = D::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, D::Error> {
        if self.value.is_none() {
            return Ok(None);
        }
        seed.deserialize(de::value::StrDeserializer::new(self.key))
            .map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, D::Error> {
        match self.value.take() {
            Some(d) => seed.deserialize(d),
            None => Err(de::Error::custom("a value was read twice")),
        }
    }
}

/// Reads one common field's value.
struct CommonField<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for CommonField<'_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        one_field::<Common, D>(self.0, d)
    }
}

/// The common fields alone, with `MonitorConfig`'s derived code.
struct Common(MonitorConfig);

impl<'de> Deserialize<'de> for Common {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        MonitorConfig::deserialize(d).map(Common)
    }
}

impl Serialize for Common {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MonitorConfig::serialize(&self.0, s)
    }
}

/// Reads one field of monitor type `kind`.
struct KindField<'k> {
    kind: &'k str,
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for KindField<'_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        match self.kind {
            "http" => one_field::<HttpConfig, D>(self.key, d),
            "tcp" => one_field::<TcpConfig, D>(self.key, d),
            "redis" => one_field::<RedisConfig, D>(self.key, d),
            "heartbeat" => one_field::<HeartbeatConfig, D>(self.key, d),
            other => Err(de::Error::custom(format!("unknown monitor type {other:?}"))),
        }
    }
}

/// Builds a type's config from the fields read.
fn assemble(kind: &str, fields: Map<String, Value>) -> Result<KindConfig, serde_json::Error> {
    let v = Value::Object(fields);
    Ok(match kind {
        "http" => KindConfig::Http(HttpConfig::deserialize(v)?),
        "tcp" => KindConfig::Tcp(TcpConfig::deserialize(v)?),
        "redis" => KindConfig::Redis(RedisConfig::deserialize(v)?),
        "heartbeat" => KindConfig::Heartbeat(HeartbeatConfig::deserialize(v)?),
        other => KindConfig::Unknown(other.to_owned()),
    })
}

/// Where a field that is not a common one belongs, for monitors of type `kind`.
enum Belongs {
    /// One of the type's own fields.
    Own,
    /// A field of another type: refused by `build`.
    Foreign,
    /// The type is unknown: its fields are not read.
    UnknownKind,
    /// No type has it.
    Nowhere(&'static [&'static str]),
}

fn belongs(kind: &str, key: &str) -> Belongs {
    let Some(own) = kind_fields(kind) else {
        return Belongs::UnknownKind;
    };
    if own.contains(&key) {
        Belongs::Own
    } else if KINDS
        .iter()
        .filter_map(|k| kind_fields(k.kind.as_str()))
        .any(|f| f.contains(&key))
    {
        Belongs::Foreign
    } else {
        Belongs::Nowhere(own)
    }
}

fn unknown_field<E: de::Error>(key: &str, kind: &str, own: &[&str]) -> E {
    let expected: Vec<String> = common_fields()
        .iter()
        .chain(std::iter::once(&"type"))
        .chain(own)
        .map(|f| format!("`{f}`"))
        .collect();
    E::custom(format!(
        "unknown field `{key}` for {kind} monitors, expected one of {}",
        expected.join(", ")
    ))
}

impl<'de> Deserialize<'de> for MonitorConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ConfigVisitor)
    }
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = MonitorConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a monitor: an object with a name and a type")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MonitorConfig, A::Error> {
        let mut common = Map::new();
        let mut kind: Option<String> = None;
        let mut early: Vec<(String, Value)> = Vec::new();
        let mut fields = Map::new();
        let mut foreign = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("duplicate field `{key}`")));
            }
            seen.push(key.clone());
            if key == "type" {
                let k: String = map.next_value()?;
                for (key, value) in early.drain(..) {
                    match belongs(&k, &key) {
                        Belongs::Own => {
                            let v = KindField {
                                kind: &k,
                                key: &key,
                            }
                            .deserialize(value)
                            .map_err(|e| de::Error::custom(format!("{key}: {e}")))?;
                            if let Some(v) = v {
                                fields.insert(key, v);
                            }
                        }
                        Belongs::Foreign => foreign.push(key),
                        Belongs::UnknownKind => {}
                        Belongs::Nowhere(own) => return Err(unknown_field(&key, &k, own)),
                    }
                }
                kind = Some(k);
            } else if common_fields().contains(&key.as_str()) {
                if let Some(v) = map.next_value_seed(CommonField(&key))? {
                    common.insert(key, v);
                }
            } else if let Some(k) = &kind {
                match belongs(k, &key) {
                    Belongs::Own => {
                        if let Some(v) = map.next_value_seed(KindField { kind: k, key: &key })? {
                            fields.insert(key, v);
                        }
                    }
                    Belongs::Foreign => {
                        map.next_value::<IgnoredAny>()?;
                        foreign.push(key);
                    }
                    Belongs::UnknownKind => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    Belongs::Nowhere(own) => return Err(unknown_field(&key, k, own)),
                }
            } else {
                early.push((key, map.next_value()?));
            }
        }
        let Some(kind) = kind else {
            return Err(de::Error::missing_field("type"));
        };
        if !common.contains_key("name") {
            return Err(de::Error::missing_field("name"));
        }
        let mut config =
            MonitorConfig::deserialize(Value::Object(common)).map_err(de::Error::custom)?;
        config.kind = assemble(&kind, fields).map_err(de::Error::custom)?;
        config.foreign_fields = foreign;
        Ok(config)
    }
}

impl Serialize for MonitorConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MonitorConfig::serialize(self, s)
    }
}

/// A type's fields with `type` first.
#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    fields: &'a T,
}

/// No fields (an unknown type's).
#[derive(Serialize)]
struct NoFields {}

impl Serialize for KindConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.name();
        match self {
            KindConfig::Http(c) => Tagged { kind, fields: c }.serialize(s),
            KindConfig::Tcp(c) => Tagged { kind, fields: c }.serialize(s),
            KindConfig::Redis(c) => Tagged { kind, fields: c }.serialize(s),
            KindConfig::Heartbeat(c) => Tagged { kind, fields: c }.serialize(s),
            KindConfig::Unknown(_) => Tagged {
                kind,
                fields: &NoFields {},
            }
            .serialize(s),
        }
    }
}

/// The OpenAPI schema: one of the types, each `type` plus its own fields.
impl PartialSchema for KindConfig {
    fn schema() -> RefOr<Schema> {
        let variant = |name: &str, fields: RefOr<Schema>| -> Schema {
            AllOfBuilder::new()
                .item(
                    ObjectBuilder::new()
                        .property(
                            "type",
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .enum_values(Some([name])),
                        )
                        .required("type"),
                )
                .item(fields)
                .into()
        };
        OneOfBuilder::new()
            .item(variant("http", HttpConfig::schema()))
            .item(variant("tcp", TcpConfig::schema()))
            .item(variant("redis", RedisConfig::schema()))
            .item(variant("heartbeat", HeartbeatConfig::schema()))
            .into()
    }
}

impl utoipa::ToSchema for KindConfig {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MonitorType")
    }
}
