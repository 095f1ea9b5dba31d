#!/usr/bin/env node
// Interop checks of connection state recovery (docs/PROTOCOL.md, "Connection
// state recovery") with the stock socket.io-client 4.8: a client whose
// transport drops (`socket.io.engine.close()`) while another member sends to
// its room comes back with `socket.recovered === true`, the same id, its
// rooms, and every missed event once and in order, before any live one.
//
//     node recovery.check.mjs URL [--transport websocket|polling] --scenario recover|expiry|bound
//     node recovery.check.mjs URL --scenario other-node --other URL2
//     node recovery.check.mjs URL --scenario killed|killed-expiry --other URL2 --kill PID
//     node recovery.check.mjs URL --scenario cluster-expiry --other URL2
//     node recovery.check.mjs URL --scenario notifications --secret S --api-key K
//
// The server must run with `--recovery-namespaces /chat,/echo`; `expiry`
// wants a short `--recovery-window`, `bound` `--recovery-session-packets 3`.
// `other-node` and `killed` want two nodes of one cluster: the client drops
// its transport on URL and comes back on URL2 (`killed`: after this script
// killed URL's node, process PID, with SIGKILL).
// A dropped client reconnects only once the server holds its session
// (`switchboard_recovery_sessions_held` in /metrics): reconnecting before the
// server saw the drop gives a fresh session, as in the reference server.
//
// Prints one `ok`/`FAIL` line per check and, last, `interop:
// recovery.check.mjs <transport>: <P> checks ok, <F> failed`.

import jwt from "jsonwebtoken";
import { io } from "socket.io-client";

import { CONNECT_TIMEOUT_MS, CheckFailed, Checker, Recorder, ackArgs, bounded, clientOptions, expect, expectTrue, main, namespaceUrl, onceEvent, parseCli, show } from "./lib/checks.mjs";

const PROGRAM = "recovery.check.mjs";
const MISSED = 3;

/** Connects a recording socket with automatic reconnection (as an app would). */
async function connect(base, namespace, transport, auth) {
  const options = clientOptions(transport, {
    reconnection: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    ...(auth ? { auth } : {}),
  });
  const socket = io(namespaceUrl(base, namespace), options);
  const recorder = new Recorder(socket);
  const connected = onceEvent(socket, "connect", `a connection to ${namespace}`);
  socket.connect();
  await connected;
  return { socket, recorder };
}

