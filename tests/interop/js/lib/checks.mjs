// Shared helpers for the Switchboard JavaScript interop checks
// (tests/interop/js/*.check.mjs and tests/interop/browser/*.check.mjs).
//
// Every check program is a list of named checks. Each check prints exactly
// one line, `ok   <name>` or `FAIL <name>: expected ... got ...`, and the
// program ends with the summary line
//
//     interop: <program> <transport>: <P> checks ok, <F> failed
//
// and exit code 0 only when F == 0 and P > 0.
//
// Every wait is bounded (TIMEOUT_MS) so that a missing reply is a FAIL, never
// a hang. Waits are on events and promises, never fixed sleeps.
//
// Contents:
// - parseCli: the common command line (positional URL, --transport, more).
// - TRANSPORTS / clientOptions / namespaceUrl: socket.io-client options per
//   transport name (websocket, polling, upgrade).
// - Checker: runs named checks, prints the ok/FAIL lines and the summary.
// - CheckFailed / expect / expectTrue / same / show: strict comparison
//   (Buffers, ArrayBuffers and typed arrays compare by bytes) and short FAIL
//   renderings.
// - bounded / onceEvent: bounded waits on promises and emitter events.
// - Recorder / connectRecording / emitArgs / ackArgs: a socket.io-client
//   socket that queues every server event (with the server's ack callback,
//   when it asked for one) so checks can wait on them with a bound.

import { parseArgs } from "node:util";
import { io } from "socket.io-client";

/** How long any single wait for a server reply may take before it is a FAIL. */
export const TIMEOUT_MS = 5000;
/** Longer bound for opening a connection (handshake, namespace connect, upgrade). */
export const CONNECT_TIMEOUT_MS = 10000;

// ---------------------------------------------------------------------------
// Failures, comparison, rendering

/** Thrown inside a check: the server's answer differs from the contract. */
export class CheckFailed extends Error {
  constructor(expected, got) {
    super(`expected ${expected} got ${got}`);
    this.name = "CheckFailed";
    this.expected = expected;
    this.got = got;
  }
}

/** The bytes of a binary value (Buffer, ArrayBuffer, typed array, DataView), or null. */
export function bytesOf(value) {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer) {
    return new Uint8Array(value);
  }
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  return null;
}

export function isBinary(value) {
  return bytesOf(value) !== null;
}

function isPlainObject(value) {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Strict structural equality. Binary values of any kind (Buffer, ArrayBuffer,
 * typed arrays) are equal when their bytes are; arrays element by element;
 * plain objects with exactly the same keys; NaN equals NaN; no type coercion
 * (1 !== "1", null !== undefined, false !== 0).
 */
export function same(a, b) {
  const ba = bytesOf(a);
  const bb = bytesOf(b);
  if (ba || bb) {
    if (!ba || !bb || ba.length !== bb.length) return false;
    for (let i = 0; i < ba.length; i++) if (ba[i] !== bb[i]) return false;
    return true;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => same(x, b[i]));
  }
  if (isPlainObject(a) || isPlainObject(b)) {
    if (!isPlainObject(a) || !isPlainObject(b)) return false;
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (!same(ka, kb)) return false;
    return ka.every((k) => same(a[k], b[k]));
  }
  if (typeof a === "number" && typeof b === "number" && Number.isNaN(a)) {
    return Number.isNaN(b);
  }
  return a === b;
}

