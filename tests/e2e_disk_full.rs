//! The archive on a filesystem that fills up while a call streams: live events go on,
//! `/readyz` says the archive is degraded and why, nothing panics, and once space is freed
//! everything that was queued is written. What cannot be written goes to the spill journal
//! (its reserve file makes room for it on a full disk), so even a SIGKILL while the disk is
//! full loses nothing: the next start replays it. Needs root to mount a small tmpfs; skipped
//! with a message otherwise.

mod common;

use common::{
    archived_call, archived_call_within, get_json, of_type, root, run_fork_client, Server,
};
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
    // No reserve: the journal has no room either, and the writer holds its bounded queue.
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config(cfg_dir.path(), mnt.path(), 0);
    let mut server = Server::start("ggml-tiny.en.bin", &["--config", cfg.to_str().unwrap()]);
    let base = server.http();
    let filler = fs.fill();
    let call_id = "disk-full-call";
    let events = stream_while_degraded(&server, call_id, |_| true);
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

#[test]
fn kill_9_while_the_disk_is_full_keeps_what_the_spill_journal_held() {
    let mnt = tempfile::tempdir().unwrap();
    let Some(fs) = SmallFs::mount(mnt.path(), "6m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CAP_SYS_ADMIN); run the tests as root to check the disk-full behaviour");
        return;
    };
    // The journal's file lives on another volume (a symlink beside the database), so the
    // database stays full for as long as the test needs while the journal has room: the
    // state a reserve buys, held still.
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("journal.jsonl"),
        mnt.path().join("callwatch.db.spill.jsonl"),
    )
    .unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config(cfg_dir.path(), mnt.path(), 0);
    let cfg_arg = ["--config", cfg.to_str().unwrap()];
    let server = Server::start("ggml-tiny.en.bin", &cfg_arg);
    let filler = fs.fill();
    let call_id = "disk-full-kill";
    let events = stream_while_degraded(&server, call_id, |d| d["journaled"].as_u64() > Some(0));
    let finals = of_type(&events, "transcript.final").len();
    assert!(finals >= 3, "{events:?}");
    assert_eq!(of_type(&events, "call.ended").len(), 1);
    // Everything the call sent is in the journal (none left in the writer's queue)...
    let base = server.http();
    let t0 = Instant::now();
    let journaled = loop {
        let (_, ready) = get_json(&format!("{base}/readyz"));
        let d = &ready["checks"]["archive"]["detail"];
        if d["queued"] == 0 && d["journaled"].as_u64() > Some(0) && d["failing"] == true {
            break d["journaled"].as_u64().unwrap();
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{ready}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let log_before = server.log_text();
    assert!(log_before.contains("archive degraded"), "{log_before}");
    // ...when the service dies. Space returns, and the next start replays the journal.
    let dir = server.kill9();
    std::fs::remove_file(&filler).unwrap();
    let server = Server::start_in("ggml-tiny.en.bin", dir, &cfg_arg);
    let detail = archived_call(&server.http(), call_id);
    assert_eq!(
        detail["utterance_count"],
        finals,
        "{detail}\n{}",
        server.log_text()
    );
    assert!(detail["ended_at"].is_string(), "{detail}");
    let log = server.log_text();
    assert!(log.contains("spill journal replayed"), "{log}");
    assert!(
        !mnt.path().join("callwatch.db.spill.jsonl").exists(),
        "{log}"
    );
    let (status, ready) = get_json(&format!("{}/readyz", server.http()));
    assert_eq!(status, 200, "{ready}");
    eprintln!("{journaled} journaled ops replayed after the kill");
    drop(server);
    drop(fs);
}

/// A configuration in `dir` that puts the archive on `mnt` with a spill reserve of `reserve_mb`.
fn config(dir: &Path, mnt: &Path, reserve_mb: u64) -> PathBuf {
    let cfg = dir.join("disk.toml");
    let db = mnt.join("callwatch.db");
    let text = format!(
        "[archive]\npath = \"{}\"\nspill_reserve_mb = {reserve_mb}\n",
        db.display()
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// Streams the English call fixture (at twice real time) as `call_id` into `server`, whose
/// archive disk is already full, and waits (while it streams) until `/readyz` says the
/// archive is degraded, with `also` true of its detail. Returns the call's events.
fn stream_while_degraded(
    server: &Server,
    call_id: &str,
    also: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let base = server.http();
    std::thread::scope(|scope| {
        let call = scope.spawn(|| {
            run_fork_client(
                server,
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
            let d = &ready["checks"]["archive"]["detail"];
            if status == 503 && !d["degraded"].is_null() && also(d) {
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
    })
}