/** Waits until /metrics shows `held` sessions held in `namespace`. */
async function heldSessions(base, namespace, held) {
  const line = `switchboard_recovery_sessions_held{namespace="${namespace}"} ${held}`;
  const poll = (async () => {
    for (;;) {
      const text = await (await fetch(new URL("/metrics", base))).text();
      if (text.split("\n").includes(line)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  await bounded(poll, `${line} in /metrics`);
}

/** Drops the client's transport without telling the server it leaves, and holds reconnection until `release`. */
async function dropTransport(socket, base, namespace) {
  socket.io.reconnection(false);
  const gone = onceEvent(socket, "disconnect", "the client's disconnect");
  socket.io.engine.close();
  await gone;
  await heldSessions(base, namespace, 1);
}

/** Reconnects (to `other`, another node, when given) and waits for the connect. */
async function reconnect(socket, other = undefined) {
  // The manager opens each new engine on its `uri`: the next one goes there.
  if (other) socket.io.uri = other;
  const back = onceEvent(socket, "connect", "the reconnection", CONNECT_TIMEOUT_MS);
  socket.io.reconnection(true);
  socket.connect();
  await back;
}

function isOffset(value) {
  return typeof value === "string" && /^[A-Za-z0-9_-]+-\d+$/.test(value);
}

async function join(socket, room, name) {
  const [reply] = await ackArgs(socket, "join", [{ room, name }]);
  expect(true, reply?.ok, `join ${room}: ${show(reply)}`);
}

async function send(socket, room, text) {
  const [reply] = await ackArgs(socket, "message", [{ room, text }]);
  expect(true, reply?.ok, `message to ${room}: ${show(reply)}`);
}

async function recoverScenario(checker, base, transport) {
  const room = `rec-${transport}-${process.pid}`;
  const a = await connect(base, "/chat", transport);
  const b = await connect(base, "/chat", transport);
  const plain = await connect(base, "/chat", transport, { recovery: false });
  await join(a.socket, room, "ann");
  await join(b.socket, room, "bob");
  await join(plain.socket, room, "pat");
  // The joins' presence may arrive after the acks (other sockets): take them.
  for (const who of ["bob", "pat"]) expect(who, (await a.recorder.next("presence")).args[0]?.member?.name, "presence to ann");
  expect("pat", (await b.recorder.next("presence")).args[0]?.member?.name, "presence to bob");
  a.recorder.dropUnread();
  b.recorder.dropUnread();
  plain.recorder.dropUnread();
  const id = a.socket.id;

  await checker.run("a live event carries its offset as the last argument", async () => {
    await send(b.socket, room, "before");
    const got = await a.recorder.next("message");
    expect(2, got.args.length, "arguments of a recorded event");
    expect("before", got.args[0]?.text, "the message");
    expectTrue(isOffset(got.args[1]), "an offset string", show(got.args[1]));
  });

  await checker.run("a client with auth.recovery = false gets the contract's one argument", async () => {
    const got = await plain.recorder.next("message");
    expect(1, got.args.length, "arguments");
    expect("before", got.args[0]?.text, "the message");
  });

  await checker.run("after a dropped transport: recovered, same id, missed events once and in order", async () => {
    await dropTransport(a.socket, base, "/chat");
    for (let i = 0; i < MISSED; i++) await send(b.socket, room, `missed ${i}`);
    await reconnect(a.socket);
    expect(true, a.socket.recovered, "socket.recovered");
    expect(id, a.socket.id, "socket id");
    for (let i = 0; i < MISSED; i++) {
      const got = await a.recorder.next("message");
      expect(`missed ${i}`, got.args[0]?.text, `missed message ${i}`);
    }
  });

  await checker.run("the recovered socket is still in its room and a member", async () => {
    await send(b.socket, room, "live");
    const got = await a.recorder.next("message");
    expect("live", got.args[0]?.text, "the live message after the replay");
    await send(a.socket, room, "from ann");
    expect("from ann", (await b.recorder.next("message")).args[0]?.text, "ann's message reaches bob");
    expect([], a.recorder.unread().map((r) => r.event), "nothing twice");
  });

  await checker.run("the others saw no leave and no join", async () => {
    const [members] = await ackArgs(b.socket, "members", [{ room }]);
    expect(["ann", "bob", "pat"], members.members.map((m) => m.name), "members");
    expect([], b.recorder.unread().filter((r) => r.event === "presence").map((r) => r.args[0]), "presence events");
  });

  await checker.run("an unknown pid gives a normal new connection", async () => {
    const c = await connect(base, "/chat", transport, { pid: "AAAAAAAAAAAAAAAAAAAA", offset: "zz-1" });
    expect(false, c.socket.recovered, "socket.recovered");
    c.socket.disconnect();
  });

  await checker.run("/echo recovers too", async () => {
    const e = await connect(base, "/echo", transport, { hello: 1 });
    const first = await e.recorder.next("auth");
    expectTrue(isOffset(first.args[1]), "an offset after the auth payload", show(first.args));
    const echoId = e.socket.id;
    await dropTransport(e.socket, base, "/echo");
    await reconnect(e.socket);
    expect(true, e.socket.recovered, "socket.recovered");
    expect(echoId, e.socket.id, "socket id");
    e.socket.emit("message", "hi");
    expect("hi", (await e.recorder.next("message-back")).args[0], "echo after recovery");
    e.socket.disconnect();
  });

  for (const s of [a, b, plain]) s.socket.disconnect();
}

/** The window passes (or a bound is crossed): the others see the member leave, and it comes back as a new socket. */
/**
 * On a cluster (`other`: a second node, where bob is), also after ann's node
 * was killed (`killPid`): the window passing is seen from the other node.
 */
async function lostScenario(checker, base, transport, scenario, other = base, killPid = undefined) {
  const room = `lost-${scenario}-${transport}-${process.pid}`;
  const a = await connect(base, "/chat", transport);
  const b = await connect(other, "/chat", transport);
  await join(a.socket, room, "ann");
  await join(b.socket, room, "bob");
  b.recorder.dropUnread();
  const id = a.socket.id;
  const name = {
    expiry: "past the window",
    bound: "past the session's packet bound",
    "killed-expiry": "past the window after her node was killed",
  }[scenario];
  await checker.run(`${name}: the others see the member leave`, async () => {
    if (killPid) {
      a.socket.io.reconnection(false);
      const gone = onceEvent(a.socket, "disconnect", "the client's disconnect");
      process.kill(killPid, "SIGKILL");
      await gone;
    } else {
      await dropTransport(a.socket, base, "/chat");
    }
    if (scenario === "bound") for (let i = 0; i < 5; i++) await send(b.socket, room, `missed ${i}`);
    // After a kill: the others notice within a heartbeat (3 s), then the window.
    const wait = killPid ? 3 * CONNECT_TIMEOUT_MS : CONNECT_TIMEOUT_MS;
    let presence;
    do presence = await b.recorder.next("presence", wait);
    while (presence.args[0]?.event !== "leave");
    expect({ id, name: "ann" }, presence.args[0].member, "who left");
    expect(1, presence.args[0].count, "members left");
  });
  await checker.run(`${name}: the client comes back as a new socket`, async () => {
    await reconnect(a.socket, other === base ? undefined : other);
    expect(false, a.socket.recovered, "socket.recovered");
    expectTrue(a.socket.id !== id, "a new socket id", a.socket.id);
  });
  for (const s of [a, b]) s.socket.disconnect();
}

/** The next `state` whose players include (or not) `player`. */
async function stateWith(recorder, player, present = true) {
  for (;;) {
    const state = (await recorder.next("state")).args[0];
    const found = state?.players?.find((p) => p.id === player);
    if (Boolean(found) === present) return found;
  }
}

/** `/game`: a player whose transport dropped stays in the game and plays on with its id and score. */
async function gameScenario(checker, base, transport) {
  const game = `rec-${transport}-${process.pid}`;
  const a = await connect(base, "/game", transport);
  const b = await connect(base, "/game", transport);
  const [ann] = await ackArgs(a.socket, "join", [{ game, name: "ann" }]);
  const [bob] = await ackArgs(b.socket, "join", [{ game, name: "bob" }]);
  expect(true, ann?.ok && bob?.ok, `joins: ${show([ann, bob])}`);
  const joined = await a.recorder.next("player_joined");
  expect(bob.you, joined.args[0]?.id, "bob's player_joined to ann");
  expectTrue(isOffset(joined.args[1]), "an offset after player_joined", show(joined.args));
  const id = a.socket.id;
  await checker.run("/game: a dropped player stays in the game, still, for the window", async () => {
    await dropTransport(a.socket, base, "/game");
    b.recorder.dropUnread();
    const seen = await stateWith(b.recorder, ann.you);
    expect("ann", seen.name, "ann in the states bob gets");
  });
  await checker.run("/game: recovered with the same player id and score, the others saw no leave", async () => {
    const before = (await stateWith(b.recorder, ann.you)).score;
    await reconnect(a.socket);
    expect(true, a.socket.recovered, "socket.recovered");
    expect(id, a.socket.id, "socket id");
    a.recorder.dropUnread();
    a.socket.emit("input", { seq: 1, dx: 1, dy: 0 });
    let mine;
    do mine = (await a.recorder.next("state")).args[0];
    while ((mine.acks?.[ann.you] ?? -1) < 1);
    const me = mine.players.find((p) => p.id === ann.you);
    expectTrue(me && me.score >= before, "ann's player with her score in the states she gets", show(me));
    expect([], b.recorder.unread().filter((r) => r.event === "player_left").map((r) => r.args[0]), "player_left events");
  });
  for (const s of [a, b]) s.socket.disconnect();
}

/** Pushes one notification to `user` over the HTTP API; its id. */
async function pushTo(base, apiKey, user, kind) {
  const res = await fetch(new URL("/api/v1/notifications", base), {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ users: [user], kind }),
  });
  const body = await res.json();
  expect(201, res.status, `push ${kind}: ${show(body)}`);
  return body.notifications[0].id;
}

/** The next `notification`, acknowledged as a client does. */
async function nextNotification(recorder) {
  const got = await recorder.next("notification");
  got.ack?.(true);
  return got.args[0];
}

/**
 * `/notifications`: a recovered socket gets what it missed as the `since`
 * replay would (no skip; any repeat has an id already seen), its topics, and
 * the `unread` counts it missed; another user's token with its pid is refused.
 */
async function notificationsScenario(checker, base, transport, secret, apiKey) {
  const user = `rec-${transport}-${process.pid}`;
  const token = (sub) => jwt.sign({ sub }, secret, { algorithm: "HS256", expiresIn: 600 });
  const a = await connect(base, "/notifications", transport, { token: token(user) });
  const other = await connect(base, "/notifications", transport, { token: token(user) });
  const first = await pushTo(base, apiKey, user, "first");
  expect(first, (await nextNotification(a.recorder)).id, "the first notification, live");
  expect(first, (await nextNotification(other.recorder)).id, "the first notification on the user's other socket");
  const [topics] = await ackArgs(a.socket, "subscribe", [{ topics: ["news"] }]);
  expect(true, topics?.ok, `subscribe: ${show(topics)}`);
  const seen = new Set([first]);
  const id = a.socket.id;
  let missed;
  await checker.run("/notifications: recovered, same id, the missed notifications as the since replay has them", async () => {
    await dropTransport(a.socket, base, "/notifications");
    missed = [await pushTo(base, apiKey, user, "missed-1"), await pushTo(base, apiKey, user, "missed-2")];
    const [read] = await ackArgs(other.socket, "read", [{ ids: [first] }]);
    expect(true, read?.ok, `read on the other socket: ${show(read)}`);
    await reconnect(a.socket);
    expect(true, a.socket.recovered, "socket.recovered");
    expect(id, a.socket.id, "socket id");
    const got = [];
    while (got.filter((n) => !seen.has(n)).length < missed.length) got.push((await nextNotification(a.recorder)).id);
    expect(missed, got.filter((n) => !seen.has(n)), "new notifications after recovery, in order");
    const replay = await connect(base, "/notifications", transport, { token: token(user), since: first });
    const since = [await nextNotification(replay.recorder), await nextNotification(replay.recorder)].map((n) => n.id);
    expect(since, got.filter((n) => !seen.has(n)), "the same as a `since` replay");
    replay.socket.disconnect();
  });
  await checker.run("/notifications: the recovered socket kept its topics and got the unread count it missed", async () => {
    const unread = await a.recorder.next("unread");
    expect(2, unread.args[0]?.count, "the unread count after the other socket read one");
    expectTrue(isOffset(unread.args[1]), "an offset after unread", show(unread.args));
    const [left] = await ackArgs(a.socket, "unsubscribe", [{ topics: ["not-held"] }]);
    expect(["news"], left?.topics, `topics held: ${show(left)}`);
  });
  await checker.run("/notifications: another user's token with the session's pid is refused", async () => {
    const victim = await connect(base, "/notifications", transport, { token: token(`${user}-v`) });
    const pid = victim.socket._pid;
    const offset = victim.socket._lastOffset;
    expectTrue(typeof pid === "string", "the client holds a pid", show(pid));
    await dropTransport(victim.socket, base, "/notifications");
    const thief = io(namespaceUrl(base, "/notifications"), clientOptions(transport, { auth: { token: token(`${user}-x`), pid, offset } }));
    const refused = onceEvent(thief, "connect_error", "the refusal");
    thief.connect();
    const [error] = await refused;
    expect("unauthorized", error?.message, "connect_error");
    thief.close();
    victim.socket.disconnect();
  });
  for (const s of [a, other]) s.socket.disconnect();
}

/** `/game` past the window: the others get `player_left`, the client comes back as a new player. */
async function gameExpiry(checker, base, transport) {
  const game = `lost-${transport}-${process.pid}`;
  const a = await connect(base, "/game", transport);
  const b = await connect(base, "/game", transport);
  const [ann] = await ackArgs(a.socket, "join", [{ game, name: "ann" }]);
  await ackArgs(b.socket, "join", [{ game, name: "bob" }]);
  await checker.run("/game past the window: the others get player_left", async () => {
    await dropTransport(a.socket, base, "/game");
    const left = await b.recorder.next("player_left", CONNECT_TIMEOUT_MS);
    expect({ id: ann.you }, left.args[0], "who left");
    await stateWith(b.recorder, ann.you, false);
  });
  await checker.run("/game past the window: the client comes back as a new socket", async () => {
    await reconnect(a.socket);
    expect(false, a.socket.recovered, "socket.recovered");
  });
  for (const s of [a, b]) s.socket.disconnect();
}

/**
 * Two nodes: ann (on the first) loses her transport, or her node is killed,
 * while bob (on the second) sends to the room; she comes back on the second
 * node and recovers.
 */
async function clusterScenario(checker, base, other, transport, killPid) {
  const room = `node-${killPid ? "killed" : "other"}-${transport}-${process.pid}`;
  const a = await connect(base, "/chat", transport);
  const b = await connect(other, "/chat", transport);
  await join(a.socket, room, "ann");
  await join(b.socket, room, "bob");
  expect("bob", (await a.recorder.next("presence")).args[0]?.member?.name, "bob's presence to ann");
  await send(b.socket, room, "before");
  expect("before", (await a.recorder.next("message")).args[0]?.text, "a live message across nodes");
  a.recorder.dropUnread();
  b.recorder.dropUnread();
  const id = a.socket.id;
  const what = killPid ? "after her node was killed (SIGKILL)" : "on the other node";
  await checker.run(`${what}: recovered, same id, missed events once and in order`, async () => {
    if (killPid) {
      a.socket.io.reconnection(false);
      const gone = onceEvent(a.socket, "disconnect", "the client's disconnect");
      process.kill(killPid, "SIGKILL");
      await gone;
    } else {
      await dropTransport(a.socket, base, "/chat");
    }
    for (let i = 0; i < MISSED; i++) await send(b.socket, room, `missed ${i}`);
    await reconnect(a.socket, other);
    expect(true, a.socket.recovered, "socket.recovered");
    expect(id, a.socket.id, "socket id");
    for (let i = 0; i < MISSED; i++) {
      const got = await a.recorder.next("message");
      expect(`missed ${i}`, got.args[0]?.text, `missed message ${i}`);
    }
  });
  await checker.run(`${what}: still in the room, nothing twice, the others saw no leave`, async () => {
    await send(b.socket, room, "live");
    expect("live", (await a.recorder.next("message")).args[0]?.text, "the live message after the replay");
    await send(a.socket, room, "from ann");
    expect("from ann", (await b.recorder.next("message")).args[0]?.text, "ann's message reaches bob");
    expect([], a.recorder.unread().map((r) => r.event), "nothing twice");
    const [members] = await ackArgs(b.socket, "members", [{ room }]);
    expect(["ann", "bob"], members.members.map((m) => m.name).sort(), "members");
    expect([], b.recorder.unread().filter((r) => r.event === "presence").map((r) => r.args[0]), "presence events");
  });
  for (const s of [a, b]) s.socket.disconnect();
}

main(async () => {
  const cli = parseCli(PROGRAM, "Connection state recovery checks against a Switchboard server.", {
    scenario: { type: "string", default: "recover", hint: "recover|expiry|bound|notifications|other-node|killed|cluster-expiry|killed-expiry" },
    other: { type: "string", hint: "URL of a second node" },
    kill: { type: "string", hint: "PID of the first node" },
    secret: { type: "string", hint: "the JWT secret" },
    "api-key": { type: "string", hint: "an API key" },
  });
  const base = cli.url.href;
  const checker = new Checker(PROGRAM, `${cli.transport} ${cli.scenario}`);
  try {
    if (cli.scenario === "recover") {
      await recoverScenario(checker, base, cli.transport);
      await gameScenario(checker, base, cli.transport);
    } else if (cli.scenario === "expiry") {
      await lostScenario(checker, base, cli.transport, cli.scenario);
      await gameExpiry(checker, base, cli.transport);
    } else if (cli.scenario === "notifications") {
      await notificationsScenario(checker, base, cli.transport, cli.secret, cli["api-key"]);
    } else if (["other-node", "killed", "cluster-expiry", "killed-expiry"].includes(cli.scenario)) {
      const kills = cli.scenario.startsWith("killed");
      if (!cli.other || (kills && !cli.kill)) throw new Error(`--scenario ${cli.scenario} needs --other${kills ? " and --kill" : ""}`);
      const [other, killPid] = [new URL(cli.other).href, kills ? Number(cli.kill) : undefined];
      if (cli.scenario === "cluster-expiry") await lostScenario(checker, base, cli.transport, "expiry", other);
      else if (cli.scenario === "killed-expiry") await lostScenario(checker, base, cli.transport, cli.scenario, other, killPid);
      else await clusterScenario(checker, base, other, cli.transport, killPid);
    } else await lostScenario(checker, base, cli.transport, cli.scenario);
  } catch (err) {
    if (!(err instanceof CheckFailed)) throw err;
    checker.fail("set-up", err.expected, err.got);
  }
  return checker.summary();
});
