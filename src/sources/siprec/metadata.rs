//! Recording metadata (RFC 7865): who takes part and which labelled stream each one sends.
//!
//! Matched on element local names so that the RFC namespace
//! (`urn:ietf:params:xml:ns:recording:1`), its draft form without `:1`, prefixed documents and
//! BroadWorks' pre-RFC `urn:ietf:params:xml:ns:siprec` (`recording_metadata`, `id=`
//! attributes) all read the same. Acme Packet writes `id` for `participant_id`/`stream_id`
//! and puts `<send>` inside `<participant>`; both are accepted.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a metadata document was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MetadataError {
    #[error("recording metadata is not well-formed XML: {0}")]
    Xml(String),
    #[error(
        "recording metadata root is `{0}`; expected `recording` (RFC 7865) or `recording_metadata`"
    )]
    WrongRoot(String),
    #[error("recording metadata is empty")]
    Empty,
}

/// `complete` replaces what is known; `partial` updates it (RFC 7865 §6.1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataMode {
    #[default]
    Complete,
    Partial,
}

/// A participant of the recorded call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: String,
    /// Address of record (`sip:7300@example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aor: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Stream ids this participant sends.
    #[serde(default)]
    pub sends: Vec<String>,
}

/// A recorded stream and the SDP label it travels under.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Most participants, streams, sends per participant and extension elements one session
/// keeps: a recording has a handful of each, and partial UPDATEs must not grow a session
/// without bound.
pub const MAX_ENTRIES: usize = 64;
/// Longest id, name, AOR, label or extension value kept, in characters.
pub const MAX_VALUE_CHARS: usize = 256;

fn clip(s: &str) -> String {
    s.chars().take(MAX_VALUE_CHARS).collect()
}

/// A recording metadata document, or the state accumulated from several.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub datamode: DataMode,
    pub participants: Vec<Participant>,
    pub streams: Vec<StreamMeta>,
    /// Other leaf elements as (local name, text), e.g. vendor extension data; a configured
    /// queue source can pick one by name.
    #[serde(default)]
    pub extra: Vec<(String, String)>,
}

fn attr(e: &BytesStart<'_>, names: &[&str]) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        let key = a.key.local_name();
        let key = std::str::from_utf8(key.as_ref()).ok()?;
        names
            .contains(&key)
            .then(|| a.unescape_value().ok().map(|v| v.trim().to_string()))
            .flatten()
    })
}

