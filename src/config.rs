//! `callwatch serve --config FILE`: every key has a default, so an empty file (or none) works.
//! `callwatch config --print-default` prints this whole structure as documented TOML.

use crate::transforms::matcher::MatchMode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub http: HttpConfig,
    pub shutdown: ShutdownConfig,
    pub model: ModelConfig,
    pub asr: AsrConfig,
    pub segment: crate::transforms::segment::SegmenterConfig,
    pub lexicons: LexiconConfig,
    pub events: EventsConfig,
    /// `[bus]`: in process, or NATS JetStream across a cluster.
    pub bus: crate::sinks::events::BusConfig,
    pub archive: ArchiveConfig,
    pub sip: SipConfig,
    pub surge: crate::transforms::surge::SurgeConfig,
    pub assist: crate::transforms::assist::AssistConfig,
    pub qa: QaConfig,
    pub redact: crate::transforms::redact::RedactConfig,
    pub rtp: RtpConfig,
    pub audiosocket: AudioSocketConfig,
    pub whip: WhipConfig,
    pub auth: AuthConfig,
    pub audit: AuditConfig,
}

/// `[auth]`: browser sessions and failed-login throttling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Minutes a login session lasts.
    pub session_ttl_min: u64,
    /// Failed logins per user name, and per address, within `login_window_s` before further
    /// attempts get 429 with `Retry-After`.
    pub login_failures: usize,
    pub login_window_s: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl_min: 480,
            login_failures: 5,
            login_window_s: 300,
        }
    }
}

impl AuthConfig {
    /// The settings of the running service's authenticator.
    pub fn settings(&self, tls: bool) -> crate::auth::AuthSettings {
        crate::auth::AuthSettings {
            session_ttl: std::time::Duration::from_secs(self.session_ttl_min * 60),
            throttle_failures: self.login_failures,
            throttle_window: std::time::Duration::from_secs(self.login_window_s),
            secure_cookies: tls,
        }
    }
}

/// `[audit]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Days audit rows are kept; older ones are deleted at start and daily.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_days: 365,
        }
    }
}

/// `[shutdown]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// Seconds after SIGTERM for open legs to transcribe and archive their last utterances;
    /// then connections still open are cut, the archive is flushed and the process exits.
    pub grace_s: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { grace_s: 20 }
    }
}

/// `[qa]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QaConfig {
    /// Scorecard every call is scored against when it ends. Empty: no scoring.
    pub scorecard: PathBuf,
}

impl Default for QaConfig {
    fn default() -> Self {
        QaConfig {
            scorecard: PathBuf::from("lexicons/scorecards/retail_banking.toml"),
        }
    }
}

impl QaConfig {
    /// The configured scorecard, or `None` when scoring is off.
    pub fn load(
        &self,
    ) -> Result<
        Option<crate::transforms::scorecard::Scorecard>,
        crate::transforms::scorecard::ScorecardError,
    > {
        if self.scorecard.as_os_str().is_empty() {
            return Ok(None);
        }
        crate::transforms::scorecard::Scorecard::load_file(&self.scorecard).map(Some)
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTP and WebSocket listen address.
    pub http: SocketAddr,
    /// Directory for the archive database and other state.
    pub data_dir: PathBuf,
    /// `/readyz` reports not ready when the data dir's filesystem has less free space than
    /// this, in MiB: the archive would soon fail its writes.
    pub min_free_disk_mb: u64,
    /// Connections open at once on each TCP listener (HTTP, SIP over TCP, AudioSocket); past
    /// it a new connection is closed at once.
    pub max_connections: usize,
    /// Connections open at once from one remote IP address, per listener. An SBC or media
    /// gateway behind one address needs one connection per forked call.
    pub max_connections_per_addr: usize,
    /// Seconds a client has to send a request's headers before the connection is closed.
    pub header_read_timeout_s: u64,
    /// Seconds a media fork or an events subscriber may stay silent (no frame, no answer to
    /// a ping) before its WebSocket is closed.
    pub idle_timeout_s: u64,
}

/// `[http]`: encryption and browser rules of the HTTP and WebSocket listener.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// PEM certificate chain and private key: set both to serve HTTPS and `wss://` (also
    /// `serve --tls-cert F --tls-key F`).
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Refuse to start without TLS.
    pub require_tls: bool,
    /// Browser origins (`https://qa.bank.example`) allowed cross-origin requests with
    /// credentials and WebSocket upgrades. Empty: only pages this server serves.
    pub cors_origins: Vec<String>,
    /// Browsers reach the service over HTTPS through a TLS-terminating proxy (the listener
    /// itself speaks plain HTTP behind it): login cookies get `Secure` and pages
    /// `Strict-Transport-Security`, as when this server holds the certificate.
    pub tls_proxy: bool,
}

