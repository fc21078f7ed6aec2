//! Per-call rule state: a sans-IO state machine fed utterance observations from every leg,
//! media-time progress per leg and the call's end; it returns the rules that became true.
//!
//! Media time, not wall time, decides deadlines: a leg reports how far its audio is *settled*
//! (heard and, where it held speech, transcribed), so "no greeting within 15 s" fires once the
//! agent's leg is settled past 15 s and not while the greeting is still being transcribed.
//! Tests therefore run faster than real time by feeding progress.

use super::compile::{counts, Cond, RuleSet, SetId, Until};
use super::file::{Action, Distance, Relation, Window};
use super::inspection::Inspection;
use crate::call::Speaker;
use crate::transforms::matcher::{Match, Normalized, Severity, SpeakerScope};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// One partial or final transcript of an utterance, as the matcher saw it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub leg: &'a str,
    pub speaker: Speaker,
    pub utterance_id: &'a str,
    /// The transcript (after any redaction), which evidence spans point into.
    pub text: &'a str,
    /// `text` normalised by the matcher.
    pub normalized: &'a Normalized,
    /// The matcher's hits on `text`, from the inspection set of `generation`.
    pub hits: &'a [Match],
    /// [`Inspection::generation`] of the set that produced `hits`.
    pub generation: u64,
    /// Media time of the utterance on its leg.
    pub start_ms: u64,
    pub end_ms: u64,
    /// True for a partial transcript; the utterance's final replaces it.
    pub partial: bool,
}

/// Where a rule found what it fired on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub leg: String,
    pub speaker: Speaker,
    pub utterance_id: String,
    /// The matched text as it appears in the utterance.
    pub matched: String,
    /// Character offsets of `matched` within the utterance text.
    pub span_start: usize,
    pub span_end: usize,
    /// Media time of the utterance.
    pub start_ms: u64,
    pub end_ms: u64,
    /// True when the evidence came from a partial transcript.
    pub partial: bool,
}

/// A rule that became true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub rule_id: String,
    pub description: String,
    pub category: String,
    pub severity: Severity,
    pub actions: Vec<Action>,
    pub tags: Vec<String>,
    /// Media time at which the rule became true.
    pub at_ms: u64,
    /// Phrases the rule fired on; empty for a phrase that was never said.
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone)]
struct Occ {
    set: SetId,
    utt: usize,
    ev: Evidence,
}

#[derive(Debug, Clone)]
struct LegClock {
    speaker: Speaker,
    settled_ms: u64,
    closed: bool,
}

#[derive(Debug, Clone)]
struct Utt {
    leg: String,
    speaker: Speaker,
    id: String,
    text: String,
    start_ms: u64,
    end_ms: u64,
    partial: bool,
    occs: Vec<usize>,
}

enum Tri {
    True(Vec<usize>),
    False,
    Pending,
}

/// Rule state of one live call.
#[derive(Debug, Default)]
pub struct CallRules {
    generation: Option<u64>,
    legs: Vec<(String, LegClock)>,
    occs: Vec<Occ>,
    by_set: Vec<Vec<usize>>,
    utts: Vec<Utt>,
    utt_index: HashMap<String, usize>,
    /// Per rule of the current set: fired or known never to fire.
    decided: Vec<bool>,
    /// Ids of rules that fired, kept across reloads so a rule fires once per call.
    fired: HashSet<String>,
    ended: Option<u64>,
}

impl CallRules {
    /// State for a new call.
    pub fn new() -> CallRules {
        CallRules::default()
    }

    /// Registers a leg so media-time deadlines wait for it.
    pub fn open_leg(&mut self, leg: &str, speaker: Speaker) {
        if !self.legs.iter().any(|(l, _)| l == leg) {
            self.legs.push((
                leg.to_string(),
                LegClock {
                    speaker,
                    settled_ms: 0,
                    closed: false,
                },
            ));
        }
    }

    /// Rule ids that fired so far.
    pub fn fired(&self) -> impl Iterator<Item = &str> {
        self.fired.iter().map(String::as_str)
    }

