//! SDP offers from recording clients (RFC 4566, RFC 7866 §8) and the SRS's answers
//! (RFC 3264): one `m=audio` per recorded stream, each labelled, answered `recvonly`.

use std::collections::BTreeMap;
use thiserror::Error;

/// Why an SDP offer was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP line {line} `{text}` is not `x=value`")]
    BadLine { line: usize, text: String },
    #[error("SDP has no `v=0` line first")]
    NoVersion,
    #[error("bad m= line `{0}`; expected `m=audio PORT RTP/AVP PT...`")]
    BadMedia(String),
    #[error("SDP offers no media streams")]
    NoMedia,
    #[error("{0}")]
    Crypto(String),
}

/// SDES crypto suites (RFC 4568 6.2) the recorder decrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SrtpSuite {
    #[serde(rename = "AES_CM_128_HMAC_SHA1_80")]
    AesCm128HmacSha1_80,
    #[serde(rename = "AES_CM_128_HMAC_SHA1_32")]
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    pub fn name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }
    fn parse(s: &str) -> Option<SrtpSuite> {
        match s {
            "AES_CM_128_HMAC_SHA1_80" => Some(SrtpSuite::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(SrtpSuite::AesCm128HmacSha1_32),
            _ => None,
        }
    }
}

/// Master key (16 bytes) and salt (14 bytes) of an SDES suite, concatenated.
pub const SDES_KEY_LEN: usize = 30;

/// The `a=crypto` line of an offer the recorder takes: the SRC encrypts with this key.
#[derive(Clone, PartialEq, Eq)]
pub struct CryptoOffer {
    pub tag: u32,
    pub suite: SrtpSuite,
    /// Master key then master salt.
    pub key: [u8; SDES_KEY_LEN],
}

impl std::fmt::Debug for CryptoOffer {
    // Keys never reach logs or debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoOffer")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// Parses one `a=crypto` value; `Err` says why the line cannot be used.
pub fn parse_crypto(value: &str) -> Result<CryptoOffer, String> {
    use base64::Engine;
    let mut it = value.split_whitespace();
    let (Some(tag), Some(suite), Some(key_params)) = (it.next(), it.next(), it.next()) else {
        return Err("malformed".into());
    };
    let tag: u32 = tag.parse().map_err(|_| "bad tag".to_string())?;
    let suite = SrtpSuite::parse(suite).ok_or_else(|| format!("suite {suite} not supported"))?;
    if let Some(p) = it.next() {
        return Err(format!("session parameter {p} not supported"));
    }
    if key_params.contains(';') {
        return Err("several keys not supported".into());
    }
    let inline = key_params
        .strip_prefix("inline:")
        .ok_or_else(|| "key method is not inline".to_string())?;
    let mut parts = inline.split('|');
    let b64 = parts.next().unwrap_or("");
    for p in parts {
        if p.contains(':') {
            return Err("MKI not supported".into());
        }
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "key is not base64".to_string())?;
    let key: [u8; SDES_KEY_LEN] = raw
        .try_into()
        .map_err(|_| format!("key is not {SDES_KEY_LEN} bytes"))?;
    Ok(CryptoOffer { tag, suite, key })
}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The answer's direction for an offered one (RFC 3264 §6.1), from a receive-only SRS.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly | Direction::SendRecv => Direction::RecvOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    }
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// A codec the SRS can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Codec {
    Pcmu,
    Pcma,
    #[serde(rename = "opus")]
    Opus,
}

impl Codec {
    /// rtpmap encoding name, clock rate and channel suffix.
    pub fn rtpmap(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU/8000",
            Codec::Pcma => "PCMA/8000",
            Codec::Opus => "opus/48000/2",
        }
    }
    /// RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Opus => 48000,
        }
    }
}

