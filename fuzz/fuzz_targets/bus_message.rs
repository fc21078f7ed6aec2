//! Arbitrary stream messages as a node reads them back from NATS: event bodies decoded for
//! subscribers, surge observations counted into a real detector, and published lexicon sets
//! checked and compiled, recognition jobs (header lines, a NUL, then the audio) and workers'
//! results. Never panics; an unreadable body is skipped.
#![no_main]

use callwatch::cluster::asr::wire::{Job, JobResult};
use callwatch::cluster::surge::apply_payload;
use callwatch::sinks::events::nats::decode_payload;
use callwatch::transforms::rules::InspectionSource;
use callwatch::transforms::surge::{SurgeConfig, SurgeHub, TopicSet};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn hub() -> &'static SurgeHub {
    static HUB: OnceLock<SurgeHub> = OnceLock::new();
    HUB.get_or_init(|| {
        let start = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
        let hub = SurgeHub::new(SurgeConfig::default(), TopicSet::empty(), start);
        hub.tick(start + time::Duration::minutes(2));
        hub
    })
}

fn source() -> &'static InspectionSource {
    static SOURCE: OnceLock<InspectionSource> = OnceLock::new();
    SOURCE.get_or_init(|| InspectionSource {
        lexicon_dir: "lexicons".into(),
        rules_dir: "lexicons/rules".into(),
        fuzzy_pinyin: true,
        category_modes: Default::default(),
    })
}

fuzz_target!(|data: &[u8]| {
    if let Some(p) = decode_payload(7, data) {
        // What a subscriber is sent is a JSON object carrying the stream id.
        let v: serde_json::Value = serde_json::from_str(&p.json).expect("event JSON");
        assert_eq!(v["id"], 7);
    }
    apply_payload(hub(), data);
    if let Ok(set) = callwatch::cluster::reload::decode(data) {
        let _ = callwatch::transforms::rules::Inspection::compile(&set.files, source());
    }
    let _ = JobResult::decode(data);
    if let Some(nul) = data.iter().position(|b| *b == 0) {
        let mut headers = async_nats::HeaderMap::new();
        for line in String::from_utf8_lossy(&data[..nul]).lines() {
            if let Some((k, v)) = line.split_once(": ") {
                if let (Ok(k), Ok(v)) = (
                    k.parse::<async_nats::HeaderName>(),
                    v.parse::<async_nats::HeaderValue>(),
                ) {
                    headers.insert(k, v);
                }
            }
        }
        if let Ok(job) = Job::decode(Some(&headers), &data[nul + 1..]) {
            assert!(job.audio.len() * 2 <= callwatch::cluster::asr::wire::MAX_JOB_AUDIO_BYTES);
            job.policy.validate().expect("a decoded policy is valid");
        }
    }
    let now = time::OffsetDateTime::from_unix_timestamp(1_780_000_600).unwrap();
    let _ = hub().tick(now);
});
