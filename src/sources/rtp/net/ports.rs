//! RTP/RTCP port pairs (even RTP port, RTCP on the next odd one) from a configured range.
//! A session's streams get consecutive pairs, so a sender that adds a fixed port offset per
//! stream (pcap replays, some recorders) lands on the right one.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Why ports could not be had.
#[derive(Debug, Error)]
pub enum PortError {
    #[error("RTP port range {first}-{last} holds no even/odd pair; give a range of at least two ports starting at an even one")]
    BadRange { first: u16, last: u16 },
    #[error("no {wanted} consecutive free RTP port pairs left in {first}-{last} ({in_use} pairs in use); end idle sessions or widen [rtp] ports")]
    Exhausted {
        wanted: usize,
        first: u16,
        last: u16,
        in_use: usize,
    },
    #[error("cannot use UDP socket on {addr}: {source}")]
    Socket {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

#[derive(Debug)]
struct PoolState {
    /// RTP (even) ports leased out.
    used: BTreeSet<u16>,
    /// Where the next search starts; rotating avoids reusing a just-released port whose
    /// previous sender may still be transmitting.
    cursor: u16,
}

#[derive(Debug)]
struct PoolInner {
    bind: IpAddr,
    first: u16,
    last: u16,
    state: Mutex<PoolState>,
}

/// Hands out bound RTP/RTCP socket pairs; cheap to clone, shared by every RTP source.
#[derive(Debug, Clone)]
pub struct RtpPortPool {
    inner: Arc<PoolInner>,
}

/// Two bound UDP sockets: RTP on an even port, RTCP on the next. The ports return to the pool
/// when the pair (or the [`PortLease`] split from it) is dropped.
#[derive(Debug)]
pub struct PortPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub lease: PortLease,
}

/// Keeps a pair's ports reserved while alive.
#[derive(Debug)]
pub struct PortLease {
    pool: Arc<PoolInner>,
    rtp_port: u16,
}

impl PortLease {
    pub fn rtp_port(&self) -> u16 {
        self.rtp_port
    }
    pub fn rtcp_port(&self) -> u16 {
        self.rtp_port + 1
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if let Ok(mut s) = self.pool.state.lock() {
            s.used.remove(&self.rtp_port);
        }
    }
}

impl PortPair {
    pub fn rtp_port(&self) -> u16 {
        self.lease.rtp_port()
    }
    pub fn rtcp_port(&self) -> u16 {
        self.lease.rtcp_port()
    }
}

impl RtpPortPool {
    /// A pool over `first..=last` on `bind`; an odd `first` is rounded up to even.
    pub fn new(bind: IpAddr, first: u16, last: u16) -> Result<Self, PortError> {
        let even_first = first.checked_add(first % 2).filter(|f| *f != 0);
        let Some(even_first) = even_first.filter(|f| last > *f) else {
            return Err(PortError::BadRange { first, last });
        };
        Ok(RtpPortPool {
            inner: Arc::new(PoolInner {
                bind,
                first: even_first,
                last,
                state: Mutex::new(PoolState {
                    used: BTreeSet::new(),
                    cursor: even_first,
                }),
            }),
        })
    }

    /// The address the sockets bind to.
    pub fn bind_addr(&self) -> IpAddr {
        self.inner.bind
    }

    /// Pairs the range holds.
    pub fn capacity(&self) -> usize {
        (self.inner.last - self.inner.first).div_ceil(2) as usize
    }

    /// Pairs currently leased.
    pub fn in_use(&self) -> usize {
        self.inner.state.lock().map(|s| s.used.len()).unwrap_or(0)
    }

    /// Binds `streams` consecutive pairs (RTP ports `p, p+2, p+4, ...`). Ports held by other
    /// programs are skipped.
    pub fn allocate(&self, streams: usize) -> Result<Vec<PortPair>, PortError> {
        let inner = &self.inner;
        let streams = streams.max(1);
        let mut state = inner.state.lock().expect("port pool lock");
        let pairs = self.capacity();
        let exhausted = |used: usize| PortError::Exhausted {
            wanted: streams,
            first: inner.first,
            last: inner.last,
            in_use: used,
        };
        if streams > pairs {
            return Err(exhausted(state.used.len()));
        }
        // Candidate bases in rotating order starting at the cursor.
        let start_index = ((state.cursor - inner.first) / 2) as usize;
        for k in 0..pairs {
            let index = (start_index + k) % pairs;
            if index + streams > pairs {
                continue;
            }
            let base = inner.first + 2 * index as u16;
            let ports: Vec<u16> = (0..streams).map(|i| base + 2 * i as u16).collect();
            if ports.iter().any(|p| state.used.contains(p)) {
                continue;
            }
            let Some(sockets) = self.bind_all(&ports) else {
                continue;
            };
            let mut out = Vec::with_capacity(streams);
            for (port, (rtp, rtcp)) in ports.iter().zip(sockets) {
                state.used.insert(*port);
                out.push(PortPair {
                    rtp,
                    rtcp,
                    lease: PortLease {
                        pool: inner.clone(),
                        rtp_port: *port,
                    },
                });
            }
            let next = base as u32 + 2 * streams as u32;
            state.cursor = if next + 1 > inner.last as u32 {
                inner.first
            } else {
                next as u16
            };
            return Ok(out);
        }
        Err(exhausted(state.used.len()))
    }

