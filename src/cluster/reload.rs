//! Lexicon and rule reloads across a cluster: the node where an operator reloads reads its
//! files, puts them in force and publishes them; every node (new ones included, at start)
//! puts the last published set in force, so all nodes match the same phrases and rules.
//!
//! The set travels as the files' text, not as a "reload now" signal: nodes whose disks
//! differ still end up running the same set, and `digest` shows which one each node runs.
//! Each node compiles the files with its own match settings (`[lexicons]` `fuzzy_pinyin`,
//! `match`), which belong to its configuration like every other setting.

use crate::auth::{AuditEntry, Auth};
use crate::pipeline::Shared;
use crate::sinks::events::follow::Start;
use crate::sinks::events::NatsBus;
use crate::transforms::rules::{InspectionError, InspectionFiles, InspectionSummary};
use async_nats::jetstream::{self, stream};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Largest published set: under NATS's default 1 MiB message limit. The shipped lexicons
/// and rules are under 100 KiB.
pub const MAX_SET_BYTES: usize = 900 * 1024;
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// A set as published: the files, their digest and the node that published it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedSet {
    pub node: String,
    pub digest: String,
    pub files: InspectionFiles,
}

/// Why a published message was not put in force.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("published lexicon set is {0} bytes, over the {MAX_SET_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("published lexicon set is not readable: {0}")]
    Unreadable(String),
    #[error(
        "published lexicon set does not match its digest (sent {sent}, files hash to {actual})"
    )]
    Digest { sent: String, actual: String },
}

/// Reads a stream message as a set, checking its size and digest. Untrusted input: anyone who
/// may publish to the control subject writes these.
pub fn decode(payload: &[u8]) -> Result<PublishedSet, SetError> {
    if payload.len() > MAX_SET_BYTES {
        return Err(SetError::TooLarge(payload.len()));
    }
    let set: PublishedSet =
        serde_json::from_slice(payload).map_err(|e| SetError::Unreadable(e.to_string()))?;
    let actual = set.files.digest();
    if actual != set.digest {
        return Err(SetError::Digest {
            sent: set.digest,
            actual,
        });
    }
    Ok(set)
}

/// Where a cluster's lexicon sets are published: one message, the last set, on
/// `<stream>_CONTROL.inspection`.
#[derive(Clone)]
pub struct ClusterSets {
    js: jetstream::Context,
    stream: String,
    node: String,
}

impl ClusterSets {
    /// The sets of the cluster `bus` belongs to.
    pub fn of(bus: &NatsBus) -> ClusterSets {
        ClusterSets {
            js: bus.jetstream(),
            stream: format!("{}_CONTROL", bus.stream_name()),
            node: bus.node_id().to_string(),
        }
    }

    fn subject(&self) -> String {
        format!("{}.inspection", self.stream)
    }

    async fn open(&self) -> Result<stream::Stream, String> {
        self.js
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                description: Some("callwatch: the lexicons and rules every node runs".into()),
                subjects: vec![format!("{}.>", self.stream)],
                max_messages_per_subject: 1,
                max_message_size: MAX_SET_BYTES as i32,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("stream {}: {e}", self.stream))
    }

    /// Publishes `files` as the cluster's set; returns its stream sequence once NATS has it.
    pub async fn publish(&self, files: &InspectionFiles) -> Result<u64, String> {
        let body = serde_json::to_vec(&PublishedSet {
            node: self.node.clone(),
            digest: files.digest(),
            files: files.clone(),
        })
        .map_err(|e| e.to_string())?;
        if body.len() > MAX_SET_BYTES {
            return Err(SetError::TooLarge(body.len()).to_string());
        }
        let send = async {
            self.open().await?;
            let ack = self
                .js
                .publish(self.subject(), body.into())
                .await
                .map_err(|e| e.to_string())?;
            ack.await.map(|a| a.sequence).map_err(|e| e.to_string())
        };
        tokio::time::timeout(PUBLISH_TIMEOUT, send)
            .await
            .map_err(|_| format!("NATS did not acknowledge within {PUBLISH_TIMEOUT:?}"))?
    }
}

/// What a reload did on this node and, in a cluster, whether the set went out.
#[derive(Debug, Clone, Serialize)]
pub struct Reloaded {
    #[serde(flatten)]
    pub summary: InspectionSummary,
    /// `None` on a node without a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Published>,
}

impl Reloaded {
    /// The audit trail's outcome: `ok`, or that the cluster did not get the set.
    pub fn outcome(&self) -> String {
        match &self.cluster {
            Some(c) if !c.published => format!("not published: {}", self.summary.digest),
            _ => "ok".into(),
        }
    }
}

/// The outcome of handing a set to the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub published: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reloads lexicons and rules from this node's files (`POST /v1/admin/reload`, SIGHUP) and,
/// in a cluster, publishes them to every node.
#[derive(Clone)]
pub struct Reloader {
    shared: Arc<Shared>,
    cluster: Option<ClusterSets>,
}

