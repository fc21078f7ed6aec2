use super::message::{SipMessage, SipParseError, StreamFramer};
use super::metadata::Metadata;
use super::multipart::recording_body;
use super::sdp::{parse_offer, Codec};
use super::*;
use crate::call::{EndReason, Speaker};
use crate::clock::{ManualClock, SharedClock};
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/siprec")
}

const VENDORS: [&str; 5] = [
    "cisco_cube",
    "avaya_sbce",
    "acme_packet",
    "broadworks",
    "sonus",
];

fn load(name: &str) -> (Vec<u8>, serde_json::Value) {
    let dir = fixture_dir();
    let sip = std::fs::read(dir.join(format!("{name}.sip"))).unwrap();
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
            .unwrap();
    (sip, side)
}

pub(super) fn clock() -> (ManualClock, SharedClock) {
    let c = ManualClock::starting_at(time::macros::datetime!(2024-05-06 09:00 UTC));
    (c.clone(), Arc::new(c))
}

pub(super) fn config(roles: &str, queue_from: &str) -> SrsConfig {
    SrsConfig {
        advertise: "203.0.113.5".into(),
        sip_port: 5060,
        max_sessions: 2,
        roles: RoleRule::parse(roles).unwrap(),
        queue_from: QueueSource::parse(queue_from).unwrap(),
        session_expires_s: 1800,
        min_se_s: 90,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        retry_after_s: 30,
        tls_port: None,
        allow: srs::peers::AllowList::parse(&["192.0.2.0/24".into()]).unwrap(),
        digest: None,
    }
}

pub(super) fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "192.0.2.10:5060".parse().unwrap(),
    }
}

pub(super) fn sent(out: &[Output]) -> Vec<&SipMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

pub(super) fn codes(out: &[Output]) -> Vec<u16> {
    sent(out).iter().filter_map(|m| m.code()).collect()
}

