//! QA reviewers' judgements (复核): verdicts on hits, overrides of scorecard items, calls
//! marked reviewed, acknowledgements of call alerts, and the per-term precision they give.
//! Each table holds the latest judgement; the audit trail holds every one.

use super::error::ArchiveError;
use super::reader::ArchiveReader;
use super::rows::Read;
use super::sql::{args, Arg, Db};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A reviewer's verdict on a hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitReview {
    pub hit_id: String,
    pub call_id: String,
    /// `confirmed` or `rejected`.
    pub verdict: String,
    pub comment: Option<String>,
    pub reviewer: String,
    /// RFC 3339.
    pub reviewed_at: String,
}

/// A reviewer's outcome for a scorecard item, replacing the automatic one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreOverride {
    pub call_id: String,
    pub item_id: String,
    /// `pass` or `fail`.
    pub outcome: String,
    pub comment: String,
    pub reviewer: String,
    pub reviewed_at: String,
}

/// A call marked reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallReview {
    pub call_id: String,
    pub reviewer: String,
    pub reviewed_at: String,
    pub comment: Option<String>,
}

/// Everything reviewers decided about one call, with its score after their overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReviewState {
    /// Who marked the call reviewed, if anyone.
    pub call: Option<CallReview>,
    /// Verdicts by hit id.
    pub hits: BTreeMap<String, HitReview>,
    /// Overrides by scorecard item id.
    pub overrides: BTreeMap<String, ScoreOverride>,
    /// The QA score with the overrides applied (`None` when the call has no score).
    pub score: Option<f64>,
    pub passed: Option<bool>,
}

/// Precision of one lexicon term as reviewers judged its hits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TermPrecision {
    pub term: String,
    pub category: String,
    pub hits: u64,
    pub confirmed: u64,
    pub rejected: u64,
    pub unreviewed: u64,
    /// confirmed / (confirmed + rejected); `None` until a hit of the term is judged.
    pub precision: Option<f64>,
}

pub(crate) fn upsert_hit_review<D: Db>(db: &mut D, r: &HitReview) -> Result<(), D::Error> {
    db.exec(
        "INSERT INTO hit_reviews (hit_id, call_id, verdict, comment, reviewer, reviewed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(hit_id) DO UPDATE SET verdict = excluded.verdict,
            comment = excluded.comment, reviewer = excluded.reviewer,
            reviewed_at = excluded.reviewed_at",
        &args![
            r.hit_id,
            r.call_id,
            r.verdict,
            r.comment,
            r.reviewer,
            r.reviewed_at
        ],
    )?;
    Ok(())
}

pub(crate) fn upsert_override<D: Db>(db: &mut D, o: &ScoreOverride) -> Result<(), D::Error> {
    db.exec(
        "INSERT INTO score_overrides (call_id, item_id, outcome, comment, reviewer, reviewed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(call_id, item_id) DO UPDATE SET outcome = excluded.outcome,
            comment = excluded.comment, reviewer = excluded.reviewer,
            reviewed_at = excluded.reviewed_at",
        &args![
            o.call_id,
            o.item_id,
            o.outcome,
            o.comment,
            o.reviewer,
            o.reviewed_at
        ],
    )?;
    Ok(())
}

pub(crate) fn upsert_call_review<D: Db>(db: &mut D, r: &CallReview) -> Result<(), D::Error> {
    db.exec(
        "INSERT INTO call_reviews (call_id, reviewer, reviewed_at, comment) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(call_id) DO UPDATE SET reviewer = excluded.reviewer,
            reviewed_at = excluded.reviewed_at, comment = excluded.comment",
        &args![r.call_id, r.reviewer, r.reviewed_at, r.comment],
    )?;
    Ok(())
}

/// Who marked a call reviewed.
pub(crate) fn call_review_of(
    db: &mut dyn Read,
    call_id: &str,
) -> Result<Option<CallReview>, ArchiveError> {
    db.one(
        "SELECT call_id, reviewer, reviewed_at, comment FROM call_reviews WHERE call_id = ?1",
        &args![call_id],
        |r| {
            Ok(CallReview {
                call_id: r.get(0)?,
                reviewer: r.get(1)?,
                reviewed_at: r.get(2)?,
                comment: r.get(3)?,
            })
        },
    )
}

