//! Reading configs written as one flat object with a `type` (`{"name": …, "type":
//! "http", "url": …}`) into typed parts: the fields every kind has, and one struct per
//! kind. Monitors (`monitor::MonitorConfig`) and notification channels
//! (`vigilmon_notify::ChannelConfig`) are read this way.
//!
//! Reading goes field by field through the caller's deserializer, so an error names
//! its field with the full path (`expect.status[1]`) whatever the format (JSON bodies,
//! YAML files). Each value is deserialized by the struct that owns it — the common
//! fields by the config's derived code, a kind's fields by that kind's struct — one
//! field at a time ([`one_field`]), and the structs are then assembled from the fields
//! read. A field of another kind is not an error here but recorded as *foreign*
//! (`build` refuses it by name); a field of no kind at all is an error. Fields written
//! before `type` are held as JSON values until the kind is known (their errors then
//! name the field in the message only).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};

/// A config made of common fields and one tagged kind.
pub trait Tagged: Sized {
    /// What it is, for messages: `monitor`, `channel`.
    const WHAT: &'static str;

    /// The fields every kind takes, besides `type`.
    fn common_fields() -> &'static [&'static str];

    /// Every kind this version knows, by its name in `type:`.
    fn kinds() -> &'static [&'static str];

    /// The fields of a known kind; `None` for a kind this version does not know.
    fn kind_fields(kind: &str) -> Option<&'static [&'static str]>;

    /// Reads one common field's value (use [`one_field`] with the common part).
    fn common_field<'de, D: Deserializer<'de>>(
        key: &str,
        value: D,
    ) -> Result<Option<Value>, D::Error>;

    /// Reads one field of a known kind (use [`one_field`] with the kind's struct).
    fn kind_field<'de, D: Deserializer<'de>>(
        kind: &str,
        key: &str,
        value: D,
    ) -> Result<Option<Value>, D::Error>;

    /// Builds the config from the fields read: the common ones, the kind's name and
    /// its fields, and the fields of other kinds that were given.
    fn assemble(
        common: Map<String, Value>,
        kind: &str,
        fields: Map<String, Value>,
        foreign: Vec<String>,
    ) -> Result<Self, serde_json::Error>;
}

/// The fields a derived struct reads, from its own derived code: it passes them to
/// `deserialize_struct`, which this deserializer records and then refuses.
pub fn struct_fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
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

/// Deserializes `key`'s value (from `value`) with `T`'s own derived code, as if `T`
/// were given an object with that one field, and returns the field as JSON (`None`
/// when `T` writes it as absent, like an empty list).
pub fn one_field<'de, T, D>(key: &str, value: D) -> Result<Option<Value>, D::Error>
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

/// Where a field that is not a common one belongs, for configs of kind `kind`.
enum Belongs {
    /// One of the kind's own fields.
    Own,
    /// A field of another kind: refused by `build`.
    Foreign,
    /// The kind is unknown: its fields are not read.
    UnknownKind,
    /// No kind has it.
    Nowhere(&'static [&'static str]),
}

fn belongs<T: Tagged>(kind: &str, key: &str) -> Belongs {
    let Some(own) = T::kind_fields(kind) else {
        return Belongs::UnknownKind;
    };
    if own.contains(&key) {
        Belongs::Own
    } else if T::kinds()
        .iter()
        .filter_map(|k| T::kind_fields(k))
        .any(|f| f.contains(&key))
    {
        Belongs::Foreign
    } else {
        Belongs::Nowhere(own)
    }
}

fn unknown_field<T: Tagged, E: de::Error>(key: &str, kind: &str, own: &[&str]) -> E {
    let expected: Vec<String> = T::common_fields()
        .iter()
        .chain(std::iter::once(&"type"))
        .chain(own)
        .map(|f| format!("`{f}`"))
        .collect();
    E::custom(format!(
        "unknown field `{key}` for {kind} {}s, expected one of {}",
        T::WHAT,
        expected.join(", ")
    ))
}

/// Reads one common field.
struct CommonField<'k, T>(&'k str, PhantomData<T>);

impl<'de, T: Tagged> DeserializeSeed<'de> for CommonField<'_, T> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        T::common_field(self.0, d)
    }
}

/// Reads one field of kind `kind`.
struct KindField<'k, T> {
    kind: &'k str,
    key: &'k str,
    _t: PhantomData<T>,
}

impl<'de, T: Tagged> DeserializeSeed<'de> for KindField<'_, T> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        T::kind_field(self.kind, self.key, d)
    }
}

