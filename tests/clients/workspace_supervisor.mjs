// Drives the browser workspace as a supervisor in headless Chromium while a call streams in,
// and prints one JSON line of what it measured:
//   - login through the form at BASE_URL/ (inputs named username and password);
//   - #/live: ms from starting the trigger until the call's row (data-call-id) is on the board;
//   - #/live/CALL_ID: ms from opening the view until at least one final line shows;
//   - #/alerts: for each `alert` (and supervisor `rule.fired`) event seen on the script's own
//     WebSocket (/v1/events?type=alert,rule.fired, opened in the page before the trigger), the
//     ms until an element with that data-alert-id is on the page, counted from the event or
//     from opening #/alerts when the event came earlier (`before_page`); a negative delay means
//     the page showed it before the script's socket got it;
//   - acknowledges the first alert and reports whether "acked by <name>" shows;
//   - screenshots board.png, live.png, alerts.png, surges.png into SCREENSHOT_DIR.
// Timeouts waiting for the page are measurements (null), not errors; a script error (login
// refused, page never loads) exits non-zero.
//
// usage: WORKSPACE_TRIGGER='python3 fork_client.py ...' \
//   node workspace_supervisor.mjs BASE_URL USERNAME PASSWORD CALL_ID SCREENSHOT_DIR
// env: WORKSPACE_TRIGGER (shell command started once the board is open; its stdout is
//      discarded, its stderr passed on), CHROMIUM (browser path), ALERT_WAIT_MS (how long to
//      watch #/alerts without a trigger, default 20000).
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, username, password, callId, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node workspace_supervisor.mjs BASE_URL USERNAME PASSWORD CALL_ID SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const out = { call_id: callId, page_errors: [], failed_requests: [] };
const since = (t0) => Date.now() - t0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cssString = (s) => s.replace(/["\\]/g, "\\$&");

// Runs `fn` and returns its result, or null when it timed out.
async function orNull(fn) {
  try {
    return await fn();
  } catch (e) {
    if (e && e.name === "TimeoutError") return null;
    throw e;
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let trigger = null;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // Script errors and CSP refusals; failed requests are listed on their own (with the path),
  // from login on (the app's probe of /v1/me before it is a 401 by design).
  let loggedIn = false;
  page.on("console", (m) => {
    process.stderr.write(`page: ${m.text()}\n`);
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
      out.page_errors.push(m.text());
  });
  page.on("pageerror", (e) => out.page_errors.push(String(e)));
  page.on("response", (r) => {
    if (loggedIn && r.status() >= 400)
      out.failed_requests.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
  });
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));

  await login(page);
  loggedIn = true;
  await openBoard(page, sockets);
  await watchAlertsSocket(page);
  trigger = startTrigger();
  await boardRow(page, trigger.t0);
  await liveView(page);
  await alertsView(page, trigger);
  await surgesView(page);
  await finishTrigger(trigger);
  console.log(JSON.stringify(out));
} catch (e) {
  if (trigger && trigger.code === undefined) stopTrigger(trigger);
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}

async function login(page) {
  const t0 = Date.now();
  await page.goto(`${base}/`);
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  const answer = page.waitForResponse(
    (r) => r.url().endsWith("/v1/login") && r.request().method() === "POST",
  );
  await page.locator('form:has(input[name="password"]) [type="submit"]').click();
  const status = (await answer).status();
  if (status !== 200) throw new Error(`login answered ${status}`);
  await page.locator('input[name="password"]').waitFor({ state: "hidden", timeout: 10000 });
  out.login_ms = since(t0);
  out.me = await page.evaluate(async () => (await fetch("/v1/me")).json());
}

// The board is ready once its events socket is opening (the app lands a supervisor on #/live,
// so it may already be).
async function openBoard(page, sockets) {
  await page.evaluate(() => (location.hash = "#/live"));
  await page.locator('[data-view="live-board"]').waitFor({ timeout: 10000 });
  const boardSocket = () => sockets.some((u) => u.includes("/v1/events") && u.includes("call.started"));
  for (let i = 0; i < 50 && !boardSocket(); i++) await sleep(100);
  out.board_socket = boardSocket();
  await sleep(300);
}

// The script's own socket and a record of when each alert element first appears, both in
// the page's clock (performance.now) so the delays do not include the test's own latency.
async function watchAlertsSocket(page) {
  out.own_socket = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const w = (window.__cwWatch = { events: [], seen: {}, seenKey: {} });
        const note = () => {
          const now = performance.now();
          // Only the feed counts: the live call view shows the same alerts as cards.
          for (const el of document.querySelectorAll('[data-view="alerts-feed"] [data-alert-id]')) {
            if (!(el.dataset.alertId in w.seen)) w.seen[el.dataset.alertId] = now;
          }
          for (const el of document.querySelectorAll('[data-view="alerts-feed"] [data-call-id][data-key]')) {
            const k = `${el.dataset.callId}|${el.dataset.key}`;
            if (!(k in w.seenKey)) w.seenKey[k] = now;
          }
        };
        new MutationObserver(note).observe(document.body, {
          childList: true,
          subtree: true,
          attributes: true,
        });
        const scheme = location.protocol === "https:" ? "wss" : "ws";
        const ws = new WebSocket(`${scheme}://${location.host}/v1/events?type=alert,rule.fired`);
        ws.onmessage = (m) => {
          const t = performance.now();
          const e = JSON.parse(m.data);
          if (e.type === "rule.fired" && !(e.actions || []).includes("alert_supervisor")) return;
          w.events.push({
            type: e.type,
            alert_id: e.alert_id || null,
            call_id: e.call_id,
            key: e.signal || e.rule_id,
            level: e.level || e.severity,
            t,
          });
        };
        ws.onopen = () => resolve("open");
        ws.onerror = () => resolve("refused");
      }),
  );
}

