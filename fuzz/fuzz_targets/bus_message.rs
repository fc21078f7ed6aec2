//! Arbitrary stream messages as a node reads them back from NATS: event bodies decoded for
//! subscribers, and surge observations counted into a real detector. Never panics; an
//! unreadable body is skipped.
#![no_main]

use callwatch::cluster::surge::apply_payload;
use callwatch::sinks::events::nats::decode_payload;
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

fuzz_target!(|data: &[u8]| {
    if let Some(p) = decode_payload(7, data) {
        // What a subscriber is sent is a JSON object carrying the stream id.
        let v: serde_json::Value = serde_json::from_str(&p.json).expect("event JSON");
        assert_eq!(v["id"], 7);
    }
    apply_payload(hub(), data);
    let now = time::OffsetDateTime::from_unix_timestamp(1_780_000_600).unwrap();
    let _ = hub().tick(now);
});
