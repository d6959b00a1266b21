//! `mysql` monitors: log in to a MySQL or MariaDB server (`mysql://` URL, TLS by its
//! `ssl-mode`), run one query in a read-only session (`SELECT 1` unless given) and
//! optionally compare the first column of its first row with `expect.value`. The
//! judging is `crate::assert::evaluate_query`, as for `postgres`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::expect::{
    Accepts, ExpectConfig, WarnConfig, expected_value, refuse_unaccepted, response_time_limit,
    warn_response_time,
};
use super::postgres::checked_query;
use crate::validation::Errors;

/// A `mysql` monitor's own fields, as written in the config file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// `mysql://[user[:password]@]host[:port][/database][?ssl-mode=…]`. The password
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

/// What a `mysql` monitor takes of `expect` and `warn`.
const ACCEPTS: Accepts = Accepts {
    expect: &["value", "response_time"],
    warn: &["response_time"],
};

/// The port used when the URL names none.
pub const DEFAULT_MYSQL_PORT: u16 = 3306;

/// Whether and how the connection is encrypted (the URL's `ssl-mode`, as the MySQL
/// client spells it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MysqlSslMode {
    /// Plain TCP only.
    Disabled,
    /// TLS when the server offers it, without verifying the certificate (the default,
    /// as in the MySQL client).
    Preferred,
    /// TLS or fail, without verifying the certificate.
    Required,
    /// TLS or fail, the certificate verified (chain and name).
    VerifyIdentity,
}

impl MysqlSslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MysqlSslMode::Disabled => "DISABLED",
            MysqlSslMode::Preferred => "PREFERRED",
            MysqlSslMode::Required => "REQUIRED",
            MysqlSslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }
}

/// A validated `mysql` monitor.
#[derive(Debug, Clone)]
pub struct MysqlSpec {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    /// `None`: no default database.
    pub database: Option<String>,
    pub ssl_mode: MysqlSslMode,
    pub query: String,
    /// The text the first column of the first row must equal.
    pub expect_value: Option<String>,
    pub response_time: Option<Duration>,
    pub warn_response_time: Option<Duration>,
}

/// A MySQL URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: Option<String>,
    pub ssl_mode: MysqlSslMode,
}

/// Decodes a percent-encoded URL part.
fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Parses `mysql://[user[:password]@]host[:port][/database][?ssl-mode=…]`. The user
/// defaults to `root`; without a database, none is selected.
pub fn parse_mysql_url(raw: &str) -> Result<MysqlTarget, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("is not a valid URL: {e}"))?;
    if url.scheme() != "mysql" {
        return Err(format!(
            "scheme {:?} is not allowed; use mysql://",
            url.scheme()
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("must include a host, as in mysql://monitor@db.internal:3306/app")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let user = Some(url.username())
        .filter(|u| !u.is_empty())
        .map_or_else(|| "root".to_owned(), decode);
    let password = url.password().map(decode);
    let path = url.path().trim_start_matches('/');
    if path.contains('/') {
        return Err(format!(
            "the path {path:?} must be one database name, as in mysql://db.internal/app"
        ));
    }
    let database = Some(path).filter(|p| !p.is_empty()).map(decode);
    let mut ssl_mode = MysqlSslMode::Preferred;
    for (k, v) in url.query_pairs() {
        match &*k {
            "ssl-mode" => {
                ssl_mode = match v.to_ascii_uppercase().as_str() {
                    "DISABLED" => MysqlSslMode::Disabled,
                    "PREFERRED" => MysqlSslMode::Preferred,
                    "REQUIRED" => MysqlSslMode::Required,
                    "VERIFY_IDENTITY" => MysqlSslMode::VerifyIdentity,
                    _ => {
                        return Err(format!(
                            "ssl-mode {v:?} is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_IDENTITY"
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "the parameter {other:?} is not supported; the URL takes ssl-mode only"
                ));
            }
        }
    }
    if user.contains('\0') || database.as_deref().is_some_and(|d| d.contains('\0')) {
        return Err("the user and database must not contain a NUL byte".into());
    }
    if user.len() > 255 || password.as_deref().is_some_and(|p| p.len() > 255) {
        return Err("the user and password must be at most 255 bytes".into());
    }
    Ok(MysqlTarget {
        host,
        port: url.port().unwrap_or(DEFAULT_MYSQL_PORT),
        user,
        password,
        database,
        ssl_mode,
    })
}

impl MysqlConfig {
    /// Validates the fields into a [`MysqlSpec`], or records every problem in `errs`.
    pub(crate) fn build(&self, errs: &mut Errors) -> Option<MysqlSpec> {
        refuse_unaccepted(
            self.expect.as_ref(),
            self.warn.as_ref(),
            &ACCEPTS,
            "mysql",
            errs,
        );
        let target = match self.url.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(
                    "url",
                    "is required for mysql monitors, as in mysql://monitor@db.internal:3306/app",
                );
                None
            }
            Some(u) => match parse_mysql_url(u) {
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
        Some(MysqlSpec {
            host: t.host,
            port: t.port,
            user: t.user,
            password: t.password,
            database: t.database,
            ssl_mode: t.ssl_mode,
            query,
            expect_value,
            response_time,
            warn_response_time,
        })
    }
}