impl HttpConfig {
    /// The certificate and key, when TLS is on.
    pub fn tls(&self) -> Result<Option<crate::tls::TlsFiles>, ConfigError> {
        crate::tls::TlsFiles::pair(&self.tls_cert, &self.tls_key)
            .map_err(|e| ConfigError::Invalid(format!("http.tls_cert / http.tls_key: {e}")))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http: "127.0.0.1:8080".parse().unwrap(),
            data_dir: PathBuf::from("data"),
            min_free_disk_mb: 256,
            max_connections: 4096,
            max_connections_per_addr: 1024,
            header_read_timeout_s: 10,
            idle_timeout_s: 60,
        }
    }
}

impl ServerConfig {
    /// The caps of one TCP listener.
    pub fn conn_limits(&self) -> crate::conn_limit::ConnLimits {
        crate::conn_limit::ConnLimits {
            max_total: self.max_connections,
            max_per_addr: self.max_connections_per_addr,
        }
    }

    /// How long a WebSocket peer may stay silent.
    pub fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.idle_timeout_s)
    }
}

/// `[model]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// GGML model file. Empty: `<models_dir>/ggml-<size>.bin` (`ggml-<size>-<quant>.bin`).
    pub path: PathBuf,
    /// `base` (multilingual, default) or `tiny.en` (English only).
    pub size: String,
    /// How the weight matrices are stored: `f16` (default, as published), `q8_0` or `q5_1`
    /// (quantised by `callwatch model fetch --quant`: smaller, and faster on CPUs).
    pub quant: String,
    /// Where models are kept and fetched to.
    pub models_dir: PathBuf,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            path: PathBuf::new(),
            size: "base".into(),
            quant: "f16".into(),
            models_dir: PathBuf::from("models"),
        }
    }
}

impl ModelConfig {
    /// The model file to load.
    pub fn resolved_path(&self) -> Result<PathBuf, ConfigError> {
        let (size, quant) = self.choice()?;
        if !self.path.as_os_str().is_empty() {
            return Ok(self.path.clone());
        }
        Ok(self.models_dir.join(size.file_name(quant)))
    }

    /// The size and weight type asked for.
    pub fn choice(&self) -> Result<(crate::model::ModelSize, crate::model::Quant), ConfigError> {
        let size = self.size.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "[model] size `{}` is unknown: use base or tiny.en",
                self.size
            ))
        })?;
        let quant = self.quant.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "[model] quant `{}` is unknown: use f16, q8_0 or q5_1",
                self.quant
            ))
        })?;
        Ok((size, quant))
    }
}

/// `[asr]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsrConfig {
    /// Recogniser worker threads (each holds one Whisper state). Default: cores / threads.
    pub workers: usize,
    /// Threads whisper.cpp uses inside one transcription. Default: the cores, at most 4.
    pub threads: usize,
    /// Languages an utterance may be in; the likelier is chosen per utterance. A source may force one.
    pub languages: Vec<String>,
    /// Once two confident detections on a leg agree, transcribe its later utterances in that
    /// language without detecting it (re-checked every 8 finals). Detection is a whole encoder
    /// pass, about half of each decode.
    pub language_memory: bool,
    /// Emit `transcript.partial` about once a second while an utterance is open.
    pub partials: bool,
    /// Shrink Whisper's encoder context for short utterances (faster, same text).
    pub short_audio_ctx: bool,
    /// Initial prompt for Mandarin (keeps Simplified characters).
    pub zh_prompt: String,
    /// Segments with a higher no-speech probability are dropped.
    pub no_speech_threshold: f64,
    /// Segment timestamps inside an utterance from Whisper (slower); otherwise the VAD's bounds.
    pub timestamps: bool,
    /// Re-decode at higher temperatures when greedy output looks degenerate (slower).
    pub temperature_fallback: bool,
    /// A transcript repeating one phrase over and over: `collapse` (one copy kept), `redecode`
    /// (decoded again with beam search, then one copy kept) or `off`. The first two cap
    /// Whisper's tokens by the utterance's length.
    pub loop_guard: crate::transforms::asr::LoopGuard,
    /// Utterances whose VAD speech fraction is below this never reach Whisper.
    pub min_speech_ratio: f64,
    /// Finals that may wait for a worker before sources are slowed down.
    pub final_inbox: usize,
    /// Partials that may wait for a worker before new ones are shed.
    pub partial_inbox: usize,
    /// Run whisper.cpp on the GPU (CUDA; builds with the `cuda` feature only).
    pub gpu: bool,
    /// `[asr.bias]`: prompt recognition with the leg's lexicon terms and script phrases.
    pub bias: crate::transforms::asr::BiasConfig,
    /// Send utterances to the cluster's recognition workers (`callwatch worker`) through
    /// NATS (`[bus] nats`) instead of transcribing them here.
    pub remote: bool,
    /// With `remote`: also load this node's model and transcribe here while the workers cannot
    /// be reached.
    pub remote_fallback: bool,
    /// With `remote`: utterances in flight to the workers at once.
    pub remote_inflight: usize,
    /// With `remote`: longest wait (seconds) for a final's result before it is transcribed
    /// here (`remote_fallback`) or reported failed.
    pub remote_timeout_s: u64,
}