/// Reads a [`Tagged`] config (the body of its `Deserialize` impl).
pub fn deserialize<'de, T: Tagged, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(TaggedVisitor(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: Tagged> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}: an object with a name and a type", T::WHAT)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
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
                    match belongs::<T>(&k, &key) {
                        Belongs::Own => {
                            let v = KindField::<T> {
                                kind: &k,
                                key: &key,
                                _t: PhantomData,
                            }
                            .deserialize(value)
                            .map_err(|e| de::Error::custom(format!("{key}: {e}")))?;
                            if let Some(v) = v {
                                fields.insert(key, v);
                            }
                        }
                        Belongs::Foreign => foreign.push(key),
                        Belongs::UnknownKind => {}
                        Belongs::Nowhere(own) => return Err(unknown_field::<T, _>(&key, &k, own)),
                    }
                }
                kind = Some(k);
            } else if T::common_fields().contains(&key.as_str()) {
                if let Some(v) = map.next_value_seed(CommonField::<T>(&key, PhantomData))? {
                    common.insert(key, v);
                }
            } else if let Some(k) = &kind {
                match belongs::<T>(k, &key) {
                    Belongs::Own => {
                        let seed = KindField::<T> {
                            kind: k,
                            key: &key,
                            _t: PhantomData,
                        };
                        if let Some(v) = map.next_value_seed(seed)? {
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
                    Belongs::Nowhere(own) => return Err(unknown_field::<T, _>(&key, k, own)),
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
        T::assemble(common, &kind, fields, foreign).map_err(de::Error::custom)
    }
}

/// A kind's fields with `type` first, for writing a [`Tagged`] config back.
#[derive(Serialize)]
pub struct WithType<'a, F: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(flatten)]
    pub fields: &'a F,
}

/// No fields (an unknown kind's).
#[derive(Serialize)]
pub struct NoFields {}

/// A JSON object as a deserializer that presents `type` first, so a [`Tagged`]
/// config read from a `serde_json::Value` (whose keys are sorted) tracks every field's
/// path: use it where a config built or patched as a `Value` is read with
/// `serde_path_to_error`. Anything but an object is presented as it is.
pub fn type_first(value: Value) -> TypeFirst {
    TypeFirst(value)
}

/// See [`type_first`].
pub struct TypeFirst(Value);

impl<'de> Deserializer<'de> for TypeFirst {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(mut map) => {
                let mut entries: Vec<(String, Value)> = Vec::with_capacity(map.len());
                if let Some(t) = map.remove("type") {
                    entries.push(("type".to_owned(), t));
                }
                entries.extend(map);
                visitor.visit_map(de::value::MapDeserializer::new(entries.into_iter()))
            }
            other => other.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
        enum identifier ignored_any
    }
}

/// The OpenAPI schema of one kind: `type` (that one value) and the kind's own
/// fields (`fields`, the kind struct's schema).
pub fn variant_schema(name: &str, fields: RefOr<Schema>) -> Schema {
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
}

#[doc(hidden)]
pub use {serde as __serde, serde_json as __serde_json, utoipa as __utoipa};

