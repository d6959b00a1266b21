//! Forms described as data: each field names the config path it fills (the same
//! dotted names as the YAML and the API, such as `expect.status`), how it is typed
//! in, and which kinds of thing it applies to. From one description come the inputs
//! (labels, hints, placeholders showing the defaults), the JSON document a submitted
//! form becomes (then deserialised and validated by the same code as the API), the
//! values of an existing config for editing, and where each validation error goes.

use serde_json::{Map, Value};
use vigilmon_core::HumanDuration;

use super::FieldErrors;

/// How a field is typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    Text,
    Url,
    /// A humantime duration (`30s`, `1m`); kept as typed.
    Duration,
    /// A whole number.
    Int,
    /// A number such as `0.9`.
    Float,
    /// A checkbox; the value is the default when the box is as it starts.
    Bool(bool),
    /// One of fixed choices (value, label); `""` leaves the field out.
    Select(&'static [(&'static str, &'static str)]),
    /// One of choices given at run time (the policies, channels).
    Dynamic,
    /// Several values, comma-separated, into a list of strings.
    Csv,
    /// A date and time (`datetime-local`); the page converts it to and from an
    /// instant in the viewer's time zone.
    DateTime,
    /// Several of fixed choices (value, label), ticked: into a list of strings.
    Many(&'static [(&'static str, &'static str)]),
    /// Several of choices given at run time (channels, monitors), ticked: into a list
    /// of strings.
    ManyDynamic,
    /// Free text over several lines.
    Textarea,
    /// `Name: value` per line, into an object.
    Headers,
    /// `$.path == value` or `$.path exists` per line, into a list of assertions.
    JsonAsserts,
    /// Status codes and classes, comma-separated (`200, 3xx`); one class alone stays a
    /// string (`"2xx"`).
    Status,
}

/// One field of a form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldDef {
    /// Config path, dotted.
    pub key: &'static str,
    pub label: &'static str,
    pub input: Input,
    /// Kinds it applies to; empty means all.
    pub kinds: &'static [&'static str],
    /// Shown in the empty input: the default, or an example.
    pub placeholder: &'static str,
    pub hint: &'static str,
    pub required: bool,
    /// Index into the form's sections.
    pub section: usize,
}

impl FieldDef {
    pub fn applies(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

/// A field of a form's table, optional until wrapped in [`required`]; `kinds` empty
/// means every kind, `section` indexes the form's sections.
pub(crate) const fn field(
    key: &'static str,
    label: &'static str,
    input: Input,
    kinds: &'static [&'static str],
    placeholder: &'static str,
    hint: &'static str,
    section: usize,
) -> FieldDef {
    FieldDef {
        key,
        label,
        input,
        kinds,
        placeholder,
        hint,
        required: false,
        section,
    }
}

/// The same field, marked required.
pub(crate) const fn required(d: FieldDef) -> FieldDef {
    FieldDef {
        required: true,
        ..d
    }
}

/// The choices of [`Input::Dynamic`] fields for forms that have none.
pub(crate) fn no_dynamic(_: &str) -> Vec<(String, String)> {
    Vec::new()
}

/// A group of fields; `collapsed` ones sit closed in a `<details>` unless a field in
/// them has a value or an error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SectionDef {
    pub title: &'static str,
    pub collapsed: bool,
}

/// A field ready to render.
#[derive(Debug, Clone)]
pub(crate) struct FieldView {
    pub key: String,
    pub id: String,
    pub label: &'static str,
    /// `text`, `url`, `number`, `datetime-local`, `checkbox`, `checkboxes`, `select`
    /// or `textarea`.
    pub input: &'static str,
    pub value: String,
    /// The values ticked, for `checkboxes`.
    pub selected: Vec<String>,
    pub checked: bool,
    pub options: Vec<(String, String)>,
    pub placeholder: &'static str,
    pub hint: &'static str,
    pub error: Option<String>,
    pub required: bool,
    /// Ids of the hint and error, for `aria-describedby`.
    pub describedby: String,
    /// `step` of number inputs.
    pub step: &'static str,
}

/// A section ready to render.
#[derive(Debug, Clone)]
pub(crate) struct SectionView {
    pub title: &'static str,
    pub collapsible: bool,
    pub open: bool,
    pub fields: Vec<FieldView>,
}

/// The values of a form as typed (or as loaded from a config), by key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Values(pub Vec<(String, String)>);

