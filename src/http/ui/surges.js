// #/surges: call volume per queue against its seasonal baseline, inquiry topics, emerging
// phrases and the surges raised from them, with acknowledgement. The volume charts (uPlot)
// draw the server's history (/v1/surges/series: three hours per queue, one point a minute)
// and redraw it on every poll.

import { h, translatorFor } from "./i18n.js";

export const strings = {
  zh: {
    "surges.na": "您的角色无法使用此页面。",
    "surges.title": "话务浪涌",
    "surges.volume": "各队列来电量与季节基线",
    "surges.volume.hint":
      "每 10 秒刷新；近 {hours} 小时，每点为截至该时刻 {window} 分钟内的来电数。灰带为基线下的常见范围（95%），红色虚线为触发浪涌的来电数。",
    "surges.volume.none": "暂无来电量数据。",
    "surges.series.time": "时间",
    "surges.series.count": "来电数",
    "surges.series.expected": "预期",
    "surges.series.low": "下限",
    "surges.series.high": "上限",
    "surges.series.raise": "浪涌线",
    "surges.queue.all": "全部队列",
    "surges.topics": "咨询话题",
    "surges.emerging": "新出现的说法",
    "surges.emerging.none": "暂无新出现的说法。",
    "surges.col.topic": "话题",
    "surges.col.phrase": "说法",
    "surges.col.count": "通话数",
    "surges.col.expected": "预期",
    "surges.col.ratio": "倍数",
    "surges.col.trend": "趋势",
    "surges.col.time": "时间",
    "surges.col.metric": "指标",
    "surges.col.key": "对象",
    "surges.col.state": "状态",
    "surges.col.ack": "确认",
    "surges.trend.up": "↑ 上升",
    "surges.trend.down": "↓ 下降",
    "surges.trend.flat": "→ 平稳",
    "surges.trend.learning": "… 学习中",
    "surges.surging": "浪涌中",
    "surges.active": "当前浪涌",
    "surges.active.none": "当前没有浪涌。",
    "surges.archived": "浪涌记录",
    "surges.archived.none": "没有浪涌记录。",
    "surges.active.line": "{count} 通，预期 {expected}（×{ratio}），{time} 起",
    "surges.state.raised": "触发",
    "surges.state.cleared": "解除",
    "surges.metric.calls": "来电量",
    "surges.metric.topic": "话题",
    "surges.metric.phrase": "类别",
    "surges.metric.emerging": "新问题",
    "surges.ack": "确认",
    "surges.ack.by": "{name} 已于 {time} 确认",
    "surges.ack.failed": "确认失败：{error}",
    "surges.error": "加载失败：{error}",
  },
  en: {
    "surges.na": "This page is not available for your role.",
    "surges.title": "Surges",
    "surges.volume": "Call volume per queue against its seasonal baseline",
    "surges.volume.hint":
      "Refreshed every 10 s; the last {hours} h, each point the calls in the {window} minutes up to it. The grey band is the usual range under the baseline (95 %); the red dashed line is the count that raises a surge.",
    "surges.volume.none": "No call volume yet.",
    "surges.series.time": "Time",
    "surges.series.count": "Calls",
    "surges.series.expected": "Expected",
    "surges.series.low": "Low",
    "surges.series.high": "High",
    "surges.series.raise": "Surge line",
    "surges.queue.all": "All queues",
    "surges.topics": "Inquiry topics",
    "surges.emerging": "Emerging phrases",
    "surges.emerging.none": "No emerging phrases.",
    "surges.col.topic": "Topic",
    "surges.col.phrase": "Phrase",
    "surges.col.count": "Calls",
    "surges.col.expected": "Expected",
    "surges.col.ratio": "Ratio",
    "surges.col.trend": "Trend",
    "surges.col.time": "Time",
    "surges.col.metric": "Metric",
    "surges.col.key": "Key",
    "surges.col.state": "State",
    "surges.col.ack": "Acknowledgement",
    "surges.trend.up": "↑ up",
    "surges.trend.down": "↓ down",
    "surges.trend.flat": "→ flat",
    "surges.trend.learning": "… learning",
    "surges.surging": "surging",
    "surges.active": "Active surges",
    "surges.active.none": "No surge now.",
    "surges.archived": "Surge history",
    "surges.archived.none": "No surges recorded.",
    "surges.active.line": "{count} calls, {expected} expected (×{ratio}), since {time}",
    "surges.state.raised": "raised",
    "surges.state.cleared": "cleared",
    "surges.metric.calls": "Call volume",
    "surges.metric.topic": "Topic",
    "surges.metric.phrase": "Category",
    "surges.metric.emerging": "Emerging",
    "surges.ack": "Acknowledge",
    "surges.ack.by": "acked by {name} at {time}",
    "surges.ack.failed": "Could not acknowledge: {error}",
    "surges.error": "Could not load: {error}",
  },
};

