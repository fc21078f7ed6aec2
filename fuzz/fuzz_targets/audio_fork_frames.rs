//! Arbitrary frame sequences into a mod_audio_fork session: never panics.
//!
//! Input layout: byte 0 picks the query (rate and mix), then records of
//! `[kind, len, bytes...]`: even kind = text frame, odd kind = binary frame.
#![no_main]

use callwatch::sources::audio_fork::AudioForkSession;
use callwatch::sources::fork::ForkSession;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let rates = ["8000", "16000", "24000", "8k", "11025", ""];
    let mixes = ["mono", "stereo", "mixed", "2", "quad"];
    let mut query = HashMap::new();
    query.insert("rate".to_string(), rates[selector as usize % rates.len()].to_string());
    query.insert("mix".to_string(), mixes[(selector as usize / 8) % mixes.len()].to_string());
    let mut session = AudioForkSession::new(&query);
    while rest.len() >= 2 {
        let kind = rest[0];
        let len = (rest[1] as usize).min(rest.len() - 2);
        let frame = &rest[2..2 + len];
        rest = &rest[2 + len..];
        let _ = if kind % 2 == 0 {
            session.on_text(&String::from_utf8_lossy(frame))
        } else {
            session.on_binary(frame)
        };
    }
    let _ = session.on_close();
});