/// One offered `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDesc {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    /// Payload type -> `NAME/rate[/channels]` from a=rtpmap.
    pub rtpmap: BTreeMap<u8, String>,
    pub label: Option<String>,
    pub direction: Direction,
    /// Connection address (media-level c=, else session-level).
    pub connection: Option<String>,
    /// The first usable SDES key of an RTP/SAVP stream.
    pub crypto: Option<CryptoOffer>,
    /// Why each offered `a=crypto` line could not be used.
    pub crypto_refused: Vec<String>,
}

impl MediaDesc {
    /// Secure RTP (SDES keys expected).
    pub fn is_secure(&self) -> bool {
        self.proto.starts_with("RTP/SAVP")
    }
}

impl MediaDesc {
    /// The first offered payload type we decode, in the offerer's preference order.
    pub fn choose_codec(&self, ours: &[Codec]) -> Option<(u8, Codec)> {
        if self.kind != "audio" || self.port == 0 || !self.proto.starts_with("RTP/") {
            return None;
        }
        self.formats.iter().find_map(|f| {
            let pt: u8 = f.parse().ok()?;
            let codec = match self.rtpmap.get(&pt) {
                Some(map) => {
                    let name = map.split('/').next().unwrap_or("").to_ascii_lowercase();
                    match name.as_str() {
                        "pcmu" => Codec::Pcmu,
                        "pcma" => Codec::Pcma,
                        "opus" => Codec::Opus,
                        _ => return None,
                    }
                }
                // Static payload types need no rtpmap (RFC 3551 table 4).
                None => match pt {
                    0 => Codec::Pcmu,
                    8 => Codec::Pcma,
                    _ => return None,
                },
            };
            ours.contains(&codec).then_some((pt, codec))
        })
    }
}

/// A parsed offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpOffer {
    pub origin: String,
    pub media: Vec<MediaDesc>,
}

