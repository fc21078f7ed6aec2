//! Arbitrary text as an SDP offer, answered when it parses: never panics, and the answer we
//! would send parses again with one m-line per offered stream (a peer must be able to read it),
//! SDES keys included.
#![no_main]

use callwatch::sources::siprec::sdp::{answer, parse_offer, Codec, StreamAnswer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(offer) = parse_offer(&text) {
        let answers: Vec<StreamAnswer> = offer
            .media
            .iter()
            .map(|m| match m.choose_codec(&[Codec::Pcmu, Codec::Pcma, Codec::Opus]) {
                Some((pt, codec)) => StreamAnswer::Accept {
                    port: 20000,
                    pt,
                    codec,
                    crypto: m.crypto.as_ref().map(|c| {
                        format!("{} {} inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz", c.tag, c.suite.name())
                    }),
                },
                None => StreamAnswer::Decline,
            })
            .collect();
        let text = answer(&offer, &answers, "127.0.0.1", 1, 1);
        let again = parse_offer(&text)
            .unwrap_or_else(|e| panic!("our answer does not parse ({e}):\n{text}"));
        assert_eq!(again.media.len(), offer.media.len(), "{text}");
        // A secure stream we accept is answered with a key the offerer can read back.
        for (m, a) in offer.media.iter().zip(&again.media) {
            if m.crypto.is_some() && a.port != 0 {
                assert!(a.crypto.is_some(), "{text}");
            }
        }
    }
});