pub(super) fn media(out: &[Output]) -> Vec<&MediaCommand> {
    out.iter()
        .filter_map(|o| match o {
            Output::Media(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn vendor_invites_parse_to_their_sidecars() {
    for name in VENDORS {
        let (sip, side) = load(name);
        let msg = SipMessage::parse(&sip).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(msg.call_id(), side["call_id"], "{name}");
        let body = recording_body(msg.header("Content-Type").unwrap(), &msg.body).unwrap();
        let offer = parse_offer(body.sdp.as_deref().expect("sdp part")).unwrap();
        let md = Metadata::parse(body.metadata.as_deref().expect("metadata part"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            serde_json::to_value(md.datamode).unwrap(),
            side["datamode"],
            "{name}"
        );
        let with_sends = md
            .participants
            .iter()
            .filter(|p| !p.sends.is_empty())
            .count();
        assert_eq!(with_sends as u64, side["participants"], "{name}");
        let streams = side["streams"].as_array().unwrap();
        assert_eq!(offer.media.len(), streams.len(), "{name}");
        for (m, want) in offer.media.iter().zip(streams) {
            assert_eq!(m.label.as_deref(), want["label"].as_str(), "{name}");
            assert_eq!(m.port as u64, want["port"], "{name}");
            assert_eq!(
                serde_json::to_value(m.direction).unwrap(),
                want["direction"],
                "{name}"
            );
            assert_eq!(
                m.connection.as_deref(),
                want["connection"].as_str(),
                "{name}"
            );
            let chosen = m.choose_codec(&[Codec::Pcmu, Codec::Pcma]);
            assert_eq!(
                chosen.map(|(pt, _)| pt as u64),
                want["pt"].as_u64(),
                "{name}"
            );
            assert_eq!(
                chosen.map(|(_, c)| serde_json::to_value(c).unwrap()),
                (!want["codec"].is_null()).then(|| want["codec"].clone()),
                "{name}"
            );
            let sender = md.sender_of_label(m.label.as_deref().unwrap());
            assert_eq!(
                sender.and_then(|p| p.aor.as_deref()),
                want["sender_aor"].as_str(),
                "{name} label {:?}",
                m.label
            );
            assert_eq!(
                sender.and_then(|p| p.name.as_deref()),
                want["sender_name"].as_str(),
                "{name} label {:?}",
                m.label
            );
        }
    }
}

/// Feeds a vendor INVITE through the state machine and completes the media side.
pub(super) fn answer_fixture(
    srs: &mut Srs,
    sip: &[u8],
    first_port: u16,
) -> (Vec<Output>, Vec<Output>) {
    let out = srs.on_message(sip, peer());
    let Some(MediaCommand::Open {
        session, streams, ..
    }) = media(&out).first().cloned()
    else {
        panic!("no media open: {out:?}");
    };
    let ports = (0..streams.len() as u16)
        .map(|i| first_port + 2 * i)
        .collect();
    let answered = srs.media_opened(session, Ok(ports));
    (out, answered)
}

#[test]
fn vendor_invites_are_answered_per_stream() {
    for name in VENDORS {
        let (sip, side) = load(name);
        let (_c, clock) = clock();
        let mut srs = Srs::new(
            config("second", side["queue_from"].as_str().unwrap()),
            clock,
        );
        let (out, answered) = answer_fixture(&mut srs, &sip, 30000);
        assert_eq!(codes(&out), vec![100], "{name}");
        let MediaCommand::Open { call, streams, .. } = media(&out)[0] else {
            unreachable!()
        };
        assert_eq!(call.source, "siprec");
        assert_eq!(call.queue.as_deref(), side["queue"].as_str(), "{name}");
        let want: Vec<&serde_json::Value> = side["streams"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| !s["codec"].is_null())
            .collect();
        assert_eq!(streams.len(), want.len(), "{name}");
        for (st, w) in streams.iter().zip(&want) {
            assert_eq!(st.label, w["label"].as_str().unwrap());
            assert_eq!(
                Some(st.leg.speaker),
                Speaker::parse(w["speaker"].as_str().unwrap()),
                "{name} {}",
                st.label
            );
            assert_eq!(st.leg.participant.as_deref(), w["sender_aor"].as_str());
        }
        assert_eq!(codes(&answered), vec![200], "{name}");
        let ok = sent(&answered)[0];
        assert!(ok.header("Contact").unwrap().ends_with(";+sip.srs"));
        let sdp = String::from_utf8(ok.body.clone()).unwrap();
        let answer = parse_offer(&sdp).unwrap();
        let all = side["streams"].as_array().unwrap();
        assert_eq!(answer.media.len(), all.len(), "{name}: {sdp}");
        let mut port = 30000;
        for (m, w) in answer.media.iter().zip(all) {
            assert_eq!(m.label.as_deref(), w["label"].as_str(), "{name}");
            if w["codec"].is_null() {
                assert_eq!(m.port, 0, "{name}: declined stream");
            } else {
                assert_eq!(m.port, port, "{name}");
                assert_eq!(m.direction, Direction::RecvOnly, "{name}");
                assert_eq!(m.formats, vec![w["pt"].to_string()], "{name}");
                port += 2;
            }
        }
        if let Some(se) = side["session_expires"].as_u64() {
            assert_eq!(
                ok.header("Session-Expires"),
                Some(format!("{se};refresher=uac").as_str())
            );
        }
    }
}

pub(super) fn cisco() -> Vec<u8> {
    load("cisco_cube").0
}

/// Rewrites one header of a wire message (Content-Length stays right).
pub(super) fn with_header(sip: &[u8], name: &str, value: Option<&str>) -> Vec<u8> {
    let mut m = SipMessage::parse(sip).unwrap();
    m.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    if let Some(v) = value {
        m.push(name, v);
    }
    m.to_bytes()
}

pub(super) fn in_dialog(ok: &SipMessage, method: &str, cseq: u32, branch: &str) -> SipMessage {
    let mut m = SipMessage {
        start: message::StartLine::Request {
            method: method.into(),
            uri: "sip:srs@203.0.113.5:5060".into(),
        },
        headers: Vec::new(),
        body: Vec::new(),
    };
    m.push(
        "Via",
        format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
    );
    m.push("From", ok.header("From").unwrap());
    m.push("To", ok.header("To").unwrap());
    m.push("Call-ID", ok.call_id());
    m.push("CSeq", format!("{cseq} {method}"));
    m
}

/// The CANCEL of an INVITE (same Via branch, From, To and Call-ID; CSeq 101 CANCEL).
pub(super) fn cancel_of(invite: &SipMessage) -> SipMessage {
    let mut cancel = invite.clone();
    cancel.start = message::StartLine::Request {
        method: "CANCEL".into(),
        uri: "sip:srs@203.0.113.5:5060".into(),
    };
    cancel
        .headers
        .retain(|(n, _)| ["Via", "From", "To", "Call-ID", "Max-Forwards"].contains(&n.as_str()));
    cancel.push("CSeq", "101 CANCEL");
    cancel.body.clear();
    cancel
}

pub(super) fn established(srs: &mut Srs) -> SipMessage {
    let (_, answered) = answer_fixture(srs, &cisco(), 30000);
    let ok = sent(&answered)[0].clone();
    let ack = in_dialog(&ok, "ACK", 101, "z9hG4bKack1");
    assert!(srs.on_message(&ack.to_bytes(), peer()).is_empty());
    ok
}

#[test]
fn retransmitted_invite_gets_the_same_answer() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let (_, answered) = answer_fixture(&mut srs, &cisco(), 30000);
    let again = srs.on_message(&cisco(), peer());
    assert_eq!(sent(&again), sent(&answered));
    assert!(media(&again).is_empty(), "no second media open");
    assert_eq!(srs.session_count(), 1);
}

#[test]
fn unacknowledged_2xx_is_retransmitted_doubling_then_given_up() {
    let (c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    answer_fixture(&mut srs, &cisco(), 30000);
    let mut resent_at = Vec::new();
    for ms in (0..=32_000).step_by(100) {
        if ms > 0 {
            c.advance_ms(100);
        }
        let out = srs.tick();
        if codes(&out).contains(&200) {
            resent_at.push(ms);
        }
        if !media(&out).is_empty() {
            assert_eq!(sent(&out).last().unwrap().method(), "BYE");
            assert!(
                matches!(media(&out)[0], MediaCommand::Close { reason, .. } if *reason == EndReason::NoAck)
            );
            break;
        }
    }
    assert_eq!(&resent_at[..5], &[500, 1500, 3500, 7500, 11500]);
    assert_eq!(srs.session_count(), 0);
}

#[test]
fn ack_stops_retransmission() {
    let (c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    established(&mut srs);
    c.advance_ms(10_000);
    assert!(srs.tick().is_empty());
    assert_eq!(srs.session_count(), 1);
}

#[test]
fn bye_ends_the_session_and_retransmitted_bye_is_answered_again() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let ok = established(&mut srs);
    let bye = in_dialog(&ok, "BYE", 102, "z9hG4bKbye1").to_bytes();
    let out = srs.on_message(&bye, peer());
    assert_eq!(codes(&out), vec![200]);
    assert!(
        matches!(media(&out)[0], MediaCommand::Close { reason, .. } if *reason == EndReason::Bye)
    );
    assert_eq!(codes(&srs.on_message(&bye, peer())), vec![200]);
    let other = in_dialog(&ok, "BYE", 103, "z9hG4bKbye2").to_bytes();
    assert_eq!(codes(&srs.on_message(&other, peer())), vec![481]);
}

#[test]
fn cancel_before_answer_gives_487() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let out = srs.on_message(&cisco(), peer());
    assert_eq!(codes(&out), vec![100]);
    let inv = SipMessage::parse(&cisco()).unwrap();
    let cancel = cancel_of(&inv);
    let out = srs.on_message(&cancel.to_bytes(), peer());
    assert_eq!(codes(&out), vec![200, 487]);
    assert!(matches!(media(&out)[0], MediaCommand::Close { .. }));
    // The media side answering late changes nothing.
    assert!(srs.media_opened(inv.call_id(), Ok(vec![1, 3])).is_empty());
    // A CANCEL for nothing.
    assert_eq!(
        codes(&srs.on_message(&cancel.to_bytes(), peer())),
        vec![481]
    );
}

#[test]
fn options_in_and_out_of_dialog() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let opt = b"OPTIONS sip:srs@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKo1\r\nFrom: <sip:ping@192.0.2.10>;tag=p1\r\nTo: <sip:srs@203.0.113.5>\r\nCall-ID: ping-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let out = srs.on_message(opt, peer());
    assert_eq!(codes(&out), vec![200]);
    let r = sent(&out)[0];
    assert!(r.header("Supported").unwrap().contains("siprec"));
    assert!(r.header("Allow").unwrap().contains("INVITE"));
    let ok = established(&mut srs);
    let out = srs.on_message(
        &in_dialog(&ok, "OPTIONS", 102, "z9hG4bKo2").to_bytes(),
        peer(),
    );
    assert_eq!(codes(&out), vec![200]);
}

#[test]
fn refusals_table() {
    let c = cisco();
    let plain = with_header(
        &with_header(&c, "Require", None),
        "Contact",
        Some("<sip:ua@192.0.2.10>"),
    );
    let late_offer = {
        let mut m = SipMessage::parse(&c).unwrap();
        m.body.clear();
        m.headers.retain(|(n, _)| n != "Content-Type");
        m.to_bytes()
    };
    let g729_only = String::from_utf8(c.clone())
        .unwrap()
        .replace("RTP/AVP 0 101", "RTP/AVP 18 101")
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000")
        .into_bytes();
    let bad_xml = String::from_utf8(c.clone())
        .unwrap()
        .replace("</recording>", "</recordinx>")
        .into_bytes();
    let orphan = with_header(&c, "To", Some("<sip:srs@203.0.113.5>;tag=nope"));
    type Case<'a> = (&'a str, Vec<u8>, u16, Option<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            "unknown Require",
            with_header(&c, "Require", Some("siprec, 100rel, foo")),
            420,
            Some(("Unsupported", "100rel, foo")),
        ),
        ("not a recording session", plain, 403, None),
        ("no SDP", late_offer, 488, None),
        ("no codec we take", g729_only, 488, None),
        ("malformed metadata", bad_xml, 400, None),
        ("unknown dialog", orphan, 481, None),
        (
            "session interval too small",
            with_header(&c, "Session-Expires", Some("30")),
            422,
            Some(("Min-SE", "90")),
        ),
    ];
    for (what, bytes, code, header) in cases {
        let (_c, clock) = clock();
        let mut srs = Srs::new(config("second", ""), clock);
        let out = srs.on_message(&bytes, peer());
        assert_eq!(codes(&out), vec![code], "{what}");
        if let Some((h, v)) = header {
            assert_eq!(sent(&out)[0].header(h), Some(v), "{what}");
        }
        assert!(media(&out).is_empty(), "{what}");
        assert_eq!(srs.session_count(), 0, "{what}");
    }
}

#[test]
fn capacity_gives_503_with_retry_after() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    for i in 0..3 {
        let bytes = with_header(&cisco(), "Call-ID", Some(&format!("cap-{i}")));
        let out = srs.on_message(&bytes, peer());
        if i < 2 {
            assert_eq!(codes(&out), vec![100]);
        } else {
            assert_eq!(codes(&out), vec![503]);
            assert_eq!(sent(&out)[0].header("Retry-After"), Some("30"));
        }
    }
}

