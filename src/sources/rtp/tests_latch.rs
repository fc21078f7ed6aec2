//! Source latching through [`RtpStream`]: what a foreign sender's datagrams do (nothing, but
//! be counted), and what may and may not latch a port.

use super::latch::LatchPort;
use super::packet::build_rtp;
use super::payload::Codec;
use super::stream::{RtpStream, StreamConfig};
use crate::transforms::decode::g711::linear_to_ulaw;
use std::net::SocketAddr;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn pcmu() -> RtpStream {
    RtpStream::new(StreamConfig::single(0, Codec::Pcmu, 8000).unwrap()).unwrap()
}

/// 20 ms of a quiet sawtooth: the genuine audio.
fn quiet(seq: u16, ts: u32) -> Vec<u8> {
    let payload: Vec<u8> = (0..160)
        .map(|i| linear_to_ulaw(((i % 40) * 50) as i16))
        .collect();
    build_rtp(0, false, seq, ts, 7, &payload)
}

/// 20 ms at full scale (mu-law 0x00) in the same SSRC: the injected audio.
fn loud(seq: u16, ts: u32) -> Vec<u8> {
    build_rtp(0, false, seq, ts, 7, &[0x00; 160])
}

/// An RTCP receiver report without report blocks.
const RR: [u8; 8] = [0x80, 201, 0, 1, 0, 0, 0, 7];

#[test]
fn an_injector_on_the_same_ssrc_and_sequence_space_changes_nothing() {
    let (genuine, attacker) = (addr("198.51.100.1:4000"), addr("203.0.113.9:4000"));
    let mut alone = pcmu();
    let mut attacked = pcmu();
    let (mut want, mut got) = (Vec::new(), Vec::new());
    for i in 0..20u16 {
        let t = ms(i as u64 * 20);
        let d = quiet(100 + i, 160 * i as u32);
        want.extend(alone.on_datagram_from(&d, genuine, t));
        got.extend(attacked.on_datagram_from(&d, genuine, t));
        // Racing ahead in the genuine sequence space would win every slot if it were read.
        for ahead in [1, 2] {
            got.extend(attacked.on_datagram_from(
                &loud(100 + i + ahead, 160 * (i + ahead) as u32),
                attacker,
                t + ms(1),
            ));
        }
    }
    want.extend(alone.finish());
    got.extend(attacked.finish());
    assert_eq!(got, want, "injected audio reached the leg");
    let st = attacked.stats();
    assert_eq!(
        (st.foreign_dropped, st.rtp_packets, st.datagrams),
        (40, 20, 20)
    );
    assert_eq!(st.jitter.duplicates + st.jitter.late, 0);
    assert_eq!(attacked.rtp_source(), Some(genuine));
    let first = attacked.take_first_foreign().expect("first drop reported");
    assert_eq!(
        (first.port, first.from, first.latched),
        (LatchPort::Rtp, attacker, genuine)
    );
    assert!(attacked.take_first_foreign().is_none(), "reported twice");
}

#[test]
fn garbage_does_not_latch_the_port() {
    // A port scanner's probe arriving first must not lock the real sender out.
    let (scanner, genuine) = (addr("203.0.113.9:5000"), addr("198.51.100.1:4000"));
    let mut s = pcmu();
    let _ = s.on_datagram_from(b"\x00probe", scanner, ms(0));
    let _ = s.on_datagram_from(&[0x80, 201, 0, 40], scanner, ms(1)); // truncated RTCP
    assert_eq!(s.rtp_source(), None);
    let _ = s.on_datagram_from(&quiet(1, 0), genuine, ms(2));
    assert_eq!(s.rtp_source(), Some(genuine));
    let _ = s.on_datagram_from(&loud(2, 160), scanner, ms(3));
    let st = s.stats();
    assert_eq!(
        (st.malformed, st.rtp_packets, st.foreign_dropped),
        (2, 1, 1)
    );
}

