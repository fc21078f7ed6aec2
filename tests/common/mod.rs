//! Test harness: runs the real `callwatch serve` binary on a free loopback port with a
//! temporary data directory, and the real Python fork clients against it.
#![allow(dead_code)]

pub mod labels;
pub mod sidecar;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a `callwatch` subcommand from the crate root with `--data-dir data_dir`; returns
/// whether it succeeded, its stdout and its stderr.
pub fn callwatch(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .current_dir(root())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The model the end-to-end tests use; fails loudly when it has not been fetched.
pub fn model(name: &str) -> PathBuf {
    let p = root().join("models").join(name);
    assert!(
        p.is_file(),
        "{} missing: run `cargo run -- model fetch {}` (or .ci/setup) first",
        p.display(),
        name.trim_start_matches("ggml-").trim_end_matches(".bin")
    );
    p
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server; killed (SIGTERM, then SIGKILL) on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub data_dir: tempfile::TempDir,
    pub log: PathBuf,
    /// An admin API token made with `callwatch token create` before the start; the helpers
    /// here send it with every request to this server.
    pub token: String,
    /// The self-signed certificate a server started with `--tls-cert` serves (it is its own
    /// CA); `None` for plain HTTP.
    pub ca: Option<PathBuf>,
}

/// Tokens of the servers started by this test binary, by HTTP port.
static TOKENS: std::sync::Mutex<Vec<(u16, String)>> = std::sync::Mutex::new(Vec::new());

/// The token of the server `url` points at (`http://127.0.0.1:PORT/...`, `ws://...`).
pub fn token_for(url: &str) -> Option<String> {
    let port: u16 = url
        .split("://")
        .nth(1)?
        .split(['/', '?'])
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()?;
    TOKENS
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(p, _)| *p == port)
        .map(|(_, t)| t.clone())
}