impl Default for AsrConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Decoding defaults live in one place: the recogniser's own.
        let decode = crate::transforms::asr::DecodeOptions::default();
        // whisper.cpp gains little past 4 threads on one decode; more cores serve more
        // decodes at once.
        let threads = cores.min(4);
        AsrConfig {
            workers: (cores / threads).max(1),
            threads,
            remote: false,
            remote_fallback: false,
            remote_inflight: 16,
            remote_timeout_s: 60,
            languages: vec!["zh".into(), "en".into()],
            language_memory: true,
            partials: true,
            short_audio_ctx: decode.short_audio_ctx,
            zh_prompt: decode.zh_prompt,
            // Through its shortest decimal form, so the file shows 0.6 rather than 0.6000000238.
            no_speech_threshold: decode
                .no_speech_threshold
                .to_string()
                .parse()
                .unwrap_or(0.6),
            timestamps: decode.timestamps,
            temperature_fallback: decode.temperature_fallback,
            loop_guard: decode.loop_guard,
            min_speech_ratio: 0.3,
            final_inbox: 64,
            partial_inbox: 2,
            gpu: false,
            bias: Default::default(),
        }
    }
}

impl AsrConfig {
    /// Decoding options for the recogniser (shared by the pool, benchmarks and tests).
    pub fn decode_options(&self) -> crate::transforms::asr::DecodeOptions {
        crate::transforms::asr::DecodeOptions {
            threads: self.threads,
            short_audio_ctx: self.short_audio_ctx,
            zh_prompt: self.zh_prompt.clone(),
            no_speech_threshold: self.no_speech_threshold as f32,
            timestamps: self.timestamps,
            temperature_fallback: self.temperature_fallback,
            loop_guard: self.loop_guard,
        }
    }

    /// Sizes and decoding options of the recogniser pool.
    pub fn pool_config(&self) -> crate::transforms::asr::PoolConfig {
        crate::transforms::asr::PoolConfig {
            workers: self.workers,
            final_inbox: self.final_inbox,
            partial_inbox: self.partial_inbox,
            decode: self.decode_options(),
            ..Default::default()
        }
    }
}

/// `[lexicons]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LexiconConfig {
    /// Directory of `*.toml` lexicon files.
    pub dir: PathBuf,
    /// Directory of composite rule `*.toml` files. Empty: `<dir>/rules` (no rules if missing).
    pub rules_dir: PathBuf,
    /// Homophone terms also tolerate southern accents (z/zh, c/ch, s/sh, n/l, an/ang, en/eng,
    /// in/ing). More recall, more false hits.
    pub fuzzy_pinyin: bool,
    /// Match mode per category (`exact`, `homophone`, `near`) for the terms whose lexicon entry
    /// or group does not set one, e.g. `[lexicons.match]` `complaint = "near"`.
    #[serde(rename = "match")]
    pub category_modes: BTreeMap<String, MatchMode>,
}

impl Default for LexiconConfig {
    fn default() -> Self {
        LexiconConfig {
            dir: PathBuf::from("lexicons"),
            rules_dir: PathBuf::new(),
            fuzzy_pinyin: false,
            category_modes: BTreeMap::new(),
        }
    }
}

impl LexiconConfig {
    /// Where lexicons and rules are read from at start-up and on every reload.
    pub fn source(&self) -> crate::transforms::rules::InspectionSource {
        crate::transforms::rules::InspectionSource {
            lexicon_dir: self.dir.clone(),
            rules_dir: if self.rules_dir.as_os_str().is_empty() {
                self.dir.join("rules")
            } else {
                self.rules_dir.clone()
            },
            fuzzy_pinyin: self.fuzzy_pinyin,
            category_modes: self.category_modes.clone(),
        }
    }
}

/// `[events]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Events a subscriber may fall behind before it loses the oldest (and is told).
    pub buffer: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { buffer: 4096 }
    }
}

