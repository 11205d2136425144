//! Replays every committed fuzz input (`fuzz/corpus/<target>/*`, minimised by `cargo fuzz cmin`),
//! every crash found and fixed (`fuzz/regressions/<target>/*`, kept by name, never minimised
//! away) and every seed through the target functions the fuzzers run, so `cargo test
//! --workspace` on stable Rust re-checks every input the fuzzers ever kept.

use smtp_fuzz_harness::{seeds, TARGETS};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target)
}

fn regressions_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../regressions")
        .join(target)
}

/// The files in `dir` (none if it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs `f` on `input`, naming the input if it fails.
fn replay(target: &str, name: &str, f: fn(&[u8]), input: &[u8]) -> Option<String> {
    catch_unwind(AssertUnwindSafe(|| f(input)))
        .err()
        .map(|_| format!("{target}: {name}"))
}

#[test]
fn every_corpus_input_passes() {
    let mut failures = Vec::new();
    for &(target, f) in TARGETS {
        let dir = corpus_dir(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus for {target} missing at {}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.expect("a readable corpus directory").path();
            if !path.is_file() {
                continue;
            }
            let input = std::fs::read(&path).expect("a readable corpus file");
            count += 1;
            failures.extend(replay(target, &path.display().to_string(), f, &input));
        }
        assert!(
            count > 0,
            "corpus for {target} at {} is empty",
            dir.display()
        );
        println!("{target}: {count} inputs");
    }
    assert!(
        failures.is_empty(),
        "failing inputs:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_fixed_crash_passes() {
    let mut failures = Vec::new();
    let mut count = 0;
    for &(target, f) in TARGETS {
        for path in files(&regressions_dir(target)) {
            let input = std::fs::read(&path).expect("a readable file");
            count += 1;
            failures.extend(replay(target, &path.display().to_string(), f, &input));
        }
    }
    assert!(count > 0, "no files under fuzz/regressions/");
    assert!(
        failures.is_empty(),
        "failing inputs:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_seed_passes() {
    let mut failures = Vec::new();
    for (target, name, input) in seeds::seeds() {
        let f = TARGETS
            .iter()
            .find(|(t, _)| *t == target)
            .unwrap_or_else(|| panic!("no target {target}"))
            .1;
        failures.extend(replay(target, &name, f, &input));
    }
    assert!(
        failures.is_empty(),
        "failing seeds:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for &(target, _) in TARGETS {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{target}.rs missing"
        );
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "{target} not a [[bin]] of fuzz/Cargo.toml"
        );
    }
}

/// Writes the seeds into `fuzz/corpus/<target>/seed-<name>`. Run by hand, then minimise the
/// corpus with `cargo fuzz cmin` (fuzz/README.md).
#[test]
#[ignore = "writes files: run by hand to refresh the seeds"]
fn write_seeds() {
    for (target, name, input) in seeds::seeds() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(format!("seed-{name}")), input).expect("seed written");
    }
}
