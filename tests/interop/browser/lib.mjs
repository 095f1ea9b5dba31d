// Shared set-up for the browser page checks (tests/interop/browser/*.check.mjs):
// starting Debian's Chromium through playwright-core, the run of named checks
// that build on each other (after the first failure the rest are reported as
// failed, not run), bounded waits on a page's state, and the side-by-side
// screenshot each check program writes last.
//
// Every program is run as `node <program> URL SCREENSHOT_PATH`;
// CHROMIUM (environment) overrides the browser path.

import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { chromium } from "playwright-core";

import { CheckFailed, Checker, expect, show } from "../js/lib/checks.mjs";

const EXECUTABLE = process.env.CHROMIUM || "/usr/bin/chromium";
// --headless is added by playwright too; the rest keep Chromium off the
// network (this machine refuses outside connections, which otherwise stalls
// it). launch() gives the browser a fresh temporary user-data dir of its own.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Bound on every wait for the page (and on the HTTP requests a check makes). */
export const WAIT_MS = 10000;

export const sel = (testid) => `[data-testid="${testid}"]`;

// ---------------------------------------------------------------------------
// The session

/**
 * Runs `session` with a started Chromium and returns the exit code (for
 * `main`). `session` gets `{ base, screenshotPath, browser, check, watch,
 * pageErrors }`: `check(name, body)` runs one of `checks` (each exactly once,
 * in any order; after a failure it reports the rest as not run), `watch(label,
 * page)` records the page's uncaught errors into `pageErrors`. When Chromium
 * does not start every check is skipped; a check left unrun when `session`
 * ends (or throws) is reported as failed.
 */
export async function runBrowserChecks(program, checks, session) {
  const [baseArg, screenshotPath] = process.argv.slice(2);
  if (!baseArg || !screenshotPath) {
    console.error(`usage: node ${program} URL SCREENSHOT_PATH`);
    return 2;
  }
  const base = baseArg.replace(/\/+$/, "");
  const checker = new Checker(program, "chromium");

  let browser;
  try {
    browser = await chromium.launch({
      executablePath: EXECUTABLE,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30000,
    });
  } catch (err) {
    checker.skipAll(checks, `chromium did not start: ${show(err.message, 200)}`);
    return checker.summary();
  }

  let pending = [...checks];
  const check = async (name, body) => {
    if (!pending.includes(name)) throw new Error(`unknown check ${name}`);
    pending = pending.filter((n) => n !== name);
    if (checker.failed > 0) {
      checker.fail(name, "to run", "not run (an earlier check failed)");
      return;
    }
    await checker.run(name, body);
  };
  const pageErrors = [];
  const watch = (label, page) => page.on("pageerror", (err) => pageErrors.push(`${label}: ${err.message}`));

  try {
    await session({ base, screenshotPath, browser, check, watch, pageErrors });
  } catch (err) {
    // A failure outside any check (e.g. a context did not open).
    checker.fail("browser session", "no error", show(err.message ?? err, 300));
  } finally {
    for (const name of pending) checker.fail(name, "to run", "not run (the session ended early)");
    await browser.close().catch(() => {});
  }
  return checker.summary();
}

// ---------------------------------------------------------------------------
// Waits on the page

/**
 * Waits until `probe(arg)` evaluated in the page is JSON-equal to `expected`;
 * on timeout fails with what the probe last saw.
 */
export async function waitForValue(page, probe, arg, expected, what) {
  const want = JSON.stringify(expected);
  try {
    // The probe's source as a function of (arg, expected). (Playwright's
    // in-page poller evaluates predicates with eval either way, which is why
    // the pages' Content-Security-Policy allows 'unsafe-eval'.)
    const predicate = new Function("pair", `return JSON.stringify((${probe.toString()})(pair[0])) === pair[1];`);
    await page.waitForFunction(predicate, [arg, want], { timeout: WAIT_MS, polling: "raf" });
  } catch {
    const got = await page.evaluate(probe, arg).catch((err) => `<${err.message}>`);
    throw new CheckFailed(`${what} ${show(expected)}`, show(got));
  }
}

const textsProbe = (s) => [...document.querySelectorAll(s)].map((e) => e.textContent.trim());
const textProbe = (s) => document.querySelector(s)?.textContent.trim() ?? "<no element>";

/** Waits until the trimmed texts of the elements matching `selector` are exactly `expected` (in order). */
export const waitForTexts = (page, selector, expected, what) => waitForValue(page, textsProbe, selector, expected, what);
/** Waits until the first element matching `selector` has the trimmed text `expected`. */
export const waitForText = (page, selector, expected, what) => waitForValue(page, textProbe, selector, expected, what);

/** Waits until the page's `status` element has `data-state` `state`. */
export async function waitForStatus(page, state) {
  await waitForValue(page, (s) => document.querySelector(s)?.dataset.state ?? "<no element>", sel("status"), state, "status");
}

/** Waits until the element `testid` is in `state` ("visible" or "hidden"). */
export async function visible(page, testid, what, state = "visible") {
  try {
    await page.locator(sel(testid)).waitFor({ state, timeout: WAIT_MS });
  } catch {
    throw new CheckFailed(`${what} ${state}`, state === "visible" ? "hidden or missing" : "visible");
  }
}

// ---------------------------------------------------------------------------
// The screenshot

/** Composes PNG screenshots side by side into one PNG, in a page of `context`. */
async function sideBySide(context, shots) {
  const page = await context.newPage();
  const width = shots.reduce((sum, s) => sum + s.width, 0) + 24 * (shots.length + 1);
  const height = Math.max(...shots.map((s) => s.height)) + 48;
  await page.setViewportSize({ width, height });
  await page.setContent(
    `<body style="margin:0;padding:24px;display:flex;gap:24px;align-items:flex-start;background:#c9d1dc">` +
      shots
        .map(
          (s) =>
            `<img alt="" width="${s.width}" height="${s.height}" style="border-radius:8px;box-shadow:0 2px 10px rgb(0 0 0/25%)" src="data:image/png;base64,${s.png.toString("base64")}">`,
        )
        .join("") +
      `</body>`,
  );
  await page.waitForFunction(() => [...document.images].every((img) => img.complete && img.naturalWidth > 0));
  const png = await page.screenshot({ fullPage: true, type: "png" });
  await page.close();
  return png;
}

/**
 * Screenshots each `[page, viewport]` of `pages`, composes them side by side
 * (in a page of `context`), checks the result is a PNG and writes it to
 * `screenshotPath`.
 */
export async function saveScreenshots(context, pages, screenshotPath) {
  const shots = [];
  for (const [page, size] of pages) {
    shots.push({ png: await page.screenshot({ type: "png" }), ...size });
  }
  const png = await sideBySide(context, shots);
  expect("89504e470d0a1a0a", png.subarray(0, 8).toString("hex"), "PNG signature");
  await mkdir(path.dirname(path.resolve(screenshotPath)), { recursive: true });
  await writeFile(screenshotPath, png);
}
