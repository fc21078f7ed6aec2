//! Arbitrary bytes as SIP datagrams and as a TCP stream into the recording server: never
//! panics, and how the TCP stream is split into reads never changes the messages cut from it.
//! Inputs with an odd first byte run with digest authentication on, so credentials are parsed.
#![no_main]

use callwatch::clock::{ManualClock, SharedClock};
use callwatch::sources::siprec::srs::peers::{AllowList, DigestAuth};
use callwatch::sources::siprec::{
    Codec, MediaCommand, Output, Peer, RoleRule, Srs, SrsConfig, StreamFramer, Transport,
};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let clock = ManualClock::starting_at(time::OffsetDateTime::UNIX_EPOCH);
    let shared: SharedClock = Arc::new(clock.clone());
    let mut srs = Srs::new(
        SrsConfig {
            advertise: "127.0.0.1".into(),
            sip_port: 5060,
            tls_port: Some(5061),
            allow: AllowList::loopback(),
            digest: (data.first().is_some_and(|b| b & 1 == 1)).then(|| DigestAuth {
                realm: "callwatch".into(),
                user: "sbc".into(),
                password: "pw".into(),
                secret: [1; 32],
            }),
            max_sessions: 4,
            roles: RoleRule::Second,
            queue_from: None,
            session_expires_s: 1800,
            min_se_s: 90,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            retry_after_s: 30,
        },
        shared,
    );
    let peer = Peer {
        transport: Transport::Udp,
        addr: "127.0.0.1:5060".parse().unwrap(),
    };
    // Some datagrams come from another address: in-dialog checks and the allow-list run too.
    let stranger = Peer {
        transport: Transport::Tls,
        addr: "192.0.2.1:5061".parse().unwrap(),
    };
    // Datagrams are separated by a NUL byte so one input can drive a whole dialog.
    for (i, datagram) in data.split(|b| *b == 0).enumerate() {
        let from = if i % 5 == 4 { stranger } else { peer };
        for out in srs.on_message(datagram, from) {
            if let Output::Media(MediaCommand::Open { session, streams, .. }) = out {
                let ports = (0..streams.len() as u16).map(|i| 20000 + 2 * i).collect();
                let _ = srs.media_opened(&session, Ok(ports));
            }
        }
        clock.advance_ms(700);
        let _ = srs.tick();
    }
    let whole = StreamFramer::new().push(data);
    let step = usize::from(data.first().copied().unwrap_or(0) % 64) + 1;
    let mut framer = StreamFramer::new();
    let mut frames = Vec::new();
    let mut failed = false;
    for chunk in data.chunks(step) {
        match framer.push(chunk) {
            Ok(f) => frames.extend(f),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    match whole {
        Ok(all) => {
            assert!(!failed, "split reads failed where one read did not");
            assert_eq!(all, frames, "split reads cut other messages");
        }
        Err(_) => assert!(failed, "split reads accepted what one read refused"),
    }
});