    /// Feeds one partial or final transcript; returns the rules it made true.
    pub fn observe(&mut self, insp: &Inspection, obs: &Observation<'_>) -> Vec<Firing> {
        if self.ended.is_some() {
            return Vec::new();
        }
        let mut out = self.sync(insp);
        self.open_leg(obs.leg, obs.speaker);
        let rehit;
        let hits = if obs.generation == insp.generation {
            obs.hits
        } else {
            // The leg matched with a set that has since been replaced: term ids differ.
            rehit = insp
                .matcher
                .find_normalized(obs.text, obs.normalized, obs.speaker);
            &rehit
        };
        let utt = match self.utt_index.get(obs.utterance_id) {
            Some(&i) => {
                // A later transcript of the same utterance replaces the earlier one's phrases.
                let old = std::mem::take(&mut self.utts[i].occs);
                for o in old {
                    let set = self.occs[o].set;
                    self.by_set[set].retain(|&x| x != o);
                }
                let u = &mut self.utts[i];
                u.text = obs.text.to_string();
                u.start_ms = obs.start_ms;
                u.end_ms = obs.end_ms;
                u.partial = obs.partial;
                i
            }
            None => {
                self.utts.push(Utt {
                    leg: obs.leg.to_string(),
                    speaker: obs.speaker,
                    id: obs.utterance_id.to_string(),
                    text: obs.text.to_string(),
                    start_ms: obs.start_ms,
                    end_ms: obs.end_ms,
                    partial: obs.partial,
                    occs: Vec::new(),
                });
                self.utt_index
                    .insert(obs.utterance_id.to_string(), self.utts.len() - 1);
                self.utts.len() - 1
            }
        };
        let touched = self.add_occurrences(&insp.rules, utt, obs.normalized, hits);
        let mut candidates: Vec<usize> = touched
            .iter()
            .flat_map(|&s| insp.rules.rules_of_set(s).iter().copied())
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        out.extend(self.run(&insp.rules, candidates, obs.end_ms));
        out
    }

    /// Tells how far a leg's media is settled; returns rules whose deadlines passed.
    pub fn advance(&mut self, insp: &Inspection, leg: &str, settled_ms: u64) -> Vec<Firing> {
        if self.ended.is_some() {
            return Vec::new();
        }
        let mut out = self.sync(insp);
        let Some((_, clock)) = self.legs.iter_mut().find(|(l, _)| l == leg) else {
            return out;
        };
        let old = clock.settled_ms;
        if settled_ms <= old {
            return out;
        }
        clock.settled_ms = settled_ms;
        out.extend(self.progress(insp, old, settled_ms, settled_ms));
        out
    }

    /// A leg ended: it can say nothing more, so deadlines no longer wait for it.
    pub fn close_leg(&mut self, insp: &Inspection, leg: &str) -> Vec<Firing> {
        if self.ended.is_some() {
            return Vec::new();
        }
        let mut out = self.sync(insp);
        let Some((_, clock)) = self.legs.iter_mut().find(|(l, _)| l == leg) else {
            return out;
        };
        if clock.closed {
            return out;
        }
        clock.closed = true;
        let (old, at) = (clock.settled_ms, clock.settled_ms);
        out.extend(self.progress(insp, old, u64::MAX, at));
        out
    }

    /// The call ended after `duration_ms` of media; decides every rule still open.
    pub fn end(&mut self, insp: &Inspection, duration_ms: u64) -> Vec<Firing> {
        if self.ended.is_some() {
            return Vec::new();
        }
        let mut out = self.sync(insp);
        self.ended = Some(duration_ms);
        out.extend(self.run(&insp.rules, 0..insp.rules.len(), duration_ms));
        out
    }

    fn progress(&mut self, insp: &Inspection, old: u64, new: u64, at: u64) -> Vec<Firing> {
        let rules = &insp.rules;
        if rules.timed().is_empty() {
            return Vec::new();
        }
        // Deadline rules only need a look when a deadline is crossed; `before` rules whenever
        // a trigger waits for the other leg to catch up. Both are few.
        let crossed = rules.deadline_between(old, new);
        let candidates: Vec<usize> = rules
            .timed()
            .iter()
            .copied()
            .filter(|&r| !self.decided[r])
            .collect();
        if crossed || self.has_before_waiting(rules, &candidates) {
            self.run(rules, candidates, at)
        } else {
            Vec::new()
        }
    }

    fn has_before_waiting(&self, rules: &RuleSet, candidates: &[usize]) -> bool {
        fn before_sets(c: &Cond, out: &mut Vec<SetId>) {
            match c {
                Cond::Absent(_, Until::Before(t)) => out.push(*t),
                Cond::All(v) | Cond::Any(v) => v.iter().for_each(|c| before_sets(c, out)),
                _ => {}
            }
        }
        candidates.iter().any(|&r| {
            let mut sets = Vec::new();
            before_sets(&rules.rules()[r].cond, &mut sets);
            sets.iter().any(|&s| !self.by_set[s].is_empty())
        })
    }

