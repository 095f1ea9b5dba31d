#!/usr/bin/env node
// End-to-end check of the browser notifications page (GET /notifications) in
// a real Chromium, driven by playwright-core (no bundled browser: Debian's
// /usr/bin/chromium).
//
//     node tests/interop/browser/notifications.check.mjs URL SCREENSHOT_PATH
//
// The server must be in development mode (bound to loopback, no secret, no
// keys), so that GET /demo/token hands out tokens and the API key. Two
// isolated browser contexts (separate localStorage, like two devices) sign in
// as the same user, a fresh name per run: page 1 on a desktop-sized window,
// page 2 on a phone-sized one. Pushes are made from here with fetch to the
// HTTP API (POST /api/v1/notifications). The checks follow the page through
// the /notifications contract (PROTOCOL.md, docs/notifications.md): live
// arrivals on both pages with the unread badge counting, every notification
// acked, "mark read" and "mark all read" reaching the other page through
// `unread {count}`, the HTTP API agreeing, a page closed while pushes are made
// replaying them on its return through `since` kept in localStorage, the
// page's own "send me a test notification" form, a live-only topic push (its
// `live:` id never kept as `since`), a bad token answered `unauthorized` on
// the page, and the production path (/demo/token 404: a pasted JWT). Last, a
// screenshot of both pages side by side is written to SCREENSHOT_PATH (PNG).
//
// Every wait is on the page's state with a bound (no fixed sleeps). Prints
// one `ok   <name>` / `FAIL <name>: ...` line per check and, last,
// `interop: notifications.check.mjs chromium: <P> checks ok, <F> failed`;
// the exit code is 0 only when nothing failed. After the first failure the
// remaining checks (which build on each other) are reported as failed, not
// run.
//
// CHROMIUM (environment) overrides the browser path.

import { expect, expectTrue, main, show } from "../js/lib/checks.mjs";

import { WAIT_MS, runBrowserChecks, saveScreenshots, sel, visible, waitForStatus, waitForText, waitForTexts, waitForValue } from "./lib.mjs";

const PROGRAM = "notifications.check.mjs";
const DESKTOP = { width: 900, height: 720 };
const PHONE = { width: 390, height: 720 };
const SINCE_KEY = (user) => `switchboard.notifications.since.${user}`;
const SESSION_KEY = "switchboard.notifications.session";

const CHECKS = [
  "development mode: /demo/token answers a token and an api_key",
  "page 1 signs in through /demo/token and connects: empty inbox, badge 0",
  "page 2 (another profile, same user) signs in and connects",
  "a push arrives live on both pages, as text, badge 1 on both",
  "a second push: newest first on both pages, badge 2 on both",
  "both pages acked every notification (the ack callback ran)",
  "mark one read on page 1: badge 1 on both pages, that one read on both",
  "the HTTP API agrees: 1 unread, the marked one read",
  "mark all read on page 2: badge 0 on both pages, nothing unread",
  "page 2 closed, two pushes, reopened: replayed through since from localStorage, badge 2",
  "the page's test-notification form: the push arrives on both pages, badge 3",
  "topic: page 1 subscribes; a topic push arrives live, not counted, its live: id never kept as since",
  "a bad stored token: connect_error unauthorized shown, back to the sign-in form",
  "production path: /demo/token 404 asks for a JWT; a pasted token signs in, no test form",
  "no script errors on the pages",
  "screenshot of page 1 and page 2 saved as PNG",
];

// ---------------------------------------------------------------------------
// HTTP (from node, not the page)

async function http(method, url, { apiKey, body } = {}) {
  const headers = { Accept: "application/json" };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, json, text };
}

/** POST /api/v1/notifications; returns the 201 body. */
async function push(base, apiKey, body) {
  const reply = await http("POST", `${base}/api/v1/notifications`, { apiKey, body });
  expectTrue(reply.status === 201, `201 for the push ${show(body)}`, `${reply.status} ${show(reply.text, 200)}`);
  return reply.json;
}

/** Pushes `text` to `user`; returns the stored id. */
async function pushText(base, apiKey, user, kind, text) {
  const reply = await push(base, apiKey, { users: [user], kind, data: { text } });
  const ids = Array.isArray(reply?.notifications) ? reply.notifications : [];
  expectTrue(
    ids.length === 1 && ids[0].user === user && typeof ids[0].id === "string",
    `notifications [{id, user: ${show(user)}}]`,
    show(reply),
  );
  return ids[0].id;
}

// ---------------------------------------------------------------------------
// Page helpers

const ITEM = sel("notification");
const ITEM_TEXT = `${ITEM} ${sel("notification-text")}`;

