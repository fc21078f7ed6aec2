//! Arbitrary bytes into an AudioSocket session, split at arbitrary points: never panics, and
//! the split never changes what comes out.
//!
//! Input layout: byte 0 is the read size (1-256 bytes per feed); the rest is the stream.
#![no_main]

use callwatch::sources::audiosocket::{AudioSocketOutput, AudioSocketSession};
use libfuzzer_sys::fuzz_target;

fn drain(s: &mut AudioSocketSession, out: &mut Vec<AudioSocketOutput>) -> bool {
    loop {
        match s.poll() {
            Ok(Some(o)) => out.push(o),
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let mut whole = AudioSocketSession::new();
    let mut expected = Vec::new();
    whole.feed(stream);
    let whole_ok = drain(&mut whole, &mut expected);

    let mut split = AudioSocketSession::new();
    let mut got = Vec::new();
    let mut split_ok = true;
    for chunk in stream.chunks(usize::from(step) + 1) {
        split.feed(chunk);
        if !drain(&mut split, &mut got) {
            split_ok = false;
            break;
        }
    }
    assert_eq!(whole_ok, split_ok);
    assert_eq!(expected, got);
});
