#!/usr/bin/env node
// A terminal chat client for Switchboard's `/chat` namespace, with the
// reference JavaScript Socket.IO client (socket.io-client v4).
//
//     node chat.mjs --url http://127.0.0.1:3000 --name Ada [--room lobby]
//                   [--transport websocket|polling|upgrade] [--json]
//
// It joins the room, prints the members and the history, then reads stdin one
// line at a time: a plain line is a message to the current room, a line
// starting with `/` is a command (`/help` lists them). Room traffic (messages,
// presence, typing, errors) prints as it arrives. With --json every printed
// item is one JSON object on one line instead; clients/js/README.md defines
// those lines, and clients/python/chat.py prints exactly the same ones.
//
// Contract (PROTOCOL.md, "Namespace `/chat`"): every request asks for an ack,
// so a refusal comes back as `{ok: false, error: {code, message}}`; an `error`
// event (a refusal of a request sent without ack) prints too. Commands run one
// after the other, each waiting for its ack (bounded), so lines typed in a row
// reach the server, and so the room, in that order. End of stdin (or /quit)
// quits once the command in flight is answered.

import { createInterface } from "node:readline";
import { io } from "socket.io-client";
import { TRANSPORT_NAMES, TRANSPORTS, failer, parseCommandLine } from "./cli.mjs";

const PROGRAM = "chat.mjs";
const NAMESPACE = "/chat";
/** Longest wait for the connection and for each ack. */
const TIMEOUT_MS = 10000;
const USAGE = `usage: node ${PROGRAM} --url URL --name NAME [--room ROOM] [--transport ${TRANSPORT_NAMES}] [--json]`;
const HELP = [
  "TEXT                          send TEXT to the current room (//TEXT sends /TEXT)",
  "/typing on|off                tell the room you are (not) typing",
  "/history [LIMIT] [BEFORE-ID]  older messages of the current room, oldest first",
  "/members                      who is in the current room (as this client keeps it)",
  "/who                          who is in the current room, asked of the server",
  "/join ROOM                    join ROOM; it becomes the current room",
  "/leave [ROOM]                 leave the current room (or ROOM)",
  "/quit                         disconnect and exit (so does end of input)",
  "/help                         this list",
];

function parseCli(argv) {
  return parseCommandLine({
    argv,
    options: {
      name: { type: "string" },
      room: { type: "string", default: "lobby" },
      json: { type: "boolean", default: false },
    },
    required: { name: "--name is required" },
    help: `${USAGE}\n\nCommands, one per line on stdin:\n${HELP.map((l) => `  ${l}`).join("\n")}`,
    fail: failer(PROGRAM, USAGE),
  });
}

// ---------------------------------------------------------------------------
// Output: one item per line, as JSON or readable text

function clock(ts) {
  return new Date(ts).toTimeString().slice(0, 8);
}

function names(members) {
  return members.map((m) => m.name).join(", ") || "(nobody)";
}

/** Server order: by name, then id, comparing code points (as UTF-8 bytes do). */
function byNameThenId(a, b) {
  return Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)) || Buffer.compare(Buffer.from(a.id), Buffer.from(b.id));
}

/** The member list after a presence change: add or rename on join, remove on leave. */
function applyPresence(members, presence) {
  const others = members.filter((m) => m.id !== presence.member?.id);
  if (presence.event === "join" && presence.member) others.push(presence.member);
  return others.sort(byNameThenId);
}

function line(message) {
  return `[${clock(message.ts)}] #${message.room} ${message.from.name}: ${message.text}`;
}

/** The readable rendering of an output item (see the README for the fields). */
function readable(item) {
  switch (item.type) {
    case "joined":
      return [
        `joined #${item.room} (you are ${item.you})`,
        `members: ${names(item.members)}`,
        `history: ${item.history.length} message(s)`,
        ...item.history.map(line),
      ].join("\n");
    case "ready":
      return "ready: type a message, /help for commands";
    case "message":
    case "sent":
      return line(item.message);
    case "presence":
      return `* ${item.member.name} ${item.event === "join" ? "joined" : "left"} #${item.room} (${item.count} member${item.count === 1 ? "" : "s"})`;
    case "typing":
      return `* ${item.member.name} ${item.typing ? "is typing" : "stopped typing"} in #${item.room}`;
    case "typing_sent":
      return `(you are ${item.typing ? "typing" : "not typing"} in #${item.room})`;
    case "history":
      return [`history of #${item.room}: ${item.messages.length} message(s)`, ...item.messages.map(line)].join("\n");
    case "members":
      return `members of #${item.room}: ${names(item.members)}`;
    case "left":
      return `left #${item.room}`;
    case "error":
      return `error${item.request ? ` (${item.request})` : ""}: ${item.code}: ${item.message}`;
    case "usage":
      return `usage: ${item.message}`;
    case "help":
      return item.commands.join("\n");
    case "disconnected":
      return `disconnected: ${item.reason}`;
    default:
      return JSON.stringify(item);
  }
}

