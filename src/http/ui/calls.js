// The reviewer's call list (#/calls) and the term precision report (#/terms). Every filter lives
// in the hash query, named as the API names it, so a reload or a shared link shows the same list
// and the CSV export asks for exactly the calls on screen.

import { el, fmtDateTime, fmtClock, fmtScore, catClass, parseTime } from "./i18n.js";

export const strings = {
  zh: {
    "calls.title": "通话列表",
    "calls.filters": "筛选条件",
    "calls.f.from": "开始时间起",
    "calls.f.to": "开始时间止",
    "calls.f.agent_id": "坐席",
    "calls.f.queue": "队列",
    "calls.f.source": "来源",
    "calls.f.end_reason": "结束原因",
    "calls.f.category": "命中类别",
    "calls.f.term": "命中词",
    "calls.f.rule": "触发规则",
    "calls.f.alert_level": "预警级别",
    "calls.f.min_score": "质检分 ≥",
    "calls.f.max_score": "质检分 ≤",
    "calls.f.passed": "质检结果",
    "calls.f.reviewed": "复核状态",
    "calls.f.verdict": "命中复核",
    "calls.f.q": "通话内容",
    "calls.f.speaker": "说话人",
    "calls.f.mode": "匹配方式",
    "calls.mode.exact": "字面一致",
    "calls.mode.pinyin": "同音（拼音相同）",
    "calls.mode.near": "近音（可差一个音节）",
    "calls.f.sort": "排序",
    "calls.f.limit": "每页",
    "calls.passed.true": "通过",
    "calls.passed.false": "不通过",
    "calls.reviewed.true": "已复核",
    "calls.reviewed.false": "未复核",
    "calls.sort.newest": "最新在前",
    "calls.sort.oldest": "最早在前",
    "calls.sort.score_asc": "分数由低到高",
    "calls.sort.score_desc": "分数由高到低",
    "calls.search": "查询",
    "calls.reset": "清空",
    "calls.export": "导出 CSV",
    "calls.terms": "词条准确率",
    "calls.total": "共 {n} 通",
    "calls.totalUnknown": "本页 {n} 通",
    "calls.page": "第 {n} 页",
    "calls.prev": "上一页",
    "calls.next": "下一页",
    "calls.empty": "没有符合条件的通话。",
    "calls.col.started": "开始时间 / 通话 ID",
    "calls.col.agent": "坐席",
    "calls.col.queue": "队列",
    "calls.col.duration": "时长",
    "calls.col.hits": "命中",
    "calls.col.qa": "质检",
    "calls.col.reviewed": "复核",
    "calls.reviewedBy": "{who} 于 {when} 复核",
    "calls.ongoing": "进行中",
    "calls.noHits": "无",
    "terms.title": "词条准确率",
    "terms.back": "返回通话列表",
    "terms.col.term": "词条",
    "terms.col.category": "类别",
    "terms.col.hits": "命中",
    "terms.col.confirmed": "确认",
    "terms.col.rejected": "驳回",
    "terms.col.unreviewed": "未复核",
    "terms.col.precision": "准确率",
    "terms.empty": "所选时间内没有命中。",
    "terms.hint": "准确率 = 确认 ÷（确认 + 驳回）；驳回多的词条需要调整。点击词条查看通话。",
  },
  en: {
    "calls.title": "Calls",
    "calls.filters": "Filters",
    "calls.f.from": "Started from",
    "calls.f.to": "Started before",
    "calls.f.agent_id": "Agent",
    "calls.f.queue": "Queue",
    "calls.f.source": "Source",
    "calls.f.end_reason": "End reason",
    "calls.f.category": "Hit category",
    "calls.f.term": "Hit term",
    "calls.f.rule": "Rule fired",
    "calls.f.alert_level": "Alert level",
    "calls.f.min_score": "QA score ≥",
    "calls.f.max_score": "QA score ≤",
    "calls.f.passed": "QA result",
    "calls.f.reviewed": "Review",
    "calls.f.verdict": "Hit verdict",
    "calls.f.q": "Words said",
    "calls.f.speaker": "Speaker",
    "calls.f.mode": "Match",
    "calls.mode.exact": "as written",
    "calls.mode.pinyin": "same pinyin",
    "calls.mode.near": "near (one syllable may differ)",
    "calls.f.sort": "Sort",
    "calls.f.limit": "Per page",
    "calls.passed.true": "passed",
    "calls.passed.false": "failed",
    "calls.reviewed.true": "reviewed",
    "calls.reviewed.false": "not reviewed",
    "calls.sort.newest": "newest first",
    "calls.sort.oldest": "oldest first",
    "calls.sort.score_asc": "score, low to high",
    "calls.sort.score_desc": "score, high to low",
    "calls.search": "Search",
    "calls.reset": "Clear",
    "calls.export": "Export CSV",
    "calls.terms": "Term precision",
    "calls.total": "{n} calls",
    "calls.totalUnknown": "{n} calls on this page",
    "calls.page": "page {n}",
    "calls.prev": "Previous",
    "calls.next": "Next page",
    "calls.empty": "No calls match these filters.",
    "calls.col.started": "Started / call id",
    "calls.col.agent": "Agent",
    "calls.col.queue": "Queue",
    "calls.col.duration": "Duration",
    "calls.col.hits": "Hits",
    "calls.col.qa": "QA",
    "calls.col.reviewed": "Review",
    "calls.reviewedBy": "reviewed by {who} at {when}",
    "calls.ongoing": "ongoing",
    "calls.noHits": "none",
    "terms.title": "Term precision",
    "terms.back": "Back to calls",
    "terms.col.term": "Term",
    "terms.col.category": "Category",
    "terms.col.hits": "Hits",
    "terms.col.confirmed": "Confirmed",
    "terms.col.rejected": "Rejected",
    "terms.col.unreviewed": "Unreviewed",
    "terms.col.precision": "Precision",
    "terms.empty": "No hits in this period.",
    "terms.hint": "Precision = confirmed ÷ (confirmed + rejected); terms often rejected need tuning. Click a term for its calls.",
  },
};

