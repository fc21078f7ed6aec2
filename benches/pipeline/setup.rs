//! Assembles the live pipeline's shared state with the library's `assemble`, the function
//! `callwatch serve` calls, from the default configuration.

use callwatch::config::Config;
use callwatch::model::{ModelSize, Quant};
use callwatch::pipeline::assemble::{assemble, Mode};
use callwatch::pipeline::{ArchiveSink, Shared};
use callwatch::sinks::events::EventBus;
use callwatch::transforms::asr::{AsrPool, DecodeOptions, WhisperModel};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default configuration with `threads` whisper threads; its lexicons, rules, scorecard,
/// topics and knowledge base are the crate's own, wherever the bench runs from.
pub fn config(threads: usize) -> Config {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = Config::default();
    cfg.asr.threads = threads;
    cfg.lexicons.dir = root.join(&cfg.lexicons.dir);
    cfg.qa.scorecard = root.join(&cfg.qa.scorecard);
    cfg.surge.topics_dir = root.join(&cfg.surge.topics_dir);
    cfg.assist.dir = root.join(&cfg.assist.dir);
    cfg
}

/// The decoding options the pool gets from `cfg`, which the bare side copies.
pub fn decode_options(cfg: &Config) -> DecodeOptions {
    cfg.asr.decode_options()
}

/// The model file of `size` in `dir`; exits with instructions when it is missing, since
/// nothing can be measured without it.
pub fn model_path(dir: &Path, size: ModelSize, quant: Quant) -> PathBuf {
    let path = dir.join(size.file_name(quant));
    if !path.is_file() {
        eprintln!(
            "pipeline bench: model file {} is missing.\n\
             Fetch it with `cargo run -- model fetch {size} --quant {quant}` (or pass \
             --models-dir / PIPELINE_BENCH_MODELS_DIR to point at a directory holding {}).",
            path.display(),
            size.file_name(quant)
        );
        std::process::exit(2);
    }
    path
}

/// Starts the recogniser pool over `model` with the sizes and decoding options of `cfg`.
pub fn start_pool(model: WhisperModel, cfg: &Config) -> AsrPool {
    AsrPool::start(model, cfg.asr.pool_config())
        .unwrap_or_else(|e| panic!("recogniser pool did not start: {e}"))
}

/// Shared state for legs, assembled as `serve` assembles it (lexicons, rules, scorecard,
/// surges, assist): no archive, a fresh event bus of `bus_capacity`, partials as given.
pub fn shared(cfg: &Config, pool: AsrPool, bus_capacity: usize, partials: bool) -> Arc<Shared> {
    assemble(
        cfg,
        pool,
        ArchiveSink::disabled(),
        EventBus::new(bus_capacity),
        Mode {
            partials,
            live: true,
        },
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("the pipeline does not assemble: {e}"))
}