#[test]
fn same_host_on_another_port_is_foreign() {
    let mut s = pcmu();
    let _ = s.on_datagram_from(&quiet(1, 0), addr("198.51.100.1:4000"), ms(0));
    let _ = s.on_datagram_from(&loud(2, 160), addr("198.51.100.1:4002"), ms(1));
    assert_eq!((s.stats().rtp_packets, s.stats().foreign_dropped), (1, 1));
}

#[test]
fn the_rtcp_port_latches_to_its_own_first_source() {
    let (rtp_from, rtcp_from) = (addr("198.51.100.1:4000"), addr("198.51.100.1:4001"));
    let other = addr("203.0.113.9:4001");
    let mut s = pcmu();
    let _ = s.on_datagram_from(&quiet(1, 0), rtp_from, ms(0));
    // The sender's RTCP socket is not its RTP socket; the RTCP port is not judged by RTP's latch.
    s.on_rtcp_datagram_from(&RR, rtcp_from, ms(1));
    s.on_rtcp_datagram_from(&RR, other, ms(2));
    s.on_rtcp_datagram_from(&RR, rtcp_from, ms(3));
    let st = s.stats();
    assert_eq!((st.rtcp_packets, st.foreign_dropped), (2, 1));
    let first = s.take_first_foreign().unwrap();
    assert_eq!((first.port, first.latched), (LatchPort::Rtcp, rtcp_from));
    // Multiplexed RTCP on the RTP port is judged by the RTP port's latch.
    let _ = s.on_datagram_from(&RR, rtcp_from, ms(4));
    assert_eq!(s.stats().foreign_dropped, 2);
}

#[test]
fn a_foreign_datagram_is_not_activity() {
    // Otherwise an injector could keep a finished call's receiver alive forever.
    let mut s = pcmu();
    let _ = s.on_datagram_from(&quiet(1, 0), addr("198.51.100.1:4000"), ms(0));
    let _ = s.on_datagram_from(&quiet(2, 160), addr("203.0.113.9:4000"), ms(5000));
    s.on_rtcp_datagram_from(&RR, addr("198.51.100.1:4001"), ms(0));
    s.on_rtcp_datagram_from(&RR, addr("203.0.113.9:4001"), ms(6000));
    assert_eq!(s.last_activity(), Some(ms(0)));
}

mod srtp {
    use super::*;
    use crate::sources::rtp::srtp::SrtpReceiver;
    use crate::sources::siprec::sdp::{CryptoOffer, SrtpSuite};
    use webrtc_srtp::context::Context;
    use webrtc_srtp::protection_profile::ProtectionProfile;

    const KEY: [u8; 30] = [5; 30];

    fn srtp_stream() -> RtpStream {
        let offer = CryptoOffer {
            tag: 1,
            suite: SrtpSuite::AesCm128HmacSha1_80,
            key: KEY,
        };
        pcmu().with_srtp(SrtpReceiver::new(&offer).unwrap())
    }

    fn sender(key: &[u8; 30]) -> Context {
        Context::new(
            &key[..16],
            &key[16..],
            ProtectionProfile::Aes128CmHmacSha1_80,
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn authentic_packets_are_taken_from_a_moved_sender_and_forgeries_are_not() {
        let (first, moved) = (addr("198.51.100.1:4000"), addr("198.51.100.2:4000"));
        let mut s = srtp_stream();
        let mut sbc = sender(&KEY);
        let mut protect = |seq: u16| sbc.encrypt_rtp(&quiet(seq, 160 * seq as u32)).unwrap();
        let _ = s.on_datagram_from(&protect(1), first, ms(0));
        // Authentication proves the sender, so an SBC failing over keeps its stream.
        let _ = s.on_datagram_from(&protect(2), moved, ms(20));
        // Without the key, a new address gets nothing through either.
        let forged = sender(&[6; 30]).encrypt_rtp(&loud(3, 480)).unwrap();
        let _ = s.on_datagram_from(&forged, addr("203.0.113.9:4000"), ms(40));
        let st = s.stats();
        assert_eq!(
            (st.rtp_packets, st.srtp_rejected, st.foreign_dropped),
            (2, 1, 0)
        );
        assert_eq!(s.rtp_source(), Some(first));
    }
}
