#!/usr/bin/env node
// End-to-end check of the browser chat page (GET /chat) in a real Chromium,
// driven by playwright-core (no bundled browser: Debian's /usr/bin/chromium).
//
//     node tests/interop/browser/chat.check.mjs URL SCREENSHOT_PATH
//
// Two isolated browser contexts (separate localStorage, like two people): A
// on a desktop-sized window, B on a phone-sized one. Both join one room; the
// checks follow the page through the /chat contract (PROTOCOL.md): member
// lists from the join ack kept by `presence` changes (member and count,
// never the list) and their counts, the typing indicator, live messages both ways (own
// messages from the ack, shown once), escaping of user text, history after a
// reload (oldest first), an over-long message answered `bad_request` and
// shown on the page, a dropped connection (reconnecting, then rejoined), and
// "load older" over a seeded room. Last, a screenshot of A and B side by side
// is written to SCREENSHOT_PATH (PNG).
//
// Every wait is on the page's state with a bound (no fixed sleeps). Prints
// one `ok   <name>` / `FAIL <name>: ...` line per check and, last,
// `interop: chat.check.mjs chromium: <P> checks ok, <F> failed`; the exit
// code is 0 only when nothing failed. After the first failure the remaining
// checks (which build on each other) are reported as failed, not run.
//
// CHROMIUM (environment) overrides the browser path.

import { io } from "socket.io-client";

import { CheckFailed, expect, main, show } from "../js/lib/checks.mjs";

import { WAIT_MS, runBrowserChecks, saveScreenshots, sel, visible, waitForStatus, waitForText, waitForTexts } from "./lib.mjs";

const PROGRAM = "chat.check.mjs";
const DESKTOP = { width: 900, height: 660 };
const PHONE = { width: 390, height: 660 };
/** The server's history page; the seeded room needs more than this. */
const PAGE = 50;
const SEEDED = 60;

const CHECKS = [
  "A: the page loads and connects",
  "B: the page loads and connects",
  "A joins the room as Ada",
  "B joins the same room as Bob",
  "A's member list shows Ada and Bob",
  "B's member list shows Ada and Bob",
  "A types: B shows \"Ada is typing…\"",
  "A sends: B shows Ada's message, escaped as text",
  "A shows its own message once (from the ack)",
  "B's typing indicator clears after A sends",
  "B replies: A shows Bob's message",
  "reload A: it rejoins and the history shows both messages, oldest first",
  "B sees Ada leave and join again (presence notices)",
  "A's connection drops: status reconnecting, then connected and rejoined",
  "after the reconnect A's message reaches B",
  "an over-long message shows a bad_request error on the page",
  "load older: 50 messages on join, the 10 older ones on request, in order",
  "no script errors on the pages",
  "screenshot of A and B saved as PNG",
];

// ---------------------------------------------------------------------------
// Page helpers

/** Trimmed textContent of every element matching `selector`. */
function textsOf(page, selector) {
  return page.$$eval(selector, (els) => els.map((e) => e.textContent.trim()));
}

/** Waits until the composer can send: the page has the join (or rejoin) ack, not just a connection. */
async function waitForComposerReady(page, what) {
  try {
    await page.waitForSelector(`${sel("send")}:enabled`, { timeout: WAIT_MS });
  } catch {
    const placeholder = await page.$eval(sel("text"), (e) => e.placeholder).catch(() => "<no element>");
    throw new CheckFailed(`${what}: the send button enabled`, `disabled, placeholder ${show(placeholder)}`);
  }
}

async function joinAs(page, name, room) {
  await page.fill(sel("name"), name);
  await page.fill(sel("room"), room);
  await page.click(sel("join"));
  await visible(page, "room-view", "the room view");
  await waitForText(page, sel("room-name"), room, "room name");
}

/** Sends `text` from the page's composer with Enter. */
async function sendWithEnter(page, text) {
  await page.fill(sel("text"), text);
  await page.press(sel("text"), "Enter");
}

const messageTexts = (page) => textsOf(page, `${sel("message")} ${sel("message-text")}`);

