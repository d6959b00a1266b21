//! The application layer's errors: one type for every step and view that API, UI and
//! public surface share, one mapping to status codes, one JSON shape
//! (`{"error":{"code","message","field"}}`). The API answers with that shape; the UI
//! turns the same error into a page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vigilmon_core::ValidationError;
use vigilmon_store::StoreError;

/// Every way a request can fail (rendered as the API's JSON error body).
#[derive(Debug)]
pub enum AppError {
    /// No, malformed, unknown or revoked credentials.
    Unauthorized(&'static str),
    /// Valid credentials without the needed scope.
    Forbidden(String),
    NotFound(String),
    /// The body is not JSON, or not of the expected shape.
    BadRequest {
        message: String,
        field: Option<String>,
    },
    /// The body parsed but its content is invalid; every problem is listed.
    Invalid(Vec<ValidationError>),
    Conflict {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    PayloadTooLarge(String),
    Unavailable(String),
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: &'static str,
    pub message: String,
    /// The offending field, as a dotted path, when one is to blame.
    pub field: Option<String>,
    /// All validation problems, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ValidationError>,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Unauthorized(m) => f.write_str(m),
            AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::PayloadTooLarge(m)
            | AppError::Unavailable(m)
            | AppError::Internal(m) => f.write_str(m),
            AppError::BadRequest { message, .. } | AppError::Conflict { message, .. } => {
                f.write_str(message)
            }
            AppError::Invalid(errs) => {
                let all: Vec<String> = errs
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                f.write_str(&all.join("; "))
            }
        }
    }
}

impl AppError {
    pub fn bad_request(message: impl Into<String>, field: Option<String>) -> Self {
        AppError::BadRequest {
            message: message.into(),
            field,
        }
    }

    fn parts(self) -> (StatusCode, ErrorDetail) {
        let d = |code, message, field| ErrorDetail {
            code,
            message,
            field,
            details: Vec::new(),
        };
        match self {
            AppError::Unauthorized(m) => (
                StatusCode::UNAUTHORIZED,
                d("unauthorized", m.to_owned(), None),
            ),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, d("forbidden", m, None)),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, d("not_found", m, None)),
            AppError::BadRequest { message, field } => {
                (StatusCode::BAD_REQUEST, d("bad_request", message, field))
            }
            AppError::Invalid(errors) => {
                let first = errors.first().cloned();
                let message = match errors.len() {
                    0 => "invalid input".to_owned(),
                    1 => first.as_ref().map(ToString::to_string).unwrap_or_default(),
                    n => format!(
                        "{} (and {} more problems)",
                        first.as_ref().map(ToString::to_string).unwrap_or_default(),
                        n - 1
                    ),
                };
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorDetail {
                        code: "validation_failed",
                        message,
                        field: first.map(|e| e.field),
                        details: errors,
                    },
                )
            }
            AppError::Conflict {
                code,
                message,
                field,
            } => (StatusCode::CONFLICT, d(code, message, field)),
            AppError::PayloadTooLarge(m) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                d("payload_too_large", m, None),
            ),
            AppError::Unavailable(m) => {
                (StatusCode::SERVICE_UNAVAILABLE, d("unavailable", m, None))
            }
            AppError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, d("internal", m, None)),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let unauthorized = matches!(self, AppError::Unauthorized(_));
        let (status, detail) = self.parts();
        if status.is_server_error() {
            tracing::error!(message = "API request failed", code = detail.code, error = %detail.message);
        }
        let mut resp = (status, axum::Json(ErrorBody { error: detail })).into_response();
        if unauthorized {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"vigilmon\""),
            );
        }
        resp
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("not found".to_owned()),
            StoreError::Conflict { field, message } => AppError::Conflict {
                code: "conflict",
                message,
                field: Some(field.to_owned()),
            },
            other => AppError::Internal(format!("storage error: {other}")),
        }
    }
}
