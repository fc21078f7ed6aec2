//! Scores one played call: error rate of its finals, hits per matching mode against the
//! sidecar's expected hits, ghost finals; and the report's tables.

use super::calls::Call;
use super::stream::{Final, Heard};
use callwatch::config::Config;
use callwatch::eval::{self, score_hits, HitScore, HypHit, RefHit};
use callwatch::transforms::matcher::{Lexicon, MatchMode, Matcher};
use callwatch::transforms::rules::Inspection;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// How far (ms) a final may sit outside a line and still be its transcript: the segmenter
/// keeps a little audio either side of speech.
const SLACK_MS: u64 = 400;

/// The matchers the report compares.
pub struct Modes(Vec<(&'static str, Matcher)>);

impl Modes {
    /// Every term in each mode, then the lexicons as the configuration loads them.
    pub fn load(cfg: &Config) -> Modes {
        let forced = |mode: MatchMode| {
            let mut lex = Lexicon::load_dir(&cfg.lexicons.dir).expect("shipped lexicons load");
            for t in &mut lex.terms {
                t.mode = mode;
            }
            Matcher::new(lex).expect("shipped lexicons compile")
        };
        let shipped = Inspection::load(&cfg.lexicons.source())
            .expect("shipped lexicons and rules load")
            .matcher;
        Modes(vec![
            ("exact", forced(MatchMode::Exact)),
            ("homophone", forced(MatchMode::Homophone)),
            ("near", forced(MatchMode::Near)),
            ("loose", forced(MatchMode::Loose)),
            ("shipped", shipped),
        ])
    }

    fn hits(&self, finals: &[Final]) -> BTreeMap<&'static str, Vec<HypHit>> {
        self.0
            .iter()
            .map(|(name, m)| {
                let hits = finals
                    .iter()
                    .flat_map(|f| {
                        m.find(&f.text, f.speaker).into_iter().map(|h| {
                            let t = m.term(h.term_id);
                            HypHit {
                                leg: f.leg.clone(),
                                term: t.text.clone(),
                                category: t.category.clone(),
                                start_ms: f.start_ms,
                                end_ms: f.end_ms,
                                text: f.text.clone(),
                            }
                        })
                    })
                    .collect();
                (*name, hits)
            })
            .collect()
    }
}

/// One call at one rate.
#[derive(Debug, Serialize)]
pub struct CallResult {
    pub call: String,
    pub language: String,
    /// The recogniser's settings: lexicon prompt (`[asr.variant]`) `off` or `on`, then
    /// `[asr] loop_guard`, as `on/redecode`.
    pub variant: String,
    pub rate: u32,
    pub audio_s: f64,
    pub wall_s: f64,
    /// Edits and reference units (characters or words) over both legs; 0/0 for the noise call.
    pub edits: usize,
    pub units: usize,
    pub finals: Vec<Final>,
    /// Finals overlapping no line of their leg.
    pub ghost_finals: usize,
    pub scores: BTreeMap<&'static str, HitScore>,
    /// Hits the live matcher raised on finals; equals the shipped mode's count.
    pub live_hits: usize,
    /// Each leg's lines, (leg, start ms, end ms), to tell ghost finals in the report.
    #[serde(skip)]
    pub lines: Vec<(String, u64, u64)>,
}

impl CallResult {
    fn heard_over_line(&self, f: &Final) -> bool {
        self.lines.iter().any(|(leg, a, b)| {
            *leg == f.leg && f.start_ms <= b + SLACK_MS && *a <= f.end_ms + SLACK_MS
        })
    }
}

fn ms(s: f64) -> u64 {
    (s * 1000.0).round() as u64
}

pub fn score_call(
    call: &Call,
    rate: u32,
    heard: &Heard,
    modes: &Modes,
    wall: Duration,
) -> CallResult {
    let mut expected = Vec::new();
    let (mut edits, mut units, mut ghost) = (0, 0, 0);
    for leg in &call.legs {
        let said: Vec<&str> = leg.utterances.iter().map(|u| u.text.as_str()).collect();
        let finals: Vec<&Final> = heard.finals.iter().filter(|f| f.leg == leg.side).collect();
        let written: Vec<&str> = finals.iter().map(|f| f.text.as_str()).collect();
        let joiner = if call.language == "zh" { "" } else { " " };
        let (e, n) = eval::count(&said.join(joiner), &written.join(joiner), &call.language);
        edits += e;
        units += n;
        ghost += finals
            .iter()
            .filter(|f| {
                !leg.utterances.iter().any(|u| {
                    f.start_ms <= ms(u.end_s) + SLACK_MS && ms(u.start_s) <= f.end_ms + SLACK_MS
                })
            })
            .count();
        for u in &leg.utterances {
            expected.extend(u.expected_hits.iter().map(|h| RefHit {
                leg: leg.side.clone(),
                term: h.term.clone(),
                category: h.category.clone(),
                start_ms: ms(u.start_s),
                end_ms: ms(u.end_s),
            }));
        }
    }
    let scores = modes
        .hits(&heard.finals)
        .into_iter()
        .map(|(mode, hits)| (mode, score_hits(&expected, &hits, SLACK_MS)))
        .collect();
    CallResult {
        call: call.name.clone(),
        language: call.language.clone(),
        variant: String::new(),
        rate,
        audio_s: call.duration_s,
        wall_s: wall.as_secs_f64(),
        edits,
        units,
        finals: heard.finals.clone(),
        ghost_finals: ghost,
        scores,
        live_hits: heard.live_hits.len(),
        lines: call
            .legs
            .iter()
            .flat_map(|l| {
                l.utterances
                    .iter()
                    .map(|u| (l.side.clone(), ms(u.start_s), ms(u.end_s)))
            })
            .collect(),
    }
}

/// The wordless call: every final is a ghost, every hit false.
pub fn score_noise(
    rate: u32,
    audio_s: f64,
    heard: &Heard,
    modes: &Modes,
    wall: Duration,
) -> CallResult {
    CallResult {
        call: "noise".into(),
        language: "-".into(),
        variant: String::new(),
        rate,
        audio_s,
        wall_s: wall.as_secs_f64(),
        edits: 0,
        units: 0,
        finals: heard.finals.clone(),
        ghost_finals: heard.finals.len(),
        scores: modes
            .hits(&heard.finals)
            .into_iter()
            .map(|(mode, hits)| (mode, score_hits(&[], &hits, SLACK_MS)))
            .collect(),
        live_hits: heard.live_hits.len(),
        lines: Vec::new(),
    }
}

const MODES: [&str; 5] = ["exact", "homophone", "near", "loose", "shipped"];

fn pct(x: f64) -> String {
    format!("{:5.1}", 100.0 * x)
}

fn rp(s: &HitScore) -> String {
    format!("{}/{}", pct(s.recall()).trim(), pct(s.precision()).trim())
}

/// The report's tables: per call, then per rate and language, then what the shipped modes
/// missed and raised for nothing.
pub fn table(results: &[CallResult], model: &str, wall_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\naccuracy: model {model}, {wall_s:.0} s wall; recall/precision % of term hits"
    );
    let _ = writeln!(
        out,
        "{:<20} {:>12} {:>5} {:>4} {:>6} {:>6} {:>6} {:>5} {:>5}  {:>12} {:>12} {:>12} {:>12} {:>12}",
        "call",
        "bias/loops",
        "rate",
        "lang",
        "audio",
        "err%",
        "finals",
        "ghost",
        "terms",
        "exact",
        "homophone",
        "near",
        "loose",
        "shipped"
    );
    for r in results {
        let err = if r.units == 0 {
            "-".to_string()
        } else {
            pct(r.edits as f64 / r.units as f64)
        };
        let _ = write!(
            out,
            "{:<20} {:>12} {:>5} {:>4} {:>6.1} {:>6} {:>6} {:>5} {:>5} ",
            r.call,
            r.variant,
            r.rate,
            r.language,
            r.audio_s,
            err,
            r.finals.len(),
            r.ghost_finals,
            r.scores["exact"].expected
        );
        for m in MODES {
            let _ = write!(out, " {:>12}", rp(&r.scores[m]));
        }
        if r.live_hits
            != r.scores["shipped"].found
                + r.scores["shipped"].extra
                + r.scores["shipped"].false_hits.len()
        {
            let _ = write!(out, "  (live matcher raised {})", r.live_hits);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{:<10} {:>12} {:>5} {:>7} {:>6} {:>6}  per mode: recall % (found/expected), precision % (false hits)",
        "summary", "bias/loops", "rate", "err%", "ghost", "terms",
    );
    let mut keys: Vec<(String, u32, String)> = results
        .iter()
        .map(|r| (r.variant.clone(), r.rate, r.language.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    for (variant, rate, lang) in keys {
        let rs: Vec<&CallResult> = results
            .iter()
            .filter(|r| r.variant == variant && r.rate == rate && r.language == lang)
            .collect();
        let (e, n): (usize, usize) = rs
            .iter()
            .fold((0, 0), |a, r| (a.0 + r.edits, a.1 + r.units));
        let ghost: usize = rs.iter().map(|r| r.ghost_finals).sum();
        let err = if n == 0 {
            "-".to_string()
        } else {
            pct(e as f64 / n as f64)
        };
        let mut total: BTreeMap<&str, HitScore> = BTreeMap::new();
        for r in &rs {
            for (m, s) in &r.scores {
                total.entry(m).or_default().add(s);
            }
        }
        let _ = write!(
            out,
            "{:<10} {:>12} {:>5} {:>7} {:>6} {:>6} ",
            lang, variant, rate, err, ghost, total["exact"].expected
        );
        for m in MODES {
            let s = &total[m];
            let _ = write!(
                out,
                " {m} {} ({}/{}) {} ({});",
                pct(s.recall()).trim(),
                s.found,
                s.expected,
                pct(s.precision()).trim(),
                s.false_hits.len()
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\nghost finals (no line said there)");
    for r in results {
        for f in &r.finals {
            let said = r.call == "noise" || !r.heard_over_line(f);
            if said {
                let _ = writeln!(
                    out,
                    "  {:>12} {:>5} {:<18} {} {}-{} ms: {:?}",
                    r.variant, r.rate, r.call, f.leg, f.start_ms, f.end_ms, f.text
                );
            }
        }
    }
    let _ = writeln!(out, "\nshipped modes: missed and false hits");
    for r in results {
        let s = &r.scores["shipped"];
        for m in &s.missed {
            let heard: Vec<&str> = r
                .finals
                .iter()
                .filter(|f| {
                    f.leg == m.leg
                        && f.start_ms <= m.end_ms + SLACK_MS
                        && m.start_ms <= f.end_ms + SLACK_MS
                })
                .map(|f| f.text.as_str())
                .collect();
            let _ = writeln!(
                out,
                "  missed {:>12} {:>5} {:<18} {} {}: heard {:?}",
                r.variant,
                r.rate,
                r.call,
                m.category,
                m.term,
                heard.join(" | ")
            );
        }
        for h in &s.false_hits {
            let _ = writeln!(
                out,
                "  false  {:>12} {:>5} {:<18} {} {}: in {:?}",
                r.variant, r.rate, r.call, h.category, h.term, h.text
            );
        }
    }
    out
}