const CATEGORIES = ["sales_promise", "complaint", "rudeness", "fraud", "compliance", "service_script"];
const SOURCES = ["twilio", "audio_fork", "siprec", "rtp", "audiosocket", "whip", "file"];
const END_REASONS = ["hangup", "media_timeout", "deleted", "shutdown", "failed"];
const LEVELS = ["low", "medium", "high", "critical"];
const SORTS = ["newest", "oldest", "score_asc", "score_desc"];
const LIMITS = ["25", "50", "100", "200"];

// The filter form, in display order. `kind`: text (with optional suggestions), datetime,
// number, or choice (a select whose empty option means "any").
const FILTERS = [
  { key: "from", kind: "datetime" },
  { key: "to", kind: "datetime" },
  { key: "agent_id", kind: "text" },
  { key: "queue", kind: "text" },
  { key: "source", kind: "text", list: SOURCES },
  { key: "end_reason", kind: "text", list: END_REASONS },
  { key: "category", kind: "text", list: CATEGORIES },
  { key: "term", kind: "text" },
  { key: "rule", kind: "text" },
  { key: "alert_level", kind: "choice", options: LEVELS, label: (t, v) => t(`sev.${v}`) },
  { key: "verdict", kind: "choice", options: ["confirmed", "rejected", "unreviewed"], label: (t, v) => t(`verdict.${v}`) },
  { key: "min_score", kind: "number" },
  { key: "max_score", kind: "number" },
  { key: "passed", kind: "choice", options: ["true", "false"], label: (t, v) => t(`calls.passed.${v}`) },
  { key: "reviewed", kind: "choice", options: ["true", "false"], label: (t, v) => t(`calls.reviewed.${v}`) },
  { key: "q", kind: "text", wide: true },
  { key: "mode", kind: "choice", options: ["exact", "pinyin", "near"], label: (t, v) => t(`calls.mode.${v}`) },
  { key: "speaker", kind: "choice", options: ["customer", "agent"], label: (t, v) => t(`speaker.${v}`) },
];
const FILTER_KEYS = [...FILTERS.map((f) => f.key), "sort"];

const PAGES_KEY = "callwatch.calls.pages";
const LIST_KEY = "callwatch.calls.list";

/** The page size from the hash: any the API takes (1–500), "" for the default. */
function pageSize(v) {
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 && n <= 500 && n !== 50 ? String(n) : "";
}

