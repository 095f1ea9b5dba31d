#!/usr/bin/env node
// End-to-end check of the browser arena game page (GET /game) in a real
// Chromium, driven by playwright-core (no bundled browser: Debian's
// /usr/bin/chromium).
//
//     node tests/interop/browser/game.check.mjs URL SCREENSHOT_PATH
//
// Two isolated browser contexts join the same game (a fresh game id per run)
// with different names: page 1 on a desktop-sized window, page 2 on a
// phone-sized touch one. The checks follow the page through the /game
// contract (PROTOCOL.md, docs/game.md): the join form filled from `?game=`
// and `?name=`, both players in the state, on the scoreboard (as text) and
// drawn on the canvas; page 1 holding ArrowRight moves right on both pages
// and sends `input` only when the direction changes; releasing it stops the
// player, the `acks` reach its last `seq` on both pages and the page's
// prediction agrees with the server; page 2 pressing "s" (WASD) moves down on
// both pages; page 1 leaving is seen on page 2 as `player_left` and the
// player disappears. A screenshot of both pages side by side, while both
// players are on the field, is written to SCREENSHOT_PATH (PNG).
//
// Every wait is on the page's state with a bound (no fixed sleeps). Prints
// one `ok   <name>` / `FAIL <name>: ...` line per check and, last,
// `interop: game.check.mjs chromium: <P> checks ok, <F> failed`; the exit
// code is 0 only when nothing failed. After the first failure the remaining
// checks (which build on each other) are reported as failed, not run.
//
// CHROMIUM (environment) overrides the browser path.

import { CheckFailed, expect, expectTrue, main, show } from "../js/lib/checks.mjs";

import { WAIT_MS, runBrowserChecks, saveScreenshots, sel, visible, waitForStatus, waitForValue } from "./lib.mjs";

const PROGRAM = "game.check.mjs";
const DESKTOP = { width: 1000, height: 760 };
const PHONE = { width: 400, height: 760 };
/** How far a held key must move a player before it counts as moved (units). */
const MOVE = 30;
/** Room a player needs before the edge to move MOVE units (units, with margin). */
const ROOM = MOVE + 40;
const ARENA = { minX: 16, maxX: 784, minY: 16, maxY: 584 };

const CHECKS = [
  "page 1 opens /game?game=&name=: the form filled from the URL, connected",
  "page 1 joins: its player in the state, on the scoreboard and drawn on the canvas",
  "page 2 joins the same game: both pages see both players (state, scoreboard, canvas), names as text",
  "page 1 got player_joined for page 2's player",
  "page 1 holds ArrowRight: it moves right on page 1 (prediction at or ahead of the server) and on page 2",
  "inputs only on direction changes: ArrowRight down (with a key repeat) and up sent exactly {dx 1, dy 0} then {dx 0, dy 0}",
  "page 1 released the key: it stops, acks reach its last seq on both pages, the prediction agrees with the server",
  "page 2 holds s (WASD): it moves down on page 2 and on page 1",
  "screenshot of page 1 and page 2 saved as PNG",
  "page 1 leaves: ok, back to the join form; page 2 gets player_left and the player disappears",
  "no script errors on the pages",
];

// ---------------------------------------------------------------------------
// Page helpers

/**
 * Waits until `probe(arg)` evaluated in the page is truthy; on timeout fails
 * with `expected` and what `report(arg)` (default: the probe) last saw.
 */
async function waitUntil(page, probe, arg, expected, report = probe) {
  try {
    await page.waitForFunction(probe, arg, { timeout: WAIT_MS, polling: "raf" });
  } catch {
    const got = await page.evaluate(report, arg).catch((err) => `<${err.message}>`);
    throw new CheckFailed(expected, show(got));
  }
}

/** A player of the page's latest state (`id` null: the page's own), or null. */
function playerProbe(id) {
  const demo = window.gameDemo;
  const want = id ?? demo.you;
  const player = demo.lastState?.players.find((p) => p.id === want);
  return player ? { id: player.id, name: player.name, x: player.x, y: player.y, score: player.score } : null;
}

const player = (page, id = null) => page.evaluate(playerProbe, id);
const you = (page) => page.evaluate(() => window.gameDemo.you);

