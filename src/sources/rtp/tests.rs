use super::jitter::{Admission, JitterBuffer, JitterConfig, Released};
use super::packet::{build_rtp, RtpError, RtpPacket};
use super::payload::{Codec, PayloadError, PayloadMap};
use super::rtcp::{is_rtcp, parse_rtcp, RtcpError, RTCP_BYE, RTCP_RR, RTCP_SDES, RTCP_SR};
use super::stream::{RtpStream, StreamConfig, StreamError};
use crate::transforms::decode::g711::linear_to_ulaw;
use proptest::prelude::*;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- packet parsing ----

#[test]
fn parses_header_fields_csrcs_extension_and_padding() {
    // V=2 P=1 X=1 CC=2, M=1 PT=96, seq 0xBEEF, ts 0x01020304, ssrc 0xCAFEBABE
    let mut d = vec![
        0xB2,
        0x80 | 96,
        0xBE,
        0xEF,
        1,
        2,
        3,
        4,
        0xCA,
        0xFE,
        0xBA,
        0xBE,
    ];
    d.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // two CSRCs
    d.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // one-word extension
    d.extend_from_slice(b"audio");
    d.extend_from_slice(&[0, 0, 3]); // three bytes of padding
    let p = RtpPacket::parse(&d).unwrap();
    assert!(p.marker);
    assert_eq!(p.payload_type, 96);
    assert_eq!(p.sequence, 0xBEEF);
    assert_eq!(p.timestamp, 0x0102_0304);
    assert_eq!(p.ssrc, 0xCAFE_BABE);
    assert_eq!(p.csrc_count, 2);
    assert_eq!(p.extension_profile, Some(0xBEDE));
    assert_eq!(p.payload, b"audio");
}

#[test]
fn malformed_packets_get_typed_errors() {
    let ok = build_rtp(0, false, 1, 160, 7, &[0xff; 4]);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = ok.clone();
        f(&mut d);
        d
    };
    let cases: Vec<(Vec<u8>, RtpError)> = vec![
        (vec![0x80; 11], RtpError::TooShort(11)),
        (with(&|d| d[0] = 0x40), RtpError::BadVersion(1)),
        (
            with(&|d| d[0] = 0x83),
            RtpError::TruncatedCsrcs { csrcs: 3, len: 16 },
        ),
        (
            with(&|d| {
                d[0] = 0x90;
                d.truncate(14)
            }),
            RtpError::TruncatedExtension { len: 14 },
        ),
        (
            with(&|d| {
                d[0] = 0x90;
                d[12..16].copy_from_slice(&[0, 0, 0, 5])
            }),
            RtpError::TruncatedExtension { len: 16 },
        ),
        (
            with(&|d| {
                d[0] = 0xA0;
                d[15] = 9
            }),
            RtpError::BadPadding {
                padding: 9,
                available: 4,
            },
        ),
        (
            with(&|d| {
                d[0] = 0xA0;
                d[15] = 0
            }),
            RtpError::BadPadding {
                padding: 0,
                available: 4,
            },
        ),
    ];
    for (datagram, want) in cases {
        assert_eq!(RtpPacket::parse(&datagram), Err(want.clone()), "{want}");
    }
    assert!(RtpError::TooShort(3)
        .to_string()
        .contains("not speaking RTP"));
}

// ---- RTCP ----

fn rtcp(pt: u8, count: u8, words_after_header: usize) -> Vec<u8> {
    let mut v = vec![0x80 | count, pt];
    v.extend_from_slice(&(words_after_header as u16).to_be_bytes());
    v.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    v.resize(4 + 4 * words_after_header, 0);
    v
}