    /// Adopts a new inspection set: phrases are found again in every transcript so far with the
    /// new lexicon and rules; rules that already fired stay fired.
    fn sync(&mut self, insp: &Inspection) -> Vec<Firing> {
        if self.generation == Some(insp.generation) {
            return Vec::new();
        }
        let first = self.generation.is_none();
        self.generation = Some(insp.generation);
        self.occs.clear();
        self.by_set = vec![Vec::new(); insp.rules.set_count()];
        self.decided = insp
            .rules
            .rules()
            .iter()
            .map(|r| self.fired.contains(&r.id))
            .collect();
        if first || self.utts.is_empty() {
            return Vec::new();
        }
        for i in 0..self.utts.len() {
            self.utts[i].occs.clear();
            let u = &self.utts[i];
            let norm = crate::transforms::matcher::normalize(&u.text);
            let hits = insp.matcher.find_normalized(&u.text, &norm, u.speaker);
            self.add_occurrences(&insp.rules, i, &norm, &hits);
        }
        let at = self.utts.iter().map(|u| u.end_ms).max().unwrap_or(0);
        self.run(&insp.rules, 0..insp.rules.len(), at)
    }

    fn add_occurrences(
        &mut self,
        rules: &RuleSet,
        utt: usize,
        norm: &Normalized,
        hits: &[Match],
    ) -> Vec<SetId> {
        let mut touched = Vec::new();
        let found = rules.find(norm, hits);
        let u = &self.utts[utt];
        let mut new = Vec::with_capacity(found.len());
        for f in found {
            if !counts(rules.scope(f.set), u.speaker) {
                continue;
            }
            let span_start = u.text[..f.bytes.start].chars().count();
            let span_end = span_start + u.text[f.bytes.clone()].chars().count();
            new.push(Occ {
                set: f.set,
                utt,
                ev: Evidence {
                    leg: u.leg.clone(),
                    speaker: u.speaker,
                    utterance_id: u.id.clone(),
                    matched: u.text[f.bytes].to_string(),
                    span_start,
                    span_end,
                    start_ms: u.start_ms,
                    end_ms: u.end_ms,
                    partial: u.partial,
                },
            });
        }
        for o in new {
            let i = self.occs.len();
            self.by_set[o.set].push(i);
            if !touched.contains(&o.set) {
                touched.push(o.set);
            }
            self.occs.push(o);
            self.utts[utt].occs.push(i);
        }
        touched
    }

    fn run(
        &mut self,
        rules: &RuleSet,
        candidates: impl IntoIterator<Item = usize>,
        at_ms: u64,
    ) -> Vec<Firing> {
        let mut out = Vec::new();
        for r in candidates {
            if self.decided[r] {
                continue;
            }
            let rule = &rules.rules()[r];
            match self.eval(rules, &rule.cond) {
                Tri::Pending => {}
                Tri::False => self.decided[r] = true,
                Tri::True(occs) => {
                    self.decided[r] = true;
                    self.fired.insert(rule.id.clone());
                    let mut evidence: Vec<Evidence> =
                        occs.iter().map(|&o| self.occs[o].ev.clone()).collect();
                    evidence.dedup();
                    out.push(Firing {
                        rule_id: rule.id.clone(),
                        description: rule.description.clone(),
                        category: rule.category.clone(),
                        severity: rule.severity,
                        actions: rule.actions.clone(),
                        tags: rule.tags.clone(),
                        at_ms,
                        evidence,
                    });
                }
            }
        }
        out
    }

    /// How far media is settled on the legs that can speak for `scope`; legs of no speaker
    /// count for every scope. With no such leg yet, every leg counts.
    fn watermark(&self, scope: SpeakerScope) -> u64 {
        if self.ended.is_some() {
            return u64::MAX;
        }
        let settled = |c: &LegClock| if c.closed { u64::MAX } else { c.settled_ms };
        let scoped = self
            .legs
            .iter()
            .filter(|(_, c)| scope.applies(c.speaker))
            .map(|(_, c)| settled(c))
            .min();
        scoped
            .or_else(|| self.legs.iter().map(|(_, c)| settled(c)).min())
            .unwrap_or(0)
    }