impl Values {
    /// Replaces the value of `key` (adds it when absent).
    pub fn set(&mut self, key: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

/// Builds the sections to render for `kind`, with values and errors.
pub(crate) fn view(
    fields: &[FieldDef],
    sections: &[SectionDef],
    kind: &str,
    values: &Values,
    errors: &FieldErrors,
    dynamic: &dyn Fn(&str) -> Vec<(String, String)>,
) -> Vec<SectionView> {
    let mut out: Vec<SectionView> = sections
        .iter()
        .map(|s| SectionView {
            title: s.title,
            collapsible: s.collapsed,
            open: !s.collapsed,
            fields: Vec::new(),
        })
        .collect();
    for f in fields.iter().filter(|f| f.applies(kind)) {
        let id = f.key.replace(['.', '_'], "-");
        let error = errors.get(f.key);
        let value = values.get(f.key).to_owned();
        let (input, checked, options, step) = match f.input {
            Input::Text | Input::Duration | Input::Csv | Input::Status => {
                ("text", false, Vec::new(), "")
            }
            Input::Url => ("url", false, Vec::new(), ""),
            Input::DateTime => ("datetime-local", false, Vec::new(), ""),
            Input::Int => ("number", false, Vec::new(), "1"),
            Input::Float => ("number", false, Vec::new(), "0.01"),
            Input::Bool(default) => {
                let checked = if values.has(f.key) {
                    matches!(value.as_str(), "on" | "true")
                } else {
                    default
                };
                ("checkbox", checked, Vec::new(), "")
            }
            Input::Select(opts) => (
                "select",
                false,
                opts.iter()
                    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
                    .collect(),
                "",
            ),
            Input::Dynamic => ("select", false, dynamic(f.key), ""),
            Input::Many(opts) => (
                "checkboxes",
                false,
                opts.iter()
                    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
                    .collect(),
                "",
            ),
            Input::ManyDynamic => {
                let mut options = dynamic(f.key);
                // A ticked value that is no longer offered (a deleted channel) stays
                // visible, to be unticked.
                for v in many_values(&value) {
                    if !options.iter().any(|(o, _)| *o == v) {
                        options.push((v.clone(), format!("{v} (unknown)")));
                    }
                }
                ("checkboxes", false, options, "")
            }
            Input::Textarea | Input::Headers | Input::JsonAsserts => {
                ("textarea", false, Vec::new(), "")
            }
        };
        let mut describedby = Vec::new();
        if !f.hint.is_empty() {
            describedby.push(format!("{id}-hint"));
        }
        if error.is_some() {
            describedby.push(format!("{id}-err"));
        }
        if let Some(s) = out.get_mut(f.section) {
            if error.is_some() || (!value.is_empty() && !matches!(f.input, Input::Bool(_))) {
                s.open = true;
            }
            s.fields.push(FieldView {
                key: f.key.to_owned(),
                id,
                label: f.label,
                input,
                selected: many_values(&value),
                value,
                checked,
                options,
                placeholder: f.placeholder,
                hint: f.hint,
                error,
                required: f.required,
                describedby: describedby.join(" "),
                step,
            });
        }
    }
    out.retain(|s| !s.fields.is_empty());
    out
}

/// The values of a `Many` field, one per line as the form keeps them.
fn many_values(value: &str) -> Vec<String> {
    value
        .lines()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The values a submitted form carries for `kind` (checkboxes as `on`/`off`; the
/// ticked boxes of a `Many` field one per line).
pub(crate) fn submitted(fields: &[FieldDef], kind: &str, posted: &[(String, String)]) -> Values {
    let mut out = Vec::new();
    for f in fields.iter().filter(|f| f.applies(kind)) {
        let sent = posted
            .iter()
            .find(|(k, _)| k == f.key)
            .map(|(_, v)| v.clone());
        let v = match f.input {
            Input::Bool(_) => if sent.is_some() { "on" } else { "off" }.to_owned(),
            Input::Many(_) | Input::ManyDynamic => posted
                .iter()
                .filter(|(k, v)| k == f.key && !v.trim().is_empty())
                .map(|(_, v)| v.trim())
                .collect::<Vec<_>>()
                .join("\n"),
            Input::Textarea | Input::Headers | Input::JsonAsserts => {
                sent.unwrap_or_default().replace("\r\n", "\n")
            }
            _ => sent.unwrap_or_default().trim().to_owned(),
        };
        out.push((f.key.to_owned(), v));
    }
    Values(out)
}

/// Sets `value` at dotted `path` in `doc`, creating objects on the way.
fn set_path(doc: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            doc.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = doc
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(m) = child {
                set_path(m, rest, value);
            }
        }
    }
}

/// The value at dotted `path`, if any.
fn get_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, k| v.get(k))
}