// ---------------------------------------------------------------------------
// The client

class ChatClient {
  constructor(opts) {
    this.opts = opts;
    this.name = opts.name;
    this.current = opts.room; // the room plain lines go to: the one last joined
    this.rooms = new Map(); // joined room -> {members, historyIds}
    this.quitting = false;
    this.socket = io(`${opts.url.origin}${NAMESPACE}`, {
      ...TRANSPORTS[opts.transport],
      forceNew: true,
      reconnection: false,
      autoConnect: false,
      timeout: TIMEOUT_MS,
    });
    this.socket.on("message", (message) => this.onMessage(message));
    this.socket.on("presence", (presence) => this.onPresence(presence));
    this.socket.on("typing", (typing) => this.print({ type: "typing", ...typing }));
    this.socket.on("error", (error) => this.printError(error, null));
  }

  print(item) {
    process.stdout.write(`${this.opts.json ? JSON.stringify(item) : readable(item)}\n`);
  }

  printError(error, request) {
    this.print({
      type: "error",
      code: String(error?.code ?? "internal"),
      message: String(error?.message ?? JSON.stringify(error)),
      request,
    });
  }

  onMessage(message) {
    // A message sent while we joined can come live and in the join history
    // too (same id): print it once.
    if (this.rooms.get(message.room)?.historyIds.has(message.id)) return;
    this.print({ type: "message", message });
  }

  onPresence(presence) {
    // Presence carries the one member who joined or left and the new count;
    // the list is ours to keep (PROTOCOL.md), from the join ack on.
    const room = this.rooms.get(presence.room);
    if (room) {
      room.members = applyPresence(room.members, presence);
      // A change we missed (one that came before our join ack): ask again, quietly.
      if (Number.isInteger(presence.count) && presence.count !== room.members.length) this.resync(presence.room);
    }
    this.print({ type: "presence", ...presence });
  }

  /** Replaces our list of `room` with the server's, printing nothing. */
  async resync(room) {
    try {
      const ack = await this.socket.timeout(TIMEOUT_MS).emitWithAck("members", { room });
      const joined = this.rooms.get(room);
      if (ack?.ok === true && joined) joined.members = ack.members;
    } catch {
      // No answer: the next presence tries again.
    }
  }