    fn of_set(&self, set: SetId) -> impl Iterator<Item = (usize, &Occ)> + '_ {
        self.by_set[set].iter().map(move |&i| (i, &self.occs[i]))
    }

    fn eval(&self, rules: &RuleSet, cond: &Cond) -> Tri {
        match cond {
            Cond::Said(set, window) => {
                let hit = |f: &dyn Fn(&Occ) -> bool| {
                    self.of_set(*set)
                        .filter(|(_, o)| f(o))
                        .min_by_key(|(_, o)| o.ev.start_ms)
                        .map(|(i, _)| i)
                };
                match *window {
                    Window::Anywhere => match hit(&|_| true) {
                        Some(i) => Tri::True(vec![i]),
                        None if self.ended.is_some() => Tri::False,
                        None => Tri::Pending,
                    },
                    Window::First(ms) => match hit(&|o| o.ev.start_ms < ms) {
                        Some(i) => Tri::True(vec![i]),
                        None if self.watermark(rules.scope(*set)) >= ms => Tri::False,
                        None => Tri::Pending,
                    },
                    Window::Last(ms) => match self.ended {
                        None => Tri::Pending,
                        Some(d) => match hit(&|o| o.ev.end_ms > d.saturating_sub(ms)) {
                            Some(i) => Tri::True(vec![i]),
                            None => Tri::False,
                        },
                    },
                }
            }
            Cond::Absent(set, until) => {
                let said = |f: &dyn Fn(&Occ) -> bool| self.of_set(*set).any(|(_, o)| f(o));
                match *until {
                    Until::First(ms) => {
                        if said(&|o| o.ev.start_ms < ms) {
                            Tri::False
                        } else if self.watermark(rules.scope(*set)) >= ms {
                            Tri::True(Vec::new())
                        } else {
                            Tri::Pending
                        }
                    }
                    Until::Last(ms) => match self.ended {
                        None => Tri::Pending,
                        Some(d) if said(&|o| o.ev.end_ms > d.saturating_sub(ms)) => Tri::False,
                        Some(_) => Tri::True(Vec::new()),
                    },
                    Until::End => {
                        if said(&|_| true) {
                            Tri::False
                        } else if self.ended.is_some() {
                            Tri::True(Vec::new())
                        } else {
                            Tri::Pending
                        }
                    }
                    Until::Before(trigger) => {
                        let first = self
                            .of_set(trigger)
                            .min_by_key(|(_, o)| o.ev.start_ms)
                            .map(|(i, o)| (i, o.ev.start_ms));
                        match first {
                            None if self.ended.is_some() => Tri::False,
                            None => Tri::Pending,
                            Some((_, t)) if said(&|o| o.ev.start_ms <= t) => Tri::False,
                            // Wait until the phrase's speaker is settled up to the trigger: it
                            // may have been said just before and still be in transcription.
                            Some((i, t)) if self.watermark(rules.scope(*set)) >= t => {
                                Tri::True(vec![i])
                            }
                            Some(_) => Tri::Pending,
                        }
                    }
                }
            }
            Cond::Near {
                a,
                b,
                relation,
                distance,
            } => {
                for (i, x) in self.of_set(*a) {
                    for (j, y) in self.of_set(*b) {
                        if i == j || !related(*relation, x, y) || !close(*distance, x, y) {
                            continue;
                        }
                        return Tri::True(vec![i, j]);
                    }
                }
                if self.ended.is_some() {
                    Tri::False
                } else {
                    Tri::Pending
                }
            }
            Cond::All(children) => {
                let mut ev = Vec::new();
                let mut pending = false;
                for c in children {
                    match self.eval(rules, c) {
                        Tri::False => return Tri::False,
                        Tri::Pending => pending = true,
                        Tri::True(e) => ev.extend(e),
                    }
                }
                if pending {
                    Tri::Pending
                } else {
                    Tri::True(ev)
                }
            }
            Cond::Any(children) => {
                let mut pending = false;
                for c in children {
                    match self.eval(rules, c) {
                        Tri::True(e) => return Tri::True(e),
                        Tri::Pending => pending = true,
                        Tri::False => {}
                    }
                }
                if pending {
                    Tri::Pending
                } else {
                    Tri::False
                }
            }
        }
    }
}

fn related(relation: Relation, x: &Occ, y: &Occ) -> bool {
    match relation {
        Relation::Any => true,
        Relation::Same => x.ev.leg == y.ev.leg,
        Relation::Other => x.ev.leg != y.ev.leg,
    }
}

fn close(distance: Distance, x: &Occ, y: &Occ) -> bool {
    match distance {
        Distance::Chars(n) => {
            x.utt == y.utt && {
                let gap = if x.ev.span_end <= y.ev.span_start {
                    y.ev.span_start - x.ev.span_end
                } else {
                    x.ev.span_start.saturating_sub(y.ev.span_end)
                };
                gap <= n
            }
        }
        Distance::Ms(n) => {
            let gap = if x.ev.end_ms <= y.ev.start_ms {
                y.ev.start_ms - x.ev.end_ms
            } else {
                x.ev.start_ms.saturating_sub(y.ev.end_ms)
            };
            gap <= n
        }
    }
}
