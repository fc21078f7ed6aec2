// Logs in to callwatch from a page in headless Chromium, as the browser workspace does, and
// prints one JSON line of what the page saw: statuses before login, with a wrong password,
// after login (the session cookie alone carries the API and the events WebSocket), whether
// page script can read the cookie, the cookie's attributes, and statuses after logout.
//
// usage: node login_chromium.mjs BASE_URL USERNAME PASSWORD
import { chromium } from "playwright-core";

const [base, username, password] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (m) => process.stderr.write(`page: ${m.text()}\n`));
  await page.goto(`${base}/healthz`);
  const login = (u, p) =>
    page.evaluate(
      async ([u, p]) =>
        (await fetch("/v1/login", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ username: u, password: p }),
        })).status,
      [u, p],
    );
  const status = (path, method = "GET") =>
    page.evaluate(async ([path, method]) => (await fetch(path, { method })).status, [path, method]);
  const socket = () =>
    page.evaluate(
      () =>
        new Promise((resolve) => {
          const ws = new WebSocket(`ws://${location.host}/v1/events`);
          ws.onopen = () => { ws.close(); resolve("open"); };
          ws.onerror = () => resolve("refused");
        }),
    );
  const out = {};
  out.meBefore = await status("/v1/me");
  out.wsBefore = await socket();
  out.wrongPassword = await login(username, "not the password");
  out.login = await login(username, password);
  out.cookieVisibleToScript = await page.evaluate(() => document.cookie.includes("callwatch_session"));
  const c = (await context.cookies()).find((c) => c.name === "callwatch_session");
  out.cookie = c ? { httpOnly: c.httpOnly, sameSite: c.sameSite, secure: c.secure, path: c.path } : null;
  out.me = await page.evaluate(async () => (await fetch("/v1/me")).json());
  out.calls = await status("/v1/calls");
  out.wsAfterLogin = await socket();
  out.logout = await status("/v1/logout", "POST");
  out.meAfterLogout = await status("/v1/me");
  out.wsAfterLogout = await socket();
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