/// The review state of a call whose QA report (as archived) is `report`.
pub(crate) fn review_of(
    db: &mut dyn Read,
    call_id: &str,
    report: Option<&serde_json::Value>,
) -> Result<ReviewState, ArchiveError> {
    let hits = db
        .all(
            "SELECT hit_id, call_id, verdict, comment, reviewer, reviewed_at FROM hit_reviews
             WHERE call_id = ?1",
            &args![call_id],
            |r| {
                Ok(HitReview {
                    hit_id: r.get(0)?,
                    call_id: r.get(1)?,
                    verdict: r.get(2)?,
                    comment: r.get(3)?,
                    reviewer: r.get(4)?,
                    reviewed_at: r.get(5)?,
                })
            },
        )?
        .into_iter()
        .map(|h| (h.hit_id.clone(), h))
        .collect();
    let overrides: BTreeMap<String, ScoreOverride> = db
        .all(
            "SELECT call_id, item_id, outcome, comment, reviewer, reviewed_at FROM score_overrides
             WHERE call_id = ?1",
            &args![call_id],
            |r| {
                Ok(ScoreOverride {
                    call_id: r.get(0)?,
                    item_id: r.get(1)?,
                    outcome: r.get(2)?,
                    comment: r.get(3)?,
                    reviewer: r.get(4)?,
                    reviewed_at: r.get(5)?,
                })
            },
        )?
        .into_iter()
        .map(|o| (o.item_id.clone(), o))
        .collect();
    let (score, passed) = report
        .map(|r| rescore(r, &overrides))
        .unwrap_or((None, None));
    Ok(ReviewState {
        call: call_review_of(db, call_id)?,
        hits,
        overrides,
        score,
        passed,
    })
}

/// The score of an archived QA report with reviewers' outcomes in place of the automatic
/// ones: passed weight over judged weight, as the scorecard computes it.
pub fn rescore(
    report: &serde_json::Value,
    overrides: &BTreeMap<String, ScoreOverride>,
) -> (Option<f64>, Option<bool>) {
    let Some(items) = report["items"].as_array() else {
        return (report["score"].as_f64(), report["passed"].as_bool());
    };
    if overrides.is_empty() {
        return (report["score"].as_f64(), report["passed"].as_bool());
    }
    let (mut pass, mut fail) = (0.0, 0.0);
    for item in items {
        let id = item["id"].as_str().unwrap_or_default();
        let outcome = overrides
            .get(id)
            .map(|o| o.outcome.as_str())
            .or_else(|| item["outcome"].as_str())
            .unwrap_or("not_applicable");
        let w = item["weight"].as_f64().unwrap_or(0.0);
        match outcome {
            "pass" => pass += w,
            "fail" => fail += w,
            _ => {}
        }
    }
    let score = if pass + fail > 0.0 {
        (1000.0 * pass / (pass + fail)).round() / 10.0
    } else {
        100.0
    };
    let passed = match report["pass_score"].as_f64() {
        Some(p) => Some(score >= p),
        // Reports archived before the pass mark was kept: judge by the failed weight alone.
        None => Some(fail == 0.0),
    };
    (Some(score), passed)
}

impl ArchiveReader {
    /// Reviewers' judgements on a call.
    pub fn review_state(&self, call_id: &str) -> Result<ReviewState, ArchiveError> {
        self.with_snapshot(|db| {
            let report: Option<String> = db.value(
                "SELECT report FROM scores WHERE call_id = ?1",
                &args![call_id],
            )?;
            let report = report.and_then(|r| serde_json::from_str(&r).ok());
            review_of(db, call_id, report.as_ref())
        })
    }

    /// The queue of an archived call: `None` when no such call, `Some(None)` when it has no
    /// queue.
    pub fn call_queue(&self, call_id: &str) -> Result<Option<Option<String>>, ArchiveError> {
        self.with_snapshot(|db| db.value("SELECT queue FROM calls WHERE id = ?1", &args![call_id]))
    }

