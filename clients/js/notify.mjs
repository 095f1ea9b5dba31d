#!/usr/bin/env node
// A notification listener for Switchboard's `/notifications` namespace, with
// the reference JavaScript Socket.IO client (socket.io-client v4).
//
//     node notify.mjs --url http://127.0.0.1:3000 --token JWT
//                     [--state FILE] [--since ID] [--exit-after N]
//                     [--transport websocket|polling|upgrade]
//
// `--token` defaults to the environment variable SWITCHBOARD_TOKEN (a token
// comes from `switchboard token USER`, or from the backend that signs them).
//
// It connects with `auth: {token, since}` and prints every notification as
// one JSON line on stdout (the Notification object exactly as received), acks
// it, and keeps listening. clients/python/notify.py prints the same lines.
//
// Resuming (docs/notifications.md, "Ids and ordering"): stored notifications
// have 16-digit ids that increase per user and sort as strings. With
// `--state FILE` the id of the last stored notification printed is written to
// FILE (as `{"last_id": ID}`, atomically: a temporary file renamed over it)
// after each one, and the next run connects with `since` = that id, so the
// server replays exactly what was missed while the listener was down. A FILE
// that does not exist yet means nothing was seen: the run starts from the
// beginning (`since` = "0000000000000000", every stored notification of the
// user). `--since ID` sets the starting point explicitly; without --state and
// --since only live notifications are pushed.
//
// Duplicates (allowed by the contract across the replay-to-live switch, and
// after a reconnection) are skipped: a stored id <= the last one seen is
// acked but not printed again. Ids starting with `live:` belong to topic and
// broadcast pushes, which are live only: printed, never stored as the last id.
//
// A lost connection is re-established by socket.io-client; every attempt
// sends the current last id as `since`, so nothing is missed in between.
// A refused connection (connect_error: `unauthorized`, `bad_request`, ...)
// prints its message on stderr and exits 1. With `--exit-after N` it exits 0
// once N notifications have been printed.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { io } from "socket.io-client";
import { TRANSPORT_NAMES, TRANSPORTS, failer, parseCommandLine } from "./cli.mjs";

const PROGRAM = "notify.mjs";
const NAMESPACE = "/notifications";
/** The `since` of a listener whose state file does not exist yet. */
const FROM_THE_BEGINNING = "0000000000000000";
const STORED_ID = /^\d{16}$/;
const CONNECT_TIMEOUT_MS = 10000;
const USAGE = `usage: node ${PROGRAM} --url URL --token JWT [--state FILE] [--since ID] [--exit-after N] [--transport ${TRANSPORT_NAMES}]`;
const fail = failer(PROGRAM, USAGE);

function parseCli(argv) {
  const values = parseCommandLine({
    argv,
    options: {
      token: { type: "string", default: process.env.SWITCHBOARD_TOKEN },
      state: { type: "string" },
      since: { type: "string" },
      "exit-after": { type: "string" },
    },
    required: { token: "--token (or SWITCHBOARD_TOKEN) is required" },
    help: USAGE,
    fail,
  });
  if (values["exit-after"] !== undefined) {
    if (!/^\d+$/.test(values["exit-after"]) || Number(values["exit-after"]) < 1) {
      fail("--exit-after takes a positive integer");
    }
    values.exitAfter = Number(values["exit-after"]);
  }
  if (values.since !== undefined && !STORED_ID.test(values.since)) {
    fail(`--since takes a stored notification id (16 digits), got ${JSON.stringify(values.since)}`);
  }
  return values;
}

// ---------------------------------------------------------------------------
// The state file: {"last_id": ID}

function readState(path) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (err.code === "ENOENT") return null;
    throw new Error(`cannot read the state file ${path}: ${err.message}`);
  }
  let lastId;
  try {
    lastId = JSON.parse(text).last_id;
  } catch {
    lastId = undefined;
  }
  if (typeof lastId !== "string" || !STORED_ID.test(lastId)) {
    throw new Error(`the state file ${path} holds no {"last_id": "<16 digits>"}`);
  }
  return lastId;
}

/** Replaces the state file atomically: a crash leaves the old or the new one. */
function writeState(path, lastId) {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, `${JSON.stringify({ last_id: lastId })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

// ---------------------------------------------------------------------------

function run(opts) {
  let lastId = opts.since ?? null;
  if (opts.state !== undefined && opts.since === undefined) {
    lastId = readState(opts.state) ?? FROM_THE_BEGINNING;
  }
  let printed = 0;
  let everConnected = false;

  return new Promise((resolve) => {
    let finished = false;
    const finish = (code) => {
      if (finished) return;
      finished = true;
      clearTimeout(connectTimer);
      // Acks already handed to the client are flushed before the engine closes.
      socket.disconnect();
      resolve(code);
    };

    const socket = io(`${opts.url.origin}${NAMESPACE}`, {
      ...TRANSPORTS[opts.transport],
      forceNew: true,
      autoConnect: false,
      timeout: CONNECT_TIMEOUT_MS,
      // Called on every (re)connection attempt: resume after the last id seen.
      auth: (cb) => cb(lastId === null ? { token: opts.token } : { token: opts.token, since: lastId }),
    });

    const connectTimer = setTimeout(() => {
      console.error(`${PROGRAM}: no connection within ${CONNECT_TIMEOUT_MS / 1000} s`);
      finish(1);
    }, CONNECT_TIMEOUT_MS + 1000);

    socket.on("connect", () => {
      everConnected = true;
      clearTimeout(connectTimer);
    });

    socket.on("connect_error", (err) => {
      const message = err?.message ?? String(err);
      if (everConnected && socket.active) {
        // A lost connection being re-established: socket.io-client retries.
        console.error(`${PROGRAM}: reconnecting: ${message}`);
        return;
      }
      console.error(message);
      finish(1);
    });

    socket.on("disconnect", (reason) => {
      if (finished) return;
      if (!socket.active) {
        // The server ended this session (it does not come back on its own).
        console.error(`${PROGRAM}: disconnected: ${reason}`);
        finish(1);
      } else {
        console.error(`${PROGRAM}: connection lost (${reason}); reconnecting`);
      }
    });

    socket.on("error", (error) => {
      console.error(`${PROGRAM}: error: ${JSON.stringify(error)}`);
    });

    socket.on("notification", (notification, ack) => {
      if (finished) return;
      const id = typeof notification?.id === "string" ? notification.id : null;
      const stored = id !== null && !id.startsWith("live:");
      // A stored notification seen already (replay/live overlap): ack only.
      const duplicate = stored && lastId !== null && id <= lastId;
      if (!duplicate) {
        process.stdout.write(`${JSON.stringify(notification)}\n`);
        if (stored) {
          lastId = id;
          if (opts.state !== undefined) writeState(opts.state, lastId);
        }
        printed += 1;
      }
      if (typeof ack === "function") ack(true);
      if (!duplicate && opts.exitAfter !== undefined && printed >= opts.exitAfter) finish(0);
    });

    const quit = () => finish(0);
    process.once("SIGINT", quit);
    process.once("SIGTERM", quit);
    socket.connect();
  });
}

let opts;
try {
  opts = parseCli(process.argv.slice(2));
  run(opts).then(
    (code) => {
      process.exitCode = code;
      // Nothing else should keep the process alive; make sure of it.
      setTimeout(() => process.exit(code), 3000).unref();
    },
    (err) => {
      console.error(`${PROGRAM}: ${err?.message ?? err}`);
      process.exit(1);
    },
  );
} catch (err) {
  console.error(`${PROGRAM}: ${err?.message ?? err}`);
  process.exit(1);
}
