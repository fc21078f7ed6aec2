//! Arbitrary datagrams into an SRTP-keyed RTP stream (the SIPREC SDES path): never panics,
//! and nothing that was not protected with the stream's key (the seeds use another one) is
//! ever decoded.
#![no_main]

use callwatch::sources::rtp::srtp::SrtpReceiver;
use callwatch::sources::rtp::{Codec, RtpStream, StreamConfig};
use callwatch::sources::siprec::sdp::{CryptoOffer, SrtpSuite};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let key = CryptoOffer {
        tag: 1,
        suite: SrtpSuite::AesCm128HmacSha1_80,
        key: [5; 30],
    };
    let cfg = StreamConfig::single(0, Codec::Pcmu, 8000).unwrap();
    let mut stream = RtpStream::new(cfg)
        .unwrap()
        .with_srtp(SrtpReceiver::new(&key).unwrap());
    for (i, datagram) in data.split(|b| *b == 0xff).enumerate() {
        let now = Duration::from_millis(20 * i as u64);
        let _ = stream.on_datagram(datagram, now);
        stream.on_rtcp_datagram(datagram, now);
    }
    let s = stream.stats();
    assert_eq!(s.rtp_packets + s.rtcp_packets, 0, "forged packets got through: {s:?}");
});