impl Reloader {
    pub fn new(shared: Arc<Shared>, cluster: Option<ClusterSets>) -> Reloader {
        Reloader { shared, cluster }
    }

    /// Reads and compiles the files, puts them in force here, then publishes them. On a file
    /// error nothing changes anywhere.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let shared = self.shared.clone();
        let (summary, files) = tokio::task::spawn_blocking(move || shared.reload())
            .await
            .map_err(|e| ReloadError::Interrupted(e.to_string()))??;
        let cluster = match &self.cluster {
            None => None,
            Some(c) => Some(match c.publish(&files).await {
                Ok(seq) => Published {
                    published: true,
                    sequence: Some(seq),
                    error: None,
                },
                Err(e) => {
                    tracing::error!(error = %e, digest = %summary.digest, "reloaded here, but the cluster did not get the set");
                    Published {
                        published: false,
                        sequence: None,
                        error: Some(e),
                    }
                }
            }),
        };
        Ok(Reloaded { summary, cluster })
    }

    /// The set in force on this node.
    pub fn summary(&self) -> InspectionSummary {
        self.shared.inspection_summary()
    }
}

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Files(#[from] InspectionError),
    #[error("reload did not finish: {0}")]
    Interrupted(String),
}

/// Where the cluster's sets are read from, while the node runs.
struct Sets {
    sets: ClusterSets,
    shared: Weak<Shared>,
}

impl crate::sinks::events::follow::Source for Sets {
    async fn stream(&self) -> Option<stream::Stream> {
        self.sets.open().await.ok()
    }
    fn filter(&self) -> String {
        self.sets.subject()
    }
    fn wanted(&self) -> bool {
        self.shared.strong_count() > 0
    }
}

/// Puts every set published to the cluster in force on this node, the last one kept first
/// (so a node that starts, or reconnects, runs the cluster's set). Each change is audited
/// (who: `cluster`). Ends when the node stops (`shared` is dropped).
pub fn follow(sets: ClusterSets, shared: &Arc<Shared>, auth: Auth) {
    let weak = Arc::downgrade(shared);
    let source = Sets {
        sets,
        shared: weak.clone(),
    };
    let handle = move |m: jetstream::Message| {
        let (shared, auth) = (weak.clone(), auth.clone());
        async move {
            if let Some(shared) = shared.upgrade() {
                take(&shared, &auth, &m.payload).await;
            }
        }
    };
    tokio::spawn(crate::sinks::events::follow::follow(
        source,
        Start::LastPerSubject,
        handle,
    ));
}

/// Puts one published set in force unless this node already runs it.
async fn take(shared: &Arc<Shared>, auth: &Auth, payload: &[u8]) {
    let set = match decode(payload) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cluster lexicon set skipped; this node keeps its set");
            return;
        }
    };
    if set.digest == shared.inspection_summary().digest {
        return;
    }
    let s = shared.clone();
    let files = set.files;
    let done = tokio::task::spawn_blocking(move || s.apply_inspection(&files)).await;
    let outcome = match &done {
        Ok(Ok(_)) => "ok".to_string(),
        Ok(Err(e)) => format!("failed: {e}"),
        Err(e) => format!("failed: {e}"),
    };
    auth.audit(AuditEntry {
        who: "cluster".into(),
        action: "reload".into(),
        outcome,
        detail: Some(format!("set {} from node {}", set.digest, set.node)),
        ..Default::default()
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::rules::SourceFile;

    fn files() -> InspectionFiles {
        InspectionFiles {
            lexicons: vec![SourceFile {
                name: "a.toml".into(),
                text: "[[term]]\ntext = \"保本保息\"\ncategory = \"sales_promise\"\n".into(),
            }],
            rules: vec![],
        }
    }

    #[test]
    fn a_published_set_reads_back_only_whole_and_unaltered() {
        let f = files();
        let body = serde_json::to_vec(&PublishedSet {
            node: "n1".into(),
            digest: f.digest(),
            files: f.clone(),
        })
        .unwrap();
        assert_eq!(decode(&body).unwrap().files, f);

        let mut altered = f.clone();
        altered.lexicons[0].text.push_str("# changed\n");
        let forged = serde_json::to_vec(&PublishedSet {
            node: "n1".into(),
            digest: f.digest(),
            files: altered,
        })
        .unwrap();
        assert!(matches!(decode(&forged), Err(SetError::Digest { .. })));
        assert!(matches!(
            decode(b"{\"node\":1}"),
            Err(SetError::Unreadable(_))
        ));
        // The fuzz seed's digest is computed by fuzz/make_seeds.py: both must agree.
        let seed = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds/bus_message/control_inspection_set"),
        )
        .unwrap();
        assert_eq!(decode(&seed).unwrap().node, "n1");
        let huge = vec![b' '; MAX_SET_BYTES + 1];
        assert!(matches!(decode(&huge), Err(SetError::TooLarge(_))));
    }
}
