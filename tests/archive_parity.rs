//! Every read the API makes answers the same on both archive backends: the same ops are
//! written to SQLite and to a real PostgreSQL, and each query (call list with its filters and
//! sorts, call detail, reviews, alerts, surges, retention lookups) must return equal JSON.
//! SQLite's answers are checked in detail by the other archive tests; a few anchors here keep
//! an empty or broken answer from passing as equal.

mod archive_support;

use archive_support::*;
use callwatch::call::Speaker;
use callwatch::sinks::archive::alerts::{alert_id, AlertAck, AlertFilter};
use callwatch::sinks::archive::review::{CallReview, HitReview, ScoreOverride};
use callwatch::sinks::archive::{
    ArchiveOp, ArchiveReader, AudioRecord, CallFilter, CallWarning, RuleFiringRecord, ScoreRecord,
    SurgeAck, SurgeFilter,
};
use callwatch::transforms::surge::{Metric, SurgeAlert, SurgeState};
use serde_json::{json, Value};

/// The fixture calls plus everything a reviewer and a supervisor add to them.
fn rich_ops() -> Vec<ArchiveOp> {
    let mut ops = fixture_ops();
    if let ArchiveOp::CallStarted { queue, .. } = &mut ops[0] {
        *queue = Some("wealth".into());
    }
    ops.push(call_ended("zh2", 12, 120_000));
    ops.push(ArchiveOp::Score(ScoreRecord {
        call_id: "zh1".into(),
        scorecard_id: "retail".into(),
        score: 50.0,
        passed: false,
        failed_items: vec!["no_guarantee".into(), "greeting".into()],
        report: json!({"score": 50.0, "passed": false, "pass_score": 80.0, "items": [
            {"id": "no_guarantee", "weight": 3.0, "outcome": "fail"},
            {"id": "greeting", "weight": 1.0, "outcome": "fail"},
            {"id": "closing", "weight": 4.0, "outcome": "pass"}]}),
        scored_at: at(2),
    }));
    ops.push(ArchiveOp::Score(ScoreRecord {
        call_id: "zh2".into(),
        scorecard_id: "retail".into(),
        score: 100.0,
        passed: true,
        failed_items: vec![],
        report: json!({"score": 100.0, "passed": true, "items": []}),
        scored_at: at(13),
    }));
    ops.push(ArchiveOp::RuleFired(RuleFiringRecord {
        id: "zh1-r1".into(),
        call_id: "zh1".into(),
        rule_id: "guarantee_then_complaint".into(),
        description: "保本 promise followed by a complaint".into(),
        category: "misselling".into(),
        severity: "critical".into(),
        actions: vec!["alert_supervisor".into(), "tag".into()],
        tags: vec!["misselling".into()],
        at_ms: 4500,
        evidence: json!([{"hit": "zh1-h1"}, {"hit": "zh1-h2"}]),
        created_at: at(1),
    }));
    ops.push(ArchiveOp::CallWarning(CallWarning {
        call_id: "en1".into(),
        tag: "complaint_escalation:regulator".into(),
        level: "high".into(),
        reason: "customer named the regulator".into(),
        evidence: json!(["en1-h1"]),
        tagged_at: at(21),
    }));
    ops.push(ArchiveOp::AlertAck(AlertAck {
        alert_id: alert_id("en1", "warning", "complaint_escalation:regulator"),
        call_id: "en1".into(),
        acked_by: "sup-1".into(),
        role: Some("supervisor".into()),
        acked_at: at(22),
        note: Some("called back".into()),
    }));
    ops.push(ArchiveOp::HitReview(HitReview {
        hit_id: "zh1-h1".into(),
        call_id: "zh1".into(),
        verdict: "confirmed".into(),
        comment: Some("clear promise".into()),
        reviewer: "qa-1".into(),
        reviewed_at: at(40),
    }));
    ops.push(ArchiveOp::HitReview(HitReview {
        hit_id: "zh1-h2".into(),
        call_id: "zh1".into(),
        verdict: "rejected".into(),
        comment: None,
        reviewer: "qa-1".into(),
        reviewed_at: at(40),
    }));
    ops.push(ArchiveOp::ScoreOverride(ScoreOverride {
        call_id: "zh1".into(),
        item_id: "greeting".into(),
        outcome: "pass".into(),
        comment: "greeted before the recording began".into(),
        reviewer: "qa-1".into(),
        reviewed_at: at(41),
    }));
    ops.push(ArchiveOp::CallReviewed(CallReview {
        call_id: "zh1".into(),
        reviewer: "qa-1".into(),
        reviewed_at: at(42),
        comment: Some("复核完成".into()),
    }));
    for (n, (key, state)) in [
        ("wealth", SurgeState::Raised),
        ("cards", SurgeState::Cleared),
    ]
    .into_iter()
    .enumerate()
    {
        ops.push(ArchiveOp::Surge(SurgeAlert {
            surge_id: format!("s{n}"),
            metric: Metric::Calls,
            key: key.into(),
            window_s: 60,
            observed: 40 + n as u64,
            expected: 9.5,
            ratio: 4.2,
            p_value: 0.0001,
            state,
            window_end: at(50 + n as u32),
            raised_at: at(50 + n as u32),
        }));
    }
    ops.push(ArchiveOp::SurgeAck(SurgeAck {
        surge_id: "s0".into(),
        acked_by: "sup-2".into(),
        role: Some("supervisor".into()),
        acked_at: at(55),
        note: None,
    }));
    for (leg, speaker) in [("left", Speaker::Agent), ("right", Speaker::Customer)] {
        ops.push(ArchiveOp::Audio(AudioRecord {
            call_id: "zh1".into(),
            leg: leg.into(),
            speaker,
            file: format!("zh1/{leg}.wav"),
            started_at: at(0),
            duration_ms: Some(60_000),
            bytes: Some(1_920_044),
            masked_ms: Some(1500),
            purged_at: None,
        }));
    }
    ops
}