fn reinvite_with_sdp(ok: &SipMessage, cseq: u32, sdp_edit: impl Fn(String) -> String) -> Vec<u8> {
    let inv = SipMessage::parse(&cisco()).unwrap();
    let text = String::from_utf8(inv.body.clone()).unwrap();
    let mut m = in_dialog(ok, "INVITE", cseq, &format!("z9hG4bKre{cseq}"));
    m.push("Contact", "<sip:8001@192.0.2.10:5060>;+sip.src");
    m.push("Content-Type", inv.header("Content-Type").unwrap());
    m.body = sdp_edit(text).into_bytes();
    m.to_bytes()
}

#[test]
fn reinvite_holds_resumes_and_removes_streams() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let ok = established(&mut srs);
    let hold = reinvite_with_sdp(&ok, 102, |s| s.replace("a=sendonly", "a=inactive"));
    let out = srs.on_message(&hold, peer());
    assert_eq!(codes(&out), vec![200]);
    let labels: Vec<_> = media(&out)
        .iter()
        .map(|m| match m {
            MediaCommand::Pause { label, .. } => label.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(labels, ["1", "2"]);
    let answer = parse_offer(std::str::from_utf8(&sent(&out)[0].body).unwrap()).unwrap();
    assert!(answer
        .media
        .iter()
        .all(|m| m.direction == Direction::Inactive));
    assert_eq!(answer.media[0].port, 30000, "ports kept on hold");
    // Glare: a new offer before the previous 2xx is acknowledged.
    let early = reinvite_with_sdp(&ok, 103, |s| s);
    assert_eq!(codes(&srs.on_message(&early, peer())), vec![491]);
    srs.on_message(&in_dialog(&ok, "ACK", 102, "z9hG4bKa2").to_bytes(), peer());
    let out = srs.on_message(&early, peer());
    assert_eq!(codes(&out), vec![200]);
    assert!(media(&out)
        .iter()
        .all(|m| matches!(m, MediaCommand::Resume { .. })));
    assert_eq!(media(&out).len(), 2);
    srs.on_message(&in_dialog(&ok, "ACK", 103, "z9hG4bKa3").to_bytes(), peer());
    // Stream 2 removed (port 0), a new stream 3 added.
    let change = reinvite_with_sdp(&ok, 104, |s| {
        let s = s.replace("m=audio 16386", "m=audio 0");
        let extra =
            "m=audio 16388 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendonly\r\na=label:3\r\n";
        s.replacen("a=label:2\r\n", &format!("a=label:2\r\n{extra}"), 1)
    });
    let out = srs.on_message(&change, peer());
    let cmds = media(&out);
    assert!(
        matches!(cmds[0], MediaCommand::Stop { label, .. } if label == "2"),
        "{cmds:?}"
    );
    let MediaCommand::Open { streams, .. } = cmds[1] else {
        panic!("{cmds:?}")
    };
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].label, "3");
    assert_eq!(streams[0].codec, Codec::Pcma);
    let out = srs.media_opened(ok.call_id(), Ok(vec![30010]));
    let answer = parse_offer(std::str::from_utf8(&sent(&out)[0].body).unwrap()).unwrap();
    let ports: Vec<u16> = answer.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [30000, 0, 30010]);
}