/// `[archive]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// SQLite file. Empty: `<data_dir>/callwatch.db`.
    pub path: PathBuf,
    /// A PostgreSQL archive shared by the nodes of a cluster, e.g.
    /// `postgres://callwatch@db.internal/callwatch?sslmode=require`. Empty: the SQLite file.
    /// Users, tokens, sessions and the audit trail are kept there too, shared by the nodes.
    pub url: String,
    /// PEM of the CA that signed the PostgreSQL server's certificate (TLS to the archive).
    pub ca_file: PathBuf,
    /// A list or search query running longer than this (milliseconds) is stopped and
    /// answered 503 `query_timeout`.
    pub query_timeout_ms: u64,
    /// Largest size of the database file in MiB; past it writes fail as on a full disk (the
    /// archive degrades and spills to its journal). 0: no cap but the disk's.
    pub max_size_mb: u64,
    /// MiB kept free beside the database for the spill journal, so a full disk still leaves
    /// it room. 0 keeps none.
    pub spill_reserve_mb: u64,
    /// Keep each leg's audio (Opus in Ogg, redacted speech silenced) for replay.
    pub audio: bool,
    /// Folder of the audio archive. Empty: `<data_dir>/audio`.
    pub audio_dir: PathBuf,
    /// Opus bit rate of archived audio, bits per second (6000–64000).
    pub audio_bitrate: u32,
    /// Longest stretch of audio (seconds) held in memory while its transcript is pending; past
    /// it, held audio is archived as silence (never unchecked).
    pub audio_max_hold_s: u64,
    /// Days audio is kept; a daily purge deletes older recordings (audited). 0: kept forever.
    pub audio_retention_days: u32,
    /// Days calls (transcripts, hits, scores) are kept; a daily purge deletes older calls and
    /// their audio (audited). 0: kept forever.
    pub retention_days: u32,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            path: PathBuf::new(),
            url: String::new(),
            ca_file: PathBuf::new(),
            query_timeout_ms: 10_000,
            max_size_mb: 0,
            spill_reserve_mb: crate::sinks::archive::DEFAULT_RESERVE_BYTES >> 20,
            audio: true,
            audio_dir: PathBuf::new(),
            audio_bitrate: 20_000,
            audio_max_hold_s: 120,
            audio_retention_days: 90,
            retention_days: 365,
        }
    }
}

impl ArchiveConfig {
    /// The PostgreSQL archive's URL, `None` for the SQLite file.
    pub fn postgres_url(&self) -> Option<&str> {
        Some(self.url.trim()).filter(|u| !u.is_empty())
    }

    /// The CA file for TLS to PostgreSQL, if set.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        Some(self.ca_file.as_path()).filter(|p| !p.as_os_str().is_empty())
    }

    pub fn query_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.query_timeout_ms)
    }

    /// The writer's tuning from this section.
    pub fn writer(&self) -> crate::sinks::archive::WriterConfig {
        crate::sinks::archive::WriterConfig {
            // SQLite's default page size; the cap is counted in pages.
            max_pages: (self.max_size_mb > 0).then_some((self.max_size_mb << 20) / 4096),
            journal_reserve_bytes: self.spill_reserve_mb << 20,
            ..Default::default()
        }
    }
}

/// `[audiosocket]`: Asterisk AudioSocket connections (`AudioSocket(uuid,host:port)`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioSocketConfig {
    /// TCP listen address, e.g. `0.0.0.0:9092`. Empty: AudioSocket is off.
    pub listen: String,
    /// A connection with nothing received for this long is closed (its leg ends and is
    /// archived); Asterisk sends a frame every 20 ms while the channel is up.
    pub idle_timeout_s: u64,
}

impl Default for AudioSocketConfig {
    fn default() -> Self {
        AudioSocketConfig {
            listen: String::new(),
            idle_timeout_s: 30,
        }
    }
}

impl AudioSocketConfig {
    /// How long a connection may stay silent.
    pub fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.idle_timeout_s)
    }

    /// The listen address, `None` when AudioSocket is off.
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.listen.trim().is_empty() {
            return Ok(None);
        }
        self.listen.trim().parse().map(Some).map_err(|_| {
            ConfigError::Invalid(format!(
                "audiosocket.listen `{}` is not HOST:PORT, e.g. 0.0.0.0:9092",
                self.listen
            ))
        })
    }
}

