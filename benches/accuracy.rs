//! Accuracy report: the Mandarin and English fixture calls played through the live pipeline
//! (decode, resample, segmenter, recogniser pool, matcher, as `callwatch serve` assembles it)
//! from their wideband (16 kHz) and telephone (8 kHz) copies, scored against their sidecars:
//!
//! - character (Mandarin) or word (English) error rate per call;
//! - term recall and precision of the hits on the finals, with every term matched in one mode
//!   (`exact`, `homophone`, `near`, `loose`) and as shipped (each category's configured mode), the
//!   shipped figures cross-checked against the hits the live matcher raised;
//! - ghost finals: finals where no line was said (gaps, noise) and on a call with no words at
//!   all (reversed speech, noise bursts), with the hits they raise.
//!
//! `cargo bench --bench accuracy -- [--model base] [--rates 16000,8000] [--languages zh,en]
//! [--bias off,on] [--loop-guard redecode,collapse,off]`
//! Prints tables and writes everything, transcripts included, to
//! `<target dir>/accuracy-bench.json`. `--rescore <report.json>` scores an earlier report's
//! finals again with the lexicons as they are now, without playing the calls.

#[path = "accuracy/calls.rs"]
mod calls;
#[path = "accuracy/score.rs"]
mod score;
#[allow(dead_code)] // the pipeline bench's helpers; this one uses a few
#[path = "pipeline/setup.rs"]
mod setup;
#[path = "accuracy/stream.rs"]
mod stream;

use callwatch::call::Speaker;
use callwatch::eval::noise;
use callwatch::model::{ModelSize, Quant};
use callwatch::sources::file::decode_file;
use callwatch::transforms::asr::WhisperModel;
use clap::Parser;
use score::{CallResult, Modes};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Accuracy report options; each also reads an `ACCURACY_BENCH_*` variable.
#[derive(Parser, Debug)]
#[command(name = "accuracy-bench")]
struct Args {
    /// Whisper model: base, optionally with its weight type (base-q8_0, base-q5_1).
    #[arg(long, env = "ACCURACY_BENCH_MODEL", default_value = "base")]
    model: String,
    /// Copies of each call to play, by sample rate.
    #[arg(
        long,
        env = "ACCURACY_BENCH_RATES",
        value_delimiter = ',',
        default_value = "16000,8000"
    )]
    rates: Vec<u32>,
    /// Languages of the calls to play.
    #[arg(
        long,
        env = "ACCURACY_BENCH_LANGUAGES",
        value_delimiter = ',',
        default_value = "zh,en"
    )]
    languages: Vec<String>,
    /// Recognition without and with the lexicon prompt (`[asr.bias]`), each playing every call.
    #[arg(
        long,
        env = "ACCURACY_BENCH_BIAS",
        value_delimiter = ',',
        default_value = "off"
    )]
    bias: Vec<String>,
    /// `[asr] loop_guard` settings to compare (redecode, collapse, off), each playing every call.
    #[arg(
        long,
        env = "ACCURACY_BENCH_LOOP_GUARD",
        value_delimiter = ',',
        default_value = "collapse"
    )]
    loop_guard: Vec<String>,
    /// Threads whisper.cpp uses per transcription.
    #[arg(long, env = "ACCURACY_BENCH_THREADS", default_value_t = 2)]
    threads: usize,
    /// Directory holding the model (default: models/ in the crate root).
    #[arg(long, env = "ACCURACY_BENCH_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    /// Where to write the JSON report (default: accuracy-bench.json in the target directory).
    #[arg(long, env = "ACCURACY_BENCH_OUTPUT")]
    output: Option<PathBuf>,
    /// Score the finals of an earlier report again, with the lexicons and matching modes as they
    /// are now, instead of playing the calls (seconds instead of minutes).
    #[arg(long, env = "ACCURACY_BENCH_RESCORE")]
    rescore: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ACCURACY_BENCH_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (size, quant) = args.model.split_once('-').unwrap_or((&args.model, "f16"));
    let (size, quant): (ModelSize, Quant) = match (size.parse(), quant.parse()) {
        (Ok(s), Ok(q)) => (s, q),
        _ => {
            eprintln!(
                "accuracy bench: unknown model `{}`; use base, base-q8_0 or base-q5_1",
                args.model
            );
            std::process::exit(2);
        }
    };
    let models_dir = args
        .models_dir
        .clone()
        .unwrap_or_else(|| root.join("models"));
    let path = setup::model_path(&models_dir, size, quant);
    let cfg = setup::config(args.threads.max(1));
    let calls = calls::load(&root.join("fixtures"), &args.languages);
    let modes = Modes::load(&cfg);
    if let Some(earlier) = &args.rescore {
        let (model, results) = rescore(earlier, &calls, &modes);
        print!("{}", score::table(&results, &model, 0.0));
        write_report(&args, root, &model, 0.0, &results);
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let model = WhisperModel::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let mut results: Vec<CallResult> = Vec::new();
    let variants = args
        .loop_guard
        .iter()
        .flat_map(|g| args.bias.iter().map(move |b| (b, g)));
    for (bias, guard) in variants {
        let mut cfg = cfg.clone();
        cfg.asr.bias.enabled = match bias.as_str() {
            "off" => false,
            "on" => true,
            b => panic!("--bias {b:?}: use off and/or on"),
        };
        cfg.asr.loop_guard = serde_json::from_value(serde_json::json!(guard))
            .unwrap_or_else(|_| panic!("--loop-guard {guard:?}: use redecode, collapse or off"));
        let variant = format!("{bias}/{guard}");
        let pool = setup::start_pool(model.clone(), &cfg);
        // As `serve` runs a call, minus partials: the report scores finals (what is archived), and
        // frames arrive faster than real time.
        let shared = setup::shared(&cfg, pool.clone(), 65_536, false);
        for &rate in &args.rates {
            for call in &calls {
                let Some(file) = call.files.get(&rate) else {
                    continue;
                };
                let audio = decode_file(file).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(audio.sample_rate, rate, "{}", file.display());
                let legs: Vec<(String, Speaker, Vec<i16>)> = call
                    .legs
                    .iter()
                    .zip(audio.channels)
                    .map(|(leg, pcm)| (leg.side.clone(), leg.speaker(), pcm))
                    .collect();
                eprintln!(
                    "{variant}  {rate} Hz  {} ({:.1} s)",
                    call.name, call.duration_s
                );
                let started = Instant::now();
                let heard = rt.block_on(stream::play(shared.clone(), &call.name, rate, legs, None));
                let mut r = score::score_call(call, rate, &heard, &modes, started.elapsed());
                r.variant = variant.clone();
                results.push(r);
            }
            if let Some(quiet) = calls.iter().find(|c| c.language == "zh" && !c.has_terms()) {
                let audio = decode_file(&quiet.files[&rate]).unwrap_or_else(|e| panic!("{e}"));
                let speech: Vec<i16> = audio.channels.concat();
                let legs = noise::wordless_call(&speech, rate);
                let secs = speech.len() as f64 / f64::from(rate);
                eprintln!("{rate} Hz  noise ({secs:.1} s: reversed speech, noise bursts)");
                let started = Instant::now();
                let heard = rt.block_on(stream::play(shared.clone(), "noise", rate, legs, None));
                let mut r = score::score_noise(rate, secs, &heard, &modes, started.elapsed());
                r.variant = variant.clone();
                results.push(r);
            }
        }
        drop(shared);
        pool.join();
    }
    let wall_s = t0.elapsed().as_secs_f64();
    print!("{}", score::table(&results, &args.model, wall_s));
    write_report(&args, root, &args.model, wall_s, &results);
}

