#!/usr/bin/env node
// Interop checks of the Admin UI's namespace (`/admin`, docs/deployment.md
// "Admin UI"), driven as the stock @socket.io/admin-ui 0.5 drives it, with
// the stock socket.io-client: sign-in and its refusal, the session id,
// `config`, `server_stats`, `all_sockets`, each live event, each action (by
// socket id, by room, namespace-wide), the read-only mode, and a cluster.
//
//     node admin.check.mjs URL --username U --password P [--transport websocket|polling]
//     node admin.check.mjs URL --username U --password P --read-only
//     node admin.check.mjs URL --username U --password P --other URL2
//
// The server must run with `--admin-username U --admin-password P` (and
// `--admin-read-only` for `--read-only`); `--other` names a second node of
// the same cluster as URL.
//
// Prints one `ok`/`FAIL` line per check and, last, `interop:
// admin.check.mjs <transport>: <P> checks ok, <F> failed`.

import { io } from "socket.io-client";

import {
  CONNECT_TIMEOUT_MS,
  CheckFailed,
  Checker,
  TIMEOUT_MS,
  ackArgs,
  bounded,
  clientOptions,
  connectRecording,
  expect,
  expectTrue,
  main,
  namespaceUrl,
  onceEvent,
  parseCli,
  show,
} from "./lib/checks.mjs";

const PROGRAM = "admin.check.mjs";
// What a chat client sends that the Admin UI must never show.
const SECRET_AUTH = "auth-token-never-shown-0123";
const SECRET_HEADER = "Bearer header-token-never-shown-0123";
const SECRET_QUERY = "query-token-never-shown-0123";
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const ACTIONS = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"];

/**
 * The next `event` of `recorder` whose arguments satisfy `predicate`
 * (earlier ones of that event are taken and dropped), within `ms`.
 */
async function until(recorder, event, predicate, what, ms = TIMEOUT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new CheckFailed(what, `nothing within ${ms / 1000} s`);
    let record;
    try {
      record = await recorder.next(event, left);
    } catch {
      throw new CheckFailed(what, `nothing within ${ms / 1000} s`);
    }
    if (predicate(...record.args)) return record.args;
  }
}

/** Connects to `/admin` with `auth`; resolves to the connect_error's message, or throws if it connected. */
async function refusal(base, transport, auth) {
  const socket = io(namespaceUrl(base, "/admin"), clientOptions(transport, { auth }));
  const outcome = new Promise((resolve) => {
    socket.once("connect", () => resolve({ connected: true }));
    socket.once("connect_error", (err) => resolve({ message: err?.message }));
  });
  socket.connect();
  try {
    const got = await bounded(outcome, "an answer to the /admin connect", CONNECT_TIMEOUT_MS);
    if (got.connected) throw new CheckFailed("connect_error", "a connection");
    return got.message;
  } finally {
    socket.disconnect();
  }
}

/** An `/admin` socket signed in with `auth`, recording from the start. */
function admin(base, transport, auth) {
  return connectRecording(base, "/admin", transport, { auth });
}

/** A chat client (recording), its handshake carrying secrets the UI must hide. */
async function chatClient(base, transport, extra = {}) {
  const options = clientOptions(transport, {
    auth: { token: SECRET_AUTH },
    query: { token: SECRET_QUERY },
    extraHeaders: { authorization: SECRET_HEADER },
    ...extra,
  });
  const socket = io(namespaceUrl(base, "/chat"), options);
  const events = [];
  socket.onAny((event, ...args) => events.push({ event, args }));
  const connected = onceEvent(socket, "connect", "a connection to /chat", CONNECT_TIMEOUT_MS);
  socket.connect();
  await connected;
  return { socket, events };
}

async function join(socket, room, name) {
  const [reply] = await ackArgs(socket, "join", [{ room, name }]);
  expect(true, reply?.ok, `join ${room}: ${show(reply)}`);
}

async function leave(socket, room) {
  const [reply] = await ackArgs(socket, "leave", [{ room }]);
  expect(true, reply?.ok, `leave ${room}: ${show(reply)}`);
}

/** An action, asking for its ack; resolves to the ack. */
async function act(adminSocket, action, args) {
  const [reply] = await ackArgs(adminSocket, action, args);
  return reply;
}

