//! Replays the fuzz corpus on stable: every file under `fuzz/corpus/<target>/` (the
//! committed seeds) and `fuzz/regressions/<target>/` (every input that once made a
//! target fail, minimized) goes to the function of that name, so `cargo test` keeps
//! each bug the fuzzer found fixed without a nightly toolchain.

use std::path::{Path, PathBuf};

use vigilmon_fuzz_targets as targets;

/// A fuzz target: arbitrary bytes in, a panic on failure.
type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder.
const TARGETS: &[(&str, Target)] = &[
    ("config", targets::config),
    ("api_body", targets::api_body),
    ("ping_path", targets::ping_path),
    ("agent_payload", targets::agent_payload),
    ("redis_info", targets::redis_info),
    ("grpc_answer", targets::grpc_answer),
    ("cron", targets::cron),
    ("duration", targets::duration),
    ("jsonpath", targets::jsonpath),
    ("form", targets::form),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the folder is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, run) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let seeds = inputs("corpus", target);
    assert!(
        !seeds.is_empty(),
        "fuzz/corpus/{target}/ holds no seeds: commit a few"
    );
    for file in seeds.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(file).expect("a readable corpus file");
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!("{target} fails on {}", file.display());
        }
    }
}

#[test]
fn every_corpus_folder_names_a_target() {
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for e in entries {
            let name = e.expect("a corpus folder").file_name();
            let name = name.to_string_lossy();
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/{kind}/{name} names no target"
            );
        }
    }
}

#[test]
fn config() {
    replay("config");
}

#[test]
fn api_body() {
    replay("api_body");
}

#[test]
fn ping_path() {
    replay("ping_path");
}

#[test]
fn agent_payload() {
    replay("agent_payload");
}

#[test]
fn redis_info() {
    replay("redis_info");
}

#[test]
fn grpc_answer() {
    replay("grpc_answer");
}

#[test]
fn cron() {
    replay("cron");
}

#[test]
fn duration() {
    replay("duration");
}

#[test]
fn jsonpath() {
    replay("jsonpath");
}

#[test]
fn form() {
    replay("form");
}