/// `[whip]`: WebRTC-HTTP ingestion (RFC 9725) of browser and SFU audio.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhipConfig {
    /// Serve `/v1/whip` (also turned on by `serve --whip`).
    pub enabled: bool,
    /// Local addresses offered as ICE host candidates; a UDP socket is bound on each.
    pub hosts: Vec<std::net::IpAddr>,
    /// UDP port range for media; 0 and 0 take any free port.
    pub port_min: u16,
    pub port_max: u16,
    /// Replaced by API tokens of role `ingest` (`callwatch token create --role ingest`);
    /// kept only to refuse old configurations with a clear message. Must be empty.
    pub bearer_token: String,
    /// A session without audio this long ends (the publisher vanished); its call is archived.
    pub media_timeout_ms: u64,
    /// Origins a browser page may publish from; `*` any.
    pub cors_origins: Vec<String>,
    /// Live sessions at most.
    pub max_sessions: usize,
}

impl Default for WhipConfig {
    fn default() -> Self {
        WhipConfig {
            enabled: false,
            hosts: vec![std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)],
            port_min: 0,
            port_max: 0,
            bearer_token: String::new(),
            media_timeout_ms: 10_000,
            cors_origins: vec!["*".into()],
            max_sessions: 200,
        }
    }
}

impl WhipConfig {
    /// Checks addresses and ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.bearer_token.is_empty() {
            return Err(ConfigError::Invalid(
                "whip.bearer_token is gone: every route now needs a credential; make an ingest token with `callwatch token create --name whip --role ingest`, give it to publishers and remove bearer_token".into(),
            ));
        }
        if self.hosts.is_empty() || self.hosts.iter().any(|h| h.is_unspecified()) {
            return Err(ConfigError::Invalid(
                "whip.hosts must list the local addresses publishers reach (e.g. [\"192.0.2.10\"]), not 0.0.0.0".into(),
            ));
        }
        if (self.port_min == 0) != (self.port_max == 0) || self.port_min > self.port_max {
            return Err(ConfigError::Invalid(
                "whip.port_min..port_max must be a range (e.g. 21000..21999), or both 0 for any free port".into(),
            ));
        }
        if self.media_timeout_ms == 0 || self.max_sessions == 0 {
            return Err(ConfigError::Invalid(
                "whip.media_timeout_ms and whip.max_sessions must be at least 1".into(),
            ));
        }
        for o in &self.cors_origins {
            if o != "*" && axum::http::HeaderValue::from_str(o).is_err() {
                return Err(ConfigError::Invalid(format!(
                    "whip.cors_origins: `{o}` is not an origin like https://video.example.com"
                )));
            }
        }
        Ok(())
    }
}

/// `[rtp]`: plain RTP sessions (and every other RTP-based source) receive on these ports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtpConfig {
    /// Address the RTP/RTCP sockets bind to.
    pub bind: std::net::IpAddr,
    /// Host senders are told to send to; empty: the bind address.
    pub advertise: String,
    /// First and last port of the range; each stream takes an even RTP port and the next one for RTCP.
    pub port_min: u16,
    pub port_max: u16,
    /// A stream with no RTP or RTCP for this long ends.
    pub inactivity_timeout_ms: u64,
    /// How long a packet waits for a missing predecessor before the gap counts as lost.
    pub jitter_ms: u64,
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            bind: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            advertise: String::new(),
            port_min: 20000,
            port_max: 20999,
            inactivity_timeout_ms: 30_000,
            jitter_ms: 60,
        }
    }
}

impl RtpConfig {
    /// The pool of RTP ports this section describes: made here only, so the range is checked
    /// by the same code that serves it.
    pub fn port_pool(&self) -> Result<crate::sources::rtp::RtpPortPool, ConfigError> {
        crate::sources::rtp::RtpPortPool::new(self.bind, self.port_min, self.port_max)
            .map_err(|e| ConfigError::Invalid(format!("rtp: {e}")))
    }

    /// Parses `FIRST-LAST` (the `--rtp-ports` form) into the range.
    pub fn set_ports(&mut self, range: &str) -> Result<(), ConfigError> {
        let bad = || {
            ConfigError::Invalid(format!(
                "RTP port range `{range}` is not FIRST-LAST, e.g. 20000-20999"
            ))
        };
        let (a, b) = range.split_once('-').ok_or_else(bad)?;
        self.port_min = a.trim().parse().map_err(|_| bad())?;
        self.port_max = b.trim().parse().map_err(|_| bad())?;
        Ok(())
    }

    /// The host to tell senders: `advertise`, else the bind address (loopback when unspecified).
    pub fn advertised_host(&self) -> String {
        if !self.advertise.is_empty() {
            self.advertise.clone()
        } else if self.bind.is_unspecified() {
            "127.0.0.1".into()
        } else {
            self.bind.to_string()
        }
    }
}

