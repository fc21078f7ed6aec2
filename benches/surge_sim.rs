//! Detection delay and false alerts of the surge detector with its default settings, on
//! synthetic Poisson traffic run faster than real time: `cargo bench --bench surge_sim`.

use callwatch::transforms::surge::sim::{self, cleared, diurnal, raised};
use callwatch::transforms::surge::{BaselineKind, SurgeConfig};

const DAY: i64 = 1440;

fn main() {
    let cfg = SurgeConfig::default();
    println!(
        "Sudden surges (onset 10:00 on day 8 of flat traffic, lasting 60 min), 10 seeds each:"
    );
    println!("| base calls/min | surge | detected | median delay | max delay | all-clear after end (median) |");
    println!("|---|---|---|---|---|---|");
    for base in [0.5, 2.0, 10.0] {
        for mult in [1.5, 2.0, 3.0, 5.0] {
            let onset = 7 * DAY + 600;
            let (mut delays, mut clears) = (Vec::new(), Vec::new());
            for seed in 0..10 {
                let alerts = sim::run(&cfg, 8 * DAY, seed, "q", |m| {
                    if (onset..onset + 60).contains(&m) {
                        base * mult
                    } else {
                        base
                    }
                });
                let r = raised(&alerts, "q");
                if let Some(a) = r.iter().find(|a| a.minute >= onset) {
                    delays.push(a.minute - onset);
                }
                if let Some(c) = cleared(&alerts, "q").iter().find(|c| c.minute >= onset) {
                    clears.push(c.minute - onset - 60);
                }
            }
            delays.sort();
            clears.sort();
            let med = |v: &[i64]| {
                v.get(v.len() / 2)
                    .map_or("-".into(), |d| format!("{d} min"))
            };
            println!(
                "| {base} | {mult}x | {}/10 | {} | {} | {} |",
                delays.len(),
                med(&delays),
                delays.last().map_or("-".into(), |d| format!("{d} min")),
                med(&clears)
            );
        }
    }
    println!();
    println!("False alerts per simulated day (28 days, first day of warm-up excluded, 5 seeds, key `q` only):");
    println!("| traffic | baseline | false alerts/day |");
    println!("|---|---|---|");
    type Curve = fn(i64) -> f64;
    let curves: [(&str, Curve); 3] = [
        ("flat 2/min", |_| 2.0),
        ("flat 20/min", |_| 20.0),
        ("diurnal (peak ~4/min x3)", |m| 3.0 * diurnal(m % DAY)),
    ];
    for (name, rate) in curves {
        for kind in [BaselineKind::Seasonal, BaselineKind::Ewma] {
            let c = SurgeConfig {
                baseline: kind,
                ..cfg.clone()
            };
            let mut n = 0;
            for seed in 100..105 {
                let alerts = sim::run(&c, 28 * DAY, seed, "q", rate);
                n += raised(&alerts, "q")
                    .iter()
                    .filter(|a| a.minute > DAY)
                    .count();
            }
            println!("| {name} | {kind:?} | {:.3} |", n as f64 / (5.0 * 27.0));
        }
    }
}
