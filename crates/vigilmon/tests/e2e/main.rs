//! End-to-end tests: the real `vigilmon` binary, driven the way an operator drives it
//! (its CLI and its HTTP API), against real local targets, on SQLite and PostgreSQL.
//! All end-to-end tests link into this one test binary.

mod agents;
mod alerting;
mod api;
mod as_code;
mod backup;
mod brokers;
mod certificates;
mod channels;
mod cli;
mod cluster;
mod completions;
mod config_file;
mod connections;
mod consensus;
mod databases;
mod fault_run;
mod front_door;
mod grpc;
mod heartbeats;
mod hostile;
mod import;
mod lifecycle;
mod mail;
mod names;
mod pings;
mod redis_health;
mod reload;
mod secrets;
mod status_pages;
mod ui;
mod ui_admin;
mod ui_edit;
mod websockets;

use std::path::Path;

/// The binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vigilmon"))
}

/// Runs the async test body once against each store backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(test_support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body(test_support::Backend::Postgres).await
            }
        }
    };
}
