//! One task per received stream: UDP socket -> [`RtpStream`] (jitter buffer, decode) -> the
//! leg's inbox. Ends on close, inactivity, shutdown, or when the leg goes away.

use super::ports::{PortLease, PortPair};
use crate::call::EndReason;
use crate::pipeline::LegSender;
use crate::shutdown::Shutdown;
use crate::sources::rtp::stream::{RtpStream, StreamStats};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How a receiver behaves.
#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    /// No RTP or RTCP for this long ends the stream (counted from the start until the first packet).
    pub inactivity: Duration,
    /// Names the stream in logs (call id and leg).
    pub label: String,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        ReceiverOptions {
            inactivity: Duration::from_secs(30),
            label: String::new(),
        }
    }
}

/// Why a receiver stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverEnd {
    /// [`ReceiverHandle::close`] was called or the handle dropped.
    Closed,
    /// Nothing arrived within the inactivity timeout.
    Inactive,
    /// The server is shutting down.
    Shutdown,
    /// The leg task stopped taking audio.
    LegGone,
    /// The socket failed.
    SocketError,
}

/// A receiver's state, readable while it runs and final once it ends.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiverReport {
    pub rtp_port: u16,
    pub rtcp_port: u16,
    /// Address the RTP port latched to: the first to send it valid RTP or RTCP. Datagrams
    /// from other addresses are dropped (counted in `stats.foreign_dropped`).
    pub remote: Option<String>,
    pub ended: Option<ReceiverEnd>,
    pub stats: StreamStats,
}

/// Controls a running receiver. Dropping it closes the receiver.
pub struct ReceiverHandle {
    close: Option<oneshot::Sender<Option<EndReason>>>,
    muted: Arc<AtomicBool>,
    report: Arc<Mutex<ReceiverReport>>,
    task: Option<tokio::task::JoinHandle<ReceiverReport>>,
}

impl ReceiverHandle {
    /// Asks the receiver to stop; it plays out what it holds and ends the leg's input.
    pub fn close(&mut self) {
        if let Some(tx) = self.close.take() {
            let _ = tx.send(None);
        }
    }

    /// Like [`close`](Self::close), and the leg learns why (e.g. [`EndReason::Bye`]): the
    /// call's archived end reason when this is its last leg to end.
    pub fn close_with_reason(&mut self, reason: EndReason) {
        if let Some(tx) = self.close.take() {
            let _ = tx.send(Some(reason));
        }
    }

    /// Mutes or unmutes the stream. A muted stream (a SIPREC stream on hold) keeps its media
    /// time: every sample still reaches the leg, as silence, so the legs of a call stay
    /// aligned while music on hold or comfort noise never becomes an utterance.
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    /// The current report.
    pub fn report(&self) -> ReceiverReport {
        self.report.lock().expect("receiver report lock").clone()
    }

    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the receiver to end and returns its final report.
    pub async fn join(mut self) -> ReceiverReport {
        match self.task.take() {
            Some(t) => match t.await {
                Ok(r) => r,
                Err(_) => self.report(),
            },
            None => self.report(),
        }
    }
}

/// Starts receiving on `pair` into `leg`. Must be called inside a tokio runtime.
///
/// Backpressure: when the leg's inbox is full the task waits and stops reading the socket;
/// the kernel's receive buffer absorbs what it can and drops the rest (RTP has no flow control).
pub fn spawn_receiver(
    pair: PortPair,
    stream: RtpStream,
    leg: LegSender,
    opts: ReceiverOptions,
    shutdown: Option<Shutdown>,
) -> Result<ReceiverHandle, super::PortError> {
    let addr = |s: &std::net::UdpSocket| s.local_addr().ok();
    let to_tokio = |s: std::net::UdpSocket| {
        let a = addr(&s);
        UdpSocket::from_std(s).map_err(|source| super::PortError::Socket {
            addr: a.unwrap_or_else(|| ([0, 0, 0, 0], 0).into()),
            source,
        })
    };
    let PortPair { rtp, rtcp, lease } = pair;
    let rtp = to_tokio(rtp)?;
    let rtcp = to_tokio(rtcp)?;
    let report = Arc::new(Mutex::new(ReceiverReport {
        rtp_port: lease.rtp_port(),
        rtcp_port: lease.rtcp_port(),
        remote: None,
        ended: None,
        stats: stream.stats(),
    }));
    let (close_tx, close_rx) = oneshot::channel();
    let muted = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(run(
        Sockets { rtp, rtcp, lease },
        stream,
        leg,
        opts,
        shutdown,
        Control {
            close_rx,
            muted: muted.clone(),
        },
        report.clone(),
    ));
    Ok(ReceiverHandle {
        close: Some(close_tx),
        muted,
        report,
        task: Some(task),
    })
}