const POLL_MS = 10000;
const SURGE_POLL_MS = 30000;
const HISTORY_MIN = 180;
const CHART_HEIGHT = 180;
const COLORS = {
  count: "#0b5cad",
  expected: "#6b7280",
  bandEdge: "rgba(107,114,128,0.35)",
  band: "rgba(107,114,128,0.18)",
  raise: "#b42318",
};

export function mount(el, ctx) {
  const tr = translator(ctx);
  const role = ctx.me && ctx.me.role;
  if (role !== "admin" && role !== "supervisor") {
    el.replaceChildren(h("p", { class: "not-available", text: tr("surges.na") }));
    return undefined;
  }
  const view = buildView(tr);
  el.replaceChildren(view.root);
  const volume = volumePanel(ctx, tr, view.charts, view.hint);
  const titles = new Map(); // topic id -> title, for surges keyed by topic
  const topics = topicsPanel(ctx, tr, view, titles);
  const surges = surgesPanel(ctx, tr, view, titles);

  const refreshAll = () => {
    volume.poll();
    topics.poll().then(surges.poll);
  };
  refreshAll();
  const timers = [
    setInterval(() => (volume.poll(), topics.poll()), POLL_MS),
    setInterval(() => surges.poll(), SURGE_POLL_MS),
  ];
  const close = subscribe(ctx, "type=surge.alert", refreshAll);
  return () => {
    timers.forEach(clearInterval);
    close();
    volume.destroy();
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers (kept local: each view module stands alone)

function translator(ctx) {
  return translatorFor(strings, ctx);
}


// `onEvent` also runs when the socket comes back after a drop, since surges may have changed.
function subscribe(ctx, query, onEvent) {
  let dropped = false;
  const onState = (state) => {
    if (state === "closed") dropped = true;
    else if (state === "open" && dropped) {
      dropped = false;
      onEvent();
    }
  };
  try {
    return ctx.api.events(query, onEvent, onState);
  } catch (e) {
    console.warn("events unavailable", e);
    return () => {};
  }
}

function errorText(e) {
  const b = e && e.body;
  return (b && (b.message || b.error)) || (e && e.message) || String(e);
}

// RFC 3339 with the server's nanoseconds cut to milliseconds, which every browser parses.
function parseTime(s) {
  return s ? Date.parse(String(s).replace(/(\.\d{3})\d+/, "$1")) : NaN;
}

function fmtTime(ctx, iso) {
  const d = new Date(parseTime(iso));
  if (Number.isNaN(d.getTime())) return "";
  const locale = ctx.lang === "en" ? "en-GB" : "zh-CN";
  return d.toDateString() === new Date().toDateString()
    ? d.toLocaleTimeString(locale, { hour12: false })
    : d.toLocaleString(locale, { hour12: false });
}

const num = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "");

function table(headers, rows) {
  return h(
    "table",
    { class: "data-table" },
    h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, ...rows),
  );
}