/** Waits until the page's latest state has player `id` with `axis` >= `min`. */
async function waitForAtLeast(page, id, axis, min, what) {
  await waitUntil(
    page,
    ({ id: want, axis: a, min: m }) => {
      const p = window.gameDemo.lastState?.players.find((q) => q.id === want);
      return p !== undefined && p[a] >= m;
    },
    { id, axis, min },
    `${what}: ${axis} >= ${min.toFixed(1)}`,
    ({ id: want }) => window.gameDemo.lastState?.players.find((q) => q.id === want) ?? "<not in the state>",
  );
}

/** Waits until the page's latest state has player `id` with `axis` <= `max`. */
async function waitForAtMost(page, id, axis, max, what) {
  await waitUntil(
    page,
    ({ id: want, axis: a, max: m }) => {
      const p = window.gameDemo.lastState?.players.find((q) => q.id === want);
      return p !== undefined && p[a] <= m;
    },
    { id, axis, max },
    `${what}: ${axis} <= ${max.toFixed(1)}`,
    ({ id: want }) => window.gameDemo.lastState?.players.find((q) => q.id === want) ?? "<not in the state>",
  );
}

/** Waits until the page's latest state acks `seq` for player `id`. */
async function waitForAck(page, id, seq, what) {
  await waitUntil(
    page,
    ({ id: want, seq: s }) => window.gameDemo.lastState?.acks?.[want] === s,
    { id, seq },
    `${what}: acks[${id}] = ${seq}`,
    () => window.gameDemo.lastState?.acks ?? "<no state>",
  );
}

/** Waits until the page's latest state acks its last input (nothing to wait for before the first). */
async function waitForStopped(page, id, what) {
  const seq = await page.evaluate(() => window.gameDemo.seq);
  if (seq >= 0) await waitForAck(page, id, seq, what);
}

/** Waits until the page has received the game event `event` (player_joined, player_left) for player `id`. */
async function waitForPlayerEvent(page, event, id) {
  await waitUntil(
    page,
    ([name, want]) => window.gameDemo.events.some((e) => e.event === name && e.id === want),
    [event, id],
    `a ${event} event for ${id}`,
    () => window.gameDemo.events,
  );
}

/** Waits until the page has received `count` more states than now (the loop ticks on). */
async function waitForTicks(page, count, what) {
  const from = await page.evaluate(() => window.gameDemo.lastState?.tick ?? 0);
  await waitUntil(
    page,
    (t) => (window.gameDemo.lastState?.tick ?? 0) >= t,
    from + count,
    `${what}: a state of tick >= ${from + count}`,
    () => window.gameDemo.lastState?.tick ?? "<no state>",
  );
}

const scoreNames = (page) =>
  page.evaluate((s) => [...document.querySelectorAll(s)].map((e) => e.textContent), `${sel("score-row")} ${sel("score-name")}`);

/**
 * The canvas pixel under the lower part of player `id`'s disc at its position
 * in the page's latest state (where neither the score nor the name is drawn),
 * as [r, g, b], and the field's colour in a corner cell, both read back from
 * the canvas. Meant for players standing still (drawn where the server has them).
 */
function pixelProbe(id) {
  const canvas = document.querySelector('[data-testid="arena"]');
  const ctx = canvas.getContext("2d");
  const scale = canvas.width / 800;
  const position = window.gameDemo.lastState?.players.find((p) => p.id === id);
  if (!position) return null;
  const at = (x, y) => [...ctx.getImageData(Math.round(x * scale), Math.round(y * scale), 1, 1).data.slice(0, 3)];
  return { player: at(position.x, position.y + 10), field: at(25, 25) };
}

/** Waits until player `id` is drawn where the state has it: its disc's colour differs clearly from the field. */
async function waitForDrawn(page, id, what) {
  const arg = id;
  try {
    const expression =
      `(() => { const seen = (${pixelProbe.toString()})(${JSON.stringify(arg)}); ` +
      `return seen !== null && seen.player.some((c, i) => Math.abs(c - seen.field[i]) > 60); })()`;
    await page.waitForFunction(expression, undefined, { timeout: WAIT_MS, polling: "raf" });
  } catch {
    const got = await page.evaluate(pixelProbe, arg).catch((err) => `<${err.message}>`);
    throw new CheckFailed(`${what} drawn (a pixel of its disc unlike the field)`, show(got));
  }
}