/// What the handle controls.
struct Control {
    close_rx: oneshot::Receiver<Option<EndReason>>,
    muted: Arc<AtomicBool>,
}

struct Sockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// Held so the ports stay reserved until the sockets close.
    lease: PortLease,
}

async fn run(
    sockets: Sockets,
    mut stream: RtpStream,
    leg: LegSender,
    opts: ReceiverOptions,
    mut shutdown: Option<Shutdown>,
    control: Control,
    report: Arc<Mutex<ReceiverReport>>,
) -> ReceiverReport {
    let Control {
        mut close_rx,
        muted,
    } = control;
    let started = Instant::now();
    let label = opts.label.as_str();
    let mut buf = vec![0u8; 65_536];
    let mut rtcp_buf = vec![0u8; 2048];
    let mut remote_logged = false;
    let mut errors_logged = false;
    let mut given_reason = None;
    let reason = loop {
        let now = started.elapsed();
        let last = stream.last_activity().unwrap_or_default();
        let idle_deadline = last + opts.inactivity;
        let wake = stream
            .next_deadline()
            .map_or(idle_deadline, |d| d.min(idle_deadline));
        let mut pcm = tokio::select! {
            biased;
            r = &mut close_rx => {
                given_reason = r.ok().flatten();
                break ReceiverEnd::Closed;
            }
            _ = async { match shutdown.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => break ReceiverEnd::Shutdown,
            r = sockets.rtp.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let pcm = stream.on_datagram_from(&buf[..n], from, started.elapsed());
                    if let (false, Some(source)) = (remote_logged, stream.rtp_source()) {
                        remote_logged = true;
                        tracing::info!(stream = label, port = sockets.lease.rtp_port(), from = %source, "RTP stream started");
                        report.lock().expect("receiver report lock").remote = Some(source.to_string());
                    }
                    pcm
                }
                Err(e) => {
                    tracing::warn!(stream = label, error = %e, "RTP socket failed");
                    break ReceiverEnd::SocketError;
                }
            },
            r = sockets.rtcp.recv_from(&mut rtcp_buf) => {
                if let Ok((n, from)) = r {
                    stream.on_rtcp_datagram_from(&rtcp_buf[..n], from, started.elapsed());
                }
                Vec::new()
            }
            _ = tokio::time::sleep_until(started + wake.max(now)) => {
                let now = started.elapsed();
                if now >= idle_deadline {
                    tracing::info!(stream = label, idle_s = opts.inactivity.as_secs_f32(), "RTP stream inactive; ending it");
                    break ReceiverEnd::Inactive;
                }
                stream.on_timer(now)
            }
        };
        if !errors_logged {
            if let Some(e) = stream.take_first_error() {
                errors_logged = true;
                tracing::warn!(stream = label, error = %e, "bad datagram ignored (further ones only counted)");
            }
        }
        if let Some(f) = stream.take_first_foreign() {
            // Once per stream: a flood must not become a flood of log lines.
            tracing::warn!(stream = label, port = f.port.as_str(), from = %f.from, latched = %f.latched, "datagram from an address other than the stream's source dropped (further ones only counted)");
        }
        report.lock().expect("receiver report lock").stats = stream.stats();
        if muted.load(Ordering::Relaxed) {
            pcm.fill(0);
        }
        if leg.audio(pcm).await.is_err() {
            break ReceiverEnd::LegGone;
        }
    };
    let mut tail = stream.finish();
    if muted.load(Ordering::Relaxed) {
        tail.fill(0);
    }
    let _ = leg.audio(tail).await;
    let end_reason = match reason {
        ReceiverEnd::Closed => given_reason,
        ReceiverEnd::Inactive => Some(EndReason::RtpTimeout),
        ReceiverEnd::Shutdown => Some(EndReason::Shutdown),
        ReceiverEnd::SocketError => Some(EndReason::SocketError),
        ReceiverEnd::LegGone => None,
    };
    match end_reason {
        Some(r) => leg.end(r).await,
        None => drop(leg),
    }
    let stats = stream.stats();
    tracing::info!(
        stream = label,
        ?reason,
        packets = stats.rtp_packets,
        lost = stats.jitter.lost,
        late = stats.jitter.late,
        malformed = stats.malformed,
        foreign_dropped = stats.foreign_dropped,
        "RTP stream ended"
    );
    let mut r = report.lock().expect("receiver report lock");
    r.stats = stats;
    r.ended = Some(reason);
    r.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::LegInput;
    use crate::sources::rtp::packet::build_rtp;
    use crate::sources::rtp::payload::Codec;
    use crate::sources::rtp::stream::StreamConfig;
    use crate::sources::rtp::RtpPortPool;
    use std::net::{IpAddr, Ipv4Addr};

    fn pool() -> RtpPortPool {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = probe.local_addr().unwrap().port();
        drop(probe);
        let base = (p - p % 2).min(65000);
        RtpPortPool::new(IpAddr::V4(Ipv4Addr::LOCALHOST), base, base + 19).unwrap()
    }

    fn pcmu() -> RtpStream {
        RtpStream::new(StreamConfig::single(0, Codec::Pcmu, 8000).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn packets_become_leg_audio_and_garbage_does_not_stop_it() {
        let pool = pool();
        let pair = pool.allocate(1).unwrap().pop().unwrap();
        let port = pair.rtp_port();
        let (tx, mut rx) = LegSender::channel(64);
        let mut handle =
            spawn_receiver(pair, pcmu(), tx, ReceiverOptions::default(), None).unwrap();
        let sender = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = ("127.0.0.1", port);
        for i in 0..10u16 {
            if i == 4 {
                sender.send_to(b"\x00garbage", to).await.unwrap();
                sender
                    .send_to(&[0x81, 0xc9, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2], to)
                    .await
                    .unwrap(); // RTCP RR on the RTP port
            }
            let d = build_rtp(0, false, i, i as u32 * 160, 42, &[0xff; 160]);
            sender.send_to(&d, to).await.unwrap();
        }
        let mut samples = 0;
        while samples < 1600 {
            let Some(LegInput::Audio(pcm)) = rx.recv().await else {
                break;
            };
            samples += pcm.len();
        }
        assert_eq!(samples, 1600);
        let live = handle.report();
        assert_eq!(live.stats.malformed, 1);
        assert_eq!(live.stats.rtcp_packets, 1);
        assert!(live.remote.is_some() && live.ended.is_none());
        handle.close();
        let report = handle.join().await;
        assert_eq!(report.ended, Some(ReceiverEnd::Closed));
        assert_eq!(report.stats.rtp_packets, 10);
        assert!(rx.recv().await.is_none(), "leg input not closed");
        assert_eq!(pool.in_use(), 0, "ports not released");
    }

    #[tokio::test]
    async fn a_second_sender_is_dropped_counted_and_never_heard() {
        let pool = pool();
        let pair = pool.allocate(1).unwrap().pop().unwrap();
        let (rtp_port, rtcp_port) = (pair.rtp_port(), pair.rtcp_port());
        let (tx, mut rx) = LegSender::channel(64);
        let mut handle =
            spawn_receiver(pair, pcmu(), tx, ReceiverOptions::default(), None).unwrap();
        let genuine = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let genuine_rtcp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let injector = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = ("127.0.0.1", rtp_port);
        let rr = [0x80, 0xc9, 0, 1, 0, 0, 0, 42];
        // mu-law 0xff is silence and 0x00 full scale: any loud sample was injected.
        let first = build_rtp(0, false, 0, 0, 42, &[0xff; 160]);
        genuine.send_to(&first, to).await.unwrap();
        while handle.report().remote.is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for i in 1..10u16 {
            let d = build_rtp(0, false, i, i as u32 * 160, 42, &[0xff; 160]);
            let forged = build_rtp(0, false, i + 1, (i + 1) as u32 * 160, 42, &[0x00; 160]);
            injector.send_to(&forged, to).await.unwrap();
            genuine.send_to(&d, to).await.unwrap();
        }
        // The RTCP port latches to the sender's own RTCP socket, not to its RTP one.
        for from in [&genuine_rtcp, &injector, &genuine_rtcp] {
            from.send_to(&rr, ("127.0.0.1", rtcp_port)).await.unwrap();
        }
        let mut pcm = Vec::new();
        while pcm.len() < 1600 {
            let Some(LegInput::Audio(p)) = rx.recv().await else {
                panic!("leg input closed");
            };
            pcm.extend(p);
        }
        assert!(pcm.iter().all(|s| s.abs() < 100), "injected audio heard");
        let t0 = Instant::now();
        while handle.report().stats.rtcp_packets < 2 {
            assert!(t0.elapsed() < Duration::from_secs(5), "RTCP not read");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        handle.close();
        let report = handle.join().await;
        let genuine_addr = genuine.local_addr().unwrap().to_string();
        assert_eq!(report.remote.as_deref(), Some(genuine_addr.as_str()));
        assert_eq!(report.stats.rtp_packets, 10);
        assert_eq!(report.stats.foreign_dropped, 9 + 1);
    }

    /// Regression: a stream on hold fed music on hold into its leg, which became utterances.
    #[tokio::test]
    async fn muted_stream_delivers_silence_of_the_same_length() {
        let pool = pool();
        let pair = pool.allocate(1).unwrap().pop().unwrap();
        let port = pair.rtp_port();
        let (tx, mut rx) = LegSender::channel(64);
        let mut handle =
            spawn_receiver(pair, pcmu(), tx, ReceiverOptions::default(), None).unwrap();
        let sender = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = ("127.0.0.1", port);
        // mu-law 0x00 is a full-scale sample: loud unless muted.
        let mut received = Vec::new();
        for (i, muted) in [false, true, true, false].into_iter().enumerate() {
            handle.set_muted(muted);
            let i = i as u16;
            let d = build_rtp(0, false, i, i as u32 * 160, 42, &[0x00; 160]);
            sender.send_to(&d, to).await.unwrap();
            let mut pcm = Vec::new();
            while pcm.len() < 160 {
                let Some(LegInput::Audio(p)) = rx.recv().await else {
                    panic!("leg input closed");
                };
                pcm.extend(p);
            }
            received.push(pcm);
        }
        let loud: Vec<bool> = received
            .iter()
            .map(|p| {
                assert_eq!(p.len(), 160, "media time kept");
                p.iter().any(|s| *s != 0)
            })
            .collect();
        assert_eq!(loud, [true, false, false, true]);
        handle.close();
        handle.join().await;
    }

    #[tokio::test(start_paused = true)]
    async fn silence_on_the_wire_ends_the_stream_after_the_timeout() {
        let pool = pool();
        let pair = pool.allocate(1).unwrap().pop().unwrap();
        let (tx, mut rx) = LegSender::channel(8);
        let opts = ReceiverOptions {
            inactivity: Duration::from_secs(30),
            label: "t".into(),
        };
        let t0 = Instant::now();
        let handle = spawn_receiver(pair, pcmu(), tx, opts, None).unwrap();
        let report = handle.join().await;
        assert_eq!(report.ended, Some(ReceiverEnd::Inactive));
        assert!(t0.elapsed() >= Duration::from_secs(30));
        // The leg learns why, for the archive.
        assert!(matches!(
            rx.recv().await,
            Some(LegInput::End(EndReason::RtpTimeout))
        ));
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_close_with_a_reason_hands_it_to_the_leg_and_a_plain_close_does_not() {
        let pool = pool();
        for (reason, expected) in [(Some(EndReason::Bye), Some(EndReason::Bye)), (None, None)] {
            let pair = pool.allocate(1).unwrap().pop().unwrap();
            let (tx, mut rx) = LegSender::channel(8);
            let mut handle =
                spawn_receiver(pair, pcmu(), tx, ReceiverOptions::default(), None).unwrap();
            match reason {
                Some(r) => handle.close_with_reason(r),
                None => handle.close(),
            }
            let report = handle.join().await;
            assert_eq!(report.ended, Some(ReceiverEnd::Closed));
            let mut got = None;
            while let Some(input) = rx.recv().await {
                if let LegInput::End(r) = input {
                    got = Some(r);
                }
            }
            assert_eq!(got, expected);
        }
    }
}
