// The workspace shell: login page, header (user, role, nav by role, language, logout), and the
// hash router that mounts one view at a time. Views live in their own modules and only see the
// `ctx` built here, so each can be written and changed on its own.

import { api, setUnauthorizedHandler } from "./api.js";
import { mergeStrings, t as translate, el } from "./i18n.js";
// Namespace imports: a view module that does not (yet) export `mount` or `strings` leaves the
// property undefined instead of failing the whole page at link time.
import * as calls from "./calls.js";
import * as detail from "./detail.js";
import * as live from "./live.js";
import * as surges from "./surges.js";

for (const m of [calls, detail, live, surges]) mergeStrings(m.strings);

const LANG_KEY = "callwatch.lang";
const ARCHIVE = ["admin", "supervisor", "reviewer"];
const BOARD = ["admin", "supervisor"];

// Each route: a pattern over the hash path, the module and export that draw it, who may see it.
const ROUTES = [
  { name: "calls", re: /^\/calls\/?$/, mod: calls, roles: ARCHIVE },
  { name: "terms", re: /^\/terms\/?$/, mod: calls, fn: "mountTerms", roles: ARCHIVE },
  { name: "detail", re: /^\/calls\/(.+)$/, mod: detail, roles: ARCHIVE },
  { name: "live", re: /^\/live(?:\/(.+))?$/, mod: live, roles: BOARD },
  { name: "alerts", re: /^\/alerts\/?$/, mod: live, roles: BOARD },
  { name: "surges", re: /^\/surges\/?$/, mod: surges, roles: BOARD },
  { name: "assist", re: /^\/assist\/?$/, mod: live, roles: ["agent", ...BOARD] },
];

const NAV = {
  admin: ["live", "alerts", "surges", "calls", "terms"],
  supervisor: ["live", "alerts", "surges", "calls", "terms"],
  reviewer: ["calls", "terms"],
  agent: ["assist"],
  ingest: [],
};

const LANDING = { admin: "#/live", supervisor: "#/live", reviewer: "#/calls", agent: "#/assist" };

const state = {
  lang: loadLang(),
  me: null,
  unmount: null,
  returnTo: null,
  view: null,
  root: document.getElementById("app"),
};

function loadLang() {
  try {
    const v = localStorage.getItem(LANG_KEY);
    return v === "en" || v === "zh" ? v : "zh";
  } catch {
    return "zh";
  }
}

const t = (key, vars) => translate(state.lang, key, vars);

function setLang(lang) {
  state.lang = lang;
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // Private mode without storage: the switch still holds for this page.
  }
  applyLang();
  // Redraw everything so every visible string follows; view state worth keeping is in the hash.
  if (state.me) {
    renderShell();
    route();
  } else {
    showLogin();
  }
}

function applyLang() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("app.name");
}

function langSwitch() {
  const button = (lang, label) =>
    el("button.lang", {
      type: "button",
      lang: lang === "zh" ? "zh-CN" : "en",
      "aria-pressed": String(state.lang === lang),
      onclick: () => state.lang !== lang && setLang(lang),
    }, label);
  return el("div.lang-switch", { role: "group", "aria-label": t("lang.label") },
    button("zh", "中文"), button("en", "English"));
}

// ---------------------------------------------------------------------------------------------
// Login

function showLogin(message) {
  unmountView();
  applyLang();
  const error = el("p.form-error", { role: "alert", id: "login-error" }, message || "");
  const user = el("input", { name: "username", id: "login-username", autocomplete: "username", required: true });
  const pass = el("input", { name: "password", id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const submit = el("button.primary", { type: "submit" }, t("login.submit"));
  const form = el("form.login-form", { method: "post", action: "/v1/login", "aria-describedby": "login-error" },
    el("h1", {}, t("app.name")),
    el("h2", {}, t("login.title")),
    el("label", { for: "login-username" }, t("login.username")), user,
    el("label", { for: "login-password" }, t("login.password")), pass,
    submit, error);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    login(user.value, pass.value, error, submit);
  });
  state.root.replaceChildren(el("main.login-page", {}, el("div.login-top", {}, langSwitch()), form));
  user.focus();
}

async function login(username, password, error, submit) {
  submit.disabled = true;
  error.textContent = "";
  try {
    await api.post("/v1/login", { username, password });
    state.me = await api.get("/v1/me");
    const target = state.returnTo && !state.returnTo.startsWith("#/login") ? state.returnTo : landing();
    state.returnTo = null;
    renderShell();
    redirect(target);
  } catch (e) {
    error.textContent = loginMessage(e);
    submit.disabled = false;
  }
}

