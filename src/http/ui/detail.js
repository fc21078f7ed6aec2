// One archived call (#/calls/<id>) for review: the transcript by speaker and time with hits and
// redactions marked, the mix audio following along, a timeline of hits, rules and warnings, the
// QA scorecard with evidence, and the reviewer's actions (hit verdicts, scorecard overrides,
// "reviewed"). Server text only ever reaches the page through textContent.

import { el, fmtDateTime, fmtClock, fmtScore, catClass, sevClass, parseTime } from "./i18n.js";

export const strings = {
  zh: {
    "d.back": "← 通话列表",
    "d.call": "通话",
    "d.agent": "坐席",
    "d.queue": "队列",
    "d.source": "来源",
    "d.started": "开始",
    "d.ended": "结束",
    "d.duration": "时长",
    "d.endReason": "结束原因",
    "d.qa": "质检分",
    "d.qaAfter": "复核后",
    "d.review": "复核",
    "d.notReviewed": "未复核",
    "d.reviewedBy": "{who} 于 {when} 复核",
    "d.ongoing": "进行中",
    "d.download": "下载转写",
    "d.transcript": "转写",
    "d.noUtterances": "此通话没有转写。",
    "d.dropped": "（无转写：{why}）",
    "d.masked": "录音中已静音的片段（脱敏）",
    "d.maskedShort": "录音已静音",
    "d.player": "通话录音（混音）",
    "d.audioError": "无法播放录音（可能已按保留期删除或未录音）。",
    "d.timeline": "时间轴",
    "d.hits": "命中",
    "d.noHits": "没有命中。",
    "d.homophone": "同音",
    "d.homophoneTitle": "仅读音相同，可能是识别错误，建议复听",
    "d.near": "近音",
    "d.nearTitle": "有一个音节读音相近（如 zheng/zhong），很可能是识别错误，建议复听",
    "d.loose": "一字之差",
    "d.looseTitle": "有一个音节听成了别的音（如 共享屏幕 写成 故想屏幕），可能是识别错误，务必复听",
    "d.confirm": "确认",
    "d.reject": "驳回",
    "d.note": "备注（可选）",
    "d.verdictBy": "{verdict}：{who}，{when}",
    "d.scorecard": "质检评分表",
    "d.noScore": "此通话尚未评分。",
    "d.weight": "权重 {w}",
    "d.evidence": "证据 {at}",
    "d.override": "改判",
    "d.overrideTo": "改判为",
    "d.comment": "说明（必填）",
    "d.commentRequired": "请填写改判说明。",
    "d.overriddenBy": "已改判为「{outcome}」：{who}，{when}",
    "d.rules": "规则触发",
    "d.noRules": "没有规则触发。",
    "d.warnings": "投诉预警",
    "d.assist": "坐席助手",
    "d.partial": "（中间结果）",
    "d.markReviewed": "标记为已复核",
    "d.reviewComment": "复核意见（可选）",
    "d.saved": "已保存",
    "d.seekTo": "跳到 {at}",
    "d.notFound": "没有这个通话（或不在您的队列内）。",
    "d.legend": "客户在左，坐席在右；点击一句话或按回车从该处播放。",
  },
  en: {
    "d.back": "← Calls",
    "d.call": "Call",
    "d.agent": "Agent",
    "d.queue": "Queue",
    "d.source": "Source",
    "d.started": "Started",
    "d.ended": "Ended",
    "d.duration": "Duration",
    "d.endReason": "End reason",
    "d.qa": "QA score",
    "d.qaAfter": "after review",
    "d.review": "Review",
    "d.notReviewed": "Not reviewed",
    "d.reviewedBy": "reviewed by {who} at {when}",
    "d.ongoing": "ongoing",
    "d.download": "Transcript",
    "d.transcript": "Transcript",
    "d.noUtterances": "This call has no transcript.",
    "d.dropped": "(no transcript: {why})",
    "d.masked": "silenced in the recording (redacted)",
    "d.maskedShort": "audio silenced",
    "d.player": "Call recording (mix)",
    "d.audioError": "The recording cannot be played (deleted by retention, or not recorded).",
    "d.timeline": "Timeline",
    "d.hits": "Hits",
    "d.noHits": "No hits.",
    "d.homophone": "sounds-like",
    "d.homophoneTitle": "Matched only by sound: likely a recognition error, worth a listen",
    "d.near": "sounds-near",
    "d.nearTitle": "One syllable only sounds close (e.g. zheng/zhong): likely a recognition error, worth a listen",
    "d.loose": "one-off",
    "d.looseTitle": "One syllable was heard as another (e.g. 共享屏幕 written 故想屏幕): maybe a recognition error, listen before confirming",
    "d.confirm": "Confirm",
    "d.reject": "Reject",
    "d.note": "note (optional)",
    "d.verdictBy": "{verdict} by {who} at {when}",
    "d.scorecard": "QA scorecard",
    "d.noScore": "This call has not been scored.",
    "d.weight": "weight {w}",
    "d.evidence": "evidence at {at}",
    "d.override": "Override",
    "d.overrideTo": "Override to",
    "d.comment": "reason (required)",
    "d.commentRequired": "A reason is required to override.",
    "d.overriddenBy": "overridden to “{outcome}” by {who} at {when}",
    "d.rules": "Rules fired",
    "d.noRules": "No rules fired.",
    "d.warnings": "Complaint warnings",
    "d.assist": "Agent assist",
    "d.partial": "(partial)",
    "d.markReviewed": "Mark reviewed",
    "d.reviewComment": "review comment (optional)",
    "d.saved": "Saved",
    "d.seekTo": "play from {at}",
    "d.notFound": "No such call (or not in your queues).",
    "d.legend": "Customer left, agent right; click a line or press Enter to play from there.",
  },
};

