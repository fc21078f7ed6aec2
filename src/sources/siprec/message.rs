//! SIP messages (RFC 3261 §7): parsing from datagrams or stream frames, and serialising.
//!
//! A small parser of our own rather than a general SIP crate: recording clients send folded
//! header lines (§7.3.1), compact header names (§7.3.3) and IPv6 references, and the SRS needs
//! nothing typed beyond a handful of headers, which it reads on demand.

use thiserror::Error;

/// The largest message accepted; a recording INVITE with metadata is a few kilobytes.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Why bytes are not a SIP message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SipParseError {
    #[error("no blank line ends the header section; send CRLF CRLF after the last header")]
    NoHeaderEnd,
    #[error("header section is not UTF-8; SIP headers must be UTF-8 text")]
    NotUtf8,
    #[error("bad start line `{0}`; expected `METHOD uri SIP/2.0` or `SIP/2.0 code reason`")]
    BadStartLine(String),
    #[error("bad header line `{0}`; expected `Name: value`")]
    BadHeader(String),
    #[error("missing mandatory header {0}")]
    MissingHeader(&'static str),
    #[error("bad CSeq `{0}`; expected `number METHOD`")]
    BadCSeq(String),
    #[error("bad Content-Length `{0}`")]
    BadContentLength(String),
    #[error("body is {got} bytes but Content-Length says {declared}; the message was truncated")]
    Truncated { declared: usize, got: usize },
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE}-byte limit")]
    TooLarge(usize),
}

/// First line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// A parsed SIP message: start line, headers in wire order, raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    pub start: StartLine,
    /// Header names in their canonical long form (compact forms expanded), values unfolded.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Compact header forms (RFC 3261 §7.3.3, RFC 3515, RFC 4028) and their long names.
const COMPACT: [(&str, &str); 14] = [
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("x", "Session-Expires"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("u", "Allow-Events"),
];

fn canonical_name(name: &str) -> String {
    for (short, long) in COMPACT {
        if name.eq_ignore_ascii_case(short) {
            return long.to_string();
        }
    }
    name.to_string()
}

/// Splits `bytes` at the end of the header section: (header text length, body start).
fn header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(c), Some(l)) if l < c => Some((l, l + 2)),
        (Some(c), _) => Some((c, c + 4)),
        (None, Some(l)) => Some((l, l + 2)),
        (None, None) => None,
    }
}

impl SipMessage {
    /// Parses one whole message (one UDP datagram, or one frame cut by [`StreamFramer`]).
    /// With a Content-Length the body is cut to it; a shorter body is an error.
    pub fn parse(bytes: &[u8]) -> Result<SipMessage, SipParseError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(SipParseError::TooLarge(bytes.len()));
        }
        // Keep-alive CRLFs may precede a message (RFC 5626 §4.4.1).
        let start = bytes
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .unwrap_or(bytes.len());
        let bytes = &bytes[start..];
        let (head_len, body_start) = header_end(bytes).ok_or(SipParseError::NoHeaderEnd)?;
        let head = std::str::from_utf8(&bytes[..head_len]).map_err(|_| SipParseError::NotUtf8)?;
        let mut lines: Vec<String> = Vec::new();
        for raw in head.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.starts_with([' ', '\t']) && lines.len() > 1 {
                // Folded continuation of the previous header (§7.3.1).
                let last = lines.last_mut().unwrap();
                last.push(' ');
                last.push_str(line.trim());
            } else {
                lines.push(line.to_string());
            }
        }
        let start = parse_start_line(&lines[0])?;
        let mut headers = Vec::with_capacity(lines.len());
        for line in &lines[1..] {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| SipParseError::BadHeader(clip(line)))?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(SipParseError::BadHeader(clip(line)));
            }
            headers.push((canonical_name(name), value.trim().to_string()));
        }
        let mut body = bytes[body_start..].to_vec();
        let msg = SipMessage {
            start,
            headers,
            body: Vec::new(),
        };
        if let Some(cl) = msg.header("Content-Length") {
            let declared: usize = cl
                .trim()
                .parse()
                .map_err(|_| SipParseError::BadContentLength(clip(cl)))?;
            if body.len() < declared {
                return Err(SipParseError::Truncated {
                    declared,
                    got: body.len(),
                });
            }
            body.truncate(declared);
        }
        let mut msg = msg;
        msg.body = body;
        if let StartLine::Request { .. } = msg.start {
            for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
                if msg.header(h).is_none() {
                    return Err(SipParseError::MissingHeader(h));
                }
            }
            msg.cseq()?;
        }
        Ok(msg)
    }

    /// First value of a header (case-insensitive name; compact forms were expanded).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, comma-separated lists split (for Require, Supported, Via...).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// The method of a request, or of the request a response answers (from CSeq).
    pub fn method(&self) -> &str {
        match &self.start {
            StartLine::Request { method, .. } => method,
            StartLine::Response { .. } => self
                .header("CSeq")
                .and_then(|c| c.split_whitespace().nth(1))
                .unwrap_or(""),
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// Status code of a response.
    pub fn code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Result<(u32, String), SipParseError> {
        let v = self
            .header("CSeq")
            .ok_or(SipParseError::MissingHeader("CSeq"))?;
        let mut it = v.split_whitespace();
        match (
            it.next().and_then(|n| n.parse::<u32>().ok()),
            it.next(),
            it.next(),
        ) {
            (Some(n), Some(m), None) => Ok((n, m.to_string())),
            _ => Err(SipParseError::BadCSeq(clip(v))),
        }
    }

    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or("")
    }

    /// `branch` parameter of the top Via: identifies the transaction (RFC 3261 §17.2.3).
    pub fn branch(&self) -> &str {
        self.header("Via")
            .and_then(|v| param(v.split(',').next().unwrap_or(v), "branch"))
            .unwrap_or("")
    }

    /// `tag` parameter of From or To.
    pub fn tag(&self, header: &str) -> Option<&str> {
        self.header(header).and_then(|v| param(v, "tag"))
    }

    /// Adds a header at the end.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_string(), value.into()));
    }

    /// Wire form; Content-Length is always written, from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.push_str(&format!("{method} {uri} SIP/2.0\r\n"))
            }
            StartLine::Response { code, reason } => {
                out.push_str(&format!("SIP/2.0 {code} {reason}\r\n"))
            }
        }
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// A response to this request with the headers RFC 3261 §8.2.6.2 copies (Via, From, To,
    /// Call-ID, CSeq); `to_tag` is added to To when it has none.
    pub fn response(&self, code: u16, reason: &str, to_tag: Option<&str>) -> SipMessage {
        let mut headers = Vec::new();
        for (n, v) in &self.headers {
            let copy = ["Via", "From", "Call-ID", "CSeq", "Record-Route"]
                .iter()
                .any(|h| n.eq_ignore_ascii_case(h));
            if copy {
                headers.push((n.clone(), v.clone()));
            } else if n.eq_ignore_ascii_case("To") {
                let mut v = v.clone();
                if let Some(tag) = to_tag {
                    if param(&v, "tag").is_none() {
                        v.push_str(";tag=");
                        v.push_str(tag);
                    }
                }
                headers.push((n.clone(), v));
            }
        }
        SipMessage {
            start: StartLine::Response {
                code,
                reason: reason.to_string(),
            },
            headers,
            body: Vec::new(),
        }
    }
}