function startTrigger() {
  const t0 = Date.now();
  const cmd = process.env.WORKSPACE_TRIGGER;
  if (!cmd) return { t0, code: null, done: Promise.resolve(null) };
  const child = spawn(cmd, { shell: true, detached: true, stdio: ["ignore", "ignore", "inherit"] });
  const t = { t0, child, code: undefined };
  t.done = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      t.code = code ?? signal;
      t.ended_ms = since(t0);
      resolve(t.code);
    }),
  );
  return t;
}

async function boardRow(page, t0) {
  const row = await orNull(() =>
    page.waitForFunction(
      (id) =>
        [...document.querySelectorAll('[data-view="live-board"] [data-call-id]')].some(
          (r) => r.dataset.callId === id,
        ),
      callId,
      { timeout: 60000 },
    ),
  );
  out.board_row_ms = row ? since(t0) : null;
  // A moment for the first line to reach the row, so the screenshot shows one.
  await orNull(() =>
    page.waitForFunction(
      (id) =>
        [...document.querySelectorAll('[data-view="live-board"] [data-call-id]')].some(
          (r) => r.dataset.callId === id && r.querySelector(".col-line .text"),
        ),
      callId,
      { timeout: 5000 },
    ),
  );
  await page.screenshot({ path: join(shots, "board.png"), fullPage: true });
}

async function liveView(page) {
  const t0 = Date.now();
  await page.evaluate((id) => (location.hash = `#/live/${encodeURIComponent(id)}`), callId);
  await page.locator('[data-view="live-call"]').waitFor({ timeout: 10000 });
  const line = await orNull(() =>
    page.locator('[data-view="live-call"] .utt:not(.partial)').first().waitFor({ timeout: 60000 }),
  );
  out.live_final_ms = line === null ? null : since(t0);
  await sleep(1000);
  out.live_lines = await page.locator('[data-view="live-call"] .utt:not(.partial)').count();
  out.live_hits = await page.locator('[data-view="live-call"] mark.hit').count();
  await page.screenshot({ path: join(shots, "live.png"), fullPage: true });
}

