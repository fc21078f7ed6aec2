//! The recognition bias keeps each leg's prompt within its token budget by an estimate, since
//! legs open on the async runtime, away from the model. The estimate must never fall short of
//! what Whisper's own tokeniser counts: a prompt over Whisper's half context loses its oldest
//! tokens, the Simplified-Chinese opening first. Checked against the base model's vocabulary
//! for every shipped term and script phrase and for the prompts each speaker gets at the
//! largest budget; prints how much budget the estimate leaves unused.

use callwatch::call::Speaker;
use callwatch::transforms::asr::bias::{
    estimate_tokens, leg_bias, BiasConfig, Scripts, MAX_PROMPT_TOKENS,
};
use callwatch::transforms::asr::WhisperModel;
use callwatch::transforms::matcher::Lexicon;
use std::path::Path;

#[test]
fn token_estimate_never_falls_short_of_whispers_tokeniser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = WhisperModel::load(&root.join("models/ggml-base.bin"))
        .expect("models/ggml-base.bin (fetch it with `cargo run -- model fetch base`)");
    let lexicon = Lexicon::load_dir(&root.join("lexicons")).unwrap();
    let scripts = Scripts::load(&root.join("lexicons/scripts"));
    let base_zh = callwatch::transforms::asr::DecodeOptions::default().zh_prompt;

    let mut pieces: Vec<String> = lexicon.terms.iter().map(|t| t.text.clone()).collect();
    pieces.extend(scripts.phrases(None).iter().cloned());
    pieces.extend(["、", "。", "; ", ".", base_zh.as_str()].map(String::from));
    assert!(pieces.len() > 100, "{} pieces", pieces.len());
    let (mut estimated, mut real) = (0, 0);
    let mut short = Vec::new();
    for p in &pieces {
        let (e, r) = (estimate_tokens(p), model.count_tokens(p).expect(p));
        estimated += e;
        real += r;
        if e < r {
            short.push(format!("{p:?}: estimated {e}, tokenised {r}"));
        }
    }
    println!(
        "{} terms and phrases: estimated {estimated} tokens, tokenised {real} ({:.2}x)",
        pieces.len(),
        estimated as f64 / real as f64
    );
    assert!(
        short.is_empty(),
        "estimate short of the tokeniser:\n{}",
        short.join("\n")
    );

    let cfg = BiasConfig {
        enabled: true,
        max_tokens: MAX_PROMPT_TOKENS,
        ..BiasConfig::default()
    };
    for speaker in [Speaker::Agent, Speaker::Customer, Speaker::Unknown] {
        let script = if speaker == Speaker::Agent {
            scripts.phrases(None)
        } else {
            &[]
        };
        let bias = leg_bias(&cfg, &base_zh, &lexicon.terms, speaker, None, script).unwrap();
        for prompt in [&bias.zh, &bias.en] {
            let real = model.count_tokens(prompt).expect(prompt);
            println!(
                "{speaker:?}: estimated {}, tokenised {real} (budget {MAX_PROMPT_TOKENS}): {prompt}",
                estimate_tokens(prompt)
            );
            assert!(
                real <= MAX_PROMPT_TOKENS,
                "{speaker:?}: {real} tokens: {prompt}"
            );
        }
    }
}
