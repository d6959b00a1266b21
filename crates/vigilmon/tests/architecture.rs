//! The architecture's fitness test: the rules of ARCHITECTURE.md ("Crates" and
//! "Architecture invariants") checked against the workspace itself, so a change that
//! breaks one fails CI instead of eroding the shape unnoticed.
//!
//! - Which workspace crate may depend on which (normal dependencies, from
//!   `cargo metadata`): each crate only on the layers below it. A new crate, or a new
//!   edge, must be added to [`ALLOWED`] — a deliberate, reviewed change.
//! - The remote agent's dependency tree holds no HTTP framework, template engine or
//!   database driver (`axum`, `askama`, `sqlx`): it builds core, probe and scheduling
//!   only.
//! - No crate holds more than 30 % of the workspace's non-test lines of Rust.
//! - No import cycles between the top-level modules of a crate (`crate::a` using
//!   `crate::b` while `crate::b` uses `crate::a`), test code left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Every workspace crate and the workspace crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("vigilmon-core", &[]),
    ("vigilmon-probe", &["vigilmon-core"]),
    ("vigilmon-store", &["vigilmon-core"]),
    ("vigilmon-notify", &["vigilmon-core"]),
    ("vigilmon-schedule", &["vigilmon-core"]),
    (
        "vigilmon-agent",
        &["vigilmon-core", "vigilmon-probe", "vigilmon-schedule"],
    ),
    (
        "vigilmon-engine",
        &[
            "vigilmon-core",
            "vigilmon-probe",
            "vigilmon-store",
            "vigilmon-notify",
            "vigilmon-schedule",
        ],
    ),
    (
        "vigilmon-app",
        &[
            "vigilmon-core",
            "vigilmon-probe",
            "vigilmon-store",
            "vigilmon-notify",
            "vigilmon-schedule",
            "vigilmon-engine",
        ],
    ),
    (
        "vigilmon-api",
        &[
            "vigilmon-core",
            "vigilmon-probe",
            "vigilmon-store",
            "vigilmon-notify",
            "vigilmon-engine",
            "vigilmon-app",
        ],
    ),
    (
        "vigilmon-ui",
        &[
            "vigilmon-core",
            "vigilmon-probe",
            "vigilmon-store",
            "vigilmon-notify",
            "vigilmon-engine",
            "vigilmon-app",
        ],
    ),
    (
        "vigilmon-public",
        &[
            "vigilmon-core",
            "vigilmon-store",
            "vigilmon-engine",
            "vigilmon-app",
        ],
    ),
    (
        "vigilmon-http",
        &[
            "vigilmon-store",
            "vigilmon-engine",
            "vigilmon-app",
            "vigilmon-api",
            "vigilmon-ui",
            "vigilmon-public",
        ],
    ),
    (
        "vigilmon",
        &[
            "vigilmon-core",
            "vigilmon-probe",
            "vigilmon-store",
            "vigilmon-notify",
            "vigilmon-schedule",
            "vigilmon-engine",
            "vigilmon-app",
            "vigilmon-http",
            "vigilmon-agent",
        ],
    ),
    ("test-support", &[]),
    // The fuzz targets call the parsers they fuzz, wherever those live.
    (
        "vigilmon-fuzz-targets",
        &[
            "vigilmon-core",
            "vigilmon-probe",
            "vigilmon-notify",
            "vigilmon-app",
            "vigilmon-ui",
            "vigilmon-public",
        ],
    ),
];

/// Crates the agent must never build.
const NOT_IN_AGENT: &[&str] = &["axum", "askama", "sqlx"];

/// The largest share of the non-test lines one crate may hold.
const MAX_SHARE: f64 = 0.30;

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The workspace's packages: name → (id, manifest directory).
fn workspace(meta: &Value) -> BTreeMap<String, (String, PathBuf)> {
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| members.contains(p["id"].as_str().unwrap()))
        .map(|p| {
            let dir = Path::new(p["manifest_path"].as_str().unwrap())
                .parent()
                .unwrap()
                .to_path_buf();
            (
                p["name"].as_str().unwrap().to_owned(),
                (p["id"].as_str().unwrap().to_owned(), dir),
            )
        })
        .collect()
}

