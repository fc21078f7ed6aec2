//! The cluster bus: every node publishes its events to a NATS JetStream stream, on subjects
//! `<prefix>.<type>.<queue>`, and reads the whole stream back, so each node's subscribers see
//! the events of every node. An event's id is its stream sequence: the same on every node,
//! so a subscriber may reconnect to any node and resume after the last id it saw.
//!
//! Backpressure policy:
//! - Publishing: events wait in a bounded outbox until JetStream acknowledges them; while NATS
//!   is unreachable the node keeps working, reports itself degraded and publishes the backlog
//!   once NATS is back. A full outbox sheds partial transcripts first, then the oldest events,
//!   each counted and logged. Retries carry the same `Nats-Msg-Id`, so none is stored twice.
//! - Live subscribers: one JetStream consumer per node fans events out in process, drop-oldest
//!   per subscriber as on the in-process bus. A resuming subscriber gets a consumer of its own,
//!   which waits for it (JetStream keeps the events).

use super::bus::{BusHealth, Delivery, EventBackend, Published, Subscription};
use super::event::{Event, Payload};
use crate::call::CallScope;
use crate::secret::Secret;
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, Notify};

/// `[bus]`: where events go. Without `nats` they stay in process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// NATS server (`nats://host:4222`, or `tls://host:4222` for TLS). Empty: the in-process
    /// bus, events of this node only.
    pub nats: String,
    /// Token the NATS server requires (its `authorization { token }`); empty: none.
    pub token: Secret,
    /// JetStream stream that holds the events; created when missing.
    pub stream: String,
    /// Events go to `<subject_prefix>.<type>.<queue>`.
    pub subject_prefix: String,
    /// What each node's calls add to the cluster's surge detector goes to
    /// `<observations_prefix>.<kind>`, in the stream `<stream>_SURGE` (so the event stream
    /// holds events only, and a resuming subscriber's gap counts events only).
    pub observations_prefix: String,
    /// How long the stream keeps events, in seconds: how far back a reconnecting subscriber
    /// may resume. Events carry redacted transcripts; keep this short.
    pub max_age_s: u64,
    /// Largest size of the stream in MiB; the oldest events go first.
    pub max_mb: u64,
    /// Events kept while NATS cannot take them, before partials and then the oldest are shed.
    pub outbox: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            nats: String::new(),
            token: Secret::default(),
            stream: "CALLWATCH_EVENTS".into(),
            subject_prefix: "callwatch.events".into(),
            observations_prefix: "callwatch.surge".into(),
            max_age_s: 3600,
            max_mb: 1024,
            outbox: 100_000,
        }
    }
}

/// Why `[bus]` was refused or NATS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("[bus] {0}")]
    Config(String),
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
}

impl BusConfig {
    pub fn enabled(&self) -> bool {
        !self.nats.trim().is_empty()
    }

    pub fn validate(&self) -> Result<(), BusError> {
        let bad = |m: String| Err(BusError::Config(m));
        if !self.enabled() {
            return Ok(());
        }
        if !(self.nats.starts_with("nats://") || self.nats.starts_with("tls://")) {
            return bad(format!(
                "nats = `{}` must be a nats:// or tls:// URL",
                self.nats
            ));
        }
        if self.stream.is_empty()
            || !self
                .stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return bad(format!(
                "stream = `{}`: use letters, digits, `_` and `-`",
                self.stream
            ));
        }
        for (key, prefix) in [
            ("subject_prefix", &self.subject_prefix),
            ("observations_prefix", &self.observations_prefix),
        ] {
            if prefix.split('.').any(|t| {
                t.is_empty()
                    || !t
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            }) {
                return bad(format!(
                    "{key} = `{prefix}`: dot-separated tokens of letters, digits, `_` and `-`"
                ));
            }
        }
        let (a, b) = (
            format!("{}.", self.subject_prefix),
            format!("{}.", self.observations_prefix),
        );
        if a.starts_with(&b) || b.starts_with(&a) {
            return bad(format!(
                "subject_prefix `{}` and observations_prefix `{}` must not contain one another",
                self.subject_prefix, self.observations_prefix
            ));
        }
        if self.max_age_s == 0 || self.max_mb == 0 || self.outbox == 0 {
            return bad("max_age_s, max_mb and outbox must be above 0".into());
        }
        Ok(())
    }

    /// The subject of an event of `type_name` about a call of `queue`.
    pub fn subject(&self, type_name: &str, queue: Option<&str>) -> String {
        format!(
            "{}.{}.{}",
            self.subject_prefix,
            type_name.replace('.', "_"),
            queue.map_or_else(|| "_".to_string(), subject_token)
        )
    }
}

