//! The SIP edge: UDP, TCP and TLS sockets around the sans-IO [`Srs`], and the media plane it drives.
//! This is the only file of the recording server that does I/O.

use super::message::StreamFramer;
use super::srs::{MediaCommand, MediaStream, Output, Peer, Srs, Transport};
use crate::call::CallInfo;
use crate::conn_limit::{ConnGuard, ConnLimiter, ConnLimits};
use crate::shutdown::Shutdown;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// How often retransmission, expiry and RTP inactivity are checked.
const TICK: Duration = Duration::from_millis(50);
/// Messages from TCP connections waiting for the state machine. Backpressure: block — a
/// connection whose messages are not taken stops being read.
const INBOX: usize = 1024;
/// Messages waiting to be written to one TCP connection. Backpressure: a connection that
/// stops reading while this fills is closed (its SRC reconnects and retransmits).
const CONN_OUTBOX: usize = 256;

/// The media side of the recording server: receives the RTP streams the SRS answers for.
pub trait MediaPlane: Send + 'static {
    /// Reserves one RTP/RTCP port pair per stream (consecutive even ports, in order), starts
    /// receiving each into its leg, and returns the RTP ports.
    fn open(
        &mut self,
        session: &str,
        call: &CallInfo,
        streams: &[MediaStream],
    ) -> Result<Vec<u16>, String>;
    /// Hold: keep the ports, forward nothing, do not count silence as inactivity.
    fn pause(&mut self, session: &str, label: &str);
    fn resume(&mut self, session: &str, label: &str);
    /// Ends one stream's leg and frees its ports.
    fn stop(&mut self, session: &str, label: &str);
    /// Ends every leg of the session (their audio so far is transcribed and archived).
    fn close(&mut self, session: &str, reason: crate::call::EndReason);
    /// Sessions whose active streams all went quiet past the inactivity timeout.
    fn inactive(&mut self) -> Vec<String>;
}

/// Why the SIP edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum SipServerError {
    #[error("[sip] {0}")]
    Config(String),
    #[error("cannot bind SIP {transport} on {addr}: {source}; pick another [sip] listen address or free the port")]
    Bind {
        transport: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What bounds SIP over TCP.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub conns: ConnLimits,
    /// A connection that sends nothing (not even a keep-alive CRLF) for this long is closed.
    pub idle: Duration,
}

/// Bound SIP sockets (UDP and TCP on the same port, TLS on its own).
pub struct SipSockets {
    udp: UdpSocket,
    tcp: TcpListener,
    tls: Option<(TcpListener, TlsAcceptor)>,
}

impl SipSockets {
    /// Binds UDP then TCP on the same port (port 0 picks a free one for both), and the TLS
    /// listener when given.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<(SocketAddr, TlsAcceptor)>,
    ) -> Result<SipSockets, SipServerError> {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| SipServerError::Bind {
                transport: "UDP",
                addr,
                source,
            })?;
        let bound = udp.local_addr().map_err(|source| SipServerError::Bind {
            transport: "UDP",
            addr,
            source,
        })?;
        let tcp = TcpListener::bind(bound)
            .await
            .map_err(|source| SipServerError::Bind {
                transport: "TCP",
                addr: bound,
                source,
            })?;
        let tls = match tls {
            None => None,
            Some((addr, acceptor)) => Some((
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| SipServerError::Bind {
                        transport: "TLS",
                        addr,
                        source,
                    })?,
                acceptor,
            )),
        };
        Ok(SipSockets { udp, tcp, tls })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Where SIP over TLS listens, when it does.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }
}

enum Inbound {
    Message(Vec<u8>, Peer),
    Connected(SocketAddr, mpsc::Sender<Vec<u8>>),
    Disconnected(SocketAddr),
}

