// Live views: the supervisor board (#/live), one call as it happens (#/live/<id>), the alerts
// feed (#/alerts) and an agent's own assist panel (#/assist). Everything shown comes from the
// API and the events WebSocket; server text (transcripts above all) is only ever set as
// textContent, never parsed as HTML.

// Namespace import: a helper missing from i18n.js leaves a property undefined, not a broken page.
import * as shared from "./i18n.js";
import { h, translatorFor } from "./i18n.js";

export const strings = {
  zh: {
    "live.na": "您的角色无法使用此页面。",
    "live.board.title": "实时通话",
    "live.board.empty": "当前没有进行中的通话。",
    "live.board.count": "{n} 通进行中",
    "live.col.call": "通话",
    "live.col.agent": "坐席",
    "live.col.queue": "队列",
    "live.col.duration": "时长",
    "live.col.line": "最新发言",
    "live.col.hits": "命中",
    "live.col.alerts": "预警",
    "live.col.level": "级别",
    "live.queue": "队列",
    "live.queue.all": "全部队列",
    "live.state": "状态",
    "live.state.open": "未确认",
    "live.state.all": "全部",
    "live.level.none": "无",
    "live.level.low": "低",
    "live.level.medium": "中",
    "live.level.high": "高",
    "live.level.critical": "严重",
    "live.speaker.agent": "坐席",
    "live.speaker.customer": "客户",
    "live.speaker.unknown": "未知",
    "live.back": "返回实时通话",
    "live.call.title": "通话 {id}",
    "live.call.waiting": "等待通话内容……",
    "live.call.ended": "通话结束（{reason}），时长 {duration}",
    "live.call.archive": "查看归档",
    "live.call.qa": "质检得分 {score}（{result}）",
    "live.qa.passed": "合格",
    "live.qa.failed": "不合格",
    "live.alert.title": "客诉预警：{signal}",
    "live.rule.title": "规则触发：{rule}",
    "live.assist.title": "知识推荐：{title}",
    "live.confidence": "置信度 {pct}%",
    "live.triggers": "触发词",
    "live.homophone": "（谐音，可能为识别错误）",
    "live.alerts.title": "预警",
    "live.alerts.empty": "没有预警。",
    "live.alerts.kind.warning": "客诉预警",
    "live.alerts.kind.rule": "规则",
    "live.alerts.kind.surge": "话务浪涌",
    "live.alerts.surge": "{metric}：{key}",
    "live.alerts.surge.detail": "窗口内 {observed}，预期 {expected}（×{ratio}）",
    "live.alerts.cleared": "已解除",
    "live.alerts.history": "预警历史暂不可用，仅显示新到的预警。",
    "live.ack": "确认",
    "live.ack.by": "{name} 已于 {time} 确认",
    "live.ack.noid": "服务器未提供预警编号，无法确认",
    "live.ack.failed": "确认失败：{error}",
    "live.metric.calls": "来电量",
    "live.metric.topic": "话题",
    "live.metric.phrase": "类别",
    "live.metric.emerging": "新问题",
    "live.assist.panel": "坐席助手",
    "live.assist.waiting": "等待您的下一通电话……",
    "live.assist.current": "当前通话 {id}",
    "live.assist.ended": "通话已结束",
    "live.assist.suggestions": "推荐答复",
    "live.assist.none": "暂无推荐。",
    "live.assist.flags": "命中与预警",
    "live.assist.noflags": "暂无命中或预警。",
  },
  en: {
    "live.na": "This page is not available for your role.",
    "live.board.title": "Live calls",
    "live.board.empty": "No calls in progress.",
    "live.board.count": "{n} in progress",
    "live.col.call": "Call",
    "live.col.agent": "Agent",
    "live.col.queue": "Queue",
    "live.col.duration": "Duration",
    "live.col.line": "Latest line",
    "live.col.hits": "Hits",
    "live.col.alerts": "Alerts",
    "live.col.level": "Level",
    "live.queue": "Queue",
    "live.queue.all": "All queues",
    "live.state": "State",
    "live.state.open": "Open",
    "live.state.all": "All",
    "live.level.none": "none",
    "live.level.low": "low",
    "live.level.medium": "medium",
    "live.level.high": "high",
    "live.level.critical": "critical",
    "live.speaker.agent": "Agent",
    "live.speaker.customer": "Customer",
    "live.speaker.unknown": "Unknown",
    "live.back": "Back to live calls",
    "live.call.title": "Call {id}",
    "live.call.waiting": "Waiting for speech…",
    "live.call.ended": "Call ended ({reason}) after {duration}",
    "live.call.archive": "Open in archive",
    "live.call.qa": "QA score {score} ({result})",
    "live.qa.passed": "passed",
    "live.qa.failed": "failed",
    "live.alert.title": "Complaint warning: {signal}",
    "live.rule.title": "Rule fired: {rule}",
    "live.assist.title": "Suggested article: {title}",
    "live.confidence": "confidence {pct}%",
    "live.triggers": "Triggers",
    "live.homophone": " (sounds alike: maybe a recognition error)",
    "live.alerts.title": "Alerts",
    "live.alerts.empty": "No alerts.",
    "live.alerts.kind.warning": "Complaint warning",
    "live.alerts.kind.rule": "Rule",
    "live.alerts.kind.surge": "Surge",
    "live.alerts.surge": "{metric}: {key}",
    "live.alerts.surge.detail": "{observed} in the window, {expected} expected (×{ratio})",
    "live.alerts.cleared": "cleared",
    "live.alerts.history": "Alert history is not available; showing new alerts only.",
    "live.ack": "Acknowledge",
    "live.ack.by": "acked by {name} at {time}",
    "live.ack.noid": "The server sent no alert id; it cannot be acknowledged",
    "live.ack.failed": "Could not acknowledge: {error}",
    "live.metric.calls": "Call volume",
    "live.metric.topic": "Topic",
    "live.metric.phrase": "Category",
    "live.metric.emerging": "Emerging",
    "live.assist.panel": "Agent assist",
    "live.assist.waiting": "Waiting for your next call…",
    "live.assist.current": "Current call {id}",
    "live.assist.ended": "Call ended",
    "live.assist.suggestions": "Suggested answers",
    "live.assist.none": "No suggestions yet.",
    "live.assist.flags": "Hits and alerts",
    "live.assist.noflags": "No hits or alerts yet.",
  },
};