/**
 * Holds `key` until the page's own player has moved `distance` along
 * `axis` (sign +1 or -1), then releases it.
 */
async function hold(page, key, axis, sign, distance, what) {
  const id = await you(page);
  const start = await player(page);
  expectTrue(start !== null, `${what}: the page's own player in its state`, "none");
  await page.keyboard.down(key);
  try {
    if (sign > 0) await waitForAtLeast(page, id, axis, start[axis] + distance, what);
    else await waitForAtMost(page, id, axis, start[axis] - distance, what);
  } finally {
    await page.keyboard.up(key);
  }
}

// ---------------------------------------------------------------------------

async function session({ base, screenshotPath, browser, check, watch, pageErrors }) {
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const game = `e2e-${suffix}`;
  const name1 = "Ada";
  // Markup in a name must stay text (scoreboard and canvas).
  const name2 = "Grace <b>&</b> Co";
  let id1 = null;
  let id2 = null;

  const ctx1 = await browser.newContext({ viewport: DESKTOP });
  const ctx2 = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
  const p1 = await ctx1.newPage();
  const p2 = await ctx2.newPage();
  watch("page 1", p1);
  watch("page 2", p2);

  const open = async (page, name) => {
    await page.goto(`${base}/game?game=${encodeURIComponent(game)}&name=${encodeURIComponent(name)}`);
    await visible(page, "join-view", "the join form");
    await waitForStatus(page, "connected");
    expect(name, await page.locator(sel("name")).inputValue(), "the name field (from ?name=)");
    expect(game, await page.locator(sel("game")).inputValue(), "the game field (from ?game=)");
  };
  const join = async (page) => {
    await page.locator(sel("join")).click();
    await visible(page, "game-view", "the arena");
    await waitUntil(page, () => typeof window.gameDemo.you === "string" && window.gameDemo.lastState !== null, null, "a player id and a state", () => ({ you: window.gameDemo.you, lastState: window.gameDemo.lastState }));
    expect(game, (await page.locator(sel("game-name")).textContent()).trim(), "the game shown");
    return you(page);
  };

  await check("page 1 opens /game?game=&name=: the form filled from the URL, connected", async () => {
    await open(p1, name1);
  });

  await check("page 1 joins: its player in the state, on the scoreboard and drawn on the canvas", async () => {
    id1 = await join(p1);
    expectTrue(/^p\d+$/.test(id1), "a player id of `p` and digits", show(id1));
    const me = await player(p1);
    expectTrue(me !== null && me.name === name1, `player ${id1} named ${show(name1)} in the state`, show(me));
    expectTrue(
      me.x >= ARENA.minX && me.x <= ARENA.maxX && me.y >= ARENA.minY && me.y <= ARENA.maxY,
      "a position inside [16, 784] x [16, 584]",
      show(me),
    );
    const coins = await p1.evaluate(() => window.gameDemo.lastState.coins.length);
    expect(8, coins, "coins on the field");
    await waitForTicks(p1, 2, "page 1 (the loop ticks)");
    await waitForValue(p1, (s) => [...document.querySelectorAll(s)].map((e) => e.textContent), `${sel("score-row")} ${sel("score-name")}`, [`${name1} (you)`], "page 1's scoreboard");
    await waitForDrawn(p1, id1, "page 1's own player");
  });

  await check("page 2 joins the same game: both pages see both players (state, scoreboard, canvas), names as text", async () => {
    await open(p2, name2);
    id2 = await join(p2);
    expectTrue(typeof id2 === "string" && id2 !== id1, `a player id other than ${id1}`, show(id2));
    for (const [label, page] of [["page 1", p1], ["page 2", p2]]) {
      await waitUntil(
        page,
        (ids) => ids.every((id) => window.gameDemo.lastState?.players.some((p) => p.id === id)),
        [id1, id2],
        `${label}'s state with players ${id1} and ${id2}`,
        () => window.gameDemo.lastState?.players ?? "<no state>",
      );
      await waitForValue(page, (s) => [...document.querySelectorAll(s)].map((e) => e.dataset.id).sort(), sel("score-row"), [id1, id2].sort(), `${label}'s scoreboard rows`);
      await waitForValue(page, (s) => document.querySelector(s)?.textContent, sel("player-count"), "2", `${label}'s player count`);
      expect(0, await page.locator(`${sel("scoreboard")} b`).count(), `${label}: HTML elements made from a name`);
    }
    const names1 = (await scoreNames(p1)).sort();
    expect([`${name1} (you)`, name2].sort(), names1, "page 1's scoreboard names");
    const names2 = (await scoreNames(p2)).sort();
    expect([name1, `${name2} (you)`].sort(), names2, "page 2's scoreboard names");
    const seen = await player(p2, id1);
    expect(name1, seen?.name, `page 2's name of ${id1}`);
    await waitForDrawn(p1, id2, "page 2's player on page 1");
    await waitForDrawn(p2, id1, "page 1's player on page 2");
    await waitForDrawn(p2, id2, "page 2's own player");
  });

  await check("page 1 got player_joined for page 2's player", async () => {
    await waitForPlayerEvent(p1, "player_joined", id2);
    const event = await p1.evaluate((id) => window.gameDemo.events.find((e) => e.event === "player_joined" && e.id === id), id2);
    expect(name2, event.name, "its name");
    const log = await p1.locator(`${sel("events")} ${sel("event")}`).allTextContents();
    expectTrue(log.some((t) => t.includes(`${name2} joined.`)), `the activity log to say ${show(`${name2} joined.`)}`, show(log));
  });

  let rightInputs = null;
  await check("page 1 holds ArrowRight: it moves right on page 1 (prediction at or ahead of the server) and on page 2", async () => {
    // Near the right wall there is no room to move: walk left first.
    const start0 = await player(p1);
    if (start0.x > ARENA.maxX - ROOM) await hold(p1, "ArrowLeft", "x", -1, start0.x - (ARENA.maxX - ROOM), "page 1 (making room)");
    await waitForStopped(p1, id1, "page 1 (stopped)");
    const start = await player(p1);
    const inputsBefore = await p1.evaluate(() => window.gameDemo.inputs.length);
    await p1.keyboard.down("ArrowRight");
    let ahead = null;
    try {
      await p1.keyboard.down("ArrowRight"); // a key repeat: the direction did not change
      await waitForAtLeast(p1, id1, "x", start.x + MOVE / 2, "page 1's own player");
      // While moving right, the prediction is never behind the server.
      ahead = await p1.evaluate(() => {
        const demo = window.gameDemo;
        const server = demo.lastState.players.find((p) => p.id === demo.you);
        return { predicted: demo.ownPosition(), server: { x: server.x, y: server.y } };
      });
      await waitForAtLeast(p1, id1, "x", start.x + MOVE, "page 1's own player");
    } finally {
      await p1.keyboard.up("ArrowRight");
    }
    expectTrue(
      ahead.predicted.x >= ahead.server.x - 0.001 && Math.abs(ahead.predicted.y - ahead.server.y) < 0.001,
      "ownPosition() at or right of the server's position while moving right",
      show(ahead),
    );
    await waitForAtLeast(p2, id1, "x", start.x + MOVE, "page 1's player seen on page 2");
    const moved = await player(p2, id1);
    expectTrue(Math.abs(moved.y - start.y) < 0.001, `page 1's player still at y ${start.y} on page 2 (moved right only)`, show(moved));
    rightInputs = await p1.evaluate((n) => window.gameDemo.inputs.slice(n), inputsBefore);
  });

  await check("inputs only on direction changes: ArrowRight down (with a key repeat) and up sent exactly {dx 1, dy 0} then {dx 0, dy 0}", async () => {
    expect(2, rightInputs.length, `inputs sent (${show(rightInputs)})`);
    expect({ dx: 1, dy: 0 }, { dx: rightInputs[0].dx, dy: rightInputs[0].dy }, "the first");
    expect({ dx: 0, dy: 0 }, { dx: rightInputs[1].dx, dy: rightInputs[1].dy }, "the second");
    expect(rightInputs[0].seq + 1, rightInputs[1].seq, "consecutive seqs");
    const all = await p1.evaluate(() => window.gameDemo.inputs.map((i) => i.seq));
    expectTrue(all.every((s, i) => Number.isInteger(s) && s >= 0 && (i === 0 || s > all[i - 1])), "increasing non-negative integer seqs", show(all));
  });

  await check("page 1 released the key: it stops, acks reach its last seq on both pages, the prediction agrees with the server", async () => {
    const last = await p1.evaluate(() => window.gameDemo.seq);
    expect(rightInputs[1].seq, last, "page 1's last seq");
    await waitForAck(p1, id1, last, "page 1");
    await waitForAck(p2, id1, last, "page 2");
    const stopped = await player(p1);
    await waitForTicks(p1, 3, "page 1");
    const later = await player(p1);
    expect({ x: stopped.x, y: stopped.y }, { x: later.x, y: later.y }, "page 1's position three ticks after the stop was acked");
    const own = await p1.evaluate(() => window.gameDemo.ownPosition());
    expectTrue(
      own !== null && Math.abs(own.x - later.x) < 0.01 && Math.abs(own.y - later.y) < 0.01,
      `ownPosition() at the server's ${show({ x: later.x, y: later.y })}`,
      show(own),
    );
    await waitForValue(p2, (id) => { const p = window.gameDemo.lastState?.players.find((q) => q.id === id); return p ? [p.x, p.y] : null; }, id1, [later.x, later.y], "page 1's player on page 2 at");
  });

  await check("page 2 holds s (WASD): it moves down on page 2 and on page 1", async () => {
    const start0 = await player(p2);
    if (start0.y > ARENA.maxY - ROOM) await hold(p2, "w", "y", -1, start0.y - (ARENA.maxY - ROOM), "page 2 (making room)");
    await waitForStopped(p2, id2, "page 2 (stopped)");
    const start = await player(p2);
    await hold(p2, "s", "y", 1, MOVE, "page 2's own player");
    await waitForAtLeast(p1, id2, "y", start.y + MOVE, "page 2's player seen on page 1");
    const seen = await player(p1, id2);
    expectTrue(Math.abs(seen.x - start.x) < 0.001, `page 2's player still at x ${start.x} on page 1 (moved down only)`, show(seen));
    const inputs = await p2.evaluate(() => window.gameDemo.inputs.slice(-2).map(({ dx, dy }) => ({ dx, dy })));
    expect([{ dx: 0, dy: 1 }, { dx: 0, dy: 0 }], inputs, "page 2's last inputs");
    await waitForStopped(p2, id2, "page 2 (stopped again)");
  });

  await check("screenshot of page 1 and page 2 saved as PNG", async () => {
    for (const page of [p1, p2]) {
      await waitForDrawn(page, id1, "page 1's player");
      await waitForDrawn(page, id2, "page 2's player");
    }
    await saveScreenshots(ctx1, [[p1, DESKTOP], [p2, PHONE]], screenshotPath);
  });

  await check("page 1 leaves: ok, back to the join form; page 2 gets player_left and the player disappears", async () => {
    // The last input of page 1 was applied before it leaves (acks, above).
    const last = await p1.evaluate(() => window.gameDemo.seq);
    await waitForAck(p2, id1, last, "page 2, before page 1 leaves");
    await p1.locator(sel("leave")).click();
    await visible(p1, "join-view", "page 1's join form");
    await visible(p1, "game-view", "page 1's arena", "hidden");
    expect(null, await you(p1), "page 1's player id after leaving");
    await waitForStatus(p1, "connected");
    await waitForPlayerEvent(p2, "player_left", id1);
    await waitForValue(p2, (s) => [...document.querySelectorAll(s)].map((e) => e.dataset.id), sel("score-row"), [id2], "page 2's scoreboard rows");
    await waitForValue(p2, (s) => document.querySelector(s)?.textContent, sel("player-count"), "1", "page 2's player count");
    // The server's next states no longer have the player either.
    await waitForTicks(p2, 2, "page 2");
    const ids = await p2.evaluate(() => window.gameDemo.lastState.players.map((p) => p.id));
    expect([id2], ids, "players in page 2's latest state");
    const acks = await p2.evaluate(() => Object.keys(window.gameDemo.lastState.acks ?? {}));
    expectTrue(!acks.includes(id1), `no acks entry for ${id1} after it left`, show(acks));
    const log = await p2.locator(`${sel("events")} ${sel("event")}`).allTextContents();
    expectTrue(log.some((t) => t.includes(`${name1} left.`)), `the activity log to say ${show(`${name1} left.`)}`, show(log));
  });

  await check("no script errors on the pages", async () => {
    expect("[]", JSON.stringify(pageErrors), "uncaught errors");
  });
}

main(() => runBrowserChecks(PROGRAM, CHECKS, session));