fn write_report(args: &Args, root: &Path, model: &str, wall_s: f64, results: &[CallResult]) {
    let out = args.output.clone().unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join("accuracy-bench.json")
    });
    let json = serde_json::json!({ "model": model, "wall_s": wall_s, "calls": results });
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&json).expect("report serialises"),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
    eprintln!("report: {}", out.display());
}

/// One call of an earlier report, as far as scoring it again needs.
#[derive(serde::Deserialize)]
struct Earlier {
    call: String,
    variant: String,
    rate: u32,
    audio_s: f64,
    wall_s: f64,
    finals: Vec<stream::Final>,
    live_hits: usize,
}

/// The finals of an earlier report scored again; the report's model and its calls.
fn rescore(path: &Path, calls: &[calls::Call], modes: &Modes) -> (String, Vec<CallResult>) {
    #[derive(serde::Deserialize)]
    struct Report {
        model: String,
        calls: Vec<Earlier>,
    }
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("--rescore {}: {e}", path.display()));
    let report: Report = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("--rescore {}: not an accuracy report: {e}", path.display()));
    let mut results = Vec::new();
    for e in report.calls {
        let wall = std::time::Duration::from_secs_f64(e.wall_s);
        let mut finals = e.finals;
        let mut r = if e.call == "noise" {
            let speakers = noise::wordless_call(&[], e.rate);
            for f in &mut finals {
                if let Some((_, s, _)) = speakers.iter().find(|(leg, _, _)| *leg == f.leg) {
                    f.speaker = *s;
                }
            }
            let heard = stream::Heard {
                finals,
                live_hits: Vec::new(),
            };
            score::score_noise(e.rate, e.audio_s, &heard, modes, wall)
        } else {
            // Calls of a language not asked for this time are left out.
            let Some(call) = calls.iter().find(|c| c.name == e.call) else {
                continue;
            };
            for f in &mut finals {
                if let Some(leg) = call.legs.iter().find(|l| l.side == f.leg) {
                    f.speaker = leg.speaker();
                }
            }
            let heard = stream::Heard {
                finals,
                live_hits: Vec::new(),
            };
            score::score_call(call, e.rate, &heard, modes, wall)
        };
        r.variant = e.variant;
        // What the live matcher raised when the calls were played, with the modes of then.
        r.live_hits = e.live_hits;
        results.push(r);
    }
    (report.model, results)
}