#[test]
fn partial_metadata_update_renames_a_participant() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let ok = established(&mut srs);
    let mut upd = in_dialog(&ok, "UPDATE", 102, "z9hG4bKu1");
    upd.push("Content-Type", "application/rs-metadata+xml");
    upd.body = br#"<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode><participant participant_id="cGFydC1hZ2VudA=="><nameID aor="sip:8001@cc.example.com"><name>Wang</name></nameID></participant></recording>"#.to_vec();
    let out = srs.on_message(&upd.to_bytes(), peer());
    assert_eq!(codes(&out), vec![200]);
    let mut md = Metadata::parse(
        std::str::from_utf8(
            &recording_body(
                SipMessage::parse(&cisco())
                    .unwrap()
                    .header("Content-Type")
                    .unwrap(),
                &SipMessage::parse(&cisco()).unwrap().body,
            )
            .unwrap()
            .metadata
            .unwrap()
            .into_bytes(),
        )
        .unwrap(),
    )
    .unwrap();
    md.apply(Metadata::parse(std::str::from_utf8(&upd.body).unwrap()).unwrap());
    assert_eq!(
        md.sender_of_label("2").unwrap().name.as_deref(),
        Some("Wang")
    );
    assert_eq!(
        md.sender_of_label("1").unwrap().aor.as_deref(),
        Some("sip:+8613800138000@198.51.100.7")
    );
}