// Redaction labels the server writes into transcripts: `[CARD 453201******0366]`, `[NUMBER]`, `[银行卡]`.
const REDACTION = /\[[^[\]\n]{1,60}\]/g;

export function mount(root, ctx) {
  const id = ctx.params.id;
  root.append(el("p.muted", {}, ctx.t("loading")));
  let view = null;
  let alive = true;
  ctx.api.get(`/v1/calls/${encodeURIComponent(id)}`).then(
    (call) => {
      if (!alive) return;
      view = new CallView(ctx, call);
      root.replaceChildren(view.render());
    },
    (e) => {
      if (!alive) return;
      const msg = e.status === 404 ? ctx.t("d.notFound") : ctx.t("error.generic", { msg: e.message });
      root.replaceChildren(backLink(ctx.t), el("p.error-box", { role: "alert" }, msg));
    });
  return () => {
    alive = false;
    view?.destroy();
  };
}

function backLink(t) {
  let href = "#/calls";
  try {
    const h = sessionStorage.getItem("callwatch.calls.list");
    if (h && h.startsWith("#/calls")) href = h;
  } catch {
    // no storage: the plain list
  }
  return el("a.back", { href }, t("d.back"));
}

/** An error from a review action, in words: a missing endpoint is said plainly. */
function actionMessage(t, e) {
  if (e.status === 404) return t("error.notLanded", { path: e.path });
  if (e.status === 0) return t("error.network");
  return t("error.generic", { msg: e.message });
}

class CallView {
  constructor(ctx, call) {
    this.ctx = ctx;
    this.t = ctx.t;
    this.call = call;
    this.id = call.id;
    const r = call.review || {};
    this.review = { call: r.call || null, hits: r.hits || {}, overrides: r.overrides || {}, score: r.score ?? null, passed: r.passed ?? null };
    this.offsets = legOffsets(call);
    this.utts = (call.utterances || []).map((u) => ({ u, at: this.mixMs(u.leg, u.start_ms), end: this.mixMs(u.leg, u.end_ms) }))
      .sort((a, b) => a.at - b.at || a.u.leg.localeCompare(b.u.leg));
    this.uttById = new Map(this.utts.map((x) => [x.u.id, x]));
    this.hitsByUtt = groupBy(call.hits || [], (h) => h.utterance_id);
    this.uttEls = new Map();
    this.playing = null;
    this.duration = this.totalMs();
  }

  /** A leg-relative media time as a position in the mix. */
  mixMs(leg, ms) {
    return (this.offsets.get(leg) || 0) + (ms || 0);
  }

  /** Where an utterance starts in the mix (or `fallback` ms when it is not known). */
  uttMix(uttId, fallback) {
    const x = this.uttById.get(uttId);
    return x ? x.at : fallback ?? null;
  }