/// The JSON document of a submitted form: typed values at their paths. Values that
/// cannot even be read (a duration that is not one, a number that is not) are
/// reported per field and left out.
pub(crate) fn to_json(
    fields: &[FieldDef],
    kind: &str,
    values: &Values,
    errors: &mut FieldErrors,
) -> Value {
    let mut doc = Map::new();
    for f in fields.iter().filter(|f| f.applies(kind)) {
        let raw = values.get(f.key);
        let value = match f.input {
            Input::Bool(default) => {
                let on = raw == "on";
                if on == default {
                    continue;
                }
                Value::Bool(on)
            }
            _ if raw.trim().is_empty() => continue,
            Input::Text
            | Input::Url
            | Input::Textarea
            | Input::Select(_)
            | Input::Dynamic
            | Input::DateTime => Value::String(raw.to_owned()),
            Input::Duration => match HumanDuration::parse(raw) {
                Ok(_) => Value::String(raw.trim().to_owned()),
                Err(e) => {
                    errors.push(f.key, e);
                    continue;
                }
            },
            Input::Int => match raw.trim().parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    errors.push(f.key, format!("{raw:?} is not a whole number"));
                    continue;
                }
            },
            Input::Float => match raw.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Value::from(n),
                _ => {
                    errors.push(f.key, format!("{raw:?} is not a number such as 0.9"));
                    continue;
                }
            },
            Input::Many(_) | Input::ManyDynamic => {
                Value::Array(many_values(raw).into_iter().map(Value::String).collect())
            }
            Input::Csv => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
            Input::Status => {
                let items: Vec<Value> = raw
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| match s.parse::<u64>() {
                        Ok(n) => Value::from(n),
                        Err(_) => Value::String(s.to_owned()),
                    })
                    .collect();
                match items.as_slice() {
                    [Value::String(one)] => Value::String(one.clone()),
                    _ => Value::Array(items),
                }
            }
            Input::Headers => {
                let mut m = Map::new();
                for (i, line) in raw.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match line.split_once(':') {
                        Some((k, v)) if !k.trim().is_empty() => {
                            m.insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
                        }
                        _ => errors.push(
                            f.key,
                            format!("line {}: write each header as Name: value", i + 1),
                        ),
                    }
                }
                Value::Object(m)
            }
            Input::JsonAsserts => {
                let mut list = Vec::new();
                for (i, line) in raw.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    match parse_assertion(line) {
                        Some(a) => list.push(a),
                        None => errors.push(
                            f.key,
                            format!(
                                "line {}: write $.path == value, $.path exists or $.path absent",
                                i + 1
                            ),
                        ),
                    }
                }
                Value::Array(list)
            }
        };
        set_path(&mut doc, f.key, value);
    }
    Value::Object(doc)
}

/// `$.a == "x"`, `$.a exists`, `$.a absent`.
fn parse_assertion(line: &str) -> Option<Value> {
    if let Some((path, value)) = line.split_once("==") {
        let (path, value) = (path.trim(), value.trim());
        if path.is_empty() || value.is_empty() {
            return None;
        }
        let equals = serde_json::from_str::<Value>(value)
            .unwrap_or_else(|_| Value::String(value.to_owned()));
        return Some(serde_json::json!({"path": path, "equals": equals}));
    }
    let (path, exists) = if let Some(p) = line.strip_suffix(" exists") {
        (p, true)
    } else if let Some(p) = line.strip_suffix(" absent") {
        (p, false)
    } else {
        return None;
    };
    let path = path.trim();
    (!path.is_empty()).then(|| serde_json::json!({"path": path, "exists": exists}))
}

