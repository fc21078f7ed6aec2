//! SIPREC with the protections a bank's SBC expects, against the real `callwatch serve --sip`
//! and a real recording client (`tests/clients/siprec_client.py`: Python sockets, OpenSSL
//! through `ssl` for SIP over TLS, libsrtp through pylibsrtp for SRTP):
//! - digest authentication of new sessions;
//! - forged BYEs (wrong tag, another address) refused with 481 while the call is recorded to
//!   its real end;
//! - SIP over TLS with a `sips:` Contact, and SDES-SRTP media decrypted and transcribed;
//! - requests from outside `[sip] allow` refused with 403.

mod common;

use common::{archived_call_within, free_udp_port, root, Server};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// Runs the recording client; returns its steps by name.
fn client(sip_port: u16, args: &[&str], server: &Server) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(root().join("tests/clients/siprec_client.py"))
        .args(["--port", &sip_port.to_string()])
        .arg("--wav")
        .arg(root().join("fixtures/calls/call_en_8k.wav"))
        .args(args)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "siprec client failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {steps:?}"))
}

/// The archived call's utterance texts, joined, and the end of its last utterance.
fn transcript(detail: &Value) -> (String, u64) {
    let utts = detail["utterances"].as_array().unwrap();
    let text = utts
        .iter()
        .map(|u| u["text"].as_str().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let last = utts
        .iter()
        .filter_map(|u| u["end_ms"].as_u64())
        .max()
        .unwrap_or(0);
    (text, last)
}

#[test]
fn digest_forged_byes_tls_and_srtp() {
    let sip = free_udp_port();
    let tls_port = free_udp_port();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = common::self_signed(dir.path());
    let (cert, key) = (
        cert.to_str().unwrap().to_string(),
        key.to_str().unwrap().to_string(),
    );
    let cfg = dir.path().join("callwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sip]\nallow = [\"127.0.0.1\", \"127.0.0.2\"]\ndigest_user = \"sbc-1\"\ndigest_password = \"pass phrase 1\"\ntls_listen = \"127.0.0.1:{tls_port}\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n[rtp]\nport_min = 32000\nport_max = 32199\n"
        ),
    )
    .unwrap();
    let server = Server::start(
        "ggml-tiny.en.bin",
        &[
            "--sip",
            &format!("127.0.0.1:{sip}"),
            "--config",
            cfg.to_str().unwrap(),
        ],
    );

    // Without credentials: challenged, and no call is opened.
    let steps = client(sip, &["--call-id", "sip-noauth", "--speed", "8"], &server);
    assert_eq!(step(&steps, "invite")["code"], 401, "{steps:?}");

    // UDP, digest, plain RTP; two forged BYEs eight seconds in.
    let steps = client(
        sip,
        &[
            "--call-id",
            "sip-forged-bye",
            "--user",
            "sbc-1",
            "--password",
            "pass phrase 1",
            "--forge-at",
            "8",
            "--speed",
            "3",
        ],
        &server,
    );
    assert_eq!(step(&steps, "challenged")["code"], 401);
    assert_eq!(step(&steps, "invite")["code"], 200, "{steps:?}");
    assert_eq!(step(&steps, "forged_bye_wrong_tag")["code"], 481);
    assert_eq!(step(&steps, "forged_bye_other_address")["code"], 481);
    assert_eq!(step(&steps, "bye")["code"], 200);
    let detail = archived_call_within(&server.http(), "sip-forged-bye", Duration::from_secs(60));
    assert_eq!(detail["end_reason"], "bye", "{detail}");
    let (text, last_end) = transcript(&detail);
    // The call's last utterances (after the forged BYEs) are in the archive.
    assert!(last_end > 15_000, "recording stopped early: {detail}");
    assert!(text.contains("complaint"), "{text}");
    let log = server.log_text();
    assert!(log.contains("does not match the recording dialog"), "{log}");

    // TLS signalling, SRTP media, digest.
    let ca = cert.clone();
    let steps = client(
        tls_port,
        &[
            "--transport",
            "tls",
            "--cafile",
            &ca,
            "--call-id",
            "sip-tls-srtp",
            "--user",
            "sbc-1",
            "--password",
            "pass phrase 1",
            "--srtp",
            "--speed",
            "3",
        ],
        &server,
    );
    let invite = step(&steps, "invite");
    assert_eq!(invite["code"], 200, "{steps:?}");
    assert!(
        invite["contact"].as_str().unwrap().starts_with("<sips:"),
        "{invite}"
    );
    let answer = invite["sdp"].as_str().unwrap();
    assert!(
        answer.contains("RTP/SAVP")
            && answer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{answer}"
    );
    assert_eq!(step(&steps, "bye")["code"], 200);
    let detail = archived_call_within(&server.http(), "sip-tls-srtp", Duration::from_secs(60));
    let (text, _) = transcript(&detail);
    assert!(
        text.contains("complaint") && text.contains("guaranteed return"),
        "SRTP audio not decrypted: {text}"
    );
    assert!(server.log_text().contains("SIP over TLS listening"));

    // Outside the allow-list (127.0.0.3 is loopback, but not listed): 403.
    let s = std::net::UdpSocket::bind("127.0.0.3:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let options = format!(
        "OPTIONS sip:srs@127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.3:5060;branch=z9hG4bKo1\r\nFrom: <sip:x@127.0.0.3>;tag=o1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: allow-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    s.send_to(options.as_bytes(), ("127.0.0.1", sip)).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("SIP/2.0 403"), "{reply}");
}