/// The resolved graph's normal (not dev, not build) edges: package id → ids.
fn normal_edges(meta: &Value) -> BTreeMap<String, Vec<String>> {
    meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| d["pkg"].as_str().unwrap().to_owned())
                .collect();
            (n["id"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

fn name_of(meta: &Value, id: &str) -> String {
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn crates_depend_only_on_the_layers_below_them() {
    let meta = metadata();
    let ws = workspace(&meta);
    let edges = normal_edges(&meta);
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut problems = Vec::new();
    for (name, (id, _)) in &ws {
        let Some(may) = allowed.get(name.as_str()) else {
            problems.push(format!(
                "{name} is not in ALLOWED: say which crates it may depend on"
            ));
            continue;
        };
        for dep in edges.get(id).into_iter().flatten() {
            let dep = name_of(&meta, dep);
            if ws.contains_key(&dep) && !may.contains(&dep.as_str()) {
                problems.push(format!("{name} depends on {dep}, which it may not"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_agent_builds_no_http_framework_templates_or_database_driver() {
    let meta = metadata();
    let ws = workspace(&meta);
    let edges = normal_edges(&meta);
    let (agent, _) = &ws["vigilmon-agent"];
    let mut seen = BTreeSet::new();
    let mut todo = vec![agent.clone()];
    while let Some(id) = todo.pop() {
        if seen.insert(id.clone()) {
            todo.extend(edges.get(&id).into_iter().flatten().cloned());
        }
    }
    let names: BTreeSet<String> = seen.iter().map(|id| name_of(&meta, id)).collect();
    for banned in NOT_IN_AGENT {
        assert!(
            !names
                .iter()
                .any(|n| n == banned || n.starts_with(&format!("{banned}-"))),
            "the agent's dependency tree contains {banned}"
        );
    }
    for crate_ in ["vigilmon-engine", "vigilmon-store", "vigilmon-http"] {
        assert!(!names.contains(crate_), "the agent depends on {crate_}");
    }
}

/// Lines of `src` that are not test code: files declared as `#[cfg(test)] mod x;` are
/// left out, and so are `#[cfg(test)] mod x { … }` blocks at the top level.
fn non_test_lines(src: &Path) -> usize {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let mut test_files = BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for w in lines.windows(2) {
            if w[0].trim() == "#[cfg(test)]"
                && let Some(m) = w[1]
                    .trim()
                    .strip_prefix("mod ")
                    .and_then(|r| r.strip_suffix(';'))
            {
                // `mod x;` in a.rs (or lib.rs/mod.rs) is a/x.rs or x.rs or x/mod.rs.
                let dir = f.parent().unwrap();
                let stem = f.file_stem().unwrap().to_str().unwrap();
                let base = if ["lib", "mod", "main"].contains(&stem) {
                    dir.to_path_buf()
                } else {
                    dir.join(stem)
                };
                test_files.insert(base.join(format!("{m}.rs")));
                test_files.insert(base.join(m).join("mod.rs"));
            }
        }
    }
    files
        .iter()
        .filter(|f| !test_files.contains(*f))
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let mut count = 0;
            let mut lines = text.lines().peekable();
            while let Some(line) = lines.next() {
                if line == "#[cfg(test)]"
                    && lines
                        .peek()
                        .is_some_and(|n| n.starts_with("mod ") && n.ends_with('{'))
                {
                    // Skip to the block's closing brace at the start of a line.
                    for l in lines.by_ref() {
                        if l == "}" {
                            break;
                        }
                    }
                    continue;
                }
                count += 1;
            }
            count
        })
        .sum()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_crate_holds_more_than_thirty_percent_of_the_code() {
    let meta = metadata();
    let ws = workspace(&meta);
    let lines: BTreeMap<&str, usize> = ws
        .iter()
        // Test helpers are test code.
        .filter(|(name, _)| name.as_str() != "test-support")
        .map(|(name, (_, dir))| (name.as_str(), non_test_lines(&dir.join("src"))))
        .collect();
    let total: usize = lines.values().sum();
    let table: Vec<String> = lines
        .iter()
        .map(|(n, l)| format!("{n}: {l} ({:.1} %)", 100.0 * *l as f64 / total as f64))
        .collect();
    println!("non-test lines: {total}\n{}", table.join("\n"));
    for (name, l) in &lines {
        assert!(
            (*l as f64) <= MAX_SHARE * total as f64,
            "{name} holds {l} of {total} non-test lines, over {:.0} %:\n{}",
            MAX_SHARE * 100.0,
            table.join("\n")
        );
    }
}

/// The code of a file without test modules and comments.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|n| n.starts_with("mod ") && n.ends_with('{'))
        {
            for l in lines.by_ref() {
                if l == "}" {
                    break;
                }
            }
            continue;
        }
        if !line.trim_start().starts_with("//") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The top-level modules of a crate's `src` and which others each refers to.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut texts = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if ["lib", "main"].contains(&top.as_str()) || rel.ends_with("tests.rs") {
            continue;
        }
        let text = code_of(&std::fs::read_to_string(f).unwrap());
        graph.entry(top.clone()).or_default();
        texts.push((top, rel.components().count() == 1, text));
    }
    let names: BTreeSet<String> = graph.keys().cloned().collect();
    for (top, at_root, text) in texts {
        let mut refs = BTreeSet::new();
        let prefixes: &[&str] = if at_root {
            &["crate::", "super::"]
        } else {
            &["crate::"]
        };
        for p in prefixes {
            for (i, _) in text.match_indices(p) {
                let rest = &text[i + p.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if names.contains(&name) && name != top {
                    refs.insert(name);
                }
            }
        }
        // `use crate::{a, b}` groups.
        for (i, _) in text.match_indices("crate::{") {
            let group: String = text[i + 8..].chars().take_while(|c| *c != '}').collect();
            for part in group.split(',') {
                let name = part.trim().split("::").next().unwrap_or("").to_owned();
                if names.contains(&name) && name != top {
                    refs.insert(name);
                }
            }
        }
        graph.get_mut(&top).unwrap().extend(refs);
    }
    graph
}

/// One cycle in `graph`, if there is any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_a_crate_imports_in_a_circle() {
    let meta = metadata();
    let ws = workspace(&meta);
    let mut problems = Vec::new();
    for (name, (_, dir)) in &ws {
        if let Some(cycle) = find_cycle(&module_graph(&dir.join("src"))) {
            problems.push(format!("{name}: {}", cycle.join(" -> ")));
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles:\n{}",
        problems.join("\n")
    );
}

/// The user guide's page that documents a monitor type's fields.
fn monitor_doc(kind: &str) -> &'static str {
    match kind {
        "redis" => "docs/redis.md",
        "heartbeat" => "docs/heartbeats.md",
        _ => "docs/configuration.md",
    }
}

fn read_doc(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_docs_name_every_field_of_every_monitor_type_and_channel() {
    use vigilmon_core::monitor::{KINDS, common_fields};
    let mut missing = Vec::new();
    let config = read_doc("docs/configuration.md");
    for f in common_fields() {
        if !config.contains(&format!("| `{f}` |")) {
            missing.push(format!("docs/configuration.md: common field `{f}`"));
        }
    }
    for k in KINDS {
        let kind = k.kind.as_str();
        let doc = read_doc(monitor_doc(kind));
        for f in k.fields() {
            if !doc.contains(&format!("`{f}")) {
                missing.push(format!("{}: {kind} field `{f}`", monitor_doc(kind)));
            }
        }
    }
    let notifications = read_doc("docs/notifications.md");
    for c in vigilmon_notify::CHANNELS {
        let row = notifications
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", c.name)));
        match row {
            None => missing.push(format!("docs/notifications.md: a row for `{}`", c.name)),
            Some(row) => {
                for f in c.fields() {
                    if !row.contains(&format!("`{f}`")) {
                        missing.push(format!("docs/notifications.md: {} setting `{f}`", c.name));
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
}
