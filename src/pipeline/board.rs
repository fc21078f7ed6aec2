//! The supervisors' live board: calls in progress with their latest line, hit and alert
//! counts and worst severity, kept from the event bus (the same facts subscribers see).

use crate::sinks::events::{Delivery, Event, EventBus, Payload};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most calls the board holds; past it the least recently active call is forgotten (its
/// `call.ended` was lost to a lagging subscription).
const MAX_CALLS: usize = 10_000;
/// Longest latest line kept, in characters.
const MAX_LINE_CHARS: usize = 200;

/// One call on the board.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardCall {
    pub call_id: String,
    pub source: String,
    pub agent_id: Option<String>,
    pub queue: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    pub legs: Vec<BoardLeg>,
    pub hits: u64,
    pub alerts: u64,
    pub last_line: Option<BoardLine>,
    /// Worst hit severity or alert level so far: `none`, `low`, `medium`, `high`, `critical`.
    pub severity: String,
    #[serde(skip)]
    seq: u64,
}

/// A leg heard on a live call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardLeg {
    pub leg: String,
    pub speaker: crate::call::Speaker,
}

/// The latest final line of a live call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardLine {
    pub speaker: Option<crate::call::Speaker>,
    pub text: String,
}

/// Calls in progress, shared with the HTTP handlers.
#[derive(Clone, Default)]
pub struct LiveBoard {
    calls: Arc<Mutex<HashMap<String, BoardCall>>>,
    seq: Arc<std::sync::atomic::AtomicU64>,
}

fn rank(level: &str) -> u8 {
    match level {
        "low" | "info" => 1,
        "medium" | "warning" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

impl LiveBoard {
    /// A board kept current by a task reading `bus` until the bus closes.
    pub fn spawn(bus: &EventBus) -> LiveBoard {
        let board = LiveBoard::default();
        let mut sub = bus.subscribe();
        let b = board.clone();
        tokio::spawn(async move {
            loop {
                match sub.next().await {
                    Delivery::Event(p) => b.apply(&p.event),
                    Delivery::Lagged(n) => tracing::warn!(missed = n, "live board missed events"),
                    Delivery::Closed => break,
                }
            }
        });
        board
    }

    /// Takes one event into account.
    pub fn apply(&self, e: &Event) {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        if let Payload::CallEnded { .. } = e.payload {
            calls.remove(&e.call_id);
            return;
        }
        if e.call_id.is_empty() {
            return; // surges are about no one call
        }
        if !calls.contains_key(&e.call_id) {
            let Payload::CallStarted { .. } = e.payload else {
                return; // a call this board did not see start (e.g. started before it)
            };
            if calls.len() >= MAX_CALLS {
                if let Some(oldest) = calls
                    .values()
                    .min_by_key(|c| c.seq)
                    .map(|c| c.call_id.clone())
                {
                    calls.remove(&oldest);
                }
            }
        }
        let call = calls.entry(e.call_id.clone()).or_insert_with(|| BoardCall {
            call_id: e.call_id.clone(),
            source: String::new(),
            agent_id: None,
            queue: None,
            started_at: e.at.clone(),
            legs: Vec::new(),
            hits: 0,
            alerts: 0,
            last_line: None,
            severity: "none".into(),
            seq,
        });
        call.seq = seq;
        if let (Some(leg), Some(speaker)) = (&e.leg, e.speaker) {
            if !call.legs.iter().any(|l| &l.leg == leg) {
                call.legs.push(BoardLeg {
                    leg: leg.clone(),
                    speaker,
                });
            }
        }
        let raise = |level: &str, call: &mut BoardCall| {
            if rank(level) > rank(&call.severity) {
                call.severity = level.to_string();
            }
        };
        match &e.payload {
            Payload::CallStarted {
                source,
                agent_id,
                queue,
                ..
            } => {
                call.source = source.clone();
                call.agent_id = agent_id.clone();
                call.queue = queue.clone();
                call.started_at = e.at.clone();
            }
            Payload::TranscriptFinal { text, .. } => {
                call.last_line = Some(BoardLine {
                    speaker: e.speaker,
                    text: text.chars().take(MAX_LINE_CHARS).collect(),
                });
            }
            // Announced once per term per utterance, on a partial or on the final.
            Payload::PhraseHit { severity, .. } => {
                call.hits += 1;
                raise(severity, call);
            }
            Payload::Alert { level, .. } => {
                call.alerts += 1;
                raise(level, call);
            }
            Payload::RuleFired {
                severity, actions, ..
            } if actions.iter().any(|a| a == "alert_supervisor") => {
                call.alerts += 1;
                raise(severity, call);
            }
            _ => {}
        }
    }

    /// The calls `visible` lets through, oldest first.
    pub fn calls(&self, visible: impl Fn(&BoardCall) -> bool) -> Vec<BoardCall> {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<BoardCall> = calls.values().filter(|c| visible(c)).cloned().collect();
        out.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then(a.call_id.cmp(&b.call_id))
        });
        out
    }
}