const readProbe = (s) => [...document.querySelectorAll(s)].map((e) => `${e.dataset.id}:${e.dataset.read}`);

const waitForBadge = (page, count, what) => waitForText(page, sel("unread-count"), String(count), what);
/** Waits until the items' read flags are exactly `expected` (["id:true", ...], newest first). */
const waitForRead = (page, expected, what) => waitForValue(page, readProbe, ITEM, expected, what);

async function signIn(page, base, user) {
  await page.goto(`${base}/notifications`);
  await visible(page, "signin-view", "the sign-in form");
  await page.locator(sel("user")).fill(user);
  await page.locator(sel("signin")).click();
  await waitForSignedIn(page, user);
}

/** Waits until the page shows the inbox, connected, signed in as `user`. */
async function waitForSignedIn(page, user, inboxWhat = "the inbox", userWhat = "signed in as") {
  await visible(page, "inbox-view", inboxWhat);
  await waitForStatus(page, "connected");
  await waitForText(page, sel("signed-in-user"), user, userWhat);
}

const storageValue = (page, key) => page.evaluate((k) => window.localStorage.getItem(k), key);

/** Ids of the `notification` events the page received (from its test hook). */
const receivedIds = (page) => page.evaluate(() => window.notificationsDemo.received.map((r) => r.id));

// ---------------------------------------------------------------------------