    /// Whether a hit with this id belongs to this call.
    pub fn hit_of_call(&self, call_id: &str, hit_id: &str) -> Result<bool, ArchiveError> {
        self.with_snapshot(|db| {
            db.exists(
                "SELECT 1 FROM hits WHERE id = ?1 AND call_id = ?2",
                &args![hit_id, call_id],
            )
        })
    }

    /// Per-term hit counts and reviewers' verdicts over calls started in `[from, to)`
    /// (RFC 3339) within `queues` (`None`: all), most rejected first.
    pub fn term_precision(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        category: Option<&str>,
        queues: Option<&[String]>,
    ) -> Result<Vec<TermPrecision>, ArchiveError> {
        let mut sql = String::from(
            "SELECT h.term, h.category, count(*),
                    CAST(sum(CASE WHEN r.verdict = 'confirmed' THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(sum(CASE WHEN r.verdict = 'rejected' THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(sum(CASE WHEN r.verdict IS NULL THEN 1 ELSE 0 END) AS BIGINT)
             FROM hits h JOIN calls c ON c.id = h.call_id
             LEFT JOIN hit_reviews r ON r.hit_id = h.id
             WHERE 1 = 1",
        );
        let mut args: Vec<Arg> = Vec::new();
        if let Some(f) = from {
            sql.push_str(" AND c.started_at_ms >= ?");
            args.push(super::reader::time_arg("from", f)?.into());
        }
        if let Some(t) = to {
            sql.push_str(" AND c.started_at_ms < ?");
            args.push(super::reader::time_arg("to", t)?.into());
        }
        if let Some(cat) = category {
            sql.push_str(" AND h.category = ?");
            args.push(cat.to_string().into());
        }
        super::reader::queue_limit(&mut sql, &mut args, "c.queue", queues);
        sql.push_str(" GROUP BY h.term, h.category ORDER BY 5 DESC, 3 DESC, h.term");
        self.with_snapshot(|db| {
            db.all(&sql, &args, |r| {
                let (confirmed, rejected): (u64, u64) = (
                    r.get::<Option<u64>>(3)?.unwrap_or(0),
                    r.get::<Option<u64>>(4)?.unwrap_or(0),
                );
                Ok(TermPrecision {
                    term: r.get(0)?,
                    category: r.get(1)?,
                    hits: r.get(2)?,
                    confirmed,
                    rejected,
                    unreviewed: r.get::<Option<u64>>(5)?.unwrap_or(0),
                    precision: (confirmed + rejected > 0)
                        .then(|| confirmed as f64 / (confirmed + rejected) as f64),
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ov(item: &str, outcome: &str) -> (String, ScoreOverride) {
        (
            item.into(),
            ScoreOverride {
                call_id: "c".into(),
                item_id: item.into(),
                outcome: outcome.into(),
                comment: "heard it".into(),
                reviewer: "qa".into(),
                reviewed_at: "2026-12-04T00:00:00Z".into(),
            },
        )
    }

    #[test]
    fn overrides_rescore_like_the_scorecard() {
        let report = json!({"score": 60.0, "passed": false, "pass_score": 80.0, "items": [
            {"id": "greeting", "weight": 15.0, "outcome": "fail"},
            {"id": "closing", "weight": 10.0, "outcome": "pass"},
            {"id": "no_promise", "weight": 25.0, "outcome": "pass"},
            {"id": "rate", "weight": 10.0, "outcome": "not_applicable"}]});
        assert_eq!(
            rescore(&report, &BTreeMap::new()),
            (Some(60.0), Some(false))
        );
        let o: BTreeMap<_, _> = [ov("greeting", "pass")].into();
        assert_eq!(rescore(&report, &o), (Some(100.0), Some(true)));
        let o: BTreeMap<_, _> = [ov("greeting", "pass"), ov("rate", "fail")].into();
        assert_eq!(rescore(&report, &o), (Some(83.3), Some(true)));
        let o: BTreeMap<_, _> = [ov("no_promise", "fail")].into();
        assert_eq!(rescore(&report, &o), (Some(20.0), Some(false)));
    }
}
