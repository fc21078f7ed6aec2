// Walks the browser workspace as a QA reviewer in headless Chromium and prints one JSON line of
// what it measured: login through the form, the call list narrowed to one call, the call's page
// (a click on the third utterance must seek the mix audio to that utterance's start), a hit
// rejected and a scorecard item overridden (and whether both are still shown after a reload),
// whether #/live shows a live board (it must not, for a reviewer), console errors, CSP
// violations and failed requests. Then, in a fresh session and with the keyboard alone (Tab,
// typing, Enter): logs in, opens the call from the list, plays an utterance (the audio must
// seek to it), and marks the call reviewed, with every focused control visibly outlined.
// With SCOPED_USER and SCOPED_PASSWORD set (a reviewer limited to another queue), that
// reviewer then logs in and the report says what the list, the call's page, its audio and the
// CSV export showed them. Screenshots list.png and detail.png go to SCREENSHOT_DIR.
// Exits non-zero when the walk itself fails (the JSON line then carries `error`).
//
// usage: node workspace_reviewer.mjs BASE_URL USERNAME PASSWORD CALL_ID SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, username, password, callId, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node workspace_reviewer.mjs BASE_URL USERNAME PASSWORD CALL_ID SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const WAIT = 20000;
const out = { callId, consoleErrors: [], pageErrors: [], cspViolations: [], failedRequests: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  watch(page);

  await login(page);
  await filterList(page);
  await page.screenshot({ path: join(shots, "list.png") });
  await openCall(page);
  await seekThirdUtterance(page);
  await review(page);
  await page.screenshot({ path: join(shots, "detail.png") });
  await afterReload(page);
  await tryLive(page);
  await keyboardWalk(browser);
  if (process.env.SCOPED_USER) await scopedWalk(browser, process.env.SCOPED_USER, process.env.SCOPED_PASSWORD);
} catch (e) {
  failed = true;
  out.error = String(e?.message || e).split("\n")[0];
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
process.exit(failed ? 1 : 0);

/** Console errors, page errors, CSP violations and HTTP errors, for the report. */
function watch(page) {
  page.on("console", (m) => {
    const text = m.text();
    if (/Content Security Policy|Refused to/i.test(text)) out.cspViolations.push(text);
    // Failed requests are listed with their URL from the response event below.
    else if (m.type() === "error" && !text.startsWith("Failed to load resource")) out.consoleErrors.push(text);
  });
  page.on("pageerror", (e) => out.pageErrors.push(e.message));
  page.on("response", (r) => {
    if (r.status() >= 400) out.failedRequests.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
  });
  // CSP violations are also reported as DOM events; turn them into console lines we catch.
  page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      console.error(`Refused by Content Security Policy: ${e.violatedDirective} ${e.blockedURI}`));
  });
}

