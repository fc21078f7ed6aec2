use super::session::encode;
use super::*;
use proptest::prelude::*;
use uuid::Uuid;

const ID: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

fn uuid_msg() -> Vec<u8> {
    encode(0x01, &ID)
}

fn audio_msg(samples: &[i16]) -> Vec<u8> {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    encode(0x10, &bytes)
}

/// Feeds `bytes` in one piece and polls until the session needs more or fails.
fn run(bytes: &[u8]) -> (Vec<AudioSocketOutput>, Option<AudioSocketError>) {
    run_chunked(&[bytes])
}

fn run_chunked(chunks: &[&[u8]]) -> (Vec<AudioSocketOutput>, Option<AudioSocketError>) {
    let mut s = AudioSocketSession::new();
    let mut out = Vec::new();
    for c in chunks {
        s.feed(c);
        loop {
            match s.poll() {
                Ok(Some(o)) => out.push(o),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

#[test]
fn uuid_is_canonical() {
    let (out, err) = run(&uuid_msg());
    assert_eq!(err, None);
    let AudioSocketOutput::Start { uuid } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(uuid.to_string(), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
}

#[test]
fn valid_streams() {
    let start = AudioSocketOutput::Start {
        uuid: Uuid::from_bytes(ID),
    };
    let cases: Vec<(&str, Vec<u8>, Vec<AudioSocketOutput>)> = vec![
        ("uuid only", uuid_msg(), vec![start.clone()]),
        (
            "audio is little-endian",
            [
                uuid_msg(),
                encode(0x10, &[0x01, 0x00, 0xff, 0xff, 0x00, 0x80]),
            ]
            .concat(),
            vec![
                start.clone(),
                AudioSocketOutput::Audio {
                    rate: 8000,
                    samples: vec![1, -1, i16::MIN],
                },
            ],
        ),
        (
            "empty audio",
            [uuid_msg(), encode(0x10, &[])].concat(),
            vec![
                start.clone(),
                AudioSocketOutput::Audio {
                    rate: 8000,
                    samples: vec![],
                },
            ],
        ),
        (
            "dtmf and hangup",
            [uuid_msg(), encode(0x03, b"#"), encode(0x00, &[])].concat(),
            vec![
                start.clone(),
                AudioSocketOutput::Dtmf('#'),
                AudioSocketOutput::Hangup,
            ],
        ),
        (
            "bytes after hangup are ignored",
            [uuid_msg(), encode(0x00, &[]), vec![0x42, 0, 0, 0x10]].concat(),
            vec![start.clone(), AudioSocketOutput::Hangup],
        ),
        (
            "error code",
            [uuid_msg(), encode(0xff, &[0x04])].concat(),
            vec![start.clone(), AudioSocketOutput::Error(4)],
        ),
        (
            "error without code",
            encode(0xff, &[]),
            vec![AudioSocketOutput::Error(0)],
        ),
        (
            "hangup before uuid",
            encode(0x00, &[]),
            vec![AudioSocketOutput::Hangup],
        ),
        ("truncated header waits", vec![0x10, 0x01], vec![]),
        (
            "truncated payload waits",
            [uuid_msg(), vec![0x10, 0x01, 0x40, 1, 2, 3]].concat(),
            vec![start.clone()],
        ),
    ];
    for (name, bytes, want) in cases {
        let (out, err) = run(&bytes);
        assert_eq!(err, None, "{name}");
        assert_eq!(out, want, "{name}");
    }
}

#[test]
fn invalid_streams() {
    use AudioSocketError as E;
    let cases: Vec<(&str, Vec<u8>, AudioSocketError, &str)> = vec![
        (
            "audio before uuid",
            audio_msg(&[1, 2]),
            E::BeforeUuid { kind: "audio" },
            "must start with its call UUID",
        ),
        (
            "dtmf before uuid",
            encode(0x03, b"1"),
            E::BeforeUuid { kind: "DTMF" },
            "DTMF message before",
        ),
        (
            "short uuid",
            encode(0x01, &ID[..15]),
            E::UuidLength(15),
            "exactly the 16 raw bytes",
        ),
        (
            "second uuid",
            [uuid_msg(), uuid_msg()].concat(),
            E::DuplicateUuid,
            "one connection per leg",
        ),
        (
            "unknown type",
            [uuid_msg(), encode(0x19, &[0; 640])].concat(),
            E::UnknownType(0x19),
            "0x19",
        ),
        (
            "rate change",
            [uuid_msg(), audio_msg(&[1]), encode(0x12, &[0; 640])].concat(),
            E::RateChanged {
                from: 8000,
                to: 16000,
            },
            "keep the channel's signed-linear format fixed",
        ),
        (
            "wideband audio before uuid",
            encode(0x16, &[0; 4]),
            E::BeforeUuid { kind: "audio" },
            "must start with its call UUID",
        ),
        (
            "odd audio",
            [uuid_msg(), encode(0x10, &[0; 3])].concat(),
            E::OddAudio(3),
            "must be even",
        ),
        (
            // Refused from the header alone: the payload never has to arrive.
            "oversize audio",
            [uuid_msg(), vec![0x10, 0xff, 0xfe]].concat(),
            E::OversizeAudio { len: 65534 },
            "16000-byte limit",
        ),
        (
            "long dtmf",
            [uuid_msg(), encode(0x03, b"12")].concat(),
            E::DtmfLength(2),
            "exactly one",
        ),
        (
            "dtmf not a digit",
            [uuid_msg(), encode(0x03, b"x")].concat(),
            E::DtmfDigit(b'x'),
            "0x78",
        ),
    ];
    for (name, bytes, want, words) in cases {
        let (_, err) = run(&bytes);
        let err = err.unwrap_or_else(|| panic!("{name}: accepted"));
        assert_eq!(err, want, "{name}");
        assert!(err.to_string().contains(words), "{name}: {err}");
    }
}

#[test]
fn every_audio_type_carries_its_rate() {
    let table = [
        (0x10, 8_000),
        (0x11, 12_000),
        (0x12, 16_000),
        (0x13, 24_000),
        (0x14, 32_000),
        (0x15, 44_100),
        (0x16, 48_000),
        (0x17, 96_000),
        (0x18, 192_000),
    ];
    for (kind, rate) in table {
        // 20 ms of audio at that rate (44.1 kHz: 882 samples), twice.
        let n = rate as usize / 50;
        let payload: Vec<u8> = (0..n as i16).flat_map(|s| s.to_le_bytes()).collect();
        let bytes = [uuid_msg(), encode(kind, &payload), encode(kind, &payload)].concat();
        let (out, err) = run(&bytes);
        assert_eq!(err, None, "0x{kind:02x}");
        let expected = AudioSocketOutput::Audio {
            rate,
            samples: (0..n as i16).collect(),
        };
        assert_eq!(out[1..], [expected.clone(), expected], "0x{kind:02x}");
    }
}

#[test]
fn failed_session_stays_failed() {
    let mut s = AudioSocketSession::new();
    s.feed(&audio_msg(&[1]));
    assert!(s.poll().is_err());
    s.feed(&uuid_msg());
    assert_eq!(s.poll(), Ok(None));
}

#[test]
fn pending_counts_a_truncated_tail() {
    let mut s = AudioSocketSession::new();
    s.feed(&[uuid_msg(), vec![0x10, 0x00]].concat());
    assert!(matches!(
        s.poll(),
        Ok(Some(AudioSocketOutput::Start { .. }))
    ));
    assert_eq!(s.poll(), Ok(None));
    assert_eq!(s.pending(), 2);
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<i16>(), 0..200).prop_map(|s| audio_msg(&s)),
        prop::sample::select(b"0123456789*#ABCD".to_vec()).prop_map(|d| encode(0x03, &[d])),
        any::<u8>().prop_map(|c| encode(0xff, &[c])),
    ]
}

proptest! {
    /// However the reads split or join the bytes, the messages come out the same.
    #[test]
    fn chunking_does_not_matter(
        msgs in prop::collection::vec(message(), 0..20),
        hangup in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let mut stream = uuid_msg();
        for m in &msgs { stream.extend_from_slice(m); }
        if hangup { stream.extend(encode(0x00, &[])); }
        let (whole, err) = run(&stream);
        prop_assert_eq!(err, None);
        prop_assert_eq!(whole.len(), 1 + msgs.len() + usize::from(hangup));
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let chunks: Vec<&[u8]> = points.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
        let (split, err) = run_chunked(&chunks);
        prop_assert_eq!(err, None);
        prop_assert_eq!(split, whole);
    }

    /// Arbitrary bytes never panic, and a failed session yields nothing more.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let (_, err) = run(&bytes);
        if err.is_some() {
            let mut s = AudioSocketSession::new();
            s.feed(&bytes);
            while let Ok(Some(_)) = s.poll() {}
            s.feed(&uuid_msg());
            prop_assert_eq!(s.poll(), Ok(None));
        }
    }
}
