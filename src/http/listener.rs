//! The HTTP accept loop: caps on concurrent connections (per listener and per remote address),
//! a deadline for reading request headers, the peer's address on every request, and graceful
//! shutdown. axum's own `serve` has neither caps nor a header timeout, so a peer could hold
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
    /// connection; then the connection is closed.
    pub header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `signal` resolves, then waits for the requests in flight
/// (WebSockets already upgraded end through the shutdown signal of their handlers).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
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
                let conn = http
                    .serve_connection(TokioIo::new(Guarded::new(stream, guard)), service)
                    .with_upgrades();
                let mut stopping = stop.subscribe();
                let done = done.clone();
                tokio::spawn(async move {
                    let _done = done;
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
                });
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(done);
    let _ = all_done.recv().await;
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
