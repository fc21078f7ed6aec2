//! Two `callwatch serve` nodes sharing a real `nats-server` (JetStream) as their event bus:
//! a call streamed into node 1 is live on node 2, ids are the same on both so a subscriber
//! resumes on either, and a node keeps transcribing through a NATS outage and catches up.

mod common;
#[path = "archive_support/pg.rs"]
mod pg;

use common::{
    archived_call_within, free_port, get_json, of_type, root, run_fork_client, ws_request,
    EventWatcher, Server,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A JetStream-enabled `nats-server` with its store under a test directory.
struct Nats {
    child: Child,
    port: u16,
    store: PathBuf,
}

fn nats_binary() -> PathBuf {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

impl Nats {
    fn start(store: &Path, port: u16) -> Nats {
        let child = Command::new(nats_binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (apt-get install nats-server)");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "nats-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Nats {
            child,
            port,
            store: store.to_path_buf(),
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.stop();
        *self = Nats::start(&self.store.clone(), self.port);
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `/readyz` of `node` once its status is `want` (panics after `limit`).
fn ready_as(node: &Server, want: &str, limit: Duration) -> Value {
    let t0 = Instant::now();
    loop {
        let (_, body) = get_json(&format!("{}/readyz", node.http()));
        if body["status"] == want {
            return body;
        }
        assert!(
            t0.elapsed() < limit,
            "readyz not `{want}` within {limit:?}: {body}\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The events from `url` (`/v1/events?...`) until `call.ended`.
fn events_until_ended(url: &str, limit: Duration) -> Vec<Value> {
    let events = events_for(url, limit, |e| {
        e.last().is_some_and(|v| v["type"] == "call.ended")
    });
    assert!(
        events.last().is_some_and(|v| v["type"] == "call.ended"),
        "no call.ended from {url} within {limit:?}: {events:?}"
    );
    events
}

fn ids(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| e["id"].as_u64())
        .collect::<Vec<_>>()
}

fn cluster_config(dir: &Path, nats_port: u16) -> PathBuf {
    let cfg = dir.join("cluster.toml");
    std::fs::write(
        &cfg,
        format!("[bus]\nnats = \"nats://127.0.0.1:{nats_port}\"\nmax_age_s = 600\n"),
    )
    .unwrap();
    cfg
}

/// [`cluster_config`] with the archive in the PostgreSQL database at `url`.
fn shared_archive_config(dir: &Path, nats_port: u16, url: &str) -> PathBuf {
    let cfg = cluster_config(dir, nats_port);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("\n[archive]\nurl = \"{url}\"\n"));
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[test]
fn a_call_streamed_into_one_node_is_live_and_archived_on_the_other_with_the_same_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = Nats::start(&tmp.path().join("js"), free_port());
    let postgres = pg::TempPostgres::start();
    let cfg = shared_archive_config(tmp.path(), nats.port, &postgres.database("callwatch"));
    let cfg = cfg.to_str().unwrap();
    let node1 = Server::start("ggml-tiny.en.bin", &["--config", cfg]);
    let node2 = Server::start("ggml-tiny.en.bin", &["--config", cfg]);
    for node in [&node1, &node2] {
        let r = ready_as(node, "ok", Duration::from_secs(30));
        assert_eq!(r["checks"]["bus"]["detail"]["state"], "connected", "{r}");
    }

    let on_node2 = EventWatcher::start(&node2, "cluster-1");
    let wav = root().join("fixtures/calls/call_en_8k.wav");
    // The fork client reads node 1's own /v1/events, which also come back through NATS.
    let on_node1 = run_fork_client(&node1, "twilio", &wav, "cluster-1", 2.0, &[]);
    let seen2 = on_node2.until_call_ended(Duration::from_secs(60));

    let dump = |e: &[Value]| {
        e.iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    for events in [&on_node1, &seen2] {
        assert_eq!(of_type(events, "call.started").len(), 1, "{}", dump(events));
        assert_eq!(of_type(events, "call.ended").len(), 1, "{}", dump(events));
        assert!(
            of_type(events, "transcript.final").len() >= 4,
            "{}",
            dump(events)
        );
        let terms: Vec<&str> = of_type(events, "phrase.hit")
            .iter()
            .filter_map(|h| h["term"].as_str())
            .collect();
        assert!(terms.contains(&"file a complaint"), "{terms:?}");
        assert!(events.iter().all(|e| e["call_id"] == "cluster-1"));
        let ids = ids(events);
        assert_eq!(ids.len(), events.len(), "every event has an id");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend: {ids:?}");
    }
    // One stream: the same events under the same ids on both nodes.
    let finals = |e: &[Value]| -> Vec<(u64, String)> {
        of_type(e, "transcript.final")
            .iter()
            .map(|f| (f["id"].as_u64().unwrap(), f["text"].to_string()))
            .collect()
    };
    assert_eq!(finals(&on_node1), finals(&seen2));

    // Archived once, in the shared PostgreSQL archive, and read back through node 2.
    let call = archived_call_within(&node2.http(), "cluster-1", Duration::from_secs(20));
    // Every final, each once (an utterance the gate dropped is archived without a final).
    let mut archived: Vec<String> = call["utterances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["dropped"].is_null())
        .map(|u| u["text"].to_string())
        .collect();
    let mut published: Vec<String> = finals(&seen2).into_iter().map(|(_, t)| t).collect();
    archived.sort();
    published.sort();
    assert_eq!(archived, published, "{call}");
    let hit_terms: Vec<&str> = call["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["term"].as_str())
        .collect();
    assert!(hit_terms.contains(&"file a complaint"), "{call}");
    let (status, found) = get_json(&format!("{}/v1/search?q=complaint", node2.http()));
    assert_eq!(status, 200, "{found}");
    assert!(
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["call_id"] == "cluster-1"),
        "{found}"
    );
    let (status, list) = get_json(&format!("{}/v1/calls", node2.http()));
    assert_eq!((status, list["total"].as_u64()), (200, Some(1)), "{list}");
    for node in [&node1, &node2] {
        let r = ready_as(node, "ok", Duration::from_secs(5));
        assert_eq!(r["checks"]["archive"]["ok"], true, "{r}");
    }
    // One set of users and tokens, and one audit trail: node 1's token opens node 2, and
    // node 1 lists what was looked at through node 2.
    let (status, _, _) = common::get_with_token(
        &format!("{}/v1/calls/cluster-1", node2.http()),
        &node1.token,
    );
    assert_eq!(status, 200);
    let (status, audit) = get_json(&format!(
        "{}/v1/audit?call_id=cluster-1&limit=50",
        node1.http()
    ));
    assert_eq!(status, 200, "{audit}");
    let whos: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["who"].as_str())
        .collect();
    for harness in [&node1, &node2] {
        let name = format!("harness-{}", harness.http().rsplit(':').next().unwrap());
        assert!(whos.contains(&name.as_str()), "{name} not in {audit}");
    }

    // A subscriber that saw up to the first final resumes on the other node from there.
    let first_final = finals(&seen2)[0].0;
    let resumed = events_until_ended(
        &format!(
            "{}/v1/events?call_id=cluster-1&after={first_final}",
            node1.ws()
        ),
        Duration::from_secs(20),
    );
    let rest: Vec<u64> = ids(&seen2)
        .into_iter()
        .filter(|id| *id > first_final)
        .collect();
    assert_eq!(ids(&resumed), rest);

    // A bad resume point is refused with the reason.
    let url = format!("{}/v1/events?after=yesterday", node2.ws());
    let refused = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(tokio_tungstenite::connect_async(ws_request(&url)));
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 400);
            let body = String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains("after=`yesterday`"), "{body}");
        }
        other => panic!("expected 400, got {other:?}"),
    }
}

#[test]
fn a_node_keeps_transcribing_through_a_nats_outage_and_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(&tmp.path().join("js"), free_port());
    let cfg = cluster_config(tmp.path(), nats.port);
    let cfg = cfg.to_str().unwrap();
    let node1 = Server::start("ggml-tiny.en.bin", &["--config", cfg]);
    let node2 = Server::start("ggml-tiny.en.bin", &["--config", cfg]);
    ready_as(&node1, "ok", Duration::from_secs(30));
    ready_as(&node2, "ok", Duration::from_secs(30));
    let on_node2 = EventWatcher::start(&node2, "outage-1");

    nats.stop();
    let r = ready_as(&node1, "degraded", Duration::from_secs(20));
    assert_eq!(r["checks"]["bus"]["ok"], false, "{r}");
    // Node 1 still takes and transcribes a call; the archive has it at once.
    let wav = root().join("fixtures/calls/call_en_8k.wav");
    let stream = {
        let wav = wav.clone();
        let base = node1.ws();
        let token = node1.token.clone();
        std::thread::spawn(move || {
            let out = Command::new("python3")
                .env("CALLWATCH_TOKEN", token)
                .arg(root().join("tests/clients/fork_client.py"))
                .args(["--base", &base, "--format", "twilio", "--call-id"])
                .arg("outage-1")
                .arg("--wav")
                .arg(&wav)
                .args(["--speed", "2", "--timeout", "15"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stderr).to_string()
        })
    };
    let detail = archived_call_within(&node1.http(), "outage-1", Duration::from_secs(60));
    assert!(
        detail["utterances"]
            .as_array()
            .is_some_and(|u| u.len() >= 4),
        "{detail}"
    );
    // The fork client gave up waiting for events (none flow without NATS).
    let _ = stream.join();
    let (_, r) = get_json(&format!("{}/readyz", node1.http()));
    assert!(
        r["checks"]["bus"]["detail"]["waiting"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the call's events wait in the outbox: {r}"
    );

    // NATS is back: node 1 publishes what waited, and node 2 sees the whole call.
    nats.restart();
    ready_as(&node1, "ok", Duration::from_secs(30));
    let seen2 = on_node2.until_call_ended(Duration::from_secs(30));
    assert_eq!(of_type(&seen2, "call.started").len(), 1, "{seen2:?}");
    // Every archived utterance went out as a final or a counted drop.
    assert_eq!(
        of_type(&seen2, "transcript.final").len() + of_type(&seen2, "utterance.dropped").len(),
        detail["utterances"].as_array().unwrap().len(),
        "{seen2:?}"
    );
}

/// Three calls on one queue are a surge; no node alone takes three.
const SURGE: &str = r#"
[asr]
languages = ["en"]
partials = false

[surge]
warmup_days = 0
min_count = 3
min_expected = 0.2
p_raise = 0.01
p_clear = 0.5
tick_s = 1
"#;

/// The events of `url` for `limit`, or until `done` says the ones so far are enough.
fn events_for(url: &str, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    use futures_util::StreamExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(url))
            .await
            .expect("subscribe to /v1/events");
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
            if let Ok(v) = serde_json::from_str::<Value>(&msg.into_text().unwrap_or_default()) {
                events.push(v);
                if done(&events) {
                    break;
                }
            }
        }
        events
    })
}

#[test]
fn a_surge_spread_over_two_nodes_raises_exactly_one_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = Nats::start(&tmp.path().join("js"), free_port());
    let cfg = tmp.path().join("surge.toml");
    std::fs::write(
        &cfg,
        format!(
            "{SURGE}\n[bus]\nnats = \"nats://127.0.0.1:{}\"\n",
            nats.port
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let node1 = Server::start("ggml-tiny.en.bin", &["--config", cfg]);
    let node2 = Server::start("ggml-tiny.en.bin", &["--config", cfg]);
    ready_as(&node1, "ok", Duration::from_secs(30));
    ready_as(&node2, "ok", Duration::from_secs(30));
    // One node leads (announces surges); give the election a moment.
    std::thread::sleep(Duration::from_secs(3));

    // Two calls into node 1, one into node 2, all on queue `cards`.
    let wav = root().join("fixtures/calls/call_en.wav");
    std::thread::scope(|s| {
        for (i, node) in [&node1, &node1, &node2].into_iter().enumerate() {
            let wav = &wav;
            s.spawn(move || {
                run_fork_client(
                    node,
                    "audio",
                    wav,
                    &format!("spread-{i}"),
                    4.0,
                    &[("queue", "cards"), ("language", "en")],
                )
            });
        }
    });
    // Both nodes count all three calls: the fraud topic is live on each at once.
    for node in [&node1, &node2] {
        let t0 = Instant::now();
        loop {
            let (_, topics) = get_json(&format!("{}/v1/topics?window=15m", node.http()));
            let count = topics["items"]
                .as_array()
                .and_then(|a| a.iter().find(|t| t["key"] == "fraud"))
                .map_or(0, |t| t["count"].as_u64().unwrap_or(0));
            if count == 3 {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "node on {} counts {count} fraud calls, not the cluster's 3: {topics}",
                node.http()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // The minute the calls arrived in closes; one call surge on `cards` is raised, once for
    // the cluster, and every node serves it.
    let is_cards = |e: &Value| {
        e["type"] == "surge.alert"
            && e["metric"] == "calls"
            && e["key"] == "cards"
            && e["state"] == "raised"
    };
    let url = |n: &Server| format!("{}/v1/events?type=surge.alert&after=0", n.ws());
    let first = events_for(&url(&node2), Duration::from_secs(100), |e| {
        e.iter().any(is_cards)
    });
    let logs = || {
        [&node1, &node2]
            .iter()
            .flat_map(|n| n.log_text().lines().map(str::to_string).collect::<Vec<_>>())
            .filter(|l| {
                l.contains("lead")
                    || l.contains("surge")
                    || l.contains("WARN")
                    || l.contains("ERROR")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        first.iter().any(is_cards),
        "no call surge raised: {first:?}\n{}",
        logs()
    );
    // A little longer for any second announcement to show up, then count on both nodes.
    std::thread::sleep(Duration::from_secs(4));
    for node in [&node1, &node2] {
        let all = events_for(&url(node), Duration::from_secs(3), |_| false);
        let raised: Vec<&Value> = all.iter().filter(|e| is_cards(e)).collect();
        assert_eq!(raised.len(), 1, "{raised:?}");
    }
}

/// The shipped lexicons (no rules) copied into `dir`.
fn lexicon_copy(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(root().join("lexicons")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    dir.display().to_string()
}

/// A node's config: its own lexicon directory, English only, on the cluster's NATS.
fn node_config(dir: &Path, name: &str, nats_port: u16) -> PathBuf {
    let lex = lexicon_copy(&dir.join(format!("lex-{name}")));
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[lexicons]\ndir = {lex:?}\n[asr]\nlanguages = [\"en\"]\npartials = false\n\
             [bus]\nnats = \"nats://127.0.0.1:{nats_port}\"\n"
        ),
    )
    .unwrap();
    cfg
}

/// The digest of the set `node` runs, once it is `want` (panics after `limit`).
fn runs_set(node: &Server, want: &str, limit: Duration) {
    let t0 = Instant::now();
    loop {
        let (status, body) = get_json(&format!("{}/v1/admin/inspection", node.http()));
        assert_eq!(status, 200, "{body}");
        if body["digest"] == want {
            return;
        }
        assert!(
            t0.elapsed() < limit,
            "node on {} runs {body}, not set {want}:\n{}",
            node.http(),
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_reload_on_one_node_puts_its_set_in_force_on_every_node() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = Nats::start(&tmp.path().join("js"), free_port());
    let cfg1 = node_config(tmp.path(), "node1", nats.port);
    let cfg2 = node_config(tmp.path(), "node2", nats.port);
    let node1 = Server::start("ggml-tiny.en.bin", &["--config", cfg1.to_str().unwrap()]);
    let node2 = Server::start("ggml-tiny.en.bin", &["--config", cfg2.to_str().unwrap()]);
    ready_as(&node1, "ok", Duration::from_secs(30));
    ready_as(&node2, "ok", Duration::from_secs(30));
    // Same files in different directories: the same set.
    let (_, before) = get_json(&format!("{}/v1/admin/inspection", node1.http()));
    let before = before["digest"].as_str().unwrap().to_string();
    runs_set(&node2, &before, Duration::from_secs(1));

    // A new term on node 1's disk only, reloaded there.
    std::fs::write(
        tmp.path().join("lex-node1/zz_courtesy.toml"),
        "[defaults]\ncategory = \"courtesy\"\nseverity = \"low\"\n\n\
         [[group]]\nterms = [\"thank you for calling\"]\n",
    )
    .unwrap();
    let (status, body) = common::post_json(&format!("{}/v1/admin/reload", node1.http()));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cluster"]["published"], true, "{body}");
    let set = body["digest"].as_str().unwrap().to_string();
    assert_ne!(set, before);
    runs_set(&node2, &set, Duration::from_secs(10));

    // Node 2 matches the term node 1's operator added.
    let greeting = root().join("fixtures/en/agent_greeting.wav");
    let events = run_fork_client(&node2, "audio", &greeting, "reload-1", 2.0, &[]);
    let courtesy = of_type(&events, "phrase.hit")
        .into_iter()
        .filter(|h| h["category"] == "courtesy")
        .count();
    assert_eq!(courtesy, 1, "{}", common::dump_events(&events));
    // It is audited there as the cluster's doing.
    assert!(
        common::audit_outcomes(&node2.http(), "reload").contains(&"ok".to_string()),
        "{}",
        node2.log_text()
    );

    // A node that starts later runs the cluster's set, not its own files.
    let cfg3 = node_config(tmp.path(), "node3", nats.port);
    let node3 = Server::start("ggml-tiny.en.bin", &["--config", cfg3.to_str().unwrap()]);
    runs_set(&node3, &set, Duration::from_secs(20));

    // A forged or broken message on the control subject changes nothing.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = async_nats::connect(format!("127.0.0.1:{}", nats.port))
                .await
                .unwrap();
            let js = async_nats::jetstream::new(client);
            let forged = serde_json::json!({
                "node": "intruder",
                "digest": set,
                "files": {"lexicons": [{"name": "x.toml", "text": ""}], "rules": []}
            });
            for body in [forged.to_string().into_bytes(), b"not json".to_vec()] {
                js.publish("CALLWATCH_EVENTS_CONTROL.inspection", body.into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
        });
    let t0 = Instant::now();
    while !node2.log_text().contains("cluster lexicon set skipped") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{}",
            node2.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for node in [&node1, &node2, &node3] {
        runs_set(node, &set, Duration::from_secs(1));
    }
}

/// A `callwatch worker` process with its log, killed when dropped.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(dir: &Path, name: &str, cfg: &Path) -> Worker {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_callwatch"))
            .arg("worker")
            .arg("--config")
            .arg(cfg)
            .arg("--model")
            .arg(common::model("ggml-tiny.en.bin"))
            .args(["--no-fetch", "--name", name])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let w = Worker { child, log };
        let t0 = Instant::now();
        while !w.log_text().contains("taking recognition jobs") {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "worker {name} did not start:\n{}",
                w.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        w
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The id of the first final this worker took, once it has taken one.
    fn first_final(&self) -> Option<String> {
        let log = self.log_text();
        let line = log.lines().find(|l| l.contains("final taken"))?;
        let at = line.find("id=")? + 3;
        Some(
            line[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect(),
        )
    }

    fn freeze(&self) {
        let ok = Command::new("kill")
            .args(["-STOP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn recognition_runs_on_workers_and_a_worker_killed_mid_utterance_loses_no_final() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = Nats::start(&tmp.path().join("js"), free_port());
    let cfg = cluster_config(tmp.path(), nats.port);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    // Without speculative decoding every final travels as a final job (a speculation is
    // sent as a partial, and redone as a final when its worker is lost).
    text.push_str("\n[asr]\nremote = true\nlanguages = [\"en\"]\n[segment]\nspeculative = false\n");
    std::fs::write(&cfg, &text).unwrap();
    let workers = [
        Worker::start(tmp.path(), "w1", &cfg),
        Worker::start(tmp.path(), "w2", &cfg),
    ];
    // Ingest nodes without a model of their own: every utterance goes to the workers.
    let node1 = Server::start("ggml-tiny.en.bin", &["--config", cfg.to_str().unwrap()]);
    let node2 = Server::start("ggml-tiny.en.bin", &["--config", cfg.to_str().unwrap()]);
    assert!(
        node1.log_text().contains("cluster's recognition workers"),
        "{}",
        node1.log_text()
    );

    // The first worker to take a final is frozen at once, then killed: its final is neither
    // answered nor acknowledged.
    let killer = std::thread::spawn(move || {
        let t0 = Instant::now();
        loop {
            for v in 0..2 {
                if let Some(id) = workers[v].first_final() {
                    workers[v].freeze();
                    return (id, v, workers);
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no worker took a final:\n{}\n{}",
                workers[0].log_text(),
                workers[1].log_text()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    });

    let on_node2 = EventWatcher::start(&node2, "remote-1");
    let wav = root().join("fixtures/calls/call_en_8k.wav");
    run_fork_client(&node1, "twilio", &wav, "remote-1", 2.0, &[]);
    let Ok((job, v, [w1, w2])) = killer.join() else {
        panic!("node 1:\n{}", node1.log_text());
    };
    let (mut victim, survivor) = if v == 0 { (w1, w2) } else { (w2, w1) };
    let _ = victim.child.kill();
    let survivor_log = survivor.log.clone();
    let events = on_node2.until_call_ended(Duration::from_secs(120));

    let dump = || {
        events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let finals = of_type(&events, "transcript.final");
    assert!(finals.len() >= 4, "{}", dump());
    let failed: Vec<_> = of_type(&events, "utterance.dropped")
        .into_iter()
        .filter(|d| d["reason"] == "recognition_failed")
        .collect();
    assert!(failed.is_empty(), "finals lost: {failed:?}");
    let terms: Vec<&str> = of_type(&events, "phrase.hit")
        .iter()
        .filter_map(|h| h["term"].as_str())
        .collect();
    assert!(terms.contains(&"file a complaint"), "{terms:?}");
    // The frozen worker's final was redelivered to the other one.
    let survivor_text = std::fs::read_to_string(&survivor_log).unwrap();
    assert!(
        survivor_text.contains(&job),
        "job {job} not redelivered:\n{survivor_text}"
    );
    // Archived on the ingest node like any call.
    let call = archived_call_within(&node1.http(), "remote-1", Duration::from_secs(20));
    let archived = call["utterances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["dropped"].is_null())
        .count();
    assert_eq!(archived, finals.len(), "{call}");
    drop(survivor);
}
