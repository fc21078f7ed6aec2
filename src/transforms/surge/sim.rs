//! Synthetic call traffic for judging detector settings faster than real time: arrivals drawn
//! from a Poisson process whose rate follows a given curve, fed to a [`SurgeDetector`] minute
//! by minute. `cargo bench --bench surge_sim` prints detection delays and false alerts.

use super::alert::{SurgeAlert, SurgeState};
use super::config::SurgeConfig;
use super::detector::SurgeDetector;
use time::OffsetDateTime;

/// A small deterministic generator (SplitMix64): the same seed gives the same trace.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A Poisson draw (Knuth's product method, split into chunks so large means do not underflow).
    pub fn poisson(&mut self, mean: f64) -> u64 {
        let mut left = mean.max(0.0);
        let mut n = 0;
        while left > 0.0 {
            let m = left.min(30.0);
            left -= m;
            let limit = (-m).exp();
            let mut p = self.unit();
            while p > limit {
                n += 1;
                p *= self.unit();
            }
        }
        n
    }
}

/// Midnight UTC, Monday 1 January 2024: the start of every simulation.
pub fn epoch() -> OffsetDateTime {
    time::macros::datetime!(2024-01-01 00:00 UTC)
}

/// A weekday-like contact-center curve in calls per minute at `scale` = 1: quiet at night,
/// a morning peak around 10:00 and an afternoon one around 15:00 (about 20x the night rate).
pub fn diurnal(minute_of_day: i64) -> f64 {
    let h = minute_of_day as f64 / 60.0;
    let bump = |c: f64, w: f64| (-((h - c) / w).powi(2)).exp();
    0.2 + 3.8 * bump(10.0, 1.5) + 3.0 * bump(15.0, 2.0)
}

/// An alert with the simulated minute it was produced at.
#[derive(Debug, Clone)]
pub struct SimAlert {
    pub minute: i64,
    pub alert: SurgeAlert,
}

/// Runs `minutes` of traffic with `rate(minute)` calls per minute on queue `queue`.
pub fn run(
    cfg: &SurgeConfig,
    minutes: i64,
    seed: u64,
    queue: &str,
    rate: impl Fn(i64) -> f64,
) -> Vec<SimAlert> {
    let start = epoch();
    let mut d = SurgeDetector::new(cfg.clone(), start);
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut call = 0u64;
    for m in 0..minutes {
        let n = rng.poisson(rate(m));
        for _ in 0..n {
            call += 1;
            let at =
                start + time::Duration::milliseconds(m * 60_000 + (rng.unit() * 59_999.0) as i64);
            d.call_started(&format!("sim-{call}"), Some(queue), at);
        }
        let now = start + time::Duration::minutes(m + 1);
        for alert in d.tick(now) {
            out.push(SimAlert {
                minute: m + 1,
                alert,
            });
        }
    }
    out
}

/// Raised alerts of one key.
pub fn raised<'a>(alerts: &'a [SimAlert], key: &str) -> Vec<&'a SimAlert> {
    alerts
        .iter()
        .filter(|a| a.alert.key == key && a.alert.state == SurgeState::Raised)
        .collect()
}

/// Cleared alerts of one key.
pub fn cleared<'a>(alerts: &'a [SimAlert], key: &str) -> Vec<&'a SimAlert> {
    alerts
        .iter()
        .filter(|a| a.alert.key == key && a.alert.state == SurgeState::Cleared)
        .collect()
}
