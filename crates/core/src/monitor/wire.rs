//! The wire shape of a monitor: one flat object (`{"name": …, "type": "http",
//! "url": …}`), read into [`MonitorConfig`] (the common fields) and [`KindConfig`]
//! (the type's own) with [`crate::tagged`], and written back the same way. The OpenAPI
//! schema of a type is its struct's, with `type`.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::PartialSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{OneOfBuilder, Schema};

use super::{
    HeartbeatConfig, HttpConfig, KINDS, KindConfig, MonitorConfig, RedisConfig, TcpConfig,
};
use crate::tagged::{self, NoFields, Tagged, WithType, one_field, struct_fields, variant_schema};

/// The fields every monitor takes, besides `type`.
pub(super) fn common_fields() -> &'static [&'static str] {
    struct_fields::<Common>()
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

impl Tagged for MonitorConfig {
    const WHAT: &'static str = "monitor";

    fn common_fields() -> &'static [&'static str] {
        common_fields()
    }

    fn kinds() -> &'static [&'static str] {
        const NAMES: [&str; 4] = ["http", "tcp", "redis", "heartbeat"];
        debug_assert!(KINDS.iter().all(|k| NAMES.contains(&k.kind.as_str())));
        &NAMES
    }

    fn kind_fields(kind: &str) -> Option<&'static [&'static str]> {
        kind_fields(kind)
    }

    fn common_field<'de, D: Deserializer<'de>>(
        key: &str,
        value: D,
    ) -> Result<Option<Value>, D::Error> {
        one_field::<Common, D>(key, value)
    }

    fn kind_field<'de, D: Deserializer<'de>>(
        kind: &str,
        key: &str,
        value: D,
    ) -> Result<Option<Value>, D::Error> {
        match kind {
            "http" => one_field::<HttpConfig, D>(key, value),
            "tcp" => one_field::<TcpConfig, D>(key, value),
            "redis" => one_field::<RedisConfig, D>(key, value),
            "heartbeat" => one_field::<HeartbeatConfig, D>(key, value),
            other => Err(serde::de::Error::custom(format!(
                "unknown monitor type {other:?}"
            ))),
        }
    }

    fn assemble(
        common: Map<String, Value>,
        kind: &str,
        fields: Map<String, Value>,
        foreign: Vec<String>,
    ) -> Result<Self, serde_json::Error> {
        let mut config = MonitorConfig::deserialize(Value::Object(common))?;
        let v = Value::Object(fields);
        config.kind = match kind {
            "http" => KindConfig::Http(HttpConfig::deserialize(v)?),
            "tcp" => KindConfig::Tcp(TcpConfig::deserialize(v)?),
            "redis" => KindConfig::Redis(RedisConfig::deserialize(v)?),
            "heartbeat" => KindConfig::Heartbeat(HeartbeatConfig::deserialize(v)?),
            other => KindConfig::Unknown(other.to_owned()),
        };
        config.foreign_fields = foreign;
        Ok(config)
    }
}

impl<'de> Deserialize<'de> for MonitorConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        tagged::deserialize(d)
    }
}

impl Serialize for MonitorConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MonitorConfig::serialize(self, s)
    }
}

impl Serialize for KindConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.name();
        match self {
            KindConfig::Http(c) => WithType { kind, fields: c }.serialize(s),
            KindConfig::Tcp(c) => WithType { kind, fields: c }.serialize(s),
            KindConfig::Redis(c) => WithType { kind, fields: c }.serialize(s),
            KindConfig::Heartbeat(c) => WithType { kind, fields: c }.serialize(s),
            KindConfig::Unknown(_) => WithType {
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
        OneOfBuilder::new()
            .item(variant_schema("http", HttpConfig::schema()))
            .item(variant_schema("tcp", TcpConfig::schema()))
            .item(variant_schema("redis", RedisConfig::schema()))
            .item(variant_schema("heartbeat", HeartbeatConfig::schema()))
            .into()
    }
}

impl utoipa::ToSchema for KindConfig {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MonitorType")
    }
}