/// A WebSocket request for `url` carrying its server's token.
pub fn ws_request(url: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    if let Some(t) = token_for(url) {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    req
}

/// A reqwest client that sends `server`'s token.
pub fn client(server: &Server) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", server.token).parse().unwrap(),
    );
    let mut b = reqwest::Client::builder().default_headers(h);
    if let Some(ca) = &server.ca {
        let pem = std::fs::read(ca).unwrap();
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// Makes an API token on the data dir (and configuration) a server is about to use.
pub fn make_token(data_dir: &Path, extra: &[&str], name: &str, role: &str) -> String {
    let mut args = vec!["token", "create", "--name", name, "--role", role];
    if let Some(i) = extra.iter().position(|a| *a == "--config") {
        args.extend(["--config", extra[i + 1]]);
    }
    let (ok, out, err) = callwatch(data_dir, &args);
    assert!(ok, "token create failed: {err}");
    out.trim().to_string()
}

impl Server {
    pub fn start(model_file: &str, extra: &[&str]) -> Server {
        Server::start_in(model_file, tempfile::tempdir().unwrap(), extra)
    }

    /// Starts a server on an existing data dir (one a killed server left, say).
    pub fn start_in(model_file: &str, data_dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let model = model(model_file);
        let port = free_port();
        let token = make_token(data_dir.path(), extra, &format!("harness-{port}"), "admin");
        TOKENS.lock().unwrap().push((port, token.clone()));
        let log = data_dir.path().join(format!("server-{port}.log"));
        let logf = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_callwatch"))
            .current_dir(root())
            .args(["serve", "--no-fetch", "--http"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("--model")
            .arg(&model)
            .args(extra)
            .env("RUST_LOG", "info,callwatch=debug")
            .env_remove("CALLWATCH_PASSWORD")
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("spawn callwatch serve");
        let ca = extra
            .iter()
            .position(|a| *a == "--tls-cert")
            .map(|i| PathBuf::from(extra[i + 1]));
        let mut s = Server {
            child,
            port,
            data_dir,
            log,
            token,
            ca,
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("server exited early ({status}):\n{}", self.log_text());
            }
            // A connect to a port in the ephemeral range that nothing listens on can connect
            // the socket to itself; that is not the server.
            if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                if c.local_addr().ok() != c.peer_addr().ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server not ready after 60 s:\n{}", self.log_text());
    }

    /// The base URL; `https://localhost:PORT` (the name in the test certificates) under TLS.
    pub fn http(&self) -> String {
        match self.ca {
            Some(_) => format!("https://localhost:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    pub fn ws(&self) -> String {
        match self.ca {
            Some(_) => format!("wss://localhost:{}", self.port),
            None => format!("ws://127.0.0.1:{}", self.port),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server with SIGKILL, as a crash would, and hands back its data dir.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data_dir, dir)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(60) {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("server did not stop within 60 s:\n{}", self.log_text());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the Python fork client; returns the events it received (JSON lines).
pub fn run_fork_client(
    server: &Server,
    format: &str,
    wav: &Path,
    call_id: &str,
    speed: f32,
    params: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    let mut cmd = Command::new("python3");
    cmd.env("CALLWATCH_TOKEN", &server.token);
    if let Some(ca) = &server.ca {
        cmd.env("CALLWATCH_CAFILE", ca);
    }
    cmd.arg(root().join("tests/clients/fork_client.py"))
        .args([
            "--base",
            &server.ws(),
            "--format",
            format,
            "--call-id",
            call_id,
        ])
        .arg("--wav")
        .arg(wav)
        .args(["--speed", &speed.to_string()]);
    for (k, v) in params {
        cmd.args(["--param", &format!("{k}={v}")]);
    }
    let out = cmd
        .output()
        .expect("python3 fork client (pip install websockets)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fork client failed ({}):\n{}\n{}\nserver log:\n{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("event JSON"))
        .collect()
}

/// `/v1/calls/{call_id}` once the call has ended in the archive (polls for up to 5 s).
pub fn archived_call(base: &str, call_id: &str) -> serde_json::Value {
    archived_call_within(base, call_id, Duration::from_secs(5))
}

/// `/v1/calls/{call_id}` once the call has ended in the archive, polling for up to `limit`
/// (calls whose end waits on an inactivity timeout or a recognition backlog).
pub fn archived_call_within(base: &str, call_id: &str, limit: Duration) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let (status, d) = get_json(&format!("{base}/v1/calls/{call_id}"));
        if status == 200 && d["ended_at"].is_string() {
            return d;
        }
        assert!(
            t0.elapsed() < limit,
            "call {call_id} not archived as ended within {limit:?}: {d}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The events of one type, in order.
pub fn of_type<'a>(events: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

/// Events one per line, for assertion messages.
pub fn dump_events(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A UDP port that was free a moment ago (for sipp, RTP senders and SIP listeners).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET a JSON document.
/// The value of the sample `sample` (its name and labels exactly, e.g.
/// `x_total{kind="final"}`) in a Prometheus text exposition; 0 when it is absent.
pub fn metric_value(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// GET `url` with `token` as a bearer credential: status, content type and body.
pub fn get_with_token(url: &str, token: &str) -> (u16, String, Vec<u8>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("GET");
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (r.status().as_u16(), ct, r.bytes().await.unwrap().to_vec())
        })
}

/// POSTs to `url` with the harness token of its server; the status and the JSON body (null
/// when there is none).
pub fn post_json(url: &str) -> (u16, serde_json::Value) {
    let (status, v) = request_json(reqwest::Method::POST, url);
    let v = if v.is_string() {
        serde_json::Value::Null
    } else {
        v
    };
    (status, v)
}

/// GETs `url` with the harness token of its server; the status and the body as JSON (a JSON
/// string when it is not JSON).
pub fn get_json(url: &str) -> (u16, serde_json::Value) {
    request_json(reqwest::Method::GET, url)
}

fn request_json(method: reqwest::Method, url: &str) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().request(method.clone(), url);
        if let Some(t) = token_for(url) {
            req = req.bearer_auth(t);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        let v = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
        (status, v)
    })
}

/// Collects a call's live events from `/v1/events` on a background thread while a client
/// that does not read events (a browser) streams the call.
pub struct EventWatcher {
    events: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl EventWatcher {
    /// Subscribes before returning, so no event of the call is missed.
    pub fn start(server: &Server, call_id: &str) -> EventWatcher {
        use futures_util::StreamExt;
        let url = format!("{}/v1/events?call_id={call_id}", server.ws());
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = events.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(&url))
                    .await
                    .expect("subscribe to /v1/events");
                let _ = ready_tx.send(());
                while let Some(Ok(msg)) = ws.next().await {
                    if let Ok(text) = msg.into_text() {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                            let ended = v["type"] == "call.ended";
                            sink.lock().unwrap().push(v);
                            if ended {
                                return;
                            }
                        }
                    }
                }
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("event subscription");
        EventWatcher { events }
    }

    /// The events received so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.events.lock().unwrap().clone()
    }

    /// The events so far once `call.ended` has arrived (panics after `limit`).
    pub fn until_call_ended(&self, limit: Duration) -> Vec<serde_json::Value> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            {
                let e = self.events.lock().unwrap();
                if e.iter().any(|v| v["type"] == "call.ended") {
                    return e.clone();
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "no call.ended within {limit:?}; events so far: {:?}",
            self.events.lock().unwrap()
        );
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM into `dir`:
/// (certificate, key) paths.
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

/// The outcomes of the audit rows for `action`, newest first.
pub fn audit_outcomes(base: &str, action: &str) -> Vec<String> {
    let (_, audit) = get_json(&format!("{base}/v1/audit?action={action}"));
    audit["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect()
}

/// Seconds ffprobe reads from a media file's container and stream.
pub fn ffprobe_duration(file: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
