//! End-to-end pipeline benchmark, in one run so its ratios share the machine's conditions:
//!
//! 1. overhead of callwatch's offline pipeline (decode -> VAD segmenter -> ASR pool -> matcher
//!    -> events, as `callwatch transcribe` runs it) over bare whisper-rs calls with the same
//!    decoding parameters on the same utterance files, interleaved round by round;
//! 2. latency from the end of an utterance to its `transcript.final`, streaming the two-leg call
//!    fixtures at real-time pace through the live pipeline with partials on, once per language
//!    mode: `memory` (the service's default: detect until a leg's language is clear, then keep
//!    it), `detect` (detect on every utterance) and `forced` (the fixture's language given, as
//!    a source that knows it would).
//!
//! `cargo bench --bench pipeline -- --models base,tiny.en --rounds 3 [--skip-realtime]
//! [--language-modes memory,detect,forced] [--hangovers fixed,adaptive]`
//! Prints a table and writes it as JSON to `<target dir>/pipeline-bench.json`.

#[path = "pipeline/bare.rs"]
mod bare;
#[path = "pipeline/fixtures.rs"]
mod fixtures;
#[path = "pipeline/latency.rs"]
mod latency;
#[path = "pipeline/overhead.rs"]
mod overhead;
#[path = "pipeline/report.rs"]
mod report;
#[path = "pipeline/setup.rs"]
mod setup;
#[path = "pipeline/stats.rs"]
mod stats;

