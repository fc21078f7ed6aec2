//! Which calls are live and how many legs each has: a call starts with its first leg and ends
//! when its last leg has finished (after that leg's finals were transcribed and archived).

use crate::call::{CallInfo, EndReason, LegInfo};
use crate::clock::{rfc3339, SharedClock};
use crate::sinks::archive::ArchiveOp;
use crate::sinks::events::{Event, EventBus, Payload};
use crate::transforms::redact::Category;
use crate::transforms::scorecard::{CallLedger, LedgerHit, LedgerUtterance, Scorecard};
use crate::transforms::surge::SurgeHub;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::ArchiveSink;

#[derive(Debug)]
struct LiveCall {
    open_legs: usize,
    legs_seen: Vec<String>,
    media_ms: u64,
    /// What the call said, for scoring when it ends.
    ledger: CallLedger,
    /// The agent's leg, where assist suggestions for this call are sent.
    agent_leg: Option<String>,
    /// The number the agent last asked the customer for.
    asked: Option<Asked>,
    /// Who may watch the call live: its agent and the supervisors of its queue.
    agent_id: Option<String>,
    queue: Option<String>,
    /// The credential that opened the call; only it may add legs.
    opened_by: Option<String>,
    /// How far the agent's leg is transcribed (media ms), once it has a leg.
    agent_settled_ms: Option<u64>,
}

/// Most ended call ids remembered in memory (their archive rows may not be committed yet).
const RECENTLY_ENDED_MAX: usize = 100_000;

/// Ids of calls ended by this process, newest last, bounded.
#[derive(Default)]
struct RecentlyEnded {
    order: std::collections::VecDeque<String>,
    ids: std::collections::HashSet<String>,
}

impl RecentlyEnded {
    fn push(&mut self, id: &str) {
        if self.ids.insert(id.to_string()) {
            self.order.push_back(id.to_string());
        }
        while self.order.len() > RECENTLY_ENDED_MAX {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

/// Whether the archive holds an ended call with this id.
pub type ArchivedCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// An agent's request for a number, which the customer's next turns answer.
#[derive(Debug, Clone, Copy)]
struct Asked {
    category: Category,
    /// Media time the request ended.
    at_ms: u64,
    /// Customer finals still read as the answer.
    answers_left: u8,
}

/// A customer utterance starting this long after the request no longer answers it.
const ASK_WINDOW_MS: u64 = 30_000;
/// Customer finals read as the answer to one request (a number often takes two or three).
const ASK_ANSWERS: u8 = 3;

/// A live call's agent id and queue.
pub use crate::call::CallScope;

/// Live calls, shared by every source.
#[derive(Clone)]
pub struct CallRegistry {
    calls: Arc<Mutex<HashMap<String, LiveCall>>>,
    events: EventBus,
    archive: ArchiveSink,
    clock: SharedClock,
    scorecard: Option<Arc<Scorecard>>,
    rules: Option<super::RulesHub>,
    surge: Option<SurgeHub>,
    /// Redacts call metadata and participants before they are archived or announced.
    redactor: Arc<crate::transforms::redact::Redactor>,
    recently_ended: Arc<Mutex<RecentlyEnded>>,
    archived: Option<ArchivedCheck>,
}

/// Why a leg could not be opened.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RegistryError {
    #[error(
        "leg `{leg}` of call `{call_id}` is already streaming; use a distinct leg name per track"
    )]
    DuplicateLeg { call_id: String, leg: String },
    #[error("leg `{leg}` of call `{call_id}`: {reason}")]
    BadLanguage {
        call_id: String,
        leg: String,
        reason: String,
    },
    #[error("call `{call_id}` has ended and is archived; a new stream needs a new call id")]
    Archived { call_id: String },
    #[error("call `{call_id}` was opened with another credential; a leg may only join a live call with the credential that opened it")]
    NotYours { call_id: String },
}

impl CallRegistry {
    pub fn new(events: EventBus, archive: ArchiveSink, clock: SharedClock) -> Self {
        CallRegistry {
            calls: Arc::default(),
            events,
            archive,
            clock,
            scorecard: None,
            rules: None,
            surge: None,
            redactor: Arc::new(crate::transforms::redact::Redactor::default()),
            recently_ended: Arc::default(),
            archived: None,
        }
    }

    /// Refuses new streams whose call id names a call `check` says is archived as ended.
    pub fn with_archived_check(mut self, check: ArchivedCheck) -> Self {
        self.archived = Some(check);
        self
    }

    /// Redacts metadata and participants with `redactor` (the default redactor otherwise).
    pub fn with_redactor(mut self, redactor: Arc<crate::transforms::redact::Redactor>) -> Self {
        self.redactor = redactor;
        self
    }

