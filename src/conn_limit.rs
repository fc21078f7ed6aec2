//! Caps on concurrent connections, per listener and per remote address, for every TCP
//! listener (HTTP with its WebSockets, SIP over TCP, AudioSocket). A peer that opens
//! connections without end would otherwise hold file descriptors and tasks until the process
//! runs out; past a cap a new connection is closed at once, and the calls already streaming
//! keep their connections.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The caps of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections open at once on the listener.
    pub max_total: usize,
    /// Connections open at once from one remote IP address.
    pub max_per_addr: usize,
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the listener already has its maximum of {0} connections open")]
    Listener(usize),
    #[error("this address already has its maximum of {0} connections open")]
    Addr(usize),
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_addr: HashMap<IpAddr, usize>,
    refused: u64,
}

struct Inner {
    name: &'static str,
    limits: ConnLimits,
    counts: Mutex<Counts>,
}

/// Counts the open connections of one listener; cheap to clone.
#[derive(Clone)]
pub struct ConnLimiter(Arc<Inner>);

impl ConnLimiter {
    /// A limiter for the listener called `name` in logs.
    pub fn new(name: &'static str, limits: ConnLimits) -> ConnLimiter {
        ConnLimiter(Arc::new(Inner {
            name,
            limits,
            counts: Mutex::new(Counts::default()),
        }))
    }

    /// A slot for a new connection from `ip`, held until the guard is dropped; or the cap it
    /// would break. Refusals are logged sparsely (1st, 2nd, 4th, 8th, ...) so a flood does not
    /// turn into a flood of log lines.
    pub fn try_acquire(&self, ip: IpAddr) -> Result<ConnGuard, Refusal> {
        let mut c = self.0.counts.lock().unwrap_or_else(|p| p.into_inner());
        let limits = self.0.limits;
        let from_ip = c.per_addr.get(&ip).copied().unwrap_or(0);
        let refusal = if c.total >= limits.max_total {
            Some(Refusal::Listener(limits.max_total))
        } else if from_ip >= limits.max_per_addr {
            Some(Refusal::Addr(limits.max_per_addr))
        } else {
            None
        };
        if let Some(r) = refusal {
            c.refused += 1;
            if c.refused.is_power_of_two() {
                tracing::warn!(listener = self.0.name, peer = %ip, refused = c.refused, "connection refused: {r}");
            }
            return Err(r);
        }
        c.total += 1;
        *c.per_addr.entry(ip).or_default() += 1;
        Ok(ConnGuard {
            limiter: self.0.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.0.counts.lock().map(|c| c.total).unwrap_or(0)
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.0.counts.lock().map(|c| c.refused).unwrap_or(0)
    }
}

/// One open connection's slot; dropping it frees the slot.
pub struct ConnGuard {
    limiter: Arc<Inner>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut c = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_addr.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_addr.remove(&self.ip);
            }
        }
    }
}

/// A stream that holds its connection's slot for as long as it lives, including after an
/// HTTP upgrade hands it to a WebSocket.
pub struct Guarded<S> {
    inner: S,
    _guard: ConnGuard,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, guard: ConnGuard) -> Self {
        Guarded {
            inner,
            _guard: guard,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn caps_per_address_then_per_listener_and_frees_on_drop() {
        let l = ConnLimiter::new(
            "test",
            ConnLimits {
                max_total: 3,
                max_per_addr: 2,
            },
        );
        let a1 = l.try_acquire(ip(1)).unwrap();
        let _a2 = l.try_acquire(ip(1)).unwrap();
        assert_eq!(l.try_acquire(ip(1)).err(), Some(Refusal::Addr(2)));
        let _b1 = l.try_acquire(ip(2)).unwrap();
        assert_eq!(l.try_acquire(ip(3)).err(), Some(Refusal::Listener(3)));
        assert_eq!((l.open(), l.refused()), (3, 2));
        drop(a1);
        assert_eq!(l.open(), 2);
        // The freed slot serves anyone, and the address's own count went down with it.
        let _a3 = l.try_acquire(ip(1)).unwrap();
        assert_eq!(l.try_acquire(ip(3)).err(), Some(Refusal::Listener(3)));
    }

    #[tokio::test]
    async fn a_guarded_stream_keeps_its_slot_until_dropped() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = ConnLimiter::new(
            "test",
            ConnLimits {
                max_total: 1,
                max_per_addr: 1,
            },
        );
        let (a, mut b) = tokio::io::duplex(64);
        let mut g = Guarded::new(a, l.try_acquire(ip(1)).unwrap());
        g.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        assert!(l.try_acquire(ip(2)).is_err());
        drop(g);
        assert!(l.try_acquire(ip(2)).is_ok());
    }
}