use callwatch::model::{ModelSize, Quant};
use callwatch::transforms::asr::WhisperModel;
use clap::Parser;
use report::{BenchReport, ModelReport, RunInfo};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Pipeline benchmark options; each also reads a `PIPELINE_BENCH_*` variable.
#[derive(Parser, Debug)]
#[command(name = "pipeline-bench")]
struct Args {
    /// Models to measure: base (English and Mandarin fixtures), tiny.en (English only), each
    /// optionally with its weight type: base-q8_0, base-q5_1 (fetched with `--quant`).
    #[arg(
        long,
        env = "PIPELINE_BENCH_MODELS",
        value_delimiter = ',',
        default_value = "base,tiny.en"
    )]
    models: Vec<String>,
    /// Interleaved rounds of the overhead comparison (per-file medians are taken).
    #[arg(long, env = "PIPELINE_BENCH_ROUNDS", default_value_t = 3)]
    rounds: usize,
    /// Threads whisper.cpp uses per transcription, on both sides.
    #[arg(long, env = "PIPELINE_BENCH_THREADS", default_value_t = 2)]
    threads: usize,
    /// Skip the real-time latency part (it takes as long as the call fixtures last).
    #[arg(long, env = "PIPELINE_BENCH_SKIP_REALTIME")]
    skip_realtime: bool,
    /// Language modes of the real-time part, each streaming every call: memory, detect, forced.
    #[arg(
        long,
        env = "PIPELINE_BENCH_LANGUAGE_MODES",
        value_delimiter = ',',
        default_value = "memory,detect,forced"
    )]
    language_modes: Vec<String>,
    /// Hangovers of the real-time part, each streaming every call in every language mode:
    /// fixed (`hangover_ms`, the default) and adaptive (`adaptive_hangover = true`).
    #[arg(
        long,
        env = "PIPELINE_BENCH_HANGOVERS",
        value_delimiter = ',',
        default_value = "fixed"
    )]
    hangovers: Vec<String>,
    /// Skip the overhead comparison.
    #[arg(long, env = "PIPELINE_BENCH_SKIP_OVERHEAD")]
    skip_overhead: bool,
    /// Directory holding ggml-<model>.bin (default: models/ in the crate root).
    #[arg(long, env = "PIPELINE_BENCH_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    /// Where to write the JSON report (default: pipeline-bench.json in the target directory).
    #[arg(long, env = "PIPELINE_BENCH_OUTPUT")]
    output: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    init_logging();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models_dir = args
        .models_dir
        .clone()
        .unwrap_or_else(|| root.join("models"));
    let sizes: Vec<(ModelSize, Quant)> = args
        .models
        .iter()
        .map(|m| {
            let (size, quant) = m.split_once('-').unwrap_or((m, "f16"));
            size.parse()
                .ok()
                .zip(quant.parse().ok())
                .unwrap_or_else(|| {
                    eprintln!(
                        "pipeline bench: unknown model `{m}`; use base and/or tiny.en, \
                     optionally with -q8_0 or -q5_1"
                    );
                    std::process::exit(2);
                })
        })
        .collect();
    // Check every model before measuring anything, so a missing one fails in seconds.
    let paths: Vec<PathBuf> = sizes
        .iter()
        .map(|&(s, q)| setup::model_path(&models_dir, s, q))
        .collect();
    let rounds = args.rounds.max(1);
    let cfg = setup::config(args.threads.max(1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let load_start = report::load_average();
    let t0 = Instant::now();
    let mut models = Vec::new();
    for ((size, quant), path) in sizes.iter().zip(&paths) {
        let name = match quant {
            Quant::F16 => size.to_string(),
            q => format!("{size}-{q}"),
        };
        eprintln!("model {name}: {}", path.display());
        let t_load = Instant::now();
        let model = WhisperModel::load(path).unwrap_or_else(|e| panic!("{e}"));
        let model_load_s = t_load.elapsed().as_secs_f64();
        let multilingual = model.is_multilingual();
        let languages: &[&str] = if multilingual { &["en", "zh"] } else { &["en"] };
        let pool = setup::start_pool(model, &cfg);

        let overhead = (!args.skip_overhead).then(|| {
            let files: Vec<_> = languages
                .iter()
                .flat_map(|l| fixtures::utterances(l))
                .collect();
            eprintln!("  overhead: {} files x {rounds} rounds", files.len());
            let mut bare = bare::BareWhisper::load(path, setup::decode_options(&cfg))
                .unwrap_or_else(|e| panic!("bare whisper-rs on {}: {e}", path.display()));
            // Like `callwatch transcribe`: no archive, no partials, a deep event bus.
            let shared = setup::shared(&cfg, pool.clone(), 65_536, false);
            overhead::run(&rt, &shared, &mut bare, &files, rounds)
        });

        let mut calls = Vec::new();
        let realtime = args
            .language_modes
            .iter()
            .flat_map(|m| args.hangovers.iter().map(move |h| (m, h)));
        if !args.skip_realtime {
            for (mode, hangover) in realtime {
                let forced = match mode.as_str() {
                    "memory" | "detect" => false,
                    "forced" => true,
                    m => panic!("language mode {m:?}: use memory, detect or forced"),
                };
                // Like `callwatch serve`: partials as configured (on), the configured bus.
                let mut cfg = cfg.clone();
                cfg.asr.language_memory = mode == "memory";
                cfg.segment.adaptive_hangover = match hangover.as_str() {
                    "fixed" => false,
                    "adaptive" => true,
                    h => panic!("hangover {h:?}: use fixed or adaptive"),
                };
                let mode = if args.hangovers.len() > 1 {
                    format!("{mode} {hangover}")
                } else {
                    mode.clone()
                };
                let shared = setup::shared(&cfg, pool.clone(), cfg.events.buffer, cfg.asr.partials);
                for lang in languages {
                    let call = fixtures::call(&format!("call_{lang}"));
                    eprintln!(
                        "  real time, {mode}: {} ({:.1} s)",
                        call.name, call.duration_s
                    );
                    let mut c = rt.block_on(latency::stream_call(shared.clone(), &call, forced));
                    c.call = format!("{} {mode}", c.call);
                    calls.push(c);
                }
            }
        }
        pool.join();
        let latency = (!calls.is_empty())
            .then(|| latency::LatencySummary::of(calls.iter().flat_map(|c| &c.finals)));
        models.push(ModelReport {
            model: name,
            model_load_s,
            overhead,
            calls,
            latency,
        });
    }

    let report = BenchReport {
        run: RunInfo {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            whisper_threads: cfg.asr.threads,
            rounds,
            hangover_ms: cfg.segment.hangover_ms,
            tail_ms: cfg.segment.tail_ms,
            load_start,
            load_end: report::load_average(),
            wall_s: t0.elapsed().as_secs_f64(),
        },
        models,
    };
    print!("{}", report::table(&report));
    let out = args.output.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join("pipeline-bench.json")
    });
    let json = serde_json::to_string_pretty(&report).expect("report serialises");
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&out, json) {
        Ok(()) => println!("written to {}", out.display()),
        Err(e) => eprintln!("pipeline bench: cannot write {}: {e}", out.display()),
    }
}

/// whisper.cpp logs through tracing; keep its chatter out of the table unless RUST_LOG asks.
fn init_logging() {
    whisper_rs::install_logging_hooks();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,whisper_rs=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
