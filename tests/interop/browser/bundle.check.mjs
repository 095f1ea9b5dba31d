#!/usr/bin/env node
// The socket.io client bundle at the path Node's server serves it
// (`/socket.io/socket.io.js`, `/socket.io/socket.io.min.js`), loaded the way
// countless tutorials load it, `<script src="/socket.io/socket.io.js">`, in a
// real Chromium: the global `io` it defines connects to `/echo` (long-polling,
// then the upgrade to WebSocket) and gets its echo back.
//
//     node tests/interop/browser/bundle.check.mjs URL SCREENSHOT_PATH
//
// Prints one `ok`/`FAIL` line per check and, last, `interop:
// bundle.check.mjs chromium: <P> checks ok, <F> failed`.

import { expect, main } from "../js/lib/checks.mjs";

import { WAIT_MS, runBrowserChecks, saveScreenshots } from "./lib.mjs";

const PROGRAM = "bundle.check.mjs";
const VIEW = { width: 640, height: 360 };
const BUNDLES = ["socket.io.js", "socket.io.min.js"];
const CHECKS = [
  ...BUNDLES.map((file) => `<script src="/socket.io/${file}"> defines io, which echoes on /echo and upgrades to WebSocket`),
  "no script errors on the page",
  "screenshot saved as PNG",
];

/** In the page: connects with the global `io`, echoes once, reports what it saw. */
function echoInPage(wait) {
  return new Promise((resolve) => {
    const socket = window.io("/echo", { transports: ["polling", "websocket"] });
    const timer = setTimeout(() => resolve({ error: "no echo in time" }), wait);
    socket.on("connect_error", (err) => resolve({ error: err.message }));
    socket.on("connect", () => {
      const upgraded = new Promise((done) => {
        if (socket.io.engine.transport.name === "websocket") done();
        else socket.io.engine.once("upgrade", () => done());
      });
      socket.emit("message", "from the bundle");
      socket.once("message-back", async (text) => {
        await upgraded;
        clearTimeout(timer);
        const transport = socket.io.engine.transport.name;
        socket.disconnect();
        resolve({ text, transport });
      });
    });
  });
}

async function session({ base, screenshotPath, browser, check, watch, pageErrors }) {
  const context = await browser.newContext({ viewport: VIEW });
  let page;
  for (const file of BUNDLES) {
    page = await context.newPage();
    watch(file, page);
    await check(CHECKS[BUNDLES.indexOf(file)], async () => {
      // Any page of the server's origin: /healthz has no CSP of its own.
      await page.goto(`${base}/healthz`);
      await page.addScriptTag({ url: `${base}/socket.io/${file}` });
      const got = await page.evaluate(echoInPage, WAIT_MS);
      expect({ text: "from the bundle", transport: "websocket" }, got, "the echo through the bundle's io");
    });
  }
  await check("no script errors on the page", async () => expect([], pageErrors, "page errors"));
  await check("screenshot saved as PNG", () => saveScreenshots(context, [[page, VIEW]], screenshotPath));
  await context.close();
}

main(() => runBrowserChecks(PROGRAM, CHECKS, session));