// Who may open which view. The server enforces the same; this only spares a reviewer or an
// ingest login a board that could never fill (and opens no WebSocket for it).
const ALLOWED = {
  board: ["admin", "supervisor"],
  call: ["admin", "supervisor"],
  alerts: ["admin", "supervisor"],
  assist: ["agent", "admin", "supervisor"],
};

const LEVELS = ["none", "low", "medium", "high", "critical"];
const rank = (level) => Math.max(0, LEVELS.indexOf(level));
const worse = (a, b) => (rank(b) > rank(a) ? b : a);
const levelOf = (level) => (LEVELS.includes(level) ? level : "none");

export function mount(el, ctx) {
  const tr = translator(ctx);
  const { view, id } = routeOf(ctx);
  if (!ALLOWED[view].includes(ctx.me && ctx.me.role)) {
    el.replaceChildren(h("p", { class: "not-available", text: tr("live.na") }));
    return undefined;
  }
  const views = { board: mountBoard, call: mountCall, alerts: mountAlerts, assist: mountAssist };
  return views[view](el, ctx, tr, id);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

function translator(ctx) {
  return translatorFor(strings, ctx);
}

// ctx.params names the route; the hash is the fallback so the module does not depend on the
// exact shape the router hands over.
function routeOf(ctx) {
  const p = ctx.params || {};
  const parts = (location.hash || "").replace(/^#\/?/, "").split("/");
  const name = String(p.route || p.name || p.view || parts[0] || "live");
  const id = p.id || (parts[0] === "live" && parts[1] ? decodeURIComponent(parts[1]) : null);
  if (name.includes("alert")) return { view: "alerts" };
  if (name.includes("assist")) return { view: "assist" };
  return id ? { view: "call", id } : { view: "board" };
}


function badge(tr, level) {
  const l = levelOf(level);
  return h("span", { class: `badge sev-${l}`, text: tr(`live.level.${l}`) });
}

function speakerName(tr, speaker) {
  return tr(`live.speaker.${speaker === "agent" || speaker === "customer" ? speaker : "unknown"}`);
}

function fmtDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(hh ? 2 : 1, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

function fmtTime(ctx, iso) {
  const d = new Date(parseTime(iso));
  if (Number.isNaN(d.getTime())) return "";
  const locale = ctx.lang === "en" ? "en-GB" : "zh-CN";
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString(locale, { hour12: false })
    : d.toLocaleString(locale, { hour12: false });
}

function errorText(e) {
  const b = e && e.body;
  return (b && (b.message || b.error)) || (e && e.message) || String(e);
}

// `onReopen` runs when the socket comes back after a drop: events were missed meanwhile, so
// the view reloads what it can from the API.
function subscribe(ctx, query, onEvent, onReopen) {
  let dropped = false;
  const onState = (state) => {
    if (state === "closed") dropped = true;
    else if (state === "open" && dropped) {
      dropped = false;
      if (onReopen) onReopen();
    }
  };
  try {
    return ctx.api.events(query, (ev) => ev && ev.type && onEvent(ev), onState);
  } catch (e) {
    console.warn("events unavailable", e);
    return () => {};
  }
}

// RFC 3339 with the server's nanoseconds cut to milliseconds, which every browser parses.
function parseTime(s) {
  return s ? Date.parse(String(s).replace(/(\.\d{3})\d+/, "$1")) : NaN;
}

// The server's clock as the events tell it, so durations tick right on a skewed client clock.
function serverClock() {
  let skew = 0;
  return {
    see(at) {
      const t = parseTime(at);
      if (!Number.isNaN(t)) skew = Date.now() - t;
    },
    now: () => Date.now() - skew,
  };
}

// Character offsets (span_start/span_end count Unicode characters, not UTF-16 units) of a
// hit in `chars`; when the text moved on (a final replacing the partial the hit was raised
// on) the matched words are looked up instead.
function spanOf(chars, hit) {
  const s = hit.span_start;
  const e = hit.span_end;
  if (Number.isInteger(s) && Number.isInteger(e) && e > s && e <= chars.length) {
    if (!hit.matched || chars.slice(s, e).join("") === hit.matched) return [s, e];
  }
  if (!hit.matched) return null;
  const text = chars.join("");
  const at = text.indexOf(hit.matched);
  if (at < 0) return null;
  const start = Array.from(text.slice(0, at)).length;
  return [start, start + Array.from(hit.matched).length];
}

// Redaction labels ([CARD 453201******0366], [NUMBER], [银行卡]…) are already in the text;
// they are styled so nobody takes them for words the caller said.
const REDACTION = /\[[^[\]\n]{1,60}\]/g;

function withRedactions(text) {
  const out = [];
  let pos = 0;
  for (const m of text.matchAll(REDACTION)) {
    if (m.index > pos) out.push(text.slice(pos, m.index));
    out.push(h("span", { class: "redacted", text: m[0] }));
    pos = m.index + m[0].length;
  }
  if (pos < text.length) out.push(text.slice(pos));
  return out;
}

// Fills `el` with `text`, each hit a <mark>; overlapping hits keep the first.
function renderMarked(tr, el, text, hits) {
  const chars = Array.from(text || "");
  const spans = [];
  for (const hit of hits) {
    const sp = spanOf(chars, hit);
    if (sp) spans.push({ s: sp[0], e: sp[1], hit });
  }
  spans.sort((a, b) => a.s - b.s);
  const out = [];
  let pos = 0;
  for (const { s, e, hit } of spans) {
    if (s < pos) continue;
    if (s > pos) out.push(...withRedactions(chars.slice(pos, s).join("")));
    const note = [hit.term, hit.category].filter(Boolean).join(" · ");
    out.push(
      h("mark", {
        class: [
          "hit",
          categoryClass(hit.category),
          `sev-${levelOf(hit.severity)}`,
          hit.homophone && "homophone",
        ]
          .filter(Boolean)
          .join(" "),
        title: note + (hit.homophone ? tr("live.homophone") : ""),
        text: chars.slice(s, e).join(""),
      }),
    );
    pos = e;
  }
  if (pos < chars.length) out.push(...withRedactions(chars.slice(pos).join("")));
  el.replaceChildren(...out);
}

// The detail view's colour per hit category, so a term looks the same live and archived.
function categoryClass(category) {
  return shared.catClass && category ? shared.catClass(category) : "";
}

function queueSelect(tr, onChange) {
  const select = h("select", { name: "queue", on: { change: () => onChange(select.value) } });
  const known = new Set();
  const rebuild = () => {
    const keep = select.value;
    const opts = [h("option", { value: "", text: tr("live.queue.all") })];
    for (const q of [...known].sort()) opts.push(h("option", { value: q, text: q }));
    select.replaceChildren(...opts);
    select.value = known.has(keep) ? keep : "";
  };
  rebuild();
  return {
    el: h("label", { class: "filter" }, `${tr("live.queue")} `, select),
    add(q) {
      if (!q || known.has(q)) return;
      known.add(q);
      rebuild();
    },
    get value() {
      return select.value;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// #/live: calls in progress

const BOARD_EVENTS = [
  "call.started",
  "transcript.partial",
  "transcript.final",
  "phrase.hit",
  "alert",
  "rule.fired",
  "call.ended",
].join(","); // events.lagged always comes; the filter refuses it as a type

function mountBoard(el, ctx, tr) {
  const clock = serverClock();
  const rows = new Map();
  const ended = new Set();
  let queue = "";
  const filter = queueSelect(tr, (q) => {
    queue = q;
    applyFilter();
  });
  for (const q of (ctx.me && ctx.me.queues) || []) filter.add(q);
  const count = h("span", { class: "live-count" });
  const tbody = h("tbody");
  const empty = h("p", { class: "empty", text: tr("live.board.empty") });
  const head = h(
    "tr",
    {},
    ...["call", "agent", "queue", "duration", "line", "hits", "alerts", "level"].map((c) =>
      h("th", { scope: "col", text: tr(`live.col.${c}`) }),
    ),
  );
  el.replaceChildren(
    h(
      "section",
      { class: "live-board", data: { view: "live-board" } },
      h("div", { class: "toolbar" }, h("h2", { text: tr("live.board.title") }), filter.el, count),
      h("table", { class: "live-table" }, h("thead", {}, head), tbody),
      empty,
    ),
  );

  function applyFilter() {
    let shown = 0;
    for (const r of rows.values()) {
      r.tr.hidden = Boolean(queue) && r.queue !== queue;
      if (!r.tr.hidden && !r.ended) shown += 1;
    }
    count.textContent = tr("live.board.count", { n: shown });
    empty.hidden = shown > 0;
  }

  function rowFor(callId, ev) {
    let r = rows.get(callId);
    if (r) return r;
    r = newRow(callId);
    // A call first seen mid-way (board opened during it): its leg's media time says how long
    // it has been running.
    if (ev && ev.type !== "call.started" && Number.isFinite(ev.end_ms)) {
      r.startedAt = parseTime(ev.at) - ev.end_ms;
    }
    rows.set(callId, r);
    tbody.prepend(r.tr);
    return r;
  }

  function newRow(callId) {
    const cells = {};
    for (const c of ["call", "agent", "queue", "duration", "line", "hits", "alerts", "level"]) {
      cells[c] = h("td", { class: `col-${c}` });
    }
    cells.call.append(h("a", { href: `#/live/${encodeURIComponent(callId)}`, text: callId }));
    const tr = h("tr", { class: "sev-none", data: { callId } }, ...Object.values(cells));
    return { id: callId, tr, cells, hits: 0, alerts: 0, severity: "none", seen: new Set() };
  }

  function paint(r) {
    r.cells.agent.textContent = r.agent || "";
    r.cells.queue.textContent = r.queue || "";
    r.cells.hits.textContent = String(r.hits);
    r.cells.alerts.textContent = String(r.alerts);
    r.cells.level.replaceChildren(badge(tr, r.severity));
    r.tr.className = `sev-${r.severity}${r.ended ? " ended" : ""}`;
    r.tr.dataset.severity = r.severity;
    if (r.line) {
      const text = h(
        "span",
        { class: `text${r.line.partial ? " partial" : ""}` },
        ...withRedactions(r.line.text),
      );
      const who = h("span", { class: "who", text: `${speakerName(tr, r.line.speaker)}: ` });
      r.cells.line.replaceChildren(who, text);
    }
    tick(r);
    filter.add(r.queue);
  }

  function tick(r) {
    r.cells.duration.textContent = r.startedAt ? fmtDuration(clock.now() - r.startedAt) : "";
  }

  function onEvent(ev) {
    clock.see(ev.at);
    if (ev.type === "events.lagged") return void loadSnapshot();
    if (!ev.call_id || ended.has(ev.call_id)) return;
    const r = rowFor(ev.call_id, ev);
    r.updated = Date.now();
    apply(r, ev);
    paint(r);
    applyFilter();
  }

  function apply(r, ev) {
    switch (ev.type) {
      case "call.started":
        r.agent = ev.agent_id || r.agent;
        r.queue = ev.queue || r.queue;
        r.startedAt = parseTime(ev.at) || r.startedAt;
        break;
      case "transcript.partial":
      case "transcript.final":
        if (ev.text)
          r.line = { speaker: ev.speaker, text: ev.text, partial: ev.type === "transcript.partial" };
        break;
      case "phrase.hit":
        // A term heard on a partial is raised again on the final: count it once.
        if (!r.seen.has(`${ev.utterance_id}|${ev.term}`)) {
          r.seen.add(`${ev.utterance_id}|${ev.term}`);
          r.hits += 1;
        }
        r.severity = worse(r.severity, levelOf(ev.severity));
        break;
      case "alert":
        r.alerts += 1;
        r.severity = worse(r.severity, levelOf(ev.level));
        break;
      case "rule.fired":
        // As the server's board: only rules meant for a supervisor count.
        if ((ev.actions || []).includes("alert_supervisor")) {
          r.alerts += 1;
          r.severity = worse(r.severity, levelOf(ev.severity));
        }
        break;
      case "call.ended":
        endRow(r);
        break;
      default:
    }
  }

  // Leave an ended call on the board for a moment, fading, so it does not just vanish.
  function endRow(r) {
    r.ended = true;
    ended.add(r.id);
    r.tr.style.transition = "opacity 2s";
    r.tr.style.opacity = "0.35";
    r.timer = setTimeout(() => {
      r.tr.remove();
      rows.delete(r.id);
      applyFilter();
    }, 2500);
  }

  // The calls in progress now. Events may already have added some rows: keep what they
  // counted when it is more than the snapshot has. A row the snapshot lacks and no event
  // touched since it was asked for ended while the socket was down.
  async function loadSnapshot() {
    const asked = Date.now();
    let body;
    try {
      body = await ctx.api.get("/v1/live/calls");
    } catch (e) {
      el.firstChild.dataset.snapshot = "unavailable";
      console.info("live calls snapshot unavailable:", errorText(e));
      return;
    }
    if (stopped) return;
    const items = (body && body.items) || [];
    const live = new Set(items.map((c) => c.call_id));
    for (const r of rows.values()) if (!r.ended && !live.has(r.id) && !(r.updated >= asked)) endRow(r);
    for (const c of items) {
      if (!c.call_id || ended.has(c.call_id)) continue;
      const r = rowFor(c.call_id);
      r.agent = c.agent_id || r.agent;
      r.queue = c.queue || r.queue;
      r.startedAt = parseTime(c.started_at) || r.startedAt;
      r.hits = Math.max(r.hits, c.hits || 0);
      r.alerts = Math.max(r.alerts, c.alerts || 0);
      r.severity = worse(r.severity, levelOf(c.severity));
      if (!r.line && c.last_line && c.last_line.text) r.line = { ...c.last_line, partial: false };
      paint(r);
    }
    applyFilter();
  }

  let stopped = false;
  const close = subscribe(ctx, `type=${BOARD_EVENTS}`, onEvent, loadSnapshot);
  loadSnapshot();
  applyFilter();
  const ticker = setInterval(() => rows.forEach(tick), 1000);
  return () => {
    stopped = true;
    close();
    clearInterval(ticker);
    for (const r of rows.values()) clearTimeout(r.timer);
  };
}

// ---------------------------------------------------------------------------------------------
// #/live/<id>: one call's transcript, hits and cards as they happen

function mountCall(el, ctx, tr, callId) {
  const utts = new Map();
  const list = h("ol", { class: "live-transcript", "aria-live": "polite" });
  const waiting = h("p", { class: "empty", text: tr("live.call.waiting") });
  const info = h("p", { class: "call-meta" });
  el.replaceChildren(
    h(
      "section",
      { class: "live-call", data: { view: "live-call", callId } },
      h("nav", {}, h("a", { href: "#/live", text: `← ${tr("live.back")}` })),
      h("h2", { text: tr("live.call.title", { id: callId }) }),
      info,
      waiting,
      list,
    ),
  );

  function showInfo(c) {
    const parts = [
      c.agent_id && `${tr("live.col.agent")}: ${c.agent_id}`,
      c.queue && `${tr("live.col.queue")}: ${c.queue}`,
    ].filter(Boolean);
    info.textContent = parts.join(" · ");
  }

  // Items sit in media-time order (data-t, ms); equal times keep arrival order.
  function place(li, t) {
    li.dataset.t = String(t);
    const follow = window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
    let after = list.lastElementChild;
    while (after && Number(after.dataset.t) > t) after = after.previousElementSibling;
    if (after) after.after(li);
    else list.prepend(li);
    waiting.hidden = true;
    if (follow && li === list.lastElementChild) li.scrollIntoView({ block: "nearest" });
  }

  function utterance(ev) {
    let u = utts.get(ev.utterance_id);
    if (u) return u;
    const text = h("span", { class: "text" });
    const li = h(
      "li",
      { class: `utt speaker-${ev.speaker || "unknown"}`, data: { utteranceId: ev.utterance_id } },
      h("span", { class: "who", text: speakerName(tr, ev.speaker) }),
      " ",
      h("span", { class: "when", text: fmtDuration(ev.start_ms || 0) }),
      " ",
      text,
    );
    u = { li, textEl: text, text: "", partial: true, hits: [], end_ms: ev.end_ms };
    utts.set(ev.utterance_id, u);
    place(li, ev.start_ms || 0);
    return u;
  }

  function paintUtt(u) {
    u.li.classList.toggle("partial", u.partial);
    renderMarked(tr, u.textEl, u.text, u.hits);
  }

  // When a card refers to an utterance, it goes right after it.
  function cardTime(ev, fallback) {
    const u = ev.utterance_id && utts.get(ev.utterance_id);
    if (u && Number.isFinite(u.end_ms)) return u.end_ms;
    if (Number.isFinite(fallback)) return fallback;
    if (Number.isFinite(ev.end_ms)) return ev.end_ms;
    const last = list.lastElementChild;
    return last ? Number(last.dataset.t) : 0;
  }

  function onEvent(ev) {
    if (ev.call_id !== callId) return;
    const handler = CALL_HANDLERS[ev.type];
    if (handler) handler(ev);
  }

  // A card is shown once however it arrived (archive read or event).
  const shownCards = new Set();
  function card(key, make, t) {
    if (shownCards.has(key)) return;
    shownCards.add(key);
    place(make(), t);
  }

  const CALL_HANDLERS = {
    "call.started": (ev) => showInfo(ev),
    "transcript.partial": (ev) => {
      const u = utterance(ev);
      if (!u.partial || !ev.text) return; // a late partial never replaces the final
      u.text = ev.text;
      paintUtt(u);
    },
    "transcript.final": (ev) => {
      const u = utterance(ev);
      u.text = ev.text || "";
      u.partial = false;
      u.end_ms = ev.end_ms;
      u.hits = u.hits.filter((x) => !x.partial); // raised on text that has been replaced
      u.li.dataset.final = "1";
      paintUtt(u);
    },
    "utterance.dropped": (ev) => {
      const u = utts.get(ev.utterance_id);
      if (u && u.partial) {
        u.li.remove();
        utts.delete(ev.utterance_id);
      }
    },
    "phrase.hit": (ev) => {
      const u = utterance(ev);
      if (ev.partial && !u.partial) return;
      if (
        u.hits.some((x) => x.term === ev.term && x.span_start === ev.span_start && !x.partial === !ev.partial)
      )
        return;
      if (!u.text) u.text = ev.utterance || "";
      u.hits.push(ev);
      paintUtt(u);
    },
    alert: (ev) => card(`alert|${ev.signal}`, () => alertCard(tr, ev), cardTime(ev, lastEvidenceEnd(ev))),
    "rule.fired": (ev) => card(`rule|${ev.rule_id}`, () => ruleCard(tr, ev), cardTime(ev, ev.at_ms)),
    "assist.suggestion": (ev) => card(`assist|${ev.intent}`, () => assistCard(tr, ev), cardTime(ev)),
    "qa.scored": (ev) => card("qa", () => qaCard(tr, ev), Number.MAX_SAFE_INTEGER - 1),
    "call.ended": (ev) => card("ended", () => endedCard(tr, ev, callId), Number.MAX_SAFE_INTEGER),
  };

  // What the call said before this page opened: the archive holds a call's finals, hits,
  // rule firings and warnings while it is still running. Events that already arrived win.
  async function loadSoFar() {
    let c;
    try {
      c = await ctx.api.get(`/v1/calls/${encodeURIComponent(callId)}`);
    } catch {
      return; // not archived yet (or not readable): the events alone fill the view
    }
    if (stopped || !c) return;
    showInfo(c);
    for (const u of c.utterances || []) {
      if (u.text && !utts.has(u.id)) CALL_HANDLERS["transcript.final"]({ ...u, utterance_id: u.id });
    }
    for (const hit of c.hits || []) addArchivedHit(hit);
    for (const f of c.rule_firings || []) CALL_HANDLERS["rule.fired"](f);
    for (const w of c.warnings || []) {
      CALL_HANDLERS.alert({
        ...w,
        signal: String(w.tag || "")
          .split(":")
          .pop(),
      });
    }
    if (c.qa) CALL_HANDLERS["qa.scored"](c.qa);
    if (c.ended_at) CALL_HANDLERS["call.ended"]({ reason: c.end_reason, duration_ms: c.duration_ms });
  }

  function addArchivedHit(hit) {
    const u = utts.get(hit.utterance_id);
    if (!u || u.hits.some((x) => x.term === hit.term && x.span_start === hit.span_start)) return;
    u.hits.push(hit);
    paintUtt(u);
  }

  let stopped = false;
  const close = subscribe(ctx, `call_id=${encodeURIComponent(callId)}`, onEvent, loadSoFar);
  loadSoFar();
  return () => {
    stopped = true;
    close();
  };
}

function lastEvidenceEnd(ev) {
  const ends = (ev.evidence || []).map((e) => e.end_ms).filter(Number.isFinite);
  return ends.length ? Math.max(...ends) : ev.end_ms;
}

function alertCard(tr, ev) {
  const evidence = (ev.evidence || []).map((e) =>
    h("blockquote", { class: "evidence", text: e.text || (e.matched || []).join(" ") }),
  );
  return h(
    "li",
    { class: `card alert sev-${levelOf(ev.level)}`, data: alertData(ev) },
    h(
      "p",
      { class: "card-title" },
      badge(tr, ev.level),
      " ",
      tr("live.alert.title", { signal: ev.signal || ev.kind || "" }),
    ),
    h("p", { class: "reason", text: ev.reason || "" }),
    ...evidence,
  );
}

function ruleCard(tr, ev) {
  return h(
    "li",
    { class: `card rule sev-${levelOf(ev.severity)}`, data: alertData(ev) },
    h(
      "p",
      { class: "card-title" },
      badge(tr, ev.severity),
      " ",
      tr("live.rule.title", { rule: ev.rule_id || "" }),
    ),
    h("p", { class: "reason", text: ev.description || "" }),
  );
}

function alertData(ev) {
  return ev.alert_id ? { alertId: ev.alert_id } : {};
}

function assistCard(tr, ev) {
  const pct = Math.round((Number(ev.confidence) || 0) * 100);
  const chips = (ev.triggers || []).map((t) => h("span", { class: "chip", text: t }));
  return h(
    "li",
    { class: "card assist", data: { articleId: ev.article_id || "", utteranceId: ev.utterance_id || "" } },
    h("p", { class: "card-title", text: tr("live.assist.title", { title: ev.title || ev.intent || "" }) }),
    h("p", { class: "answer", text: ev.answer || "" }),
    h(
      "p",
      { class: "meta" },
      tr("live.confidence", { pct }),
      chips.length ? ` · ${tr("live.triggers")}: ` : null,
      ...chips,
    ),
  );
}

function qaCard(tr, ev) {
  const result = tr(ev.passed ? "live.qa.passed" : "live.qa.failed");
  const score = Number.isFinite(ev.score) ? Math.round(ev.score) : "";
  return h("li", { class: "card qa", text: tr("live.call.qa", { score, result }) });
}

function endedCard(tr, ev, callId) {
  return h(
    "li",
    { class: "card ended" },
    tr("live.call.ended", { reason: ev.reason || "", duration: fmtDuration(ev.duration_ms || 0) }),
    " ",
    h("a", { href: `#/calls/${encodeURIComponent(callId)}`, text: tr("live.call.archive") }),
  );
}

// ---------------------------------------------------------------------------------------------
// #/alerts: complaint warnings, supervisor rules and surges, newest first, to acknowledge

function mountAlerts(el, ctx, tr) {
  const calls = new Map(); // call_id -> {queue, agent_id}, for the queue filter of live alerts
  const items = new Map(); // key -> {item, li}
  const live = []; // items that came over the socket, kept across a reload of the list
  const filters = { queue: "", state: "open" };
  const filter = queueSelect(tr, (q) => {
    filters.queue = q;
    reload();
  });
  for (const q of (ctx.me && ctx.me.queues) || []) filter.add(q);
  const state = h(
    "select",
    { name: "state", on: { change: () => ((filters.state = state.value), reload()) } },
    h("option", { value: "open", text: tr("live.state.open") }),
    h("option", { value: "all", text: tr("live.state.all") }),
  );
  const list = h("ul", { class: "alert-list" });
  const empty = h("p", { class: "empty", text: tr("live.alerts.empty") });
  const note = h("p", { class: "note", hidden: true, text: tr("live.alerts.history") });
  el.replaceChildren(
    h(
      "section",
      { class: "alerts-feed", data: { view: "alerts-feed" } },
      h(
        "div",
        { class: "toolbar" },
        h("h2", { text: tr("live.alerts.title") }),
        filter.el,
        h("label", { class: "filter" }, `${tr("live.state")} `, state),
      ),
      note,
      list,
      empty,
    ),
  );

  // A surge belongs to a queue only when it counts that queue's calls.
  function visible(item) {
    const queue = item.surge
      ? item.metric === "calls" && item.title
      : item.queue || (calls.get(item.call_id) || {}).queue;
    if (filters.queue && queue !== filters.queue) return false;
    return filters.state === "all" || !item.ack || item.ackedHere;
  }

  // Adds or updates one item; `fresh` ones (just arrived) go on top, the rest by time.
  function upsert(item, fresh) {
    const known = items.get(item.key);
    if (known) {
      // Only a surge changes after it is listed (raised, then cleared).
      if (!item.surge || item === known.item) return;
      Object.assign(known.item, { state: item.state, ack: known.item.ack || item.ack });
      const li = alertItem(ctx, tr, known.item, ack);
      known.li.replaceWith(li);
      known.li = li;
      return;
    }
    filter.add(item.queue);
    if (!visible(item)) return;
    const li = alertItem(ctx, tr, item, ack);
    items.set(item.key, { item, li });
    if (fresh) list.prepend(li);
    else insertByTime(li, item.at);
    empty.hidden = true;
  }

  function insertByTime(li, at) {
    li.dataset.at = at || "";
    let before = list.firstElementChild;
    while (before && (before.dataset.at || "") >= (at || "")) before = before.nextElementSibling;
    list.insertBefore(li, before);
  }

  async function ack(item, area) {
    const path = item.surge
      ? `/v1/surges/${encodeURIComponent(item.id)}/ack`
      : `/v1/alerts/${encodeURIComponent(item.id)}/ack`;
    const button = area.querySelector("button");
    if (button) button.disabled = true;
    try {
      const r = await ctx.api.post(path, {});
      item.ack = { acked_by: r.acked_by, acked_at: r.acked_at, note: r.note };
      item.ackedHere = true;
      area.replaceChildren(ackStatus(ctx, tr, item.ack));
    } catch (e) {
      if (button) button.disabled = false;
      area.append(
        h("span", { class: "error", role: "alert", text: tr("live.ack.failed", { error: errorText(e) }) }),
      );
    }
  }

  function onEvent(ev) {
    if (ev.type === "call.started") {
      calls.set(ev.call_id, { queue: ev.queue, agent_id: ev.agent_id });
      filter.add(ev.queue);
      return;
    }
    const item = fromEvent(ev, calls);
    if (!item) return;
    live.push(item);
    upsert(item, true);
  }

  async function reload() {
    const gen = ++generation;
    list.replaceChildren();
    items.clear();
    empty.hidden = false;
    const [alerts, surges] = await Promise.all([loadAlerts(), loadSurges()]);
    if (gen !== generation || stopped) return;
    note.hidden = alerts !== null;
    for (const item of [...(alerts || []), ...surges]) upsert(item, false);
    for (const item of live) upsert(item, false);
  }

  async function loadAlerts() {
    const q = new URLSearchParams({ state: filters.state, limit: "200" });
    if (filters.queue) q.set("queue", filters.queue);
    try {
      const body = await ctx.api.get(`/v1/alerts?${q}`);
      return ((body && body.items) || []).map(fromListed);
    } catch (e) {
      console.info("alert history unavailable:", errorText(e));
      return null;
    }
  }

  // Surges raised and not cleared yet are alerts too.
  async function loadSurges() {
    try {
      const body = await ctx.api.get("/v1/surges?limit=1");
      return ((body && body.active) || []).map((s) =>
        fromSurge({ ...s, state: "raised", observed: s.count }),
      );
    } catch {
      return [];
    }
  }

  // Queues of calls in progress, so live alerts (which carry none) can be filtered.
  async function loadCalls() {
    try {
      const body = await ctx.api.get("/v1/live/calls");
      for (const c of (body && body.items) || []) {
        calls.set(c.call_id, { queue: c.queue, agent_id: c.agent_id });
        filter.add(c.queue);
      }
    } catch {
      // The board's endpoint is not there: call.started events still fill the map.
    }
  }

  let generation = 0;
  let stopped = false;
  const close = subscribe(ctx, "type=alert,rule.fired,surge.alert,call.started", onEvent, reload);
  loadCalls();
  reload();
  return () => {
    stopped = true;
    close();
  };
}

// A listed warning's key is its archive tag (`complaint_escalation:regulator`); the event
// names only the signal, which is what the feed shows.
function fromListed(a) {
  const warning = a.kind !== "rule";
  return {
    key: a.alert_id,
    id: a.alert_id,
    call_id: a.call_id,
    queue: a.queue,
    agent_id: a.agent_id,
    kind: warning ? "warning" : "rule",
    title: warning
      ? String(a.key || "")
          .split(":")
          .pop()
      : a.key,
    level: a.level,
    reason: a.reason,
    at: a.at,
    ack: a.ack || null,
  };
}

function fromEvent(ev, calls) {
  const call = calls.get(ev.call_id) || {};
  const base = {
    call_id: ev.call_id,
    queue: call.queue,
    agent_id: call.agent_id,
    at: ev.at,
    ack: null,
    live: true,
  };
  if (ev.type === "alert") {
    const evidence = (ev.evidence || []).map((e) => e.text).filter(Boolean);
    return {
      ...base,
      ...alertKey(ev, ev.signal),
      kind: "warning",
      title: ev.signal || ev.kind,
      level: ev.level,
      reason: ev.reason,
      evidence,
    };
  }
  if (ev.type === "rule.fired") {
    if (!(ev.actions || []).includes("alert_supervisor")) return null;
    return {
      ...base,
      ...alertKey(ev, ev.rule_id),
      kind: "rule",
      title: ev.rule_id,
      level: ev.severity,
      reason: ev.description,
    };
  }
  if (ev.type === "surge.alert") return fromSurge(ev);
  return null;
}

// Without an alert_id from the server an alert is still shown once (one per signal or rule
// per call), only it cannot be acknowledged.
function alertKey(ev, what) {
  return { key: ev.alert_id || `${ev.call_id}|${ev.type}|${what}`, id: ev.alert_id || null };
}

function fromSurge(s) {
  return {
    key: `surge:${s.surge_id}`,
    id: s.surge_id,
    surge: true,
    metric: s.metric,
    title: s.key,
    state: s.state,
    level: s.state === "cleared" ? "low" : "high",
    observed: s.observed,
    expected: s.expected,
    ratio: s.ratio,
    at: s.raised_at || s.window_end || s.at,
    ack: s.ack || null,
  };
}

function alertItem(ctx, tr, item, onAck) {
  const data = item.surge ? { surgeId: item.id } : { callId: item.call_id || "", key: item.title || "" };
  if (!item.surge && item.id) data.alertId = item.id;
  const ackArea = h("div", { class: "ack-area" });
  if (item.ack) ackArea.append(ackStatus(ctx, tr, item.ack));
  else if (item.id) {
    ackArea.append(
      h("button", {
        type: "button",
        class: "ack",
        text: tr("live.ack"),
        on: { click: () => onAck(item, ackArea) },
      }),
    );
  } else ackArea.append(h("span", { class: "note", text: tr("live.ack.noid") }));
  const cleared = item.surge && item.state === "cleared";
  return h(
    "li",
    { class: `alert-item sev-${levelOf(item.level)}${cleared ? " cleared" : ""}`, data },
    h(
      "p",
      { class: "card-title" },
      badge(tr, item.level),
      " ",
      h("strong", {
        text: `${tr(`live.alerts.kind.${item.surge ? "surge" : item.kind}`)} · ${alertTitle(tr, item)}`,
      }),
      " ",
      h("time", { datetime: item.at || "", text: fmtTime(ctx, item.at) }),
      cleared ? ` · ${tr("live.alerts.cleared")}` : null,
    ),
    h("p", { class: "reason", text: item.surge ? surgeDetail(tr, item) : item.reason || "" }),
    ...(item.evidence || []).slice(0, 2).map((t) => h("blockquote", { class: "evidence", text: t })),
    item.surge ? null : callLine(tr, item),
    ackArea,
  );
}

function alertTitle(tr, item) {
  if (!item.surge) return item.title || "";
  return tr("live.alerts.surge", { metric: tr(`live.metric.${item.metric}`), key: item.title || "" });
}

function surgeDetail(tr, item) {
  const expected = Number.isFinite(item.expected) ? item.expected.toFixed(1) : "";
  const ratio = Number.isFinite(item.ratio) ? item.ratio.toFixed(1) : "";
  return tr("live.alerts.surge.detail", { observed: item.observed ?? "", expected, ratio });
}

// A call still running opens its live view; one from the list may be over, so the archive.
function callLine(tr, item) {
  if (!item.call_id) return null;
  const href = `#/${item.live ? "live" : "calls"}/${encodeURIComponent(item.call_id)}`;
  const rest = [
    item.agent_id && `${tr("live.col.agent")}: ${item.agent_id}`,
    item.queue && `${tr("live.col.queue")}: ${item.queue}`,
  ]
    .filter(Boolean)
    .join(" · ");
  return h("p", { class: "meta" }, h("a", { href, text: item.call_id }), rest ? ` · ${rest}` : null);
}

function ackStatus(ctx, tr, ack) {
  return h("span", {
    class: "ack-status",
    data: { ackedBy: ack.acked_by || "" },
    text: tr("live.ack.by", { name: ack.acked_by || "", time: fmtTime(ctx, ack.acked_at) }),
  });
}

// ---------------------------------------------------------------------------------------------
// #/assist: an agent's own current call (the server sends an agent only its own calls)

const ASSIST_EVENTS = "call.started,call.ended,assist.suggestion,phrase.hit,alert,rule.fired";

function mountAssist(el, ctx, tr) {
  let current = null;
  const status = h("p", { class: "assist-call", text: tr("live.assist.waiting") });
  const cards = h("ol", { class: "assist-cards", "aria-live": "polite" });
  const flags = h("ul", { class: "assist-flags" });
  const noCards = h("p", { class: "empty", text: tr("live.assist.none") });
  const noFlags = h("p", { class: "empty", text: tr("live.assist.noflags") });
  el.replaceChildren(
    h(
      "section",
      { class: "assist-panel", data: { view: "assist-panel" } },
      h("h2", { text: tr("live.assist.panel") }),
      status,
      h(
        "div",
        { class: "assist-cols" },
        h("section", {}, h("h3", { text: tr("live.assist.suggestions") }), noCards, cards),
        h("section", {}, h("h3", { text: tr("live.assist.flags") }), noFlags, flags),
      ),
    ),
  );

  // A new call starts a clean panel; the first event seen also names the call when the panel
  // was opened mid-call.
  function follow(ev) {
    if (ev.type === "call.started" && ev.call_id !== (current && current.id)) {
      current = { id: ev.call_id, seen: new Set() };
      cards.replaceChildren();
      flags.replaceChildren();
    } else if (!current) current = { id: ev.call_id, seen: new Set() };
    if (ev.call_id !== current.id) return false;
    status.textContent = tr("live.assist.current", { id: current.id });
    status.dataset.callId = current.id;
    return true;
  }

  function onEvent(ev) {
    if (!ev.call_id || !follow(ev)) return;
    if (ev.type === "call.ended") status.append(` · ${tr("live.assist.ended")}`);
    else if (ev.type === "assist.suggestion") addCard(ev);
    else addFlag(ev);
    noCards.hidden = cards.childElementCount > 0;
    noFlags.hidden = flags.childElementCount > 0;
  }

  // Newest utterance's suggestions on top, in the server's order (best first) among them.
  function addCard(ev) {
    const card = assistCard(tr, ev);
    let after = null;
    for (
      let c = cards.firstElementChild;
      c && c.dataset.utteranceId === ev.utterance_id;
      c = c.nextElementSibling
    )
      after = c;
    if (after) after.after(card);
    else cards.prepend(card);
  }

  function addFlag(ev) {
    if (ev.type === "phrase.hit") {
      const key = `${ev.utterance_id}|${ev.term}`;
      if (current.seen.has(key)) return;
      current.seen.add(key);
      flags.prepend(hitFlag(tr, ev));
    } else if (ev.type === "alert") flags.prepend(alertCard(tr, ev));
    else if (ev.type === "rule.fired" && (ev.actions || []).includes("alert_agent"))
      flags.prepend(ruleCard(tr, ev));
  }

  const close = subscribe(ctx, `type=${ASSIST_EVENTS}`, onEvent);
  return () => close();
}

function hitFlag(tr, ev) {
  const text = h("span", { class: "text" });
  renderMarked(tr, text, ev.utterance || ev.matched || "", [ev]);
  return h(
    "li",
    { class: `card flag sev-${levelOf(ev.severity)}` },
    h(
      "p",
      { class: "card-title" },
      badge(tr, ev.severity),
      " ",
      h("strong", { text: ev.term || "" }),
      ` · ${ev.category || ""}`,
    ),
    h("p", {}, h("span", { class: "who", text: `${speakerName(tr, ev.speaker)}: ` }), text),
  );
}
