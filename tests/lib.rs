//! End-to-end test suites of kseal; see `smoke/` and `env/README.md`. The library holds what the
//! differential suites against real peers share.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::PathBuf;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

#[derive(serde::Deserialize)]
struct Known {
    id: String,
    reason: String,
}

/// The verdict of a differential against `peer` (e.g. `ESO v0.16.2`, named `side` beside kseal in
/// listings): prints `N agree, M differ (K cases, PEER)` and each difference with its reason from
/// `known_file` (a YAML list of `id`, `reason`, relative to the repository), or both outcomes when it
/// is not listed; a listed case that agrees is `STALE`. Fails on an unlisted difference or a stale
/// entry. `show_known` also prints both outcomes of the listed differences.
pub fn differential_verdict<T: Debug>(
    known_file: &str,
    peer: &str,
    side: &str,
    case_ids: &BTreeSet<&str>,
    differences: &BTreeMap<String, (T, T)>,
    show_known: bool,
) {
    let known: Vec<Known> =
        serde_saphyr::from_str(&std::fs::read_to_string(repo_root().join(known_file)).unwrap())
            .unwrap();
    let known: BTreeMap<String, String> = known.into_iter().map(|k| (k.id, k.reason)).collect();
    println!(
        "{} agree, {} differ ({} cases, {peer})",
        case_ids.len() - differences.len(),
        differences.len(),
        case_ids.len(),
    );
    let width = side.len().max("kseal".len());
    let mut failures = Vec::new();
    for (id, (theirs, ours)) in differences {
        match known.get(id) {
            Some(reason) => println!("DIFFER {id} (known: {reason})"),
            None => {
                println!("DIFFER {id}");
                failures.push(id.clone());
            }
        }
        if show_known || !known.contains_key(id) {
            println!(
                "  {:<width$} {theirs:?}\n  {:<width$} {ours:?}",
                format!("{side}:"),
                "kseal:",
                width = width + 1
            );
        }
    }
    for id in known.keys() {
        if !differences.contains_key(id) {
            println!(
                "STALE known difference {id}: the case agrees (or is gone: {})",
                !case_ids.contains(id.as_str())
            );
            failures.push(id.clone());
        }
    }
    assert!(failures.is_empty(), "unexplained results: {failures:?}");
}

/// A peer's binary: the path in the environment variable `var`, else what `tests/env/build NAME`
/// builds (or finds cached) and prints.
pub fn built_peer(var: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| {
            let out = std::process::Command::new(repo_root().join("tests/env/build"))
                .arg(name)
                .stderr(std::process::Stdio::inherit())
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
        })
        .unwrap_or_else(|| panic!("tests/env/build {name}"));
    assert!(path.is_file(), "{} is missing", path.display());
    path
}