impl Metadata {
    /// Parses one metadata document.
    pub fn parse(xml: &str) -> Result<Metadata, MetadataError> {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().trim_text(true);
        let mut md = Metadata::default();
        let mut stack: Vec<String> = Vec::new();
        let mut participant: Option<usize> = None;
        let mut assoc: Option<usize> = None;
        let mut stream: Option<usize> = None;
        let mut root_seen = false;
        loop {
            let ev = reader
                .read_event()
                .map_err(|e| MetadataError::Xml(e.to_string()))?;
            match ev {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).to_string();
                    if !root_seen {
                        root_seen = true;
                        if name != "recording" && name != "recording_metadata" {
                            return Err(MetadataError::WrongRoot(name));
                        }
                    }
                    match name.as_str() {
                        "participant" => {
                            let id = attr(e, &["participant_id", "id"]).unwrap_or_default();
                            participant = md.participant_index(&id);
                        }
                        "participantstreamassoc" => {
                            let id = attr(e, &["participant_id", "id"]).unwrap_or_default();
                            assoc = md.participant_index(&id);
                        }
                        "nameID" | "nameid" => {
                            if let (Some(p), Some(aor)) = (participant, attr(e, &["aor"])) {
                                md.participants[p].aor = Some(clip(&aor));
                            }
                        }
                        "stream" => {
                            let id = attr(e, &["stream_id", "id"]).unwrap_or_default();
                            stream = md.stream_index(&id);
                        }
                        _ => {}
                    }
                    if matches!(ev, Event::Start(_)) {
                        stack.push(name);
                    } else {
                        close(&name, &mut participant, &mut assoc, &mut stream);
                    }
                }
                Event::End(_) => {
                    if let Some(name) = stack.pop() {
                        close(&name, &mut participant, &mut assoc, &mut stream);
                    }
                }
                Event::Text(t) => {
                    let text = t
                        .unescape()
                        .map_err(|e| MetadataError::Xml(e.to_string()))?
                        .trim()
                        .to_string();
                    let Some(top) = stack.last() else { continue };
                    match top.as_str() {
                        "datamode" | "dataMode" => {
                            md.datamode = if text.eq_ignore_ascii_case("partial") {
                                DataMode::Partial
                            } else {
                                DataMode::Complete
                            }
                        }
                        "send" => {
                            if let Some(p) = assoc.or(participant) {
                                push_unique(&mut md.participants[p].sends, text);
                            }
                        }
                        "label" if stream.is_some() => {
                            md.streams[stream.unwrap()].label = Some(clip(&text))
                        }
                        "name" if participant.is_some() && !text.is_empty() => {
                            md.participants[participant.unwrap()].name = Some(clip(&text))
                        }
                        "aor" if participant.is_some() => {
                            md.participants[participant.unwrap()].aor = Some(clip(&text))
                        }
                        // Receive associations say nothing about who is speaking on a stream.
                        "recv" => {}
                        _ if !text.is_empty() => md.set_extra(top.clone(), text),
                        _ => {}
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !root_seen {
            return Err(MetadataError::Empty);
        }
        Ok(md)
    }

    /// The participant with `id`, added if new; `None` once [`MAX_ENTRIES`] are known (the
    /// rest of a flood of ids is ignored, so UPDATEs cannot grow a session without bound).
    fn participant_index(&mut self, id: &str) -> Option<usize> {
        if let Some(i) = self.participants.iter().position(|p| p.id == id) {
            return Some(i);
        }
        if self.participants.len() >= MAX_ENTRIES {
            return None;
        }
        self.participants.push(Participant {
            id: clip(id),
            ..Default::default()
        });
        Some(self.participants.len() - 1)
    }

    /// The stream with `id`, added if new; `None` once [`MAX_ENTRIES`] are known.
    fn stream_index(&mut self, id: &str) -> Option<usize> {
        if let Some(i) = self.streams.iter().position(|s| s.id == id) {
            return Some(i);
        }
        if self.streams.len() >= MAX_ENTRIES {
            return None;
        }
        self.streams.push(StreamMeta {
            id: clip(id),
            label: None,
        });
        Some(self.streams.len() - 1)
    }

    /// Sets extension element `name` (a newer value replaces an older one), within
    /// [`MAX_ENTRIES`] names.
    fn set_extra(&mut self, name: String, value: String) {
        if let Some(e) = self.extra.iter_mut().find(|(n, _)| *n == name) {
            e.1 = clip(&value);
        } else if self.extra.len() < MAX_ENTRIES {
            self.extra.push((clip(&name), clip(&value)));
        }
    }

    /// Applies a newer document: `complete` replaces, `partial` updates by id.
    pub fn apply(&mut self, update: Metadata) {
        if update.datamode == DataMode::Complete {
            *self = update;
            return;
        }
        for p in update.participants {
            let Some(i) = self.participant_index(&p.id) else {
                continue;
            };
            let cur = &mut self.participants[i];
            if p.aor.is_some() {
                cur.aor = p.aor;
            }
            if p.name.is_some() {
                cur.name = p.name;
            }
            for s in p.sends {
                push_unique(&mut cur.sends, s);
            }
        }
        for s in update.streams {
            let Some(i) = self.stream_index(&s.id) else {
                continue;
            };
            if s.label.is_some() {
                self.streams[i].label = s.label;
            }
        }
        for (name, value) in update.extra {
            self.set_extra(name, value);
        }
    }

    /// The participant sending the stream carried under SDP `label`.
    pub fn sender_of_label(&self, label: &str) -> Option<&Participant> {
        let stream = self
            .streams
            .iter()
            .find(|s| s.label.as_deref() == Some(label))?;
        self.participants
            .iter()
            .find(|p| p.sends.contains(&stream.id))
    }

    /// Text of the first extra element with this local name.
    pub fn extra_value(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn close(
    name: &str,
    participant: &mut Option<usize>,
    assoc: &mut Option<usize>,
    stream: &mut Option<usize>,
) {
    match name {
        "participant" => *participant = None,
        "participantstreamassoc" => *assoc = None,
        "stream" => *stream = None,
        _ => {}
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    let s = clip(&s);
    if !s.is_empty() && !v.contains(&s) && v.len() < MAX_ENTRIES {
        v.push(s);
    }
}
