#!/usr/bin/env node
// The HTTP push API called from a page on another origin, in a real Chromium:
// a server started with `--cors-origins LISTED` lets a page of LISTED POST
// /api/v1/notifications with `Authorization: Bearer KEY` and an
// `Idempotency-Key` (a preflighted request; the server allows the headers it
// asks for by name, since the Fetch standard does not let `*` in
// Access-Control-Allow-Headers cover Authorization) and read the
// answer, and load the OpenAPI document (what Swagger UI there does); a page
// of OTHER gets nothing (the server refuses that origin's preflight, which
// its metrics count). LISTED and OTHER are two small page servers the test
// starts on loopback (not pages playwright fulfils itself: with routes on,
// playwright answers CORS preflights in the browser's place).
//
//     node tests/interop/browser/api_cors.check.mjs URL SCREENSHOT_PATH API_KEY LISTED OTHER
//
// Prints one `ok`/`FAIL` line per check and, last, `interop:
// api_cors.check.mjs chromium: <P> checks ok, <F> failed`.

import { expect, main } from "../js/lib/checks.mjs";

import { runBrowserChecks, saveScreenshots } from "./lib.mjs";

const PROGRAM = "api_cors.check.mjs";
const VIEW = { width: 640, height: 360 };
const CHECKS = [
  "a page on the listed origin pushes a notification with its key and reads the 201",
  "a page on the listed origin loads the OpenAPI document",
  "a page on another origin cannot call the API",
  "no script errors on the pages",
  "screenshot saved as PNG",
];

/** A new page at `url`, a page server's. */
async function pageAt(context, url) {
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

/** In the page: one fetch, what it answered (or how it failed), shown on the page. */
function callInPage({ url, init }) {
  const show = (text) => {
    document.getElementById("out").textContent += `${text}\n`;
  };
  return fetch(url, init).then(
    async (response) => {
      const body = await response.json();
      show(`${init.method || "GET"} ${url} -> ${response.status}`);
      return { status: response.status, body };
    },
    (err) => {
      show(`${init.method || "GET"} ${url} -> ${err.name}: ${err.message}`);
      return { error: err.name, message: err.message };
    },
  );
}

function push(base, key) {
  return {
    url: `${base}/api/v1/notifications`,
    init: {
      method: "POST",
      headers: {
        Authorization: `Bearer ${key}`,
        "Content-Type": "application/json",
        "Idempotency-Key": `cors-${Date.now()}`,
      },
      body: JSON.stringify({ users: ["ada"], kind: "from-a-page", data: { n: 1 } }),
    },
  };
}

async function session({ base, screenshotPath, browser, check, watch, pageErrors }) {
  const [key, listed, other] = process.argv.slice(4);
  const context = await browser.newContext({ viewport: VIEW });
  const app = await pageAt(context, listed);
  watch("listed", app);
  await check(CHECKS[0], async () => {
    const got = await app.evaluate(callInPage, push(base, key));
    expect(201, got.status, `status (${JSON.stringify(got)})`);
    expect("ada", got.body?.notifications?.[0]?.user, "the stored notification's user");
  });
  await check(CHECKS[1], async () => {
    const got = await app.evaluate(callInPage, { url: `${base}/api/v1/openapi.json`, init: {} });
    expect(200, got.status, "status");
    expect("string", typeof got.body?.openapi, "the document's openapi version");
  });
  const evil = await pageAt(context, other);
  watch("other", evil);
  await check(CHECKS[2], async () => {
    const got = await evil.evaluate(callInPage, push(base, key));
    expect("TypeError", got.error, `the fetch's outcome (${JSON.stringify(got)})`);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const refused = metrics.match(/^switchboard_origin_refused_total\{route="preflight"\} (\d+)$/m);
    expect("1", refused?.[1], "preflights the server refused");
  });
  await check(CHECKS[3], async () => expect([], pageErrors, "page errors"));
  await check(CHECKS[4], () =>
    saveScreenshots(
      context,
      [
        [app, VIEW],
        [evil, VIEW],
      ],
      screenshotPath,
    ),
  );
  await context.close();
}

main(() => runBrowserChecks(PROGRAM, CHECKS, session));