impl Config {
    /// Reads a TOML file; a missing `path` means all defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: name.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let srv = &self.server;
        if srv.max_connections == 0
            || srv.max_connections_per_addr == 0
            || srv.header_read_timeout_s == 0
            || srv.idle_timeout_s == 0
        {
            return Err(ConfigError::Invalid(
                "server.max_connections, max_connections_per_addr, header_read_timeout_s and idle_timeout_s must be at least 1".into(),
            ));
        }
        if !(6_000..=64_000).contains(&self.archive.audio_bitrate) {
            return Err(ConfigError::Invalid(format!(
                "archive.audio_bitrate = {}: Opus speech wants 6000 to 64000 bits per second (20000 is a good start)",
                self.archive.audio_bitrate
            )));
        }
        if self.archive.audio_max_hold_s == 0 {
            return Err(ConfigError::Invalid(
                "archive.audio_max_hold_s must be at least 1 (seconds of audio held while its transcript is pending)".into(),
            ));
        }
        if self.archive.retention_days > 0
            && self.archive.audio_retention_days > self.archive.retention_days
        {
            return Err(ConfigError::Invalid(format!(
                "archive.audio_retention_days ({}) is longer than archive.retention_days ({}): audio goes with its call; lower it or raise retention_days",
                self.archive.audio_retention_days, self.archive.retention_days
            )));
        }
        if self.asr.remote {
            if !self.bus.enabled() {
                return Err(ConfigError::Invalid(
                    "asr.remote = true sends utterances to recognition workers through NATS: set [bus] nats too".into(),
                ));
            }
            if self.asr.remote_inflight == 0 || self.asr.remote_timeout_s == 0 {
                return Err(ConfigError::Invalid(
                    "asr.remote_inflight and asr.remote_timeout_s must be at least 1".into(),
                ));
            }
        }
        if let Some(url) = self.archive.postgres_url() {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::Invalid(format!(
                    "archive.url `{}` is not a PostgreSQL URL; write it like postgres://callwatch@db.internal/callwatch?sslmode=require, or leave it empty for the SQLite file",
                    crate::sinks::archive::postgres::redacted(url)
                )));
            }
            if !self.archive.path.as_os_str().is_empty() {
                return Err(ConfigError::Invalid(
                    "archive.url and archive.path are both set: the archive is either PostgreSQL (url) or a SQLite file (path); remove one".into(),
                ));
            }
        } else if self.archive.ca_file().is_some() {
            return Err(ConfigError::Invalid(
                "archive.ca_file is set without archive.url: it is the CA of the PostgreSQL archive's certificate; set url or remove ca_file".into(),
            ));
        }
        if self.archive.query_timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "archive.query_timeout_ms must be at least 1".into(),
            ));
        }
        for o in &self.http.cors_origins {
            let bare = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"));
            if bare.is_none_or(|b| b.is_empty() || b.contains('/')) || o.contains('*') {
                return Err(ConfigError::Invalid(format!(
                    "http.cors_origins: `{o}` is not an origin like https://qa.bank.example (no wildcard, no path)"
                )));
            }
        }
        if self.http.tls()?.is_none() && self.http.require_tls {
            return Err(ConfigError::Invalid(
                "http.require_tls is set but no certificate is: set http.tls_cert and http.tls_key (or serve --tls-cert F --tls-key F)".into(),
            ));
        }
        let auth = &self.auth;
        if auth.session_ttl_min == 0 || auth.login_failures == 0 || auth.login_window_s == 0 {
            return Err(ConfigError::Invalid(
                "auth.session_ttl_min, login_failures and login_window_s must be at least 1".into(),
            ));
        }
        if self.audit.retention_days == 0 {
            return Err(ConfigError::Invalid(
                "audit.retention_days must be at least 1".into(),
            ));
        }
        if self.sip.tcp_idle_timeout_s == 0 {
            return Err(ConfigError::Invalid(
                "sip.tcp_idle_timeout_s must be at least 1 (seconds without a message before a SIP TCP connection is closed)".into(),
            ));
        }
        self.audiosocket.listen_addr()?;
        if self.audiosocket.idle_timeout_s == 0 {
            return Err(ConfigError::Invalid(
                "audiosocket.idle_timeout_s must be at least 1 (seconds without data before a connection is closed)".into(),
            ));
        }
        crate::transforms::asr::language::validate_codes(&self.asr.languages)
            .map_err(ConfigError::Invalid)?;
        if self.asr.workers == 0 || self.asr.threads == 0 {
            return Err(ConfigError::Invalid(
                "asr.workers and asr.threads must be at least 1".into(),
            ));
        }
        if self.asr.gpu && !cfg!(feature = "cuda") {
            return Err(ConfigError::Invalid(
                "asr.gpu = true needs a build with the `cuda` feature \
                 (cargo build --release --features cuda, with the CUDA toolkit installed); \
                 set asr.gpu = false to recognise on the CPU"
                    .into(),
            ));
        }
        if self.asr.bias.enabled
            && !(1..=crate::transforms::asr::bias::MAX_PROMPT_TOKENS)
                .contains(&self.asr.bias.max_tokens)
        {
            return Err(ConfigError::Invalid(format!(
                "asr.bias.max_tokens must be 1 to {} (Whisper keeps at most 224 prompt tokens)",
                crate::transforms::asr::bias::MAX_PROMPT_TOKENS
            )));
        }
        if !(0.0..=1.0).contains(&self.asr.min_speech_ratio) {
            return Err(ConfigError::Invalid(
                "asr.min_speech_ratio must be between 0 and 1".into(),
            ));
        }
        self.model.resolved_path()?;
        self.surge.validate().map_err(ConfigError::Invalid)?;
        self.assist.validate().map_err(ConfigError::Invalid)?;
        self.redact
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.rtp.port_pool()?;
        if self.rtp.inactivity_timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "rtp.inactivity_timeout_ms must be at least 1".into(),
            ));
        }
        self.segment
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("segment: {e}")))?;
        self.sip.validate().map_err(ConfigError::Invalid)?;
        if self.sip.tls_addr().map_err(ConfigError::Invalid)?.is_some()
            && self.sip_tls_files()?.is_none()
        {
            return Err(ConfigError::Invalid(
                "sip.tls_listen needs a certificate: set sip.tls_cert and sip.tls_key, or http.tls_cert and http.tls_key".into(),
            ));
        }
        self.whip.validate()?;
        self.bus
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(())
    }

    /// The certificate of SIP over TLS: `[sip]`'s own, else the HTTP listener's.
    pub fn sip_tls_files(&self) -> Result<Option<crate::tls::TlsFiles>, ConfigError> {
        match crate::tls::TlsFiles::pair(&self.sip.tls_cert, &self.sip.tls_key)
            .map_err(|e| ConfigError::Invalid(format!("sip.tls_cert / sip.tls_key: {e}")))?
        {
            Some(f) => Ok(Some(f)),
            None => self.http.tls(),
        }
    }

    /// The audio archive, when audio is kept.
    pub fn audio_archive(&self) -> Option<crate::sinks::audio::AudioArchive> {
        let a = &self.archive;
        a.audio.then(|| {
            crate::sinks::audio::AudioArchive::new(
                self.audio_dir(),
                a.audio_bitrate as i32,
                a.audio_max_hold_s * 1000,
            )
        })
    }

    /// Where audio is (or was) kept, whether or not it is recorded now: retention still
    /// purges recordings made before audio was turned off.
    pub fn audio_dir(&self) -> PathBuf {
        if self.archive.audio_dir.as_os_str().is_empty() {
            self.server.data_dir.join("audio")
        } else {
            self.archive.audio_dir.clone()
        }
    }

    /// The archive database file.
    pub fn archive_path(&self) -> PathBuf {
        if self.archive.path.as_os_str().is_empty() {
            self.server.data_dir.join("callwatch.db")
        } else {
            self.archive.path.clone()
        }
    }
}

