//! Regression for the known failure of a biased prompt: Whisper writing prompt terms over sound
//! that is not speech. With `[asr.bias]` on, a telephone call of time-reversed speech on the
//! customer leg and noise bursts on the agent leg goes through the live pipeline (real Whisper
//! base, the shipped lexicons and script); it may produce ghost finals, but no phrase hit.
//! Before the unsure-term re-decode, this call raised 媒体 and 曝光 from
//! "按媒体曝光、注销会议软件为" (the customer prompt names 找媒体曝光 and 注销校园贷).

#[allow(dead_code)] // the benchmarks' helpers; this test uses a few
#[path = "../benches/pipeline/setup.rs"]
mod setup;
#[path = "../benches/accuracy/stream.rs"]
mod stream;

use callwatch::eval::noise;
use callwatch::model::{ModelSize, Quant};
use callwatch::sources::file::decode_file;
use callwatch::transforms::asr::WhisperModel;
use std::path::Path;

#[test]
fn a_biased_prompt_puts_no_term_into_noise() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = setup::config(2);
    cfg.asr.bias.enabled = true;
    let model = setup::model_path(&root.join("models"), ModelSize::Base, Quant::F16);
    let pool = setup::start_pool(WhisperModel::load(&model).unwrap(), &cfg);
    let shared = setup::shared(&cfg, pool.clone(), 65_536, false);
    let audio = decode_file(&root.join("fixtures/accuracy/zh_card_activation_8k.flac")).unwrap();
    let legs = noise::wordless_call(&audio.channels.concat(), 8000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let heard = rt.block_on(stream::play(shared, "noise", 8000, legs, None));
    pool.join();
    let finals: Vec<&str> = heard.finals.iter().map(|f| f.text.as_str()).collect();
    assert!(
        heard.live_hits.is_empty(),
        "hits on noise: {:?}\nfinals: {finals:?}",
        heard.live_hits
    );
}
