// Publishes a WAV as Chromium's fake microphone through callwatch's WHIP publisher page
// (/whip/publish.html) and prints one JSON line with the page's timings (epoch ms):
// publishedAt (before the POST), connectedAt (ICE+DTLS up), stoppedAt (after the DELETE).
//
// usage: node whip_chromium.mjs BASE_URL CALL_ID PARTICIPANT ROLE WAV SECONDS [TOKEN]
import { chromium } from "playwright-core";

const [base, callId, participant, role, wav, seconds, token] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${wav}`,
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
try {
  const page = await browser.newPage();
  page.on("console", (m) => process.stderr.write(`page: ${m.text()}\n`));
  const q = new URLSearchParams({ call_id: callId, participant, role, autostart: "1" });
  if (token) q.set("token", token);
  await page.goto(`${base}/whip/publish.html?${q}`);
  await page.waitForFunction(() => ["connected", "failed"].includes(window.whip.state), null, {
    timeout: 20000,
  });
  const connectedAt = Date.now();
  const state = await page.evaluate(() => window.whip);
  if (state.state !== "connected") throw new Error(`publish failed: ${JSON.stringify(state)}`);
  // The fake device loops the file: stop after one pass.
  await page.waitForTimeout(Number(seconds) * 1000);
  await page.evaluate(() => window.whipStop());
  const stoppedAt = Date.now();
  console.log(JSON.stringify({ publishedAt: state.publishedAt, connectedAt, stoppedAt, location: state.location }));
} finally {
  await browser.close();
}
