//! Arbitrary text as recording metadata and as a multipart body: never panics.
#![no_main]

use callwatch::sources::siprec::metadata::Metadata;
use callwatch::sources::siprec::multipart::recording_body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(mut md) = Metadata::parse(&text) {
        let _ = md.sender_of_label("1");
        let again = md.clone();
        md.apply(again);
    }
    let _ = recording_body("multipart/mixed;boundary=b", data);
});