async function actOk(adminSocket, action, args) {
  const reply = await act(adminSocket, action, args);
  expect(true, reply?.ok, `${action} ${show(args)}: ${show(reply)}`);
}

/**
 * Whether `client` got `event` before a round trip it makes now: what the
 * server sent it before the round trip's answer arrived first.
 */
async function gotBeforeRoundTrip(client, event) {
  await ackArgs(client.socket, "history", [{ room: "no-such-room-for-a-round-trip" }]);
  return client.events.some((e) => e.event === event);
}

function described(all, id) {
  return all.find((s) => s.id === id);
}

function checkDescribed(socket, { id, nsp, rooms }) {
  expectTrue(socket, `socket ${id} listed`, "not listed");
  expect(id, socket.id, "id");
  expect(nsp, socket.nsp, "nsp");
  expect(rooms, socket.rooms, `rooms of ${id}`);
  expectTrue(/^[0-9a-f]{12}$/.test(socket.clientId ?? ""), "a 12-digit client id", show(socket.clientId));
  expectTrue(["websocket", "polling"].includes(socket.transport), "a transport", show(socket.transport));
  const handshake = socket.handshake ?? {};
  expectTrue(typeof handshake.address === "string" && handshake.address.length > 0, "an address", show(handshake.address));
  expectTrue(typeof handshake.issued === "number" && handshake.issued > 0, "issued (ms)", show(handshake.issued));
  expectTrue(typeof handshake.url === "string" && handshake.url.startsWith("/socket.io/"), "the handshake URL", show(handshake.url));
  expectTrue(!("auth" in handshake), "no auth in the handshake", show(Object.keys(handshake)));
  const text = JSON.stringify(socket);
  for (const secret of [SECRET_AUTH, SECRET_HEADER, SECRET_QUERY, "header-token-never-shown"]) {
    expectTrue(!text.includes(secret), `no ${secret} anywhere`, text.slice(0, 300));
  }
}

// ---------------------------------------------------------------------------
// One node

