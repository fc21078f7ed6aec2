//! Media path throughput: G.711 8 kHz stream -> mu-law decode -> 16 kHz resample -> VAD segmentation.
//!
//! Besides criterion's timings, prints how many concurrent real-time 8 kHz streams one core
//! sustains (audio seconds processed per wall-clock second).

use callwatch::sources::rtp::packet::build_rtp;
use callwatch::sources::rtp::{Codec, RtpStream, StreamConfig};
use callwatch::transforms::decode::g711::linear_to_ulaw;
use callwatch::transforms::decode::{decode_ulaw, LegDecoder};
use callwatch::transforms::segment::{Segmenter, SegmenterConfig};
use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};

/// 20 ms of 8 kHz mu-law, as Twilio and most SIP trunks send it.
const CHUNK: usize = 160;

/// The speech fixture taken down to an 8 kHz mu-law byte stream.
fn ulaw_stream() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/segment/two_utterances.wav"
    );
    let pcm16k: Vec<i16> = hound::WavReader::open(path)
        .expect("speech fixture present")
        .samples::<i16>()
        .map(|s| s.expect("valid WAV"))
        .collect();
    // Averaging pairs is a crude low-pass, enough for a realistic load.
    pcm16k
        .chunks_exact(2)
        .map(|p| linear_to_ulaw(((p[0] as i32 + p[1] as i32) / 2) as i16))
        .collect()
}

/// Runs one whole stream through the leg pipeline; returns the number of utterances.
fn process_stream(ulaw: &[u8]) -> usize {
    let mut decoder = LegDecoder::new(8_000).expect("8 kHz is supported");
    let mut segmenter =
        Segmenter::new(SegmenterConfig::default()).expect("default config is valid");
    let mut utterances = 0;
    for chunk in ulaw.chunks(CHUNK) {
        let pcm = decode_ulaw(chunk);
        let audio = decoder.push(&pcm);
        utterances += segmenter.push(&audio).len();
    }
    let tail = decoder.flush();
    utterances += segmenter.push(&tail).len();
    utterances + segmenter.finish().len()
}

/// The stream as 20 ms RTP datagrams, every 50th pair swapped (reordering) and every 97th lost.
fn rtp_datagrams(ulaw: &[u8]) -> Vec<Vec<u8>> {
    let mut packets: Vec<Vec<u8>> = ulaw
        .chunks(CHUNK)
        .enumerate()
        .filter(|(i, _)| i % 97 != 96)
        .map(|(i, c)| build_rtp(0, false, i as u16, (i * CHUNK) as u32, 0x5eed, c))
        .collect();
    for i in (0..packets.len().saturating_sub(1)).step_by(50) {
        packets.swap(i, i + 1);
    }
    packets
}

/// Runs one stream of RTP datagrams through parse, jitter buffer, decode, resample and VAD.
fn process_rtp_stream(datagrams: &[Vec<u8>]) -> usize {
    let mut rtp = RtpStream::new(StreamConfig::single(0, Codec::Pcmu, 8000).expect("PCMU maps"))
        .expect("PCMU decodes");
    let mut decoder = LegDecoder::new(8_000).expect("8 kHz is supported");
    let mut segmenter =
        Segmenter::new(SegmenterConfig::default()).expect("default config is valid");
    let mut utterances = 0;
    for (i, d) in datagrams.iter().enumerate() {
        // Arrival time paced at 20 ms per packet, as on the wire.
        let pcm = rtp.on_datagram(d, Duration::from_millis(20 * i as u64));
        utterances += segmenter.push(&decoder.push(&pcm)).len();
    }
    let mut tail = decoder.push(&rtp.finish());
    tail.extend(decoder.flush());
    utterances += segmenter.push(&tail).len();
    utterances + segmenter.finish().len()
}