#[test]
fn rtcp_demux_and_compound_walk() {
    let mut compound = rtcp(RTCP_SR, 0, 6);
    compound.extend(rtcp(RTCP_SDES, 1, 3));
    compound.extend(rtcp(RTCP_BYE, 1, 1));
    assert!(is_rtcp(&compound));
    let packets = parse_rtcp(&compound).unwrap();
    let types: Vec<u8> = packets.iter().map(|p| p.packet_type).collect();
    assert_eq!(types, vec![RTCP_SR, RTCP_SDES, RTCP_BYE]);
    assert!(packets.iter().all(|p| p.ssrc == Some(0x1234_5678)));
    // RTP with the marker bit and any payload type outside 64..=95 is never taken for RTCP.
    for pt in (0u8..64).chain(96..128) {
        assert!(!is_rtcp(&build_rtp(pt, true, 1, 1, 1, &[0; 4])), "pt {pt}");
    }
    let rr = rtcp(RTCP_RR, 0, 1);
    let cases: Vec<(Vec<u8>, RtcpError)> = vec![
        (rr[..3].to_vec(), RtcpError::TooShort { offset: 0 }),
        (
            [rr.clone(), vec![0x80, RTCP_RR]].concat(),
            RtcpError::TooShort { offset: 8 },
        ),
        (
            {
                let mut d = rr.clone();
                d[0] = 0x01;
                d
            },
            RtcpError::BadVersion {
                version: 0,
                offset: 0,
            },
        ),
        (
            {
                let mut d = rr.clone();
                d[3] = 9;
                d
            },
            RtcpError::Truncated {
                offset: 0,
                declared: 40,
                available: 8,
            },
        ),
    ];
    for (d, want) in cases {
        assert_eq!(parse_rtcp(&d), Err(want));
    }
}

// ---- payload map ----

#[test]
fn payload_map_static_and_rtpmap() {
    let m = PayloadMap::default();
    assert_eq!(m.get(0).unwrap().codec, Codec::Pcmu);
    assert_eq!(m.get(8).unwrap().codec, Codec::Pcma);
    assert_eq!(m.get(13).unwrap().codec, Codec::ComfortNoise);
    assert!(m.get(96).is_none());
    let mut m = PayloadMap::empty();
    m.insert_rtpmap(111, "opus/48000/2").unwrap();
    m.insert_rtpmap(101, "telephone-event/8000").unwrap();
    m.insert_rtpmap(97, "L16/16000/1").unwrap();
    assert_eq!(m.get(111).unwrap().codec, Codec::Opus);
    assert_eq!(m.get(97).unwrap().clock_rate, 16000);
    assert_eq!(m.get(101).unwrap().codec, Codec::TelephoneEvent);
    let errors: Vec<(u16, &str, PayloadError)> = vec![
        (96, "L16/16000/2", PayloadError::NotMono { channels: 2 }),
        (96, "G729/8000", PayloadError::UnknownCodec("G729".into())),
        (96, "opus", PayloadError::BadRtpmap("opus".into())),
        (96, "opus/x", PayloadError::BadRtpmap("opus/x".into())),
        (200, "PCMU/8000", PayloadError::OutOfRange(200)),
        (72, "PCMU/8000", PayloadError::CollidesWithRtcp(72)),
    ];
    for (pt, map, want) in errors {
        assert_eq!(m.insert_rtpmap(pt, map), Err(want), "{map}");
    }
    assert!(matches!(
        m.insert_rtpmap(96, "opus/16000/2"),
        Err(PayloadError::BadRate { .. })
    ));
}

// ---- jitter buffer ----

fn pkt(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    build_rtp(0, false, seq, ts, ssrc, &[seq as u8; 4])
}

fn push(jb: &mut JitterBuffer, d: &[u8], at: Duration) -> (Admission, Vec<Released>) {
    let a = jb.push(&RtpPacket::parse(d).unwrap(), at);
    (a, jb.pop(at))
}

fn seqs(r: &[Released]) -> Vec<u8> {
    r.iter().map(|p| p.payload[0]).collect()
}

#[test]
fn first_packet_waits_the_depth_then_in_order_packets_pass_at_once() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    assert!(push(&mut jb, &pkt(0, 0, 1), ms(0)).1.is_empty());
    // A packet overtaking the first one is still in time.
    assert!(
        push(&mut jb, &pkt(65535, 0u32.wrapping_sub(160), 1), ms(10))
            .1
            .is_empty()
    );
    let out = jb.pop(ms(60));
    assert_eq!(seqs(&out), vec![255, 0]);
    assert!(out[0].new_source && !out[1].new_source);
    assert_eq!(out[1].timestamp - out[0].timestamp, 160);
    for i in 1..5u16 {
        let (a, out) = push(&mut jb, &pkt(i, i as u32 * 160, 1), ms(60 + 20 * i as u64));
        assert_eq!(a, Admission::Buffered);
        assert_eq!(seqs(&out), vec![i as u8]);
    }
}

