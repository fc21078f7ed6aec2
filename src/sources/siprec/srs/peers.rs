//! Who may talk to the recording server: the address allow-list (`[sip] allow`) and,
//! optionally, digest authentication of new sessions (RFC 3261 22, RFC 2617 MD5 with
//! `qop=auth`, which SBCs implement). Nonces are stateless: the time they were made and a
//! keyed hash of it and of the address challenged, valid for [`NONCE_TTL_S`] from that
//! address only. The digest must cover the request's own URI.

use super::reply::reply;
use crate::sources::siprec::message::SipMessage;
use md5::{Digest, Md5};
use sha2::Sha256;
use std::net::IpAddr;

/// How long a digest challenge may be answered.
pub const NONCE_TTL_S: i64 = 300;

/// The address ranges SIP requests are taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<ipnet::IpNet>);

impl AllowList {
    /// Parses CIDRs (`10.1.0.0/16`) or single addresses.
    pub fn parse(items: &[String]) -> Result<AllowList, String> {
        items
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("sip.allow: `{s}` is not an address or CIDR, e.g. 10.20.0.0/16")
                    })
            })
            .collect::<Result<_, _>>()
            .map(AllowList)
    }

    /// Loopback only.
    pub fn loopback() -> AllowList {
        AllowList::parse(&["127.0.0.0/8".into(), "::1/128".into()]).expect("valid CIDRs")
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// The one user and password recording clients authenticate with.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestAuth {
    pub realm: String,
    pub user: String,
    pub password: String,
    /// Keys the nonces; random per process.
    pub secret: [u8; 32],
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuth")
            .field("realm", &self.realm)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The parameters of a `Digest` credential, unquoted.
pub fn digest_params(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.trim().strip_prefix("Digest")?.trim_start();
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.trim().is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Some(out)
}

/// RFC 2617 3.2.2.1 request-digest for MD5 (with `qop=auth` when `qop` is given).
pub fn request_digest(
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str, &str)>,
) -> String {
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce, qop)) => md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")),
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

impl DigestAuth {
    /// Keyed with the process secret over the time and the address challenged, so a nonce
    /// only works from the address it was given to.
    fn nonce_mac(&self, made_s: i64, ip: IpAddr) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(made_s.to_be_bytes());
        h.update(ip.to_string().as_bytes());
        hex(&h.finalize()[..12])
    }

    /// A nonce made at `now_s` for a client at `ip`.
    pub fn nonce(&self, now_s: i64, ip: IpAddr) -> String {
        format!("{made:x}.{}", self.nonce_mac(now_s, ip), made = now_s)
    }

    /// Whether `nonce` is one of ours, made for `ip`, and still fresh.
    fn nonce_fresh(&self, nonce: &str, now_s: i64, ip: IpAddr) -> bool {
        let Some((made, mac)) = nonce.split_once('.') else {
            return false;
        };
        let Ok(made) = i64::from_str_radix(made, 16) else {
            return false;
        };
        let age = now_s - made;
        (0..=NONCE_TTL_S).contains(&age) && constant_eq(mac, &self.nonce_mac(made, ip))
    }

    /// `None` when the request carries valid credentials; otherwise the 401 to send.
    pub fn check(&self, msg: &SipMessage, tag: &str, now_s: i64, ip: IpAddr) -> Option<SipMessage> {
        let verdict = msg
            .header("Authorization")
            .and_then(digest_params)
            .map(|p| self.verify(msg, &p, now_s, ip));
        match verdict {
            Some(Verdict::Ok) => None,
            Some(Verdict::Stale) => Some(self.challenge(msg, tag, now_s, ip, true)),
            Some(Verdict::Wrong) | None => Some(self.challenge(msg, tag, now_s, ip, false)),
        }
    }

    fn verify(&self, msg: &SipMessage, p: &[(String, String)], now_s: i64, ip: IpAddr) -> Verdict {
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            get("username"),
            get("realm"),
            get("nonce"),
            get("uri"),
            get("response"),
        ) else {
            return Verdict::Wrong;
        };
        if get("algorithm").is_some_and(|a| !a.eq_ignore_ascii_case("MD5")) {
            return Verdict::Wrong;
        }
        if user != self.user || realm != self.realm {
            return Verdict::Wrong;
        }
        // The digest must cover this request's URI, with the client nonce (qop=auth).
        let request_uri = match &msg.start {
            crate::sources::siprec::message::StartLine::Request { uri, .. } => uri.as_str(),
            _ => "",
        };
        if uri != request_uri {
            return Verdict::Wrong;
        }
        let qop = match (get("qop"), get("nc"), get("cnonce")) {
            (Some(q), Some(nc), Some(cn)) if q.eq_ignore_ascii_case("auth") => Some((nc, cn, q)),
            _ => return Verdict::Wrong,
        };
        let expected = request_digest(
            &self.user,
            &self.realm,
            &self.password,
            msg.method(),
            uri,
            nonce,
            qop,
        );
        if !constant_eq(&expected, &response.to_ascii_lowercase()) {
            return Verdict::Wrong;
        }
        if self.nonce_fresh(nonce, now_s, ip) {
            Verdict::Ok
        } else {
            Verdict::Stale
        }
    }

    fn challenge(
        &self,
        msg: &SipMessage,
        tag: &str,
        now_s: i64,
        ip: IpAddr,
        stale: bool,
    ) -> SipMessage {
        let mut r = reply(msg, 401, Some(tag));
        r.push(
            "WWW-Authenticate",
            format!(
                "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{}",
                self.realm,
                self.nonce(now_s, ip),
                if stale { ", stale=true" } else { "" }
            ),
        );
        r
    }
}

enum Verdict {
    Ok,
    /// Right password, old nonce: the client retries with the new one without asking anyone.
    Stale,
    Wrong,
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_digest() {
        // RFC 2617 3.5.
        let r = request_digest(
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b", "auth")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn digest_params_unquote_and_tolerate_spacing() {
        let p = digest_params(
            r#"Digest username="sbc", realm="callwatch",nonce="1a.bc" , uri="sip:srs@10.0.0.1", response="ab", qop=auth, nc=00000001, cnonce="x\"y""#,
        )
        .unwrap();
        let get = |k: &str| p.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("username"), "sbc");
        assert_eq!(get("nonce"), "1a.bc");
        assert_eq!(get("qop"), "auth");
        assert_eq!(get("cnonce"), "x\"y");
        assert!(digest_params("Basic abc").is_none());
    }

    #[test]
    fn allow_list_takes_cidrs_and_addresses() {
        let a = AllowList::parse(&["10.1.0.0/16".into(), "192.0.2.7".into()]).unwrap();
        assert!(a.allows("10.1.2.3".parse().unwrap()));
        assert!(a.allows("192.0.2.7".parse().unwrap()));
        assert!(a.allows("::ffff:10.1.9.9".parse().unwrap()));
        assert!(!a.allows("192.0.2.8".parse().unwrap()));
        assert!(AllowList::loopback().allows("127.0.0.1".parse().unwrap()));
        assert!(AllowList::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(AllowList::parse(&["sbc.example".into()]).is_err());
    }
}
