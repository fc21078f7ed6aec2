//! The HTTP accept loop: caps on concurrent connections (per listener and per remote address),
//! a deadline for reading request headers (and for the TLS handshake), the peer's address on
//! every request, optional TLS, and graceful shutdown. axum's own `serve` has neither caps nor a header timeout, so a peer could hold
//! any number of half-open connections.

use crate::conn_limit::{ConnLimiter, ConnLimits, Guarded};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// What bounds the HTTP listener.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub conns: ConnLimits,
    /// A client has this long to send a request's headers, on a new or a kept-alive
    /// connection; then the connection is closed. A TLS handshake has as long.
    pub header_read_timeout: Duration,
}

/// Serves HTTPS when set; plain HTTP otherwise.
pub type Tls = Option<tokio_rustls::TlsAcceptor>;

/// Serves `app` on `listener` until `signal` resolves, then waits for the requests in flight
/// (WebSockets already upgraded end through the shutdown signal of their handlers).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Tls,
    signal: impl Future<Output = ()>,
) {
    let limiter = ConnLimiter::new("http", limits.conns);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Some(limits.header_read_timeout));
    // Shutdown fans out on `stop`; each connection task holds a clone of `done`, so the
    // channel closes once the last request in flight is answered.
    let (stop, _) = tokio::sync::watch::channel(false);
    let (done, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!(error = %e, "HTTP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let guard = match limiter.try_acquire(peer.ip()) {
                    Ok(g) => g,
                    Err(_) => {
                        refuse(&stream);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().oneshot(req)
                });
                let stream = Guarded::new(stream, guard);
                let stopping = stop.subscribe();
                let done = done.clone();
                let http = http.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _done = done;
                    let Some(tls) = tls else {
                        return drive(http.serve_connection(TokioIo::new(stream), service).with_upgrades(), stopping, peer).await;
                    };
                    match tokio::time::timeout(limits.header_read_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            drive(http.serve_connection(TokioIo::new(stream), service).with_upgrades(), stopping, peer).await
                        }
                        // Scanners and plain-HTTP clients end here; nothing to keep.
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(done);
    let _ = all_done.recv().await;
}

/// Runs one connection until it ends or shutdown asks it to finish its request in flight.
async fn drive<I, S>(
    conn: hyper::server::conn::http1::UpgradeableConnection<I, S>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    peer: std::net::SocketAddr,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    let r = tokio::select! {
        r = conn.as_mut() => r,
        _ = stopping.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = r {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

/// Tells a refused client why, without waiting on it: one non-blocking write, then close.
fn refuse(stream: &TcpStream) {
    const BODY: &str = "too many connections: close some and retry\n";
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(reply.as_bytes());
}
