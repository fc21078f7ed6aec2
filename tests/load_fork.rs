//! Live load bench over the Twilio media fork (ignored by default; minutes of full CPU):
//!
//! ```sh
//! cargo test --release --test load_fork -- --ignored --nocapture
//! ```
//!
//! For each level N of `CALLWATCH_LOAD_LEVELS` (default `1,2,3,4`) a fresh `callwatch serve`
//! with the default configuration and the `base` model takes N copies of the Mandarin two-leg
//! telephone fixture (`fixtures/calls/call_zh_8k.wav`, 22 s, 8 kHz) streamed at real time by N
//! concurrent fork clients (`CALLWATCH_LOAD_FIXTURE` picks another call;
//! `CALLWATCH_LOAD_MODEL=ggml-base-q8_0.bin` another model file of `models/`). While they run it
//! scrapes `GET /metrics` every half second for the recognition lag of every live leg; once
//! every call is archived it reads the stage histograms off `/metrics` (quantiles interpolated
//! within buckets, as Prometheus' `histogram_quantile` does) and the recogniser's busy time.
//! It prints one row per level and the capacity: the largest N whose end of utterance ->
//! final p95 stays within 2 s, per core. It asserts only that every call is archived with
//! its utterances; the figures are the output.

mod common;

use common::{archived_call_within, metric_value, root, Server};
use std::process::Command;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn scrape(server: &Server) -> String {
    let (status, body) = common::get_json(&format!("{}/metrics", server.http()));
    assert_eq!(status, 200);
    body.as_str().unwrap().to_string()
}

/// The `q` quantile of histogram `name` (with `labels`, e.g. `kind="final",`), linear within
/// the bucket it falls in.
fn quantile(text: &str, name: &str, labels: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{{labels}le=\"");
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let share = if count > below {
                (rank - below) / (count - below)
            } else {
                1.0
            };
            return Some(lower + (le - lower) * share);
        }
        (lower, below) = (le, count);
    }
    None
}

struct Level {
    calls: usize,
    finals: f64,
    final_p50: f64,
    final_p95: f64,
    hit_p50: f64,
    hit_p95: f64,
    wait_p95: f64,
    decode_p50: f64,
    shed: f64,
    preempted: f64,
    partials: f64,
    busy_share: f64,
    max_lag: f64,
}