#[test]
fn session_expires_without_refresh_ends_with_bye() {
    let (c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let sonus = load("sonus").0;
    let (_, answered) = answer_fixture(&mut srs, &sonus, 30000);
    let ok = sent(&answered)[0].clone();
    srs.on_message(
        &in_dialog(&ok, "ACK", 230001, "z9hG4bKa").to_bytes(),
        peer(),
    );
    c.advance_ms(1_000_000);
    // A refresh (re-INVITE without body) pushes expiry out.
    let mut refresh = in_dialog(&ok, "INVITE", 230002, "z9hG4bKr");
    refresh.push("Session-Expires", "1800;refresher=uac");
    assert_eq!(
        codes(&srs.on_message(&refresh.to_bytes(), peer())),
        vec![200]
    );
    srs.on_message(
        &in_dialog(&ok, "ACK", 230002, "z9hG4bKa2").to_bytes(),
        peer(),
    );
    c.advance_ms(1_000_000);
    assert!(srs.tick().is_empty());
    c.advance_ms(900_000);
    let out = srs.tick();
    assert_eq!(sent(&out)[0].method(), "BYE");
    assert_eq!(sent(&out)[0].header("To"), ok.header("From"));
    assert!(
        matches!(media(&out)[0], MediaCommand::Close { reason, .. } if *reason == EndReason::SessionExpired)
    );
}

#[test]
fn rtp_inactivity_ends_the_session_with_bye() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let ok = established(&mut srs);
    let out = srs.media_inactive(ok.call_id());
    assert_eq!(sent(&out)[0].method(), "BYE");
    assert_eq!(
        sent(&out)[0].start,
        message::StartLine::Request {
            method: "BYE".into(),
            uri: "sip:8001@192.0.2.10:5060".into()
        }
    );
    assert_eq!(srs.session_count(), 0);
}