  totalMs() {
    const ends = this.utts.map((x) => x.end);
    for (const a of this.call.audio || []) if (a.duration_ms) ends.push(this.mixMs(a.leg, a.duration_ms));
    return Math.max(1000, this.call.duration_ms || 0, ...ends);
  }

  render() {
    this.audio = this.player();
    this.audioNote = el("p.error-box.hidden", { role: "alert" });
    this.node = el("div.detail", { dataset: { callId: this.id } },
      this.head(),
      el("div.player-bar", {}, this.audio, this.audioNote, this.timeline()),
      el("div.detail-body", {},
        this.transcript(),
        el("aside.side", {}, this.hitsSection(), this.scorecard(), this.rulesSection(), this.warningsSection(), this.assistSection())));
    return this.node;
  }

  destroy() {
    if (this.audio) {
      this.audio.pause();
      this.audio.removeAttribute("src");
    }
  }

  // -------------------------------------------------------------------------------------------
  // Header

  head() {
    const c = this.call;
    const t = this.t;
    const item = (k, v) => el("div.meta-item", {}, el("dt", {}, t(k)), el("dd", {}, v));
    this.scoreNode = el("dd", {}, this.scoreText());
    this.headReview = el("dd", { id: "review-state" }, this.reviewText());
    return el("header.detail-head", {},
      el("div.detail-title", {},
        backLink(t),
        el("h1", {}, el("span.muted", {}, `${t("d.call")} `), el("span.call-id", { id: "call-id" }, c.id)),
        el("div.downloads", {}, el("span.muted", {}, t("d.download")),
          ["txt", "json"].map((f) => el("a.button.small", {
            href: `/v1/calls/${encodeURIComponent(c.id)}/transcript?format=${f}`,
            download: `${c.id}.${f}`,
            dataset: { format: f },
          }, f.toUpperCase())))),
      el("dl.meta", {},
        item("d.agent", c.agent_id || "—"),
        item("d.queue", c.queue || "—"),
        item("d.source", c.source || "—"),
        item("d.started", fmtDateTime(c.started_at)),
        item("d.ended", c.ended_at ? fmtDateTime(c.ended_at) : t("d.ongoing")),
        item("d.duration", fmtClock(c.duration_ms)),
        item("d.endReason", c.end_reason || "—"),
        el("div.meta-item", {}, el("dt", {}, t("d.qa")), this.scoreNode),
        el("div.meta-item.wide", {}, el("dt", {}, t("d.review")), this.headReview)));
  }

  scoreText() {
    const qa = this.call.qa_report || this.call.qa;
    if (!qa) return el("span.muted", {}, "—");
    const badge = (passed) => el("span.badge", { class: passed ? "pass" : "fail" }, this.t(`outcome.${passed ? "pass" : "fail"}`));
    const parts = [el("span.score", {}, fmtScore(qa.score)), " ", badge(qa.passed)];
    const r = this.review;
    if (r.score != null && (r.score !== qa.score || r.passed !== qa.passed)) {
      parts.push(" → ", el("span.score", { id: "score-after" }, fmtScore(r.score)), " ", badge(r.passed),
        el("span.muted", {}, ` (${this.t("d.qaAfter")})`));
    }
    return parts;
  }

  reviewText() {
    const rc = this.review.call;
    if (!rc) return el("span.muted", {}, this.t("d.notReviewed"));
    return el("span.reviewed-mark", {}, "✓ ", this.t("d.reviewedBy", { who: rc.reviewer, when: fmtDateTime(rc.reviewed_at) }),
      rc.comment ? el("span.comment", {}, ` — ${rc.comment}`) : null);
  }

  // -------------------------------------------------------------------------------------------
  // Audio and timeline

  player() {
    const a = el("audio", {
      id: "player", controls: true, preload: "metadata",
      src: `/v1/calls/${encodeURIComponent(this.id)}/audio?leg=mix`, "aria-label": this.t("d.player"),
    });
    const follow = () => this.follow(a.currentTime * 1000);
    a.addEventListener("timeupdate", follow);
    a.addEventListener("seeked", follow);
    a.addEventListener("error", () => {
      this.audioNote.textContent = this.t("d.audioError");
      this.audioNote.classList.remove("hidden");
    });
    return a;
  }

  /** Plays the mix from `ms`; a refused play() (autoplay rules) just leaves it paused there. */
  seek(ms) {
    if (ms == null || !this.audio) return;
    this.audio.currentTime = ms / 1000;
    const p = this.audio.play();
    if (p) p.catch(() => {});
    this.follow(ms, true);
  }

