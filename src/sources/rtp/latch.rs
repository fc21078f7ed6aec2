//! Source-address latching for one received stream, sans-IO: the first source to send valid
//! media to a port owns it for the rest of the stream, and datagrams from any other address
//! are dropped and counted.
//!
//! Plain RTP carries no authentication, so without this anyone who learns (or scans for) a
//! session's port could inject audio into a recorded call. The RTP and RTCP ports latch
//! independently because senders commonly send RTCP from a different socket than RTP.

use std::net::SocketAddr;

/// Which of a stream's two ports a datagram arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchPort {
    /// The RTP port (which also takes multiplexed RTCP).
    Rtp,
    /// The separate RTCP port.
    Rtcp,
}

impl LatchPort {
    /// The port's name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LatchPort::Rtp => "rtp",
            LatchPort::Rtcp => "rtcp",
        }
    }
}

/// A dropped foreign datagram, described for the one log line a stream writes about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForeignSource {
    pub port: LatchPort,
    /// Who sent it.
    pub from: SocketAddr,
    /// Who the port belongs to.
    pub latched: SocketAddr,
}

/// What to do with a datagram, judged by its source address alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The port has not latched yet: process the datagram, then [`Latch::latch`] its source
    /// if it proves to be valid media. Latching only on valid media means a stray probe or
    /// garbage from a port scanner cannot capture the port before the real sender starts.
    Unlatched,
    /// From the latched source: process it.
    Latched,
    /// From another source: drop it unread; it has been counted.
    Foreign {
        /// The source the port is latched to.
        latched: SocketAddr,
        /// The stream's first foreign datagram (on either port), so that the caller logs
        /// once per stream rather than once per packet.
        first: bool,
    },
}

/// The latch state of one stream's RTP/RTCP port pair.
#[derive(Debug, Clone, Default)]
pub struct Latch {
    rtp: Option<SocketAddr>,
    rtcp: Option<SocketAddr>,
    dropped: u64,
}

impl Latch {
    /// A latch with neither port latched.
    pub fn new() -> Self {
        Self::default()
    }

    /// Judges a datagram from `from` on `port`; a foreign one is counted here.
    pub fn check(&mut self, port: LatchPort, from: SocketAddr) -> Verdict {
        // RTCP comes from the media sender's host: once RTP has latched, RTCP from another
        // IP is foreign even before the RTCP port latches, so a stranger's reports cannot
        // keep a finished stream alive.
        let rtcp_host_mismatch = port == LatchPort::Rtcp
            && self.rtcp.is_none()
            && self.rtp.is_some_and(|r| r.ip() != from.ip());
        match *self.slot(port) {
            None if rtcp_host_mismatch => {
                self.dropped += 1;
                Verdict::Foreign {
                    latched: self.rtp.expect("checked above"),
                    first: self.dropped == 1,
                }
            }
            None => Verdict::Unlatched,
            Some(latched) if same_source(latched, from) => Verdict::Latched,
            Some(latched) => {
                self.dropped += 1;
                Verdict::Foreign {
                    latched,
                    first: self.dropped == 1,
                }
            }
        }
    }

    /// Latches `port` to `from` unless it is latched already; returns whether it latched now.
    /// An existing latch never moves: a source that could move it could take the stream over.
    pub fn latch(&mut self, port: LatchPort, from: SocketAddr) -> bool {
        let slot = self.slot(port);
        if slot.is_some() {
            return false;
        }
        *slot = Some(from);
        // RTCP that latched before any RTP, from another host than the media, was not the
        // sender's: the media's host wins and RTCP latches again from it.
        if port == LatchPort::Rtp && self.rtcp.is_some_and(|c| c.ip() != from.ip()) {
            self.rtcp = None;
        }
        true
    }

    /// The source `port` is latched to, if any.
    pub fn source(&self, port: LatchPort) -> Option<SocketAddr> {
        match port {
            LatchPort::Rtp => self.rtp,
            LatchPort::Rtcp => self.rtcp,
        }
    }

    /// Datagrams dropped as foreign, both ports together.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn slot(&mut self, port: LatchPort) -> &mut Option<SocketAddr> {
        match port {
            LatchPort::Rtp => &mut self.rtp,
            LatchPort::Rtcp => &mut self.rtcp,
        }
    }
}

