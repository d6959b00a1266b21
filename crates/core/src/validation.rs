//! Validation problems: which field, and why. Every config's `build()` collects them
//! all (not just the first) so users fix a config in one pass.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem found in a configuration: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationError {
    /// Dotted path of the field, such as `expect.status[1]`.
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Collects validation errors while walking a config.
#[derive(Default)]
pub(crate) struct Errors(pub(crate) Vec<ValidationError>);

impl Errors {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError::new(field, message));
    }
}

/// The problems of a validation and of a step that ran beside it (such as putting
/// stored secrets back), in that order; a field the second names is not also named by
/// the first (its value was still a placeholder when validated).
pub fn merge_problems(
    first: Result<(), Vec<ValidationError>>,
    second: Result<(), Vec<ValidationError>>,
) -> Result<(), Vec<ValidationError>> {
    match (first, second) {
        (Ok(()), Ok(())) => Ok(()),
        (first, second) => {
            let second = second.err().unwrap_or_default();
            let mut all: Vec<ValidationError> = first
                .err()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| !second.iter().any(|s| s.field == e.field))
                .collect();
            all.extend(second);
            Err(all)
        }
    }
}