pub use crate::secret::Secret;
pub use crate::sources::siprec::SipConfig;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("", "x.toml").unwrap();
        assert_eq!(c.server.http.to_string(), "127.0.0.1:8080");
        assert_eq!(c.archive_path(), PathBuf::from("data/callwatch.db"));
        assert_eq!(
            c.model.resolved_path().unwrap(),
            PathBuf::from("models/ggml-base.bin")
        );
    }

    #[test]
    fn default_round_trips_through_toml() {
        let text = toml::to_string(&Config::default()).unwrap();
        let parsed = Config::parse(&text, "default.toml").unwrap();
        // Every field comes back as written: serialising the parsed config gives the same text.
        assert_eq!(toml::to_string(&parsed).unwrap(), text);
        assert!(text.contains("min_free_disk_mb = 256"), "{text}");
    }

    #[test]
    fn a_postgres_archive_is_checked_before_anything_connects() {
        let ok = Config::parse(
            "[archive]\nurl = \"postgres://cw@db/callwatch?sslmode=require\"\nca_file = \"ca.pem\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(
            ok.archive.postgres_url(),
            Some("postgres://cw@db/callwatch?sslmode=require")
        );
        assert!(ok.archive.ca_file().is_some());
        assert_eq!(Config::default().archive.postgres_url(), None);
        for (text, says) in [
            ("url = \"mysql://cw:pw@db/x\"", "not a PostgreSQL URL"),
            ("url = \"postgres://db/x\"\npath = \"/a.db\"", "remove one"),
            ("ca_file = \"ca.pem\"", "without archive.url"),
        ] {
            let e = Config::parse(&format!("[archive]\n{text}\n"), "x.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert!(!e.contains(":pw@"), "a password is never shown: {e}");
        }
    }

    #[test]
    fn recognition_bias_parses_and_its_budget_is_checked() {
        let c = Config::parse(
            "[asr.bias]\nenabled = true\nmax_tokens = 80\n[asr.bias.queues]\nwealth = [\"sales_promise\"]\n",
            "x.toml",
        )
        .unwrap();
        assert!(c.asr.bias.enabled);
        assert_eq!(c.asr.bias.queues["wealth"], ["sales_promise"]);
        let e =
            Config::parse("[asr.bias]\nenabled = true\nmax_tokens = 224\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("asr.bias.max_tokens"), "{e}");
        assert!(Config::parse("[asr.bias]\nprompt = \"x\"\n", "x.toml").is_err());
    }

    #[test]
    fn the_loop_guard_parses_and_a_wrong_one_is_named() {
        use crate::transforms::asr::LoopGuard;
        assert_eq!(
            Config::parse("", "x.toml").unwrap().asr.loop_guard,
            LoopGuard::default()
        );
        for (text, want) in [
            ("off", LoopGuard::Off),
            ("collapse", LoopGuard::Collapse),
            ("redecode", LoopGuard::Redecode),
        ] {
            let c = Config::parse(&format!("[asr]\nloop_guard = \"{text}\"\n"), "x.toml").unwrap();
            assert_eq!(c.asr.loop_guard, want);
            assert_eq!(c.asr.decode_options().loop_guard, want);
        }
        let e = Config::parse("[asr]\nloop_guard = \"sometimes\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("sometimes"), "{e}");
    }

    #[test]
    fn secrets_parse_as_written_and_never_print() {
        let c = Config::parse(
            "[sip]\ndigest_user = \"sbc\"\ndigest_password = \"pass phrase 1\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.sip.digest_password.expose(), "pass phrase 1");
        let shown = format!("{:?}", c.sip);
        assert!(!shown.contains("pass phrase"), "{shown}");
        assert!(shown.contains("<secret>"), "{shown}");
    }

    #[test]
    fn audio_archive_settings_are_checked() {
        let c = Config::parse("", "x.toml").unwrap();
        let a = c.audio_archive().expect("audio on by default");
        assert_eq!(a.root(), Path::new("data/audio"));
        assert_eq!(c.archive.audio_retention_days, 90);
        let off = Config::parse("[archive]\naudio = false\n", "x.toml").unwrap();
        assert!(off.audio_archive().is_none());
        for (text, want) in [
            ("[archive]\naudio_bitrate = 1000\n", "audio_bitrate"),
            ("[archive]\naudio_max_hold_s = 0\n", "audio_max_hold_s"),
            (
                "[archive]\nretention_days = 30\naudio_retention_days = 60\n",
                "audio_retention_days",
            ),
        ] {
            let e = Config::parse(text, "x.toml").unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn redact_section_parses_and_is_on_by_default() {
        use crate::transforms::redact::Category;
        let c = Config::parse("", "x.toml").unwrap();
        assert!(c.redact.enabled && !c.redact.categories.contains(&Category::Amount));
        let c = Config::parse(
            "[redact]\ncategories = [\"card\", \"amount\"]\nlabels = \"en\"\n[redact.custom_labels]\ncard = \"<card>\"\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.redact.categories, [Category::Card, Category::Amount]);
        assert_eq!(c.redact.custom_labels[&Category::Card], "<card>");
        let e = Config::parse("[redact]\ncategories = [\"iban\"]\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("iban"), "{e}");
        let e = Config::parse("[redact.custom_labels]\ncode = \"[code 2]\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("digit"), "{e}");
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Config::parse("[server]\nhttp = 5\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.toml") && e.contains("http"), "{e}");
        let e = Config::parse("[asr]\nlanguages = [\"xx\"]\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("xx"), "{e}");
        let e = Config::parse("[sip]\nagent = \"aor:(\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sip.agent"), "{e}");
        let e = Config::parse("[audiosocket]\nlisten = \"9092\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("audiosocket.listen") && e.contains("HOST:PORT"),
            "{e}"
        );
        let e = Config::parse("[rtp]\nport_min = 20000\nport_max = 20000\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rtp") && e.contains("20000"), "{e}");
        let mut r = RtpConfig::default();
        r.set_ports("30000-30099").unwrap();
        assert_eq!((r.port_min, r.port_max), (30000, 30099));
        assert!(r.set_ports("30000").is_err());
        let e = Config::parse("[bogus]\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
