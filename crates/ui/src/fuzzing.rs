//! Reading submitted forms without a server, for the fuzz targets
//! (`crates/fuzz-targets`). The form decoders are private to this crate; here a
//! form's fields, as the `Posted` extractor hands them to a handler (urlencoded pairs,
//! decoded), reach them the way the monitor form's handler passes them. Hidden from
//! the docs: not an API.

use vigilmon_core::MonitorConfig;

use crate::form;
use crate::monitor_form::{FIELDS, parse, valid_kind};
use crate::session::get_field;

/// What the monitor form makes of `posted`: the kind from its `type` field, the
/// values of that kind's fields (headers and JSON assertions read from their
/// textareas), the config they describe through the same decoding and validation as
/// a save (`old` is the monitor being edited, if any), and then the edit page's
/// values of that config, secrets masked, submitted once more as they are. Returns
/// the config, or the problems by field.
pub fn monitor_form(
    posted: &[(String, String)],
    old: Option<&MonitorConfig>,
) -> Result<MonitorConfig, Vec<(String, String)>> {
    let kind = valid_kind(&get_field(posted, "type"));
    let values = form::submitted(FIELDS, kind, posted);
    let config = parse(kind, &values, old).map_err(|e| e.list)?;
    let kind = valid_kind(config.kind_name());
    let shown = vigilmon_core::secret::masked(&config);
    let doc = serde_json::to_value(&shown).map_err(|e| vec![(String::new(), e.to_string())])?;
    // A browser sends every input but the checkboxes left unticked.
    let unticked = |key: &str, value: &str| {
        value == "off"
            && FIELDS
                .iter()
                .any(|f| f.key == key && matches!(f.input, form::Input::Bool(_)))
    };
    let mut posted_again: Vec<(String, String)> = form::from_json(FIELDS, kind, &doc)
        .0
        .into_iter()
        .filter(|(k, v)| !unticked(k, v))
        .collect();
    posted_again.push(("type".to_owned(), kind.to_owned()));
    let values = form::submitted(FIELDS, kind, &posted_again);
    parse(kind, &values, Some(&config)).map_err(|e| e.list)?;
    Ok(config)
}
