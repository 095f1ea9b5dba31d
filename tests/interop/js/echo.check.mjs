#!/usr/bin/env node
// Interop checks of Switchboard's echo namespaces (`/` and `/echo`) with the
// reference JavaScript Socket.IO client (socket.io-client v4).
//
//     node echo.check.mjs URL [--transport websocket|polling|upgrade] [--namespace /echo]...
//
// Contract (PROTOCOL.md, "Namespace `/` and `/echo` - echo"):
// - on connect the server emits `auth` with the handshake's auth (`{}` if none);
// - `message` -> `message-back` with the same arguments (binary included);
// - `message-with-ack` -> acknowledged with the same arguments;
// - `emit-with-ack` -> the server emits `emit-with-ack` with the same
//   arguments asking for an ack, then emits `emit-with-ack` with the ack's
//   arguments;
// - any other event -> acked with the same arguments when an ack was asked,
//   otherwise emitted back under the same name;
// - any other namespace is refused with connect_error `Invalid namespace`.
//
// Transports: websocket = WebSocket only; polling = HTTP long-polling only
// (no upgrade); upgrade = polling first, and the engine must upgrade to
// WebSocket (waited for on the engine's `upgrade` event), echo working after.
//
// Prints one `ok   <name>` / `FAIL <name>: expected ... got ...` line per
// check and, last, `interop: echo.check.mjs <transport>: <P> checks ok,
// <F> failed`.
// Exit code 0 only when nothing failed and something passed.

import { Manager, io } from "socket.io-client";

import { CONNECT_TIMEOUT_MS, CheckFailed, Checker, Recorder, ackArgs, bounded, clientOptions, connectRecording, emitArgs, expect, expectTrue, main, namespaceUrl, onceEvent, parseCli, show } from "./lib/checks.mjs";

const PROGRAM = "echo.check.mjs";
const UNKNOWN_NAMESPACE = "/nope-does-not-exist";
const AUTH = { token: "abc", n: 1, nested: { a: [1, 2] } };

// Plain (JSON) values of every kind.
const TRICKY_TEXT = 'quote " backslash \\ slash / newline \n tab \t sep \x1e nul \x00 end';
const UNICODE = "héllo wörld ✓ 😀 𝄞 日本語 עברית";
const NESTED = {
  list: [1, "two", 3.5, null, true, { deep: [false, [], {}] }],
  emoji: "🚀✨",
  empty: {},
  neg: -42,
};
const BLOB = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const BIG_BLOB = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919 + 13) % 256));

/** The engine's current transport name ("polling" / "websocket"). */
function engineTransport(socket) {
  return socket.io.engine?.transport?.name;
}

class Session {
  constructor(url, namespace, transport, checker) {
    this.url = url;
    this.ns = namespace;
    this.transport = transport;
    this.checker = checker;
    this.socket = null;
    this.recorder = null;
    this.upgraded = null; // promise of the engine's upgrade (transport "upgrade")
    this.barrierN = 0;
  }

  name(what) {
    return `${what} [${this.ns}]`;
  }

  async check(what, fn) {
    const ok = await this.checker.run(this.name(what), fn);
    // Leftovers of a failed check must not be taken by the next one.
    if (!ok && this.recorder) this.recorder.dropUnread();
    return ok;
  }

  // -- building blocks ------------------------------------------------------

  async echoMessage(args) {
    emitArgs(this.socket, "message", args);
    const got = await this.recorder.next("message-back");
    expect(args, got.args, `message-back with ${args.length} args`);
    expectTrue(got.ack === null, "message-back without ack request", "an ack request");
  }

  async echoAck(args) {
    const ack = await ackArgs(this.socket, "message-with-ack", args);
    expect(args, ack, `ack with ${args.length} args`);
  }

  async emitWithAck(args) {
    const reply = [...args].reverse().concat(["acked-by-js", { n: args.length }]);
    emitArgs(this.socket, "emit-with-ack", args);
    const first = await this.recorder.next("emit-with-ack");
    expect(args, first.args, "first emit-with-ack with the sent args");
    expectTrue(first.ack !== null, "the first emit-with-ack to ask for an ack", "no ack request");
    first.ack(...reply);
    const second = await this.recorder.next("emit-with-ack");
    expect(reply, second.args, "second emit-with-ack with the client's ack args");
    expectTrue(second.ack === null, "the second emit-with-ack without ack request", "an ack request");
  }

  /** A round trip through `message`: once its echo is back, the server has
   * handled everything sent before it. */
  async barrier() {
    this.barrierN += 1;
    const marker = `barrier-${this.barrierN}`;
    emitArgs(this.socket, "message", [marker]);
    const got = await this.recorder.next("message-back");
    expect([marker], got.args, "the barrier's message-back");
  }

  // -- checks ---------------------------------------------------------------