function hex(bytes) {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

function render(value, depth) {
  const bytes = bytesOf(value);
  if (bytes) {
    const kind = Buffer.isBuffer(value) ? "Buffer" : value.constructor?.name ?? "binary";
    if (bytes.length <= 16) return `<${kind} ${hex(bytes)}>`;
    return `<${kind} of ${bytes.length} bytes, starts ${hex(bytes.subarray(0, 8))}, ends ${hex(bytes.subarray(-4))}>`;
  }
  if (typeof value === "string") {
    if (value.length > 120) return `<string of ${value.length} chars, starts ${JSON.stringify(value.slice(0, 40))}>`;
    return JSON.stringify(value);
  }
  if (value === undefined) return "undefined";
  if (typeof value === "function") return "<function>";
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (depth > 8) return "...";
  if (Array.isArray(value)) return `[${value.map((v) => render(v, depth + 1)).join(", ")}]`;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "object") {
    const body = Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${render(v, depth + 1)}`)
      .join(", ");
    return `{${body}}`;
  }
  return String(value);
}

/** A short, unambiguous rendering of a value for a FAIL line. */
export function show(value, limit = 400) {
  const text = render(value, 0);
  return text.length > limit ? `${text.slice(0, limit - 3)}...` : text;
}

/** Throws CheckFailed unless `got` strictly equals `expected` (see `same`). */
export function expect(expected, got, what = "") {
  if (!same(expected, got)) {
    throw new CheckFailed(`${what ? `${what} ` : ""}${show(expected)}`, show(got));
  }
}

/** Throws CheckFailed(expected, got) unless `condition`. */
export function expectTrue(condition, expected, got) {
  if (!condition) throw new CheckFailed(expected, got);
}

// ---------------------------------------------------------------------------
// Bounded waits

/**
 * Awaits `promise` for at most `ms`; on timeout, throws CheckFailed naming
 * `what` (and calls `onTimeout`, e.g. to drop a waiter).
 */
export function bounded(promise, what, ms = TIMEOUT_MS, onTimeout = undefined) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new CheckFailed(what, `nothing within ${ms / 1000} s`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The arguments of the next `event` of an emitter (socket.io-client's
 * Emitter or Node's EventEmitter), as an array, within `ms`.
 */
export function onceEvent(emitter, event, what = `event ${JSON.stringify(event)}`, ms = TIMEOUT_MS) {
  let listener;
  const promise = new Promise((resolve) => {
    listener = (...args) => resolve(args);
    emitter.once(event, listener);
  });
  return bounded(promise, what, ms, () => emitter.off(event, listener));
}

// ---------------------------------------------------------------------------
// The check runner

export class Checker {
  constructor(program, transport) {
    this.program = program;
    this.transport = transport;
    this.passed = 0;
    this.failed = 0;
  }

  ok(name) {
    this.passed += 1;
    console.log(`ok   ${name}`);
  }

  fail(name, expected, got) {
    this.failed += 1;
    console.log(`FAIL ${name}: expected ${expected} got ${got}`);
  }

  /** Runs one check; any exception is that check's FAIL, never a crash. Returns whether it passed. */
  async run(name, check) {
    try {
      await check();
    } catch (err) {
      if (err instanceof CheckFailed) this.fail(name, err.expected, err.got);
      else this.fail(name, "no error", show(err));
      return false;
    }
    this.ok(name);
    return true;
  }

  /** Counts checks that could not even start (e.g. no connection) as failed. */
  skipAll(names, why) {
    for (const name of names) this.fail(name, "to run", `not run (${why})`);
  }

  /** Prints the summary (the last line) and returns the exit code. */
  summary() {
    console.log(`interop: ${this.program} ${this.transport}: ${this.passed} checks ok, ${this.failed} failed`);
    return this.failed === 0 && this.passed > 0 ? 0 : 1;
  }
}

/**
 * Runs a program's async entry point (returning an exit code) and exits with
 * it. The process should end on its own once every socket is closed; if some
 * handle is still open shortly after, it is ended anyway (with a warning).
 */
export function main(run) {
  run().then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => {
        console.error("warning: handles still open after the summary; exiting");
        process.exit(code);
      }, 3000).unref();
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

// ---------------------------------------------------------------------------
// Command line

export const TRANSPORTS = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"], upgrade: false },
  upgrade: { transports: ["polling", "websocket"], upgrade: true },
};

/**
 * Parses `PROGRAM URL [--transport websocket|polling|upgrade] [more options]`.
 * `options` are extra node:util parseArgs options. Prints usage and exits 2
 * on a bad command line; exits 0 on --help.
 */
export function parseCli(program, description, options = {}, argv = process.argv.slice(2)) {
  const extra = Object.entries(options)
    .map(([name, o]) => ` [--${name}${o.type === "string" ? ` ${o.hint ?? "VALUE"}` : ""}]${o.multiple ? "..." : ""}`)
    .join("");
  const usage = `usage: node ${program} URL [--transport ${Object.keys(TRANSPORTS).join("|")}]${extra}\n${description}`;
  const spec = {
    transport: { type: "string", default: "websocket" },
    help: { type: "boolean", short: "h" },
  };
  for (const [name, o] of Object.entries(options)) {
    const { hint, ...rest } = o;
    spec[name] = rest;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: spec, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`${program}: ${err.message}\n${usage}`);
    process.exit(2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  if (positionals.length !== 1) {
    console.error(`${program}: expected exactly one URL\n${usage}`);
    process.exit(2);
  }
  if (!(values.transport in TRANSPORTS)) {
    console.error(`${program}: unknown transport ${JSON.stringify(values.transport)}\n${usage}`);
    process.exit(2);
  }
  let url;
  try {
    url = new URL(positionals[0]);
  } catch {
    console.error(`${program}: not a URL: ${positionals[0]}\n${usage}`);
    process.exit(2);
  }
  return { url, ...values };
}

/** The socket.io-client URL of `namespace` on the server at `base` (a URL). */
export function namespaceUrl(base, namespace) {
  return `${new URL(base).origin}${namespace}`;
}

/** socket.io-client options for a transport name, one fresh Manager per socket. */
export function clientOptions(transport, extra = {}) {
  return {
    ...TRANSPORTS[transport],
    forceNew: true,
    reconnection: false,
    autoConnect: false,
    timeout: CONNECT_TIMEOUT_MS,
    ...extra,
  };
}

// ---------------------------------------------------------------------------
// Recording server events

/**
 * Records every (non-reserved) server event of one socket.io-client socket,
 * in arrival order. Each record is `{event, args, ack}` where `ack` is the
 * function that answers the server's ack request, or null when the server
 * asked for none.
 */
export class Recorder {
  constructor(socket) {
    this.socket = socket;
    this.queues = new Map(); // event -> [record]
    this.waiters = new Map(); // event -> [resolve]
    socket.onAny((event, ...args) => {
      let ack = null;
      if (args.length > 0 && typeof args[args.length - 1] === "function") ack = args.pop();
      this.push({ event, args, ack });
    });
  }

  push(record) {
    const waiting = this.waiters.get(record.event);
    if (waiting && waiting.length > 0) {
      waiting.shift()(record);
      return;
    }
    if (!this.queues.has(record.event)) this.queues.set(record.event, []);
    this.queues.get(record.event).push(record);
  }

  /** The next recorded `event`, waiting at most `ms`. */
  next(event, ms = TIMEOUT_MS) {
    const queue = this.queues.get(event);
    if (queue && queue.length > 0) return Promise.resolve(queue.shift());
    let resolver;
    const promise = new Promise((resolve) => {
      resolver = resolve;
      if (!this.waiters.has(event)) this.waiters.set(event, []);
      this.waiters.get(event).push(resolve);
    });
    return bounded(promise, `server event ${JSON.stringify(event)} on ${this.socket.nsp}`, ms, () => {
      const waiting = this.waiters.get(event) ?? [];
      const i = waiting.indexOf(resolver);
      if (i >= 0) waiting.splice(i, 1);
    });
  }

  /** Recorded events that no check has taken yet. */
  unread() {
    return [...this.queues.values()].flat();
  }

  dropUnread() {
    this.queues.clear();
  }
}

/** Emits `event` with exactly `args` (0..n arguments, no ack). */
export function emitArgs(socket, event, args) {
  socket.emit(event, ...args);
}

/**
 * Emits `event` with `args` asking for an ack; resolves to the ack's
 * arguments as an array (a CheckFailed when none comes within `ms`).
 */
export function ackArgs(socket, event, args, ms = TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    socket.timeout(ms).emit(event, ...args, (err, ...ack) => {
      if (err) reject(new CheckFailed(`an ack for ${JSON.stringify(event)} on ${socket.nsp}`, `nothing within ${ms / 1000} s`));
      else resolve(ack);
    });
  });
}

/**
 * Connects a socket.io-client socket to `namespace` on `base`, recording its
 * events from the start (so events sent on connect are not missed). Resolves
 * to `{socket, recorder}` once connected; throws CheckFailed on
 * connect_error or when nothing happens within `ms`.
 */
export async function connectRecording(base, namespace, transport, { auth, ms = CONNECT_TIMEOUT_MS } = {}) {
  const extra = auth === undefined ? {} : { auth };
  const socket = io(namespaceUrl(base, namespace), clientOptions(transport, extra));
  const recorder = new Recorder(socket);
  const outcome = new Promise((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", (err) =>
      reject(new CheckFailed(`a connection to ${namespace}`, `connect_error ${show(err?.message ?? err)}`)),
    );
  });
  socket.connect();
  try {
    await bounded(outcome, `a connection to ${namespace}`, ms);
  } catch (err) {
    socket.disconnect();
    throw err;
  }
  return { socket, recorder };
}
