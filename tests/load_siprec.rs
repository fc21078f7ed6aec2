//! SIPREC load run (ignored by default; it takes minutes and the whole machine):
//!
//! ```sh
//! cargo test --release --test load_siprec -- --ignored --nocapture
//! ```
//!
//! One sipp process places `CALLWATCH_LOAD_CALLS` (default 50) recording sessions, all of them
//! open at once (`-l`), each with the two-stream SIPREC INVITE of `tests/sipp/siprec_call.xml`
//! and the two legs of a fixture call as RTP played from its pcap
//! (`CALLWATCH_LOAD_CALL`: `en`, the default, `fixtures/siprec/call_en_8k_rtp.pcap` with the
//! `tiny.en` model; `zh`, `call_zh_8k_rtp.pcap` with `base`; `CALLWATCH_LOAD_MODEL` overrides
//! the model), against the real `callwatch serve` with `[asr] workers = 2, threads = 1` (one
//! recogniser per core). It asserts what the issue asks of the SRS under overload: every INVITE
//! answered 200, every call archived as ended with both legs, every `transcript.final` sent
//! live also in the archive, no recognition failure, no panic and a clean shutdown; for the
//! English call also the customer's complaint hit in every call. It prints the figures
//! reported in the README (INVITE -> 200 latency, archive delay after the last BYE, partials
//! shed vs finals kept, server CPU).

mod common;

use common::{free_udp_port, get_json, root, Server};
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU seconds the process has used so far (Linux `/proc`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // USER_HZ is 100 on every Linux this runs on.
    ticks / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Live `transcript.final` and `call.ended` events of every call, collected until `calls`
/// calls have ended (or the deadline). One subscriber for all calls: a lag would lose events,
/// so the `events.lagged` notice (always delivered) is checked.
fn subscribe_all(server: &Server, calls: usize) -> mpsc::Receiver<Vec<Value>> {
    let url = format!("{}/v1/events?type=transcript.final,call.ended", server.ws());
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut ws, _) = tokio_tungstenite::connect_async(common::ws_request(&url))
                .await
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut events = Vec::new();
            let mut ended = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(1500);
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
                // Pings (the server's liveness checks) are answered by the library; only text
                // messages are events.
                if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                    let ev: Value = serde_json::from_str(&text).unwrap();
                    ended += usize::from(ev["type"] == "call.ended");
                    events.push(ev);
                    if ended == calls {
                        break;
                    }
                }
            }
            let _ = tx.send(events);
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    rx
}