async function oneNode(checker, base, transport, credentials) {
  const anna = await chatClient(base, transport);
  await join(anna.socket, "lobby", "Anna");

  await checker.run("a connect without credentials is refused with invalid credentials", async () => {
    expect("invalid credentials", await refusal(base, transport, {}), "connect_error");
  });

  await checker.run("a wrong password is refused with invalid credentials", async () => {
    const wrong = { username: credentials.username, password: `${credentials.password}x` };
    expect("invalid credentials", await refusal(base, transport, wrong), "connect_error");
    const nobody = { username: `${credentials.username}x`, password: credentials.password };
    expect("invalid credentials", await refusal(base, transport, nobody), "connect_error");
  });

  const ui = await admin(base, transport, credentials);
  const { recorder } = ui;
  let sessionId;

  await checker.run("signing in gets a session id, then config with every feature", async () => {
    const [session] = (await recorder.next("session")).args;
    expectTrue(typeof session === "string" && session.length >= 16, "a session id", show(session));
    sessionId = session;
    const [config] = (await recorder.next("config")).args;
    expect([...ACTIONS, "AGGREGATED_EVENTS", "ALL_EVENTS"], config?.supportedFeatures, "supportedFeatures");
  });

  await checker.run("server_stats: the node, its clients and namespaces", async () => {
    const [stats] = (await recorder.next("server_stats")).args;
    expectTrue(typeof stats?.serverId === "string" && stats.serverId.length > 0, "serverId", show(stats?.serverId));
    expectTrue(typeof stats.hostname === "string" && stats.hostname.length > 0, "hostname", show(stats.hostname));
    expectTrue(Number.isInteger(stats.pid) && stats.pid > 0, "pid", show(stats.pid));
    expectTrue(typeof stats.uptime === "number" && stats.uptime > 0, "uptime (s)", show(stats.uptime));
    // Anna's connection and this one.
    expect(2, stats.clientsCount, "clientsCount");
    expectTrue(Number.isInteger(stats.pollingClientsCount), "pollingClientsCount", show(stats.pollingClientsCount));
    expectTrue(Array.isArray(stats.aggregatedEvents), "aggregatedEvents", show(stats.aggregatedEvents));
    const count = (name) => stats.namespaces?.find((n) => n.name === name)?.socketsCount;
    expect(1, count("/chat"), "/chat sockets");
    expect(1, count("/admin"), "/admin sockets");
    expect(0, count("/game"), "/game sockets");
  });

  await checker.run("all_sockets lists the chat socket with its rooms and no secrets", async () => {
    const [all] = (await recorder.next("all_sockets")).args;
    expectTrue(Array.isArray(all), "a list", show(all));
    checkDescribed(described(all, anna.socket.id), { id: anna.socket.id, nsp: "/chat", rooms: [anna.socket.id, "lobby"] });
    const headers = described(all, anna.socket.id).handshake.headers;
    expect("(hidden)", headers.authorization, "the Authorization header");
    expect("(hidden)", described(all, anna.socket.id).handshake.query.token, "the token query parameter");
    expectTrue(described(all, ui.socket.id)?.nsp === "/admin", "the admin socket itself listed", show(all.map((s) => s.nsp)));
  });

  await checker.run("server_stats comes again within 2 s, with aggregated events", async () => {
    const [stats] = (await recorder.next("server_stats", 3000)).args;
    const types = new Set(stats.aggregatedEvents.map((e) => e.type));
    expectTrue(types.has("packetsIn") && types.has("bytesIn"), "packetsIn and bytesIn counted", show([...types]));
    for (const e of stats.aggregatedEvents) {
      expectTrue(Number.isInteger(e.timestamp) && e.timestamp % 1000 === 0 && e.count > 0, "an event per second", show(e));
    }
  });

  await checker.run("a session id signs in again without the password", async () => {
    const again = await admin(base, transport, { sessionId });
    try {
      const [config] = (await again.recorder.next("config")).args;
      expect(9, config?.supportedFeatures?.length, "features");
      expect([], again.recorder.unread().filter((r) => r.event === "session"), "no new session");
    } finally {
      again.socket.disconnect();
    }
    expect("invalid credentials", await refusal(base, transport, { sessionId: `${sessionId}x` }), "an unknown session");
  });

  const bob = await chatClient(base, transport);
  await checker.run("socket_connected for a new socket", async () => {
    const [socket, at] = await until(recorder, "socket_connected", (s) => s?.id === bob.socket.id, `socket_connected of ${bob.socket.id}`);
    checkDescribed(socket, { id: bob.socket.id, nsp: "/chat", rooms: [bob.socket.id] });
    expectTrue(ISO.test(at), "an ISO timestamp", show(at));
  });

  await checker.run("room_joined when it joins a chat room (its presence marker not shown)", async () => {
    await join(bob.socket, "lobby", "Bob");
    const [nsp, room, id, at] = await until(recorder, "room_joined", (n, r, i) => i === bob.socket.id, "room_joined of bob");
    expect(["/chat", "lobby", bob.socket.id], [nsp, room, id], "room_joined");
    expectTrue(ISO.test(at), "an ISO timestamp", show(at));
  });

  await checker.run("event_received with the event and its arguments", async () => {
    const [reply] = await ackArgs(bob.socket, "message", [{ room: "lobby", text: "hello admin" }]);
    expect(true, reply?.ok, "message sent");
    const [nsp, id, args, at] = await until(recorder, "event_received", (n, i, a) => i === bob.socket.id && a?.[0] === "message", "event_received of bob's message");
    expect(["/chat", bob.socket.id, ["message", { room: "lobby", text: "hello admin" }]], [nsp, id, args], "event_received");
    expectTrue(ISO.test(at), "an ISO timestamp", show(at));
  });

  await checker.run("event_sent to each recipient of a broadcast, not for an ack", async () => {
    const seen = [];
    const [nsp, id, args, at] = await until(recorder, "event_sent", (...sent) => {
      seen.push(sent);
      return sent[1] === anna.socket.id && sent[2]?.[0] === "message";
    }, "event_sent of the message to anna");
    expect(["/chat", anna.socket.id, "message", "hello admin"], [nsp, id, args[0], args[1]?.text], "event_sent");
    expectTrue(ISO.test(at), "an ISO timestamp", show(at));
    // Bob, its sender, got an ack, which is not an event.
    const later = recorder.unread().filter((r) => r.event === "event_sent").map((r) => r.args);
    const toBob = [...seen, ...later].filter(([, i, a]) => i === bob.socket.id && a?.[0] === "message");
    expect([], toBob, "event_sent of the message to bob");
  });

  await checker.run("room_left when it leaves", async () => {
    await leave(bob.socket, "lobby");
    const got = await until(recorder, "room_left", (n, r, i) => i === bob.socket.id, "room_left of bob");
    expect(["/chat", "lobby", bob.socket.id], got.slice(0, 3), "room_left");
  });

  await checker.run("socket_updated when a polling client upgrades to websocket", async () => {
    const upgrading = io(namespaceUrl(base, "/chat"), clientOptions("upgrade"));
    const connected = onceEvent(upgrading, "connect", "the upgrading client's connect", CONNECT_TIMEOUT_MS);
    upgrading.connect();
    await connected;
    try {
      const [update] = await until(recorder, "socket_updated", (u) => u?.id === upgrading.id, `socket_updated of ${upgrading.id}`);
      expect({ id: upgrading.id, nsp: "/chat", transport: "websocket" }, update, "socket_updated");
    } finally {
      upgrading.disconnect();
    }
  });

  await checker.run("emit to one socket by id", async () => {
    const got = onceEvent(bob.socket, "admin-note", "admin-note at bob");
    await actOk(ui.socket, "emit", ["/chat", bob.socket.id, "admin-note", { n: 1 }, "two"]);
    expect([{ n: 1 }, "two"], await got, "admin-note");
    expect(false, await gotBeforeRoundTrip(anna, "admin-note"), "admin-note at anna");
    const [, , sent] = await until(recorder, "event_sent", (n, i, a) => i === bob.socket.id && a?.[0] === "admin-note", "event_sent of admin-note");
    expect(["admin-note", { n: 1 }, "two"], sent, "event_sent of a direct emit");
  });

  await checker.run("emit to a room", async () => {
    const got = onceEvent(anna.socket, "admin-room", "admin-room at anna");
    await actOk(ui.socket, "emit", ["/chat", "lobby", "admin-room", 7]);
    expect([7], await got, "admin-room");
    expect(false, await gotBeforeRoundTrip(bob, "admin-room"), "admin-room at bob (not in lobby)");
  });

  await checker.run("emit to the whole namespace", async () => {
    const both = Promise.all([onceEvent(anna.socket, "admin-all", "admin-all at anna"), onceEvent(bob.socket, "admin-all", "admin-all at bob")]);
    await actOk(ui.socket, "emit", ["/chat", null, "admin-all", "x"]);
    expect([["x"], ["x"]], await both, "admin-all");
  });

  await checker.run("join and leave by socket id", async () => {
    await actOk(ui.socket, "join", ["/chat", "vip", bob.socket.id]);
    await until(recorder, "room_joined", (n, r, i) => r === "vip" && i === bob.socket.id, "room_joined vip of bob");
    const got = onceEvent(bob.socket, "vip-news", "vip-news at bob");
    await actOk(ui.socket, "emit", ["/chat", "vip", "vip-news", 1]);
    await got;
    await actOk(ui.socket, "leave", ["/chat", "vip", bob.socket.id]);
    await until(recorder, "room_left", (n, r, i) => r === "vip" && i === bob.socket.id, "room_left vip of bob");
  });

  await checker.run("join and leave by room, and leave namespace-wide", async () => {
    await actOk(ui.socket, "join", ["/chat", "vip", "lobby"]);
    await until(recorder, "room_joined", (n, r, i) => r === "vip" && i === anna.socket.id, "room_joined vip of anna");
    await actOk(ui.socket, "leave", ["/chat", "vip", "lobby"]);
    await until(recorder, "room_left", (n, r, i) => r === "vip" && i === anna.socket.id, "room_left vip of anna");
    await actOk(ui.socket, "join", ["/chat", "everyone"]);
    await until(recorder, "room_joined", (n, r, i) => r === "everyone" && i === bob.socket.id, "room_joined everyone of bob");
    await actOk(ui.socket, "leave", ["/chat", "everyone"]);
    await until(recorder, "room_left", (n, r, i) => r === "everyone" && i === anna.socket.id, "room_left everyone of anna");
  });

  await checker.run("actions with bad arguments or the server's own rooms are refused", async () => {
    const bad = await act(ui.socket, "join", ["/chat"]);
    expect("bad_request", bad?.error?.code, `join without a room: ${show(bad)}`);
    const unknown = await act(ui.socket, "emit", ["/nowhere", null, "x"]);
    expect("not_found", unknown?.error?.code, `emit to an unknown namespace: ${show(unknown)}`);
    const reserved = await act(ui.socket, "emit", ["/chat", null, "disconnect"]);
    expect("bad_request", reserved?.error?.code, `emit of a reserved event: ${show(reserved)}`);
    const own = await act(ui.socket, "leave", ["/chat", "\u001frecovery\u001fplain"]);
    expect("forbidden", own?.error?.code, `leave a server room: ${show(own)}`);
  });

  await checker.run("_disconnect by socket id", async () => {
    const id = bob.socket.id;
    const gone = onceEvent(bob.socket, "disconnect", "bob's disconnect");
    await actOk(ui.socket, "_disconnect", ["/chat", false, id]);
    expect("io server disconnect", (await gone)[0], "bob's disconnect reason");
    const [nsp, , reason, at] = await until(recorder, "socket_disconnected", (n, i) => i === id, "socket_disconnected of bob");
    expect(["/chat", "server namespace disconnect"], [nsp, reason], "socket_disconnected");
    expectTrue(ISO.test(at), "an ISO timestamp", show(at));
  });

  await checker.run("_disconnect by room", async () => {
    const id = anna.socket.id;
    const gone = onceEvent(anna.socket, "disconnect", "anna's disconnect");
    await actOk(ui.socket, "_disconnect", ["/chat", false, "lobby"]);
    expect("io server disconnect", (await gone)[0], "anna's disconnect reason");
    await until(recorder, "socket_disconnected", (n, i) => i === id, "socket_disconnected of anna");
  });

  await checker.run("_disconnect with close ends the whole connection", async () => {
    // As Node's disconnect(true): every namespace of the client is
    // disconnected, then its connection closed.
    const manager = io(namespaceUrl(base, "/chat"), clientOptions(transport)).io;
    const chat = manager.socket("/chat");
    const echo = manager.socket("/echo");
    const both = Promise.all([onceEvent(chat, "connect", "chat connect", CONNECT_TIMEOUT_MS), onceEvent(echo, "connect", "echo connect", CONNECT_TIMEOUT_MS)]);
    chat.connect();
    echo.connect();
    await both;
    const id = chat.id;
    const gone = Promise.all([
      onceEvent(chat, "disconnect", "the chat socket's disconnect"),
      onceEvent(echo, "disconnect", "the echo socket's disconnect"),
      onceEvent(manager.engine, "close", "the connection's close"),
    ]);
    await actOk(ui.socket, "_disconnect", ["/chat", true, id]);
    const [[chatReason], [echoReason]] = await gone;
    expect("io server disconnect", chatReason, "the chat socket's reason");
    expect("io server disconnect", echoReason, "the echo socket's reason");
    await until(recorder, "socket_disconnected", (n, i) => i === id, "socket_disconnected of the closed client");
  });

  ui.socket.disconnect();
}

