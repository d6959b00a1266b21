//! `postgres` monitors: log in to a PostgreSQL server (`postgres://` URL, TLS by its
//! `sslmode`), run one query in a read-only session (`SELECT 1` unless given) and
//! optionally compare the first column of its first row with `expect.value`. The
//! judging is `crate::assert::evaluate_query`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::expect::{
    Accepts, ExpectConfig, WarnConfig, expected_value, refuse_unaccepted, response_time_limit,
    warn_response_time,
};
use crate::validation::Errors;

/// A `postgres` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://[user[:password]@]host[:port][/database][?sslmode=…]`. The password
    /// is a secret, never shown back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The query to run, in a read-only session. Default `SELECT 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<WarnConfig>,
}

/// What a `postgres` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &["value", "response_time"],
    warn: &["response_time"],
};

/// The query run when none is given.
pub const DEFAULT_QUERY: &str = "SELECT 1";
/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// The port used when the URL names none.
pub const DEFAULT_POSTGRES_PORT: u16 = 5432;

/// Whether and how the connection is encrypted (the URL's `sslmode`, as libpq
/// spells it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgSslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, without verifying the certificate (the default,
    /// as in libpq).
    Prefer,
    /// TLS or fail, without verifying the certificate.
    Require,
    /// TLS or fail, the certificate verified (chain and name).
    VerifyFull,
}

impl PgSslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PgSslMode::Disable => "disable",
            PgSslMode::Prefer => "prefer",
            PgSslMode::Require => "require",
            PgSslMode::VerifyFull => "verify-full",
        }
    }
}

/// A validated `postgres` monitor.
#[derive(Debug, Clone)]
pub struct PostgresSpec {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub sslmode: PgSslMode,
    pub query: String,
    /// The text the first column of the first row must equal.
    pub expect_value: Option<String>,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

/// A PostgreSQL URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub sslmode: PgSslMode,
}

/// Decodes a percent-encoded URL part.
fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Parses `postgres://[user[:password]@]host[:port][/database][?sslmode=…]`
/// (`postgresql://` too). The user defaults to `postgres`, the database to the user.
pub fn parse_postgres_url(raw: &str) -> Result<PostgresTarget, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "scheme {:?} is not allowed; use postgres://",
            url.scheme()
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("must include a host, as in postgres://user@db.internal:5432/app")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let user = Some(url.username())
        .filter(|u| !u.is_empty())
        .map_or_else(|| "postgres".to_owned(), decode);
    let password = url.password().map(decode);
    let path = url.path().trim_start_matches('/');
    if path.contains('/') {
        return Err(format!(
            "the path {path:?} must be one database name, as in postgres://db.internal/app"
        ));
    }
    let database = if path.is_empty() {
        user.clone()
    } else {
        decode(path)
    };
    let mut sslmode = PgSslMode::Prefer;
    for (k, v) in url.query_pairs() {
        match &*k {
            "sslmode" => {
                sslmode = match &*v {
                    "disable" => PgSslMode::Disable,
                    "prefer" => PgSslMode::Prefer,
                    "require" => PgSslMode::Require,
                    "verify-full" => PgSslMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode {other:?} is not one of disable, prefer, require, verify-full"
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "the parameter {other:?} is not supported; the URL takes sslmode only"
                ));
            }
        }
    }
    for (what, v) in [("user", &user), ("database", &database)] {
        if v.contains('\0') {
            return Err(format!("the {what} must not contain a NUL byte"));
        }
    }
    if password.as_deref().is_some_and(|p| p.contains('\0')) {
        return Err("the password must not contain a NUL byte".into());
    }
    Ok(PostgresTarget {
        host,
        port: url.port().unwrap_or(DEFAULT_POSTGRES_PORT),
        user,
        password,
        database,
        sslmode,
    })
}

/// Checks a monitor's `query`: not empty, at most [`MAX_QUERY_BYTES`], no NUL byte.
pub(crate) fn checked_query(query: Option<&str>, errs: &mut Errors) -> String {
    let q = query.map_or(DEFAULT_QUERY, str::trim);
    if q.is_empty() {
        errs.push("query", "must not be empty; leave it out for SELECT 1");
    } else if q.len() > MAX_QUERY_BYTES {
        errs.push(
            "query",
            format!("must be at most {} kB", MAX_QUERY_BYTES / 1024),
        );
    } else if q.contains('\0') {
        errs.push("query", "must not contain a NUL byte");
    }
    q.to_owned()
}

impl PostgresConfig {
    /// Validates the fields into a [`PostgresSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<PostgresSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "postgres",
            errs,
        );
        let target = match self.url.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(
                    "url",
                    "is required for postgres monitors, as in postgres://monitor@db.internal:5432/app",
                );
                None
            }
            Some(u) => match parse_postgres_url(u) {
                Ok(t) => Some(t),
                Err(m) => {
                    errs.push("url", m);
                    None
                }
            },
        };
        let query = checked_query(self.query.as_deref(), errs);
        let expect_value = expected_value(self.expect.as_ref(), errs);
        let response_time = response_time_limit(self.expect.as_ref(), errs);
        let warn_response_time = warn_response_time(self.warn.as_ref(), errs, response_time);
        let t = target?;
        Some(PostgresSpec {
            host: t.host,
            port: t.port,
            user: t.user,
            password: t.password,
            database: t.database,
            sslmode: t.sslmode,
            query,
            expect_value,
            response_time,
            warn_response_time,
        })
    }
}
