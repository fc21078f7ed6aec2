//! Arbitrary datagrams into the RTP/RTCP parsers and a receiving stream: never panics.
//!
//! Input layout: records of `[len, arrival_step, bytes...]`, each one datagram arriving
//! `arrival_step` ms after the previous; byte 0 picks the stream's codec.
#![no_main]

use callwatch::sources::rtp::{parse_rtcp, Codec, RtpPacket, RtpStream, StreamConfig};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let (pt, codec, rate) = match selector % 4 {
        0 => (0, Codec::Pcmu, 8000),
        1 => (8, Codec::Pcma, 8000),
        2 => (96, Codec::L16, 16000),
        _ => (111, Codec::Opus, 48000),
    };
    let mut stream = RtpStream::new(StreamConfig::single(pt, codec, rate).unwrap()).unwrap();
    let mut now = Duration::ZERO;
    while rest.len() >= 2 {
        let len = (rest[0] as usize).min(rest.len() - 2);
        now += Duration::from_millis(rest[1] as u64);
        let datagram = &rest[2..2 + len];
        rest = &rest[2 + len..];
        let _ = RtpPacket::parse(datagram);
        let _ = parse_rtcp(datagram);
        let _ = stream.on_datagram(datagram, now);
        let _ = stream.on_timer(now);
    }
    let _ = stream.finish();
});
