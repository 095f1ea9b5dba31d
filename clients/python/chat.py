#!/usr/bin/env python3
"""A terminal chat client for Switchboard's `/chat` namespace, with the
reference Python Socket.IO client (python-socketio's AsyncClient).

    chat.py --url http://127.0.0.1:3000 --name Ada [--room lobby]
            [--transport websocket|polling|upgrade] [--json]

It joins the room, prints the members and the history, then reads stdin one
line at a time: a plain line is a message to the current room, a line
starting with `/` is a command (`/help` lists them). Room traffic (messages,
presence, typing, errors) prints as it arrives, also while it waits for input.
With --json every printed item is one JSON object on one line instead;
clients/python/README.md defines those lines, and clients/js/chat.mjs prints
exactly the same ones.

Contract (PROTOCOL.md, "Namespace `/chat`"): every request asks for an ack,
so a refusal comes back as `{ok: false, error: {code, message}}`; an `error`
event (a refusal of a request sent without ack) prints too. Commands run one
after the other, each waiting for its ack (bounded), so lines typed in a row
reach the server, and so the room, in that order. End of stdin (or /quit)
quits once the command in flight is answered.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import os
import re
import signal
import sys
import threading
import time
from typing import Any

import socketio

from cli import (TRANSPORTS, argument_parser, close_http_session, http_origin,
                 route_events, to_json)

PROGRAM = "chat.py"
NAMESPACE = "/chat"
# Longest wait for the connection and for each ack, in seconds.
TIMEOUT = 10.0
HELP = [
    "TEXT                          send TEXT to the current room (//TEXT sends /TEXT)",
    "/typing on|off                tell the room you are (not) typing",
    "/history [LIMIT] [BEFORE-ID]  older messages of the current room, oldest first",
    "/members                      who is in the current room (as this client keeps it)",
    "/who                          who is in the current room, asked of the server",
    "/join ROOM                    join ROOM; it becomes the current room",
    "/leave [ROOM]                 leave the current room (or ROOM)",
    "/quit                         disconnect and exit (so does end of input)",
    "/help                         this list",
]
# Marks the end of input in the line queue.
EOF = None


def parse_cli() -> argparse.Namespace:
    p = argument_parser(
        PROGRAM,
        description="Terminal chat client for Switchboard's /chat namespace.",
        epilog="Commands, one per line on stdin:\n" + "\n".join(f"  {l}" for l in HELP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--name", required=True, help="your display name")
    p.add_argument("--room", default="lobby", help="room to join first (default lobby)")
    p.add_argument("--transport", choices=TRANSPORTS, default="websocket")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")
    args = p.parse_args()
    args.url = http_origin(p, args.url)
    return args


# ---------------------------------------------------------------------------
# Output: one item per line, as JSON or readable text


def clock(ts: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts / 1000))


def names(members: list[dict]) -> str:
    return ", ".join(m["name"] for m in members) or "(nobody)"


def by_name_then_id(member: dict) -> tuple[str, str]:
    """Server order: by name, then id (Python compares code points, as the server)."""
    return (member["name"], member["id"])


def apply_presence(members: list[dict], presence: dict) -> list[dict]:
    """The member list after a presence change: add or rename on join, remove on leave."""
    member = presence.get("member") or {}
    others = [m for m in members if m["id"] != member.get("id")]
    if presence.get("event") == "join" and member:
        others.append(member)
    return sorted(others, key=by_name_then_id)


def line(message: dict) -> str:
    return (f"[{clock(message['ts'])}] #{message['room']} "
            f"{message['from']['name']}: {message['text']}")


def readable(item: dict) -> str:
    """The readable rendering of an output item (see the README for the fields)."""
    kind = item["type"]
    if kind == "joined":
        return "\n".join([
            f"joined #{item['room']} (you are {item['you']})",
            f"members: {names(item['members'])}",
            f"history: {len(item['history'])} message(s)",
            *map(line, item["history"]),
        ])
    if kind == "ready":
        return "ready: type a message, /help for commands"
    if kind in ("message", "sent"):
        return line(item["message"])
    if kind == "presence":
        did = "joined" if item["event"] == "join" else "left"
        plural = "" if item["count"] == 1 else "s"
        return (f"* {item['member']['name']} {did} #{item['room']} "
                f"({item['count']} member{plural})")
    if kind == "typing":
        doing = "is typing" if item["typing"] else "stopped typing"
        return f"* {item['member']['name']} {doing} in #{item['room']}"
    if kind == "typing_sent":
        doing = "typing" if item["typing"] else "not typing"
        return f"(you are {doing} in #{item['room']})"
    if kind == "history":
        return "\n".join([
            f"history of #{item['room']}: {len(item['messages'])} message(s)",
            *map(line, item["messages"]),
        ])
    if kind == "members":
        return f"members of #{item['room']}: {names(item['members'])}"
    if kind == "left":
        return f"left #{item['room']}"
    if kind == "error":
        request = f" ({item['request']})" if item["request"] else ""
        return f"error{request}: {item['code']}: {item['message']}"
    if kind == "usage":
        return f"usage: {item['message']}"
    if kind == "help":
        return "\n".join(item["commands"])
    if kind == "disconnected":
        return f"disconnected: {item['reason']}"
    return to_json(item)


# ---------------------------------------------------------------------------
# Input


def read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue) -> None:
    """Reader thread: puts each stdin line (without its line end) on `lines`,
    then EOF. Reads the file descriptor directly (no lock on sys.stdin that
    could stall the interpreter's exit) and works for pipes, terminals and
    regular files alike."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    while True:
        try:
            chunk = os.read(sys.stdin.fileno(), 65536)
        except OSError:
            chunk = b""
        pending += decoder.decode(chunk, final=not chunk)
        *complete, pending = pending.split("\n")
        for text in complete:
            loop.call_soon_threadsafe(lines.put_nowait, text.removesuffix("\r"))
        if not chunk:
            if pending:
                loop.call_soon_threadsafe(lines.put_nowait, pending)
            loop.call_soon_threadsafe(lines.put_nowait, EOF)
            return


# ---------------------------------------------------------------------------
# The client


class ChatClient:
    def __init__(self, opts: argparse.Namespace):
        self.opts = opts
        self.name = opts.name
        self.current = opts.room  # the room plain lines go to: the one last joined
        self.rooms: dict[str, dict[str, Any]] = {}  # joined room -> members, history ids
        self.quitting = False
        self.tasks: set[asyncio.Future] = set()  # quiet member-list resyncs in flight
        self.closed = asyncio.Event()  # set when the connection ends for any reason
        self.lines: asyncio.Queue = asyncio.Queue()
        self.refusal: str | None = None  # the connect_error's message
        self.disconnect_reason: str | None = None
        self.sio = socketio.AsyncClient(reconnection=False)
        route_events(self.sio, NAMESPACE, self, [
            "message", "presence", "typing", "error", "connect_error", "disconnect"])

    def print(self, item: dict) -> None:
        text = to_json(item) if self.opts.json else readable(item)
        print(text, flush=True)

    def print_error(self, error: Any, request: str | None) -> None:
        if not isinstance(error, dict):
            error = {"code": "internal", "message": to_json({"unexpected": error})}
        self.print({
            "type": "error",
            "code": str(error.get("code", "internal")),
            "message": str(error.get("message", "")),
            "request": request,
        })

    # -- server events -----------------------------------------------------

    async def on_message(self, message: dict) -> None:
        # A message sent while we joined can come live and in the join
        # history too (same id): print it once.
        room = self.rooms.get(message.get("room"))
        if room and message.get("id") in room["history_ids"]:
            return
        self.print({"type": "message", "message": message})

    async def on_presence(self, presence: dict) -> None:
        # Presence carries the one member who joined or left and the new
        # count; the list is ours to keep (PROTOCOL.md), from the join ack on.
        room = self.rooms.get(presence.get("room"))
        if room is not None:
            room["members"] = apply_presence(room["members"], presence)
            # A change we missed (one that came before our join ack): ask
            # again, quietly, without holding up this handler.
            count = presence.get("count")
            if isinstance(count, int) and count != len(room["members"]):
                task = asyncio.ensure_future(self.resync(presence["room"]))
                self.tasks.add(task)  # keep a reference until it is done
                task.add_done_callback(self.tasks.discard)
        self.print({"type": "presence", **presence})

    async def resync(self, room: str) -> None:
        """Replaces our list of `room` with the server's, printing nothing."""
        try:
            ack = await self.sio.call("members", {"room": room}, namespace=NAMESPACE,
                                      timeout=TIMEOUT)
        except Exception:  # noqa: BLE001 - the next presence tries again
            return
        joined = self.rooms.get(room)
        if isinstance(ack, dict) and ack.get("ok") is True and joined is not None:
            joined["members"] = ack["members"]

    async def on_typing(self, typing: dict) -> None:
        self.print({"type": "typing", **typing})

    async def on_error(self, error: Any) -> None:
        self.print_error(error, None)

    async def on_connect_error(self, data: Any = None) -> None:
        if isinstance(data, dict):
            data = data.get("message", data)
        self.refusal = str(data)

    async def on_disconnect(self, reason: Any = None) -> None:
        self.disconnect_reason = str(reason or "disconnected")
        self.closed.set()
        self.lines.put_nowait(EOF)

    # -- requests ------------------------------------------------------------

    async def request(self, event: str, payload: dict) -> dict | None:
        """Sends a request asking for its ack; returns the ack on `{ok: true}`,
        otherwise prints the error line and returns None."""
        call = asyncio.ensure_future(
            self.sio.call(event, payload, namespace=NAMESPACE, timeout=TIMEOUT))
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({call, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not call.done():
            call.cancel()
            if not self.quitting:
                self.print({"type": "error", "code": "timeout",
                            "message": "not connected", "request": event})
            return None
        try:
            ack = call.result()
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError) as exc:
            if not self.quitting:
                why = (f"no answer within {TIMEOUT:g} s"
                       if isinstance(exc, socketio.exceptions.TimeoutError) else "not connected")
                self.print({"type": "error", "code": "timeout", "message": why,
                            "request": event})
            return None
        if isinstance(ack, dict) and ack.get("ok") is True:
            return ack
        error = ack.get("error") if isinstance(ack, dict) else None
        if error is None:
            error = {"code": "internal", "message": f"unexpected ack {to_json({'ack': ack})}"}
        self.print_error(error, event)
        return None

    async def join(self, room: str) -> bool:
        ack = await self.request("join", {"room": room, "name": self.name})
        if ack is None:
            return False
        self.current = ack["room"]
        self.rooms[ack["room"]] = {
            "members": ack["members"],
            "history_ids": {m["id"] for m in ack["history"]},
        }
        self.print({"type": "joined", "room": ack["room"], "members": ack["members"],
                    "history": ack["history"], "you": self.sio.get_sid(NAMESPACE)})
        return True

    async def leave(self, room: str) -> None:
        if await self.request("leave", {"room": room}) is not None:
            self.rooms.pop(room, None)
            self.print({"type": "left", "room": room})

    async def send(self, text: str) -> None:
        ack = await self.request("message", {"room": self.current, "text": text})
        if ack is not None:
            self.print({"type": "sent", "message": ack["message"]})

    async def typing(self, typing: bool) -> None:
        if await self.request("typing", {"room": self.current, "typing": typing}) is not None:
            self.print({"type": "typing_sent", "room": self.current, "typing": typing})

    async def history(self, limit: int | None, before: str | None) -> None:
        payload: dict[str, Any] = {"room": self.current}
        if before is not None:
            payload["before"] = before
        if limit is not None:
            payload["limit"] = limit
        ack = await self.request("history", payload)
        if ack is not None:
            self.print({"type": "history", "room": self.current, "messages": ack["messages"]})

    async def who(self) -> None:
        """The current room's members as the server has them (`members`); they
        replace ours."""
        room = self.current
        ack = await self.request("members", {"room": room})
        if ack is None:
            return
        joined = self.rooms.get(room)
        if joined is not None:
            joined["members"] = ack["members"]
        self.print({"type": "members", "room": room, "members": ack["members"]})

    async def command(self, text: str) -> bool:
        """Runs one input line; returns False when the client should quit."""
        if text == "":
            return True
        if not text.startswith("/") or text.startswith("//"):
            await self.send(text[1:] if text.startswith("//") else text)
            return True
        cmd, *args = text.split()

        def usage(message: str) -> None:
            self.print({"type": "usage", "message": message})

        if cmd == "/quit":
            return False
        if cmd == "/help":
            self.print({"type": "help", "commands": HELP})
        elif cmd == "/typing":
            if args in (["on"], ["off"]):
                await self.typing(args[0] == "on")
            else:
                usage("/typing on|off")
        elif cmd == "/history":
            if len(args) > 2 or (args and not re.fullmatch(r"-?\d+", args[0])):
                usage("/history [LIMIT] [BEFORE-ID]")
            else:
                limit = int(args[0]) if args else None
                await self.history(limit, args[1] if len(args) > 1 else None)
        elif cmd == "/members":
            room = self.rooms.get(self.current)
            if room is not None:
                self.print({"type": "members", "room": self.current,
                            "members": room["members"]})
            else:
                usage(f"not in #{self.current}; /join {self.current} first")
        elif cmd == "/who":
            if args:
                usage("/who")
            else:
                await self.who()
        elif cmd == "/join":
            if len(args) == 1:
                await self.join(args[0])
            else:
                usage("/join ROOM")
        elif cmd == "/leave":
            if len(args) <= 1:
                await self.leave(args[0] if args else self.current)
            else:
                usage("/leave [ROOM]")
        else:
            usage(f"unknown command {cmd}; /help lists the commands")
        return True

    # -- lifecycle -------------------------------------------------------------

    def quit_now(self) -> None:
        """Ctrl-C / kill: leave now, even in the middle of a request."""
        self.quitting = True
        self.closed.set()
        self.lines.put_nowait(EOF)

    async def connect(self) -> str | None:
        """Connects to /chat; returns None or why it failed."""
        try:
            await asyncio.wait_for(
                # `recovery: False`: python-socketio passes every argument to
                # a handler, and these take the contract's one; with
                # connection state recovery on, the server would add an
                # offset argument (docs/PROTOCOL.md).
                self.sio.connect(self.opts.url, namespaces=[NAMESPACE],
                                 auth={"recovery": False},
                                 transports=TRANSPORTS[self.opts.transport],
                                 wait_timeout=TIMEOUT),
                TIMEOUT + 1)
        except asyncio.TimeoutError:
            return self.refusal or f"no connection within {TIMEOUT:g} s"
        except socketio.exceptions.ConnectionError as exc:
            return self.refusal or str(exc) or "connection refused"
        return None

    async def close(self) -> None:
        self.quitting = True
        try:
            # python-socketio sends the disconnect packet before it closes the
            # transport, so the room sees the leave at once (on polling too).
            await asyncio.wait_for(self.sio.disconnect(), TIMEOUT)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        await close_http_session(self.sio)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.quit_now)
        refused = await self.connect()
        if refused is not None:
            self.print({"type": "error", "code": "connect_error", "message": refused,
                        "request": "connect"})
            await self.close()
            return 1
        threading.Thread(target=read_stdin, args=(loop, self.lines), daemon=True).start()
        try:
            if not await self.join(self.current):
                return 1
            self.print({"type": "ready"})
            while not self.closed.is_set():
                text = await self.lines.get()
                if text is EOF or self.closed.is_set() or not await self.command(text):
                    break
            if self.closed.is_set() and not self.quitting:
                self.print({"type": "disconnected", "reason": self.disconnect_reason})
                return 1
            return 0
        finally:
            await self.close()


async def amain(opts: argparse.Namespace) -> int:
    return await ChatClient(opts).run()


def main() -> None:
    opts = parse_cli()
    sys.stdout.reconfigure(encoding="utf-8", errors="replace")
    code = asyncio.run(amain(opts))
    sys.stdout.flush()
    # The stdin reader thread may still be blocked in read(); it is a daemon.
    sys.exit(code)


if __name__ == "__main__":
    main()