  async run() {
    const ok = await this.check("connect with auth", () => this.connectWithAuth());
    if (!ok) {
      this.checker.skipAll([this.name("remaining checks")], "no connection");
      this.close();
      return;
    }
    try {
      await this.runConnected();
    } finally {
      this.close();
    }
  }

  async connectWithAuth() {
    if (this.transport === "upgrade") {
      // Listen for the engine's upgrade from the very start, so that an
      // upgrade finishing before the check looks is not missed.
      const socket = io(namespaceUrl(this.url, this.ns), clientOptions(this.transport, { auth: AUTH }));
      this.upgraded = new Promise((resolve, reject) => {
        socket.io.once("open", () => {
          const engine = socket.io.engine;
          if (engine.transport.name === "websocket") resolve(engine.transport.name);
          engine.once("upgrade", (transport) => resolve(transport.name));
          engine.once("upgradeError", (err) => reject(new CheckFailed("an upgrade to websocket", `upgradeError ${show(err?.message ?? err)}`)));
        });
      });
      this.upgraded.catch(() => {}); // awaited (and reported) by its check
      this.socket = socket;
      this.recorder = new Recorder(socket);
      socket.connect();
      await bounded(
        new Promise((resolve, reject) => {
          if (socket.connected) resolve();
          socket.once("connect", resolve);
          socket.once("connect_error", (err) => reject(new CheckFailed(`a connection to ${this.ns}`, `connect_error ${show(err?.message ?? err)}`)));
        }),
        `a connection to ${this.ns}`,
        CONNECT_TIMEOUT_MS,
      );
      return;
    }
    const { socket, recorder } = await connectRecording(this.url, this.ns, this.transport, { auth: AUTH });
    this.socket = socket;
    this.recorder = recorder;
  }

  close() {
    if (this.socket) this.socket.disconnect();
  }

  async runConnected() {
    const { socket, ns } = this;

    await this.check("server emits auth with the handshake's auth", async () => {
      const got = await this.recorder.next("auth");
      expect([AUTH], got.args, "auth event args");
      expectTrue(got.ack === null, "auth without ack request", "an ack request");
    });

    if (this.transport === "upgrade") {
      await this.check("upgrade polling -> websocket, echo works after", async () => {
        const name = await bounded(this.upgraded, "the engine's upgrade event", CONNECT_TIMEOUT_MS);
        expect("websocket", name, "upgraded transport");
        expect("websocket", engineTransport(socket), "engine transport after upgrade");
        await this.echoMessage(["after upgrade", 1, BLOB]);
        await this.echoAck(["ack after upgrade", { blob: BLOB }]);
      });
    } else {
      await this.check(`transport stays ${this.transport}`, async () => {
        expect(this.transport, engineTransport(socket), "transport");
        await this.echoMessage([`over ${this.transport}`]);
        expect(this.transport, engineTransport(socket), "transport after an echo");
      });
    }

    await this.check("connect without auth -> auth is {}", async () => {
      const other = await connectRecording(this.url, ns, this.transport);
      try {
        const got = await other.recorder.next("auth");
        expect([{}], got.args, "auth event args");
      } finally {
        other.socket.disconnect();
      }
    });

    // message -> message-back, 0..5 plain arguments
    const messageCases = {
      "message 0 args": [],
      "message 1 arg (object)": [NESTED],
      "message 2 args (unicode, int)": [UNICODE, 7],
      "message 3 args (float, negative, bool)": [3.25, -17, true],
      "message 5 args mixed": [
        TRICKY_TEXT,
        -0.5,
        null,
        [1, [2, [3, []]], { k: "v" }],
        { b: false, big: Number.MAX_SAFE_INTEGER, small: -(2 ** 40), f: 1e-7, e: "😀" },
      ],
      "message 1 arg (array)": [[1, "x", null, 2.5]],
      "message 1 arg (empty string)": [""],
    };
    for (const [what, args] of Object.entries(messageCases)) {
      await this.check(what, () => this.echoMessage(args));
    }

    const binaryCases = {
      "message binary alone": [BLOB],
      "message binary mixed with plain args": ["before", BLOB, 3, null, Buffer.from([0x00, 0xff]), "after"],
      "message binary nested in object": [{ name: "blob", data: BLOB, inner: { x: Buffer.from([1, 2]) } }],
      "message binary nested in array": [[1, BLOB, [Buffer.from([0xfe]), "s"]]],
      "message binary ArrayBuffer and Uint8Array": [new Uint8Array([9, 8, 7]).buffer, new Uint8Array([1, 2, 3, 4])],
      "message binary 64 KiB and empty": [BIG_BLOB, Buffer.alloc(0)],
    };
    for (const [what, args] of Object.entries(binaryCases)) {
      await this.check(what, () => this.echoMessage(args));
    }

    const ackCases = {
      "message-with-ack 1 arg": [{ hello: UNICODE }],
      "message-with-ack 3 args": ["a", 2, [3.5, null, false]],
      "message-with-ack 0 args": [],
      "message-with-ack binary": [BLOB, { nested: [Buffer.from([0])] }, "x"],
    };
    for (const [what, args] of Object.entries(ackCases)) {
      await this.check(what, () => this.echoAck(args));
    }

    await this.check("emit-with-ack round trip (client acks different values)", () =>
      this.emitWithAck(["first", 2, { three: [3] }, null]),
    );
    await this.check("emit-with-ack round trip binary", () =>
      this.emitWithAck([Buffer.from([1, 2, 3]), "mixed", { blob: BLOB }]),
    );

    await this.check("custom-event without ack -> emitted back", async () => {
      const args = ["custom", 1, { x: [true, null] }, Buffer.from([7])];
      emitArgs(socket, "custom-event", args);
      const got = await this.recorder.next("custom-event");
      expect(args, got.args, "custom-event emitted back");
      expectTrue(got.ack === null, "custom-event emitted without ack request", "an ack request");
    });

    await this.check("custom-event with ack -> acked, not emitted back", async () => {
      const args = ["custom-acked", 2.5, [UNICODE], BLOB];
      const ack = await ackArgs(socket, "custom-event", args);
      expect(args, ack, "ack args");
      await this.barrier();
      const stray = this.recorder.unread().filter((r) => r.event === "custom-event");
      expectTrue(stray.length === 0, "no custom-event emitted back", show(stray.map((r) => [r.event, r.args])));
    });

    await this.check("no unexpected server events", async () => {
      await this.barrier();
      const stray = this.recorder.unread();
      expectTrue(stray.length === 0, "no unread server events", show(stray.map((r) => [r.event, r.args])));
    });

    await this.check("disconnect", async () => {
      const closed = onceEvent(socket, "disconnect", "the disconnect event");
      socket.disconnect();
      const [reason] = await closed;
      expect("io client disconnect", reason, "disconnect reason");
      expectTrue(!socket.connected, "connected === false", String(socket.connected));
    });
  }
}