#[test]
#[ignore = "load run: minutes of full CPU; run with --ignored --nocapture"]
fn fifty_concurrent_siprec_sessions() {
    let calls: usize = env_or("CALLWATCH_LOAD_CALLS", 50);
    let lang: String = env_or("CALLWATCH_LOAD_CALL", "en".to_string());
    let (pcap_name, default_model, pause_ms) = match lang.as_str() {
        "en" => ("call_en_8k_rtp.pcap", "ggml-tiny.en.bin", 25_000),
        "zh" => ("call_zh_8k_rtp.pcap", "ggml-base.bin", 23_000),
        other => panic!("CALLWATCH_LOAD_CALL={other}: use en or zh"),
    };
    let model: String = env_or("CALLWATCH_LOAD_MODEL", default_model.to_string());
    let sip = free_udp_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("callwatch.toml");
    // Two port pairs per session; room for twice the sessions so no INVITE meets a full range.
    let rtp_first = 34000u16;
    std::fs::write(
        &cfg,
        format!(
            "[asr]\nworkers = 2\nthreads = 1\n[sip]\nagent = \"aor:^sip:8\\\\d{{3}}@\"\n[rtp]\nport_min = {rtp_first}\nport_max = {}\n",
            rtp_first as usize + calls * 8 - 1
        ),
    )
    .unwrap();
    let mut server = Server::start(
        &model,
        &[
            "--sip",
            &format!("127.0.0.1:{sip}"),
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    let pid = server.child.id();
    let events = subscribe_all(&server, calls);

    // The scenario plays the pcap by a relative name; sipp runs in a scratch directory (it
    // writes its statistics files there), so the scenario names the fixture by full path, and
    // it waits for the whole pcap before its BYE.
    let pcap = root().join("fixtures/siprec").join(pcap_name);
    let scenario = std::fs::read_to_string(root().join("tests/sipp/siprec_call.xml"))
        .unwrap()
        .replace(
            "play_pcap_audio=\"call_zh_8k_rtp.pcap\"",
            &format!("play_pcap_audio=\"{}\"", pcap.display()),
        )
        .replace(
            "<pause milliseconds=\"23000\"/>",
            &format!("<pause milliseconds=\"{pause_ms}\"/>"),
        );
    assert!(
        scenario.contains(&pcap.display().to_string())
            && scenario.contains(&format!("\"{pause_ms}\""))
    );
    let work = tempfile::tempdir().unwrap();
    let scenario_path = work.path().join("siprec_load.xml");
    std::fs::write(&scenario_path, scenario).unwrap();

    let (_, stats0) = get_json(&format!("{}/v1/stats", server.http()));
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    let out = Command::new("sipp")
        .current_dir(work.path())
        .arg(format!("127.0.0.1:{sip}"))
        .arg("-sf")
        .arg(&scenario_path)
        .args(["-m", &calls.to_string(), "-l", &calls.to_string()])
        .args(["-r", "10", "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args([
            "-mp",
            &free_udp_port().to_string(),
            "-p",
            &free_udp_port().to_string(),
        ])
        .args(["-cid_str", "load-%u-%p", "-nostdin", "-trace_rtt"])
        .args(["-rtt_freq", "1", "-timeout", "600s", "-timeout_error"])
        .output()
        .expect("sipp (apt-get install sip-tester)");
    let sipp_done = t0.elapsed();
    assert!(
        out.status.success(),
        "sipp failed ({}): not every INVITE/BYE was answered\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let sipp_pid = std::fs::read_dir(work.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find_map(|n| {
            n.strip_prefix("siprec_load_")
                .and_then(|r| r.strip_suffix("_rtt.csv"))
                .map(str::to_string)
        })
        .expect("sipp wrote its response-time trace");

    // INVITE -> 200 response times, one per call (sipp's `rtd` on the 200).
    let rtt = std::fs::read_to_string(work.path().join(format!("siprec_load_{sipp_pid}_rtt.csv")))
        .unwrap();
    let mut invite_ms: Vec<f64> = rtt
        .lines()
        .skip(1)
        .filter_map(|l| l.split(';').nth(1)?.trim().parse().ok())
        .collect();
    assert_eq!(
        invite_ms.len(),
        calls,
        "one INVITE -> 200 time per call:\n{rtt}"
    );
    invite_ms.sort_by(f64::total_cmp);

    // Every call in the archive, ended, with both legs.
    let ids: Vec<String> = (1..=calls)
        .map(|n| format!("load-{n}-{sipp_pid}"))
        .collect();
    let mut archived: BTreeMap<String, Value> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(1200);
    while archived.len() < calls {
        for id in &ids {
            if archived.contains_key(id) {
                continue;
            }
            let (code, d) = get_json(&format!("{}/v1/calls/{id}", server.http()));
            if code == 200 && d["ended_at"].is_string() {
                archived.insert(id.clone(), d);
            }
        }
        assert!(
            Instant::now() < deadline,
            "calls not archived: {:?}\n{}",
            ids.iter()
                .filter(|i| !archived.contains_key(*i))
                .collect::<Vec<_>>(),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let all_archived = t0.elapsed();
    let cpu = cpu_seconds(pid) - cpu0;
    let (_, stats1) = get_json(&format!("{}/v1/stats", server.http()));
    let delta = |k: &str| stats1["asr"][k].as_u64().unwrap() - stats0["asr"][k].as_u64().unwrap();

    let mut utterances = 0;
    // Legs without any archived utterance: each leg of the fixture speaks several sentences.
    let mut silent_legs = Vec::new();
    // Calls where the customer's complaint (said in the English call) was not archived.
    let mut unheard = Vec::new();
    let mut archived_ids = BTreeSet::new();
    for (id, d) in &archived {
        assert_eq!(d["source"], "siprec", "{id}: {d}");
        let legs: BTreeSet<(String, String)> = d["legs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["leg"].as_str().unwrap().to_string(),
                    l["speaker"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            legs,
            BTreeSet::from([
                ("label-1".to_string(), "customer".to_string()),
                ("label-2".to_string(), "agent".to_string())
            ]),
            "{id}"
        );
        for u in d["utterances"].as_array().unwrap() {
            if u["dropped"].is_string() {
                continue; // an utterance that produced no transcript, archived with why
            }
            utterances += 1;
            archived_ids.insert(u["id"].as_str().unwrap().to_string());
        }
        for leg in ["label-1", "label-2"] {
            if !d["utterances"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["leg"] == leg && u["dropped"].is_null())
            {
                silent_legs.push(format!("{id}/{leg}"));
            }
        }
        if !d["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["speaker"] == "customer" && h["category"] == "complaint")
        {
            unheard.push(id.clone());
        }
    }

    let events = events
        .recv_timeout(Duration::from_secs(60))
        .expect("event subscriber finished");
    let live_finals: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "transcript.final")
        .collect();
    let finals_done = delta("finals_done");
    let log = server.log_text();
    let stopped = server.stop();

    let invite_avg = invite_ms.iter().sum::<f64>() / invite_ms.len() as f64;
    let wall = all_archived.as_secs_f64();
    println!("load: call {pcap_name}, model {model}, {calls} SIPREC calls offered at 10/s, all {calls} open at once");
    println!(
        "load: INVITE -> 200 ms: p50 {:.1}, p95 {:.1}, max {:.1}, mean {invite_avg:.1} ({} answered)",
        percentile(&invite_ms, 0.5),
        percentile(&invite_ms, 0.95),
        invite_ms[invite_ms.len() - 1],
        invite_ms.len()
    );
    println!(
        "load: last BYE answered after {:.1} s; all calls archived as ended {:.1} s after it",
        sipp_done.as_secs_f64(),
        (all_archived - sipp_done).as_secs_f64()
    );
    println!(
        "load: finals transcribed {finals_done}, archived (non-empty) {utterances}, live finals {}; partials done {}, partials shed {}",
        live_finals.len(),
        delta("partials_done"),
        delta("partials_shed")
    );
    println!(
        "load: customer complaint hit archived in {} of {calls} calls",
        calls - unheard.len()
    );
    println!(
        "load: server CPU {cpu:.1} s over {wall:.1} s = {:.2} cores; whisper audio {:.1} s, busy {:.1} s",
        cpu / wall,
        delta("audio_ms") as f64 / 1000.0,
        delta("busy_ms") as f64 / 1000.0
    );

    // Every final sent live is archived: finals are never shed.
    assert!(
        !events.iter().any(|e| e["type"] == "events.lagged"),
        "the load subscriber lagged; finals could not be compared"
    );
    for f in &live_finals {
        let uid = f["utterance_id"].as_str().unwrap();
        assert!(
            archived_ids.contains(uid),
            "final {uid} of {} sent live but not archived",
            f["call_id"]
        );
    }
    assert_eq!(live_finals.len(), utterances);
    assert_eq!(
        events.iter().filter(|e| e["type"] == "call.ended").count(),
        calls
    );
    assert_eq!(delta("failures"), 0, "recognition failures: {stats1}");
    assert!(finals_done as usize >= utterances, "{stats1}");
    assert!(!log.contains("panicked"), "server panicked:\n{log}");
    assert!(stopped.success(), "unclean shutdown:\n{log}");
    assert!(
        silent_legs.is_empty(),
        "legs with nothing archived: {silent_legs:?}"
    );
    if lang == "en" {
        assert!(unheard.is_empty(), "complaint not heard in {unheard:?}");
    }
}