/** The list filters in a hash query (only known keys, non-empty; the default sort left out). */
function filtersOf(query) {
  const f = {};
  for (const k of FILTER_KEYS) if (query[k]) f[k] = query[k];
  if (f.sort === "newest") delete f.sort;
  return f;
}

function search(obj) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v != null && v !== "") q.set(k, v);
  return q.toString();
}

export function mount(root, ctx) {
  const { t, api, params } = ctx;
  const filters = filtersOf(params.query);
  const limit = pageSize(params.query.limit);
  const cursor = params.query.cursor || "";
  remember(LIST_KEY, params.hash);

  const results = el("section.results", { "aria-live": "polite", "aria-busy": "true" }, el("p.muted", {}, t("loading")));
  root.append(
    el("div.page-head", {},
      el("h1", {}, t("calls.title")),
      el("div.page-actions", {},
        el("a.button", { href: `#/terms${filters.from || filters.to ? `?${search({ from: filters.from, to: filters.to })}` : ""}`, id: "terms-link" }, t("calls.terms")),
        el("a.button", { href: `/v1/calls?${search({ format: "csv", ...filters })}`, download: "calls.csv", id: "export-csv" }, t("calls.export")))),
    filterForm(ctx, filters, limit),
    results);

  let alive = true;
  const query = `/v1/calls?${search({ ...filters, limit, cursor })}`;
  api.get(query).then(
    (page) => alive && renderPage(results, ctx, page, { filters, limit, cursor }),
    (e) => alive && showError(results, t, e));
  return () => { alive = false; };
}

// ---------------------------------------------------------------------------------------------
// Filters

function filterForm(ctx, filters, limit) {
  const { t } = ctx;
  const fields = FILTERS.map((f) => field(t, f, filters[f.key] || ""));
  const sort = choice("sort", SORTS, filters.sort || "newest", (v) => t(`calls.sort.${v}`), false);
  const sizes = limit && !LIMITS.includes(limit) ? [limit, ...LIMITS] : LIMITS;
  const size = choice("limit", sizes, limit || "50", (v) => v, false);
  const form = el("form.filters", { role: "search", "aria-label": t("calls.filters") },
    el("div.filter-grid", {}, fields,
      labelled(t("calls.f.sort"), sort), labelled(t("calls.f.limit"), size)),
    el("div.filter-actions", {},
      el("button.primary", { type: "submit", id: "search" }, t("calls.search")),
      el("button", { type: "reset" }, t("calls.reset"))),
    FILTERS.filter((f) => f.list).map((f) =>
      el("datalist", { id: `dl-${f.key}` }, f.list.map((v) => el("option", { value: v })))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    ctx.navigate(hashOf(form));
  });
  form.addEventListener("reset", (e) => {
    e.preventDefault();
    ctx.navigate("#/calls");
  });
  return form;
}

function field(t, f, value) {
  const id = `f-${f.key}`;
  let input;
  if (f.kind === "choice") input = choice(f.key, f.options, value, (v) => f.label(t, v), t("any"));
  else if (f.kind === "datetime") input = el("input", { type: "datetime-local", name: f.key, id, value: toLocalInput(value) });
  else if (f.kind === "number") input = el("input", { type: "number", name: f.key, id, min: "0", max: "100", step: "any", value });
  else input = el("input", { type: "search", name: f.key, id, value, list: f.list ? `dl-${f.key}` : null, autocomplete: "off" });
  input.id = id;
  return labelled(t(`calls.f.${f.key}`), input, f.wide ? "wide" : "");
}

function choice(name, options, value, label, anyLabel) {
  const select = el("select", { name, id: `f-${name}` },
    anyLabel ? el("option", { value: "" }, anyLabel) : null,
    options.map((v) => el("option", { value: v }, label(v))));
  select.value = value;
  return select;
}

function labelled(text, input, extra) {
  return el("label.field", { class: extra || null }, el("span.field-label", {}, text), input);
}

/** The hash for the form's current values; times go out as RFC 3339 (UTC). */
function hashOf(form) {
  const f = {};
  for (const [k, v] of new FormData(form)) {
    const s = String(v).trim();
    if (!s) continue;
    f[k] = k === "from" || k === "to" ? fromLocalInput(s) : s;
  }
  if (f.sort === "newest") delete f.sort;
  if (f.limit === "50") delete f.limit;
  const q = search(f);
  return q ? `#/calls?${q}` : "#/calls";
}