    /// Scores every call against `card` when it ends.
    pub fn with_scorecard(mut self, card: Option<Scorecard>) -> Self {
        self.scorecard = card.map(Arc::new);
        self
    }

    /// Adds a final utterance and its hits to the call's ledger (a no-op once the call ended).
    pub fn record_final(&self, call_id: &str, utterance: LedgerUtterance, hits: Vec<LedgerHit>) {
        if self.scorecard.is_none() {
            return;
        }
        if let Some(live) = self.calls.lock().unwrap().get_mut(call_id) {
            live.ledger.utterances.push(utterance);
            live.ledger.hits.extend(hits);
        }
    }

    /// Tells `rules` when legs open and calls end, so call-wide rules can be decided.
    pub fn with_rules(mut self, rules: super::RulesHub) -> Self {
        self.rules = Some(rules);
        self
    }

    /// Feeds call arrivals to `hub`.
    pub fn with_surge(mut self, hub: SurgeHub) -> Self {
        self.surge = Some(hub);
        self
    }

    /// Notes that the agent of `call_id` asked for a `category` number, ending at `at_ms`.
    pub fn note_asked(&self, call_id: &str, category: Category, at_ms: u64) {
        if let Some(live) = self.calls.lock().unwrap().get_mut(call_id) {
            live.asked = Some(Asked {
                category,
                at_ms,
                answers_left: ASK_ANSWERS,
            });
        }
    }

    /// What the customer's utterance starting at `start_ms` answers, if anything; `consume`
    /// (for a final) counts it as one of the answers.
    pub fn asked(&self, call_id: &str, start_ms: u64, consume: bool) -> Option<Category> {
        let mut calls = self.calls.lock().unwrap();
        let live = calls.get_mut(call_id)?;
        let a = live.asked.as_mut()?;
        // Legs' media clocks start together but not exactly: allow an answer that overlaps.
        let in_window = start_ms + 2_000 >= a.at_ms && start_ms <= a.at_ms + ASK_WINDOW_MS;
        if !in_window {
            return None;
        }
        let category = a.category;
        if consume {
            a.answers_left -= 1;
            if a.answers_left == 0 {
                live.asked = None;
            }
        }
        Some(category)
    }

    /// The agent leg of a live call, if it has one.
    pub fn agent_leg(&self, call_id: &str) -> Option<String> {
        self.calls
            .lock()
            .unwrap()
            .get(call_id)
            .and_then(|c| c.agent_leg.clone())
    }

    /// The agent id and queue of a live call, which decide who may watch its events.
    pub fn call_scope(&self, call_id: &str) -> Option<CallScope> {
        self.calls
            .lock()
            .unwrap()
            .get(call_id)
            .map(|c| (c.agent_id.clone(), c.queue.clone()))
    }

    /// Registers a leg opened by an internal source (SIPREC, AudioSocket, files).
    pub fn open_leg(&self, call: &CallInfo, leg: &LegInfo) -> Result<(), RegistryError> {
        self.open_leg_as(call, leg, None)
    }

