//! The one way the recording server builds a response: the status code picks the reason
//! phrase, a refusal carries a `Warning` saying what to change.

use crate::sources::siprec::message::SipMessage;

/// The reason phrase of each status code the server sends (RFC 3261 21, RFC 4028, RFC 3329).
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        481 => "Call/Transaction Does Not Exist",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A response to `request`; `to_tag` is added to a To without one.
pub fn reply(request: &SipMessage, code: u16, to_tag: Option<&str>) -> SipMessage {
    request.response(code, reason(code), to_tag)
}

/// A refusal that says why in a `Warning` header (code 399, or `warn_code` such as 305 for
/// an incompatible media format).
pub fn refuse(request: &SipMessage, code: u16, to_tag: Option<&str>, why: &str) -> SipMessage {
    let mut r = reply(request, code, to_tag);
    r.push("Warning", warning(399, why));
    r
}

/// `Warning: CODE callwatch "TEXT"` with the text made safe for a quoted string.
pub fn warning(code: u16, text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| *c != '"' && *c != '\r' && *c != '\n')
        .take(200)
        .collect();
    format!("{code} callwatch \"{clean}\"")
}

/// An address as it goes into a SIP URI or Via (IPv6 in brackets).
pub fn bracket(addr: &str) -> String {
    if addr.contains(':') && !addr.starts_with('[') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    }
}