fn run_level(n: usize, fixture: &str, model: &str) -> Level {
    let server = Server::start(model, &[]);
    let wav = root().join(format!("fixtures/calls/{fixture}.wav"));
    let t0 = Instant::now();
    let clients: Vec<_> = (0..n)
        .map(|i| {
            Command::new("python3")
                .env("CALLWATCH_TOKEN", &server.token)
                .arg(root().join("tests/clients/fork_client.py"))
                .args(["--base", &server.ws(), "--format", "twilio"])
                .args(["--call-id", &format!("CA-load-{i}")])
                .arg("--wav")
                .arg(&wav)
                .args(["--speed", "1.0", "--param", "queue=load"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("python3 fork client")
        })
        .collect();
    let mut max_lag: f64 = 0.0;
    let mut running = clients;
    while !running.is_empty() {
        let text = scrape(&server);
        for l in text
            .lines()
            .filter(|l| l.starts_with("callwatch_recognition_lag_seconds{"))
        {
            if let Some(v) = l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
                max_lag = max_lag.max(v);
            }
        }
        running.retain_mut(|c| c.try_wait().unwrap().is_none());
        std::thread::sleep(Duration::from_millis(500));
    }
    for i in 0..n {
        let call = archived_call_within(
            &server.http(),
            &format!("CA-load-{i}"),
            Duration::from_secs(300),
        );
        assert!(
            call["utterances"].as_array().is_some_and(|u| !u.is_empty()),
            "{call}"
        );
    }
    let wall = t0.elapsed().as_secs_f64();
    let text = scrape(&server);
    let q = |name: &str, labels: &str, p: f64| quantile(&text, name, labels, p).unwrap_or(f64::NAN);
    Level {
        calls: n,
        finals: metric_value(&text, "callwatch_asr_finals_total"),
        final_p50: q("callwatch_utterance_to_final_seconds", "", 0.5),
        final_p95: q("callwatch_utterance_to_final_seconds", "", 0.95),
        hit_p50: q("callwatch_turn_end_to_hit_seconds", "", 0.5),
        hit_p95: q("callwatch_turn_end_to_hit_seconds", "", 0.95),
        wait_p95: q("callwatch_asr_queue_wait_seconds", "kind=\"final\",", 0.95),
        decode_p50: q("callwatch_asr_decode_seconds", "kind=\"final\",", 0.5),
        shed: metric_value(&text, "callwatch_asr_partials_shed_total"),
        preempted: metric_value(&text, "callwatch_asr_partials_preempted_total"),
        partials: metric_value(&text, "callwatch_asr_partials_total"),
        busy_share: metric_value(&text, "callwatch_asr_busy_seconds_total") / wall,
        max_lag,
    }
}

#[test]
#[ignore = "load bench: minutes of full CPU; run with --release --ignored --nocapture"]
fn concurrent_mandarin_calls_over_the_fork() {
    let levels: Vec<usize> = env_or("CALLWATCH_LOAD_LEVELS", "1,2,3,4")
        .split(',')
        .map(|s| s.trim().parse().expect("CALLWATCH_LOAD_LEVELS: numbers"))
        .collect();
    let fixture = env_or("CALLWATCH_LOAD_FIXTURE", "call_zh_8k");
    let model = env_or("CALLWATCH_LOAD_MODEL", "ggml-base.bin");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    for n in levels {
        eprintln!("load: {n} concurrent {fixture} call(s)");
        rows.push(run_level(n, &fixture, &model));
    }
    println!(
        "\n{fixture}, {model}, default config, {cores} cores; seconds; quantiles from /metrics histograms"
    );
    println!(
        "| calls | finals | utterance end -> final p50 / p95 | turn end -> hit p50 / p95 | queue wait p95 | decode p50 | partials (shed, pre-empted) | recogniser busy | max lag |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} | {:.2} | {} ({}, {}) | {:.0} % | {:.1} |",
            r.calls,
            r.finals,
            r.final_p50,
            r.final_p95,
            r.hit_p50,
            r.hit_p95,
            r.wait_p95,
            r.decode_p50,
            r.partials,
            r.shed,
            r.preempted,
            r.busy_share * 100.0,
            r.max_lag
        );
    }
    let capacity = rows
        .iter()
        .filter(|r| r.final_p95 <= 2.0)
        .map(|r| r.calls)
        .max()
        .unwrap_or(0);
    println!(
        "capacity: {capacity} concurrent two-leg calls with final p95 <= 2 s = {:.1} per core",
        capacity as f64 / cores as f64
    );
}

#[test]
fn histogram_quantile_interpolates_within_the_bucket() {
    let text = "x_bucket{le=\"0.5\"} 2\nx_bucket{le=\"1\"} 6\nx_bucket{le=\"2\"} 10\nx_bucket{le=\"+Inf\"} 10\n";
    // Rank 5 of 10 lies in (0.5, 1]: 3 of its 4 observations in.
    assert!((quantile(text, "x", "", 0.5).unwrap() - 0.875).abs() < 1e-9);
    assert!((quantile(text, "x", "", 1.0).unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(quantile("x_bucket{le=\"+Inf\"} 0\n", "x", "", 0.5), None);
    let labelled = "y_bucket{kind=\"final\",le=\"1\"} 4\ny_bucket{kind=\"final\",le=\"+Inf\"} 4\n";
    assert!((quantile(labelled, "y", "kind=\"final\",", 0.5).unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(metric_value("a_total_x 5\na_total 3\n", "a_total"), 3.0);
}
