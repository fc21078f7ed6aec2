// The reviewer workspace in headless Firefox (Debian's firefox-esr, driven over WebDriver BiDi
// by puppeteer-core), so the page is checked in a second engine: login through the form, the
// call's row in the list, the call's page, a click on the third utterance (the mix audio must
// seek to its start), the keyboard (Tab to an utterance, Enter plays it), console errors and
// CSP violations. Prints one JSON line; exits non-zero when the walk itself fails.
//
// usage: node workspace_firefox.mjs BASE_URL USERNAME PASSWORD CALL_ID
// env: FIREFOX (browser path, default /usr/bin/firefox-esr)
import puppeteer from "puppeteer-core";

const [base, username, password, callId] = process.argv.slice(2);
if (!callId) {
  console.error("usage: node workspace_firefox.mjs BASE_URL USERNAME PASSWORD CALL_ID");
  process.exit(2);
}
const WAIT = 20000;
const out = { callId, consoleErrors: [], pageErrors: [], cspViolations: [] };
const cssString = (s) => String(s).replace(/["\\]/g, "\\$&");
const parseMs = (s) => Date.parse(String(s).replace(/(\.\d{3})\d+/, "$1"));

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: process.env.FIREFOX || "/usr/bin/firefox-esr",
  headless: true,
});
let failed = false;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 860 });
  page.setDefaultTimeout(WAIT);
  page.on("console", (m) => {
    const text = m.text();
    if (/Content-Security-Policy|Content Security Policy/i.test(text)) out.cspViolations.push(text);
    else if (m.type() === "error" && !/Failed to load resource|status of 401/.test(text)) out.consoleErrors.push(text);
  });
  page.on("pageerror", (e) => out.pageErrors.push(String(e?.message || e)));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      console.error(`Refused by Content Security Policy: ${e.violatedDirective} ${e.blockedURI}`));
  });
  out.browser = await browser.version();

  await page.goto(`${base}/`);
  await page.waitForSelector('input[name="username"]');
  await page.type('input[name="username"]', username);
  await page.type('input[name="password"]', password);
  await page.click('form button[type="submit"]');
  await page.waitForSelector("table.calls-table, .results .empty, .results .error-box");
  out.me = await page.evaluate(async () => (await fetch("/v1/me")).json());
  const row = `tr[data-call-id="${cssString(callId)}"]`;
  out.rowFound = Boolean(await page.$(row));
  if (!out.rowFound) throw new Error(`call ${callId} not in the list`);

  await page.click(`${row} a.call-link`);
  await page.waitForSelector(".utt");
  out.utterances = await page.$$eval(".utt", (u) => u.length);
  out.hitMarks = await page.$$eval("mark.hit", (h) => h.length);
  const call = await page.evaluate(async (id) => (await fetch(`/v1/calls/${encodeURIComponent(id)}`)).json(), callId);
  const mixStart = (uttId) => {
    const u = call.utterances.find((x) => x.id === uttId);
    const leg = call.legs.find((l) => l.leg === u.leg);
    return Math.max(0, parseMs(leg.started_at) - parseMs(call.started_at)) + u.start_ms;
  };
  // Plays an utterance (by `act`) and reports where the audio landed against where it starts.
  const seekBy = async (uttId, act) => {
    await page.evaluate(() => {
      const a = document.getElementById("player");
      window.__seekedAt = null;
      a.addEventListener("seeked", () => { window.__seekedAt = a.currentTime; }, { once: true });
    });
    await act();
    await page.waitForFunction(() => window.__seekedAt !== null, { timeout: WAIT });
    const at = await page.evaluate(() => window.__seekedAt);
    return { utteranceId: uttId, expectedMixS: mixStart(uttId) / 1000, audioSeekedS: at };
  };
  const utts = await page.$$(".utt");
  if (utts.length < 3) throw new Error(`only ${utts.length} utterances shown`);
  const third = await utts[2].evaluate((n) => n.dataset.utteranceId);
  out.clickSeek = await seekBy(third, () => utts[2].click());
  out.playingMarked = await utts[2].evaluate((n) => n.classList.contains("playing"));

  // The keyboard: focus the second utterance through Tab, then Enter.
  const second = await utts[1].evaluate((n) => n.dataset.utteranceId);
  let tabs = 0;
  await page.evaluate(() => document.activeElement?.blur());
  while (tabs < 200 && !(await page.evaluate((id) => document.activeElement?.dataset?.utteranceId === id, second))) {
    await page.keyboard.press("Tab");
    tabs++;
  }
  out.keyboardTabs = tabs;
  out.keyboardSeek = await seekBy(second, () => page.keyboard.press("Enter"));
} catch (e) {
  failed = true;
  out.error = String(e?.message || e).split("\n")[0];
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
process.exit(failed ? 1 : 0);
