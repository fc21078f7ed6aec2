//! Who may drive a recording: the allow-list, digest authentication, in-dialog identity
//! checks (Call-ID, both tags, the peer's address), and SDES-SRTP offers.

use super::message::{SipMessage, StartLine};
use super::sdp::{parse_offer, SrtpSuite};
use super::srs::peers::{digest_params, request_digest, DigestAuth};
use super::tests::*;
use super::*;

fn other_peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "192.0.2.99:5060".parse().unwrap(),
    }
}

fn with_tag(msg: &SipMessage, header: &str, tag: &str) -> SipMessage {
    let mut m = msg.clone();
    for (n, v) in m.headers.iter_mut() {
        if n.eq_ignore_ascii_case(header) {
            let base = v.split(";tag=").next().unwrap().to_string();
            *v = format!("{base};tag={tag}");
        }
    }
    m
}

#[test]
fn in_dialog_requests_must_match_tags_and_peer_or_get_481() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let ok = established(&mut srs);
    let bye = in_dialog(&ok, "BYE", 102, "z9hG4bKbye1");
    type Case = (&'static str, SipMessage, Peer);
    let over_tls = Peer {
        transport: Transport::Tls,
        ..peer()
    };
    let cases: Vec<Case> = vec![
        ("wrong From tag", with_tag(&bye, "From", "forged"), peer()),
        ("wrong To tag", with_tag(&bye, "To", "forged"), peer()),
        ("another address", bye.clone(), other_peer()),
        ("another transport", bye.clone(), over_tls),
    ];
    for (what, msg, from) in &cases {
        let out = srs.on_message(&msg.to_bytes(), *from);
        assert_eq!(codes(&out), vec![481], "{what}");
        assert!(media(&out).is_empty(), "{what}: the recording goes on");
        assert_eq!(srs.session_count(), 1, "{what}");
    }
    // re-INVITE, UPDATE and INFO from another address are refused the same way.
    for method in ["INVITE", "UPDATE", "INFO"] {
        let m = in_dialog(&ok, method, 103, "z9hG4bKx");
        assert_eq!(
            codes(&srs.on_message(&m.to_bytes(), other_peer())),
            vec![481],
            "{method}"
        );
    }
    // The real BYE, from the real peer on another source port (TCP reconnects do that).
    let mut real = peer();
    real.addr.set_port(40000);
    let out = srs.on_message(&bye.to_bytes(), real);
    assert_eq!(codes(&out), vec![200]);
    assert!(
        matches!(media(&out)[0], MediaCommand::Close { reason, .. } if *reason == crate::call::EndReason::Bye)
    );
    // Its retransmission from elsewhere gets no kept answer.
    assert_eq!(
        codes(&srs.on_message(&bye.to_bytes(), other_peer())),
        vec![481]
    );
}

#[test]
fn a_cancel_from_another_peer_or_tag_does_not_stop_the_session() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let out = srs.on_message(&cisco(), peer());
    assert_eq!(codes(&out), vec![100]);
    let cancel = cancel_of(&SipMessage::parse(&cisco()).unwrap());
    let out = srs.on_message(&cancel.to_bytes(), other_peer());
    assert_eq!(codes(&out), vec![481]);
    let out = srs.on_message(&with_tag(&cancel, "From", "x").to_bytes(), peer());
    assert_eq!(codes(&out), vec![481]);
    assert_eq!(srs.session_count(), 1);
    // A second INVITE reusing the live Call-ID from elsewhere takes nothing over.
    let out = srs.on_message(&cisco(), other_peer());
    assert_eq!(codes(&out), vec![481]);
    assert!(media(&out).is_empty());
}

#[test]
fn requests_from_outside_the_allow_list_get_403_and_acks_nothing() {
    let (_c, clock) = clock();
    let mut srs = Srs::new(config("second", ""), clock);
    let outside = Peer {
        transport: Transport::Udp,
        addr: "198.51.100.7:5060".parse().unwrap(),
    };
    let out = srs.on_message(&cisco(), outside);
    assert_eq!(codes(&out), vec![403]);
    assert!(sent(&out)[0]
        .header("Warning")
        .unwrap()
        .contains("[sip] allow"));
    assert!(media(&out).is_empty());
    assert_eq!(srs.session_count(), 0);
    let ack = with_header(&cisco(), "CSeq", Some("101 ACK"));
    let ack = String::from_utf8(ack)
        .unwrap()
        .replacen("INVITE ", "ACK ", 1);
    assert!(srs.on_message(ack.as_bytes(), outside).is_empty());
}