async function login(page) {
  await page.goto(`${base}/`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await page.click('form button[type="submit"]');
  await page.waitForSelector("table.calls-table, .results .empty, .results .error-box");
  out.me = await page.evaluate(async () => (await fetch("/v1/me")).json());
  out.landing = await page.evaluate(() => location.hash);
}

/**
 * Narrows the list to the call through the filter form (its agent, and a two-minute window
 * around its start), then finds its row, paging on with "next" when needed.
 */
async function filterList(page) {
  const call = await callJson(page);
  const window = await page.evaluate((started) => {
    const ms = Date.parse(started.replace(/(\.\d{3})\d+/, "$1"));
    const local = (t) => new Date(t - new Date(t).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    return { from: local(ms - 60000), to: local(ms + 120000) };
  }, call.started_at);
  await page.fill("#f-from", window.from);
  await page.fill("#f-to", window.to);
  if (call.agent_id) await page.fill("#f-agent_id", call.agent_id);
  await page.click("#search");
  await page.waitForFunction(() => location.hash.includes("from="));
  await page.waitForSelector("table.calls-table, .results .empty, .results .error-box");
  out.listHash = await page.evaluate(() => decodeURIComponent(location.hash));
  const row = `tr[data-call-id="${cssString(callId)}"]`;
  for (let i = 0; i < 20 && !(await page.$(row)); i++) {
    const next = await page.$("#next-page:not([disabled])");
    if (!next) break;
    await next.click();
    await page.waitForFunction(() => location.hash.includes("cursor="));
    await page.waitForSelector("table.calls-table, .results .empty");
  }
  out.listTotal = await text(page, "#calls-total");
  out.listRows = await page.$$eval("table.calls-table tbody tr", (r) => r.length);
  out.rowFound = Boolean(await page.$(row));
  out.csvHref = await page.getAttribute("#export-csv", "href");
  if (!out.rowFound) throw new Error(`call ${callId} not in the filtered list`);
}

async function openCall(page) {
  await page.click(`tr[data-call-id="${cssString(callId)}"] a.call-link`);
  await page.waitForSelector(".utt");
  out.detailHash = await page.evaluate(() => decodeURIComponent(location.hash));
  out.utterances = await page.$$eval(".utt", (u) => u.length);
  out.hitsShown = await page.$$eval("[data-hit-id]", (h) => h.length);
  out.hitMarks = await page.$$eval("mark.hit", (h) => h.length);
  out.scorecardItems = await page.$$eval("[data-item-id]", (i) => i.length);
}

/** Clicks the third utterance and compares the audio position with its mix start. */
async function seekThirdUtterance(page) {
  const call = await callJson(page);
  const utts = await page.$$(".utt");
  if (utts.length < 3) throw new Error(`only ${utts.length} utterances shown`);
  const uttId = await utts[2].getAttribute("data-utterance-id");
  const { u, offsetMs, expectedMs } = mixStart(call, uttId);
  // The position right when the seek lands, before playback moves it on.
  await page.evaluate(() => {
    const a = document.getElementById("player");
    a.addEventListener("seeked", () => { window.__seekedAt = a.currentTime; }, { once: true });
  });
  await utts[2].click();
  // The click starts a seek; read the position once it has settled (metadata known, not seeking).
  await page.waitForTimeout(300);
  await page.waitForFunction(() => {
    const a = document.getElementById("player");
    return a && a.readyState >= 1 && !a.seeking;
  });
  const state = await page.evaluate(() => {
    const a = document.getElementById("player");
    return { seekedAt: window.__seekedAt ?? null, currentTime: a.currentTime, paused: a.paused, src: a.getAttribute("src") };
  });
  out.seek = {
    utteranceId: uttId,
    leg: u.leg,
    legOffsetMs: offsetMs,
    startMs: u.start_ms,
    expectedMixS: expectedMs / 1000,
    audioSeekedS: state.seekedAt,
    audioCurrentTimeS: state.currentTime,
    deltaMs: Math.round((state.seekedAt ?? state.currentTime) * 1000 - expectedMs),
    paused: state.paused,
    playingMarked: await utts[2].evaluate((n) => n.classList.contains("playing")),
    audioSrc: state.src,
  };
}

/** Rejects the first hit and overrides the first scorecard item; reports what the page said. */
async function review(page) {
  const hit = await page.$("[data-hit-id]");
  if (hit) {
    const hitId = await hit.getAttribute("data-hit-id");
    await hit.$eval('button[data-verdict="rejected"]', (b) => b.click());
    const shown = await page.waitForSelector(`[data-hit-id="${cssString(hitId)}"] .action-status:not(:empty)`);
    out.rejectHit = { hitId, message: await shown.textContent(), error: await shown.evaluate((n) => n.classList.contains("error")) };
  } else {
    out.rejectHit = { hitId: null, message: "the call has no hits" };
  }
  const item = await page.$("[data-item-id]");
  if (item) {
    const itemId = await item.getAttribute("data-item-id");
    const outcome = await item.$eval('select[name="outcome"]', (s) => s.value);
    await (await item.$('input[name="comment"]')).fill("workspace check: evidence heard, outcome corrected");
    await (await item.$('button[type="submit"]')).click();
    const shown = await page.waitForSelector(`[data-item-id="${cssString(itemId)}"] .action-status:not(:empty)`);
    out.overrideItem = { itemId, outcome, message: await shown.textContent(), error: await shown.evaluate((n) => n.classList.contains("error")) };
  } else {
    out.overrideItem = { itemId: null, message: "the call has no scorecard" };
  }
}

async function afterReload(page) {
  await page.reload();
  await page.waitForSelector(".utt");
  const hitId = out.rejectHit?.hitId;
  const itemId = out.overrideItem?.itemId;
  out.afterReload = {
    hitRejectedShown: hitId
      ? await page.$eval(`[data-hit-id="${cssString(hitId)}"]`, (n) => n.classList.contains("verdict-rejected")).catch(() => false)
      : null,
    overrideShown: itemId
      ? await page.$eval(`[data-item-id="${cssString(itemId)}"]`, (n) => n.classList.contains("overridden")).catch(() => false)
      : null,
    reviewState: await text(page, "#review-state"),
  };
}

/** A reviewer asking for the live board must get a notice, not the board. */
async function tryLive(page) {
  await page.goto(`${base}/#/live`);
  await page.waitForFunction(() => document.getElementById("view")?.dataset.view);
  const view = await page.evaluate(() => document.getElementById("view").dataset.view);
  out.live = { view, liveBoardVisible: view === "live", notice: await text(page, "#view .notice") };
}

/** Where utterance `uttId` starts in the mix, from the call's JSON (not from the page). */
function mixStart(call, uttId) {
  const u = call.utterances.find((x) => x.id === uttId);
  const leg = call.legs.find((l) => l.leg === u.leg);
  const offsetMs = parseMs(leg.started_at) - parseMs(call.started_at);
  return { u, offsetMs, expectedMs: Math.max(0, offsetMs) + u.start_ms };
}

/**
 * The same walk with the keyboard alone, in a fresh session. Tab moves focus until the wanted
 * control has it (a bounded number of presses); each control reached must show a focus
 * outline. Reports how many Tabs each step took and what happened.
 */
async function keyboardWalk(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  watch(page);
  const kb = { steps: {}, outlined: {} };
  out.keyboard = kb;
  // Tabs until the focused element matches `selector`; false when `max` presses did not get there.
  const tabTo = async (step, selector, max) => {
    for (let i = 0; i <= max; i++) {
      const there = await page.evaluate((sel) => Boolean(document.activeElement?.matches(sel)), selector);
      if (there) {
        kb.steps[step] = i;
        kb.outlined[step] = await page.evaluate(() => {
          const st = getComputedStyle(document.activeElement);
          return st.outlineStyle !== "none" && parseFloat(st.outlineWidth) > 0;
        });
        return true;
      }
      await page.keyboard.press("Tab");
    }
    kb.steps[step] = null;
    throw new Error(`keyboard: ${selector} not reached in ${max} Tab presses`);
  };
  await page.goto(`${base}/`);
  await tabTo("username", 'input[name="username"]', 10);
  await page.keyboard.type(username);
  await tabTo("password", 'input[name="password"]', 3);
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
  await page.waitForSelector("table.calls-table");
  kb.loggedIn = true;
  await tabTo("callLink", `tr[data-call-id="${cssString(callId)}"] a.call-link`, 150);
  await page.keyboard.press("Enter");
  await page.waitForSelector(".utt");
  kb.opened = await page.evaluate(() => decodeURIComponent(location.hash));
  await tabTo("utterance", ".utt", 150);
  const uttId = await page.evaluate(() => document.activeElement.dataset.utteranceId);
  await page.evaluate(() => {
    const a = document.getElementById("player");
    a.addEventListener("seeked", () => { window.__seekedAt = a.currentTime; }, { once: true });
  });
  await page.keyboard.press("Enter");
  await page.waitForTimeout(300);
  await page.waitForFunction(() => {
    const a = document.getElementById("player");
    return a && a.readyState >= 1 && !a.seeking;
  });
  const at = await page.evaluate(() => window.__seekedAt ?? document.getElementById("player").currentTime);
  const { expectedMs } = mixStart(await callJson(page), uttId);
  kb.seek = { utteranceId: uttId, expectedMixS: expectedMs / 1000, audioSeekedS: at };
  await tabTo("markReviewed", "#mark-reviewed", 250);
  await page.keyboard.press("Enter");
  const shown = await page.waitForSelector("#review-form .action-status:not(:empty)");
  kb.reviewed = { message: (await shown.textContent()).trim(), error: await shown.evaluate((n) => n.classList.contains("error")) };
  await context.close();
}

/** A reviewer of another queue: the call must be nowhere in what the workspace shows them. */
async function scopedWalk(browser, user, pass) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  await page.goto(`${base}/`);
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', pass);
  await page.click('form button[type="submit"]');
  await page.waitForSelector("table.calls-table, .results .empty, .results .error-box");
  const scoped = { me: await page.evaluate(async () => (await fetch("/v1/me")).json()) };
  scoped.rowShown = Boolean(await page.$(`tr[data-call-id="${cssString(callId)}"]`));
  scoped.listRows = await page.$$eval("table.calls-table tbody tr", (r) => r.length);
  const csvHref = await page.getAttribute("#export-csv", "href");
  scoped.csv = await page.evaluate(async (href) => (await fetch(href)).text(), csvHref);
  await page.goto(`${base}/#/calls/${encodeURIComponent(callId)}`);
  const box = await page.waitForSelector("#view .error-box, .utt");
  scoped.detail = { utterances: await page.$$eval(".utt", (u) => u.length), message: (await box.textContent()).trim() };
  scoped.audioStatus = await page.evaluate(
    async (id) => (await fetch(`/v1/calls/${encodeURIComponent(id)}/audio?leg=mix`)).status,
    callId,
  );
  out.scoped = scoped;
  await context.close();
}

async function callJson(page) {
  return page.evaluate(async (id) => {
    const r = await fetch(`/v1/calls/${encodeURIComponent(id)}`);
    if (!r.ok) throw new Error(`GET /v1/calls/${id}: ${r.status}`);
    return r.json();
  }, callId);
}

async function text(page, selector) {
  const n = await page.$(selector);
  return n ? (await n.textContent()).trim() : null;
}

function parseMs(s) {
  return Date.parse(String(s).replace(/(\.\d{3})\d+/, "$1"));
}

function cssString(s) {
  return String(s).replace(/["\\]/g, "\\$&");
}