fn filter(q: &str) -> CallFilter {
    serde_urlencoded_like(q)
}

/// Every read, by name, as JSON.
fn answers(r: &ArchiveReader) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut put = |name: &str, v: Value| out.push((name.to_string(), v));
    for q in [
        "",
        "sort=oldest",
        "sort=score_desc",
        "sort=score_asc",
        "limit=1",
        "limit=2&offset=1",
        "q=保本",
        "q=complaint&speaker=customer",
        "q=保本保锡&mode=pinyin",
        "category=guarantee",
        "has_hits=false",
        "verdict=confirmed",
        "verdict=unreviewed",
        "reviewed=true",
        "min_score=50&max_score=70",
        "passed=true",
        "failed_item=greeting",
        "tag=misselling",
        "rule=guarantee_then_complaint",
        "alert_level=high",
        "alert_level=critical",
        "agent_id=agent-8",
        "participant=sip:alice",
        "queue=wealth",
        "source=twilio",
        "end_reason=hangup",
        "from=2024-05-01T09:05:00+08:00&to=2024-05-01T09:25:00+08:00",
    ] {
        put(
            &format!("list_calls {q}"),
            serde_json::to_value(r.list_calls(&filter(q)).unwrap()).unwrap(),
        );
    }
    // Keyset paging: the second page through each backend's own cursor.
    for sort in ["newest", "score_desc"] {
        let mut f = filter(&format!("sort={sort}&limit=2"));
        let first = r.list_calls(&f).unwrap();
        f.cursor = first.next_cursor.clone();
        let second = r.list_calls(&f).unwrap();
        put(
            &format!("page 2 {sort}"),
            serde_json::to_value(second.items).unwrap(),
        );
    }
    let mut scoped = filter("");
    scoped.visible_queues = Some(vec!["wealth".into()]);
    put(
        "list_calls scoped",
        serde_json::to_value(r.list_calls(&scoped).unwrap()).unwrap(),
    );
    put(
        "export",
        serde_json::to_value(r.export_calls(&filter("sort=oldest")).unwrap()).unwrap(),
    );
    for id in ["zh1", "zh2", "en1", "legonly", "absent"] {
        put(
            &format!("get_call {id}"),
            serde_json::to_value(r.get_call(id).unwrap()).unwrap(),
        );
        put(
            &format!("review_state {id}"),
            serde_json::to_value(r.review_state(id).unwrap()).unwrap(),
        );
        put(
            &format!("call_queue {id}"),
            json!(r.call_queue(id).unwrap()),
        );
        put(
            &format!("call_ended {id}"),
            json!(r.call_ended(id).unwrap()),
        );
    }
    put(
        "hit_of_call",
        json!([
            r.hit_of_call("zh1", "zh1-h1").unwrap(),
            r.hit_of_call("zh2", "zh1-h1").unwrap(),
        ]),
    );
    put(
        "term_precision",
        serde_json::to_value(r.term_precision(None, None, None, None).unwrap()).unwrap(),
    );
    put(
        "term_precision scoped",
        serde_json::to_value(
            r.term_precision(
                Some("2024-05-01T09:00:00+08:00"),
                None,
                Some("guarantee"),
                Some(&["wealth".to_string()]),
            )
            .unwrap(),
        )
        .unwrap(),
    );
    for state in ["open", "acked", "all"] {
        let f = AlertFilter {
            state: Some(state.into()),
            ..Default::default()
        };
        put(
            &format!("alerts {state}"),
            serde_json::to_value(r.list_alerts(&f).unwrap()).unwrap(),
        );
    }
    let rule_alert = alert_id("zh1", "rule", "guarantee_then_complaint");
    put(
        "alert by id",
        serde_json::to_value(r.alert(&rule_alert).unwrap()).unwrap(),
    );
    put(
        "surge_known",
        json!([r.surge_known("s0").unwrap(), r.surge_known("x").unwrap()]),
    );
    put(
        "surge_acks",
        serde_json::to_value(r.surge_acks(&["s0".into(), "s1".into()]).unwrap()).unwrap(),
    );
    for q in [
        SurgeFilter::default(),
        SurgeFilter {
            state: Some("raised".into()),
            queues: Some(vec!["wealth".into()]),
            ..Default::default()
        },
    ] {
        put(
            &format!("surges {q:?}"),
            serde_json::to_value(r.list_surges(&q).unwrap()).unwrap(),
        );
    }
    let later = 1_893_456_000_000; // 2030-01-01T00:00:00Z
    put(
        "retention",
        json!([
            serde_json::to_value(r.audio_started_before(later, 10).unwrap()).unwrap(),
            r.calls_started_before(later, 10).unwrap(),
            r.rejected_before("2030-01-01T00:00:00Z").unwrap(),
        ]),
    );
    out
}