#[test]
fn reorder_duplicate_late_and_loss() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    push(&mut jb, &pkt(10, 0, 1), ms(0));
    assert_eq!(seqs(&jb.pop(ms(60))), vec![10]);
    // 12 before 11: held until 11 arrives.
    assert!(push(&mut jb, &pkt(12, 320, 1), ms(20)).1.is_empty());
    assert_eq!(jb.next_deadline(), Some(ms(80)));
    assert_eq!(
        seqs(&push(&mut jb, &pkt(11, 160, 1), ms(30)).1),
        vec![11, 12]
    );
    // Duplicates of held or played packets.
    assert_eq!(push(&mut jb, &pkt(12, 320, 1), ms(31)).0, Admission::Late);
    assert!(push(&mut jb, &pkt(14, 640, 1), ms(40)).1.is_empty());
    assert_eq!(
        push(&mut jb, &pkt(14, 640, 1), ms(41)).0,
        Admission::Duplicate
    );
    // 13 never comes: 14 is released once it has waited the depth, with the loss noted.
    assert!(jb.pop(ms(99)).is_empty());
    let out = jb.pop(ms(100));
    assert_eq!(seqs(&out), vec![14]);
    assert_eq!(out[0].lost_before, 1);
    // 13 arriving now is late.
    assert_eq!(push(&mut jb, &pkt(13, 480, 1), ms(101)).0, Admission::Late);
    let s = jb.stats();
    assert_eq!((s.lost, s.late, s.duplicates), (1, 2, 1));
}

#[test]
fn capacity_forces_out_the_oldest_gap() {
    let mut jb = JitterBuffer::new(JitterConfig {
        depth: ms(1000),
        capacity: 3,
    });
    push(&mut jb, &pkt(0, 0, 1), ms(0));
    jb.pop(ms(1000));
    for s in 2..5u16 {
        assert!(push(&mut jb, &pkt(s, s as u32 * 160, 1), ms(0))
            .1
            .is_empty());
    }
    let out = push(&mut jb, &pkt(5, 800, 1), ms(0)).1;
    assert_eq!(seqs(&out), vec![2, 3, 4, 5]);
    assert_eq!(out[0].lost_before, 1);
}

#[test]
fn sequence_and_timestamp_wrap() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let start_ts = u32::MAX - 200;
    let mut all = Vec::new();
    for i in 0..6u32 {
        let seq = 65533u16.wrapping_add(i as u16);
        all.extend(
            push(
                &mut jb,
                &pkt(seq, start_ts.wrapping_add(i * 160), 1),
                ms(i as u64),
            )
            .1,
        );
    }
    all.extend(jb.pop(ms(100)));
    assert_eq!(all.len(), 6);
    for w in all.windows(2) {
        assert_eq!(w[1].timestamp - w[0].timestamp, 160);
    }
    assert_eq!(jb.stats().lost, 0);
}

#[test]
fn ssrc_change_flushes_old_and_ignores_its_stragglers() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    push(&mut jb, &pkt(100, 0, 1), ms(0));
    jb.pop(ms(60));
    assert!(push(&mut jb, &pkt(102, 320, 1), ms(70)).1.is_empty());
    // New source: the held packet of the old one plays out first, then the new one.
    let out = push(&mut jb, &pkt(7, 99_999, 2), ms(80)).1;
    assert_eq!(seqs(&out), vec![102]);
    assert_eq!(
        push(&mut jb, &pkt(101, 160, 1), ms(81)).0,
        Admission::StaleSource
    );
    let out = jb.pop(ms(140));
    assert_eq!(seqs(&out), vec![7]);
    assert!(out[0].new_source);
    assert_eq!(jb.stats().source_changes, 1);
}

#[test]
fn a_huge_sequence_jump_resyncs_instead_of_waiting() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    push(&mut jb, &pkt(0, 0, 1), ms(0));
    // The old packet goes out at once; the new numbering starts with the jump.
    let out = push(&mut jb, &pkt(30_000, 160, 1), ms(20)).1;
    assert_eq!(seqs(&out), vec![0, 48]);
    assert_eq!(
        seqs(&push(&mut jb, &pkt(30_001, 320, 1), ms(40)).1),
        vec![49]
    );
    assert_eq!(jb.stats().sequence_resyncs, 1);
}

// ---- stream: decode and media time ----

fn pcmu_stream() -> RtpStream {
    RtpStream::new(StreamConfig::single(0, Codec::Pcmu, 8000).unwrap()).unwrap()
}

fn tone_packet(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let payload: Vec<u8> = (0..160)
        .map(|i| linear_to_ulaw(((i % 40) * 500) as i16))
        .collect();
    build_rtp(0, false, seq, ts, ssrc, &payload)
}

