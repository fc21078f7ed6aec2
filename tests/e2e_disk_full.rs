//! The archive on a filesystem that fills up while a call streams: live events go on,
//! `/readyz` says the archive is degraded and why, nothing panics, and once space is freed
//! everything that was queued is written. Needs root to mount a small tmpfs; skipped with a
//! message otherwise.

mod common;

use common::{archived_call_within, get_json, of_type, root, run_fork_client, Server};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A small tmpfs, unmounted (lazily, so an open file cannot block it) on drop.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(dir: &Path, size: &str) -> Option<SmallFs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| SmallFs(dir.to_path_buf()))
    }

    /// Writes a file until the filesystem is full; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=4096"])
            .arg(format!("of={}", path.display()))
            .stderr(std::process::Stdio::null())
            .status();
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_degrades_the_archive_and_it_catches_up_when_space_returns() {
    let mnt = tempfile::tempdir().unwrap();
    let Some(fs) = SmallFs::mount(mnt.path(), "4m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CAP_SYS_ADMIN); run the tests as root to check the disk-full behaviour");
        return;
    };
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("disk.toml");
    std::fs::write(
        &cfg,
        format!(
            "[archive]\npath = \"{}\"\n",
            mnt.path().join("callwatch.db").display()
        ),
    )
    .unwrap();
    let mut server = Server::start("ggml-tiny.en.bin", &["--config", cfg.to_str().unwrap()]);
    let base = server.http();
    let (status, ready) = get_json(&format!("{base}/readyz"));
    assert_eq!(status, 200, "{ready}");

    let filler = fs.fill();
    let call_id = "disk-full-call";
    let events = std::thread::scope(|scope| {
        let call = scope.spawn(|| {
            run_fork_client(
                &server,
                "audio",
                &root().join("fixtures/calls/call_en.wav"),
                call_id,
                2.0,
                &[],
            )
        });
        // The call's first writes fail: readiness says the archive is degraded, and why.
        let t0 = Instant::now();
        let degraded = loop {
            let (status, ready) = get_json(&format!("{base}/readyz"));
            if status == 503 && !ready["checks"]["archive"]["detail"]["degraded"].is_null() {
                break ready;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "never degraded: {ready}\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        let detail = &degraded["checks"]["archive"]["detail"];
        assert!(detail["advice"].is_string(), "{degraded}");
        eprintln!("readyz while the disk was full: {detail}");
        call.join().unwrap()
    });
    // Live events went on: the call was heard and announced while nothing could be written.
    assert!(
        of_type(&events, "transcript.final").len() >= 3,
        "{events:?}"
    );
    assert_eq!(of_type(&events, "call.ended").len(), 1);

    // Space returns: the queued ops are written and the service is ready again.
    std::fs::remove_file(&filler).unwrap();
    let detail = archived_call_within(&base, call_id, Duration::from_secs(60));
    let finals = of_type(&events, "transcript.final").len();
    assert_eq!(detail["utterance_count"], finals, "{detail}");
    let t0 = Instant::now();
    loop {
        let (status, ready) = get_json(&format!("{base}/readyz"));
        if status == 200 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{ready}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = server.log_text();
    assert!(log.contains("archive degraded"), "{log}");
    assert!(log.contains("archive writes go through again"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(server.stop().success(), "{}", server.log_text());
    drop(fs);
}