fn parse_start_line(line: &str) -> Result<StartLine, SipParseError> {
    let bad = || SipParseError::BadStartLine(clip(line));
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| bad())?;
        if !(100..700).contains(&code) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            code,
            reason: reason.to_string(),
        });
    }
    let mut it = line.split(' ');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(m), Some(uri), Some("SIP/2.0"), None)
            if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) && !uri.is_empty() =>
        {
            Ok(StartLine::Request {
                method: m.to_ascii_uppercase(),
                uri: uri.to_string(),
            })
        }
        _ => Err(bad()),
    }
}

/// A `;name=value` parameter of a header value (outside any `<...>` URI).
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let after_uri = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    after_uri.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// Whether a header value carries a flag parameter such as `+sip.src` (outside the URI).
pub fn has_flag(value: &str, flag: &str) -> bool {
    let after_uri = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    after_uri.split(';').skip(1).any(|p| {
        let k = p.split('=').next().unwrap_or("").trim();
        k.eq_ignore_ascii_case(flag)
    })
}

/// The URI inside `<...>`, or the bare value before parameters.
pub fn uri_of(value: &str) -> &str {
    if let (Some(a), Some(b)) = (value.find('<'), value.rfind('>')) {
        if a < b {
            return &value[a + 1..b];
        }
    }
    value.split(';').next().unwrap_or(value).trim()
}

/// Error texts quote at most this much of the offending input.
fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Cuts a TCP byte stream into messages by Content-Length (RFC 3261 §18.3).
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes and returns every complete message frame (parse each with
    /// [`SipMessage::parse`]). An error means the stream cannot be resynchronised: close it.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, SipParseError> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            let skip = self
                .buf
                .iter()
                .position(|b| *b != b'\r' && *b != b'\n')
                .unwrap_or(self.buf.len());
            self.buf.drain(..skip);
            let Some((head_len, body_start)) = header_end(&self.buf) else {
                if self.buf.len() > MAX_MESSAGE {
                    return Err(SipParseError::TooLarge(self.buf.len()));
                }
                return Ok(out);
            };
            let head =
                std::str::from_utf8(&self.buf[..head_len]).map_err(|_| SipParseError::NotUtf8)?;
            let mut len = 0usize;
            for line in head.split('\n') {
                if let Some((n, v)) = line.split_once(':') {
                    let n = n.trim();
                    if n.eq_ignore_ascii_case("Content-Length") || n.eq_ignore_ascii_case("l") {
                        len = v
                            .trim()
                            .parse()
                            .map_err(|_| SipParseError::BadContentLength(clip(v.trim())))?;
                    }
                }
            }
            // A Content-Length near usize::MAX must not wrap around into a small total.
            let total = body_start.saturating_add(len);
            if total > MAX_MESSAGE {
                return Err(SipParseError::TooLarge(total));
            }
            if self.buf.len() < total {
                return Ok(out);
            }
            out.push(self.buf.drain(..total).collect());
        }
    }
}