/// Times (ms after the BYE) at which `srs` re-sends `bye` while ticking every 100 ms for
/// `for_ms`; `answer` (when, status) is the SRC's response to it.
fn bye_resends(
    srs: &mut Srs,
    c: &ManualClock,
    bye: &SipMessage,
    answer: Option<(i64, u16)>,
    for_ms: i64,
) -> Vec<i64> {
    let mut at = Vec::new();
    for ms in (100..=for_ms).step_by(100) {
        c.advance_ms(100);
        if let Some((_, code)) = answer.filter(|(when, _)| *when == ms) {
            let r = bye.response(code, "Answer", Some("src-tag"));
            assert!(srs.on_message(&r.to_bytes(), peer()).is_empty());
        }
        for m in sent(&srs.tick()) {
            assert_eq!(m, bye, "the same BYE each time");
            at.push(ms);
        }
    }
    at
}

#[test]
fn our_bye_is_resent_until_answered() {
    // (response and when, retransmission times): Timer E doubling to T2 until Timer F
    // (64*T1) without an answer; a final response stops it; a provisional one slows it to T2.
    type Case = (Option<(i64, u16)>, &'static [i64]);
    let table: [Case; 3] = [
        (
            None,
            &[
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
            ],
        ),
        (Some((2000, 200)), &[500, 1500]),
        (Some((1000, 100)), &[500, 1500, 5500, 9500]),
    ];
    for (answer, expected) in table {
        let (c, clock) = clock();
        let mut srs = Srs::new(config("second", ""), clock);
        let ok = established(&mut srs);
        let out = srs.media_inactive(ok.call_id());
        let bye = sent(&out)[0].clone();
        assert_eq!(bye.method(), "BYE");
        let for_ms = if answer.is_some_and(|(_, code)| code == 100) {
            10_000
        } else {
            40_000
        };
        let at = bye_resends(&mut srs, &c, &bye, answer, for_ms);
        assert_eq!(at, expected, "answer {answer:?}");
    }
}

#[test]
fn our_bye_over_tcp_is_not_resent() {
    let (c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let tcp = Peer {
        transport: Transport::Tcp,
        ..peer()
    };
    let out = srs.on_message(&cisco(), tcp);
    let Some(MediaCommand::Open { session, .. }) = media(&out).first().cloned() else {
        panic!("no media open: {out:?}");
    };
    let answered = srs.media_opened(session, Ok(vec![30000, 30002]));
    let ok = sent(&answered)[0].clone();
    srs.on_message(&in_dialog(&ok, "ACK", 101, "z9hG4bKack1").to_bytes(), tcp);
    let out = srs.media_inactive(ok.call_id());
    assert_eq!(sent(&out)[0].method(), "BYE");
    for _ in 0..400 {
        c.advance_ms(100);
        assert!(srs.tick().is_empty());
    }
}

#[test]
fn roles_by_aor_regex() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config(r"aor:^sip:8\d{3}@", ""), clock);
    let out = srs.on_message(&cisco(), peer());
    let MediaCommand::Open { call, streams, .. } = media(&out)[0] else {
        unreachable!()
    };
    let speakers: Vec<Speaker> = streams.iter().map(|s| s.leg.speaker).collect();
    assert_eq!(speakers, [Speaker::Customer, Speaker::Agent]);
    assert_eq!(call.agent_id.as_deref(), Some("sip:8001@cc.example.com"));
    assert_eq!(call.metadata["participants"].as_array().unwrap().len(), 2);
    assert!(RoleRule::parse("aor:(").is_err());
    assert!(RoleRule::parse("third").is_err());
    assert!(matches!(RoleRule::parse("FIRST"), Ok(RoleRule::First)));
}

