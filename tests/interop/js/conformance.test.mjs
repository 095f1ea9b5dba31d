// Switchboard's own Engine.IO v4 / Socket.IO v5 conformance suite, at the
// raw packet level (WebSocket frames through `ws`, long-polling requests
// through the global `fetch`), for Node's built-in test runner:
//
//     SWITCHBOARD_URL=http://127.0.0.1:3000 node --test tests/interop/js/conformance.test.mjs
//
// The server must run the conformance profile (the settings of the official
// Socket.IO protocol test-suite server):
//
//     switchboard --listen 127.0.0.1:3000 --ping-interval 300ms --ping-timeout 200ms \
//         --connect-timeout 1000ms --max-payload 1000000 --echo-namespaces /,/custom
//
// Packet notation used below. Engine.IO: 0 open, 1 close, 2 ping, 3 pong,
// 4 message, 5 upgrade, 6 noop; over long-polling one HTTP body carries
// several packets separated by \x1e, binary ones as `b<base64>`. Socket.IO
// (inside an Engine.IO message): 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK,
// 4 CONNECT_ERROR, 5 BINARY_EVENT, 6 BINARY_ACK, then `<attachments>-` for
// binary packets, `/nsp,` for namespaces other than `/`, the ack id, and the
// JSON data. So `42["x"]` is an event on `/` and `452-1[...]` a binary event
// with 2 attachments and ack id 1.
//
// Every wait is bounded; every socket is closed at the end of its test.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";

import WebSocket from "ws";

const BASE = (process.env.SWITCHBOARD_URL ?? "http://127.0.0.1:3000").replace(/\/+$/, "");
const WS_BASE = BASE.replace(/^http/, "ws");
// The same profile but a ping interval of seconds, for the checks whose
// requests must reach the server in a set order before the first ping: on a
// busy machine 300 ms is not enough for that (the test command sets it).
const SLOW_PING_BASE = (process.env.SWITCHBOARD_SLOW_PING_URL ?? BASE).replace(/\/+$/, "");

// The conformance profile.
const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const MAX_PAYLOAD = 1000000;

/** Bound of any single wait for the server. */
const WAIT = 3000;
/** Bound of one test. */
const TEST = { timeout: 15000 };

const SEP = "\x1e";

// ---------------------------------------------------------------------------
// Helpers

function eioUrl(query, base = BASE) {
  return `${base}/socket.io/?${query}`;
}

/** Rejects with an assertion error naming `what` unless `promise` settles within `ms`. */
function within(promise, what, ms = WAIT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: `timed out after ${ms} ms waiting for ${what}` })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One HTTP request to the Engine.IO endpoint; resolves to {status, body}. */
async function request(method, query, body = undefined, base = BASE) {
  const res = await fetch(eioUrl(query, base), {
    method,
    body,
    headers: body === undefined ? {} : { "content-type": "text/plain;charset=UTF-8" },
    signal: AbortSignal.timeout(WAIT),
  });
  return { status: res.status, body: await res.text() };
}

/** Parses an Engine.IO open packet `0{...}`. */
function parseOpen(text) {
  assert.equal(typeof text, "string", "the open packet is text");
  assert.equal(text[0], "0", `an open packet (0{...}), got ${JSON.stringify(text)}`);
  return JSON.parse(text.slice(1));
}

function assertHandshake(open, upgrades) {
  assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
  assert.equal(typeof open.sid, "string");
  assert.ok(open.sid.length > 0, "a non-empty sid");
  assert.deepEqual(open.upgrades, upgrades);
  assert.equal(open.pingInterval, PING_INTERVAL);
  assert.equal(open.pingTimeout, PING_TIMEOUT);
  assert.equal(open.maxPayload, MAX_PAYLOAD);
}

/** Opens a long-polling Engine.IO session; returns its sid. Closed after the test. */
async function pollingSession(t, base = BASE) {
  const res = await request("GET", "EIO=4&transport=polling", undefined, base);
  assert.equal(res.status, 200, "handshake status");
  const open = parseOpen(res.body);
  t.after(() => request("POST", `EIO=4&transport=polling&sid=${open.sid}`, "1", base).catch(() => {}));
  return open.sid;
}

/**
 * Parses a Socket.IO packet (the payload of an Engine.IO message, without
 * the leading `4`) into {type, attachments, nsp, id, data}.
 */
