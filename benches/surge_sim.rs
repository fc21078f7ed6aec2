//! Detection delay and false alerts of the surge detector with its default settings, on
//! synthetic Poisson traffic run faster than real time: `cargo bench --bench surge_sim`.

use callwatch::transforms::surge::sim::{self, cleared, diurnal, raised};
use callwatch::transforms::surge::sim_emerging::Traffic;
use callwatch::transforms::surge::{BaselineKind, SurgeConfig, SurgeState};

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
    emerging(&cfg);
}

/// A new problem (four phrasings around 登录不了) spoken by `calls_per_min` extra callers for
/// 20 minutes from 10:00 on day 2, over ordinary chatter at 2 calls a minute; then a day of
/// chatter only, to count false emerging alerts.
fn emerging(cfg: &SurgeConfig) {
    println!();
    println!("Emerging phrases (ordinary chatter at 2 calls/min, a new problem from 10:00 on day 2 for 20 min), 5 seeds each:");
    println!("| problem calls/min | detected as 登录不了 | median delay | other emerging alerts |");
    println!("|---|---|---|---|");
    let onset = DAY + 600;
    for rate in [0.5, 1.0, 2.0] {
        let (mut delays, mut others) = (Vec::new(), 0);
        for seed in 0..5 {
            let mut t = Traffic::new(cfg.clone(), seed);
            t.run(0, DAY + 720, 2.0, |t, m| {
                if (onset..onset + 20).contains(&m) {
                    for _ in 0..t.rng.poisson(rate) {
                        t.problem_call(m);
                    }
                }
            });
            let raised = t.emerging(SurgeState::Raised);
            if let Some((m, _)) = raised.iter().find(|(_, a)| a.key == "登录不了") {
                delays.push(m - onset);
            }
            others += raised.iter().filter(|(_, a)| a.key != "登录不了").count();
        }
        delays.sort();
        println!(
            "| {rate} | {}/5 | {} | {others} |",
            delays.len(),
            delays
                .get(delays.len() / 2)
                .map_or("-".into(), |d| format!("{d} min"))
        );
    }
    let mut false_alerts = 0;
    for seed in 10..13 {
        let mut t = Traffic::new(cfg.clone(), seed);
        t.run(0, 4 * DAY, 2.0, |_, _| {});
        false_alerts += t
            .emerging(SurgeState::Raised)
            .iter()
            .filter(|(m, _)| *m > DAY)
            .count();
    }
    println!(
        "Chatter only, 3 days after the first, 3 seeds: {:.3} false emerging alerts/day",
        false_alerts as f64 / 9.0
    );
}
