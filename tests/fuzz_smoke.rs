//! Every cargo-fuzz target in `fuzz/` runs briefly (`CALLWATCH_FUZZ_SECONDS`, default 15 s
//! each) as part of the test suite, starting from the committed seeds in `fuzz/seeds/`; a
//! crash, a panic or a broken invariant in any parser fails the test with the input that
//! caused it. Long runs: see README, "Fuzzing".
//!
//! The fuzz build needs cargo-fuzz (`.ci/setup` installs it) and the nightly-only `-Z` flags
//! cargo-fuzz passes, which the stable compiler accepts under `RUSTC_BOOTSTRAP=1`. It is
//! optimised with debug assertions and overflow checks on (`-O -a`), without a sanitizer
//! (`--sanitizer none`: libFuzzer's coverage guidance still works and the parsers are safe
//! Rust; no leak detection), and without whisper.cpp (the `whisper` feature is off), into
//! `fuzz/` under this build's own target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fuzz build lives next to this build's outputs instead of in the source tree.
fn fuzz_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("fuzz")
}

/// The `[[bin]]` targets declared in fuzz/Cargo.toml.
fn targets() -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    let doc: toml::Value = manifest.parse().expect("fuzz/Cargo.toml is TOML");
    doc["bin"]
        .as_array()
        .expect("fuzz/Cargo.toml declares [[bin]] targets")
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

fn cargo_fuzz(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root())
        .arg("fuzz")
        .args(args)
        // -a: debug assertions and overflow checks stay on, so length arithmetic that wraps
        // is a crash here, not a silent wrong answer.
        .args(["-O", "-a", "--sanitizer", "none", "--target-dir"])
        .arg(fuzz_target_dir())
        .env("RUSTC_BOOTSTRAP", "1");
    cmd
}

#[test]
fn every_fuzz_target_runs_briefly_without_crashing() {
    let version = Command::new(env!("CARGO"))
        .args(["fuzz", "--version"])
        .output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "cargo-fuzz is not installed: run .ci/setup (or `cargo install --locked cargo-fuzz`)"
    );
    let seconds: u32 = std::env::var("CALLWATCH_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let targets = targets();
    assert!(targets.len() >= 10, "fuzz targets: {targets:?}");

    let t0 = std::time::Instant::now();
    let build = cargo_fuzz(&["build"]).output().expect("cargo fuzz build");
    println!("fuzz: build {:.0} s", t0.elapsed().as_secs_f64());
    assert!(
        build.status.success(),
        "cargo fuzz build failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let artifacts = fuzz_target_dir().join("artifacts");
    for target in &targets {
        // A fresh corpus per run keeps the source tree clean; crash inputs are kept.
        let corpus = tempfile::tempdir().unwrap();
        let crashes = artifacts.join(target);
        std::fs::create_dir_all(&crashes).unwrap();
        // The fresh corpus is written; the committed seeds (real messages from the fixtures)
        // are read, so every run starts from valid input instead of nothing.
        let seeds = root().join("fuzz/seeds").join(target);
        assert!(
            seeds.is_dir(),
            "no seed corpus for {target} in {}",
            seeds.display()
        );
        let out = cargo_fuzz(&["run", target])
            .arg(corpus.path())
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", crashes.display()))
            .output()
            .expect("cargo fuzz run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "fuzz target {target} failed; the input is in {}:\n{}",
            crashes.display(),
            &stderr[stderr.len().saturating_sub(6000)..]
        );
        let runs = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("Done ")?.split(' ').next())
            .unwrap_or("?");
        println!("fuzz: {target}: {runs} runs in {seconds} s, no crash");
    }
}