/// Runs the recording server until shutdown; then ends every session's legs.
pub async fn run<M: MediaPlane>(
    sockets: SipSockets,
    mut srs: Srs,
    mut media: M,
    mut shutdown: Shutdown,
    tcp_limits: TcpLimits,
) {
    let SipSockets { udp, tcp, tls } = sockets;
    let accept_tls = async |tls: &Option<(TcpListener, TlsAcceptor)>| match tls {
        Some((l, _)) => l.accept().await,
        None => std::future::pending().await,
    };
    let limiter = ConnLimiter::new("sip-tcp", tcp_limits.conns);
    let (in_tx, mut in_rx) = mpsc::channel::<Inbound>(INBOX);
    let mut conns: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = vec![0u8; 65_536];
    let mut live: Vec<String> = Vec::new();
    loop {
        let outputs = tokio::select! {
            _ = shutdown.recv() => break,
            r = udp.recv_from(&mut buf) => match r {
                Ok((n, addr)) => {
                    count_request(&buf[..n]);
                    srs.on_message(&buf[..n], Peer { transport: Transport::Udp, addr })
                }
                Err(e) => {
                    // ICMP port-unreachable from an earlier send surfaces here on some systems.
                    tracing::debug!(error = %e, "SIP UDP receive error");
                    continue;
                }
            },
            r = tcp.accept() => match r {
                Ok((stream, addr)) => {
                    // Outside [sip] allow: closed before it takes a slot.
                    if !srs.allows(addr.ip()) {
                        tracing::warn!(peer = %addr, "SIP TCP connection from an address outside [sip] allow closed");
                        continue;
                    }
                    // Past a cap the connection is closed unread; the SRC retries later.
                    if let Ok(guard) = limiter.try_acquire(addr.ip()) {
                        let peer = Peer { transport: Transport::Tcp, addr };
                        tokio::spawn(connection(stream, peer, in_tx.clone(), guard, tcp_limits.idle));
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SIP TCP accept failed");
                    continue;
                }
            },
            r = accept_tls(&tls) => match r {
                Ok((stream, addr)) => {
                    if !srs.allows(addr.ip()) {
                        tracing::warn!(peer = %addr, "SIP TLS connection from an address outside [sip] allow closed");
                        continue;
                    }
                    if let (Ok(guard), Some((_, acceptor))) = (limiter.try_acquire(addr.ip()), &tls) {
                        let (acceptor, inbox, idle) = (acceptor.clone(), in_tx.clone(), tcp_limits.idle);
                        tokio::spawn(async move {
                            // The handshake has as long as a silent connection would.
                            match tokio::time::timeout(idle.min(Duration::from_secs(10)), acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => {
                                    let peer = Peer { transport: Transport::Tls, addr };
                                    connection(stream, peer, inbox, guard, idle).await
                                }
                                Ok(Err(e)) => tracing::info!(peer = %addr, error = %e, "SIP TLS handshake failed"),
                                Err(_) => tracing::info!(peer = %addr, "SIP TLS handshake timed out"),
                            }
                        });
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SIP TCP accept failed");
                    continue;
                }
            },
            Some(msg) = in_rx.recv() => match msg {
                Inbound::Message(bytes, peer) => {
                    count_request(&bytes);
                    srs.on_message(&bytes, peer)
                }
                Inbound::Connected(addr, tx) => { conns.insert(addr, tx); continue; }
                Inbound::Disconnected(addr) => { conns.remove(&addr); continue; }
            },
            _ = tick.tick() => {
                let mut out = srs.tick();
                for session in media.inactive() {
                    out.extend(srs.media_inactive(&session));
                }
                out
            }
        };
        let mut queue = outputs;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for o in queue {
                match o {
                    Output::Send { to, message } => {
                        if let Some(code) = message.code() {
                            crate::metrics::metrics().sip_response(code);
                        }
                        let bytes = message.to_bytes();
                        match to.transport {
                            Transport::Udp => {
                                if let Err(e) = udp.send_to(&bytes, to.addr).await {
                                    tracing::warn!(peer = %to.addr, error = %e, "SIP UDP send failed");
                                }
                            }
                            Transport::Tcp | Transport::Tls => match conns.get(&to.addr) {
                                Some(tx) => {
                                    if tx.try_send(bytes).is_err() {
                                        tracing::warn!(peer = %to.addr, "SIP TCP connection not reading; closing it");
                                        conns.remove(&to.addr);
                                    }
                                }
                                None => {
                                    tracing::warn!(peer = %to.addr, "SIP TCP connection gone; message not sent")
                                }
                            },
                        }
                    }
                    Output::Media(cmd) => {
                        next.extend(execute(&mut srs, &mut media, cmd, &mut live))
                    }
                }
            }
            queue = next;
        }
    }
    for session in live.drain(..) {
        media.close(&session, crate::call::EndReason::Shutdown);
    }
}

fn execute<M: MediaPlane>(
    srs: &mut Srs,
    media: &mut M,
    cmd: MediaCommand,
    live: &mut Vec<String>,
) -> Vec<Output> {
    match cmd {
        MediaCommand::Open {
            session,
            call,
            streams,
        } => {
            let ports = media.open(&session, &call, &streams);
            if ports.is_ok() && !live.contains(&session) {
                live.push(session.clone());
            }
            tracing::info!(call_id = %session, streams = streams.len(), ok = ports.is_ok(), "recording streams opened");
            srs.media_opened(&session, ports)
        }
        MediaCommand::Pause { session, label } => {
            media.pause(&session, &label);
            Vec::new()
        }
        MediaCommand::Resume { session, label } => {
            media.resume(&session, &label);
            Vec::new()
        }
        MediaCommand::Stop { session, label } => {
            media.stop(&session, &label);
            Vec::new()
        }
        MediaCommand::Close { session, reason } => {
            tracing::info!(call_id = %session, %reason, "recording session ended");
            live.retain(|s| *s != session);
            media.close(&session, reason);
            Vec::new()
        }
    }
}

async fn connection<S>(
    stream: S,
    peer: Peer,
    inbox: mpsc::Sender<Inbound>,
    _slot: ConnGuard,
    idle: Duration,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let addr = peer.addr;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(CONN_OUTBOX);
    if inbox.send(Inbound::Connected(addr, tx)).await.is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 16_384];
    loop {
        let n = match tokio::time::timeout(idle, rd.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::info!(peer = %addr, idle_s = idle.as_secs(), "SIP TCP connection idle; closing it");
                break;
            }
        };
        match framer.push(&buf[..n]) {
            Ok(frames) => {
                for f in frames {
                    if inbox.send(Inbound::Message(f, peer)).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(peer = %addr, error = %e, "SIP TCP stream unreadable; closing");
                break;
            }
        }
    }
    let _ = inbox.send(Inbound::Disconnected(addr)).await;
    writer.abort();
}

/// Counts a request by the method on its start line (responses start with `SIP/`).
fn count_request(bytes: &[u8]) {
    let first = bytes.split(|b| *b == b' ').next().unwrap_or_default();
    if !first.starts_with(b"SIP/") {
        crate::metrics::metrics().sip_request(std::str::from_utf8(first).unwrap_or("other"));
    }
}