/// A queue name as one subject token: letters, digits, `-` as they are, every other byte as
/// `~XX` (NATS tokens may not hold `.`, `*`, `>` or spaces; `_` alone means no queue).
fn subject_token(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("~{b:02X}"));
        }
    }
    if out.is_empty() {
        "~".into()
    } else {
        out
    }
}

/// What travels in a stream message: the event and its call's scope.
#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<CallScope>,
    event: Event,
}

struct Outgoing {
    subject: String,
    msg_id: String,
    body: bytes::Bytes,
    partial: bool,
}

/// Events waiting for JetStream, oldest first.
struct Outbox {
    items: Mutex<VecDeque<Outgoing>>,
    capacity: usize,
    wake: Notify,
}

impl Outbox {
    fn push(&self, item: Outgoing) {
        let mut q = self.items.lock().expect("outbox lock");
        if q.len() >= self.capacity {
            let at = q.iter().position(|o| o.partial).unwrap_or(0);
            let shed = q.remove(at).expect("a full outbox has items");
            crate::metrics::metrics()
                .events_dropped
                .with_label_values(&["nats-outbox"])
                .inc();
            tracing::error!(
                subject = %shed.subject,
                waiting = q.len(),
                "NATS has not taken events for a while; the event outbox is full and sheds one"
            );
        }
        q.push_back(item);
        drop(q);
        self.wake.notify_one();
    }

    fn len(&self) -> usize {
        self.items.lock().expect("outbox lock").len()
    }
}

/// Counts a bus's subscribers while a subscription lives.
pub struct SubscriberCount(Arc<AtomicUsize>);

impl SubscriberCount {
    fn new(n: &Arc<AtomicUsize>) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        SubscriberCount(n.clone())
    }
}

impl Drop for SubscriberCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The JetStream bus of one node.
pub struct NatsBus {
    cfg: BusConfig,
    /// Names this node's messages (`Nats-Msg-Id` = node and a counter).
    node: String,
    next_msg: std::sync::atomic::AtomicU64,
    client: async_nats::Client,
    js: jetstream::Context,
    outbox: Arc<Outbox>,
    /// Live events read back from the stream, for this node's subscribers.
    live: broadcast::Sender<Arc<Published>>,
    resuming: Arc<AtomicUsize>,
    /// Why the last publish failed, until one succeeds.
    trouble: Arc<Mutex<Option<String>>>,
    /// Whether this node reads the stream back (its subscribers get events).
    reading: std::sync::atomic::AtomicBool,
}

/// Backoff between attempts while NATS is unreachable.
const RETRY: Duration = Duration::from_millis(500);
/// Events published to JetStream before their acknowledgements are awaited.
const PUBLISH_BATCH: usize = 256;
/// Events a resuming subscriber's consumer holds for it.
const RESUME_BUFFER: usize = 256;

/// A NATS client for `cfg`, named `name` on the server. NATS need not be up yet: the client
/// keeps trying, for ever.
pub async fn connect(cfg: &BusConfig, name: &str) -> Result<async_nats::Client, BusError> {
    cfg.validate()?;
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None::<usize>);
    if !cfg.token.is_empty() {
        opts = opts.token(cfg.token.expose().to_string());
    }
    if cfg.nats.starts_with("tls://") {
        opts = opts.require_tls(true);
    }
    opts.connect(cfg.nats.as_str())
        .await
        .map_err(|e| BusError::Connect {
            url: cfg.nats.clone(),
            reason: e.to_string(),
        })
}