  /** Marks the utterance under the play position and keeps it in view while playing. */
  follow(ms, force) {
    if (this.playhead) this.playhead.style.left = `${Math.min(100, (ms / this.duration) * 100)}%`;
    let cur = null;
    for (const x of this.utts) {
      if (x.at > ms) break;
      if (ms < Math.max(x.end, x.at + 1)) cur = x;
    }
    const node = cur ? this.uttEls.get(cur.u.id) : null;
    if (node === this.playing) return;
    this.playing?.classList.remove("playing");
    this.playing = node;
    if (!node) return;
    node.classList.add("playing");
    if (force || !this.audio.paused) node.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  timeline() {
    const pct = (ms) => `${Math.max(0, Math.min(100, (ms / this.duration) * 100))}%`;
    const lane = (speaker) => {
      const node = el("div.tl-lane", { class: `spk-${speaker}`, title: this.t(`speaker.${speaker}`) });
      for (const x of this.utts.filter((x) => x.u.speaker === speaker)) {
        const seg = el("div.tl-seg");
        seg.style.left = pct(x.at);
        seg.style.width = pct(Math.max(200, x.end - x.at));
        node.append(seg);
      }
      return node;
    };
    const markers = el("div.tl-markers");
    for (const m of mergeMarkers(this.markers())) {
      const b = el("button.tl-marker", {
        type: "button", class: m.cls, title: `${fmtClock(m.at)} ${m.label}`,
        "aria-label": `${this.t("d.seekTo", { at: fmtClock(m.at) })}: ${m.label}`,
        dataset: { kind: m.kind },
        onclick: () => this.jump(m.utt, m.at),
      });
      b.style.left = pct(m.at);
      markers.append(b);
    }
    this.playhead = el("div.tl-playhead");
    const track = el("div.tl-track", {}, lane("customer"), lane("agent"), markers, this.playhead);
    // Clicking the lanes seeks by position (a mouse shortcut; the player's own controls and the
    // marker buttons serve the keyboard).
    track.addEventListener("click", (e) => {
      if (e.target.closest("button")) return;
      const r = track.getBoundingClientRect();
      this.seek(((e.clientX - r.left) / r.width) * this.duration);
    });
    return el("div.timeline", { role: "group", "aria-label": this.t("d.timeline") },
      el("span.tl-time", {}, "0:00"), track, el("span.tl-time", {}, fmtClock(this.duration)));
  }

  /** Every point of interest on the timeline: hits, rule firings, warnings, assist. */
  markers() {
    const out = [];
    for (const h of this.call.hits || []) {
      out.push({ kind: "hit", cls: catClass(h.category), at: this.mixMs(h.leg, h.start_ms), utt: h.utterance_id, label: `${h.category}: ${h.term}` });
    }
    for (const f of this.call.rule_firings || []) {
      const ev = f.evidence?.[0];
      out.push({ kind: "rule", cls: sevClass(f.severity), at: this.uttMix(ev?.utterance_id, f.at_ms), utt: ev?.utterance_id, label: `${f.rule_id}: ${f.description}` });
    }
    for (const w of this.call.warnings || []) {
      const ev = w.evidence?.[0];
      if (ev) out.push({ kind: "warning", cls: sevClass(w.level), at: this.uttMix(ev.utterance_id, ev.start_ms), utt: ev.utterance_id, label: w.reason });
    }
    for (const s of this.assistItems()) out.push({ kind: "assist", cls: "assist", at: s.at, utt: s.utterance_id, label: s.title });
    return out.filter((m) => m.at != null);
  }

  /** Scrolls to an utterance (when known) and plays from `ms`. */
  jump(uttId, ms) {
    const node = uttId ? this.uttEls.get(uttId) : null;
    if (node) {
      node.scrollIntoView({ block: "center", behavior: "smooth" });
      node.focus({ preventScroll: true });
    }
    this.seek(ms ?? this.uttMix(uttId));
  }

  // -------------------------------------------------------------------------------------------
  // Transcript

  transcript() {
    const t = this.t;
    const list = el("div.utt-list", { id: "transcript" });
    for (const x of this.utts) {
      const node = this.utterance(x);
      this.uttEls.set(x.u.id, node);
      list.append(node);
    }
    return el("section.transcript", { "aria-label": t("d.transcript") },
      el("div.section-head", {}, el("h2", {}, t("d.transcript")), el("span.hint", {}, t("d.legend"))),
      this.utts.length ? list : el("p.empty", {}, t("d.noUtterances")));
  }

  utterance(x) {
    const { u, at } = x;
    const t = this.t;
    const speaker = ["customer", "agent"].includes(u.speaker) ? u.speaker : "unknown";
    const text = u.dropped
      ? el("span.dropped-text", {}, t("d.dropped", { why: u.dropped }))
      : this.markedText(u.text || "", this.hitsByUtt.get(u.id) || []);
    const node = el("div.utt", {
      class: `spk-${speaker}${u.dropped ? " dropped" : ""}`,
      tabindex: "0",
      dataset: { utteranceId: u.id, startMs: String(u.start_ms), mixMs: String(Math.round(at)), leg: u.leg },
    },
      el("div.utt-meta", {},
        el("span.utt-speaker", {}, t(`speaker.${speaker}`)),
        el("span.utt-time", {}, fmtClock(at)),
        u.audio_masked?.length ? el("span.masked", { title: t("d.masked") }, t("d.maskedShort")) : null),
      el("div.utt-text", {}, text));
    const play = () => this.seek(at);
    node.addEventListener("click", (e) => {
      if (e.target.closest("button, a") || window.getSelection()?.toString()) return;
      play();
    });
    node.addEventListener("keydown", (e) => {
      if (e.target !== node || (e.key !== "Enter" && e.key !== " ")) return;
      e.preventDefault();
      play();
    });
    return node;
  }

  /** The utterance text with hits marked by their character spans and redaction labels styled. */
  markedText(text, hits) {
    const chars = Array.from(text);
    const spans = hits.map((h) => locate(chars, h)).filter(Boolean).sort((a, b) => a.start - b.start);
    const out = [];
    let pos = 0;
    for (const s of spans) {
      if (s.start < pos) continue; // overlapping hits: the earlier one is shown
      out.push(...redactions(chars.slice(pos, s.start).join("")));
      out.push(this.hitMark(s.hit, chars.slice(s.start, s.end).join("")));
      pos = s.end;
    }
    out.push(...redactions(chars.slice(pos).join("")));
    return out;
  }

  hitMark(h, text) {
    const verdict = this.review.hits[h.id]?.verdict;
    return el("mark.hit", {
      class: [catClass(h.category), verdict ? `verdict-${verdict}` : "", h.homophone ? "homophone" : ""].filter(Boolean).join(" "),
      title: `${h.category} · ${h.term} · ${sevLabel(this.t, h.severity)}${h.homophone ? ` · ${this.t("d.homophone")}` : ""}`,
      dataset: { hitRef: h.id },
    }, redactions(text));
  }

  /** Re-classes the marks of one hit after a verdict. */
  refreshMarks(hitId) {
    const verdict = this.review.hits[hitId]?.verdict;
    for (const m of this.node.querySelectorAll("mark.hit")) {
      if (m.dataset.hitRef !== hitId) continue;
      m.classList.remove("verdict-confirmed", "verdict-rejected");
      if (verdict) m.classList.add(`verdict-${verdict}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Hits with verdicts

  hitsSection() {
    const hits = this.call.hits || [];
    return el("section.panel", { id: "hits" },
      el("h2", {}, this.t("d.hits"), el("span.count", {}, String(hits.length))),
      hits.length ? el("ul.hit-list", {}, hits.map((h) => this.hitItem(h))) : el("p.empty", {}, this.t("d.noHits")));
  }

  hitItem(h) {
    const t = this.t;
    const v = this.review.hits[h.id];
    const note = el("input.note", { type: "text", name: "comment", placeholder: t("d.note"), "aria-label": t("d.note"), maxlength: "500", value: v?.comment || "" });
    const status = el("p.action-status", { role: "status" });
    const button = (verdict, label) => el("button.small", {
      type: "button", class: `verdict-btn ${verdict}`, dataset: { verdict },
      "aria-pressed": String(v?.verdict === verdict),
      onclick: () => this.reviewHit(h, verdict, note.value.trim(), li, status),
    }, label);
    const li = el("li.hit-item", { class: `${catClass(h.category)}${v ? ` verdict-${v.verdict}` : ""}`, dataset: { hitId: h.id } },
      el("div.hit-line", {},
        el("span.chip", { class: catClass(h.category) }, h.category),
        el("strong.term", {}, h.term),
        el("span.badge", { class: sevClass(h.severity) }, sevLabel(t, h.severity)),
        h.match === "near" || h.match === "loose"
          ? el("span.badge.homophone", { title: t(`d.${h.match}Title`) }, t(`d.${h.match}`))
          : h.homophone ? el("span.badge.homophone", { title: t("d.homophoneTitle") }, t("d.homophone")) : null,
        el("button.link-button.time", {
          type: "button", "aria-label": t("d.seekTo", { at: fmtClock(this.mixMs(h.leg, h.start_ms)) }),
          onclick: () => this.jump(h.utterance_id, this.mixMs(h.leg, h.start_ms)),
        }, `${t(`speaker.${h.speaker}`)} ${fmtClock(this.mixMs(h.leg, h.start_ms))}`)),
      el("div.hit-matched", {}, "“", redactions(h.matched || ""), "”"),
      v ? el("p.verdict-state", {}, t("d.verdictBy", { verdict: t(`verdict.${v.verdict}`), who: v.reviewer, when: fmtDateTime(v.reviewed_at) }),
        v.comment ? el("span.comment", {}, ` — ${v.comment}`) : null) : null,
      el("div.hit-actions", {}, button("confirmed", t("d.confirm")), button("rejected", t("d.reject")), note),
      status);
    return li;
  }

  async reviewHit(h, verdict, comment, li, status) {
    setStatus(status, "");
    li.classList.add("busy");
    try {
      const body = comment ? { verdict, comment } : { verdict };
      const r = await this.ctx.api.post(`/v1/calls/${encodeURIComponent(this.id)}/hits/${encodeURIComponent(h.id)}/review`, body);
      this.review.hits[h.id] = { verdict: r.verdict ?? verdict, comment: r.comment ?? comment, reviewer: r.reviewer, reviewed_at: r.reviewed_at };
      const fresh = this.hitItem(h);
      li.replaceWith(fresh);
      fresh.querySelector(`button[data-verdict="${verdict}"]`)?.focus();
      setStatus(fresh.querySelector(".action-status"), this.t("d.saved"));
      this.refreshMarks(h.id);
    } catch (e) {
      li.classList.remove("busy");
      setStatus(status, actionMessage(this.t, e), true);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Scorecard with overrides

  scorecard() {
    const qa = this.call.qa_report;
    const body = qa?.items?.length
      ? el("ul.qa-list", {}, qa.items.map((it) => this.qaItem(it)))
      : el("p.empty", {}, this.t("d.noScore"));
    return el("section.panel", { id: "scorecard" },
      el("h2", {}, this.t("d.scorecard"), qa ? el("span.count", {}, qa.scorecard_id || "") : null),
      body, this.reviewBox());
  }

  qaItem(it) {
    const t = this.t;
    const o = this.review.overrides[it.id];
    const shown = o?.outcome || it.outcome;
    const at = it.utterance_id ? this.uttMix(it.utterance_id, it.at_ms) : null;
    const li = el("li.qa-item", { class: `outcome-${shown}${o ? " overridden" : ""}`, dataset: { itemId: it.id } },
      el("div.qa-line", {},
        el("span.badge", { class: outcomeClass(shown) }, t(`outcome.${shown}`)),
        o ? el("s.muted", {}, t(`outcome.${it.outcome}`)) : null,
        el("span.qa-name", {}, it.name),
        el("span.muted.weight", {}, t("d.weight", { w: it.weight }))),
      el("p.qa-detail", {}, it.detail || ""),
      at != null ? el("button.link-button.evidence", {
        type: "button", dataset: { utteranceId: it.utterance_id },
        onclick: () => this.jump(it.utterance_id, at),
      }, `▶ ${t("d.evidence", { at: fmtClock(at) })}`) : null,
      o ? el("p.override-state", {}, t("d.overriddenBy", { outcome: t(`outcome.${o.outcome}`), who: o.reviewer, when: fmtDateTime(o.reviewed_at) }),
        o.comment ? el("span.comment", {}, ` — ${o.comment}`) : null) : null,
      this.overrideForm(it, shown));
    return li;
  }

  overrideForm(it, shown) {
    const t = this.t;
    const outcome = el("select", { name: "outcome", "aria-label": t("d.overrideTo") },
      ["pass", "fail"].map((v) => el("option", { value: v }, t(`outcome.${v}`))));
    // The likely intent of an override is the other outcome.
    outcome.value = shown === "pass" ? "fail" : "pass";
    const comment = el("input", { type: "text", name: "comment", required: true, maxlength: "500", placeholder: t("d.comment"), "aria-label": t("d.comment") });
    const status = el("p.action-status", { role: "status" });
    const form = el("form.override-form", {},
      el("span.muted", {}, t("d.overrideTo")), outcome, comment,
      el("button.small", { type: "submit" }, t("d.override")), status);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.override(it, outcome.value, comment.value.trim(), form, status);
    });
    return form;
  }

  async override(it, outcome, comment, form, status) {
    if (!comment) return setStatus(status, this.t("d.commentRequired"), true);
    setStatus(status, "");
    form.classList.add("busy");
    try {
      const r = await this.ctx.api.post(`/v1/calls/${encodeURIComponent(this.id)}/qa/${encodeURIComponent(it.id)}/override`, { outcome, comment });
      this.review.overrides[it.id] = { outcome: r.outcome ?? outcome, comment: r.comment ?? comment, reviewer: r.reviewer, reviewed_at: r.reviewed_at };
      if (r.score !== undefined) this.review.score = r.score;
      if (r.passed !== undefined) this.review.passed = r.passed;
      const li = form.closest("li");
      const fresh = this.qaItem(it);
      li.replaceWith(fresh);
      setStatus(fresh.querySelector(".action-status"), this.t("d.saved"));
      fresh.querySelector("button[type=submit]")?.focus();
      this.scoreNode.replaceChildren(...[this.scoreText()].flat());
    } catch (e) {
      form.classList.remove("busy");
      setStatus(status, actionMessage(this.t, e), true);
    }
  }

  reviewBox() {
    const t = this.t;
    const comment = el("input", { type: "text", name: "comment", maxlength: "500", placeholder: t("d.reviewComment"), "aria-label": t("d.reviewComment") });
    const status = el("p.action-status", { role: "status" });
    this.reviewState = el("p.review-state", {}, this.reviewText());
    const form = el("form.review-form", { id: "review-form" },
      this.reviewState,
      el("div.row", {}, comment, el("button.primary", { type: "submit", id: "mark-reviewed" }, t("d.markReviewed"))),
      status);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      setStatus(status, "");
      try {
        const c = comment.value.trim();
        const r = await this.ctx.api.post(`/v1/calls/${encodeURIComponent(this.id)}/reviewed`, c ? { comment: c } : {});
        this.review.call = { reviewer: r.reviewer, reviewed_at: r.reviewed_at, comment: r.comment ?? c };
        this.reviewState.replaceChildren(this.reviewText());
        this.headReview.replaceChildren(this.reviewText());
        setStatus(status, t("d.saved"));
      } catch (err) {
        setStatus(status, actionMessage(t, err), true);
      }
    });
    return form;
  }

  // -------------------------------------------------------------------------------------------
  // Rules, warnings, assist

  rulesSection() {
    const firings = this.call.rule_firings || [];
    return el("section.panel", { id: "rules" },
      el("h2", {}, this.t("d.rules"), el("span.count", {}, String(firings.length))),
      firings.length ? el("ul.event-list", {}, firings.map((f) => this.ruleItem(f))) : el("p.empty", {}, this.t("d.noRules")));
  }

  ruleItem(f) {
    const ev = f.evidence || [];
    const at = this.uttMix(ev[0]?.utterance_id, f.at_ms);
    return el("li.event-item", { dataset: { ruleId: f.rule_id } },
      el("div.event-line", {},
        el("span.badge", { class: sevClass(f.severity) }, sevLabel(this.t, f.severity)),
        el("strong", {}, f.rule_id),
        this.timeButton(ev[0]?.utterance_id, at)),
      el("p.event-desc", {}, f.description || ""),
      ev.length ? el("ul.evidence", {}, ev.map((x) => el("li", { class: x.partial ? "partial" : null },
        el("span.muted", {}, `${this.t(`speaker.${x.speaker}`)} `), `“${x.matched}”`,
        x.partial ? el("span.muted", {}, ` ${this.t("d.partial")}`) : null,
        " ", this.timeButton(x.utterance_id, this.uttMix(x.utterance_id, x.start_ms))))) : null);
  }

  warningsSection() {
    const ws = this.call.warnings || [];
    if (!ws.length) return null;
    return el("section.panel", { id: "warnings" },
      el("h2", {}, this.t("d.warnings"), el("span.count", {}, String(ws.length))),
      el("ul.event-list", {}, ws.map((w) => {
        const ev = w.evidence?.[0];
        return el("li.event-item.warning", {},
          el("div.event-line", {},
            el("span.badge", { class: sevClass(w.level) }, sevLabel(this.t, w.level)),
            el("strong", {}, w.tag),
            ev ? this.timeButton(ev.utterance_id, this.uttMix(ev.utterance_id, ev.start_ms)) : null),
          el("p.event-desc", {}, w.reason || ""));
      })));
  }

  /** Assist suggestions, where the server includes them with the call (not every version does). */
  assistItems() {
    return (this.call.assist || []).map((s) => ({ ...s, at: this.uttMix(s.utterance_id, s.start_ms ?? s.at_ms) }));
  }

  assistSection() {
    const items = this.assistItems();
    if (!items.length) return null;
    return el("section.panel", { id: "assist" },
      el("h2", {}, this.t("d.assist"), el("span.count", {}, String(items.length))),
      el("ul.event-list", {}, items.map((s) => el("li.event-item", {},
        el("div.event-line", {}, el("strong", {}, s.title || s.intent || ""), this.timeButton(s.utterance_id, s.at)),
        s.answer ? el("p.event-desc", {}, s.answer) : null))));
  }

  timeButton(uttId, at) {
    if (at == null) return null;
    return el("button.link-button.time", {
      type: "button", "aria-label": this.t("d.seekTo", { at: fmtClock(at) }),
      onclick: () => this.jump(uttId, at),
    }, `▶ ${fmtClock(at)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Each leg's place in the mix: its start minus the call's start, in ms. */
function legOffsets(call) {
  const start = parseTime(call.started_at);
  const out = new Map();
  for (const l of call.legs || []) {
    const off = parseTime(l.started_at) - start;
    out.set(l.leg, Number.isFinite(off) && off > 0 ? off : 0);
  }
  return out;
}

function groupBy(items, key) {
  const m = new Map();
  for (const it of items) {
    const k = key(it);
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(it);
  }
  return m;
}

/**
 * A hit's span in the utterance's code points. The server's offsets are trusted when they
 * cover the matched text; otherwise the matched text is looked up, then the offsets clamped.
 */
function locate(chars, h) {
  const n = chars.length;
  let start = Math.max(0, Math.min(n, h.span_start | 0));
  let end = Math.max(start, Math.min(n, h.span_end | 0));
  const matched = h.matched || "";
  if (matched && chars.slice(start, end).join("") !== matched) {
    const idx = chars.join("").indexOf(matched);
    if (idx >= 0) {
      start = Array.from(chars.join("").slice(0, idx)).length;
      end = start + Array.from(matched).length;
    }
  }
  return end > start ? { start, end, hit: h } : null;
}

/** Text with redaction labels as styled spans (text nodes and elements). */
function redactions(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(REDACTION)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(el("span.redacted", {}, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/**
 * One button per row and instant: hits sit on their own row, rules, warnings and assist on a
 * second one, and markers at the same time on the same row become one (their labels joined), so
 * none hides another from the mouse.
 */
function mergeMarkers(list) {
  const byKey = new Map();
  for (const m of list) {
    const row = m.kind === "hit" ? "hit" : "event";
    const key = `${row}@${Math.round(m.at)}`;
    const prev = byKey.get(key);
    if (prev) prev.label = `${prev.label}; ${m.label}`;
    else byKey.set(key, { ...m, cls: `${m.cls} row-${row}` });
  }
  return [...byKey.values()];
}

/** A severity in words; a level this page does not know is shown as the server wrote it. */
function sevLabel(t, level) {
  const key = `sev.${level}`;
  const s = t(key);
  return s === key ? String(level ?? "") : s;
}

function outcomeClass(outcome) {
  return outcome === "pass" ? "pass" : outcome === "fail" ? "fail" : "na";
}

/** Shows what became of an action next to it (an error stays until the next attempt). */
function setStatus(status, msg, isError) {
  status.textContent = msg;
  status.classList.toggle("error", Boolean(isError));
}