function parseSio(text) {
  let i = 0;
  const type = Number(text[i++]);
  let attachments = null;
  if (type === 5 || type === 6) {
    const dash = text.indexOf("-", i);
    attachments = Number(text.slice(i, dash));
    i = dash + 1;
  }
  let nsp = "/";
  if (text[i] === "/") {
    const comma = text.indexOf(",", i);
    const end = comma === -1 ? text.length : comma;
    nsp = text.slice(i, end);
    i = comma === -1 ? end : comma + 1;
  }
  let id = "";
  while (i < text.length && text[i] >= "0" && text[i] <= "9") id += text[i++];
  const rest = text.slice(i);
  return { type, attachments, nsp, id: id === "" ? null : Number(id), data: rest === "" ? undefined : JSON.parse(rest) };
}

/** Asserts that an Engine.IO message `got` is the Socket.IO packet `expected`
 * (same header; JSON data equal, key order aside). */
function assertPacket(got, expected) {
  assert.equal(typeof got, "string", `text packet ${JSON.stringify(expected)}, got binary`);
  assert.equal(got[0], "4", `an Engine.IO message, got ${JSON.stringify(got)}`);
  assert.deepEqual(parseSio(got.slice(1)), parseSio(expected.slice(1)), `packet ${JSON.stringify(got)} vs expected ${JSON.stringify(expected)}`);
}

function placeholder(num) {
  return { _placeholder: true, num };
}

