//! The wire shape of a monitor: one flat object (`{"name": …, "type": "http",
//! "url": …}`), read into [`MonitorConfig`] (the common fields) and [`KindConfig`]
//! (the type's own, declared with `tagged_kinds!`) with [`crate::tagged`], and written
//! back the same way.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{KindConfig, MonitorConfig};
use crate::tagged::{self, Tagged, one_field, struct_fields};

/// The fields every monitor takes, besides `type`.
pub(super) fn common_fields() -> &'static [&'static str] {
    struct_fields::<Common>()
}

/// The fields of a known monitor type; `None` for a type this version does not know.
pub(super) fn kind_fields(kind: &str) -> Option<&'static [&'static str]> {
    KindConfig::fields_of(kind)
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
        KindConfig::NAMES
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
        KindConfig::read_field(kind, key, value)
    }

    fn assemble(
        common: Map<String, Value>,
        kind: &str,
        fields: Map<String, Value>,
        foreign: Vec<String>,
    ) -> Result<Self, serde_json::Error> {
        let mut config = MonitorConfig::deserialize(Value::Object(common))?;
        config.kind = KindConfig::from_fields(kind, fields)?;
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
