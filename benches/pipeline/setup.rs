//! Assembles the live pipeline's shared state the way `callwatch serve` and
//! `callwatch transcribe` do (see `build_shared` in the binary), from the default configuration.

use callwatch::clock::{SharedClock, SystemClock};
use callwatch::config::Config;
use callwatch::model::ModelSize;
use callwatch::pipeline::{ArchiveSink, Shared};
use callwatch::sinks::events::EventBus;
use callwatch::transforms::asr::{AsrPool, DecodeOptions, WhisperModel};
use callwatch::transforms::matcher::{Lexicon, Matcher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default configuration with `threads` whisper threads and lexicons from the crate root.
pub fn config(threads: usize) -> Config {
    let mut cfg = Config::default();
    cfg.asr.threads = threads;
    cfg.lexicons.dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons");
    cfg
}

/// The decoding options the pool gets from `cfg`, which the bare side copies.
pub fn decode_options(cfg: &Config) -> DecodeOptions {
    cfg.asr.decode_options()
}

/// The model file of `size` in `dir`; exits with instructions when it is missing, since
/// nothing can be measured without it.
pub fn model_path(dir: &Path, size: ModelSize) -> PathBuf {
    let path = dir.join(size.file_name());
    if !path.is_file() {
        eprintln!(
            "pipeline bench: model file {} is missing.\n\
             Fetch it with `cargo run -- model fetch {size}` (or pass --models-dir / \
             PIPELINE_BENCH_MODELS_DIR to point at a directory holding {}).",
            path.display(),
            size.file_name()
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

/// Shared state for legs: no archive, a fresh event bus of `bus_capacity`, partials as given.
pub fn shared(cfg: &Config, pool: AsrPool, bus_capacity: usize, partials: bool) -> Arc<Shared> {
    let lexicon = Lexicon::load_dir(&cfg.lexicons.dir).unwrap_or_else(|e| {
        panic!(
            "lexicons in {} do not load: {e}",
            cfg.lexicons.dir.display()
        )
    });
    let matcher = Matcher::new(lexicon).unwrap_or_else(|e| panic!("matcher: {e}"));
    Arc::new(Shared::new(
        cfg,
        pool,
        matcher.into(),
        EventBus::new(bus_capacity),
        ArchiveSink::disabled(),
        Arc::new(SystemClock) as SharedClock,
        partials,
        None,
    ))
}