/** Seeds `count` messages into `room` over plain socket.io-client sockets (30 a socket: under the rate limit's burst). */
async function seedRoom(baseUrl, room, count) {
  let next = 1;
  while (next <= count) {
    const socket = io(`${baseUrl}/chat`, { transports: ["websocket"], reconnection: false });
    try {
      const ack = (event, payload) => socket.timeout(WAIT_MS).emitWithAck(event, payload);
      const joined = await ack("join", { room, name: "Seeder" });
      expect(true, joined.ok, "seeder join ok");
      for (const last = Math.min(count, next + 29); next <= last; next += 1) {
        const sent = await ack("message", { room, text: `seed ${next}` });
        expect(true, sent.ok, `seed ${next} ok`);
      }
    } finally {
      socket.close();
    }
  }
}

// ---------------------------------------------------------------------------

async function session({ base, screenshotPath, browser, check, watch, pageErrors }) {
  const suffix = Date.now().toString(36);
  const room = `browser-${suffix}`;
  const olderRoom = `browser-older-${suffix}`;
  const first = "Hello Bob <b>&amp;</b> café ✓";
  const reply = "Hi Ada! Line one\nline two";
  const third = "Back after a dropped connection";

  const ctxA = await browser.newContext({ viewport: DESKTOP });
  const ctxB = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
  const ctxC = await browser.newContext({ viewport: DESKTOP });
  const a = await ctxA.newPage();
  const b = await ctxB.newPage();
  watch("A", a);
  watch("B", b);

  await check("A: the page loads and connects", async () => {
    await a.goto(`${base}/chat`);
    await waitForStatus(a, "connected");
  });
  await check("B: the page loads and connects", async () => {
    await b.goto(`${base}/chat`);
    await waitForStatus(b, "connected");
  });
  await check("A joins the room as Ada", () => joinAs(a, "Ada", room));
  await check("B joins the same room as Bob", () => joinAs(b, "Bob", room));
  await check("A's member list shows Ada and Bob", async () => {
    // Bob came by a presence change: Ada's list is the join ack's plus it.
    await waitForTexts(a, sel("member-name"), ["Ada", "Bob"], "A's members");
    await waitForText(a, sel("member-count"), "2", "A's member count");
  });
  await check("B's member list shows Ada and Bob", async () => {
    await waitForTexts(b, sel("member-name"), ["Ada", "Bob"], "B's members");
    await waitForText(b, sel("member-count"), "2", "B's member count");
  });
  await check("A types: B shows \"Ada is typing…\"", async () => {
    await a.locator(sel("text")).pressSequentially(first, { delay: 15 });
    await waitForText(b, sel("typing"), "Ada is typing…", "B's typing indicator");
  });
  await check("A sends: B shows Ada's message, escaped as text", async () => {
    await a.press(sel("text"), "Enter");
    await waitForTexts(b, `${sel("message")} ${sel("message-text")}`, [first], "B's messages");
    await waitForTexts(b, `${sel("message")} ${sel("message-from")}`, ["Ada"], "B's senders");
    const injected = await b.$$eval(`${sel("messages")} b`, (els) => els.length);
    expect(0, injected, "HTML elements created from message text");
  });
  await check("A shows its own message once (from the ack)", async () => {
    await waitForTexts(a, `${sel("message")} ${sel("message-text")}`, [first], "A's messages");
    expect("", await a.inputValue(sel("text")), "A's composer after sending");
  });
  await check("B's typing indicator clears after A sends", () =>
    waitForText(b, sel("typing"), "", "B's typing indicator"),
  );
  await check("B replies: A shows Bob's message", async () => {
    await b.fill(sel("text"), reply);
    await b.tap(sel("send"));
    await waitForTexts(a, `${sel("message")} ${sel("message-text")}`, [first, reply], "A's messages");
    await waitForTexts(b, `${sel("message")} ${sel("message-text")}`, [first, reply], "B's messages");
  });
  await check("reload A: it rejoins and the history shows both messages, oldest first", async () => {
    await a.reload();
    await waitForStatus(a, "connected");
    await visible(a, "room-view", "the room view after the reload");
    await waitForTexts(a, `${sel("message")} ${sel("message-text")}`, [first, reply], "A's history");
    await waitForTexts(a, `${sel("message")} ${sel("message-from")}`, ["Ada", "Bob"], "A's history senders");
    await waitForTexts(a, sel("member-name"), ["Ada", "Bob"], "A's members");
  });
  await check("B sees Ada leave and join again (presence notices)", async () => {
    await waitForTexts(b, sel("notice"), ["Ada left", "Ada joined"], "B's notices");
    await waitForTexts(b, sel("member-name"), ["Ada", "Bob"], "B's members");
    await waitForText(b, sel("member-count"), "2", "B's member count");
  });
  await check("A's connection drops: status reconnecting, then connected and rejoined", async () => {
    // Record every status change, so the short "reconnecting" phase cannot be missed.
    await a.evaluate(() => {
      window.statusLog = [];
      const status = document.querySelector('[data-testid="status"]');
      new MutationObserver(() => window.statusLog.push(status.dataset.state)).observe(status, {
        attributes: true,
        attributeFilter: ["data-state"],
      });
      window.chatDemo.socket.io.engine.close();
    });
    await waitForStatus(a, "connected");
    const log = await a.evaluate(() => window.statusLog);
    expect(true, log.includes("reconnecting"), `status changes ${show(log)} include reconnecting`);
    await waitForTexts(b, sel("notice"), ["Ada left", "Ada joined", "Ada left", "Ada joined"], "B's notices");
    await waitForTexts(a, sel("member-name"), ["Ada", "Bob"], "A's members");
    // "connected" comes before the rejoin's ack: until it arrives the page cannot send.
    await waitForComposerReady(a, "A's composer after the rejoin");
  });
  await check("after the reconnect A's message reaches B", async () => {
    await sendWithEnter(a, third);
    await waitForTexts(b, `${sel("message")} ${sel("message-text")}`, [first, reply, third], "B's messages");
    await waitForTexts(a, `${sel("message")} ${sel("message-text")}`, [first, reply, third], "A's messages");
  });
  await check("an over-long message shows a bad_request error on the page", async () => {
    await b.fill(sel("text"), "x".repeat(4001));
    await b.tap(sel("send"));
    await visible(b, "error", "the error");
    await waitForText(b, sel("error-code"), "bad_request", "error code");
    const message = await b.textContent(sel("error-message"));
    expect(true, message.trim().length > 0, `an error message (got ${show(message)})`);
    expect(4001, (await b.inputValue(sel("text"))).length, "draft kept after the error");
    expect(3, (await messageTexts(b)).length, "messages on B");
    await b.fill(sel("text"), "");
  });
  await check("load older: 50 messages on join, the 10 older ones on request, in order", async () => {
    await seedRoom(base, olderRoom, SEEDED);
    const c = await ctxC.newPage();
    watch("C", c);
    await c.goto(`${base}/chat`);
    await waitForStatus(c, "connected");
    await joinAs(c, "Cy", olderRoom);
    const latest = Array.from({ length: PAGE }, (_, i) => `seed ${SEEDED - PAGE + 1 + i}`);
    await waitForTexts(c, `${sel("message")} ${sel("message-text")}`, latest, "C's history on join");
    await visible(c, "load-older", "load older");
    await c.click(sel("load-older"));
    const all = Array.from({ length: SEEDED }, (_, i) => `seed ${i + 1}`);
    await waitForTexts(c, `${sel("message")} ${sel("message-text")}`, all, "C's messages after load older");
    try {
      await c.waitForSelector(sel("load-older"), { state: "hidden", timeout: WAIT_MS });
    } catch {
      throw new CheckFailed("load older hidden once everything is shown", "still visible");
    }
    await c.close();
  });
  await check("no script errors on the pages", async () => {
    expect("[]", JSON.stringify(pageErrors), "uncaught errors");
  });
  await check("screenshot of A and B saved as PNG", async () => {
    // Show the error on B (from the over-long message) and A's conversation.
    await a.bringToFront();
    await saveScreenshots(ctxA, [[a, DESKTOP], [b, PHONE]], screenshotPath);
  });
}

main(() => runBrowserChecks(PROGRAM, CHECKS, session));