/// Address and port only: an IPv6 address's flow label and scope id are not part of who
/// sent it, and must not make the latched sender look foreign.
fn same_source(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() && a.port() == b.port()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV6;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rtcp_must_come_from_the_media_host() {
        let (media, media_rtcp, stranger) = (
            addr("10.0.0.1:4000"),
            addr("10.0.0.1:4001"),
            addr("10.9.9.9:4001"),
        );
        let mut l = Latch::new();
        assert!(l.latch(LatchPort::Rtp, media));
        assert!(matches!(
            l.check(LatchPort::Rtcp, stranger),
            Verdict::Foreign { .. }
        ));
        assert_eq!(l.check(LatchPort::Rtcp, media_rtcp), Verdict::Unlatched);
        // A stranger's RTCP that latched before any RTP is replaced by the media's host.
        let mut l = Latch::new();
        assert_eq!(l.check(LatchPort::Rtcp, stranger), Verdict::Unlatched);
        assert!(l.latch(LatchPort::Rtcp, stranger));
        assert!(l.latch(LatchPort::Rtp, media));
        assert_eq!(l.source(LatchPort::Rtcp), None);
        assert!(matches!(
            l.check(LatchPort::Rtcp, stranger),
            Verdict::Foreign { .. }
        ));
        assert_eq!(l.check(LatchPort::Rtcp, media_rtcp), Verdict::Unlatched);
    }

    #[test]
    fn the_first_source_latches_and_stays_latched() {
        let mut l = Latch::new();
        let a = addr("10.0.0.1:4000");
        assert_eq!(l.check(LatchPort::Rtp, a), Verdict::Unlatched);
        assert!(l.latch(LatchPort::Rtp, a));
        assert_eq!(l.source(LatchPort::Rtp), Some(a));
        for _ in 0..3 {
            assert_eq!(l.check(LatchPort::Rtp, a), Verdict::Latched);
        }
        assert_eq!(l.dropped(), 0);
    }

    #[test]
    fn another_address_is_dropped_and_counted_and_only_the_first_drop_is_flagged() {
        let mut l = Latch::new();
        let (a, b) = (addr("10.0.0.1:4000"), addr("10.0.0.2:4000"));
        l.latch(LatchPort::Rtp, a);
        assert_eq!(
            l.check(LatchPort::Rtp, b),
            Verdict::Foreign {
                latched: a,
                first: true
            }
        );
        assert_eq!(
            l.check(LatchPort::Rtp, b),
            Verdict::Foreign {
                latched: a,
                first: false
            }
        );
        assert_eq!(l.check(LatchPort::Rtp, a), Verdict::Latched);
        assert_eq!(l.dropped(), 2);
    }

    #[test]
    fn same_ip_on_another_port_is_another_source() {
        let mut l = Latch::new();
        let a = addr("192.0.2.7:4000");
        l.latch(LatchPort::Rtp, a);
        assert!(matches!(
            l.check(LatchPort::Rtp, addr("192.0.2.7:4002")),
            Verdict::Foreign { .. }
        ));
        assert_eq!(l.dropped(), 1);
    }

    #[test]
    fn a_latched_port_never_moves() {
        let mut l = Latch::new();
        let (a, b) = (addr("10.0.0.1:4000"), addr("10.0.0.2:4000"));
        assert!(l.latch(LatchPort::Rtp, a));
        assert!(!l.latch(LatchPort::Rtp, b));
        assert_eq!(l.source(LatchPort::Rtp), Some(a));
    }

    #[test]
    fn rtcp_latches_independently_of_rtp() {
        let mut l = Latch::new();
        let (rtp, rtcp) = (addr("10.0.0.1:4000"), addr("10.0.0.1:4001"));
        l.latch(LatchPort::Rtp, rtp);
        // RTP's latch does not judge the RTCP port, nor the reverse.
        assert_eq!(l.check(LatchPort::Rtcp, rtcp), Verdict::Unlatched);
        assert!(l.latch(LatchPort::Rtcp, rtcp));
        assert_eq!(l.check(LatchPort::Rtcp, rtcp), Verdict::Latched);
        assert_eq!(l.check(LatchPort::Rtp, rtp), Verdict::Latched);
        assert!(matches!(
            l.check(LatchPort::Rtcp, rtp),
            Verdict::Foreign { latched, first: true } if latched == rtcp
        ));
        assert!(matches!(
            l.check(LatchPort::Rtp, rtcp),
            Verdict::Foreign { latched, first: false } if latched == rtp
        ));
        assert_eq!(l.dropped(), 2);
    }

    #[test]
    fn ipv6_flow_label_and_scope_do_not_make_the_sender_foreign() {
        let mut l = Latch::new();
        let ip = "2001:db8::1".parse().unwrap();
        l.latch(
            LatchPort::Rtp,
            SocketAddr::V6(SocketAddrV6::new(ip, 4000, 0, 0)),
        );
        let relabelled = SocketAddr::V6(SocketAddrV6::new(ip, 4000, 7, 3));
        assert_eq!(l.check(LatchPort::Rtp, relabelled), Verdict::Latched);
    }
}