#[test]
fn message_parser_table() {
    let cases: [(&str, bool); 7] = [
        ("OPTIONS sip:a SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n", true),
        ("OPTIONS sip:a SIP/2.0\nv: x\nf: a\nt: b\ni: c\nCSeq: 1 OPTIONS\n\n", true),
        ("OPTIONS sip:a SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCSeq: 1 OPTIONS\r\n\r\n", false),
        ("OPTIONS sip:a SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: one OPTIONS\r\n\r\n", false),
        ("OPTIONS sip:a SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 9\r\n\r\nabc", false),
        ("HELLO\r\n\r\n", false),
        ("SIP/2.0 200 OK\r\nCSeq: 1 BYE\r\n\r\n", true),
    ];
    for (text, ok) in cases {
        assert_eq!(SipMessage::parse(text.as_bytes()).is_ok(), ok, "{text:?}");
    }
}

#[test]
fn stream_framer_cuts_by_content_length() {
    let one = cisco();
    let mut stream = b"\r\n\r\n".to_vec();
    stream.extend_from_slice(&one);
    stream.extend_from_slice(&one);
    let mut f = StreamFramer::new();
    let mut frames = Vec::new();
    for chunk in stream.chunks(97) {
        frames.extend(f.push(chunk).unwrap());
    }
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0], one);
    assert!(StreamFramer::new().push(&vec![b'a'; 70_000]).is_err());
}