async function unknownNamespace(url, transport) {
  const socket = io(namespaceUrl(url, UNKNOWN_NAMESPACE), clientOptions(transport));
  let connected = false;
  socket.on("connect", () => {
    connected = true;
  });
  const error = onceEvent(socket, "connect_error", "a connect_error event", CONNECT_TIMEOUT_MS);
  socket.connect();
  try {
    const [err] = await error;
    expectTrue(!connected, `no connect to ${UNKNOWN_NAMESPACE}`, "a connect");
    expectTrue(err instanceof Error, "an Error", show(err));
    expect("Invalid namespace", err.message, "connect_error message");
  } finally {
    socket.disconnect();
  }
}

/**
 * One connection (Manager) multiplexing two namespaces: each socket has an id
 * of its own, and neither is the Engine.IO session id (which grants the
 * session, so only this client may know it).
 */
async function socketIdsAreNotTheSessionId(url, transport, namespaces) {
  const manager = new Manager(url, clientOptions(transport));
  const sockets = namespaces.map((ns) => manager.socket(ns));
  try {
    await Promise.all(
      sockets.map((socket) => {
        const connected = onceEvent(socket, "connect", `a connect to ${socket.nsp}`, CONNECT_TIMEOUT_MS);
        socket.connect();
        return connected;
      }),
    );
    const engineId = manager.engine.id;
    const ids = sockets.map((socket) => socket.id);
    expectTrue(new Set([engineId, ...ids]).size === ids.length + 1, "distinct ids per namespace and session", show({ engineId, ids }));
    for (const id of [engineId, ...ids]) {
      expectTrue(/^[A-Za-z0-9_-]{20,}$/.test(id), "ids of at least 20 URL-safe characters (120 bits)", show(id));
    }
  } finally {
    sockets.forEach((socket) => socket.disconnect());
    manager.engine?.close();
  }
}

async function run() {
  const opts = parseCli(PROGRAM, "Interop checks of Switchboard's echo namespaces with socket.io-client.", {
    namespace: { type: "string", multiple: true, hint: "/NS" },
  });
  const namespaces = opts.namespace ?? ["/", "/echo"];
  for (const ns of namespaces) {
    if (!ns.startsWith("/")) {
      console.error(`${PROGRAM}: a namespace starts with "/": ${ns}`);
      return 2;
    }
  }
  const checker = new Checker(PROGRAM, opts.transport);
  for (const ns of namespaces) {
    await new Session(opts.url, ns, opts.transport, checker).run();
  }
  if (namespaces.length > 1) {
    await checker.run("socket ids: one per namespace, none is the engine id", () =>
      socketIdsAreNotTheSessionId(opts.url, opts.transport, namespaces),
    );
  }
  await checker.run(`unknown namespace ${UNKNOWN_NAMESPACE} refused: Invalid namespace`, () =>
    unknownNamespace(opts.url, opts.transport),
  );
  return checker.summary();
}

main(run);