// datetime-local inputs speak the browser's local time without an offset.
function toLocalInput(iso) {
  const ms = parseTime(iso);
  if (!Number.isFinite(ms)) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function fromLocalInput(v) {
  const d = new Date(v);
  return Number.isFinite(d.getTime()) ? d.toISOString() : v;
}

// ---------------------------------------------------------------------------------------------
// Results

function renderPage(results, ctx, page, view) {
  const { t } = ctx;
  const items = page?.items || [];
  const pages = pageTrail(view);
  const index = pages.indexOf(view.cursor);
  const count = typeof page.total === "number" ? t("calls.total", { n: page.total }) : t("calls.totalUnknown", { n: items.length });
  const go = (c) => ctx.navigate(`#/calls?${search({ ...view.filters, limit: view.limit, cursor: c })}`);
  const prev = el("button", { type: "button", id: "prev-page", disabled: index <= 0, onclick: () => go(pages[index - 1]) }, t("calls.prev"));
  const next = el("button", {
    type: "button", id: "next-page", disabled: !page.next_cursor,
    onclick: () => {
      savePages(view, [...pages.slice(0, index + 1), page.next_cursor]);
      go(page.next_cursor);
    },
  }, t("calls.next"));
  const bar = el("div.pager", {},
    el("span.total", { id: "calls-total" }, count),
    el("span.page-no", {}, t("calls.page", { n: index + 1 })), prev, next);
  results.setAttribute("aria-busy", "false");
  results.replaceChildren(bar, items.length ? table(ctx, items) : el("p.empty", {}, t("calls.empty")));
}

// The cursors of the pages visited under the current filters, first page "" — kept for the tab
// so "previous" and the page number survive a reload and the browser's back button.
function pageTrail(view) {
  const key = search({ ...view.filters, limit: view.limit });
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(PAGES_KEY) || "null");
  } catch {
    saved = null;
  }
  let pages = saved && saved.key === key && Array.isArray(saved.pages) ? saved.pages : [""];
  if (!pages.includes(view.cursor)) pages = view.cursor ? ["", view.cursor] : [""];
  savePages(view, pages);
  return pages;
}

function savePages(view, pages) {
  remember(PAGES_KEY, JSON.stringify({ key: search({ ...view.filters, limit: view.limit }), pages }));
}

function remember(key, value) {
  try {
    sessionStorage.setItem(key, value);
  } catch {
    // No storage: paging still works forward, the page number just restarts.
  }
}

function table(ctx, items) {
  const { t } = ctx;
  const head = ["started", "agent", "queue", "duration", "hits", "qa", "reviewed"].map((c) =>
    el("th", { scope: "col", class: `col-${c}` }, t(`calls.col.${c}`)));
  return el("table.data.calls-table", {},
    el("thead", {}, el("tr", {}, head)),
    el("tbody", {}, items.map((c) => row(ctx, c))));
}

function row(ctx, c) {
  const { t } = ctx;
  const href = `#/calls/${encodeURIComponent(c.id)}`;
  const tr = el("tr", { dataset: { callId: c.id } },
    el("td.col-started", {},
      el("a.call-link", { href }, el("span.when", {}, fmtDateTime(c.started_at)), el("span.call-id", {}, c.id))),
    el("td", {}, c.agent_id || "—"),
    el("td", {}, c.queue || "—"),
    el("td.num", {}, c.ended_at ? fmtClock(c.duration_ms) : el("span.muted", {}, t("calls.ongoing"))),
    el("td", {}, hitChips(t, c.hits_by_category)),
    el("td", {}, qaCell(t, c.qa)),
    el("td", {}, reviewCell(t, c.review)));
  // The row is a mouse target too; the link stays the keyboard's way in.
  tr.addEventListener("click", (e) => {
    if (!e.target.closest("a") && !window.getSelection()?.toString()) ctx.navigate(href);
  });
  return tr;
}

function hitChips(t, byCat) {
  const cats = Object.entries(byCat || {}).filter(([, n]) => n > 0);
  if (!cats.length) return el("span.muted", {}, t("calls.noHits"));
  return el("span.chips", {}, cats.map(([cat, n]) =>
    el("span.chip", { class: catClass(cat), title: cat }, `${cat} ${n}`)));
}