    /// Binds RTP and RTCP for every port, or nothing when any is taken.
    fn bind_all(&self, ports: &[u16]) -> Option<Vec<(UdpSocket, UdpSocket)>> {
        let mut out = Vec::with_capacity(ports.len());
        for &p in ports {
            let rtp = bind_udp(SocketAddr::new(self.inner.bind, p)).ok()?;
            let rtcp = bind_udp(SocketAddr::new(self.inner.bind, p + 1)).ok()?;
            out.push((rtp, rtcp));
        }
        Some(out)
    }
}

fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, PortError> {
    let s = UdpSocket::bind(addr).map_err(|source| PortError::Socket { addr, source })?;
    // Tokio takes the socket over; it must not block.
    s.set_nonblocking(true)
        .map_err(|source| PortError::Socket { addr, source })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A free even base with `pairs` pairs above it, found by binding an ephemeral socket.
    fn free_range(pairs: u16) -> (u16, u16) {
        for _ in 0..50 {
            let probe = UdpSocket::bind((LOCAL, 0)).unwrap();
            let p = probe.local_addr().unwrap().port();
            drop(probe);
            let base = p - p % 2;
            if base > 1024 && base as u32 + 2 * pairs as u32 <= 65535 {
                return (base, base + 2 * pairs - 1);
            }
        }
        panic!("no free range");
    }

    #[test]
    fn pairs_are_even_odd_and_consecutive() {
        let (first, last) = free_range(8);
        let pool = RtpPortPool::new(LOCAL, first, last).unwrap();
        let pairs = pool.allocate(3).unwrap();
        assert_eq!(pairs.len(), 3);
        for (i, p) in pairs.iter().enumerate() {
            assert_eq!(p.rtp_port() % 2, 0);
            assert_eq!(p.rtcp_port(), p.rtp_port() + 1);
            assert_eq!(p.rtp_port(), pairs[0].rtp_port() + 2 * i as u16);
            assert_eq!(p.rtp.local_addr().unwrap().port(), p.rtp_port());
            assert_eq!(p.rtcp.local_addr().unwrap().port(), p.rtcp_port());
        }
        assert_eq!(pool.in_use(), 3);
    }

    #[test]
    fn exhaustion_is_an_error_and_drop_releases() {
        let (first, last) = free_range(2);
        let pool = RtpPortPool::new(LOCAL, first, last).unwrap();
        assert_eq!(pool.capacity(), 2);
        let a = pool.allocate(2).unwrap();
        let e = pool.allocate(1).unwrap_err();
        assert!(matches!(e, PortError::Exhausted { wanted: 1, .. }), "{e}");
        assert!(e.to_string().contains("widen"), "{e}");
        drop(a);
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.allocate(2).unwrap().len(), 2);
    }

    #[test]
    fn ports_held_elsewhere_are_skipped() {
        let (first, last) = free_range(3);
        let squatter = UdpSocket::bind((LOCAL, first + 1)).unwrap();
        let pool = RtpPortPool::new(LOCAL, first, last).unwrap();
        let pairs = pool.allocate(2).unwrap();
        assert_eq!(pairs[0].rtp_port(), first + 2);
        drop(squatter);
    }

    #[test]
    fn released_ports_are_not_reused_at_once() {
        let (first, last) = free_range(4);
        let pool = RtpPortPool::new(LOCAL, first, last).unwrap();
        let a = pool.allocate(1).unwrap();
        let port = a[0].rtp_port();
        drop(a);
        let b = pool.allocate(1).unwrap();
        assert_ne!(b[0].rtp_port(), port);
    }

    #[test]
    fn bad_ranges_are_refused() {
        for (f, l) in [(20001u16, 20001u16), (20000, 20000), (0, 1), (30000, 20000)] {
            assert!(
                matches!(
                    RtpPortPool::new(LOCAL, f, l),
                    Err(PortError::BadRange { .. })
                ),
                "{f}-{l}"
            );
        }
        // An odd start rounds up: 20001-20003 holds the pair 20002/20003.
        assert_eq!(RtpPortPool::new(LOCAL, 20001, 20003).unwrap().capacity(), 1);
    }
}