// ---------------------------------------------------------------------------
// Read-only

async function readOnly(checker, base, transport, credentials) {
  const carl = await chatClient(base, transport);
  await join(carl.socket, "lobby", "Carl");
  const ui = await admin(base, transport, credentials);

  await checker.run("read-only: config offers no action", async () => {
    const [config] = (await ui.recorder.next("config")).args;
    expect(["AGGREGATED_EVENTS", "ALL_EVENTS"], config?.supportedFeatures, "supportedFeatures");
    const [all] = (await ui.recorder.next("all_sockets")).args;
    expectTrue(described(all, carl.socket.id), "the chat socket listed", show(all.map((s) => s.id)));
  });

  await checker.run("read-only: every action is refused and changes nothing", async () => {
    for (const [action, args] of [
      ["emit", ["/chat", carl.socket.id, "admin-note", 1]],
      ["emit", ["/chat", null, "admin-note", 1]],
      ["join", ["/chat", "vip", carl.socket.id]],
      ["leave", ["/chat", "lobby", carl.socket.id]],
      ["_disconnect", ["/chat", false, carl.socket.id]],
      ["_disconnect", ["/chat", true]],
    ]) {
      const reply = await act(ui.socket, action, args);
      expect("forbidden", reply?.error?.code, `${action} ${show(args)}: ${show(reply)}`);
    }
    expect(false, await gotBeforeRoundTrip(carl, "admin-note"), "admin-note at carl");
    expect(true, carl.socket.connected, "carl still connected");
    const again = await admin(base, transport, credentials);
    try {
      const [all] = (await again.recorder.next("all_sockets")).args;
      expect([carl.socket.id, "lobby"], described(all, carl.socket.id)?.rooms, "carl's rooms");
    } finally {
      again.socket.disconnect();
    }
  });
  ui.socket.disconnect();
  carl.socket.disconnect();
}

