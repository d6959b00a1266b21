//! Encoding of domain values into columns and decoding of rows back, shared by both
//! backends.
//!
//! [`Cols`] is the only per-backend part: typed column access, implemented for
//! SQLite's and PostgreSQL's row types by one macro. [`Reader`] builds on it, once for
//! both backends, turning every decoding failure into [`StoreError::Corrupt`] naming
//! the table and column.

use std::fmt::Display;

use jiff::Timestamp;
use sqlx::Row;
use sqlx::types::Json;
use uuid::Uuid;
use vigilmon_core::{ErrorKind, MonitorConfig, MonitorState, RegionName};

use crate::StoreError;

/// Typed access to a row's columns, by name.
pub(crate) trait Cols {
    fn get_uuid(&self, col: &str) -> Result<Uuid, sqlx::Error>;
    fn get_opt_uuid(&self, col: &str) -> Result<Option<Uuid>, sqlx::Error>;
    fn get_i64(&self, col: &str) -> Result<i64, sqlx::Error>;
    fn get_opt_i64(&self, col: &str) -> Result<Option<i64>, sqlx::Error>;
    fn get_string(&self, col: &str) -> Result<String, sqlx::Error>;
    fn get_opt_string(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
    fn get_bool(&self, col: &str) -> Result<bool, sqlx::Error>;
    fn get_opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;
    fn get_config(&self, col: &str) -> Result<MonitorConfig, sqlx::Error>;
}

macro_rules! impl_cols {
    ($($row:ty => $ints:ident),+) => {$(
        impl Cols for $row {
            fn get_uuid(&self, col: &str) -> Result<Uuid, sqlx::Error> {
                self.try_get(col)
            }
            fn get_opt_uuid(&self, col: &str) -> Result<Option<Uuid>, sqlx::Error> {
                self.try_get(col)
            }
            fn get_i64(&self, col: &str) -> Result<i64, sqlx::Error> {
                match self.get_opt_i64(col)? {
                    Some(v) => Ok(v),
                    // The driver's own error for a NULL where a value must be.
                    None => self.try_get(col),
                }
            }
            fn get_opt_i64(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
                $ints(self, col)
            }
            fn get_string(&self, col: &str) -> Result<String, sqlx::Error> {
                self.try_get(col)
            }
            fn get_opt_string(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(col)
            }
            fn get_bool(&self, col: &str) -> Result<bool, sqlx::Error> {
                self.try_get(col)
            }
            fn get_opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
                self.try_get(col)
            }
            fn get_config(&self, col: &str) -> Result<MonitorConfig, sqlx::Error> {
                self.try_get::<Json<MonitorConfig>, _>(col).map(|j| j.0)
            }
        }
    )+};
}

impl_cols!(sqlx::sqlite::SqliteRow => sqlite_opt_int, sqlx::postgres::PgRow => pg_opt_int);

/// An integer column of a SQLite row (every integer is 64-bit there).
fn sqlite_opt_int(row: &sqlx::sqlite::SqliteRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
    row.try_get(col)
}

/// An integer column of a PostgreSQL row, whichever of its integer types the column has
/// (`check_results` keeps small numbers in `SMALLINT` and `INTEGER`).
fn pg_opt_int(row: &sqlx::postgres::PgRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
    use sqlx::{TypeInfo, ValueRef};
    let kind = row.try_get_raw(col)?.type_info().name().to_owned();
    match kind.as_str() {
        "INT2" => Ok(row.try_get::<Option<i16>, _>(col)?.map(i64::from)),
        "INT4" => Ok(row.try_get::<Option<i32>, _>(col)?.map(i64::from)),
        _ => row.try_get(col),
    }
}

/// Reads the columns of one row of `table`, reporting failures as corruption.
pub(crate) struct Reader<'r, R> {
    row: &'r R,
    table: &'static str,
}

impl<'r, R: Cols> Reader<'r, R> {
    pub(crate) fn new(row: &'r R, table: &'static str) -> Self {
        Self { row, table }
    }

    /// A [`StoreError::Corrupt`] for column `col` of this row's table.
    pub(crate) fn corrupt(&self, col: &str, why: impl Display) -> StoreError {
        StoreError::Corrupt(format!("{}.{col}: {why}", self.table))
    }

    fn wrap<T>(&self, col: &str, r: Result<T, sqlx::Error>) -> Result<T, StoreError> {
        r.map_err(|e| self.corrupt(col, e))
    }

    pub(crate) fn uuid(&self, col: &str) -> Result<Uuid, StoreError> {
        self.wrap(col, self.row.get_uuid(col))
    }

