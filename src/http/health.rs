//! `/livez` and `/readyz`: what is really alive, for a load balancer or an orchestrator.
//!
//! Live: the process can still recognise speech, i.e. at least one recogniser worker thread
//! runs (restart the process otherwise). Ready: every part a call needs works now: a worker
//! holds a recogniser, the archive writer runs and commits, and the data dir has room.
//! Degraded (still 200): the cluster event bus (NATS) is unreachable or behind. The node
//! keeps transcribing and archiving and publishes the waiting events once NATS is back, so a
//! NATS outage must not take every node out of the load balancer.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::path::Path;

/// One check's verdict and what it saw.
#[derive(Debug, Serialize)]
struct Check {
    ok: bool,
    detail: serde_json::Value,
}

/// `GET /livez` (and `/healthz`).
pub async fn livez(State(app): State<AppState>) -> Response {
    let asr = app.shared.asr.health();
    let ok = asr.alive > 0;
    let checks = serde_json::json!({ "recognizer": Check { ok, detail: serde_json::json!(asr) } });
    verdict(ok, checks)
}

/// `GET /readyz`.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let asr = app.shared.asr.health();
    let recognizer = Check {
        ok: asr.ready > 0,
        detail: serde_json::json!(asr),
    };
    let archive = match app.shared.archive.health() {
        Some(w) => Check {
            ok: w.alive && !w.failing && w.journaled == 0,
            detail: serde_json::json!(w),
        },
        None => Check {
            ok: true,
            detail: serde_json::json!("archiving is off"),
        },
    };
    let min_mb = app.shared.min_free_disk_mb;
    let disk = match free_mb(&app.shared.data_dir) {
        Ok(free) => Check {
            ok: free >= min_mb,
            detail: serde_json::json!({ "free_mb": free, "min_free_mb": min_mb }),
        },
        Err(e) => Check {
            ok: false,
            detail: serde_json::json!(format!(
                "cannot read free space of {}: {e}",
                app.shared.data_dir.display()
            )),
        },
    };
    let health = app.shared.events.health();
    let bus = Check {
        ok: !matches!(health, crate::sinks::events::BusHealth::Degraded { .. }),
        detail: serde_json::json!(health),
    };
    let ok = recognizer.ok && archive.ok && disk.ok;
    let degraded = ok && !bus.ok;
    let checks = serde_json::json!({ "recognizer": recognizer, "archive": archive, "disk": disk, "bus": bus });
    if degraded {
        return (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "degraded", "checks": checks })),
        )
            .into_response();
    }
    verdict(ok, checks)
}

fn verdict(ok: bool, checks: serde_json::Value) -> Response {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body =
        serde_json::json!({ "status": if ok { "ok" } else { "unavailable" }, "checks": checks });
    (status, Json(body)).into_response()
}

/// Free space available to this process on the filesystem holding `dir`, in MiB.
fn free_mb(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize) / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_of_a_real_dir_and_an_error_for_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_mb(dir.path()).is_ok());
        let err = free_mb(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