impl NatsBus {
    /// Connects to NATS and starts publishing and reading. NATS need not be up yet: the node
    /// starts degraded and catches up once it is. `capacity` is each live subscriber's lag
    /// allowance, as on the in-process bus.
    pub async fn start(cfg: &BusConfig, capacity: usize) -> Result<Arc<NatsBus>, BusError> {
        let client = connect(cfg, "callwatch").await?;
        let js = jetstream::new(client.clone());
        let (live, _) = broadcast::channel(capacity.max(16));
        let node = uuid::Uuid::new_v4().simple().to_string();
        let bus = Arc::new(NatsBus {
            cfg: cfg.clone(),
            node,
            next_msg: Default::default(),
            client,
            js,
            outbox: Arc::new(Outbox {
                items: Mutex::new(VecDeque::new()),
                capacity: cfg.outbox,
                wake: Notify::new(),
            }),
            live,
            resuming: Arc::default(),
            trouble: Arc::new(Mutex::new(Some("connecting to NATS".into()))),
            reading: Default::default(),
        });
        tokio::spawn(publish_loop(Arc::downgrade(&bus)));
        tokio::spawn(fan_out(Arc::downgrade(&bus)));
        Ok(bus)
    }

    fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.cfg.stream.clone(),
            subjects: vec![format!("{}.>", self.cfg.subject_prefix)],
            max_age: Duration::from_secs(self.cfg.max_age_s),
            max_bytes: (self.cfg.max_mb * 1024 * 1024) as i64,
            storage: stream::StorageType::File,
            ..Default::default()
        }
    }

    /// The surge observations' stream: kept as long as events, at most a quarter of their
    /// space (an observation is smaller than the event it comes with).
    fn observations_config(&self) -> stream::Config {
        stream::Config {
            name: format!("{}_SURGE", self.cfg.stream),
            subjects: vec![format!("{}.>", self.cfg.observations_prefix)],
            max_age: Duration::from_secs(self.cfg.max_age_s),
            max_bytes: (self.cfg.max_mb * 1024 * 1024 / 4).max(1024 * 1024) as i64,
            storage: stream::StorageType::File,
            ..Default::default()
        }
    }

    /// The JetStream context, for the cluster's other uses of NATS.
    pub fn jetstream(&self) -> jetstream::Context {
        self.js.clone()
    }

    /// This node's id in the cluster (random per start).
    pub fn node_id(&self) -> &str {
        &self.node
    }

    pub fn stream_name(&self) -> &str {
        &self.cfg.stream
    }

    /// The subjects surge observations go to.
    pub fn observations_filter(&self) -> String {
        format!("{}.>", self.cfg.observations_prefix)
    }

    fn events_filter(&self) -> String {
        format!("{}.>", self.cfg.subject_prefix)
    }

    /// Queues a surge observation for the stream, behind the events published before it.
    pub fn publish_observation(&self, obs: &crate::transforms::surge::Observation) {
        let kind = match obs {
            crate::transforms::surge::Observation::CallStarted { .. } => "call_started",
            crate::transforms::surge::Observation::CustomerFinal { .. } => "customer_final",
            crate::transforms::surge::Observation::PhraseHits { .. } => "phrase_hits",
        };
        let body = match serde_json::to_vec(obs) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "surge observation not serialisable");
                return;
            }
        };
        let n = self.next_msg.fetch_add(1, Ordering::Relaxed);
        self.outbox.push(Outgoing {
            subject: format!("{}.{kind}", self.cfg.observations_prefix),
            msg_id: format!("{}-{n}", self.node),
            body: body.into(),
            partial: false,
        });
    }

    /// The event stream, created when missing (with the observations' stream beside it).
    pub async fn stream(&self) -> Result<stream::Stream, String> {
        self.observations().await?;
        self.js
            .get_or_create_stream(self.stream_config())
            .await
            .map_err(|e| format!("stream {}: {e}", self.cfg.stream))
    }

    /// The surge observations' stream, created when missing.
    pub async fn observations(&self) -> Result<stream::Stream, String> {
        let cfg = self.observations_config();
        let name = cfg.name.clone();
        self.js
            .get_or_create_stream(cfg)
            .await
            .map_err(|e| format!("stream {name}: {e}"))
    }
}