fn digest_config() -> SrsConfig {
    let mut cfg = config("second", "");
    cfg.digest = Some(DigestAuth {
        realm: "callwatch".into(),
        user: "sbc".into(),
        password: "s3cret pass".into(),
        secret: [7; 32],
    });
    cfg
}

/// The INVITE answered to `challenge` as an SBC would (qop=auth).
fn authorized(invite: &[u8], challenge: &SipMessage, password: &str) -> Vec<u8> {
    let p = digest_params(challenge.header("WWW-Authenticate").unwrap()).unwrap();
    let get = |k: &str| p.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let uri = match &SipMessage::parse(invite).unwrap().start {
        StartLine::Request { uri, .. } => uri.clone(),
        _ => unreachable!(),
    };
    let nonce = get("nonce");
    let response = request_digest(
        "sbc",
        &get("realm"),
        password,
        "INVITE",
        &uri,
        &nonce,
        Some(("00000001", "c0ffee", "auth")),
    );
    let value = format!(
        r#"Digest username="sbc", realm="{}", nonce="{nonce}", uri="{uri}", response="{response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee""#,
        get("realm")
    );
    with_header(invite, "Authorization", Some(&value))
}

#[test]
fn digest_challenges_new_sessions_and_takes_the_right_password_only() {
    let (c, clock) = clock();
    let mut srs = Srs::new(digest_config(), clock);
    let out = srs.on_message(&cisco(), peer());
    assert_eq!(codes(&out), vec![401]);
    let challenge = sent(&out)[0].clone();
    let www = challenge.header("WWW-Authenticate").unwrap();
    assert!(www.contains("realm=\"callwatch\"") && www.contains("qop=\"auth\""));
    assert!(media(&out).is_empty());

    let wrong = authorized(&cisco(), &challenge, "guess");
    assert_eq!(codes(&srs.on_message(&wrong, peer())), vec![401]);

    let right = authorized(&cisco(), &challenge, "s3cret pass");
    // The nonce was given to 192.0.2.10: from another (allowed) host it is refused.
    let elsewhere = Peer {
        addr: "192.0.2.11:5060".parse().unwrap(),
        ..peer()
    };
    assert_eq!(codes(&srs.on_message(&right, elsewhere)), vec![401]);
    // A digest over another Request-URI does not cover this request.
    let other_uri = String::from_utf8(authorized(&cisco(), &challenge, "s3cret pass"))
        .unwrap()
        .replacen("INVITE sip:", "INVITE sip:other-", 1);
    assert_eq!(
        codes(&srs.on_message(other_uri.as_bytes(), peer())),
        vec![401]
    );
    let out = srs.on_message(&right, peer());
    assert_eq!(codes(&out), vec![100]);
    assert!(matches!(media(&out)[0], MediaCommand::Open { .. }));

    // A nonce past its lifetime: challenged again, marked stale.
    let other = with_header(&cisco(), "Call-ID", Some("later-call"));
    c.advance_ms(301_000);
    let late = authorized(&other, &challenge, "s3cret pass");
    let out = srs.on_message(&late, peer());
    assert_eq!(codes(&out), vec![401]);
    assert!(sent(&out)[0]
        .header("WWW-Authenticate")
        .unwrap()
        .contains("stale=true"));
}

/// The fixture's offer made secure: RTP/SAVP with one `a=crypto` line per stream.
fn savp(crypto: &str) -> Vec<u8> {
    let mut m = SipMessage::parse(&cisco()).unwrap();
    let body = String::from_utf8(m.body.clone()).unwrap();
    let body = body.replace("RTP/AVP 0 101\r\n", &format!("RTP/SAVP 0 101\r\n{crypto}"));
    m.body = body.into_bytes();
    m.to_bytes()
}

fn tls_peer() -> Peer {
    Peer {
        transport: Transport::Tls,
        ..peer()
    }
}

const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