function buildView(tr) {
  const section = (cls, title, ...body) => h("section", { class: cls }, h("h3", { text: title }), ...body);
  const view = {
    hint: h("p", { class: "note" }),
    charts: h("div", { class: "volume-charts" }),
    topics: h("div", { class: "topic-list" }),
    emerging: h("div", { class: "emerging-list" }),
    active: h("div", { class: "surge-active" }),
    archived: h("div", { class: "surge-archived" }),
  };
  view.root = h(
    "section",
    { class: "surges-view", data: { view: "surges-panel" } },
    h("h2", { text: tr("surges.title") }),
    section("surge-volume", tr("surges.volume"), view.hint, view.charts),
    section("surge-active-panel", tr("surges.active"), view.active),
    section("surge-topics", tr("surges.topics"), view.topics),
    section("surge-emerging", tr("surges.emerging"), view.emerging),
    section("surge-history", tr("surges.archived"), view.archived),
  );
  return view;
}

// Replaces a panel's content only when the data changed, so a poll does not take the focus
// away from a button the user is on.
const shown = new WeakMap();

function changed(holder, data) {
  const key = JSON.stringify(data);
  if (shown.get(holder) === key) return false;
  shown.set(holder, key);
  return true;
}

function showError(holder, tr, e) {
  shown.delete(holder);
  holder.replaceChildren(h("p", { class: "error", text: tr("surges.error", { error: errorText(e) }) }));
}

// ---------------------------------------------------------------------------------------------
// Call volume: one small chart per queue ("all" first), count against expected ± 2·sqrt

let uPlotLoad = null;

// index.html loads uPlot with a classic script; load it here if it did not.
function loadUPlot() {
  if (globalThis.uPlot) return Promise.resolve(globalThis.uPlot);
  if (!uPlotLoad) {
    if (!document.querySelector('link[href$="uPlot.min.css"]')) {
      document.head.append(h("link", { rel: "stylesheet", href: "/ui/vendor/uPlot.min.css" }));
    }
    uPlotLoad = new Promise((resolve, reject) => {
      const s = h("script", { src: "/ui/vendor/uPlot.iife.min.js" });
      s.onload = () => resolve(globalThis.uPlot);
      s.onerror = () => reject(new Error("uPlot did not load"));
      document.head.append(s);
    });
  }
  return uPlotLoad;
}

function volumePanel(ctx, tr, holder, hint) {
  const charts = new Map(); // queue -> {plot, box}
  const resize = new ResizeObserver(() => charts.forEach(fit));
  let stopped = false;
  holder.replaceChildren(h("p", { class: "empty", text: tr("surges.volume.none") }));

  function fit(c) {
    const width = Math.max(200, Math.floor(c.box.clientWidth));
    if (width !== c.plot.width) c.plot.setSize({ width, height: CHART_HEIGHT });
  }

  function chartFor(queue, UPlot, data) {
    let c = charts.get(queue);
    if (c) return c;
    const label = queue === "all" ? tr("surges.queue.all") : queue;
    const box = h("div", { class: "chart" });
    const fig = h("figure", { class: "queue-chart", data: { queue } }, h("figcaption", { text: label }), box);
    // Let the layout, not the canvas drawn at the last width, decide how wide the chart is;
    // otherwise a grid or flex cell never shrinks below it and the chart never narrows.
    fig.style.minWidth = "0";
    box.style.overflow = "hidden";
    if (!charts.size) holder.replaceChildren();
    // "all" leads; the rest alphabetically.
    const after = [...holder.children].find((f) => f.dataset.queue !== "all" && f.dataset.queue > queue);
    holder.insertBefore(fig, queue === "all" ? holder.firstChild : after || null);
    c = { box, plot: new UPlot(plotOptions(tr, box.clientWidth || 600), data, box) };
    charts.set(queue, c);
    resize.observe(box);
    return c;
  }

  // Columns for uPlot: time, count, expected, band low, band high, surge line (null while the
  // baseline is learning, which leaves a gap rather than a line at zero).
  function columns(points) {
    const cols = [[], [], [], [], [], []];
    for (const p of points) {
      const t = parseTime(p.at);
      if (Number.isNaN(t)) continue;
      cols[0].push(t / 1000);
      cols[1].push(p.count);
      cols[2].push(Number(p.expected) || 0);
      cols[3].push(p.low);
      cols[4].push(p.high);
      cols[5].push(p.raise_at === null || p.raise_at === undefined ? null : p.raise_at);
    }
    return cols;
  }

  async function poll() {
    try {
      const [UPlot, body] = await Promise.all([
        loadUPlot(),
        ctx.api.get(`/v1/surges/series?metric=calls&minutes=${HISTORY_MIN}`),
      ]);
      if (stopped) return;
      hint.textContent = tr("surges.volume.hint", {
        window: Math.round((body.window_s || 900) / 60),
        hours: Math.round(HISTORY_MIN / 60),
      });
      for (const item of body.items || []) {
        const data = columns(item.points || []);
        const c = chartFor(item.key, UPlot, data);
        c.plot.setData(data);
        c.box.parentElement.dataset.points = String(data[0].length);
      }
    } catch (e) {
      if (!charts.size) showError(holder, tr, e);
    }
  }

  return {
    poll,
    destroy() {
      stopped = true;
      resize.disconnect();
      charts.forEach((c) => c.plot.destroy());
    },
  };
}