function qaCell(t, qa) {
  if (!qa) return el("span.muted", {}, "—");
  return el("span.qa", {},
    el("span.score", {}, fmtScore(qa.score)), " ",
    el("span.badge", { class: qa.passed ? "pass" : "fail" }, t(`outcome.${qa.passed ? "pass" : "fail"}`)));
}

function reviewCell(t, review) {
  if (!review) return el("span.muted", { "aria-label": t("calls.reviewed.false") }, "—");
  const title = t("calls.reviewedBy", { who: review.reviewer, when: fmtDateTime(review.reviewed_at) });
  return el("span.reviewed-mark", { title }, "✓ ", review.reviewer || t("calls.reviewed.true"));
}

function showError(box, t, e) {
  box.setAttribute("aria-busy", "false");
  const msg = e.status === 404 ? t("error.notLanded", { path: e.path }) : t("error.generic", { msg: e.message });
  box.replaceChildren(el("p.error-box", { role: "alert" }, msg));
}

// ---------------------------------------------------------------------------------------------
// Term precision (#/terms): how often reviewers confirmed each term's hits.

export function mountTerms(root, ctx) {
  const { t, api, params } = ctx;
  const f = { from: params.query.from, to: params.query.to, category: params.query.category };
  const box = el("section.results", { "aria-busy": "true" }, el("p.muted", {}, t("loading")));
  root.append(
    el("div.page-head", {}, el("h1", {}, t("terms.title")),
      el("div.page-actions", {}, el("a.button", { href: backToList() }, t("terms.back")))),
    termsForm(ctx, f),
    el("p.hint", {}, t("terms.hint")),
    box);
  let alive = true;
  api.get(`/v1/reports/terms${search(f) ? `?${search(f)}` : ""}`).then(
    (r) => alive && renderTerms(box, t, r?.items || [], f),
    (e) => alive && showError(box, t, e));
  return () => { alive = false; };
}

function backToList() {
  try {
    const h = sessionStorage.getItem(LIST_KEY);
    if (h && h.startsWith("#/calls")) return h;
  } catch {
    // fall through
  }
  return "#/calls";
}

function termsForm(ctx, f) {
  const { t } = ctx;
  const form = el("form.filters.inline", { role: "search" },
    field(t, FILTERS[0], f.from || ""), field(t, FILTERS[1], f.to || ""), field(t, FILTERS[6], f.category || ""),
    el("datalist", { id: "dl-category" }, CATEGORIES.map((v) => el("option", { value: v }))),
    el("button.primary", { type: "submit" }, t("calls.search")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const h = hashOf(form).replace(/^#\/calls/, "#/terms");
    ctx.navigate(h);
  });
  return form;
}

function renderTerms(box, t, items, f) {
  box.setAttribute("aria-busy", "false");
  if (!items.length) return box.replaceChildren(el("p.empty", {}, t("terms.empty")));
  const cols = ["term", "category", "hits", "confirmed", "rejected", "unreviewed", "precision"];
  box.replaceChildren(el("table.data.terms-table", {},
    el("thead", {}, el("tr", {}, cols.map((c) => el("th", { scope: "col", class: c === "term" || c === "category" ? null : "num" }, t(`terms.col.${c}`))))),
    el("tbody", {}, items.map((r) => el("tr", {},
      el("td", {}, el("a", { href: `#/calls?${search({ term: r.term, from: f.from, to: f.to })}` }, r.term)),
      el("td", {}, el("span.chip", { class: catClass(r.category) }, r.category)),
      el("td.num", {}, r.hits), el("td.num", {}, r.confirmed), el("td.num", {}, r.rejected), el("td.num", {}, r.unreviewed),
      el("td.num", {}, precisionCell(r.precision)))))));
}

function precisionCell(p) {
  if (p == null || !Number.isFinite(Number(p))) return el("span.muted", {}, "—");
  // A ratio (0–1) as the contract says; tolerate a server that already sends a percentage.
  const pct = Math.round((p > 1 ? p : p * 100) * 10) / 10;
  return el("span", { class: pct < 50 ? "precision-low" : pct < 80 ? "precision-mid" : "precision-high" }, `${pct}%`);
}