// ---------------------------------------------------------------------------
// Two nodes of a cluster

async function cluster(checker, base, other, transport, credentials) {
  const near = await chatClient(base, transport);
  const far = await chatClient(other, transport);
  await join(near.socket, "hall", "Near");
  await join(far.socket, "hall", "Far");
  const ui = await admin(base, transport, credentials);
  const { recorder } = ui;
  let sessionId;

  await checker.run("cluster: server_stats of each node under its own serverId", async () => {
    [sessionId] = (await recorder.next("session")).args;
    const seen = new Map();
    await until(recorder, "server_stats", (stats) => {
      seen.set(stats.serverId, stats);
      return seen.size === 2;
    }, "server_stats of two nodes", 6000);
    const chatSockets = [...seen.values()].map((s) => s.namespaces.find((n) => n.name === "/chat")?.socketsCount);
    expect([1, 1], chatSockets, "/chat sockets per node");
  });

  await checker.run("cluster: all_sockets lists the sockets of both nodes", async () => {
    const [all] = (await recorder.next("all_sockets")).args;
    checkDescribed(described(all, near.socket.id), { id: near.socket.id, nsp: "/chat", rooms: [near.socket.id, "hall"] });
    checkDescribed(described(all, far.socket.id), { id: far.socket.id, nsp: "/chat", rooms: [far.socket.id, "hall"] });
  });

  const late = await chatClient(other, transport);
  await checker.run("cluster: the other node's socket_connected, room_joined and event_received", async () => {
    await until(recorder, "socket_connected", (s) => s?.id === late.socket.id, "socket_connected from the other node");
    await join(late.socket, "hall", "Late");
    await until(recorder, "room_joined", (n, r, i) => i === late.socket.id && r === "hall", "room_joined from the other node");
    await ackArgs(late.socket, "message", [{ room: "hall", text: "from afar" }]);
    await until(recorder, "event_received", (n, i, a) => i === late.socket.id && a?.[0] === "message", "event_received from the other node");
    // Each node reports what it sends its own sockets: near is on this node, far on the other.
    // Their two event_sent come in no set order (far's is often first: the other node reads
    // the recovery stream and reports before this one does), so both are awaited in one
    // pass: awaiting near's first would take and drop far's on the way.
    const waiting = new Set([near.socket.id, far.socket.id]);
    await until(recorder, "event_sent", (n, i, a) => {
      if (a?.[1]?.text === "from afar") waiting.delete(i);
      return waiting.size === 0;
    }, "event_sent to the near and the far socket");
  });

  await checker.run("cluster: emit by id to a socket of the other node, and to a room on both", async () => {
    const got = onceEvent(far.socket, "admin-note", "admin-note at the far socket");
    await actOk(ui.socket, "emit", ["/chat", far.socket.id, "admin-note", "far"]);
    expect(["far"], await got, "admin-note");
    const both = Promise.all([onceEvent(near.socket, "admin-hall", "admin-hall near"), onceEvent(far.socket, "admin-hall", "admin-hall far")]);
    await actOk(ui.socket, "emit", ["/chat", "hall", "admin-hall", 1]);
    expect([[1], [1]], await both, "admin-hall on both nodes");
  });

  await checker.run("cluster: join and leave by id on the other node", async () => {
    await actOk(ui.socket, "join", ["/chat", "vip", far.socket.id]);
    await until(recorder, "room_joined", (n, r, i) => r === "vip" && i === far.socket.id, "room_joined vip of the far socket");
    await actOk(ui.socket, "leave", ["/chat", "vip", far.socket.id]);
    await until(recorder, "room_left", (n, r, i) => r === "vip" && i === far.socket.id, "room_left vip of the far socket");
  });

  await checker.run("cluster: emit to the whole namespace reaches both nodes", async () => {
    const both = Promise.all([onceEvent(near.socket, "admin-all", "admin-all near"), onceEvent(far.socket, "admin-all", "admin-all far")]);
    await actOk(ui.socket, "emit", ["/chat", null, "admin-all", "x"]);
    expect([["x"], ["x"]], await both, "admin-all on both nodes");
  });

  await checker.run("cluster: join and leave by room, on both nodes", async () => {
    const joined = new Set([near.socket.id, far.socket.id]);
    await actOk(ui.socket, "join", ["/chat", "crew", "hall"]);
    await until(recorder, "room_joined", (n, r, i) => {
      if (r === "crew") joined.delete(i);
      return joined.size === 0;
    }, "room_joined crew of the near and the far socket");
    const left = new Set([near.socket.id, far.socket.id]);
    await actOk(ui.socket, "leave", ["/chat", "crew", "hall"]);
    await until(recorder, "room_left", (n, r, i) => {
      if (r === "crew") left.delete(i);
      return left.size === 0;
    }, "room_left crew of the near and the far socket");
  });

  await checker.run("cluster: socket_updated when a client of the other node upgrades", async () => {
    const upgrading = io(namespaceUrl(other, "/chat"), clientOptions("upgrade"));
    const connected = onceEvent(upgrading, "connect", "the upgrading client's connect", CONNECT_TIMEOUT_MS);
    upgrading.connect();
    await connected;
    try {
      const [update] = await until(recorder, "socket_updated", (u) => u?.id === upgrading.id, `socket_updated of ${upgrading.id}`);
      expect({ id: upgrading.id, nsp: "/chat", transport: "websocket" }, update, "socket_updated");
    } finally {
      upgrading.disconnect();
    }
  });

  await checker.run("cluster: a session of one node signs in on the other", async () => {
    const there = await admin(other, transport, { sessionId });
    try {
      const [config] = (await there.recorder.next("config")).args;
      expect(9, config?.supportedFeatures?.length, "features");
    } finally {
      there.socket.disconnect();
    }
  });

  await checker.run("cluster: _disconnect by id on the other node", async () => {
    const id = far.socket.id;
    const gone = onceEvent(far.socket, "disconnect", "the far socket's disconnect");
    await actOk(ui.socket, "_disconnect", ["/chat", false, id]);
    expect("io server disconnect", (await gone)[0], "reason");
    await until(recorder, "socket_disconnected", (n, i) => i === id, "socket_disconnected from the other node");
  });

  await checker.run("cluster: _disconnect by room, on both nodes", async () => {
    const ids = [near.socket.id, late.socket.id];
    const gone = Promise.all([onceEvent(near.socket, "disconnect", "the near socket's disconnect"), onceEvent(late.socket, "disconnect", "the late socket's disconnect")]);
    await actOk(ui.socket, "_disconnect", ["/chat", false, "hall"]);
    expect(["io server disconnect", "io server disconnect"], (await gone).map((args) => args[0]), "reasons");
    const waiting = new Set(ids);
    await until(recorder, "socket_disconnected", (n, i) => {
      waiting.delete(i);
      return waiting.size === 0;
    }, "socket_disconnected of the near and the late socket");
  });

  for (const client of [near, far, late]) client.socket.disconnect();
  ui.socket.disconnect();
}

main(async () => {
  const options = parseCli(PROGRAM, "Checks the Admin UI's /admin namespace.", {
    username: { type: "string", hint: "NAME" },
    password: { type: "string", hint: "PASSWORD" },
    "read-only": { type: "boolean" },
    other: { type: "string", hint: "URL2" },
  });
  if (!options.username || !options.password) {
    console.error(`${PROGRAM}: --username and --password are required`);
    return 2;
  }
  const credentials = { username: options.username, password: options.password };
  const checker = new Checker(PROGRAM, options.transport);
  const base = options.url.href;
  try {
    if (options["read-only"]) await readOnly(checker, base, options.transport, credentials);
    else if (options.other) await cluster(checker, base, new URL(options.other).href, options.transport, credentials);
    else await oneNode(checker, base, options.transport, credentials);
  } catch (err) {
    checker.fail("the scenario", "no error", show(err?.message ?? err));
  }
  return checker.summary();
});