async function session({ base, screenshotPath, browser, check, watch, pageErrors }) {
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const user = `browser-${suffix}`;
  const topic = `demo-topic-${suffix}`;
  const t1 = "<b>Build</b> #1 passed & café ✓";
  const t2 = "Second: a review was requested";
  const t3 = "Third, pushed while page 2 was closed";
  const t4 = "Fourth, also while page 2 was closed";
  const tForm = `From the page's own form ${suffix}`;
  const tTopic = `Topic news for ${topic}`;
  /** Filled by the checks: the API key and the stored ids in push order. */
  let apiKey = null;
  let token = null;
  const ids = [];

  const ctx1 = await browser.newContext({ viewport: DESKTOP });
  const ctx2 = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
  const ctx3 = await browser.newContext({ viewport: DESKTOP });
  const p1 = await ctx1.newPage();
  let p2 = await ctx2.newPage();
  const p3 = await ctx3.newPage();
  watch("page 1", p1);
  watch("page 2", p2);
  watch("page 3", p3);

  await check("development mode: /demo/token answers a token and an api_key", async () => {
    const reply = await http("GET", `${base}/demo/token?user=${encodeURIComponent(user)}`);
    expect(200, reply.status, "status");
    const body = reply.json ?? {};
    expect(user, body.user, "user");
    expectTrue(typeof body.token === "string" && body.token.split(".").length === 3, "a JWT in token", show(body.token));
    expectTrue(typeof body.api_key === "string" && body.api_key.length > 0, "an api_key", show(body.api_key));
    apiKey = body.api_key;
    token = body.token;
  });

  await check("page 1 signs in through /demo/token and connects: empty inbox, badge 0", async () => {
    await signIn(p1, base, user);
    await visible(p1, "empty", "the empty inbox notice");
    await waitForBadge(p1, 0, "page 1's badge");
    await visible(p1, "send-card", "the test-notification form");
  });

  await check("page 2 (another profile, same user) signs in and connects", async () => {
    await signIn(p2, base, user);
    await waitForBadge(p2, 0, "page 2's badge");
  });

  await check("a push arrives live on both pages, as text, badge 1 on both", async () => {
    ids.push(await pushText(base, apiKey, user, "build.passed", t1));
    for (const [label, page] of [["page 1", p1], ["page 2", p2]]) {
      await waitForTexts(page, ITEM_TEXT, [t1], `${label}'s inbox`);
      await waitForTexts(page, `${ITEM} ${sel("notification-kind")}`, ["build.passed"], `${label}'s kinds`);
      await waitForBadge(page, 1, `${label}'s badge`);
      await waitForRead(page, [`${ids[0]}:false`], `${label}'s read flags`);
      expect(0, await page.locator(`${sel("notifications")} b`).count(), `${label}: HTML elements made from data`);
      await visible(page, "empty", `${label}'s empty notice`, "hidden");
    }
    const announced = await p1.locator(sel("announcer")).textContent();
    expectTrue(announced.includes(t1), `the aria-live announcer to mention ${show(t1)}`, show(announced));
  });

  await check("a second push: newest first on both pages, badge 2 on both", async () => {
    ids.push(await pushText(base, apiKey, user, "review.requested", t2));
    for (const [label, page] of [["page 1", p1], ["page 2", p2]]) {
      await waitForTexts(page, ITEM_TEXT, [t2, t1], `${label}'s inbox`);
      await waitForBadge(page, 2, `${label}'s badge`);
    }
  });

  await check("both pages acked every notification (the ack callback ran)", async () => {
    for (const [label, page] of [["page 1", p1], ["page 2", p2]]) {
      const records = await page.evaluate(() => window.notificationsDemo.received);
      expect(
        JSON.stringify(ids.map((id) => ({ id, asked: true, acked: true }))),
        JSON.stringify(records),
        `${label}'s notification events`,
      );
    }
  });

  await check("mark one read on page 1: badge 1 on both pages, that one read on both", async () => {
    await p1.locator(`${ITEM}[data-id="${ids[0]}"] ${sel("mark-read")}`).click();
    for (const [label, page] of [["page 1", p1], ["page 2", p2]]) {
      await waitForBadge(page, 1, `${label}'s badge`);
      await waitForRead(page, [`${ids[1]}:false`, `${ids[0]}:true`], `${label}'s read flags`);
    }
    expect(0, await p1.locator(`${ITEM}[data-id="${ids[0]}"] ${sel("mark-read")}`).count(), "mark-read buttons on the read one");
  });

  await check("the HTTP API agrees: 1 unread, the marked one read", async () => {
    const reply = await http("GET", `${base}/api/v1/users/${encodeURIComponent(user)}/notifications`, { apiKey });
    expect(200, reply.status, "status");
    expect(1, reply.json?.unread, "unread");
    const flags = (reply.json?.notifications ?? []).map((n) => `${n.id}:${n.read}`);
    expect([`${ids[1]}:false`, `${ids[0]}:true`], flags, "notifications (newest first)");
  });

  await check("mark all read on page 2: badge 0 on both pages, nothing unread", async () => {
    await p2.locator(sel("mark-all-read")).tap();
    for (const [label, page] of [["page 1", p1], ["page 2", p2]]) {
      await waitForBadge(page, 0, `${label}'s badge`);
      await waitForRead(page, [`${ids[1]}:true`, `${ids[0]}:true`], `${label}'s read flags`);
      expect(0, await page.locator(sel("mark-read")).count(), `${label}'s mark-read buttons`);
      expect(true, await page.locator(sel("mark-all-read")).isDisabled(), `${label}'s "mark all read" disabled`);
    }
  });

  await check("page 2 closed, two pushes, reopened: replayed through since from localStorage, badge 2", async () => {
    const since = await storageValue(p2, SINCE_KEY(user));
    expect(ids[1], since, "page 2's stored since before closing");
    await p2.close();
    ids.push(await pushText(base, apiKey, user, "deploy.started", t3));
    ids.push(await pushText(base, apiKey, user, "deploy.finished", t4));
    await waitForTexts(p1, ITEM_TEXT, [t4, t3, t2, t1], "page 1's inbox (live)");
    await waitForBadge(p1, 2, "page 1's badge");

    p2 = await ctx2.newPage();
    watch("page 2 (reopened)", p2);
    await p2.goto(`${base}/notifications`);
    await waitForSignedIn(p2, user, "the inbox (session kept)");
    await waitForTexts(p2, ITEM_TEXT, [t4, t3, t2, t1], "page 2's inbox");
    await waitForBadge(p2, 2, "page 2's badge");
    await waitForRead(
      p2,
      [`${ids[3]}:false`, `${ids[2]}:false`, `${ids[1]}:true`, `${ids[0]}:true`],
      "page 2's read flags",
    );
    const connections = await p2.evaluate(() => window.notificationsDemo.connections);
    expect({ since: ids[1] }, await p2.evaluate(() => window.notificationsDemo.lastAuth), `the auth sent (token left out); the connection's history ${show(connections)}`);
    expect(1, connections.filter((c) => !c.startsWith("upgrade")).length, `one connection, never dropped: ${show(connections)}`);
    // Replayed as `notification` events (not only listed), in id order; a
    // duplicate across the switch to live is allowed.
    await waitForValue(
      p2,
      () => [...new Set(window.notificationsDemo.received.map((r) => r.id))],
      null,
      [ids[2], ids[3]],
      "page 2's replayed notification events",
    );
    const acked = await p2.evaluate(() => window.notificationsDemo.received.every((r) => r.asked && r.acked));
    expect(true, acked, "every replayed notification acked");
    expect(ids[3], await storageValue(p2, SINCE_KEY(user)), "page 2's stored since after the replay");
  });

  await check("the page's test-notification form: the push arrives on both pages, badge 3", async () => {
    await p1.locator(sel("send-text")).fill(tForm);
    await p1.locator(sel("send")).click();
    await waitForValue(p1, (s) => /^Sent \(id \d+\); 2 connected pages reached\.$/.test(document.querySelector(s)?.textContent ?? ""), sel("send-result"), true, "the send result");
    for (const [label, page] of [["page 1", p1], ["page 2", p2]]) {
      await waitForTexts(page, ITEM_TEXT, [tForm, t4, t3, t2, t1], `${label}'s inbox`);
      await waitForBadge(page, 3, `${label}'s badge`);
    }
    const kinds = await p2.locator(`${ITEM} ${sel("notification-kind")}`).allTextContents();
    expect("demo.test", kinds[0], "the kind from the form");
    ids.push(await p1.locator(ITEM).first().getAttribute("data-id"));
  });

  await check("topic: page 1 subscribes; a topic push arrives live, not counted, its live: id never kept as since", async () => {
    await p1.locator(sel("topic")).fill(topic);
    await p1.locator(sel("subscribe")).click();
    await waitForTexts(p1, `${sel("topic-chip")} span`, [topic], "page 1's topics");
    const reply = await push(base, apiKey, { topic, kind: "topic.news", data: { text: tTopic } });
    expect([], reply?.notifications, "stored notifications of a topic push");
    await waitForTexts(p1, ITEM_TEXT, [tTopic, tForm, t4, t3, t2, t1], "page 1's inbox");
    const item = p1.locator(ITEM).first();
    const liveId = await item.getAttribute("data-id");
    expectTrue(liveId.startsWith("live:"), "a live: id", show(liveId));
    expect("true", await item.getAttribute("data-live"), "data-live");
    expect(`topic ${topic}`, (await item.locator(sel("notification-topic")).textContent()).trim(), "topic tag");
    expect(0, await item.locator(sel("mark-read")).count(), "mark-read button on a live-only notification");
    await waitForBadge(p1, 3, "page 1's badge");
    expect(ids[4], await storageValue(p1, SINCE_KEY(user)), "page 1's stored since");
    // Page 2 did not subscribe: it still shows the stored ones only.
    await waitForTexts(p2, ITEM_TEXT, [tForm, t4, t3, t2, t1], "page 2's inbox");
  });

  await check("a bad stored token: connect_error unauthorized shown, back to the sign-in form", async () => {
    await p3.goto(`${base}/notifications`);
    await visible(p3, "signin-view", "the sign-in form");
    await p3.evaluate(
      ([key, u]) => window.localStorage.setItem(key, JSON.stringify({ user: u, token: "not-a-jwt", apiKey: null })),
      [SESSION_KEY, user],
    );
    await p3.reload();
    await visible(p3, "error", "the error");
    await waitForText(p3, sel("error-code"), "unauthorized", "error code");
    const message = await p3.locator(sel("error-message")).textContent();
    expectTrue(/sign in again/i.test(message), "a message saying to sign in again", show(message));
    await waitForStatus(p3, "disconnected");
    await visible(p3, "signin-view", "the sign-in form");
    await visible(p3, "inbox-view", "the inbox", "hidden");
    expect(user, await p3.locator(sel("user")).inputValue(), "the user id kept in the form");
    expect(null, await storageValue(p3, SESSION_KEY), "the stored session after the refusal");
  });

  await check("production path: /demo/token 404 asks for a JWT; a pasted token signs in, no test form", async () => {
    await ctx3.route("**/demo/token?**", (route) =>
      route.fulfill({
        status: 404,
        contentType: "application/json",
        body: JSON.stringify({ error: { code: "not_found", message: "not found" } }),
      }),
    );
    await p3.locator(sel("signin")).click();
    await visible(p3, "jwt-field", "the JWT field");
    await p3.locator(sel("jwt")).fill(token);
    await p3.locator(sel("signin")).click();
    await waitForSignedIn(p3, user, "the inbox", "signed in as (the token's sub)");
    await visible(p3, "error", "the error", "hidden");
    await waitForTexts(p3, ITEM_TEXT, [tForm, t4, t3, t2, t1], "page 3's inbox (from list)");
    await waitForBadge(p3, 3, "page 3's badge");
    await visible(p3, "send-card", "the test-notification form", "hidden");
    await ctx3.unroute("**/demo/token?**");
  });

  await check("no script errors on the pages", async () => {
    expect("[]", JSON.stringify(pageErrors), "uncaught errors");
  });

  await check("screenshot of page 1 and page 2 saved as PNG", async () => {
    await saveScreenshots(ctx1, [[p1, DESKTOP], [p2, PHONE]], screenshotPath);
  });
}

main(() => runBrowserChecks(PROGRAM, CHECKS, session));