    /// Registers a leg opened with the credential `by`; the first leg of a call announces
    /// the call. A call that ended (here or in the archive) is never opened again, and a live
    /// call only takes legs from the credential that opened it.
    pub fn open_leg_as(
        &self,
        call: &CallInfo,
        leg: &LegInfo,
        by: Option<&str>,
    ) -> Result<(), RegistryError> {
        // Every source's language passes here, whatever its protocol; "auto" and empty
        // mean the configured policy.
        if let Some(code) = leg
            .language
            .as_deref()
            .filter(|l| !l.is_empty() && *l != "auto")
        {
            crate::transforms::asr::language::validate_code(code).map_err(|reason| {
                RegistryError::BadLanguage {
                    call_id: call.call_id.clone(),
                    leg: leg.leg.clone(),
                    reason,
                }
            })?;
        }
        let live_now = self.calls.lock().unwrap().contains_key(&call.call_id);
        if !live_now {
            let ended_here = self
                .recently_ended
                .lock()
                .unwrap()
                .ids
                .contains(&call.call_id);
            // Read outside the calls lock: it is a database query.
            if ended_here || self.archived.as_ref().is_some_and(|f| f(&call.call_id)) {
                return Err(RegistryError::Archived {
                    call_id: call.call_id.clone(),
                });
            }
        }
        let now_t = self.clock.now();
        let now = rfc3339(now_t);
        let mut calls = self.calls.lock().unwrap();
        if calls
            .get(&call.call_id)
            .is_some_and(|c| c.opened_by.as_deref() != by)
        {
            return Err(RegistryError::NotYours {
                call_id: call.call_id.clone(),
            });
        }
        let entry = calls.entry(call.call_id.clone());
        let is_new = matches!(entry, std::collections::hash_map::Entry::Vacant(_));
        let live = entry.or_insert_with(|| LiveCall {
            open_legs: 0,
            legs_seen: Vec::new(),
            media_ms: 0,
            ledger: CallLedger::new(&call.call_id),
            agent_leg: None,
            asked: None,
            agent_id: call.agent_id.clone(),
            queue: call.queue.clone(),
            opened_by: by.map(str::to_string),
            agent_settled_ms: None,
        });
        if live.legs_seen.contains(&leg.leg) && live.open_legs > 0 {
            return Err(RegistryError::DuplicateLeg {
                call_id: call.call_id.clone(),
                leg: leg.leg.clone(),
            });
        }
        live.open_legs += 1;
        live.legs_seen.push(leg.leg.clone());
        if leg.speaker == crate::call::Speaker::Agent {
            live.agent_leg = Some(leg.leg.clone());
            live.agent_settled_ms.get_or_insert(0);
        }
        drop(calls);
        if let Some(rules) = &self.rules {
            rules.open_leg(&call.call_id, &leg.leg, leg.speaker);
        }
        if is_new {
            if let Some(s) = &self.surge {
                s.call_started(&call.call_id, call.queue.as_deref(), now_t);
            }
            self.archive.send(ArchiveOp::CallStarted {
                call_id: call.call_id.clone(),
                source: call.source.clone(),
                agent_id: call.agent_id.clone(),
                queue: call.queue.clone(),
                started_at: now.clone(),
                metadata: self.redactor.redact_metadata(&call.metadata),
            });
            self.events.publish(Event::of_call(
                Payload::CallStarted {
                    source: call.source.clone(),
                    agent_id: call.agent_id.clone(),
                    queue: call.queue.clone(),
                    participants: call
                        .participants()
                        .iter()
                        .map(|p| self.redactor.redact_participant(p))
                        .collect(),
                },
                call.call_id.clone(),
                now.clone(),
            ));
        }
        self.archive.send(ArchiveOp::LegStarted {
            call_id: call.call_id.clone(),
            leg: leg.leg.clone(),
            speaker: leg.speaker,
            participant: leg
                .participant
                .as_deref()
                .map(|p| self.redactor.redact_participant(p)),
            started_at: now,
        });
        Ok(())
    }

    /// Marks a leg finished; the last one ends the call.
    pub fn close_leg(&self, call_id: &str, media_ms: u64, reason: EndReason) {
        let mut calls = self.calls.lock().unwrap();
        let Some(live) = calls.get_mut(call_id) else {
            return;
        };
        live.open_legs = live.open_legs.saturating_sub(1);
        live.media_ms = live.media_ms.max(media_ms);
        if live.open_legs > 0 {
            return;
        }
        let duration_ms = live.media_ms;
        let Some(live) = calls.remove(call_id) else {
            return;
        };
        drop(calls);
        self.recently_ended.lock().unwrap().push(call_id);
        if let Some(rules) = &self.rules {
            rules.end_call(call_id, duration_ms);
        }
        let now = rfc3339(self.clock.now());
        if let Some(card) = &self.scorecard {
            let mut ledger = live.ledger;
            ledger.duration_ms = duration_ms;
            super::qa::publish_score(&self.events, &self.archive, card, &ledger, &now);
        }
        self.archive.send(ArchiveOp::CallEnded {
            call_id: call_id.to_string(),
            ended_at: now.clone(),
            reason,
            duration_ms,
        });
        self.events.publish(Event::of_call(
            Payload::CallEnded {
                reason,
                duration_ms,
            },
            call_id.to_string(),
            now,
        ));
    }

    /// Records how far the agent's leg of a call is transcribed.
    pub fn note_agent_settled(&self, call_id: &str, settled_ms: u64) {
        if let Some(live) = self.calls.lock().unwrap().get_mut(call_id) {
            live.agent_settled_ms = Some(live.agent_settled_ms.unwrap_or(0).max(settled_ms));
        }
    }

    /// How far the agent's leg of a live call is transcribed; `None` when it has no agent
    /// leg (or is not live).
    pub fn agent_settled(&self, call_id: &str) -> Option<u64> {
        self.calls
            .lock()
            .unwrap()
            .get(call_id)
            .and_then(|c| c.agent_settled_ms)
    }

    /// Number of live calls.
    pub fn live_calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}