impl EventBackend for NatsBus {
    fn publish(&self, event: Event, scope: Option<CallScope>) {
        let subject = self.cfg.subject(
            event.payload.type_name(),
            scope.as_ref().and_then(|s| s.1.as_deref()),
        );
        let partial = matches!(event.payload, Payload::TranscriptPartial { .. });
        let body = match serde_json::to_vec(&Envelope { scope, event }) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "event not serialisable");
                return;
            }
        };
        let n = self.next_msg.fetch_add(1, Ordering::Relaxed);
        self.outbox.push(Outgoing {
            subject,
            msg_id: format!("{}-{n}", self.node),
            body: body.into(),
            partial,
        });
    }

    fn subscribe(&self, after: Option<u64>) -> Subscription {
        match after {
            None => {
                Subscription::local(super::local::LocalSubscription::live(self.live.subscribe()))
            }
            Some(after) => {
                let count = SubscriberCount::new(&self.resuming);
                let (tx, out) = mpsc::channel(RESUME_BUFFER);
                let js = self.js.clone();
                let name = self.cfg.stream.clone();
                tokio::spawn(resume(js, name, self.events_filter(), after, tx));
                Subscription::channel(out, count)
            }
        }
    }

    fn flush(&self, limit: Duration) -> super::bus::FlushFuture<'_> {
        Box::pin(async move {
            let t0 = tokio::time::Instant::now();
            while self.outbox.len() > 0 && t0.elapsed() < limit {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.outbox.len()
        })
    }

    fn subscriber_count(&self) -> usize {
        self.live.receiver_count() + self.resuming.load(Ordering::Relaxed)
    }

    fn health(&self) -> BusHealth {
        let waiting = self.outbox.len();
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return BusHealth::Degraded {
                waiting,
                reason: "NATS connection lost; reconnecting".into(),
            };
        }
        match self.trouble.lock().expect("bus trouble lock").clone() {
            Some(reason) => BusHealth::Degraded { waiting, reason },
            None if !self.reading.load(Ordering::Relaxed) => BusHealth::Degraded {
                waiting,
                reason: "not reading the event stream yet".into(),
            },
            None => BusHealth::Connected,
        }
    }
}