function plotOptions(tr, width) {
  const line = (label, stroke, extra) => ({ label, stroke, width: 1.5, ...extra });
  return {
    width: Math.max(200, width),
    height: CHART_HEIGHT,
    scales: {
      x: { time: true, range: timeRange },
      y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
    },
    series: [
      { label: tr("surges.series.time") },
      line(tr("surges.series.count"), COLORS.count, { width: 2, points: { show: true, size: 5 } }),
      line(tr("surges.series.expected"), COLORS.expected, { dash: [6, 4] }),
      line(tr("surges.series.low"), COLORS.bandEdge, { width: 1, points: { show: false } }),
      line(tr("surges.series.high"), COLORS.bandEdge, { width: 1, points: { show: false } }),
      line(tr("surges.series.raise"), COLORS.raise, { dash: [3, 3], points: { show: false } }),
    ],
    bands: [{ series: [4, 3], fill: COLORS.band }],
    axes: [{ values: (u, splits) => splits.map(clock) }, { size: 40 }],
  };
}

// 24-hour clock in both languages; the chart spans minutes to a day, so no date is needed.
function clock(seconds) {
  const d = new Date(seconds * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

// From the first point, at least ten minutes wide (a service started minutes ago has little
// history). Taken from the data, since for a single point uPlot hands the range function a
// span of its own choosing.
function timeRange(u, min, max) {
  const xs = u.data[0];
  if (!xs || !xs.length) return [min, max];
  return [xs[0] - 10, Math.max(xs[xs.length - 1], xs[0] + 600) + 10];
}

// ---------------------------------------------------------------------------------------------
// Topics and emerging phrases

function topicsPanel(ctx, tr, view, titles) {
  async function poll() {
    try {
      const body = await ctx.api.get("/v1/topics?metric=topic");
      for (const r of body.items || []) if (r.title) titles.set(r.key, r.title);
      const items = body.items || [];
      const emerging = body.emerging || [];
      if (changed(view.topics, items)) view.topics.replaceChildren(trendTable(tr, items, "topic"));
      if (changed(view.emerging, emerging)) {
        view.emerging.replaceChildren(
          emerging.length
            ? trendTable(tr, emerging, "phrase")
            : h("p", { class: "empty", text: tr("surges.emerging.none") }),
        );
      }
    } catch (e) {
      showError(view.topics, tr, e);
    }
  }
  return { poll };
}

// Rows as the server sorted them (by count); the meter compares each with the busiest.
function trendTable(tr, rows, first) {
  const max = Math.max(1, ...rows.map((r) => Math.max(r.count || 0, r.expected || 0)));
  const body = rows.map((r) => {
    const label = h("td", {}, r.title || r.key);
    if (r.surge_id) label.append(" ", h("span", { class: "badge sev-high", text: tr("surges.surging") }));
    return h(
      "tr",
      { class: r.surge_id ? "surging" : undefined, data: { key: r.key } },
      label,
      h(
        "td",
        { class: "num" },
        `${r.count} `,
        h("meter", { min: "0", max: String(max), value: String(r.count || 0) }),
      ),
      h("td", { class: "num", text: num(r.expected) }),
      h("td", { class: "num", text: r.expected > 0 ? `×${num(r.ratio)}` : "" }),
      h("td", { class: `trend trend-${r.trend}`, text: tr(`surges.trend.${r.trend}`) }),
    );
  });
  const cols = [first, "count", "expected", "ratio", "trend"].map((c) => tr(`surges.col.${c}`));
  return table(cols, body);
}

// ---------------------------------------------------------------------------------------------
// Surges now and before, each to acknowledge

function surgesPanel(ctx, tr, view, titles) {
  const keyName = (s) => (s.metric === "topic" && titles.get(s.key)) || s.key;
  const metricName = (m) => tr(`surges.metric.${m}`);

  async function poll() {
    let body;
    try {
      body = await ctx.api.get("/v1/surges?limit=50");
    } catch (e) {
      showError(view.active, tr, e);
      return;
    }
    const active = body.active || [];
    const items = body.items || [];
    if (changed(view.active, active)) view.active.replaceChildren(activeList(active));
    if (changed(view.archived, items)) view.archived.replaceChildren(historyTable(items));
  }

  function activeList(active) {
    if (!active.length) return h("p", { class: "empty", text: tr("surges.active.none") });
    return h(
      "ul",
      { class: "surge-list" },
      ...active.map((s) =>
        h(
          "li",
          { class: "surge-item sev-high", data: { surgeId: s.surge_id } },
          h("strong", { text: `${metricName(s.metric)} · ${keyName(s)}` }),
          " ",
          tr("surges.active.line", {
            count: s.count,
            expected: num(s.expected),
            ratio: num(s.ratio),
            time: fmtTime(ctx, s.raised_at),
          }),
          " ",
          ackArea(s),
        ),
      ),
    );
  }

  function historyTable(items) {
    if (!items.length) return h("p", { class: "empty", text: tr("surges.archived.none") });
    const rows = items.map((s) =>
      h(
        "tr",
        { class: `state-${s.state}`, data: { surgeId: s.surge_id } },
        h("td", {}, h("time", { datetime: s.window_end || "", text: fmtTime(ctx, s.window_end) })),
        h("td", { text: metricName(s.metric) }),
        h("td", { text: keyName(s) }),
        h("td", { text: tr(`surges.state.${s.state}`) }),
        h("td", { class: "num", text: `${s.observed} / ${num(s.expected)}` }),
        h("td", { class: "num", text: `×${num(s.ratio)}` }),
        h("td", {}, ackArea(s)),
      ),
    );
    const cols = ["time", "metric", "key", "state", "count", "ratio", "ack"].map((c) =>
      tr(`surges.col.${c}`),
    );
    cols[4] = `${tr("surges.col.count")} / ${tr("surges.col.expected")}`;
    return table(cols, rows);
  }

  function ackArea(s) {
    const area = h("span", { class: "ack-area" });
    if (s.ack) area.append(ackStatus(s.ack));
    else {
      const button = h("button", { type: "button", class: "ack", text: tr("surges.ack") });
      button.addEventListener("click", () => ack(s, area, button));
      area.append(button);
    }
    return area;
  }

  function ackStatus(a) {
    return h("span", {
      class: "ack-status",
      data: { ackedBy: a.acked_by || "" },
      text: tr("surges.ack.by", { name: a.acked_by || "", time: fmtTime(ctx, a.acked_at) }),
    });
  }

  // The raised and cleared rows of one surge share the acknowledgement: show it on both.
  async function ack(s, area, button) {
    button.disabled = true;
    try {
      const r = await ctx.api.post(`/v1/surges/${encodeURIComponent(s.surge_id)}/ack`, {});
      for (const a of view.root.querySelectorAll(".ack-area")) {
        if (a.closest("[data-surge-id]").dataset.surgeId === s.surge_id) a.replaceChildren(ackStatus(r));
      }
      area.replaceChildren(ackStatus(r));
    } catch (e) {
      button.disabled = false;
      area.append(
        h("span", { class: "error", role: "alert", text: tr("surges.ack.failed", { error: errorText(e) }) }),
      );
    }
  }

  return { poll };
}
