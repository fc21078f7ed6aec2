// Text and formatting shared by every view: the string table (Chinese first, English beside
// it), t(), time and duration formats, and el(), the one way views build DOM. el() only ever
// sets text through textContent, so transcripts and other server text are never parsed as HTML.

export const strings = {
  zh: {
    "app.name": "callwatch 质检工作台",
    "nav.calls": "通话",
    "nav.terms": "词条准确率",
    "nav.live": "实时监控",
    "nav.alerts": "预警",
    "nav.surges": "话务浪涌",
    "nav.assist": "坐席助手",
    "nav.main": "主导航",
    "lang.label": "语言",
    "logout": "退出",
    "role.admin": "管理员",
    "role.supervisor": "班组长",
    "role.reviewer": "质检员",
    "role.agent": "坐席",
    "role.ingest": "接入",
    "role.metrics": "监控采集",
    "login.title": "登录",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.wrong": "用户名或密码错误，或账号已停用/锁定。",
    "login.throttled": "登录失败次数过多，请 {s} 秒后再试。",
    "login.throttledNoTime": "登录失败次数过多，请稍后再试。",
    "login.failed": "登录失败：{msg}",
    "denied.title": "无权访问",
    "denied.body": "此页面不对您的角色（{role}）开放。",
    "noworkspace.body": "接入角色（ingest）没有工作台；它只用于媒体接入。",
    "notfound": "没有这个页面。",
    "view.missing": "此页面尚未提供。",
    "loading": "加载中…",
    "error.generic": "出错了：{msg}",
    "error.notLanded": "服务器尚不支持此功能（{path} 返回 404）。",
    "error.network": "无法连接服务器。",
    "speaker.customer": "客户",
    "speaker.agent": "坐席",
    "speaker.unknown": "未知",
    "outcome.pass": "通过",
    "outcome.fail": "不通过",
    "outcome.not_applicable": "不适用",
    "sev.low": "低",
    "sev.medium": "中",
    "sev.high": "高",
    "sev.critical": "严重",
    "verdict.confirmed": "已确认",
    "verdict.rejected": "已驳回",
    "verdict.unreviewed": "未复核",
    "any": "全部",
  },
  en: {
    "app.name": "callwatch QA workspace",
    "nav.calls": "Calls",
    "nav.terms": "Term precision",
    "nav.live": "Live",
    "nav.alerts": "Alerts",
    "nav.surges": "Surges",
    "nav.assist": "Assist",
    "nav.main": "Main navigation",
    "lang.label": "Language",
    "logout": "Log out",
    "role.admin": "admin",
    "role.supervisor": "supervisor",
    "role.reviewer": "reviewer",
    "role.agent": "agent",
    "role.ingest": "ingest",
    "role.metrics": "metrics",
    "login.title": "Log in",
    "login.username": "User name",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.wrong": "Wrong user name or password, or the account is disabled or locked.",
    "login.throttled": "Too many failed logins; try again in {s} s.",
    "login.throttledNoTime": "Too many failed logins; try again later.",
    "login.failed": "Login failed: {msg}",
    "denied.title": "Not available",
    "denied.body": "This page is not available for your role ({role}).",
    "noworkspace.body": "The ingest role has no workspace; it is for media sources only.",
    "notfound": "No such page.",
    "view.missing": "This page is not available yet.",
    "loading": "Loading…",
    "error.generic": "Something went wrong: {msg}",
    "error.notLanded": "The server does not offer this yet ({path} answered 404).",
    "error.network": "Cannot reach the server.",
    "speaker.customer": "Customer",
    "speaker.agent": "Agent",
    "speaker.unknown": "Unknown",
    "outcome.pass": "pass",
    "outcome.fail": "fail",
    "outcome.not_applicable": "n/a",
    "sev.low": "low",
    "sev.medium": "medium",
    "sev.high": "high",
    "sev.critical": "critical",
    "verdict.confirmed": "confirmed",
    "verdict.rejected": "rejected",
    "verdict.unreviewed": "unreviewed",
    "any": "any",
  },
};

/** Adds a view module's own `strings` to the table (later modules win on a clash). */
export function mergeStrings(more) {
  if (!more) return;
  for (const lang of Object.keys(more)) {
    strings[lang] = Object.assign(strings[lang] || {}, more[lang]);
  }
}

/** The string `key` in `lang` with `{name}` placeholders filled; English, then the key, when missing. */
export function t(lang, key, vars) {
  const s = strings[lang]?.[key] ?? strings.en[key] ?? key;
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/**
 * Builds an element: `el("a#id.btn.small", {href: "#/x", onclick: f}, "text", child, ...)`.
 * Attributes whose value is null/undefined/false are skipped; `on*` functions become listeners;
 * `dataset` takes an object. Children are nodes or text (set as text nodes, never as HTML).
 */
export function el(spec, attrs, ...children) {
  const [head, ...classes] = spec.split(".");
  const [tag, id] = head.split("#");
  const node = document.createElement(tag || "div");
  if (id) node.id = id;
  if (classes.length) node.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "class") node.className = [node.className, v].filter(Boolean).join(" ");
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Milliseconds since the epoch of an RFC 3339 time; tolerant of nanosecond fractions. */
export function parseTime(s) {
  if (!s) return NaN;
  return Date.parse(String(s).replace(/(\.\d{3})\d+/, "$1"));
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** Local date and time, `2024-05-01 09:30:12`: the same in both languages, sortable by eye. */
export function fmtDateTime(s) {
  const ms = typeof s === "number" ? s : parseTime(s);
  if (!Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A media position or duration in ms as `m:ss` (or `h:mm:ss`). */
export function fmtClock(ms) {
  if (ms == null || !Number.isFinite(ms)) return "—";
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** A QA score for display (one decimal at most). */
export function fmtScore(n) {
  return n == null || !Number.isFinite(Number(n)) ? "—" : String(Math.round(Number(n) * 10) / 10);
}

// Known lexicon categories keep a fixed colour so reviewers learn them; any other category gets
// one of the remaining palette slots from its name, stable across pages.
const CATEGORY_SLOT = { sales_promise: 0, complaint: 1, rudeness: 2, fraud: 3, compliance: 4, service_script: 5 };
const SLOTS = 8;

/** The CSS class colouring a hit category: `cat-0` … `cat-7`. */
export function catClass(category) {
  if (category in CATEGORY_SLOT) return `cat-${CATEGORY_SLOT[category]}`;
  let h = 0;
  for (const ch of String(category)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return `cat-${6 + (h % (SLOTS - 6))}`;
}

/** Severity class: `sev-low` … `sev-critical` (unknown levels look like low). */
export function sevClass(level) {
  return ["low", "medium", "high", "critical"].includes(level) ? `sev-${level}` : "sev-low";
}

// createElement with text, classes, data-* and listeners; children are nodes or plain text.
// (Server text only ever goes in as text.)
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "data") Object.assign(el.dataset, v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

// A view's own strings first (so it works whatever the shared table holds), then the app's.
export function translatorFor(own, ctx) {
  const table = own[ctx.lang] || own.zh;
  return (key, vars) => {
    const s = table[key];
    if (s === undefined) return ctx.t ? ctx.t(key, vars) : key;
    return vars ? s.replace(/\{(\w+)\}/g, (m, n) => (n in vars ? String(vars[n]) : m)) : s;
  };
}