  /** Connects to /chat; resolves to null or to the connect_error's message. */
  connect() {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(`no connection within ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS);
      this.socket.once("connect", () => {
        clearTimeout(timer);
        resolve(null);
      });
      this.socket.once("connect_error", (err) => {
        clearTimeout(timer);
        resolve(err?.message ?? String(err));
      });
      this.socket.connect();
    });
  }

  /**
   * Sends a request asking for its ack; returns the ack's fields on
   * `{ok: true}`, otherwise prints the error line and returns null.
   */
  async request(event, payload) {
    let ack;
    try {
      ack = await this.socket.timeout(TIMEOUT_MS).emitWithAck(event, payload);
    } catch {
      if (this.quitting) return null;
      const why = this.socket.connected ? `no answer within ${TIMEOUT_MS / 1000} s` : "not connected";
      this.print({ type: "error", code: "timeout", message: why, request: event });
      return null;
    }
    if (ack?.ok === true) return ack;
    this.printError(ack?.error ?? { code: "internal", message: `unexpected ack ${JSON.stringify(ack)}` }, event);
    return null;
  }

  async join(room) {
    const ack = await this.request("join", { room, name: this.name });
    if (!ack) return false;
    this.current = ack.room;
    this.rooms.set(ack.room, {
      members: ack.members,
      historyIds: new Set(ack.history.map((m) => m.id)),
    });
    this.print({ type: "joined", room: ack.room, members: ack.members, history: ack.history, you: this.socket.id });
    return true;
  }

  async leave(room) {
    if (await this.request("leave", { room })) {
      this.rooms.delete(room);
      this.print({ type: "left", room });
    }
  }

  async send(text) {
    const ack = await this.request("message", { room: this.current, text });
    if (ack) this.print({ type: "sent", message: ack.message });
  }

  async typing(typing) {
    if (await this.request("typing", { room: this.current, typing })) {
      this.print({ type: "typing_sent", room: this.current, typing });
    }
  }

  async history(limit, before) {
    const payload = { room: this.current };
    if (before !== undefined) payload.before = before;
    if (limit !== undefined) payload.limit = limit;
    const ack = await this.request("history", payload);
    if (ack) this.print({ type: "history", room: this.current, messages: ack.messages });
  }

  /** The current room's members as the server has them (`members`); they replace ours. */
  async who() {
    const room = this.current;
    const ack = await this.request("members", { room });
    if (!ack) return;
    const joined = this.rooms.get(room);
    if (joined) joined.members = ack.members;
    this.print({ type: "members", room, members: ack.members });
  }

  /** Runs one input line; returns false when the client should quit. */
  async command(input) {
    const text = input.replace(/\r$/, "");
    if (text === "") return true;
    if (!text.startsWith("/") || text.startsWith("//")) {
      await this.send(text.startsWith("//") ? text.slice(1) : text);
      return true;
    }
    const [cmd, ...args] = text.trim().split(/\s+/);
    const usage = (message) => this.print({ type: "usage", message });
    switch (cmd) {
      case "/quit":
        return false;
      case "/help":
        this.print({ type: "help", commands: HELP });
        break;
      case "/typing":
        if (args.length === 1 && (args[0] === "on" || args[0] === "off")) await this.typing(args[0] === "on");
        else usage("/typing on|off");
        break;
      case "/history": {
        const [limit, before, ...rest] = args;
        if (rest.length > 0 || (limit !== undefined && !/^-?\d+$/.test(limit))) {
          usage("/history [LIMIT] [BEFORE-ID]");
        } else {
          await this.history(limit === undefined ? undefined : Number(limit), before);
        }
        break;
      }
      case "/members": {
        const room = this.rooms.get(this.current);
        if (room) this.print({ type: "members", room: this.current, members: room.members });
        else usage(`not in #${this.current}; /join ${this.current} first`);
        break;
      }
      case "/who":
        if (args.length === 0) await this.who();
        else usage("/who");
        break;
      case "/join":
        if (args.length === 1) await this.join(args[0]);
        else usage("/join ROOM");
        break;
      case "/leave":
        if (args.length <= 1) await this.leave(args[0] ?? this.current);
        else usage("/leave [ROOM]");
        break;
      default:
        usage(`unknown command ${cmd}; /help lists the commands`);
    }
    return true;
  }

  async run() {
    const refused = await this.connect();
    if (refused !== null) {
      this.print({ type: "error", code: "connect_error", message: refused, request: "connect" });
      this.socket.disconnect();
      return 1;
    }
    const input = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
    // Take the iterator now: readline drops lines (and the end of input) that
    // come before anyone iterates, and the join below takes a while.
    const lines = input[Symbol.asyncIterator]();
    let exitCode = 0;
    this.socket.on("disconnect", (reason) => {
      if (this.quitting) return;
      this.print({ type: "disconnected", reason });
      exitCode = 1;
      input.close(); // ends the loop below
    });
    // Ctrl-C / kill: leave now, even in the middle of a request.
    const quit = () => {
      this.quitting = true;
      this.socket.disconnect();
      input.close();
    };
    process.on("SIGINT", quit);
    process.on("SIGTERM", quit);

    if (!(await this.join(this.current))) {
      this.quitting = true;
      this.socket.disconnect();
      return 1;
    }
    this.print({ type: "ready" });
    for await (const text of lines) {
      if (!this.socket.connected) break;
      if (!(await this.command(text))) break;
    }
    this.quitting = true;
    // socket.io-client flushes the disconnect packet before it closes the
    // transport, so the room sees the leave at once (on polling too).
    this.socket.disconnect();
    process.off("SIGINT", quit);
    process.off("SIGTERM", quit);
    return exitCode;
  }
}

const client = new ChatClient(parseCli(process.argv.slice(2)));
client.run().then(
  (code) => {
    process.exitCode = code;
    // stdin may still be open (after /quit); nothing else must keep us alive.
    process.stdin.destroy();
    setTimeout(() => process.exit(code), 3000).unref();
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