#[test]
fn loss_is_filled_with_silence_and_garbage_is_counted() {
    let mut s = pcmu_stream();
    let mut out = s.on_datagram(&tone_packet(1, 1000, 5), ms(0));
    out.extend(s.on_datagram(b"not rtp at all", ms(5)));
    out.extend(s.on_datagram(&[0x80, 0xC8, 0, 50], ms(6))); // truncated RTCP
    out.extend(s.on_timer(ms(60)));
    out.extend(s.on_datagram(&tone_packet(3, 1320, 5), ms(70)));
    assert_eq!(out.len(), 160);
    out.extend(s.on_timer(ms(130)));
    assert_eq!(out.len(), 480);
    assert!(out[160..320].iter().all(|&x| x == 0), "gap not silent");
    assert!(out[320..].iter().any(|&x| x != 0));
    let st = s.stats();
    assert_eq!(
        (st.malformed, st.jitter.lost, st.samples_concealed),
        (2, 1, 160)
    );
    assert!(s.take_first_error().unwrap().contains("version 1"));
}

#[test]
fn comfort_noise_dtmf_and_unknown_types_keep_media_time() {
    let mut cfg = StreamConfig::single(0, Codec::Pcmu, 8000).unwrap();
    cfg.payloads
        .insert_rtpmap(101, "telephone-event/8000")
        .unwrap();
    let mut s = RtpStream::new(cfg).unwrap();
    let mut out = s.on_datagram(&tone_packet(1, 0, 9), ms(0));
    out.extend(s.on_datagram(&build_rtp(13, false, 2, 160, 9, &[40]), ms(20)));
    out.extend(s.on_datagram(&build_rtp(101, true, 3, 160, 9, &[1, 0, 0, 160]), ms(40)));
    out.extend(s.on_datagram(&build_rtp(99, false, 4, 160, 9, &[0; 160]), ms(60)));
    // Audio resumes after 1 s of comfort noise: exactly that much silence comes first.
    out.extend(s.on_datagram(&tone_packet(5, 8160, 9), ms(1000)));
    assert_eq!(out.len(), 160 + 8000 + 160);
    let st = s.stats();
    assert_eq!(
        (
            st.comfort_noise_packets,
            st.dtmf_packets,
            st.unknown_payload_type
        ),
        (1, 1, 1)
    );
}

#[test]
fn new_ssrc_continues_media_time_and_long_jumps_are_discontinuities() {
    let mut s = pcmu_stream();
    let mut out = s.on_datagram(&tone_packet(1, 0, 1), ms(0));
    out.extend(s.on_datagram(&tone_packet(2, 160, 1), ms(20)));
    out.extend(s.on_datagram(&tone_packet(900, 4_000_000, 2), ms(40)));
    out.extend(s.on_datagram(&tone_packet(901, 4_000_160, 2), ms(60)));
    out.extend(s.on_timer(ms(100)));
    assert_eq!(out.len(), 640);
    // An hour-long timestamp jump is not filled.
    out.extend(s.on_datagram(&tone_packet(902, 4_000_320 + 8000 * 3600, 2), ms(80)));
    assert_eq!(out.len(), 800);
    assert_eq!(s.stats().discontinuities, 1);
}

#[test]
fn l16_is_big_endian_and_overlap_is_trimmed() {
    let mut s = RtpStream::new(StreamConfig::single(96, Codec::L16, 16000).unwrap()).unwrap();
    assert_eq!(s.output_rate(), 16000);
    let payload: Vec<u8> = [1i16, -2, 300, 4]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    let mut out = s.on_datagram(&build_rtp(96, false, 1, 0, 1, &payload), ms(0));
    // The next packet starts two samples early: only its last two samples are new.
    out.extend(s.on_datagram(&build_rtp(96, false, 2, 2, 1, &payload), ms(1)));
    out.extend(s.on_timer(ms(60)));
    assert_eq!(out, vec![1, -2, 300, 4, 300, 4]);
    let odd = s.on_datagram(&build_rtp(96, false, 3, 6, 1, &[1, 2, 3]), ms(2));
    assert!(odd.is_empty());
    assert_eq!(s.stats().decode_errors, 1);
}