/// Parses an SDP offer; unknown lines and attributes are ignored.
pub fn parse_offer(text: &str) -> Result<SdpOffer, SdpError> {
    let mut origin = String::new();
    let mut session_conn: Option<String> = None;
    let mut session_dir = Direction::SendRecv;
    let mut media: Vec<MediaDesc> = Vec::new();
    let mut media_dir: Vec<Option<Direction>> = Vec::new();
    let mut seen_version = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.is_empty() {
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' {
            return Err(SdpError::BadLine {
                line: i + 1,
                text: line.chars().take(60).collect(),
            });
        }
        let (kind, value) = (bytes[0], &line[2..]);
        if !seen_version {
            if kind == b'v' && value.trim() == "0" {
                seen_version = true;
                continue;
            }
            return Err(SdpError::NoVersion);
        }
        match kind {
            b'o' => origin = value.to_string(),
            b'c' => {
                let addr = value.split_whitespace().nth(2).map(|a| {
                    // Multicast TTL/count suffixes never apply to a unicast recorder.
                    a.split('/').next().unwrap_or(a).to_string()
                });
                match media.last_mut() {
                    Some(m) => m.connection = addr,
                    None => session_conn = addr,
                }
            }
            b'm' => {
                let mut it = value.split_whitespace();
                let bad = || SdpError::BadMedia(value.chars().take(60).collect());
                let kind = it.next().ok_or_else(bad)?.to_string();
                let port_s = it.next().ok_or_else(bad)?;
                // `PORT/count` (RFC 4566 §5.14) names the first port.
                let port: u16 = port_s
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| bad())?;
                let proto = it.next().ok_or_else(bad)?.to_string();
                let formats: Vec<String> = it.map(str::to_string).collect();
                media.push(MediaDesc {
                    kind,
                    port,
                    proto,
                    formats,
                    rtpmap: BTreeMap::new(),
                    label: None,
                    direction: Direction::SendRecv,
                    connection: None,
                    crypto: None,
                    crypto_refused: Vec::new(),
                });
                media_dir.push(None);
            }
            b'a' => {
                let (name, val) = value.split_once(':').unwrap_or((value, ""));
                let dir = match name {
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "sendrecv" => Some(Direction::SendRecv),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                match (media.last_mut(), dir) {
                    (None, Some(d)) => session_dir = d,
                    (Some(_), Some(d)) => *media_dir.last_mut().unwrap() = Some(d),
                    (Some(m), None) if name == "label" => m.label = Some(val.trim().to_string()),
                    (Some(m), None) if name == "crypto" && m.crypto.is_none() => {
                        match parse_crypto(val) {
                            Ok(c) => m.crypto = Some(c),
                            Err(e) => m.crypto_refused.push(e),
                        }
                    }
                    (Some(m), None) if name == "rtpmap" => {
                        if let Some((pt, enc)) = val.split_once(' ') {
                            if let Ok(pt) = pt.trim().parse() {
                                m.rtpmap.insert(pt, enc.trim().to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !seen_version {
        return Err(SdpError::NoVersion);
    }
    if media.is_empty() {
        return Err(SdpError::NoMedia);
    }
    for (m, d) in media.iter_mut().zip(media_dir) {
        m.direction = d.unwrap_or(session_dir);
        if m.connection.is_none() {
            m.connection = session_conn.clone();
        }
        if !m.is_secure() {
            m.crypto = None;
        } else if m.crypto.is_none() && m.port != 0 {
            // Answering without keys would leave the SRC encrypting to a recorder that
            // cannot decrypt: refuse the offer instead (RFC 4568 7.1.2).
            let why = if m.crypto_refused.is_empty() {
                "no a=crypto line".to_string()
            } else {
                m.crypto_refused.join("; ")
            };
            return Err(SdpError::Crypto(format!(
                "{} stream on port {} has no usable SDES key ({why}); offer AES_CM_128_HMAC_SHA1_80 with one inline key, no MKI, no session parameters",
                m.proto, m.port
            )));
        }
    }
    Ok(SdpOffer { origin, media })
}

/// How the SRS answers one offered m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamAnswer {
    /// Receive on `port` with this payload type and codec; `crypto` is our `a=crypto` value
    /// for a secure stream.
    Accept {
        port: u16,
        pt: u8,
        codec: Codec,
        crypto: Option<String>,
    },
    /// Port 0: the stream is declined (no codec we decode, not audio, or offered with port 0).
    Decline,
}

/// Builds the answer: the offer's m-lines in order, each `recvonly` (or `inactive` when the
/// offer is), labels repeated, only our codec, port 0 for declined ones.
pub fn answer(
    offer: &SdpOffer,
    streams: &[StreamAnswer],
    address: &str,
    session_id: u64,
    version: u64,
) -> String {
    let ip = if address.contains(':') { "IP6" } else { "IP4" };
    let mut s = format!(
        "v=0\r\no=callwatch {session_id} {version} IN {ip} {address}\r\ns=callwatch\r\nc=IN {ip} {address}\r\nt=0 0\r\n"
    );
    for (m, a) in offer.media.iter().zip(streams) {
        match a {
            StreamAnswer::Accept {
                port,
                pt,
                codec,
                crypto,
            } => {
                s.push_str(&format!("m={} {port} {} {pt}\r\n", m.kind, m.proto));
                s.push_str(&format!("a=rtpmap:{pt} {}\r\n", codec.rtpmap()));
                s.push_str(&format!("a={}\r\n", m.direction.answer().attr()));
                if let Some(c) = crypto {
                    s.push_str(&format!("a=crypto:{c}\r\n"));
                }
            }
            StreamAnswer::Decline => {
                let fmt = m.formats.first().map(String::as_str).unwrap_or("0");
                s.push_str(&format!("m={} 0 {} {fmt}\r\n", m.kind, m.proto));
            }
        }
        if let Some(l) = &m.label {
            s.push_str(&format!("a=label:{l}\r\n"));
        }
    }
    s
}