#[test]
fn sdes_offers_are_answered_with_our_key_and_unusable_crypto_gets_488() {
    let (_c, shared) = clock();
    let mut srs = Srs::new(config("second", ""), shared);
    let sip = savp(&format!(
        "a=crypto:1 AES_CM_256_HMAC_SHA1_80 inline:{KEY}{KEY}\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^31\r\n"
    ));
    // Keys in clear protect nothing: over UDP the offer is refused.
    let out = srs.on_message(&sip, peer());
    assert_eq!(codes(&out), vec![488]);
    assert!(sent(&out)[0].header("Warning").unwrap().contains("SIP TLS"));
    assert_eq!(srs.session_count(), 0);
    let out = srs.on_message(&sip, tls_peer());
    let MediaCommand::Open { session, .. } = media(&out)[0].clone() else {
        unreachable!()
    };
    let answered = srs.media_opened(&session, Ok(vec![30000, 30002]));
    let MediaCommand::Open { streams, .. } = media(&out)[0] else {
        unreachable!()
    };
    let key = streams[0]
        .srtp
        .as_ref()
        .expect("the SRC's key reaches the media side");
    assert_eq!((key.tag, key.suite), (2, SrtpSuite::AesCm128HmacSha1_80));
    assert!(
        !format!("{key:?}").contains(KEY),
        "keys stay out of debug output"
    );
    let ok = sent(&answered)[0];
    let sdp = String::from_utf8(ok.body.clone()).unwrap();
    let answer = parse_offer(&sdp).unwrap();
    for m in &answer.media {
        assert_eq!(m.proto, "RTP/SAVP", "{sdp}");
        let ours = m.crypto.as_ref().expect("an SAVP answer carries a key");
        assert_eq!((ours.tag, ours.suite), (2, SrtpSuite::AesCm128HmacSha1_80));
        assert!(!sdp.contains(KEY), "our key is not the SRC's: {sdp}");
    }

    let unusable: Vec<(&str, String)> = vec![
        ("no crypto line", String::new()),
        (
            "unknown suite",
            format!("a=crypto:1 F8_128_HMAC_SHA1_80 inline:{KEY}\r\n"),
        ),
        (
            "MKI",
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4\r\n"),
        ),
        (
            "short key",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=\r\n".into(),
        ),
        (
            "session parameter",
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP\r\n"),
        ),
    ];
    for (what, crypto) in unusable {
        let (_c, shared) = clock();
        let mut srs = Srs::new(config("second", ""), shared);
        let out = srs.on_message(&savp(&crypto), tls_peer());
        assert_eq!(codes(&out), vec![488], "{what}");
        let w = sent(&out)[0].header("Warning").unwrap_or("").to_string();
        assert!(w.contains("SDES"), "{what}: {w}");
        assert_eq!(srs.session_count(), 0, "{what}");
    }
}

#[test]
fn a_reinvite_may_not_change_a_recorded_streams_keys() {
    let (_c, shared) = clock();
    let mut srs = Srs::new(config("second", ""), shared);
    let line = |k: &str| format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k}\r\n");
    let sip = savp(&line(KEY));
    let out = srs.on_message(&sip, tls_peer());
    let MediaCommand::Open { session, .. } = media(&out)[0].clone() else {
        unreachable!()
    };
    let ok = sent(&srs.media_opened(&session, Ok(vec![30000, 30002])))[0].clone();
    let ack = in_dialog(&ok, "ACK", 101, "z9hG4bKack1");
    assert!(srs.on_message(&ack.to_bytes(), tls_peer()).is_empty());
    let reinvite = |cseq: u32, key: &str| {
        let mut m = in_dialog(&ok, "INVITE", cseq, &format!("z9hG4bKre{cseq}"));
        let body = String::from_utf8(SipMessage::parse(&savp(&line(key))).unwrap().body).unwrap();
        let sdp = body
            .split("\r\n\r\n")
            .nth(1)
            .and_then(|b| b.split("--").next())
            .unwrap()
            .to_string();
        m.push("Content-Type", "application/sdp");
        m.body = sdp.into_bytes();
        m
    };
    let other = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk";
    let out = srs.on_message(&reinvite(102, other).to_bytes(), tls_peer());
    assert_eq!(codes(&out), vec![488]);
    assert!(media(&out).is_empty(), "the streams keep running");
    assert_eq!(srs.session_count(), 1);
    let out = srs.on_message(&reinvite(103, KEY).to_bytes(), tls_peer());
    assert_eq!(codes(&out), vec![200], "the same keys are fine");
}