#[test]
fn every_read_answers_the_same_on_both_backends() {
    let mut all: Vec<Vec<(String, Value)>> = Vec::new();
    for b in backends() {
        b.write(rich_ops());
        all.push(answers(&b.reader));
    }
    let (sqlite, postgres) = (&all[0], &all[1]);
    for ((name, s), (_, p)) in sqlite.iter().zip(postgres) {
        assert_eq!(s, p, "{name}: SQLite and PostgreSQL differ");
    }
    let get = |name: &str| &sqlite.iter().find(|(n, _)| n == name).unwrap().1;
    // Anchors: the answers compared above are the ones a reviewer expects.
    assert_eq!(get("list_calls ")["total"], 4);
    assert_eq!(get("list_calls q=保本")["items"][0]["id"], "zh1");
    assert_eq!(get("list_calls verdict=confirmed")["total"], 1);
    assert_eq!(
        get("list_calls min_score=50&max_score=70")["items"][0]["id"],
        "zh1"
    );
    assert_eq!(get("list_calls scoped")["total"], 1);
    assert_eq!(get("page 2 newest").as_array().unwrap().len(), 2);
    let detail = get("get_call zh1");
    assert_eq!(detail["utterances"].as_array().unwrap().len(), 3);
    assert_eq!(detail["audio"].as_array().unwrap().len(), 2);
    assert_eq!(
        detail["review"]["score"], 62.5,
        "greeting overridden to pass"
    );
    assert_eq!(get("alerts open").as_array().unwrap().len(), 1);
    assert_eq!(get("alerts acked")[0]["ack"]["acked_by"], "sup-1");
    assert_eq!(get("alert by id")["call_id"], "zh1");
    let precision = get("term_precision");
    assert!(precision
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["term"] == "投诉" && t["rejected"] == 1));
    assert_eq!(get("surge_known"), &json!([true, false]));
    assert_eq!(get("retention")[1], json!(["zh1", "zh2"]));
}
