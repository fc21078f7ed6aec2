//! Arbitrary text as a WHIP offer and arbitrary query/header pairs as publish parameters:
//! never panics, and an accepted offer has an audio section.
#![no_main]

use callwatch::sources::whip::offer::summarize;
use callwatch::sources::whip::PublishParams;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(s) = summarize(&text) {
        assert!(s.audio_sections >= 1, "accepted an offer without audio: {s:?}");
    }
    // The first line as a query string, the rest as headers.
    let (query, headers) = text.split_once('\n').unwrap_or((&text, ""));
    let query: HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let headers: HashMap<String, String> = headers
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let _ = PublishParams::from_parts(&query, |h| headers.get(&h.to_ascii_lowercase()).cloned());
});