    pub(crate) fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        self.wrap(col, self.row.get_opt_uuid(col))
    }

    pub(crate) fn i64(&self, col: &str) -> Result<i64, StoreError> {
        self.wrap(col, self.row.get_i64(col))
    }

    pub(crate) fn string(&self, col: &str) -> Result<String, StoreError> {
        self.wrap(col, self.row.get_string(col))
    }

    pub(crate) fn opt_string(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.wrap(col, self.row.get_opt_string(col))
    }

    pub(crate) fn bool(&self, col: &str) -> Result<bool, StoreError> {
        self.wrap(col, self.row.get_bool(col))
    }

    pub(crate) fn config(&self, col: &str) -> Result<MonitorConfig, StoreError> {
        self.wrap(col, self.row.get_config(col))
    }

    pub(crate) fn timestamp(&self, col: &str) -> Result<Timestamp, StoreError> {
        let ms = self.i64(col)?;
        self.to_timestamp(col, ms)
    }

    pub(crate) fn opt_timestamp(&self, col: &str) -> Result<Option<Timestamp>, StoreError> {
        match self.wrap(col, self.row.get_opt_i64(col))? {
            Some(ms) => self.to_timestamp(col, ms).map(Some),
            None => Ok(None),
        }
    }

    fn to_timestamp(&self, col: &str, ms: i64) -> Result<Timestamp, StoreError> {
        Timestamp::from_millisecond(ms).map_err(|e| self.corrupt(col, e))
    }

    pub(crate) fn u64(&self, col: &str) -> Result<u64, StoreError> {
        let v = self.i64(col)?;
        u64::try_from(v).map_err(|_| self.corrupt(col, format!("negative value {v}")))
    }

    pub(crate) fn opt_u64(&self, col: &str) -> Result<Option<u64>, StoreError> {
        match self.wrap(col, self.row.get_opt_i64(col))? {
            Some(v) => u64::try_from(v)
                .map(Some)
                .map_err(|_| self.corrupt(col, format!("negative value {v}"))),
            None => Ok(None),
        }
    }

    pub(crate) fn u32(&self, col: &str) -> Result<u32, StoreError> {
        let v = self.i64(col)?;
        u32::try_from(v).map_err(|_| self.corrupt(col, format!("{v} is out of range")))
    }

    pub(crate) fn opt_u16(&self, col: &str) -> Result<Option<u16>, StoreError> {
        match self.wrap(col, self.row.get_opt_i64(col))? {
            Some(v) => u16::try_from(v)
                .map(Some)
                .map_err(|_| self.corrupt(col, format!("{v} is out of range"))),
            None => Ok(None),
        }
    }

    pub(crate) fn state(&self, col: &str) -> Result<MonitorState, StoreError> {
        let s = self.string(col)?;
        MonitorState::parse(&s).ok_or_else(|| self.corrupt(col, format!("unknown state {s:?}")))
    }

    pub(crate) fn opt_error_kind(&self, col: &str) -> Result<Option<ErrorKind>, StoreError> {
        match self.opt_string(col)? {
            Some(s) => ErrorKind::parse(&s)
                .map(Some)
                .ok_or_else(|| self.corrupt(col, format!("unknown error kind {s:?}"))),
            None => Ok(None),
        }
    }

    /// A [`MonitorState`] stored as its code (`check_results`).
    pub(crate) fn state_code(&self, col: &str) -> Result<MonitorState, StoreError> {
        let code = self.i64(col)?;
        MonitorState::from_code(code)
            .ok_or_else(|| self.corrupt(col, format!("unknown state code {code}")))
    }

    /// An optional [`ErrorKind`] stored as its code (`check_results`).
    pub(crate) fn opt_error_kind_code(&self, col: &str) -> Result<Option<ErrorKind>, StoreError> {
        match self.wrap(col, self.row.get_opt_i64(col))? {
            Some(code) => ErrorKind::from_code(code)
                .map(Some)
                .ok_or_else(|| self.corrupt(col, format!("unknown error kind code {code}"))),
            None => Ok(None),
        }
    }

    /// An optional peer address stored in its byte form (`check_results`).
    pub(crate) fn opt_peer(&self, col: &str) -> Result<Option<String>, StoreError> {
        match self.wrap(col, self.row.get_opt_bytes(col))? {
            Some(bytes) => crate::compact::peer_text(&bytes)
                .map(Some)
                .ok_or_else(|| self.corrupt(col, format!("unreadable peer {bytes:?}"))),
            None => Ok(None),
        }
    }

    pub(crate) fn region(&self, col: &str) -> Result<RegionName, StoreError> {
        let s = self.string(col)?;
        RegionName::parse(&s).map_err(|e| self.corrupt(col, e))
    }
}

/// A timestamp as stored: epoch milliseconds (sub-millisecond precision is dropped).
pub(crate) fn ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

/// An optional timestamp as stored.
pub(crate) fn opt_ms(ts: Option<Timestamp>) -> Option<i64> {
    ts.map(ms)
}

/// `ts` with the precision the store keeps, so a returned record equals a re-read one.
pub(crate) fn truncate_ms(ts: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(ts.as_millisecond()).unwrap_or(ts)
}

/// A count or duration as stored (a signed 64-bit column); saturates, as no real
/// duration comes near `i64::MAX` milliseconds.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An optional count or duration as stored.
pub(crate) fn opt_int(v: Option<u64>) -> Option<i64> {
    v.map(int)
}

/// A duration or status code in `check_results`, whose columns are 32-bit on
/// PostgreSQL; saturates (no real check takes 24 days).
pub(crate) fn int32(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// An optional [`int32`].
pub(crate) fn opt_int32(v: Option<u64>) -> Option<i32> {
    v.map(int32)
}

/// `$first, $first+1, …` for `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$query` with every id of `$ids` (monitor ids) bound after the binds it has, for the
/// `IN (…)` lists [`placeholders`] writes.
macro_rules! bind_ids {
    ($query:expr, $ids:expr) => {{
        let mut q = $query;
        for id in $ids {
            q = q.bind(id.0);
        }
        q
    }};
}
pub(crate) use bind_ids;
