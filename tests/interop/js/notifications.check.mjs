#!/usr/bin/env node
// Interop checks of Switchboard's `/notifications` namespace and HTTP push API
// (`/api/v1`) with the reference JavaScript Socket.IO client (socket.io-client
// v4), Node's fetch, and tokens signed by a real JWT library (jsonwebtoken).
//
//     node notifications.check.mjs URL --secret JWT_SECRET --api-key KEY
//                                 [--transport websocket|polling|upgrade]
//                                 [--max-payload BYTES]
//
// `--secret` / `--api-key` default to SWITCHBOARD_JWT_SECRET /
// SWITCHBOARD_API_KEY. The server must run with that secret and key, and
// with --max-payload BYTES (default 1000000, the server's default too).
//
// Contract: PROTOCOL.md ("Conventions", "Namespace `/notifications`", "HTTP
// push API") and docs/notifications.md (ids, live-only topic and broadcast
// pushes, read state, idempotency, HTTP errors). Checked here:
// - refusals: no token, malformed, wrongly signed, expired, without `exp`,
//   unsigned (`alg: none`), empty `sub` -> connect_error `unauthorized`;
//   a `since` that is not a stored id -> `bad_request`;
// - a push through POST /api/v1/notifications arrives live as `notification`
//   with every field, asking for an ack; several users; other users' pushes
//   stay away;
// - `list` (newest first, unread count, unread_only, before, limit, bad
//   arguments acked or emitted as `error` with `bad_request`);
// - replay after an offline period (exactly the missed ones, in id order,
//   then live), `since` = newest id, no `since`, `since` = 16 zeros;
// - `read {ids}` / `read {all}`: ack with the unread count, `unread {count}`
//   on every socket of the user; other users' ids ignored; bad payloads;
// - `subscribe` / `unsubscribe` (sorted topics), topic pushes reaching only
//   subscribed sockets (user null, `topic`, `live:` id), broadcast;
// - GET /api/v1/users/{user}/notifications, idempotent retries
//   (Idempotency-Key), the HTTP errors (401, 400, 404, 413), POST /api/v1/emit to a
//   `/chat` room and to `/echo`.
//
// Every user, topic, room and kind carries a random per-run tag, so runs do
// not disturb each other (a broadcast of another run is ignored).
// Every wait is bounded; that something does NOT arrive is checked after a
// round trip on the same socket (a `list` ack, or a later push that must be
// the next one to arrive), never after a fixed sleep.
//
// Prints one `ok   <name>` / `FAIL <name>: expected ... got ...` line per
// check and, last, `interop: notifications.check.mjs <transport>: <P> checks
// ok, <F> failed`. Exit code 0 only when nothing failed and something passed.

import { randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import { io } from "socket.io-client";

import { CONNECT_TIMEOUT_MS, CheckFailed, Checker, TIMEOUT_MS, ackArgs, bounded, clientOptions, connectRecording, emitArgs, expect, expectTrue, main, namespaceUrl, onceEvent, parseCli, show } from "./lib/checks.mjs";

const PROGRAM = "notifications.check.mjs";
const NS = "/notifications";
const STORED_ID = /^\d{16}$/;
const LIVE_ID = /^live:\d{16}$/;
const ZERO_ID = "0000000000000000";
const USER_FIELDS = ["data", "id", "kind", "read", "ts", "user"];
const TOPIC_FIELDS = ["data", "id", "kind", "read", "topic", "ts", "user"];

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const nowSeconds = () => Math.floor(Date.now() / 1000);
const sortedKeys = (value) => (value && typeof value === "object" ? Object.keys(value).sort() : show(value));

// ---------------------------------------------------------------------------
// HTTP

class Api {
  constructor(base, key) {
    this.origin = new URL(base).origin;
    this.key = key;
  }

  /** One request; resolves to {status, json, text} (json undefined if not JSON). */
  async request(method, path, { body, raw, key = this.key, headers = {} } = {}) {
    const h = { ...headers };
    if (key !== null) h.authorization = `Bearer ${key}`;
    let payload;
    if (raw !== undefined) {
      payload = raw;
      h["content-type"] = "application/json";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      h["content-type"] = "application/json";
    }
    let res;
    let text;
    try {
      res = await fetch(`${this.origin}${path}`, {
        method,
        headers: h,
        body: payload,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      text = await res.text();
    } catch (err) {
      throw new CheckFailed(`an answer to ${method} ${path}`, show(err?.cause ?? err));
    }
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, method, path };
  }

  push(body, options = {}) {
    return this.request("POST", "/api/v1/notifications", { body, ...options });
  }

  /** A push that must answer 201; returns the body. */
  async pushOk(body, options = {}) {
    const res = await this.push(body, options);
    expectStatus(res, 201);
    expect(["notifications", "online"], sortedKeys(res.json), "201 body fields");
    return res.json;
  }

  /** A user push that must answer 201 with one notification; returns its id. */
  async pushUser(user, kind, data, options = {}) {
    const body = { users: [user], kind };
    if (data !== undefined) body.data = data;
    const json = await this.pushOk(body, options);
    expect(1, json.notifications.length, "notifications in the 201 body");
    const [entry] = json.notifications;
    expect(["id", "user"], sortedKeys(entry), "201 notification entry fields");
    expect(user, entry.user, "201 notification user");
    expectTrue(STORED_ID.test(entry.id), "a 16-digit id", show(entry.id));
    return entry.id;
  }

  async userList(user, query = "") {
    const res = await this.request("GET", `/api/v1/users/${encodeURIComponent(user)}/notifications${query}`);
    expectStatus(res, 200);
    expect(["notifications", "unread"], sortedKeys(res.json), "200 body fields");
    return res.json;
  }
}

function expectStatus(res, status) {
  if (res.status !== status) {
    throw new CheckFailed(`${res.method} ${res.path} -> HTTP ${status}`, `HTTP ${res.status} ${show(res.text, 300)}`);
  }
}

/** An HTTP error answer: `status` with exactly `{"error": {"code", "message"}}`. */
function expectHttpError(res, status, code, what = "") {
  const label = what ? `${what}: ` : "";
  if (res.status !== status) {
    throw new CheckFailed(`${label}${res.method} ${res.path} -> HTTP ${status} ${code}`, `HTTP ${res.status} ${show(res.text, 300)}`);
  }
  expect(["error"], sortedKeys(res.json), `${label}error body fields`);
  expect(["code", "message"], sortedKeys(res.json.error), `${label}error fields`);
  expect(code, res.json.error.code, `${label}error code`);
  expectTrue(typeof res.json.error.message === "string" && res.json.error.message.length > 0, `${label}a human message`, show(res.json.error.message));
}

/** A refusal ack: exactly `[{ok: false, error: {code, message}}]`. */
function expectAckError(ack, code, what = "") {
  const label = what ? `${what}: ` : "";
  expectTrue(ack.length === 1, `${label}one ack argument`, show(ack));
  const [a] = ack;
  expect(["error", "ok"], sortedKeys(a), `${label}ack fields`);
  expect(false, a.ok, `${label}ok`);
  expect(["code", "message"], sortedKeys(a.error), `${label}error fields`);
  expect(code, a.error.code, `${label}error code`);
  expectTrue(typeof a.error.message === "string" && a.error.message.length > 0, `${label}a human message`, show(a.error.message));
}

/** A success ack: exactly `[{ok: true, ...fields}]`. Returns the object. */
function expectAckOk(ack, fields, what = "") {
  const label = what ? `${what}: ` : "";
  expectTrue(ack.length === 1, `${label}one ack argument`, show(ack));
  expect(["ok", ...fields].sort(), sortedKeys(ack[0]), `${label}ack fields`);
  expect(true, ack[0].ok, `${label}ok`);
  return ack[0];
}

// ---------------------------------------------------------------------------

class NotificationChecks {
  constructor(opts, checker) {
    this.url = opts.url;
    this.transport = opts.transport;
    this.secret = opts.secret;
    this.api = new Api(opts.url, opts["api-key"]);
    this.maxPayload = opts.maxPayload;
    this.checker = checker;
    const short = { websocket: "ws", polling: "poll", upgrade: "up" }[this.transport];
    this.tag = `js-${short}-${randomBytes(4).toString("hex")}`;
    this.open = new Set(); // {socket, recorder} of every socket still open
    this.kindN = 0;
  }

  user(name) {
    return `${this.tag}-${name}`;
  }

  topic(name) {
    return `${this.tag}.${name}`;
  }

  /** A fresh kind of this run. */
  kind(what) {
    this.kindN += 1;
    return `${this.tag}.${what}.${this.kindN}`;
  }

  async check(name, fn) {
    const ok = await this.checker.run(name, fn);
    // Leftovers of a failed check must not be taken by the next one.
    if (!ok) for (const c of this.open) c.recorder.dropUnread();
    return ok;
  }

  // -- tokens ---------------------------------------------------------------

  token(user, { secret = this.secret, ttl = 3600 } = {}) {
    return jwt.sign({ sub: user }, secret, { algorithm: "HS256", expiresIn: ttl });
  }

  // -- sockets --------------------------------------------------------------

  async connect(user, { since, namespace = NS } = {}) {
    let auth;
    if (namespace === NS) {
      auth = { token: this.token(user) };
      if (since !== undefined) auth.since = since;
    }
    const c = await connectRecording(this.url, namespace, this.transport, { auth });
    this.open.add(c);
    return c;
  }

  async close(c) {
    if (!this.open.delete(c)) return;
    if (!c.socket.connected) return;
    const closed = onceEvent(c.socket, "disconnect", "the disconnect event");
    c.socket.disconnect();
    await closed;
  }

  closeAll() {
    for (const c of this.open) c.socket.disconnect();
    this.open.clear();
  }

  /** Connecting with `auth` must end in connect_error `code` (`what` names the case). */
  async refusedWith(auth, code, what = "") {
    const label = what ? `${what}: ` : "";
    const socket = io(namespaceUrl(this.url, NS), clientOptions(this.transport, auth === undefined ? {} : { auth }));
    const outcome = new Promise((resolve) => {
      socket.once("connect", () => resolve({ connected: true }));
      socket.once("connect_error", (err) => resolve({ err }));
    });
    socket.connect();
    try {
      const got = await bounded(outcome, `${label}connect_error ${code}`, CONNECT_TIMEOUT_MS);
      expectTrue(!got.connected, `${label}connect_error ${code}`, "a connection");
      expectTrue(got.err instanceof Error, `${label}an Error`, show(got.err));
      expect(code, got.err.message, `${label}connect_error message`);
    } finally {
      socket.disconnect();
    }
  }

  /** A live topic/broadcast push of another run (user null, kind not ours). */
  foreign(n) {
    return n !== null && typeof n === "object" && n.user === null && !(typeof n.kind === "string" && n.kind.startsWith(`${this.tag}.`));
  }

  /** The next `notification` of this run on `c` (others' broadcasts skipped). */
  async nextNotification(c) {
    for (;;) {
      const record = await c.recorder.next("notification");
      if (record.args.length === 1 && this.foreign(record.args[0])) {
        record.ack?.(true);
        continue;
      }
      return record;
    }
  }

  /** The next notification whose id is not a stored id <= `lastId` (replay/live
   * duplicates, allowed by the contract, are acked and skipped). */
  async nextNew(c, lastId) {
    for (;;) {
      const record = await this.nextNotification(c);
      const id = record.args[0]?.id;
      if (lastId !== null && typeof id === "string" && STORED_ID.test(id) && id <= lastId) {
        record.ack?.(true);
        continue;
      }
      return record;
    }
  }

  /** Recorded notifications of this run nobody took yet. */
  pending(c) {
    return c.recorder.unread().filter((r) => r.event === "notification" && !(r.args.length === 1 && this.foreign(r.args[0])));
  }

  /** A `list` round trip: everything the server sent `c` before is recorded. */
  async settle(c) {
    const ack = await ackArgs(c.socket, "list", [{ limit: 1 }]);
    expectTrue(ack[0]?.ok === true, "list {limit: 1} to be acked ok", show(ack));
  }

  /** After a round trip, `c` holds no notification of this run (except stored
   * ids <= `lastId`: duplicates). */
  async expectNoMoreNotifications(c, what, lastId = null) {
    await this.settle(c);
    const stray = this.pending(c).filter((r) => {
      const id = r.args[0]?.id;
      return !(lastId !== null && typeof id === "string" && STORED_ID.test(id) && id <= lastId);
    });
    expectTrue(stray.length === 0, `no notification ${what}`, show(stray.map((r) => r.args)));
  }

  /** `record` is exactly the stored notification `want` ({id, user, kind, data}),
   * unread, asking for an ack; acks it. Returns the notification. */
  expectStored(record, want, what = "notification") {
    expect(1, record.args.length, `${what}: argument count`);
    const [n] = record.args;
    expect(USER_FIELDS, sortedKeys(n), `${what}: fields`);
    if (want.id !== undefined) expect(want.id, n.id, `${what}: id`);
    expectTrue(STORED_ID.test(n.id), `${what}: a 16-digit id`, show(n.id));
    expect(want.user, n.user, `${what}: user`);
    expect(want.kind, n.kind, `${what}: kind`);
    expect(want.data ?? null, n.data, `${what}: data`);
    expect(false, n.read, `${what}: read`);
    expectTrue(Number.isInteger(n.ts) && Math.abs(n.ts - Date.now()) < 120000, `${what}: ts in ms since the epoch, about now`, show(n.ts));
    expectTrue(record.ack !== null, `${what}: an ack request`, "no ack request");
    record.ack(true);
    return n;
  }

  /** `record` is a live-only push: user null, `live:` id, topic when given. */
  expectLive(record, { kind, data, topic }, what = "notification") {
    expect(1, record.args.length, `${what}: argument count`);
    const [n] = record.args;
    expect(topic === undefined ? USER_FIELDS : TOPIC_FIELDS, sortedKeys(n), `${what}: fields`);
    expectTrue(LIVE_ID.test(n.id), `${what}: an id live:<16 digits>`, show(n.id));
    expect(null, n.user, `${what}: user`);
    if (topic !== undefined) expect(topic, n.topic, `${what}: topic`);
    expect(kind, n.kind, `${what}: kind`);
    expect(data ?? null, n.data, `${what}: data`);
    expect(false, n.read, `${what}: read`);
    expectTrue(Number.isInteger(n.ts) && Math.abs(n.ts - Date.now()) < 120000, `${what}: ts in ms since the epoch, about now`, show(n.ts));
    record.ack?.(true);
    return n;
  }

  /** Pushes to `user` and takes it from `c` (skipping duplicates of stored
   * ids <= `lastId`): returns the notification. */
  async pushAndReceive(c, user, what, { data = { what }, lastId = null } = {}) {
    const kind = this.kind(what);
    const id = await this.api.pushUser(user, kind, data);
    return this.expectStored(await this.nextNew(c, lastId), { id, user, kind, data }, what);
  }

  // -- the checks -----------------------------------------------------------

  async run() {
    await this.refusals();
    let alice;
    const connected = await this.check("a valid HS256 token (jsonwebtoken) connects", async () => {
      alice = await this.connect(this.user("alice"));
    });
    if (!connected) {
      this.checker.skipAll(["remaining checks"], `no connection to ${NS}`);
      return;
    }
    try {
      await this.livePush(alice);
      await this.listChecks();
      await this.replayChecks();
      await this.readChecks();
      await this.topicChecks();
      await this.idempotency();
      await this.httpErrors();
      await this.emitChecks();
      await this.check("no unexpected server events on the open sockets", async () => {
        for (const c of this.open) {
          if (c.socket.nsp !== NS) continue;
          await this.settle(c);
          const stray = c.recorder.unread().filter((r) => !(r.event === "notification" && r.args.length === 1 && this.foreign(r.args[0])));
          expectTrue(stray.length === 0, "no unread server events", show(stray.map((r) => [r.event, r.args])));
        }
      });
    } finally {
      this.closeAll();
    }
  }

  async refusals() {
    const user = this.user("refused");
    const now = nowSeconds();
    await this.check("no auth -> connect_error unauthorized", () => this.refusedWith(undefined, "unauthorized"));
    await this.check("auth without token -> unauthorized", () => this.refusedWith({ since: ZERO_ID }, "unauthorized"));
    await this.check("malformed token -> unauthorized", async () => {
      for (const token of ["not-a-jwt", "a.b.c", ""]) {
        await this.refusedWith({ token }, "unauthorized", `token ${JSON.stringify(token)}`);
      }
    });
    await this.check("token signed with another secret -> unauthorized", () =>
      this.refusedWith({ token: this.token(user, { secret: `${this.secret}-not-the-same` }) }, "unauthorized"),
    );
    await this.check("expired token -> unauthorized", () =>
      this.refusedWith({ token: jwt.sign({ sub: user, iat: now - 3600, exp: now - 30 }, this.secret, { algorithm: "HS256" }) }, "unauthorized"),
    );
    await this.check("token without exp -> unauthorized", () =>
      this.refusedWith({ token: jwt.sign({ sub: user }, this.secret, { algorithm: "HS256" }) }, "unauthorized"),
    );
    await this.check("unsigned token (alg none) -> unauthorized", () =>
      this.refusedWith({ token: `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: user, iat: now, exp: now + 3600 })}.` }, "unauthorized"),
    );
    await this.check("token with an empty sub -> unauthorized", () =>
      this.refusedWith({ token: jwt.sign({ sub: "" }, this.secret, { algorithm: "HS256", expiresIn: 3600 }) }, "unauthorized"),
    );
    await this.check("since that is not an id -> connect_error bad_request", async () => {
      for (const since of ["abc", "4 2", 42, "00000000000000001x"]) {
        await this.refusedWith({ token: this.token(user), since }, "bad_request", `since ${JSON.stringify(since)}`);
      }
    });
    await this.check("since a live: id -> bad_request", () =>
      this.refusedWith({ token: this.token(user), since: "live:0000000000000001" }, "bad_request"),
    );
  }

  async livePush(alice) {
    const A = this.user("alice");
    const other = this.user("nobody-online");
    await this.check("HTTP push -> 201, arrives live with every field, asking for an ack", async () => {
      const kind = this.kind("live");
      const data = { n: 1, text: "héllo ✓ 😀", nested: [true, null, 2.5, { deep: [] }] };
      const json = await this.api.pushOk({ users: [A], kind, data });
      expect(1, json.notifications.length, "notifications in the 201 body");
      const [entry] = json.notifications;
      expect(["id", "user"], sortedKeys(entry), "201 notification entry fields");
      expect(A, entry.user, "201 notification user");
      expect(1, json.online, "online (sockets reached)");
      this.expectStored(await this.nextNotification(alice), { id: entry.id, user: A, kind, data });
    });

    await this.check("push without data -> data null", async () => {
      const kind = this.kind("nodata");
      const id = await this.api.pushUser(A, kind);
      this.expectStored(await this.nextNotification(alice), { id, user: A, kind, data: null });
    });

    await this.check("push to several users -> one stored notification each", async () => {
      const kind = this.kind("multi");
      const json = await this.api.pushOk({ users: [A, other], kind, data: { multi: true } });
      expect(2, json.notifications.length, "notifications in the 201 body");
      const byUser = Object.fromEntries(json.notifications.map((e) => [e.user, e.id]));
      expect([A, other].sort(), Object.keys(byUser).sort(), "users of the 201 entries");
      expectTrue(byUser[A] !== byUser[other], "distinct ids", show(json.notifications));
      expect(1, json.online, "online (sockets reached)");
      this.expectStored(await this.nextNotification(alice), { id: byUser[A], user: A, kind, data: { multi: true } });
      const theirs = await this.api.userList(other);
      expect([byUser[other]], theirs.notifications.map((n) => n.id), "the other user's stored ids");
      expect(1, theirs.unread, "the other user's unread count");
    });

    await this.check("a push to another user does not reach this socket", async () => {
      await this.api.pushUser(other, this.kind("not-for-alice"), { secret: true });
      // The next notification on this socket is a later push to its own user.
      await this.pushAndReceive(alice, A, "marker");
      await this.expectNoMoreNotifications(alice, "of another user");
    });

    if (this.transport === "upgrade") {
      await this.check("upgrade polling -> websocket, notifications keep arriving", async () => {
        const engine = alice.socket.io.engine;
        if (engine.transport.name !== "websocket") {
          await bounded(
            new Promise((resolve, reject) => {
              engine.once("upgrade", resolve);
              engine.once("upgradeError", (err) => reject(new CheckFailed("an upgrade", `upgradeError ${show(err?.message ?? err)}`)));
            }),
            "the engine's upgrade event",
            CONNECT_TIMEOUT_MS,
          );
        }
        expect("websocket", engine.transport.name, "engine transport");
        await this.pushAndReceive(alice, A, "after-upgrade");
      });
    } else {
      await this.check(`transport stays ${this.transport}`, async () => {
        expect(this.transport, alice.socket.io.engine.transport.name, "engine transport");
      });
    }
  }

  async listChecks() {
    const B = this.user("bob");
    let bob;
    let n = []; // oldest first
    const ok = await this.check("4 pushes arrive live with increasing ids", async () => {
      bob = await this.connect(B);
      for (let i = 1; i <= 4; i++) n.push(await this.pushAndReceive(bob, B, `list-${i}`, { data: { i } }));
      for (let i = 1; i < 4; i++) expectTrue(n[i - 1].id < n[i].id, "ids increasing in push order", show(n.map((x) => x.id)));
    });
    if (!ok) {
      this.checker.skipAll(["list checks"], "no notifications to list");
      return;
    }
    const list = async (args) => expectAckOk(await ackArgs(bob.socket, "list", [args]), ["notifications", "unread"], `list ${JSON.stringify(args)}`);
    const newest = [...n].reverse();

    await this.check("list {} -> newest first, with the unread count", async () => {
      const got = await list({});
      expect(newest, got.notifications, "notifications (the ones received, newest first)");
      expect(4, got.unread, "unread");
    });
    await this.check("list {limit: 2} -> the 2 newest", async () => {
      expect(newest.slice(0, 2), (await list({ limit: 2 })).notifications, "notifications");
    });
    await this.check("list {before} -> the older ones, newest first", async () => {
      expect([n[1], n[0]], (await list({ before: n[2].id })).notifications, "before the 3rd");
      expect([n[1]], (await list({ before: n[2].id, limit: 1 })).notifications, "before the 3rd, limit 1");
      expect([], (await list({ before: n[0].id })).notifications, "before the 1st");
    });
    await this.check("list with bad arguments -> ack bad_request", async () => {
      for (const args of [{ limit: 0 }, { limit: 101 }, { limit: -1 }, { limit: "2" }, { limit: 1.5 }, { before: "nope" }, { before: 5 }, { unread_only: "yes" }]) {
        expectAckError(await ackArgs(bob.socket, "list", [args]), "bad_request", `list ${JSON.stringify(args)}`);
      }
    });
    await this.check("list with a bad argument and no ack -> error event bad_request", async () => {
      emitArgs(bob.socket, "list", [{ limit: 0 }]);
      const got = await bob.recorder.next("error");
      expect(1, got.args.length, "error argument count");
      expect(["code", "message"], sortedKeys(got.args[0]), "error fields");
      expect("bad_request", got.args[0].code, "error code");
    });
    await this.check("read one, then list {unread_only: true} -> the unread ones", async () => {
      const ack = expectAckOk(await ackArgs(bob.socket, "read", [{ ids: [n[1].id] }]), ["unread"], "read");
      expect(3, ack.unread, "unread after reading one");
      const unread = await bob.recorder.next("unread");
      expect([{ count: 3 }], unread.args, "unread event");
      const got = await list({ unread_only: true });
      expect([n[3], n[2], n[0]], got.notifications, "unread notifications, newest first");
      expect(3, got.unread, "unread");
      const all = await list({});
      expect(newest.map((x) => x.id === n[1].id), all.notifications.map((x) => x.read), "read flags");
      n[1] = { ...n[1], read: true };
    });

    // The HTTP view of the same user.
    await this.check("GET /api/v1/users/{user}/notifications = the socket's list", async () => {
      const socketView = await list({});
      const got = await this.api.userList(B);
      expect(socketView.notifications, got.notifications, "notifications");
      expect(socketView.unread, got.unread, "unread");
      expect(3, got.unread, "unread");
    });
    await this.check("GET ?unread_only=true, ?limit=1, ?before=ID&limit=1", async () => {
      const all = [...n].reverse();
      expect([n[3], n[2], n[0]], (await this.api.userList(B, "?unread_only=true")).notifications, "unread_only=true");
      expect(all.slice(0, 1), (await this.api.userList(B, "?limit=1")).notifications, "limit=1");
      expect([n[1]], (await this.api.userList(B, `?before=${n[2].id}&limit=1`)).notifications, "before=3rd&limit=1");
      expect(all, (await this.api.userList(B, "?unread_only=false&limit=100")).notifications, "unread_only=false&limit=100");
    });
    await this.check("GET with a bad query -> 400 bad_request", async () => {
      for (const query of ["?limit=0", "?limit=101", "?limit=abc", "?before=nope", "?unread_only=maybe"]) {
        const res = await this.api.request("GET", `/api/v1/users/${encodeURIComponent(B)}/notifications${query}`);
        expectHttpError(res, 400, "bad_request", query);
      }
    });
    await this.check("GET of an unknown user -> 200 empty", async () => {
      const got = await this.api.userList(this.user("never-pushed"));
      expect({ notifications: [], unread: 0 }, got, "body");
    });
    await this.check("a user id with spaces and non-ASCII works in the API path", async () => {
      const odd = `${this.tag} zoë ✓/ü?#`;
      const kind = this.kind("odd-user");
      const id = await this.api.pushUser(odd, kind, { odd: true });
      const got = await this.api.userList(odd);
      expect([id], got.notifications.map((x) => x.id), "ids");
      expect(odd, got.notifications[0].user, "user");
    });
    await this.close(bob);
  }

  async replayChecks() {
    const C = this.user("carol");
    let stream = []; // every id of C, in order
    await this.check("replay after offline: exactly the missed ones in id order, then live", async () => {
      const first = await this.connect(C);
      const n1 = await this.pushAndReceive(first, C, "before-offline");
      stream.push(n1.id);
      await this.close(first);
      const missed = [];
      for (let i = 1; i <= 3; i++) {
        const kind = this.kind(`offline-${i}`);
        const data = { offline: i };
        missed.push({ id: await this.api.pushUser(C, kind, data), user: C, kind, data });
      }
      stream.push(...missed.map((m) => m.id));
      const again = await this.connect(C, { since: n1.id });
      let last = n1.id;
      for (const [i, want] of missed.entries()) {
        const got = this.expectStored(await this.nextNew(again, last), want, `replayed ${i + 1} of 3`);
        last = got.id;
      }
      const live = await this.pushAndReceive(again, C, "after-replay", { lastId: last });
      expectTrue(live.id > last, "the live one after the replayed ones", show(live.id));
      stream.push(live.id);
      await this.expectNoMoreNotifications(again, "besides the missed ones and the live one", live.id);
      await this.close(again);
    });
    await this.check("since = the newest id -> nothing replayed, then live", async () => {
      const newest = (await this.api.userList(C, "?limit=1")).notifications[0].id;
      const c = await this.connect(C, { since: newest });
      const live = await this.pushAndReceive(c, C, "after-newest", { lastId: newest });
      stream.push(live.id);
      await this.expectNoMoreNotifications(c, "besides the live one", live.id);
      await this.close(c);
    });
    await this.check("no since -> nothing old is pushed, only live ones", async () => {
      const c = await this.connect(C);
      const live = await this.pushAndReceive(c, C, "no-since");
      stream.push(live.id);
      await this.expectNoMoreNotifications(c, "besides the live one", live.id);
      await this.close(c);
    });
    await this.check(`since ${ZERO_ID} -> the whole stream in id order`, async () => {
      const stored = (await this.api.userList(C)).notifications.reverse();
      expect(stream, stored.map((x) => x.id), "stored ids (HTTP, oldest first)");
      const c = await this.connect(C, { since: ZERO_ID });
      let last = null;
      for (const [i, want] of stored.entries()) {
        const got = this.expectStored(await this.nextNew(c, last), want, `replayed ${i + 1} of ${stored.length}`);
        expect(want, { ...got }, `replayed ${i + 1} = its stored version`);
        last = got.id;
      }
      await this.expectNoMoreNotifications(c, "besides the stored ones", last);
      await this.close(c);
    });
  }

  async readChecks() {
    const D = this.user("dave");
    let d1;
    let d2;
    let ids = [];
    const ok = await this.check("two sockets of one user both receive its pushes", async () => {
      d1 = await this.connect(D);
      d2 = await this.connect(D);
      for (let i = 1; i <= 3; i++) {
        const kind = this.kind(`read-${i}`);
        const json = await this.api.pushOk({ users: [D], kind, data: { i } });
        expect(2, json.online, "online (sockets reached)");
        const id = json.notifications[0].id;
        this.expectStored(await this.nextNotification(d1), { id, user: D, kind, data: { i } }, "on socket 1");
        this.expectStored(await this.nextNotification(d2), { id, user: D, kind, data: { i } }, "on socket 2");
        ids.push(id);
      }
    });
    if (!ok) {
      this.checker.skipAll(["read checks"], "no notifications to read");
      return;
    }
    const unreadEvents = async (count) => {
      for (const [name, c] of [["socket 1", d1], ["socket 2", d2]]) {
        const got = await c.recorder.next("unread");
        expect([{ count }], got.args, `unread event on ${name}`);
      }
    };
    await this.check("read {ids} -> ack unread; both sockets of the user get unread {count}", async () => {
      const ack = expectAckOk(await ackArgs(d1.socket, "read", [{ ids: [ids[0]] }]), ["unread"], "read");
      expect(2, ack.unread, "unread");
      await unreadEvents(2);
    });
    await this.check("read of another user's and unknown ids changes nothing", async () => {
      const bobs = await this.api.userList(this.user("bob"));
      const ack = expectAckOk(await ackArgs(d1.socket, "read", [{ ids: [bobs.notifications[0].id, "9999999999999999"] }]), ["unread"], "read");
      expect(2, ack.unread, "unread");
      expect(bobs, await this.api.userList(this.user("bob")), "the other user's notifications");
      expect(2, (await this.api.userList(D)).unread, "unread (HTTP)");
      // Whether an `unread` event follows a read that changed nothing is open:
      // if one came, it must carry the unchanged count.
      for (const c of [d1, d2]) {
        await this.settle(c);
        for (const r of c.recorder.unread().filter((x) => x.event === "unread")) expect([{ count: 2 }], r.args, "unread event");
        c.recorder.queues.delete("unread");
      }
    });
    await this.check("read {all: true} -> unread 0 on both sockets", async () => {
      const ack = expectAckOk(await ackArgs(d2.socket, "read", [{ all: true }]), ["unread"], "read");
      expect(0, ack.unread, "unread");
      await unreadEvents(0);
      const got = expectAckOk(await ackArgs(d1.socket, "list", [{}]), ["notifications", "unread"], "list");
      expect(0, got.unread, "unread");
      expect([true, true, true], got.notifications.map((x) => x.read), "read flags");
      expect([...ids].reverse(), got.notifications.map((x) => x.id), "ids");
      const unreadOnly = expectAckOk(await ackArgs(d1.socket, "list", [{ unread_only: true }]), ["notifications", "unread"], "list");
      expect([], unreadOnly.notifications, "unread_only");
    });
    await this.check("read with a bad payload -> ack bad_request, nothing changes", async () => {
      const many = Array.from({ length: 1001 }, (_, i) => String(i + 1).padStart(16, "0"));
      for (const args of [[{}], [{ ids: [] }], [{ ids: "x" }], [{ ids: [1] }], [{ ids: many }], [{ all: "yes" }], ["all"], []]) {
        expectAckError(await ackArgs(d1.socket, "read", args), "bad_request", `read ${show(args, 60)}`);
      }
      for (const c of [d1, d2]) {
        await this.settle(c);
        const stray = c.recorder.unread().filter((r) => r.event === "unread");
        expectTrue(stray.length === 0, "no unread event", show(stray.map((r) => r.args)));
      }
    });
    await this.close(d1);
    await this.close(d2);
  }

  async topicChecks() {
    const [news, sport, alerts, empty] = ["news", "sport", "alerts", "empty"].map((t) => this.topic(t));
    let e;
    let f;
    let g;
    const ok = await this.check("subscribe -> ack with every topic, sorted", async () => {
      e = await this.connect(this.user("erin"));
      f = await this.connect(this.user("frank"));
      g = await this.connect(this.user("gina"));
      const ack = expectAckOk(await ackArgs(e.socket, "subscribe", [{ topics: [sport, alerts, news] }]), ["topics"], "subscribe");
      expect([alerts, news, sport].sort(), ack.topics, "topics");
      const again = expectAckOk(await ackArgs(e.socket, "subscribe", [{ topics: [news] }]), ["topics"], "subscribe again");
      expect([alerts, news, sport].sort(), again.topics, "topics (no duplicate)");
      const other = expectAckOk(await ackArgs(f.socket, "subscribe", [{ topics: [alerts] }]), ["topics"], "subscribe");
      expect([alerts], other.topics, "topics of the other socket");
    });
    if (!ok) {
      this.checker.skipAll(["topic checks"], "no subscriptions");
      return;
    }
    await this.check("unsubscribe -> ack with the remaining topics", async () => {
      const ack = expectAckOk(await ackArgs(e.socket, "unsubscribe", [{ topics: [alerts, empty] }]), ["topics"], "unsubscribe");
      expect([news, sport].sort(), ack.topics, "topics");
    });
    await this.check("subscribe / unsubscribe bad topics -> ack bad_request", async () => {
      const many = Array.from({ length: 101 }, (_, i) => `${this.tag}.t${i}`);
      for (const event of ["subscribe", "unsubscribe"]) {
        for (const args of [[{ topics: ["bad topic"] }], [{ topics: [] }], [{ topics: "x" }], [{}], [{ topics: ["x".repeat(65)] }], [{ topics: [7] }], [{ topics: many }]]) {
          expectAckError(await ackArgs(e.socket, event, args), "bad_request", `${event} ${show(args, 60)}`);
        }
      }
      const ack = expectAckOk(await ackArgs(e.socket, "subscribe", [{ topics: [news] }]), ["topics"], "subscribe");
      expect([news, sport].sort(), ack.topics, "topics unchanged");
    });
    await this.check("topic push -> only subscribed sockets, user null, topic, live: id", async () => {
      const kind = this.kind("topic");
      const data = { headline: "topic ✓" };
      const json = await this.api.pushOk({ topic: news, kind, data });
      expect({ notifications: [], online: 1 }, json, "201 body");
      this.expectLive(await this.nextNotification(e), { kind, data, topic: news }, "on the subscriber");
      const kind2 = this.kind("alerts");
      const json2 = await this.api.pushOk({ topic: alerts, kind: kind2 });
      expect({ notifications: [], online: 1 }, json2, "201 body (alerts)");
      this.expectLive(await this.nextNotification(f), { kind: kind2, data: null, topic: alerts }, "on the alerts subscriber");
      for (const [name, c] of [["the unsubscribed socket", e], ["the other topic's socket", f], ["a socket without topics", g]]) {
        await this.expectNoMoreNotifications(c, `on ${name}`);
      }
    });
    await this.check("topic push without subscribers -> 201, online 0", async () => {
      const json = await this.api.pushOk({ topic: empty, kind: this.kind("empty") });
      expect({ notifications: [], online: 0 }, json, "201 body");
    });
    await this.check("topic pushes are not stored", async () => {
      const got = await this.api.userList(this.user("erin"));
      expect({ notifications: [], unread: 0 }, got, "erin's stored notifications");
    });
    await this.check("broadcast -> every connected socket, user null, no topic", async () => {
      const kind = this.kind("broadcast");
      const data = { everyone: true };
      const json = await this.api.pushOk({ broadcast: true, kind, data });
      expect([], json.notifications, "notifications in the 201 body");
      const mine = [...this.open].filter((c) => c.socket.nsp === NS).length;
      expectTrue(Number.isInteger(json.online) && json.online >= mine, `online >= ${mine} (this run's sockets)`, show(json.online));
      const seen = [];
      for (const c of this.open) {
        if (c.socket.nsp !== NS) continue;
        seen.push(this.expectLive(await this.nextNotification(c), { kind, data }, `on ${c.socket.id}`).id);
      }
      expect(seen.map(() => seen[0]), seen, "one id for the whole broadcast");
    });
    await this.close(e);
    await this.close(f);
    await this.close(g);
  }

  async idempotency() {
    const I = this.user("ivan");
    let ivan;
    let body;
    let key;
    let first;
    const ok = await this.check("Idempotency-Key retry -> the same response, nothing sent again", async () => {
      ivan = await this.connect(I);
      key = `${this.tag}-key-${randomBytes(6).toString("hex")}`;
      body = { users: [I], kind: this.kind("idempotent"), data: { attempt: 1 } };
      first = await this.api.push(body, { headers: { "Idempotency-Key": key } });
      expectStatus(first, 201);
      const id = first.json.notifications[0].id;
      this.expectStored(await this.nextNotification(ivan), { id, user: I, kind: body.kind, data: body.data });
      for (let retry = 1; retry <= 2; retry++) {
        const again = await this.api.push(body, { headers: { "Idempotency-Key": key } });
        expect(201, again.status, `retry ${retry}: status`);
        expect(first.json, again.json, `retry ${retry}: body`);
      }
      // Nothing sent again: the next notification is a later push.
      const marker = await this.pushAndReceive(ivan, I, "after-retry");
      const stored = await this.api.userList(I);
      expect([marker.id, id], stored.notifications.map((x) => x.id), "stored ids");
    });
    await this.check("the same Idempotency-Key with a different body -> 409 bad_request", async () => {
      if (!ok) throw new CheckFailed("the previous check to pass", "it failed");
      const res = await this.api.push({ ...body, data: { attempt: 2 } }, { headers: { "Idempotency-Key": key } });
      expectHttpError(res, 409, "bad_request");
      const res2 = await this.api.push({ ...body, users: [I, this.user("someone")] }, { headers: { "Idempotency-Key": key } });
      expectHttpError(res2, 409, "bad_request", "other users");
      const marker = await this.pushAndReceive(ivan, I, "after-conflict");
      expect(3, (await this.api.userList(I)).notifications.length, "stored notifications");
      expectTrue(marker.id > first.json.notifications[0].id, "the marker is the next one", show(marker.id));
    });
    await this.check("an Idempotency-Key that is not 1..255 visible ASCII -> 400", async () => {
      const fresh = { users: [I], kind: this.kind("bad-key") };
      expectHttpError(await this.api.push(fresh, { headers: { "Idempotency-Key": "k".repeat(256) } }), 400, "bad_request", "256 characters");
      expectHttpError(await this.api.push(fresh, { headers: { "Idempotency-Key": "a key with spaces" } }), 400, "bad_request", "spaces");
      await this.expectNoMoreNotifications(ivan, "from refused pushes");
    });
    await this.close(ivan);
  }

  async httpErrors() {
    const A = this.user("alice");
    const kind = this.kind("refused");
    await this.check("no API key -> 401 unauthorized", async () => {
      expectHttpError(await this.api.push({ users: [A], kind }, { key: null }), 401, "unauthorized", "POST");
      expectHttpError(await this.api.request("GET", `/api/v1/users/${A}/notifications`, { key: null }), 401, "unauthorized", "GET");
    });
    await this.check("wrong API key -> 401 unauthorized", async () => {
      expectHttpError(await this.api.push({ users: [A], kind }, { key: `${this.api.key}-wrong` }), 401, "unauthorized", "Bearer wrong key");
      expectHttpError(
        await this.api.push({ users: [A], kind }, { key: null, headers: { authorization: `Basic ${Buffer.from(`x:${this.api.key}`).toString("base64")}` } }),
        401,
        "unauthorized",
        "Basic",
      );
    });
    await this.check("body that is not JSON -> 400 bad_request", async () => {
      expectHttpError(await this.api.request("POST", "/api/v1/notifications", { raw: "{not json" }), 400, "bad_request");
    });
    await this.check("two targets -> 400 bad_request", async () => {
      const t = this.topic("t");
      for (const body of [{ users: [A], topic: t, kind }, { users: [A], broadcast: true, kind }, { topic: t, broadcast: true, kind }]) {
        expectHttpError(await this.api.push(body), 400, "bad_request", show(Object.keys(body)));
      }
    });
    await this.check("no target -> 400 bad_request", async () => {
      for (const body of [{ kind }, { broadcast: false, kind }]) {
        expectHttpError(await this.api.push(body), 400, "bad_request", show(body));
      }
    });
    await this.check("bad fields -> 400 bad_request", async () => {
      const cases = [
        { users: [], kind },
        { users: A, kind },
        { users: [A] },
        { users: [A], kind: "" },
        { users: [A], kind: "k".repeat(65) },
        { users: [A], kind: 7 },
        { users: [""], kind },
        { users: Array.from({ length: 1001 }, (_, i) => `${this.tag}-u${i}`), kind },
        { topic: "bad topic", kind },
        [],
      ];
      for (const body of cases) expectHttpError(await this.api.push(body), 400, "bad_request", show(body, 80));
    });
    await this.check(`body above --max-payload (${this.maxPayload} bytes) -> 413 too_large`, async () => {
      const body = { users: [A], kind, data: "x".repeat(this.maxPayload + 1) };
      expectHttpError(await this.api.push(body), 413, "too_large");
    });
    await this.check("unknown /api/v1 path -> 404 not_found", async () => {
      expectHttpError(await this.api.request("GET", "/api/v1/nope"), 404, "not_found");
    });
    await this.check("GET /api/v1/openapi.json -> 200 JSON", async () => {
      const res = await this.api.request("GET", "/api/v1/openapi.json");
      expectStatus(res, 200);
      expectTrue(res.json !== null && typeof res.json === "object", "a JSON document", show(res.text, 100));
    });
  }

  async emitChecks() {
    const event = `${this.tag}-event`;
    await this.check("POST /api/v1/emit to /echo -> 202, a connected client gets the event", async () => {
      const echo = await this.connect(null, { namespace: "/echo" });
      try {
        const data = { hello: "echo ✓", n: [1, 2] };
        const res = await this.api.request("POST", "/api/v1/emit", { body: { namespace: "/echo", event, data } });
        expectStatus(res, 202);
        expect({ ok: true }, res.json, "202 body");
        const got = await echo.recorder.next(event);
        expect([data], got.args, "event args");
      } finally {
        await this.close(echo);
      }
    });
    await this.check("POST /api/v1/emit to a /chat room -> only its members get it", async () => {
      const [roomA, roomB] = [`${this.tag}-room-a`, `${this.tag}-room-b`];
      const inA = await this.connect(null, { namespace: "/chat" });
      const inB = await this.connect(null, { namespace: "/chat" });
      try {
        expect(true, (await ackArgs(inA.socket, "join", [{ room: roomA, name: "js-a" }]))[0]?.ok, "join room A");
        expect(true, (await ackArgs(inB.socket, "join", [{ room: roomB, name: "js-b" }]))[0]?.ok, "join room B");
        const emit = (room, data) => this.api.request("POST", "/api/v1/emit", { body: { namespace: "/chat", room, event: "announcement", data } });
        const res = await emit(roomA, { text: "for room A" });
        expectStatus(res, 202);
        expect({ ok: true }, res.json, "202 body");
        expect([{ text: "for room A" }], (await inA.recorder.next("announcement")).args, "room A's event");
        expectStatus(await emit(roomB, { text: "for room B" }), 202);
        expect([{ text: "for room B" }], (await inB.recorder.next("announcement")).args, "room B's first event is its own");
        // Room A's member got nothing more (a round trip through history first).
        await ackArgs(inA.socket, "history", [{ room: roomA }]);
        const stray = inA.recorder.unread().filter((r) => r.event === "announcement");
        expectTrue(stray.length === 0, "no room B event in room A", show(stray.map((r) => r.args)));
      } finally {
        await this.close(inA);
        await this.close(inB);
      }
    });
    await this.check("POST /api/v1/emit refusals: unknown namespace 404, reserved or bad event 400, no key 401", async () => {
      const post = (body, options = {}) => this.api.request("POST", "/api/v1/emit", { body, ...options });
      expectHttpError(await post({ namespace: "/nope-not-served", event }), 404, "not_found", "unknown namespace");
      for (const reserved of ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]) {
        expectHttpError(await post({ namespace: "/echo", event: reserved }), 400, "bad_request", reserved);
      }
      expectHttpError(await post({ namespace: "/echo", event: "" }), 400, "bad_request", "empty event");
      expectHttpError(await post({ namespace: "/echo", event: "e".repeat(65) }), 400, "bad_request", "65-character event");
      expectHttpError(await post({ event }), 400, "bad_request", "no namespace");
      expectHttpError(await post({ namespace: "/echo", event }, { key: null }), 401, "unauthorized", "no key");
    });
  }
}

async function run() {
  const opts = parseCli(PROGRAM, "Interop checks of Switchboard's /notifications namespace and HTTP push API with socket.io-client.", {
    secret: { type: "string", hint: "JWT_SECRET", default: process.env.SWITCHBOARD_JWT_SECRET },
    "api-key": { type: "string", hint: "KEY", default: process.env.SWITCHBOARD_API_KEY },
    "max-payload": { type: "string", hint: "BYTES", default: "1000000" },
  });
  opts.maxPayload = Number(opts["max-payload"]);
  if (!Number.isInteger(opts.maxPayload) || opts.maxPayload < 1) {
    console.error(`${PROGRAM}: --max-payload takes a positive integer`);
    return 2;
  }
  if (!opts.secret || !opts["api-key"]) {
    console.error(`${PROGRAM}: --secret and --api-key (or SWITCHBOARD_JWT_SECRET / SWITCHBOARD_API_KEY) are required`);
    return 2;
  }
  const checker = new Checker(PROGRAM, opts.transport);
  await new NotificationChecks(opts, checker).run();
  return checker.summary();
}

main(run);