#[test]
fn stream_config_errors() {
    let mut m = PayloadMap::empty();
    m.insert(13, Codec::ComfortNoise, 8000).unwrap();
    let cfg = |payloads| StreamConfig {
        payloads,
        ..StreamConfig::single(0, Codec::Pcmu, 8000).unwrap()
    };
    assert!(matches!(
        RtpStream::new(cfg(m.clone())),
        Err(StreamError::NoAudio)
    ));
    m.insert(0, Codec::Pcmu, 8000).unwrap();
    m.insert(111, Codec::Opus, 48000).unwrap();
    assert!(matches!(
        RtpStream::new(cfg(m)),
        Err(StreamError::MixedRates(8000, 48000))
    ));
}

#[test]
fn opus_decodes_at_48k_and_conceals_loss() {
    let mut enc = opus::Encoder::new(48000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let mut s = RtpStream::new(StreamConfig::single(111, Codec::Opus, 48000).unwrap()).unwrap();
    assert_eq!(s.output_rate(), 48000);
    let mut out = Vec::new();
    for i in 0..10u32 {
        let frame: Vec<i16> = (0..960)
            .map(|n| ((((i * 960 + n) as f32) * 0.05).sin() * 8000.0) as i16)
            .collect();
        let packet = enc.encode_vec(&frame, 4000).unwrap();
        if i == 5 {
            continue; // lost
        }
        let d = build_rtp(111, false, i as u16, i * 960, 3, &packet);
        out.extend(s.on_datagram(&d, ms(20 * i as u64)));
    }
    out.extend(s.finish());
    assert_eq!(out.len(), 9600);
    // Concealment is not plain silence: libopus extrapolates the tone.
    assert!(out[4800..5760].iter().any(|&x| x.abs() > 100));
    assert_eq!(s.stats().samples_concealed, 960);
    let garbage = s.on_datagram(&build_rtp(111, false, 10, 9600, 3, &[0xff; 3]), ms(300));
    assert!(garbage.is_empty() || garbage.len() <= 5760);
}

// ---- properties ----

/// A permutation of `0..n` where no element moves more than `w` places.
fn bounded_shuffle(n: usize, w: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=w, n).prop_map(move |jitter| {
        let mut keyed: Vec<(usize, usize)> = (0..n).map(|i| (i + jitter[i], i)).collect();
        keyed.sort();
        keyed.into_iter().map(|(_, i)| i).collect()
    })
}

proptest! {
    #[test]
    fn any_bounded_reordering_plays_out_in_order(
        order in bounded_shuffle(200, 8),
        first_seq in any::<u16>(),
        first_ts in any::<u32>(),
    ) {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut out = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            let d = build_rtp(0, false, first_seq.wrapping_add(i as u16),
                first_ts.wrapping_add(i as u32 * 160), 1, &(i as u32).to_be_bytes());
            // Arrivals 1 ms apart: every displacement fits inside the 60 ms depth.
            out.extend(push(&mut jb, &d, ms(k as u64)).1);
        }
        out.extend(jb.flush());
        let got: Vec<u32> = out.iter().map(|r| u32::from_be_bytes(r.payload[..4].try_into().unwrap())).collect();
        prop_assert_eq!(got, (0..200).collect::<Vec<u32>>());
        prop_assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn output_length_tracks_timestamps(
        order in bounded_shuffle(120, 4),
        lost in prop::collection::vec(any::<bool>(), 120),
        sizes in prop::collection::vec(prop::sample::select(vec![80usize, 160, 240]), 120),
        first_ts in any::<u32>(),
        first_seq in any::<u16>(),
    ) {
        // Packets of varying duration; any subset but the first and last lost; bounded reordering.
        let mut starts = vec![0u32];
        for s in &sizes { starts.push(starts.last().unwrap() + *s as u32); }
        let mut s = pcmu_stream();
        let mut n = 0usize;
        for (k, &i) in order.iter().enumerate() {
            if lost[i] && i != 0 && i != 119 { continue; }
            let d = build_rtp(0, false, first_seq.wrapping_add(i as u16),
                first_ts.wrapping_add(starts[i]), 1, &vec![0x55; sizes[i]]);
            n += s.on_datagram(&d, ms(k as u64 * 20)).len();
        }
        n += s.finish().len();
        prop_assert_eq!(n as u32, starts[120]);
    }

    #[test]
    fn arbitrary_datagrams_never_panic(datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..40)) {
        let mut s = pcmu_stream();
        for (k, d) in datagrams.iter().enumerate() {
            let _ = RtpPacket::parse(d);
            let _ = parse_rtcp(d);
            let _ = s.on_datagram(d, ms(k as u64));
        }
        let _ = s.finish();
    }
}
