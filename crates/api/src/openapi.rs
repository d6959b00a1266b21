//! The last step of the OpenAPI document: schemas that serde flattens are written out
//! as the plain objects they are on the wire.
//!
//! A monitor is its type's fields (`type: http`, `url`, …) flattened beside the fields
//! every monitor has, and a view flattens the config beside what Vigilmon knows. The
//! generator describes that as `allOf` of the parts, and each type's part as `allOf`
//! of the `type` tag and the type's fields, each part closed with
//! `additionalProperties: false`. In JSON Schema `additionalProperties` does not see
//! its siblings in an `allOf`, so those schemas accept nothing: clients and schema
//! driven tools could neither validate nor generate a monitor or a channel. Here every
//! such composition becomes one object per variant (a `oneOf` when the type decides
//! the fields), with the properties of all its parts, a later part's property
//! replacing an earlier one of the same name (as the later key wins in the JSON).

use serde_json::{Map, Value};

const PREFIX: &str = "#/components/schemas/";

/// Rewrites the flattened compositions of `doc`'s component schemas (see the module
/// documentation). Compositions it cannot read as objects are left as they are.
pub fn flatten_compositions(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    // Tagged unions first, so that compositions referring to them see objects.
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in &names {
        if let Some(merged) = tagged_union(&schemas[name]) {
            schemas.insert(name.clone(), merged);
        }
    }
    // Then compositions, until none changes (a view composes a config, which may
    // itself be a composition).
    loop {
        let mut changed = false;
        for name in &names {
            if schemas[name].get("allOf").is_none() {
                continue;
            }
            if let Some(variants) = variants(schemas, &schemas[name], 0) {
                let mut out = match <[Map<String, Value>; 1]>::try_from(variants) {
                    Ok([one]) => one,
                    Err(many) => {
                        let mut m = Map::new();
                        m.insert(
                            "oneOf".into(),
                            Value::Array(many.into_iter().map(Value::Object).collect()),
                        );
                        m
                    }
                };
                if let Some(d) = schemas[name].get("description") {
                    out.insert("description".into(), d.clone());
                }
                schemas.insert(name.clone(), Value::Object(out));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// `oneOf` of `allOf`s of plain objects (a serde internally tagged enum): each
/// variant as one object.
fn tagged_union(schema: &Value) -> Option<Value> {
    let items = schema.get("oneOf")?.as_array()?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let parts = item.get("allOf")?.as_array()?;
        let mut merged = Map::new();
        for part in parts {
            merge(&mut merged, plain_object(part)?);
        }
        out.push(Value::Object(merged));
    }
    let mut m = schema.as_object()?.clone();
    m.insert("oneOf".into(), Value::Array(out));
    Some(Value::Object(m))
}

/// The object variants a schema stands for: itself when a plain object, its
/// referent's variants for a reference, each of a `oneOf` of objects, and the
/// product of its parts' variants for an `allOf`. `None` when any part is something
/// else.
fn variants(
    schemas: &Map<String, Value>,
    schema: &Value,
    depth: usize,
) -> Option<Vec<Map<String, Value>>> {
    if depth > 8 {
        return None;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = schemas.get(r.strip_prefix(PREFIX)?)?;
        return variants(schemas, target, depth + 1);
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut acc = vec![Map::new()];
        for part in parts {
            let vs = variants(schemas, part, depth + 1)?;
            let mut next = Vec::with_capacity(acc.len() * vs.len());
            for a in &acc {
                for v in &vs {
                    let mut m = a.clone();
                    merge(&mut m, v);
                    next.push(m);
                }
            }
            acc = next;
        }
        return Some(acc);
    }
    if let Some(items) = schema.get("oneOf").and_then(Value::as_array) {
        return items
            .iter()
            .map(|i| plain_object(i).cloned())
            .collect::<Option<Vec<_>>>();
    }
    plain_object(schema).cloned().map(|o| vec![o])
}

/// A schema that is an object with its properties written out.
fn plain_object(schema: &Value) -> Option<&Map<String, Value>> {
    let m = schema.as_object()?;
    (m.get("type").and_then(Value::as_str) == Some("object")
        && !m.contains_key("allOf")
        && !m.contains_key("oneOf")
        && !m.contains_key("$ref"))
    .then_some(m)
}

/// Adds `part`'s properties and required names to `into`. The object is closed
/// (`additionalProperties: false`) when any part was: the parts together name every
/// field. The first description stays (the variant's own).
fn merge(into: &mut Map<String, Value>, part: &Map<String, Value>) {
    into.insert("type".into(), Value::from("object"));
    if let Some(Value::Object(props)) = part.get("properties") {
        let target = into
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(t) = target {
            for (k, v) in props {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(Value::Array(req)) = part.get("required") {
        let target = into
            .entry("required")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(t) = target {
            for r in req {
                if !t.contains(r) {
                    t.push(r.clone());
                }
            }
        }
    }
    if part.get("additionalProperties") == Some(&Value::Bool(false)) {
        into.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(d) = part.get("description")
        && !into.contains_key("description")
    {
        into.insert("description".into(), d.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_flattened_tagged_union_becomes_one_object_per_variant() {
        let mut doc = json!({"components": {"schemas": {
            "Kind": {"oneOf": [
                {"allOf": [
                    {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["http"]}}},
                    {"type": "object", "properties": {"url": {"type": "string"}}, "additionalProperties": false},
                ]},
                {"allOf": [
                    {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["tcp"]}}},
                    {"type": "object", "properties": {"host": {"type": "string"}}, "additionalProperties": false},
                ]},
            ]},
            "Config": {"description": "a monitor", "allOf": [
                {"$ref": "#/components/schemas/Kind"},
                {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "regions": {"type": "array", "items": {"type": "string"}}}},
            ]},
            "View": {"allOf": [
                {"$ref": "#/components/schemas/Config"},
                {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "regions": {"type": "array", "items": {"type": "object"}}}},
            ]},
        }}});
        flatten_compositions(&mut doc);
        let s = &doc["components"]["schemas"];
        let config = s["Config"]["oneOf"].as_array().unwrap();
        assert_eq!(config.len(), 2);
        assert_eq!(s["Config"]["description"], "a monitor");
        assert_eq!(config[0]["additionalProperties"], false);
        assert_eq!(config[0]["required"], json!(["type", "name"]));
        let props: Vec<&String> = config[0]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(props, ["name", "regions", "type", "url"]);
        assert_eq!(config[1]["properties"]["type"]["enum"], json!(["tcp"]));
        // A view of the config: every variant, its own fields replacing the config's.
        let view = s["View"]["oneOf"].as_array().unwrap();
        assert_eq!(view.len(), 2);
        assert_eq!(view[1]["required"], json!(["type", "name", "id"]));
        assert_eq!(view[1]["properties"]["regions"]["items"]["type"], "object");
    }

    #[test]
    fn what_it_cannot_read_is_left_alone() {
        let original = json!({"components": {"schemas": {
            "A": {"allOf": [{"$ref": "#/components/schemas/Missing"}, {"type": "object"}]},
            "B": {"oneOf": [{"type": "string"}, {"type": "null"}]},
        }}});
        let mut doc = original.clone();
        flatten_compositions(&mut doc);
        assert_eq!(doc, original);
    }
}