// Watches #/alerts until the call is over (or ALERT_WAIT_MS without a trigger) and every
// alert the socket saw is on the page.
async function alertsView(page, trig) {
  await page.evaluate(() => {
    window.__cwWatch.opened = performance.now();
    location.hash = "#/alerts";
  });
  await page.locator('[data-view="alerts-feed"]').waitFor({ timeout: 10000 });
  const waitMs = trig.child ? 120000 : Number(process.env.ALERT_WAIT_MS || 20000);
  const until = Date.now() + waitMs;
  let graceUntil = Infinity;
  for (;;) {
    const w = await page.evaluate(() => window.__cwWatch);
    const allSeen = w.events.every((e) =>
      e.alert_id ? e.alert_id in w.seen : `${e.call_id}|${e.key}` in w.seenKey,
    );
    const over = trig.child ? trig.code !== undefined : Date.now() >= until;
    if (over && graceUntil === Infinity) graceUntil = Date.now() + 3000;
    if ((over && allSeen && w.events.length) || Date.now() >= Math.min(until, graceUntil)) break;
    await sleep(250);
  }
  const w = await page.evaluate(() => window.__cwWatch);
  out.alerts = w.events.map((e) => {
    const seen = e.alert_id ? w.seen[e.alert_id] : w.seenKey[`${e.call_id}|${e.key}`];
    const from = Math.max(e.t, w.opened);
    return {
      type: e.type,
      alert_id: e.alert_id,
      call_id: e.call_id,
      key: e.key,
      level: e.level,
      before_page: e.t < w.opened,
      delay_ms: seen === undefined ? null : Math.round(seen - from),
    };
  });
  const delays = out.alerts.map((a) => a.delay_ms).filter((d) => d !== null);
  out.alerts_max_delay_ms = delays.length ? Math.max(...delays) : null;
  out.alerts_on_page = await page.locator('[data-view="alerts-feed"] [data-alert-id]').count();
  await acknowledge(page);
  await page.screenshot({ path: join(shots, "alerts.png"), fullPage: true });
}

// Acknowledges the first alert that can be (this call's if it has one) and reads back the
// acknowledgement the page shows.
async function acknowledge(page) {
  const ready = '[data-view="alerts-feed"] [data-alert-id]';
  const open = page.locator(`${ready}:has(button.ack:enabled)`);
  const mine = page.locator(`${ready}[data-call-id="${cssString(callId)}"]:has(button.ack:enabled)`);
  const first = (await mine.count()) ? mine.first() : open.first();
  if (!(await first.count())) {
    out.ack = null;
    return;
  }
  // Pinned by id: once acknowledged it no longer matches the "has a button" locator.
  const alertId = await first.getAttribute("data-alert-id");
  const target = page.locator(`${ready}[data-alert-id="${cssString(alertId)}"]`).first();
  await target.locator("button.ack").click();
  const status = await orNull(() => target.locator(".ack-status").waitFor({ timeout: 10000 }));
  const ackedBy = status === null ? null : await target.locator(".ack-status").getAttribute("data-acked-by");
  const text = status === null ? null : await target.locator(".ack-status").textContent();
  const name = out.me && out.me.name;
  out.ack = {
    alert_id: alertId,
    acked_by: ackedBy,
    text,
    shown: Boolean(text && ackedBy === name && text.includes(name)),
  };
}

async function surgesView(page) {
  await page.evaluate(() => (location.hash = "#/surges"));
  await page.locator('[data-view="surges-panel"]').waitFor({ timeout: 10000 });
  out.surges_chart =
    (await orNull(() =>
      page.locator('[data-view="surges-panel"] .uplot canvas').first().waitFor({ timeout: 15000 }),
    )) !== null;
  out.surges_queues = await page.locator('[data-view="surges-panel"] [data-queue]').count();
  // Points of the all-queues chart on first load: the server's history, one per minute up.
  out.surges_points = Number(
    (await page.locator('[data-view="surges-panel"] [data-queue="all"]').getAttribute("data-points")) || 0,
  );
  await sleep(500);
  await page.screenshot({ path: join(shots, "surges.png"), fullPage: true });
}

async function finishTrigger(trig) {
  if (!trig.child) return;
  const timer = setTimeout(() => stopTrigger(trig), 120000);
  await trig.done;
  clearTimeout(timer);
  out.trigger_exit = trig.code;
  out.trigger_ms = trig.ended_ms;
}

// The trigger runs in its own process group (detached), so its children stop with it.
function stopTrigger(trig) {
  try {
    process.kill(-trig.child.pid, "SIGTERM");
  } catch {
    // already gone
  }
}