/// Publishes the outbox in order, keeping each event until JetStream acknowledges it.
async fn publish_loop(bus: std::sync::Weak<NatsBus>) {
    let mut stream_ready = false;
    loop {
        let Some(b) = bus.upgrade() else { return };
        if !stream_ready {
            match b.stream().await {
                Ok(_) => stream_ready = true,
                Err(e) => {
                    note_trouble(&b, Some(e));
                    drop(b);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        let batch: Vec<(String, String, bytes::Bytes)> = {
            let q = b.outbox.items.lock().expect("outbox lock");
            q.iter()
                .take(PUBLISH_BATCH)
                .map(|o| (o.subject.clone(), o.msg_id.clone(), o.body.clone()))
                .collect()
        };
        if batch.is_empty() {
            note_trouble(&b, None);
            let wake = b.outbox.clone();
            drop(b);
            // Wakes on a new event; the timeout lets the loop end once the bus is dropped.
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.wake.notified()).await;
            continue;
        }
        let mut acks = Vec::with_capacity(batch.len());
        let mut failed = None;
        for (subject, msg_id, body) in &batch {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", msg_id.as_str());
            match b
                .js
                .publish_with_headers(subject.clone(), headers, body.clone())
                .await
            {
                Ok(ack) => acks.push((msg_id.clone(), ack)),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let mut done = Vec::new();
        for (msg_id, ack) in acks {
            match ack.await {
                Ok(_) => done.push(msg_id),
                Err(e) => {
                    failed.get_or_insert(e);
                    break;
                }
            }
        }
        {
            // Acknowledged events leave in order; a shed one may have gone meanwhile.
            let mut q = b.outbox.items.lock().expect("outbox lock");
            for id in &done {
                if q.front().is_some_and(|o| &o.msg_id == id) {
                    q.pop_front();
                }
            }
            if let Some(e) = &failed {
                if e.kind() == jetstream::context::PublishErrorKind::MaxPayloadExceeded {
                    // Never publishable: waiting would block every event behind it.
                    if let Some(o) = q.pop_front() {
                        tracing::error!(subject = %o.subject, bytes = o.body.len(), "event larger than the NATS server's max_payload; dropped");
                        crate::metrics::metrics()
                            .events_dropped
                            .with_label_values(&["nats-too-large"])
                            .inc();
                    }
                }
            }
        }
        match failed {
            Some(e) => {
                if e.kind() == jetstream::context::PublishErrorKind::StreamNotFound {
                    stream_ready = false;
                }
                note_trouble(&b, Some(format!("publishing events: {e}")));
                drop(b);
                tokio::time::sleep(RETRY).await;
            }
            None => note_trouble(&b, None),
        }
    }
}

fn note_trouble(bus: &NatsBus, trouble: Option<String>) {
    let mut t = bus.trouble.lock().expect("bus trouble lock");
    match (&*t, &trouble) {
        (None, Some(e)) => {
            tracing::warn!(error = %e, "event bus degraded: events wait in the outbox")
        }
        (Some(_), None) => tracing::info!("event bus connected to NATS"),
        _ => {}
    }
    *t = trouble;
}

/// One of the bus's streams, followed for as long as the bus is in use: the events (the
/// fan-out, which also tells readiness whether it reads) or the surge observations.
pub struct BusStream {
    bus: std::sync::Weak<NatsBus>,
    observations: bool,
}

impl BusStream {
    /// The event stream.
    pub fn events(bus: std::sync::Weak<NatsBus>) -> BusStream {
        BusStream {
            bus,
            observations: false,
        }
    }

    /// The surge observations' stream.
    pub fn observations(bus: std::sync::Weak<NatsBus>) -> BusStream {
        BusStream {
            bus,
            observations: true,
        }
    }
}

impl super::follow::Source for BusStream {
    async fn stream(&self) -> Option<stream::Stream> {
        let bus = self.bus.upgrade()?;
        if self.observations {
            bus.observations().await.ok()
        } else {
            bus.stream().await.ok()
        }
    }
    fn filter(&self) -> String {
        let Some(b) = self.bus.upgrade() else {
            return String::new();
        };
        if self.observations {
            b.observations_filter()
        } else {
            b.events_filter()
        }
    }
    fn wanted(&self) -> bool {
        self.bus.strong_count() > 0
    }
    fn reading(&self, now: bool) {
        match self.bus.upgrade() {
            Some(b) if !self.observations => b.reading.store(now, Ordering::Relaxed),
            _ => {}
        }
    }
}

/// Reads every event published from now on (by any node) to this node's live subscribers.
async fn fan_out(bus: std::sync::Weak<NatsBus>) {
    let Some(live) = bus.upgrade().map(|b| b.live.clone()) else {
        return;
    };
    let handle = move |m: jetstream::Message| {
        if let Some(p) = decode(&m) {
            let _ = live.send(Arc::new(p));
        }
        std::future::ready(())
    };
    super::follow::follow(BusStream::events(bus), super::follow::Start::New, handle).await;
}

/// Feeds one resuming subscriber from just after `after`, for as long as it listens.
async fn resume(
    js: jetstream::Context,
    name: String,
    filter: String,
    after: u64,
    tx: mpsc::Sender<Delivery>,
) {
    let mut next = after.saturating_add(1);
    loop {
        if tx.is_closed() {
            return;
        }
        let mut stream = match js.get_stream(&name).await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Ok(info) = stream.info().await {
            let first = info.state.first_sequence.max(1);
            if next < first && info.state.messages > 0 {
                if tx.send(Delivery::Lagged(first - next)).await.is_err() {
                    return;
                }
                next = first;
            }
        }
        let policy = consumer::DeliverPolicy::ByStartSequence {
            start_sequence: next,
        };
        let mut messages = match super::follow::ordered(&stream, policy, filter.clone()).await {
            Ok(m) => m,
            Err(_) => {
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            let m = tokio::select! {
                m = messages.next() => m,
                _ = tx.closed() => return,
            };
            match m {
                Some(Ok(m)) => {
                    if let Some(p) = decode(&m) {
                        next = p.id + 1;
                        if tx.send(Delivery::Event(Arc::new(p))).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// A stream message as a subscriber's event; `None` (logged) for one this version cannot
/// read, which is skipped rather than stopping the stream.
fn decode(m: &jetstream::Message) -> Option<Published> {
    let seq = match m.info() {
        Ok(i) => i.stream_sequence,
        Err(e) => {
            tracing::warn!(error = %e, "event message without stream info; skipped");
            return None;
        }
    };
    decode_payload(seq, &m.payload)
}

/// The event stored at stream sequence `seq` with body `payload`, as subscribers get it;
/// `None` (logged) for a body this version cannot read. Any node, or anyone who may publish
/// to the stream's subjects, writes these bodies, so they are read as untrusted input.
pub fn decode_payload(seq: u64, payload: &[u8]) -> Option<Published> {
    if payload.len() > MAX_EVENT_BYTES {
        tracing::warn!(
            seq,
            bytes = payload.len(),
            "oversized event in the stream; skipped"
        );
        return None;
    }
    let env: Envelope = match serde_json::from_slice(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(seq, error = %e, "unreadable event in the stream; skipped");
            return None;
        }
    };
    let body = serde_json::to_string(&env.event).ok()?;
    Some(Published::new(seq, env.event, &body, env.scope))
}

/// Largest event body read from the stream (NATS' own default message limit).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_hold_type_and_queue_as_single_tokens() {
        let c = BusConfig::default();
        assert_eq!(
            c.subject("phrase.hit", Some("wealth")),
            "callwatch.events.phrase_hit.wealth"
        );
        assert_eq!(
            c.subject("call.ended", None),
            "callwatch.events.call_ended._"
        );
        let s = c.subject("alert", Some("理财 a.b*>"));
        assert_eq!(s.split('.').count(), 4, "{s}");
        assert!(
            !s.contains(' ') && !s.contains('*') && !s.contains('>'),
            "{s}"
        );
        assert_ne!(
            subject_token("_"),
            "_",
            "a queue named `_` is not the no-queue token"
        );
    }

    #[test]
    fn bad_settings_are_refused_with_the_field() {
        let ok = BusConfig {
            nats: "nats://127.0.0.1:4222".into(),
            ..BusConfig::default()
        };
        assert!(ok.validate().is_ok());
        assert!(BusConfig::default().validate().is_ok(), "off is fine");
        for (bad, field) in [
            (
                BusConfig {
                    nats: "http://x".into(),
                    ..ok.clone()
                },
                "nats",
            ),
            (
                BusConfig {
                    stream: "a.b".into(),
                    ..ok.clone()
                },
                "stream",
            ),
            (
                BusConfig {
                    subject_prefix: "a..b".into(),
                    ..ok.clone()
                },
                "subject_prefix",
            ),
            (
                BusConfig {
                    max_age_s: 0,
                    ..ok.clone()
                },
                "max_age_s",
            ),
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
    }
}
