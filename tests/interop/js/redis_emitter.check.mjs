#!/usr/bin/env node
// Interop checks of pushes from a Node backend through the stock
// @socket.io/redis-emitter 5.x (docs/backend-push.md): a two-node cluster,
// socket.io-client sockets on both nodes, and the emitter on the cluster's
// Redis. Each socket on either node gets what it is targeted by once:
// namespace-wide, one room, several rooms, rooms with except, a socket id,
// binary and Date arguments, volatile; socketsJoin, socketsLeave and
// disconnectSockets (with and without closing the connection) act on the
// matching sockets of both nodes; malformed or oversized publishes change
// nothing.
//
//     node redis_emitter.check.mjs URL --other URL2 --redis REDIS_URL [--transport websocket|polling]
//
// URL and URL2 are two nodes of one cluster started with `--redis-url
// REDIS_URL` (and the default echo namespaces `/` and `/echo`).
//
// The emitter's publish has no ack, so "nothing else arrived" is checked with
// a fence: after each step the emitter publishes a `fence` event to every
// namespace, and the checks read what each socket got once the fence reached
// it. Redis delivers one publisher's messages in order and each node handles
// them in order, so a socket that has the fence has everything published
// before it.
//
// Prints one `ok`/`FAIL` line per check and, last, `interop:
// redis_emitter.check.mjs <transport>: <P> checks ok, <F> failed`.

import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { Manager } from "socket.io-client";

import { CONNECT_TIMEOUT_MS, Checker, Recorder, TRANSPORTS, ackArgs, bounded, expect, expectTrue, main, onceEvent, parseCli, show } from "./lib/checks.mjs";

const PROGRAM = "redis_emitter.check.mjs";

/** One socket.io-client socket, its recorder and what the checks call it. */
class Client {
  constructor(name, manager, namespace) {
    this.name = name;
    this.namespace = namespace;
    this.socket = manager.socket(namespace);
    this.recorder = new Recorder(this.socket);
  }

  async connect() {
    const connected = new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("connect_error", (err) => reject(new Error(`${this.name}: connect_error ${show(err?.message ?? err)}`)));
    });
    this.socket.connect();
    await bounded(connected, `${this.name} connected to ${this.namespace}`, CONNECT_TIMEOUT_MS);
  }

  /** Takes every recorded `event` (the arguments of each). */
  take(event) {
    const records = this.recorder.queues.get(event) ?? [];
    this.recorder.queues.delete(event);
    return records.map((r) => r.args);
  }
}

function manager(base, transport) {
  return new Manager(new URL(base).origin, {
    ...TRANSPORTS[transport],
    reconnection: false,
    autoConnect: false,
    timeout: CONNECT_TIMEOUT_MS,
  });
}

async function join(client, room) {
  const [reply] = await ackArgs(client.socket, "join", [{ room, name: client.name }]);
  expect(true, reply?.ok, `${client.name} joins ${room}: ${show(reply)}`);
}