fn bench_pipeline(c: &mut Criterion) {
    let ulaw = ulaw_stream();
    let seconds = ulaw.len() as f64 / 8_000.0;
    let mut group = c.benchmark_group("media");
    group.throughput(Throughput::Elements(ulaw.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("stream_decode_resample_segment", format!("{seconds:.1}s")),
        &ulaw,
        |b, ulaw| b.iter(|| process_stream(black_box(ulaw))),
    );
    group.bench_with_input(
        BenchmarkId::new("ulaw_decode", "stream"),
        &ulaw,
        |b, ulaw| {
            b.iter(|| {
                ulaw.chunks(CHUNK)
                    .map(|c| decode_ulaw(black_box(c)).len())
                    .sum::<usize>()
            })
        },
    );
    let datagrams = rtp_datagrams(&ulaw);
    group.bench_with_input(
        BenchmarkId::new(
            "rtp_jitter_decode_resample_segment",
            format!("{seconds:.1}s"),
        ),
        &datagrams,
        |b, d| b.iter(|| process_rtp_stream(black_box(d))),
    );
    group.bench_with_input(
        BenchmarkId::new("rtp_parse_jitter_only", "stream"),
        &datagrams,
        |b, d| {
            b.iter(|| {
                let mut rtp =
                    RtpStream::new(StreamConfig::single(0, Codec::Pcmu, 8000).unwrap()).unwrap();
                let n: usize = d
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        rtp.on_datagram(black_box(p), Duration::from_millis(20 * i as u64))
                            .len()
                    })
                    .sum();
                n + rtp.finish().len()
            })
        },
    );
    let pcm = decode_ulaw(&ulaw);
    group.bench_with_input(
        BenchmarkId::new("resample_8k_to_16k", "stream"),
        &pcm,
        |b, pcm| {
            b.iter(|| {
                let mut d = LegDecoder::new(8_000).unwrap();
                let n: usize = pcm.chunks(CHUNK).map(|c| d.push(black_box(c)).len()).sum();
                n + d.flush().len()
            })
        },
    );
    let mut d = LegDecoder::new(8_000).unwrap();
    let mut audio16k = d.push(&pcm);
    audio16k.extend(d.flush());
    group.bench_with_input(
        BenchmarkId::new("segment_16k", "stream"),
        &audio16k,
        |b, audio| {
            b.iter(|| {
                let mut s = Segmenter::new(SegmenterConfig::default()).unwrap();
                let n: usize = audio
                    .chunks(2 * CHUNK)
                    .map(|c| s.push(black_box(c)).len())
                    .sum();
                n + s.finish().len()
            })
        },
    );
    group.finish();
}

/// CPU seconds this thread has used (Linux; `None` elsewhere). On a shared machine wall time
/// counts other processes' turns too, so the per-core figures are also given per CPU second.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    // utime and stime, in USER_HZ (100 per second on Linux).
    Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
}

/// Streams per core from `runs` of `audio_seconds` each over `wall` seconds and `cpu` seconds.
fn per_core(runs: u32, audio_seconds: f64, wall: f64, cpu: Option<f64>) -> String {
    let audio = runs as f64 * audio_seconds;
    match cpu {
        Some(cpu) if cpu > 0.0 => format!(
            "{:.0} per core by wall clock, {:.0} per CPU second ({runs} x {audio_seconds:.1} s of audio in {wall:.2} s, {cpu:.2} s CPU)",
            audio / wall,
            audio / cpu
        ),
        _ => format!("{:.0} per core ({runs} x {audio_seconds:.1} s of audio in {wall:.2} s)", audio / wall),
    }
}

/// Real-time streams one core keeps up with, measured over a few seconds of repeated runs.
fn report_streams_per_core() {
    let ulaw = ulaw_stream();
    let audio_seconds = ulaw.len() as f64 / 8_000.0;
    let started = Instant::now();
    let cpu0 = thread_cpu_seconds();
    let mut runs = 0u32;
    while started.elapsed() < Duration::from_secs(3) {
        black_box(process_stream(black_box(&ulaw)));
        runs += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    println!(
        "media: concurrent real-time 8 kHz G.711 streams (decode + resample + VAD segment): {}",
        per_core(runs, audio_seconds, wall, cpu)
    );
    let datagrams = rtp_datagrams(&ulaw);
    let started = Instant::now();
    let cpu0 = thread_cpu_seconds();
    let mut runs = 0u32;
    while started.elapsed() < Duration::from_secs(3) {
        black_box(process_rtp_stream(black_box(&datagrams)));
        runs += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    println!(
        "media: concurrent real-time G.711 RTP streams (RTP parse + jitter buffer + decode + resample + VAD segment): {}",
        per_core(runs, audio_seconds, wall, cpu)
    );
}

criterion_group!(benches, bench_pipeline);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report_streams_per_core();
}
