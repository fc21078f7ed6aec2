//! Events per second through the event bus: one node publishes a burst of `transcript.final`
//! events and one of its `/v1/events` subscriptions receives them all, on the in-process bus
//! and on NATS JetStream (a local `nats-server -js` with a file store, which this bench
//! starts). The JetStream figure is what one node can push through the cluster bus: every
//! event is stored and acknowledged before the next batch, then read back.
//!
//! `cargo bench --bench bus` (`-- --events N`, default 20000).

use callwatch::sinks::events::{BusConfig, Delivery, Event, EventBus, NatsBus, Payload};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn event(i: usize) -> Event {
    Event {
        payload: Payload::TranscriptFinal {
            utterance_id: format!("u{i}"),
            text: "您好，我想咨询一下理财产品的收益情况，保本吗？".into(),
            language: "zh".into(),
            segments: Vec::new(),
        },
        call_id: format!("call-{}", i % 50),
        leg: Some("inbound".into()),
        speaker: Some(callwatch::call::Speaker::Customer),
        start_ms: Some(1000),
        end_ms: Some(3500),
        at: "2026-12-05T12:00:00Z".into(),
    }
}

/// Publishes `n` events and waits until a subscriber has them all; events per second.
async fn run(bus: &EventBus, n: usize) -> f64 {
    let mut sub = bus.subscribe();
    let t0 = Instant::now();
    for i in 0..n {
        bus.publish(event(i));
    }
    let mut got = 0;
    while got < n {
        match tokio::time::timeout(Duration::from_secs(60), sub.next()).await {
            Ok(Delivery::Event(_)) => got += 1,
            Ok(Delivery::Lagged(m)) => got += m as usize,
            Ok(Delivery::Closed) | Err(_) => panic!("only {got} of {n} events arrived"),
        }
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::args()
        .skip_while(|a| a != "--events")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Big enough that the subscriber never lags: the figure is throughput, not loss.
    let local = EventBus::new(n + 16);
    let local_rate = rt.block_on(run(&local, n));
    println!("in-process bus: {n} events, {local_rate:.0} events/s");

    let nats = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(nats) = nats else {
        println!("nats-server not installed; JetStream skipped (apt-get install nats-server)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(nats)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let cfg = BusConfig {
        nats: format!("nats://127.0.0.1:{port}"),
        ..BusConfig::default()
    };
    let js_rate = rt.block_on(async {
        let bus = NatsBus::start(&cfg, n + 16).await.unwrap();
        let events = EventBus::with_backend(bus);
        // Until the node reads the stream back, its subscribers would see nothing.
        let t0 = Instant::now();
        while !matches!(
            events.health(),
            callwatch::sinks::events::BusHealth::Connected
        ) {
            assert!(t0.elapsed() < Duration::from_secs(20), "bus not connected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        run(&events, n).await
    });
    println!(
        "NATS JetStream bus: {n} events, {js_rate:.0} events/s ({:.1}x the in-process bus's time)",
        local_rate / js_rate
    );
    let _ = server.kill();
    let _ = server.wait();
}
