//! The cost of TLS on a new connection: a full handshake (TLS 1.3, the ECDSA P-256
//! certificate `rcgen` makes, the server settings `serve --tls-cert` builds) followed by one
//! 1 KiB request and answer, against the same exchange in clear. Both run over an in-memory
//! pipe, so the figures are CPU cost without network delay.

use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_rustls::rustls;

const MESSAGE: usize = 1024;

async fn exchange<C, S>(mut client: C, mut server: S)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = [0u8; MESSAGE];
    client.write_all(&[7u8; MESSAGE]).await.unwrap();
    client.flush().await.unwrap();
    server.read_exact(&mut buf).await.unwrap();
    server.write_all(&buf).await.unwrap();
    server.flush().await.unwrap();
    client.read_exact(&mut buf).await.unwrap();
}

fn pipe() -> (DuplexStream, DuplexStream) {
    tokio::io::duplex(64 * 1024)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let acceptor = callwatch::tls::TlsFiles { cert, key }
        .acceptor(true)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let mut g = c.benchmark_group("new_connection_1KiB_exchange");
    g.bench_function("clear", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (c, s) = pipe();
                exchange(c, s).await;
            })
        })
    });
    g.bench_function("tls13_handshake", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (c, s) = pipe();
                let (client, server) =
                    tokio::join!(connector.connect(name.clone(), c), acceptor.accept(s));
                exchange(client.unwrap(), server.unwrap()).await;
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
