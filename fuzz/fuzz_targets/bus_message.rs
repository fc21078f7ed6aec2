//! Arbitrary stream messages as a node reads them back from NATS: event bodies decoded for
//! subscribers, surge observations counted into a real detector, and published lexicon sets
//! checked and compiled. Never panics; an unreadable body is skipped.
#![no_main]

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
    let now = time::OffsetDateTime::from_unix_timestamp(1_780_000_600).unwrap();
    let _ = hub().tick(now);
});