/// The form values of an existing config document (the inverse of [`to_json`]).
pub(crate) fn from_json(fields: &[FieldDef], kind: &str, doc: &Value) -> Values {
    let mut out = Vec::new();
    for f in fields.iter().filter(|f| f.applies(kind)) {
        let v = get_path(doc, f.key);
        let text = match (f.input, v) {
            (Input::Bool(default), v) => {
                if v.and_then(Value::as_bool).unwrap_or(default) {
                    "on".to_owned()
                } else {
                    "off".to_owned()
                }
            }
            (_, None | Some(Value::Null)) => String::new(),
            (Input::Headers, Some(Value::Object(m))) => m
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("\n"),
            (Input::JsonAsserts, Some(Value::Array(list))) => list
                .iter()
                .map(|a| {
                    let path = a.get("path").and_then(Value::as_str).unwrap_or_default();
                    match (a.get("equals"), a.get("exists").and_then(Value::as_bool)) {
                        (Some(eq), _) => format!("{path} == {eq}"),
                        (None, Some(false)) => format!("{path} absent"),
                        _ => format!("{path} exists"),
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            (_, Some(Value::Array(list))) => list
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(if matches!(f.input, Input::Many(_) | Input::ManyDynamic) {
                    "\n"
                } else {
                    ", "
                }),
            (_, Some(Value::String(s))) => s.clone(),
            (_, Some(other)) => other.to_string(),
        };
        out.push((f.key.to_owned(), text));
    }
    Values(out)
}

/// The form field a validation error's path belongs to: the longest field key that
/// is the path or a prefix of it (`headers.X-Key` → `headers`, `tags[1]` → `tags`);
/// `""` when none is.
pub(crate) fn field_of(fields: &[FieldDef], kind: &str, path: &str) -> String {
    fields
        .iter()
        .filter(|f| f.applies(kind))
        .map(|f| f.key)
        .filter(|k| {
            path == *k
                || path
                    .strip_prefix(k)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .max_by_key(|k| k.len())
        .unwrap_or("")
        .to_owned()
}

/// Deserialises a form's document into its config type, reporting a shape error at
/// the field it belongs to.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    doc: Value,
    fields: &[FieldDef],
    kind: &str,
    errors: &mut FieldErrors,
) -> Option<T> {
    match serde_path_to_error::deserialize(doc) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            errors.push(field_of(fields, kind, &path), e.inner().to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTIONS: &[SectionDef] = &[SectionDef {
        title: "All",
        collapsed: false,
    }];

    const fn def(key: &'static str, input: Input) -> FieldDef {
        field(key, "x", input, &[], "", "", 0)
    }

    const FIELDS: &[FieldDef] = &[
        def("name", Input::Text),
        def("interval", Input::Duration),
        def("port", Input::Int),
        def("verify_tls", Input::Bool(true)),
        def("tags", Input::Csv),
        def("headers", Input::Headers),
        def("expect.status", Input::Status),
        def("expect.json", Input::JsonAsserts),
        def("memory.warn", Input::Float),
    ];

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_form_becomes_the_config_document_and_back() {
        let p = posted(&[
            ("name", " api "),
            ("interval", "30s"),
            ("port", "6379"),
            ("tags", "cache, prod,"),
            ("headers", "X-Env: prod\r\nAuthorization: Bearer x"),
            ("expect.status", "200, 3xx"),
            (
                "expect.json",
                "$.status == \"ok\"\n$.items exists\n$.error absent",
            ),
            ("memory.warn", "0.8"),
        ]);
        let values = submitted(FIELDS, "http", &p);
        let mut errors = FieldErrors::default();
        let doc = to_json(FIELDS, "http", &values, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            doc,
            serde_json::json!({
                "name": "api", "interval": "30s", "port": 6379, "verify_tls": false,
                "tags": ["cache", "prod"],
                "headers": {"X-Env": "prod", "Authorization": "Bearer x"},
                "expect": {"status": [200, "3xx"], "json": [
                    {"path": "$.status", "equals": "ok"},
                    {"path": "$.items", "exists": true},
                    {"path": "$.error", "exists": false}]},
                "memory": {"warn": 0.8}
            })
        );
        let back = from_json(FIELDS, "http", &doc);
        assert_eq!(back.get("tags"), "cache, prod");
        assert_eq!(back.get("expect.status"), "200, 3xx");
        assert_eq!(back.get("verify_tls"), "off");
        assert_eq!(
            back.get("expect.json"),
            "$.status == \"ok\"\n$.items exists\n$.error absent"
        );
        let again = to_json(FIELDS, "http", &back, &mut errors);
        assert_eq!(again, doc, "editing without changes keeps the config");
    }

    #[test]
    fn unreadable_values_are_reported_per_field() {
        let p = posted(&[
            ("interval", "soon"),
            ("port", "abc"),
            ("headers", "no colon"),
            ("expect.status", "2xx"),
            ("verify_tls", "on"),
        ]);
        let mut errors = FieldErrors::default();
        let doc = to_json(FIELDS, "http", &submitted(FIELDS, "http", &p), &mut errors);
        assert!(errors.has("interval") && errors.has("port") && errors.has("headers"));
        assert_eq!(doc["expect"]["status"], "2xx", "one class stays a string");
        assert!(doc.get("verify_tls").is_none(), "a default is left out");
    }

    #[test]
    fn errors_find_their_fields() {
        assert_eq!(field_of(FIELDS, "http", "headers.X-Key"), "headers");
        assert_eq!(field_of(FIELDS, "http", "tags[1]"), "tags");
        assert_eq!(
            field_of(FIELDS, "http", "expect.json[0].path"),
            "expect.json"
        );
        assert_eq!(field_of(FIELDS, "http", "memory.warn"), "memory.warn");
        assert_eq!(field_of(FIELDS, "http", "type"), "");
        assert_eq!(field_of(FIELDS, "http", "names"), "");
        let v = view(
            FIELDS,
            SECTIONS,
            "http",
            &Values::default(),
            &FieldErrors::default(),
            &|_| Vec::new(),
        );
        assert!(
            v[0].fields
                .iter()
                .find(|f| f.key == "verify_tls")
                .unwrap()
                .checked
        );
    }
}
