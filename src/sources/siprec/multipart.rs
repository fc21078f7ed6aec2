//! `multipart/mixed` bodies (RFC 2046 §5.1) as recording clients send them: an SDP part, a
//! metadata part, and sometimes parts we do not need (Cisco's `application/gtd`).

use thiserror::Error;

/// Why a recording body could not be split.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BodyError {
    #[error("multipart body without a boundary parameter in Content-Type; add `;boundary=...`")]
    NoBoundary,
    #[error("multipart body has no part delimited by `--{0}`")]
    NoParts(String),
    #[error("body is not UTF-8 text")]
    NotUtf8,
}

/// The media type (lower case, parameters stripped) and parameters of a Content-Type value.
pub fn content_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut it = value.split(';');
    let mime = it.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = it
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    (mime, params)
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Media type in lower case without parameters (`application/sdp`).
    pub content_type: String,
    pub body: String,
}

/// Splits a multipart body at `--boundary` lines. Tolerates LF-only line ends, a preamble,
/// and a missing closing delimiter.
pub fn split(body: &str, boundary: &str) -> Result<Vec<Part>, BodyError> {
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split('\n') {
        let line_t = line.strip_suffix('\r').unwrap_or(line);
        if let Some(rest) = line_t.strip_prefix(&delim) {
            if let Some(lines) = current.take() {
                parts.push(make_part(&lines));
            }
            if rest.trim_end().starts_with("--") {
                break;
            }
            current = Some(Vec::new());
        } else if let Some(lines) = current.as_mut() {
            lines.push(line_t);
        }
    }
    if let Some(lines) = current.take() {
        parts.push(make_part(&lines));
    }
    if parts.is_empty() {
        return Err(BodyError::NoParts(boundary.to_string()));
    }
    Ok(parts)
}

fn make_part(lines: &[&str]) -> Part {
    // Headers end at the first empty line; a part starting with content (no headers) is
    // text/plain by RFC 2046, which no recording client sends, so it is ignored later.
    let mut content_type = String::from("text/plain");
    let mut i = 0;
    while i < lines.len() && !lines[i].trim().is_empty() {
        if let Some((n, v)) = lines[i].split_once(':') {
            if n.trim().eq_ignore_ascii_case("Content-Type") {
                content_type = self::content_type(v).0;
            }
        }
        i += 1;
    }
    let body_lines = lines.get(i + 1..).unwrap_or(&[]);
    let mut body = body_lines.join("\r\n");
    // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    while body.ends_with("\r\n") {
        body.truncate(body.len() - 2);
    }
    body.push_str("\r\n");
    Part { content_type, body }
}

/// What a recording INVITE's body holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingBody {
    pub sdp: Option<String>,
    /// `application/rs-metadata+xml` (or `application/rs-metadata`) text.
    pub metadata: Option<String>,
}

/// Extracts SDP and metadata from a message body with the given Content-Type.
pub fn recording_body(content_type_value: &str, body: &[u8]) -> Result<RecordingBody, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    let (mime, params) = content_type(content_type_value);
    let mut out = RecordingBody::default();
    match mime.as_str() {
        "multipart/mixed" | "multipart/related" | "multipart/alternative" => {
            let boundary = params
                .iter()
                .find(|(k, _)| k == "boundary")
                .map(|(_, v)| v.as_str())
                .ok_or(BodyError::NoBoundary)?;
            for part in split(text, boundary)? {
                assign(&mut out, &part.content_type, part.body);
            }
        }
        other => assign(&mut out, other, text.to_string()),
    }
    Ok(out)
}

fn assign(out: &mut RecordingBody, mime: &str, body: String) {
    match mime {
        "application/sdp" if out.sdp.is_none() => out.sdp = Some(body),
        "application/rs-metadata+xml" | "application/rs-metadata" if out.metadata.is_none() => {
            out.metadata = Some(body)
        }
        _ => {} // application/gtd, ISUP and the like carry nothing the recorder needs
    }
}