async function run() {
  const { url, transport, other, redis: redisUrl } = parseCli(
    PROGRAM,
    "Checks @socket.io/redis-emitter pushes to the sockets of two cluster nodes.",
    { other: { type: "string", hint: "URL2" }, redis: { type: "string", hint: "REDIS_URL" } },
  );
  const checker = new Checker(PROGRAM, transport);
  if (!other || !redisUrl) {
    console.error(`${PROGRAM}: --other and --redis are required`);
    return 2;
  }
  const redis = createClient({ url: redisUrl });
  redis.on("error", (err) => console.error(`redis client: ${err.message}`));
  await redis.connect();
  const emitter = new Emitter(redis);
  const ns = { chat: emitter.of("/chat"), echo: emitter.of("/echo"), root: emitter.of("/") };

  // Node A: chat a1 (lobby, vip), a2 (lobby); echo ea and root ra on one connection.
  // Node B: chat b1 (lobby, vip), b2 (no room), b3 (lobby); echo eb and root rb on one connection.
  const chatOn = (base, name) => new Client(name, manager(base, transport), "/chat");
  const [a1, a2] = [chatOn(url, "a1"), chatOn(url, "a2")];
  const [b1, b2, b3] = [chatOn(other, "b1"), chatOn(other, "b2"), chatOn(other, "b3")];
  const [mA, mB] = [manager(url, transport), manager(other, transport)];
  const ea = new Client("ea", mA, "/echo");
  const ra = new Client("ra", mA, "/");
  const eb = new Client("eb", mB, "/echo");
  const rb = new Client("rb", mB, "/");
  const chat = [a1, a2, b1, b2, b3];
  const everyone = [...chat, ea, ra, eb, rb];
  const connected = new Set(everyone);
  let fences = 0;

  /** Publishes a fence to every namespace and waits until each connected socket has it. */
  async function fence() {
    fences += 1;
    for (const emitterNs of Object.values(ns)) emitterNs.emit("fence", fences);
    for (const client of connected) {
      for (;;) {
        const got = await client.recorder.next("fence");
        if (got.args[0] === fences) break;
      }
    }
  }

  /** What each client got of `event` since the last fence, `[name, [args...]]` for those that got any. */
  function received(event) {
    return everyone.map((c) => [c.name, c.take(event)]).filter(([, got]) => got.length > 0);
  }

  /** Publishes, fences, and checks that exactly `who` got `event` once, with `args`. */
  async function delivered(event, who, args, publish) {
    publish();
    await fence();
    expect(who.map((c) => [c.name, [args]]), received(event), `who got ${JSON.stringify(event)}, once each`);
  }

  await checker.run("sockets connect to both nodes and join their rooms", async () => {
    for (const client of everyone) await client.connect();
    for (const [client, rooms] of [[a1, ["lobby", "vip"]], [a2, ["lobby"]], [b1, ["lobby", "vip"]], [b3, ["lobby"]]]) {
      for (const room of rooms) await join(client, room);
    }
    // The joins' presence events are not this check's business.
    await fence();
    for (const client of everyone) client.take("presence");
  });

  await checker.run("both nodes listen on the emitter's channels (CLIENT LIST: two pattern subscribers)", async () => {
    const clients = (await redis.sendCommand(["CLIENT", "LIST"])).split("\n").filter((line) => /\bpsub=[1-9]/.test(line));
    expect(2, clients.length, "connections with pattern subscriptions");
  });

  await checker.run("socketioxide-redis still counts two nodes (PUBSUB NUMSUB of socket.io-request#/chat#)", async () => {
    const [, count] = await redis.sendCommand(["PUBSUB", "NUMSUB", "socket.io-request#/chat#"]);
    expect(2, Number(count), "subscribers of the adapter's request channel");
  });

  await checker.run("a namespace-wide emit reaches every /chat socket on both nodes once", async () => {
    await delivered("announce", chat, [{ n: 1, text: "to all" }], () => ns.chat.emit("announce", { n: 1, text: "to all" }));
  });

  await checker.run("an emit to one room (socket.io#/chat#lobby#) reaches its members on both nodes once", async () => {
    await delivered("news", [a1, a2, b1, b3], ["lobby", 2, true, null], () => ns.chat.to("lobby").emit("news", "lobby", 2, true, null));
  });

  await checker.run("an emit to two rooms reaches each member once, members of both included", async () => {
    await delivered("multi", [a1, a2, b1, b3], [], () => ns.chat.to(["lobby", "vip"]).emit("multi"));
  });

  await checker.run("an emit to a room except another skips the members of the other", async () => {
    await delivered("quiet", [a2, b3], ["shh"], () => ns.chat.to("lobby").except("vip").emit("quiet", "shh"));
  });

  await checker.run("a namespace-wide emit except a room reaches the others only", async () => {
    await delivered("outside", [b2], [], () => ns.chat.except("lobby").emit("outside"));
  });

  await checker.run("Buffer arguments arrive as binary, top-level and nested", async () => {
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    const nested = { name: "f.bin", parts: [Buffer.from("hi"), 3] };
    ns.chat.to("vip").emit("file", bytes, nested);
    await fence();
    const got = received("file");
    expect(["a1", "b1"], got.map(([name]) => name), "who got the file");
    for (const [name, [args]] of got) {
      expect(2, args.length, `${name}: arguments`);
      expectTrue(Buffer.isBuffer(args[0]) || args[0] instanceof ArrayBuffer, "binary", show(args[0]));
      expect(bytes, args[0], `${name}: the bytes`);
      expect(nested, args[1], `${name}: the nested binary`);
    }
  });

  await checker.run("a Date arrives as its toISOString(), as a Node server sends it", async () => {
    const date = new Date(Date.UTC(2024, 1, 29, 23, 59, 58, 123));
    await delivered("dated", [b1], [{ at: date.toISOString() }], () => ns.chat.to("vip").except(a1.socket.id).emit("dated", { at: date }));
  });

  await checker.run("an emit to a socket id reaches that socket only, on its node", async () => {
    await delivered("direct", [b2], ["just you"], () => ns.chat.to(b2.socket.id).emit("direct", "just you"));
  });

  await checker.run("an emit to a room and a socket id reaches each once", async () => {
    await delivered("mixed", [a1, b1, b2], [], () => ns.chat.to(["vip", b2.socket.id, b1.socket.id]).emit("mixed"));
  });

  await checker.run("a volatile emit reaches the room's sockets that are ready, once", async () => {
    // Volatile packets skip the session's queue (socketioxide keeps the
    // latest one until the transport can take it), so they may overtake
    // the fence: wait for them first.
    ns.chat.volatile.to("vip").emit("volatile", 7);
    for (const client of [a1, b1]) expect([7], (await client.recorder.next("volatile")).args, `${client.name}: the volatile event`);
    await fence();
    expect([], received("volatile"), "second copies, or copies outside the room");
  });

  await checker.run("a chat message between nodes still arrives once (the adapter's traffic is not the emitter's)", async () => {
    const [reply] = await ackArgs(a1.socket, "message", [{ room: "lobby", text: "hello" }]);
    expect(true, reply?.ok, `message ack ${show(reply)}`);
    for (const client of [a2, b1, b3]) await client.recorder.next("message");
    await fence();
    expect([], received("message"), "second copies");
  });

  await checker.run("malformed, out-of-bound and oversized publishes deliver nothing and change nothing", async () => {
    const raw = (channel, payload) => redis.publish(channel, payload);
    // Not msgpack; an array that is no message; a wrong namespace; too many rooms; a reserved event.
    raw("socket.io#/chat#", Buffer.from([0xdc, 0xff]));
    raw("socket.io#/chat#lobby#", Buffer.from([0x93, 0x01, 0x02, 0x03]));
    ns.root.emit("junk", "not on /chat");
    ns.chat.to(Array.from({ length: 1001 }, (_, i) => `room-${i}`)).emit("junk", "too many rooms");
    ns.chat.to("lobby").emit("junk", "x".repeat(1_100_000));
    ns.chat.emit("junk", { deep: JSON.parse("[".repeat(40) + "]".repeat(40)) });
    raw("socket.io-request#/echo#", '{"type":2,"opts":{"rooms":"x"},"rooms":["junk"]}');
    raw("socket.io-request#/echo#", JSON.stringify({ type: 2, opts: { rooms: [], except: [] }, rooms: ["\u001frecovery\u001fplain"] }));
    raw("socket.io-request#/echo#", JSON.stringify({ uid: "emitter", type: 6, data: ["server-side", 1] }));
    await fence();
    // Only the well-formed emit to `/` arrives, on `/`.
    expect([["ra", [["not on /chat"]]], ["rb", [["not on /chat"]]]], received("junk"), "who got junk");
    await delivered("after", chat, [], () => ns.chat.emit("after"));
  });

  await checker.run("socketsJoin then an emit to the room reaches the sockets of both nodes (in order)", async () => {
    ns.echo.socketsJoin("team");
    await delivered("team-news", [ea, eb], [1], () => ns.echo.to("team").emit("team-news", 1));
  });

  await checker.run("socketsJoin by socket id joins that socket only", async () => {
    ns.echo.in(ea.socket.id).socketsJoin(["pair", "duo"]);
    await delivered("pair-news", [ea], [], () => ns.echo.to("pair").emit("pair-news"));
  });

  await checker.run("socketsLeave of the sockets in a room: they leave, the others stay", async () => {
    ns.echo.in("pair").socketsLeave("team");
    await delivered("team-news", [eb], [2], () => ns.echo.to("team").emit("team-news", 2));
    await delivered("duo-news", [ea], [], () => ns.echo.to("duo").emit("duo-news"));
  });

  await checker.run("disconnectSockets(): the matching socket leaves its namespace, its connection stays", async () => {
    const gone = onceEvent(ea.socket, "disconnect", "ea's disconnect");
    ns.echo.in("pair").disconnectSockets();
    connected.delete(ea);
    const [reason] = await gone;
    expect("io server disconnect", reason, "ea's disconnect reason");
    await fence();
    expectTrue(ra.socket.connected && eb.socket.connected, "ra (ea's connection) and eb connected", `ra ${ra.socket.connected}, eb ${eb.socket.connected}`);
  });

  await checker.run("disconnectSockets(true): the matching socket's whole connection closes", async () => {
    const goneE = onceEvent(eb.socket, "disconnect", "eb's disconnect");
    const goneR = onceEvent(rb.socket, "disconnect", "rb's disconnect (same connection)");
    connected.delete(eb);
    connected.delete(rb);
    ns.echo.disconnectSockets(true);
    // Over long-polling the session may close before its DISCONNECT packet
    // is polled, so the client sees the transport go first.
    const [reason] = await goneE;
    expectTrue(["io server disconnect", "transport close", "transport error"].includes(reason), "eb disconnected by the server", show(reason));
    await goneR;
    await fence();
    expect(["ea", "eb", "rb"], everyone.filter((c) => !c.socket.connected).map((c) => c.name), "the disconnected sockets");
  });

  await checker.run("nothing else arrived anywhere", async () => {
    await fence();
    // `auth` (echo, on connect) and `presence` (chat joins, through the
    // adapter: not ordered with the fences) are not the emitter's.
    const theirs = (r) => r.event !== "auth" && r.event !== "presence";
    const left = everyone.flatMap((c) => c.recorder.unread().filter(theirs).map((r) => `${c.name}:${r.event}`));
    expect([], left, "unexpected events");
  });

  for (const client of everyone) client.socket.disconnect();
  await redis.quit();
  return checker.summary();
}

main(run);
