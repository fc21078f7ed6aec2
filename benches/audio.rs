//! The audio archive's cost: disk per hour of a two-leg call and encoding CPU against real
//! time, on the English two-leg fixture call (16 kHz, speech and pauses as on a real call),
//! against keeping the same audio as 16-bit PCM WAV (the baseline). Also the on-demand stereo
//! mix a reviewer's first replay of an ended call makes.
//!
//! `cargo bench --bench audio` prints one table; the README's figures come from it.

use callwatch::sinks::audio::mix::{write_mix, MixInput, Side};
use callwatch::sinks::audio::AudioArchive;
use std::time::Instant;

fn main() {
    let wav = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/calls/call_en.wav");
    let mut reader = hound::WavReader::open(wav).expect("fixture call");
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels), (16_000, 2));
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let legs: [Vec<f32>; 2] = [0, 1].map(|ch| {
        samples
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|&s| s as f32 / 32768.0)
            .collect()
    });
    let call_s = legs[0].len() as f64 / 16_000.0;
    let dir = tempfile::tempdir().unwrap();
    let rounds = 20;
    let mut bytes = 0u64;
    let mut files = Vec::new();
    let t0 = Instant::now();
    for r in 0..rounds {
        let archive = AudioArchive::new(dir.path().join(r.to_string()), 20_000, 120_000);
        for (i, leg) in legs.iter().enumerate() {
            let (file, mut rec) = archive.record_leg("bench", &format!("leg{i}")).unwrap();
            // As the pipeline feeds it: 20 ms pieces, released a second behind.
            for (n, piece) in leg.chunks(320).enumerate() {
                rec.push(piece).unwrap();
                rec.release((n as u64 * 20).saturating_sub(1000)).unwrap();
            }
            bytes += rec.finish().unwrap().bytes;
            if r == 0 {
                files.push(archive.root().join(file));
            }
        }
    }
    let encode_s = t0.elapsed().as_secs_f64();
    let audio_s = call_s * 2.0 * rounds as f64;
    let per_hour_two_legs = bytes as f64 / rounds as f64 / call_s * 3600.0;
    let wav_per_hour_two_legs = 2.0 * 16_000.0 * 2.0 * 3600.0;
    let inputs = [
        MixInput {
            path: files[0].clone(),
            side: Side::Left,
            offset_ms: 0,
        },
        MixInput {
            path: files[1].clone(),
            side: Side::Right,
            offset_ms: 0,
        },
    ];
    let mix_rounds = 5;
    let t1 = Instant::now();
    for _ in 0..mix_rounds {
        write_mix(&inputs, &dir.path().join("mix.ogg"), 30_000).unwrap();
    }
    let mix_s = t1.elapsed().as_secs_f64() / mix_rounds as f64;
    let mix_bytes = std::fs::metadata(dir.path().join("mix.ogg")).unwrap().len();
    println!("audio archive, {call_s:.1} s two-leg call x {rounds} (Opus 20 kbit/s per leg)");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| disk per hour of two-leg call, Opus | {:.1} MB |",
        per_hour_two_legs / 1e6
    );
    println!(
        "| disk per hour of two-leg call, 16-bit PCM WAV (baseline) | {:.1} MB ({:.0}x the Opus) |",
        wav_per_hour_two_legs / 1e6,
        wav_per_hour_two_legs / per_hour_two_legs
    );
    println!(
        "| encoding CPU per second of leg audio | {:.2} ms ({:.0}x real time on one core) |",
        encode_s / audio_s * 1000.0,
        audio_s / encode_s
    );
    println!(
        "| stereo mix of the call (decode both legs, encode stereo) | {:.0} ms ({:.0}x real time; {:.1} MB per hour) |",
        mix_s * 1000.0,
        call_s / mix_s,
        mix_bytes as f64 / call_s * 3600.0 / 1e6
    );
}