/// Declares the enum of a [`Tagged`] config's kinds, one variant per kind and its
/// settings struct, with everything reading and writing needs generated from that one
/// list: the `Unknown` variant (a kind this version does not know, or none), `name`,
/// `NAMES`, the fields of each kind, reading one field of a kind, assembling a kind
/// from its fields, `Serialize` (`type` first) and the OpenAPI schema (one of the
/// kinds). Adding a kind is one line here.
///
/// ```ignore
/// tagged_kinds! {
///     /// A monitor's type and its fields.
///     pub enum KindConfig as "MonitorType" {
///         Http(HttpConfig) = "http",
///         Tcp(TcpConfig) = "tcp",
///     }
/// }
/// ```
#[macro_export]
macro_rules! tagged_kinds {
    (
        $(#[$meta:meta])*
        $vis:vis enum $Enum:ident as $schema:literal {
            $( $(#[$vmeta:meta])* $Variant:ident($Ty:ty) = $name:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis enum $Enum {
            $( $(#[$vmeta])* $Variant($Ty), )+
            /// A kind this version does not know (or none, when empty): `build`
            /// refuses it, but a stored one of a newer kind still reads.
            Unknown(String),
        }

        impl Default for $Enum {
            fn default() -> Self {
                $Enum::Unknown(String::new())
            }
        }

        impl $Enum {
            /// Every kind's name in `type:`, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The name in `type:`, or the unknown name.
            pub fn name(&self) -> &str {
                match self {
                    $( $Enum::$Variant(_) => $name, )+
                    $Enum::Unknown(name) => name,
                }
            }

            /// The fields of a known kind, in declaration order.
            pub fn fields_of(kind: &str) -> Option<&'static [&'static str]> {
                match kind {
                    $( $name => Some($crate::tagged::struct_fields::<$Ty>()), )+
                    _ => None,
                }
            }

            /// Reads one field of kind `kind`, with that kind's derived code.
            pub fn read_field<'de, D: $crate::tagged::__serde::Deserializer<'de>>(
                kind: &str,
                key: &str,
                value: D,
            ) -> Result<Option<$crate::tagged::__serde_json::Value>, D::Error> {
                match kind {
                    $( $name => $crate::tagged::one_field::<$Ty, D>(key, value), )+
                    other => Err(<D::Error as $crate::tagged::__serde::de::Error>::custom(
                        format!("unknown kind {other:?}"),
                    )),
                }
            }

            /// The kind `kind` with the fields read (an unknown kind keeps its name).
            pub fn from_fields(
                kind: &str,
                fields: $crate::tagged::__serde_json::Map<String, $crate::tagged::__serde_json::Value>,
            ) -> Result<Self, $crate::tagged::__serde_json::Error> {
                let v = $crate::tagged::__serde_json::Value::Object(fields);
                Ok(match kind {
                    $( $name => $Enum::$Variant(
                        <$Ty as $crate::tagged::__serde::Deserialize>::deserialize(v)?,
                    ), )+
                    other => $Enum::Unknown(other.to_owned()),
                })
            }
        }

        impl $crate::tagged::__serde::Serialize for $Enum {
            fn serialize<S: $crate::tagged::__serde::Serializer>(
                &self,
                s: S,
            ) -> Result<S::Ok, S::Error> {
                let kind = self.name();
                match self {
                    $( $Enum::$Variant(c) => $crate::tagged::__serde::Serialize::serialize(
                        &$crate::tagged::WithType { kind, fields: c },
                        s,
                    ), )+
                    $Enum::Unknown(_) => $crate::tagged::__serde::Serialize::serialize(
                        &$crate::tagged::WithType {
                            kind,
                            fields: &$crate::tagged::NoFields {},
                        },
                        s,
                    ),
                }
            }
        }

        /// The OpenAPI schema: one of the kinds, each `type` plus its own fields.
        impl $crate::tagged::__utoipa::PartialSchema for $Enum {
            fn schema() -> $crate::tagged::__utoipa::openapi::RefOr<
                $crate::tagged::__utoipa::openapi::schema::Schema,
            > {
                $crate::tagged::__utoipa::openapi::schema::OneOfBuilder::new()
                    $( .item($crate::tagged::variant_schema(
                        $name,
                        <$Ty as $crate::tagged::__utoipa::PartialSchema>::schema(),
                    )) )+
                    .into()
            }
        }

        impl $crate::tagged::__utoipa::ToSchema for $Enum {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($schema)
            }

            /// Registers this schema and every named schema its kinds refer to, so
            /// that a document using it resolves every reference.
            fn schemas(
                schemas: &mut Vec<(
                    String,
                    $crate::tagged::__utoipa::openapi::RefOr<
                        $crate::tagged::__utoipa::openapi::schema::Schema,
                    >,
                )>,
            ) {
                schemas.push((
                    $schema.to_owned(),
                    <Self as $crate::tagged::__utoipa::PartialSchema>::schema(),
                ));
                $( <$Ty as $crate::tagged::__utoipa::ToSchema>::schemas(schemas); )+
            }
        }
    };
}

/// Makes `$Config` a [`Tagged`] config read and written in the flat shape, given its
/// kinds `$Kind` (declared with [`tagged_kinds!`]). `$Config` derives `Serialize` and
/// `Deserialize` with `#[serde(remote = "Self")]` (its own derived code, used here for
/// its common fields) and has a `kind: $Kind` field
/// (`#[serde(flatten, skip_deserializing)]`) and a `foreign_fields: Vec<String>` one
/// (`#[serde(skip)]`).
#[macro_export]
macro_rules! tagged_config {
    ($Config:ident, $Kind:ident, $what:literal) => {
        const _: () = {
            use $crate::tagged::__serde::{Deserialize, Deserializer, Serialize, Serializer};
            use $crate::tagged::__serde_json::{Map, Value};

            /// The common fields alone, with the config's derived code.
            struct Common($Config);

            impl<'de> Deserialize<'de> for Common {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    $Config::deserialize(d).map(Common)
                }
            }

            impl Serialize for Common {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    $Config::serialize(&self.0, s)
                }
            }

            impl $crate::tagged::Tagged for $Config {
                const WHAT: &'static str = $what;

                fn common_fields() -> &'static [&'static str] {
                    $crate::tagged::struct_fields::<Common>()
                }

                fn kinds() -> &'static [&'static str] {
                    $Kind::NAMES
                }

                fn kind_fields(kind: &str) -> Option<&'static [&'static str]> {
                    $Kind::fields_of(kind)
                }

                fn common_field<'de, D: Deserializer<'de>>(
                    key: &str,
                    value: D,
                ) -> Result<Option<Value>, D::Error> {
                    $crate::tagged::one_field::<Common, D>(key, value)
                }

                fn kind_field<'de, D: Deserializer<'de>>(
                    kind: &str,
                    key: &str,
                    value: D,
                ) -> Result<Option<Value>, D::Error> {
                    $Kind::read_field(kind, key, value)
                }

                fn assemble(
                    common: Map<String, Value>,
                    kind: &str,
                    fields: Map<String, Value>,
                    foreign: Vec<String>,
                ) -> Result<Self, $crate::tagged::__serde_json::Error> {
                    let mut config = $Config::deserialize(Value::Object(common))?;
                    config.kind = $Kind::from_fields(kind, fields)?;
                    config.foreign_fields = foreign;
                    Ok(config)
                }
            }

            impl<'de> Deserialize<'de> for $Config {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    $crate::tagged::deserialize(d)
                }
            }

            impl Serialize for $Config {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    $Config::serialize(self, s)
                }
            }
        };
    };
}