/// Regression: a Content-Length near usize::MAX overflowed the framer's length arithmetic
/// (a panic with debug assertions, a wrong cut without).
#[test]
fn a_huge_content_length_is_an_error_not_an_overflow() {
    for cl in [u64::MAX, u64::MAX - 10, 1 << 40] {
        let msg = format!(
            "OPTIONS sip:a SIP/2.0\r\nVia: x\r\nCall-ID: c\r\nContent-Length: {cl}\r\n\r\nabc"
        );
        let err = StreamFramer::new().push(msg.as_bytes()).unwrap_err();
        assert!(matches!(err, SipParseError::TooLarge(_)), "{cl}: {err}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (_c, clock) = clock();
        let mut srs = Srs::new(config("second", ""), clock);
        let _ = srs.on_message(&bytes, peer());
        let _ = StreamFramer::new().push(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = parse_offer(s);
            let _ = Metadata::parse(s);
            let _ = recording_body("multipart/mixed;boundary=b", s.as_bytes());
        }
    }

    #[test]
    fn mutated_vendor_invites_never_panic(idx in 0usize..5, pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let (sip, _) = load(VENDORS[idx]);
        let mut m = sip.clone();
        let p = pos.index(m.len());
        m[p] = byte;
        m.truncate(cut.index(m.len()) + 1);
        let (_c, clock) = clock();
        let mut srs = Srs::new(config("second", ""), clock);
        for out in srs.on_message(&m, peer()) {
            if let Output::Media(MediaCommand::Open { session, streams, .. }) = out {
                let ports = (0..streams.len() as u16).map(|i| 20000 + 2 * i).collect();
                let _ = srs.media_opened(&session, Ok(ports));
            }
        }
    }

    #[test]
    fn header_values_survive_round_trip(value in "[a-zA-Z0-9;=<>:@. -]{0,40}") {
        let mut m = SipMessage::parse(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n").unwrap();
        m.push("X-Test", value.trim());
        let back = SipMessage::parse(&m.to_bytes()).unwrap();
        prop_assert_eq!(back.header("X-Test"), Some(value.trim()));
    }
}

/// A flood of partial UPDATEs, each naming new participants, streams and extension elements,
/// cannot grow a session's metadata without bound; repeated elements replace older values.
#[test]
fn metadata_updates_cannot_grow_a_session_without_bound() {
    use super::metadata::{MAX_ENTRIES, MAX_VALUE_CHARS};
    let doc = |i: usize| {
        format!(
            r#"<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode>
<participant participant_id="p{i}"><nameID aor="sip:{i}@x"><name>{long}</name></nameID></participant>
<stream stream_id="s{i}"><label>{i}</label></stream>
<participantstreamassoc participant_id="p{i}"><send>s{i}</send></participantstreamassoc>
<vendor{i}>v</vendor{i}><queue>q{i}</queue></recording>"#,
            long = "名".repeat(MAX_VALUE_CHARS * 4)
        )
    };
    let mut md = Metadata::parse(&doc(0)).unwrap();
    for i in 1..2_000 {
        md.apply(Metadata::parse(&doc(i)).unwrap());
    }
    assert_eq!(md.participants.len(), MAX_ENTRIES);
    assert_eq!(md.streams.len(), MAX_ENTRIES);
    assert_eq!(md.extra.len(), MAX_ENTRIES);
    assert!(md
        .participants
        .iter()
        .all(|p| p.name.as_ref().unwrap().chars().count() <= MAX_VALUE_CHARS));
    // The queue element is one name: its latest value, not two thousand copies.
    let queues: Vec<&(String, String)> = md.extra.iter().filter(|(n, _)| n == "queue").collect();
    assert_eq!(queues.len(), 1);
    assert_eq!(queues[0].1, "q1999");
    assert_eq!(md.extra_value("queue"), Some("q1999"));
}