/** A WebSocket to the Engine.IO endpoint with a bounded message queue. */
class WsClient {
  /**
   * autoPong: answer server pings with `3` as they arrive (for tests that
   * are not about heartbeats); pings are then never returned by next().
   */
  constructor(query, { autoPong = true } = {}) {
    this.ws = new WebSocket(`${WS_BASE}/socket.io/?${query}`);
    this.autoPong = autoPong;
    this.queue = [];
    this.waiters = [];
    this.closed = false;
    this.error = null;
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("close", () => reject(new Error("closed before it opened")));
    });
    this.opened.catch(() => {});
    this.closedPromise = new Promise((resolve) => {
      this.ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.ws.on("error", (err) => {
      this.error = err;
    });
    this.ws.on("message", (data, isBinary) => {
      const message = isBinary ? Buffer.from(data) : data.toString();
      if (this.autoPong && message === "2") {
        this.send("3");
        return;
      }
      this.queue.push(message);
      this.wake();
    });
    this.ws.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The next message (a string, or a Buffer for a binary frame). */
  async next(what = "a message", ms = WAIT) {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (this.closed) throw new assert.AssertionError({ message: `connection closed while waiting for ${what}` });
      const left = deadline - Date.now();
      if (left <= 0) throw new assert.AssertionError({ message: `timed out after ${ms} ms waiting for ${what}` });
      let wake;
      const woken = new Promise((resolve) => {
        wake = resolve;
        this.waiters.push(resolve);
      });
      let timer;
      await Promise.race([woken, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
      this.waiters = this.waiters.filter((w) => w !== wake);
    }
    return this.queue.shift();
  }

  async nextText(what) {
    const message = await this.next(what);
    assert.equal(typeof message, "string", `${what}: a text frame, got binary ${message.toString("hex")}`);
    return message;
  }

  async expectText(expected) {
    assert.equal(await this.nextText(JSON.stringify(expected)), expected);
  }

  async expectPacket(expected) {
    assertPacket(await this.nextText(JSON.stringify(expected)), expected);
  }

  async expectBinary(bytes) {
    const message = await this.next(`binary frame ${Buffer.from(bytes).toString("hex")}`);
    assert.ok(Buffer.isBuffer(message), `a binary frame, got text ${JSON.stringify(message)}`);
    assert.deepEqual([...message], [...bytes]);
  }

  send(data) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }

  /** Resolves when the server has closed the connection (bounded). */
  waitClosed(what = "the connection to close", ms = WAIT) {
    return within(this.closedPromise, what, ms);
  }

  terminate() {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}

/** Opens a WebSocket (closed after the test `t`). */
function wsClient(t, query, opts) {
  const client = new WsClient(query, opts);
  t.after(() => client.terminate());
  return client;
}

/** A fresh Engine.IO WebSocket session, past its open packet. */
async function wsSession(t, opts) {
  const client = wsClient(t, "EIO=4&transport=websocket", opts);
  await within(client.opened, "the WebSocket to open");
  client.open = parseOpen(await client.nextText("the open packet"));
  return client;
}

/** Opens a WebSocket session, sends `packet` and waits for the server to close the connection. */
async function closedAfter(t, packet) {
  const client = await wsSession(t);
  client.send(packet);
  await client.waitClosed();
}

/**
 * A WebSocket session connected to Socket.IO namespace `nsp` with connect
 * payload `payload` (a JSON text or ""), past the CONNECT reply and the
 * echo namespace's `auth` event, which are checked.
 */
async function sioSession(t, nsp = "/", payload = "", opts = undefined) {
  const client = await wsSession(t, opts);
  await sioConnect(client, nsp, payload);
  return client;
}

async function sioConnect(client, nsp = "/", payload = "") {
  const prefix = nsp === "/" ? "" : `${nsp},`;
  client.send(`40${prefix}${payload}`);
  const reply = await client.nextText(`the CONNECT reply of ${nsp}`);
  assert.ok(reply.startsWith(`40${prefix}{`), `40${prefix}{"sid":...}, got ${JSON.stringify(reply)}`);
  const data = JSON.parse(reply.slice(2 + prefix.length));
  assert.deepEqual(Object.keys(data), ["sid"], `CONNECT reply keys in ${JSON.stringify(reply)}`);
  assert.equal(typeof data.sid, "string");
  assert.ok(data.sid.length > 0, "a non-empty Socket.IO sid");
  const auth = payload === "" ? {} : JSON.parse(payload);
  await client.expectPacket(`42${prefix}${JSON.stringify(["auth", auth])}`);
  return data.sid;
}

/**
 * Long-polling reader: gathers Engine.IO packets over as many GET polls as
 * needed, answering pings, returning the others one by one.
 */
class Poller {
  constructor(sid) {
    this.sid = sid;
    this.query = `EIO=4&transport=polling&sid=${sid}`;
    this.queue = [];
  }

  post(...packets) {
    return request("POST", this.query, packets.join(SEP));
  }

  async next(what = "a packet") {
    const deadline = Date.now() + WAIT;
    while (this.queue.length === 0) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      const res = await request("GET", this.query);
      assert.equal(res.status, 200, `poll status while waiting for ${what} (body ${JSON.stringify(res.body)})`);
      for (const packet of res.body.split(SEP)) {
        if (packet === "2") {
          const pong = await this.post("3");
          assert.equal(pong.status, 200, "pong status");
        } else if (packet !== "6") {
          this.queue.push(packet);
        }
      }
    }
    return this.queue.shift();
  }
}

// ---------------------------------------------------------------------------
// Engine.IO

describe("Engine.IO handshake", () => {
  it("polling handshake: 200 and 0{sid, upgrades [websocket], pingInterval, pingTimeout, maxPayload}", TEST, async (t) => {
    const res = await request("GET", "EIO=4&transport=polling");
    assert.equal(res.status, 200);
    const open = parseOpen(res.body);
    t.after(() => request("POST", `EIO=4&transport=polling&sid=${open.sid}`, "1").catch(() => {}));
    assertHandshake(open, ["websocket"]);
  });

  it("websocket handshake: 0{...} with the same keys, upgrades []", TEST, async (t) => {
    const client = await wsSession(t);
    assertHandshake(client.open, []);
  });

  it("each handshake gets its own sid", TEST, async (t) => {
    const a = await pollingSession(t);
    const b = await pollingSession(t);
    const c = await wsSession(t);
    assert.equal(new Set([a, b, c.open.sid]).size, 3, `distinct sids, got ${a} ${b} ${c.open.sid}`);
  });
});

describe("Engine.IO bad requests", () => {
  const cases = [
    ["GET", "transport=polling", "missing EIO"],
    ["GET", "EIO=abc&transport=polling", "invalid EIO (abc)"],
    ["GET", "EIO=5&transport=polling", "unsupported EIO (5)"],
    ["GET", "EIO=4", "missing transport"],
    ["GET", "EIO=4&transport=abc", "invalid transport"],
    ["POST", "EIO=4&transport=polling", "POST without sid"],
    ["PUT", "EIO=4&transport=polling", "PUT without sid"],
    ["GET", "EIO=4&transport=polling&sid=no-such-session", "GET with an unknown sid"],
  ];
  for (const [method, query, what] of cases) {
    it(`${what}: ${method} ?${query} -> 400`, TEST, async () => {
      const body = method === "GET" ? undefined : "40";
      const res = await request(method, query, body);
      assert.equal(res.status, 400, `status (body ${JSON.stringify(res.body)})`);
    });
  }
});

describe("Engine.IO heartbeat", () => {
  it("polling: the first poll is a ping, about one ping interval after the handshake", TEST, async (t) => {
    // Measured from before the handshake, so a busy machine that answers the
    // handshake late cannot make the ping look early.
    const start = performance.now();
    const sid = await pollingSession(t);
    const poll = await request("GET", `EIO=4&transport=polling&sid=${sid}`);
    const took = performance.now() - start;
    assert.equal(poll.status, 200);
    assert.equal(poll.body, "2");
    assert.ok(took >= 200, `the first ping after >= 200 ms, came after ${took.toFixed(0)} ms`);
    const pong = await request("POST", `EIO=4&transport=polling&sid=${sid}`, "3");
    assert.equal(pong.status, 200);
  });

  it("polling: ping (GET) / pong (POST 3) three times in a row", TEST, async (t) => {
    // Connected to `/` so that the connect timeout (1000 ms) cannot end the
    // session before the third ping (at ~900 ms).
    const sid = await pollingSession(t);
    const query = `EIO=4&transport=polling&sid=${sid}`;
    const poller = new Poller(sid);
    assert.equal((await poller.post("40")).status, 200);
    assert.match(await poller.next("the CONNECT reply"), /^40\{"sid":"[^"]+"\}$/);
    assertPacket(await poller.next("the auth event"), '42["auth",{}]');
    assert.deepEqual(poller.queue, [], "nothing else after the auth event");
    for (let round = 1; round <= 3; round++) {
      const poll = await request("GET", query);
      assert.equal(poll.status, 200, `poll ${round} status`);
      assert.equal(poll.body, "2", `poll ${round} body`);
      const pong = await request("POST", query, "3");
      assert.equal(pong.status, 200, `pong ${round} status`);
      assert.equal(pong.body, "ok", `pong ${round} body`);
    }
  });

  it("polling: no pong within pingInterval + pingTimeout -> the session is closed (poll 400)", TEST, async (t) => {
    const sid = await pollingSession(t);
    const query = `EIO=4&transport=polling&sid=${sid}`;
    const poll = await request("GET", query);
    assert.equal(poll.status, 200);
    assert.equal(poll.body, "2");
    // No pong. The server waits pingTimeout for it; a little margin, and still
    // well before the connect timeout (1000 ms after the handshake).
    await delay(PING_TIMEOUT + 150);
    // On a busy machine the close may come a little later: a poll still
    // answered (it waits for the close) is followed by another.
    let after = await request("GET", query);
    for (let retry = 0; after.status === 200 && retry < 2; retry++) {
      after = await request("GET", query);
    }
    assert.equal(after.status, 400, `status after the ping timeout (body ${JSON.stringify(after.body)})`);
  });

  it("websocket: ping / pong three times in a row, the first after about one ping interval", TEST, async (t) => {
    const start = performance.now();
    const client = await sioSession(t, "/", "", { autoPong: false });
    for (let round = 1; round <= 3; round++) {
      await client.expectText("2");
      if (round === 1) {
        const took = performance.now() - start;
        assert.ok(took >= 200, `the first ping after >= 200 ms, came after ${took.toFixed(0)} ms`);
      }
      client.send("3");
    }
  });

  it("websocket: no pong -> the connection is closed", TEST, async (t) => {
    // Measured from before the handshake: the server pings one interval after
    // it and closes one timeout after the ping, so the close cannot come
    // sooner than both, however late a busy machine delivers the ping.
    const start = performance.now();
    const client = await sioSession(t, "/", "", { autoPong: false });
    await client.expectText("2");
    await client.waitClosed("the server to close the connection after the ping timeout", PING_TIMEOUT + 1000);
    const took = performance.now() - start;
    assert.ok(
      took >= PING_INTERVAL + PING_TIMEOUT - 50,
      `closed no sooner than pingInterval + pingTimeout after the handshake, closed after ${took.toFixed(0)} ms`,
    );
  });
});

describe("Engine.IO close", () => {
  it("polling: a pending poll and POST 1 -> the poll returns 6, then polls are 400", TEST, async (t) => {
    // On the slow-ping server: with a 300 ms ping interval, a machine that
    // stalls for longer turns the pending poll into the ping's, or ends the
    // session (no pong) before the close arrives.
    const base = SLOW_PING_BASE;
    const sid = await pollingSession(t, base);
    const query = `EIO=4&transport=polling&sid=${sid}`;
    const pending = request("GET", query, undefined, base);
    // The GET must reach the server before the close. The client cannot see
    // when a request is parked on the server (they travel on separate
    // connections), so it gives the GET a head start.
    await delay(250);
    const [poll, close] = await Promise.all([pending, request("POST", query, "1", base)]);
    assert.equal(close.status, 200, "close POST status");
    assert.equal(poll.status, 200, "pending poll status");
    assert.equal(poll.body, "6", "pending poll body");
    const after = await request("GET", query, undefined, base);
    assert.equal(after.status, 400, "poll after close");
  });

  it("websocket: sending 1 closes the connection", TEST, (t) => closedAfter(t, "1"));
});

describe("Engine.IO upgrade", () => {
  it("polling -> websocket: 2probe / 3probe, 5; then polling and a second websocket are refused", TEST, async (t) => {
    const sid = await pollingSession(t);
    const ws = wsClient(t, `EIO=4&transport=websocket&sid=${sid}`);
    await within(ws.opened, "the upgrade WebSocket to open");
    ws.send("2probe");
    await ws.expectText("3probe");
    ws.send("5");
    // A Socket.IO connect over the new transport: its reply proves the
    // upgrade is complete on the server, and that it works.
    await sioConnect(ws);

    const poll = await request("GET", `EIO=4&transport=polling&sid=${sid}`);
    assert.equal(poll.status, 400, `poll after the upgrade (body ${JSON.stringify(poll.body)})`);

    const second = wsClient(t, `EIO=4&transport=websocket&sid=${sid}`);
    await second.waitClosed("a second WebSocket with the same sid to be closed");

    ws.send('42["message","still here"]');
    await ws.expectPacket('42["message-back","still here"]');
  });
});

// ---------------------------------------------------------------------------
// Socket.IO

describe("Socket.IO connect", () => {
  it('connect to / -> 40{"sid"} then 42["auth",{}]', TEST, async (t) => {
    await sioSession(t, "/");
  });

  it('connect to / with a payload -> 42["auth",{"token":"123"}]', TEST, async (t) => {
    await sioSession(t, "/", '{"token":"123"}');
  });

  it('connect to /custom -> 40/custom,{"sid"} then 42/custom,["auth",{}]', TEST, async (t) => {
    await sioSession(t, "/custom");
  });

  it('connect to /custom with a payload -> 42/custom,["auth",{"token":"abc"}]', TEST, async (t) => {
    await sioSession(t, "/custom", '{"token":"abc"}');
  });

  it('connect to /random -> exactly 44/random,{"message":"Invalid namespace"}', TEST, async (t) => {
    const client = await wsSession(t);
    client.send("40/random");
    await client.expectText('44/random,{"message":"Invalid namespace"}');
  });

  it("connect over polling -> 40{sid} and the auth event in the next poll", TEST, async (t) => {
    const sid = await pollingSession(t);
    const poller = new Poller(sid);
    assert.equal((await poller.post('40{"token":"p"}')).status, 200);
    const reply = await poller.next("the CONNECT reply");
    assert.match(reply, /^40\{"sid":"[^"]+"\}$/);
    assertPacket(await poller.next("the auth event"), '42["auth",{"token":"p"}]');
  });

  it("an invalid packet 4abc closes the connection", TEST, (t) => closedAfter(t, "4abc"));
});

describe("Socket.IO disconnect", () => {
  it("after 41 on /, the next message is a ping", TEST, async (t) => {
    const client = await sioSession(t, "/", "", { autoPong: false });
    client.send("41");
    await client.expectText("2");
  });

  it("disconnecting /custom leaves / connected", TEST, async (t) => {
    const client = await sioSession(t, "/");
    await sioConnect(client, "/custom");
    client.send("41/custom,");
    client.send('42["message","x",1,2]');
    await client.expectPacket('42["message-back","x",1,2]');
  });
});

describe("Socket.IO acknowledgements", () => {
  it("emit-with-ack: the server asks for an ack, then emits the ack's arguments", TEST, async (t) => {
    const client = await sioSession(t);
    client.send('42["emit-with-ack",1,"2",{"3":[true]}]');
    await client.expectPacket('421["emit-with-ack",1,"2",{"3":[true]}]');
    client.send('431[1,"2",{"3":[true]}]');
    await client.expectPacket('42["emit-with-ack",1,"2",{"3":[true]}]');
  });

  it("emit-with-ack with different ack values: the server emits the ack's arguments", TEST, async (t) => {
    const client = await sioSession(t);
    client.send('42["emit-with-ack","a",[1]]');
    const asked = await client.nextText("the server's emit-with-ack");
    const packet = parseSio(asked.slice(1));
    assert.equal(packet.type, 2);
    assert.ok(Number.isInteger(packet.id), `an ack id in ${JSON.stringify(asked)}`);
    assert.deepEqual(packet.data, ["emit-with-ack", "a", [1]]);
    client.send(`43${packet.id}[{"reply":true},null,"z"]`);
    await client.expectPacket('42["emit-with-ack",{"reply":true},null,"z"]');
  });

  it("emit-with-ack binary: 452-... -> 452-1..., ack 462-1... -> 452-...", TEST, async (t) => {
    const client = await sioSession(t);
    const args = [placeholder(0), placeholder(1), "test"];
    client.send(`452-${JSON.stringify(["emit-with-ack", ...args])}`);
    client.send(Buffer.from([1, 2, 3]));
    client.send(Buffer.from([4, 5, 6]));
    await client.expectPacket(`452-1${JSON.stringify(["emit-with-ack", ...args])}`);
    await client.expectBinary([1, 2, 3]);
    await client.expectBinary([4, 5, 6]);

    client.send(`462-1${JSON.stringify([placeholder(0), "acked", placeholder(1)])}`);
    client.send(Buffer.from([7, 8]));
    client.send(Buffer.from([9]));
    await client.expectPacket(`452-${JSON.stringify(["emit-with-ack", placeholder(0), "acked", placeholder(1)])}`);
    await client.expectBinary([7, 8]);
    await client.expectBinary([9]);
  });
});

describe("Socket.IO messages", () => {
  it('42["message",...] -> 42["message-back",...]', TEST, async (t) => {
    const client = await sioSession(t);
    client.send('42["message",1,"2",{"3":[true]}]');
    await client.expectPacket('42["message-back",1,"2",{"3":[true]}]');
  });

  it("message on /custom -> message-back on /custom", TEST, async (t) => {
    const client = await sioSession(t, "/custom");
    client.send('42/custom,["message","ü😀",-1.5,null]');
    await client.expectPacket('42/custom,["message-back","ü😀",-1.5,null]');
  });

  it("binary message: 452-[message, 2 placeholders] + 2 frames -> message-back + the same frames", TEST, async (t) => {
    const client = await sioSession(t);
    client.send(`452-${JSON.stringify(["message", placeholder(0), placeholder(1)])}`);
    client.send(Buffer.from([1, 2, 3]));
    client.send(Buffer.from([4, 5, 6]));
    await client.expectPacket(`452-${JSON.stringify(["message-back", placeholder(0), placeholder(1)])}`);
    await client.expectBinary([1, 2, 3]);
    await client.expectBinary([4, 5, 6]);
  });

  it('message-with-ack: 421["message-with-ack",...] -> 431[...]', TEST, async (t) => {
    const client = await sioSession(t);
    client.send('421["message-with-ack",1,"2",{"3":[true]}]');
    await client.expectPacket('431[1,"2",{"3":[true]}]');
  });

  it("binary message-with-ack: 451-1[...] + frame -> 461-1[...] + the same frame", TEST, async (t) => {
    const client = await sioSession(t);
    client.send(`451-1${JSON.stringify(["message-with-ack", placeholder(0)])}`);
    client.send(Buffer.from([1, 2, 3]));
    await client.expectPacket(`461-1${JSON.stringify([placeholder(0)])}`);
    await client.expectBinary([1, 2, 3]);
  });

  it("binary message over polling: attachments as b<base64> packets", TEST, async (t) => {
    const sid = await pollingSession(t);
    const poller = new Poller(sid);
    assert.equal((await poller.post("40")).status, 200);
    assert.match(await poller.next("the CONNECT reply"), /^40\{"sid":"[^"]+"\}$/);
    assertPacket(await poller.next("the auth event"), '42["auth",{}]');
    const sent = await poller.post(
      `452-${JSON.stringify(["message", placeholder(0), placeholder(1)])}`,
      `b${Buffer.from([1, 2, 3]).toString("base64")}`,
      `b${Buffer.from([4, 5, 6]).toString("base64")}`,
    );
    assert.equal(sent.status, 200);
    assertPacket(await poller.next("message-back"), `452-${JSON.stringify(["message-back", placeholder(0), placeholder(1)])}`);
    assert.equal(await poller.next("the first attachment"), `b${Buffer.from([1, 2, 3]).toString("base64")}`);
    assert.equal(await poller.next("the second attachment"), `b${Buffer.from([4, 5, 6]).toString("base64")}`);
  });
});