function loginMessage(e) {
  if (e.status === 401) return t("login.wrong");
  if (e.status === 429) return e.retryAfter ? t("login.throttled", { s: e.retryAfter }) : t("login.throttledNoTime");
  if (e.status === 0) return t("error.network");
  return t("login.failed", { msg: e.message });
}

async function logout() {
  try {
    await api.post("/v1/logout");
  } catch {
    // The session may already be gone; the login page is right either way.
  }
  state.me = null;
  history.replaceState(null, "", "#/login");
  showLogin();
}

// The session ended under us (expired, revoked, logged out elsewhere): back to the login page,
// then on to where the user was.
setUnauthorizedHandler(() => {
  if (!state.me) return;
  state.me = null;
  if (!location.hash.startsWith("#/login")) state.returnTo = location.hash;
  history.replaceState(null, "", "#/login");
  showLogin();
});

// ---------------------------------------------------------------------------------------------
// Shell and router

function landing() {
  return LANDING[state.me?.role] || "#/none";
}

function renderShell() {
  unmountView();
  applyLang();
  const me = state.me;
  const nav = el("nav.main-nav", { "aria-label": t("nav.main") },
    (NAV[me.role] || []).map((name) => el("a", { href: `#/${name}`, dataset: { route: name } }, t(`nav.${name}`))));
  const user = el("span.user", {}, el("span.user-name", {}, me.name || ""), " ",
    el("span.role-badge", {}, t(`role.${me.role}`)));
  const header = el("header.app-header", {},
    el("a.brand", { href: landing() }, "callwatch"),
    nav,
    el("div.header-right", {}, user, langSwitch(),
      el("button.link-button", { type: "button", onclick: logout, id: "logout" }, t("logout"))));
  state.view = el("main#view.view", { tabindex: "-1" });
  state.root.replaceChildren(header, state.view);
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const i = raw.indexOf("?");
  const path = i < 0 ? raw : raw.slice(0, i);
  const query = Object.fromEntries(new URLSearchParams(i < 0 ? "" : raw.slice(i + 1)));
  return { path, query, hash: `#${raw}` };
}

/** Goes to `hash`; re-renders when it is already the current one (a repeated search, say). */
function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** Goes to `hash` in place of the current entry, so "back" does not land on a redirect. */
function redirect(hash) {
  history.replaceState(null, "", hash);
  route();
}

function unmountView() {
  const u = state.unmount;
  state.unmount = null;
  if (typeof u === "function") {
    try {
      u();
    } catch (e) {
      console.warn("view unmount failed", e);
    }
  }
}

function notice(kind, title, body) {
  state.view.dataset.view = kind;
  state.view.replaceChildren(el("section.notice", {}, title ? el("h1", {}, title) : null, el("p", {}, body)));
}

function route() {
  if (!state.me) return;
  const { path, query, hash } = parseHash();
  const role = state.me.role;
  if (path === "/" || path === "" || path.startsWith("/login")) {
    if (LANDING[role]) return redirect(LANDING[role]);
  }
  unmountView();
  markNav(path);
  if (role === "ingest" || !LANDING[role]) return notice("none", t("denied.title"), t("noworkspace.body"));
  const found = ROUTES.map((r) => ({ r, m: path.match(r.re) })).find((x) => x.m);
  if (!found) return notice("notfound", null, t("notfound"));
  const { r, m } = found;
  if (!r.roles.includes(role)) return notice("denied", t("denied.title"), t("denied.body", { role: t(`role.${role}`) }));
  mountView(r, { route: r.name, id: m[1] ? decodeURIComponent(m[1]) : undefined, path, query, hash });
}

function mountView(r, params) {
  const mount = r.mod[r.fn || "mount"];
  if (typeof mount !== "function") return notice(r.name, null, t("view.missing"));
  state.view.replaceChildren();
  state.view.dataset.view = r.name;
  const ctx = { api, t, lang: state.lang, me: state.me, navigate, params };
  try {
    state.unmount = mount(state.view, ctx) || null;
  } catch (e) {
    console.error(e);
    notice(r.name, null, t("error.generic", { msg: e.message }));
  }
}

function markNav(path) {
  for (const a of document.querySelectorAll(".main-nav a")) {
    const name = a.dataset.route;
    const active = path === `/${name}` || path.startsWith(`/${name}/`);
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function boot() {
  applyLang();
  window.addEventListener("hashchange", route);
  try {
    state.me = await api.get("/v1/me");
  } catch (e) {
    if (!location.hash.startsWith("#/login") && location.hash.length > 2) state.returnTo = location.hash;
    showLogin(e.status === 401 ? "" : loginMessage(e));
    return;
  }
  renderShell();
  route();
}

boot();
