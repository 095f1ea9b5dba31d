#!/usr/bin/env python3
"""A notification listener for Switchboard's `/notifications` namespace, with
the reference Python Socket.IO client (python-socketio's AsyncClient).

    notify.py --url http://127.0.0.1:3000 --token JWT
              [--state FILE] [--since ID] [--exit-after N]
              [--transport websocket|polling|upgrade]

`--token` defaults to the environment variable SWITCHBOARD_TOKEN (a token
comes from `switchboard token USER`, or from the backend that signs them).

It connects with `auth: {token, since}` and prints every notification as one
JSON line on stdout (the Notification object as received, in the same text
JSON.stringify writes, so clients/js/notify.mjs prints the same lines), acks
it (by returning True from the handler), and keeps listening.

Resuming (docs/notifications.md, "Ids and ordering"): stored notifications
have 16-digit ids that increase per user and sort as strings. With
`--state FILE` the id of the last stored notification printed is written to
FILE (as `{"last_id": ID}`, atomically: a temporary file renamed over it)
after each one, and the next run connects with `since` = that id, so the
server replays exactly what was missed while the listener was down. A FILE
that does not exist yet means nothing was seen: the run starts from the
beginning (`since` = "0000000000000000", every stored notification of the
user). `--since ID` sets the starting point explicitly; without --state and
--since only live notifications are pushed.

Duplicates (allowed by the contract across the replay-to-live switch, and
after a reconnection) are skipped: a stored id <= the last one seen is acked
but not printed again. Ids starting with `live:` belong to topic and
broadcast pushes, which are live only: printed, never stored as the last id.

A lost connection is re-established by python-socketio; every attempt sends
the current last id as `since`, so nothing is missed in between. A refused
connection (connect_error: `unauthorized`, `bad_request`, ...) prints its
message on stderr and exits 1. With `--exit-after N` it exits 0 once N
notifications have been printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
from typing import Any

import socketio

from cli import (TRANSPORTS, argument_parser, close_http_session, http_origin,
                 route_events, to_json)

PROGRAM = "notify.py"
NAMESPACE = "/notifications"
# The `since` of a listener whose state file does not exist yet.
FROM_THE_BEGINNING = "0000000000000000"
STORED_ID = re.compile(r"\d{16}")
CONNECT_TIMEOUT = 10.0


def parse_cli() -> argparse.Namespace:
    p = argument_parser(
        PROGRAM,
        description="Listen to Switchboard's /notifications namespace and "
                    "print each notification as one JSON line.")
    p.add_argument("--token", default=os.environ.get("SWITCHBOARD_TOKEN"),
                   help="JWT of the user (default: $SWITCHBOARD_TOKEN)")
    p.add_argument("--state", metavar="FILE",
                   help="where the last stored id is kept between runs")
    p.add_argument("--since", metavar="ID",
                   help="replay the stored notifications after this id")
    p.add_argument("--exit-after", type=int, metavar="N",
                   help="exit 0 after printing N notifications")
    p.add_argument("--transport", choices=TRANSPORTS, default="websocket")
    args = p.parse_args()
    if not args.token:
        p.error("--token (or SWITCHBOARD_TOKEN) is required")
    if args.exit_after is not None and args.exit_after < 1:
        p.error("--exit-after takes a positive integer")
    if args.since is not None and not STORED_ID.fullmatch(args.since):
        p.error(f"--since takes a stored notification id (16 digits), got {args.since!r}")
    args.url = http_origin(p, args.url)
    return args


# ---------------------------------------------------------------------------
# The state file: {"last_id": ID}


def read_state(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        last_id = json.loads(text).get("last_id")
    except (ValueError, AttributeError):
        last_id = None
    if not isinstance(last_id, str) or not STORED_ID.fullmatch(last_id):
        raise ValueError(f'the state file {path} holds no {{"last_id": "<16 digits>"}}')
    return last_id


def write_state(path: str, last_id: str) -> None:
    """Replaces the state file atomically: a crash leaves the old or the new one."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(to_json({"last_id": last_id}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------


class Listener:
    def __init__(self, opts: argparse.Namespace):
        self.opts = opts
        self.last_id: str | None = opts.since
        if opts.state is not None and opts.since is None:
            self.last_id = read_state(opts.state) or FROM_THE_BEGINNING
        self.printed = 0
        self.connected_once = False
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self.sio = socketio.AsyncClient(reconnection=True)
        route_events(self.sio, NAMESPACE, self, [
            "connect", "connect_error", "disconnect", "notification", "error"])

    def finish(self, code: int) -> None:
        if not self.done.done():
            self.done.set_result(code)

    def auth(self) -> dict[str, Any]:
        """Called on every (re)connection attempt: resume after the last id.

        `recovery: False`: python-socketio cannot recover a connection's
        state, so the server adds no offset argument to its events (with
        connection state recovery on, docs/PROTOCOL.md); `since` does the
        catching up."""
        if self.last_id is None:
            return {"token": self.opts.token, "recovery": False}
        return {"token": self.opts.token, "since": self.last_id, "recovery": False}

    # -- server events -----------------------------------------------------

    async def on_connect(self) -> None:
        self.connected_once = True

    async def on_connect_error(self, data: Any = None) -> None:
        message = data.get("message", data) if isinstance(data, dict) else data
        refused = isinstance(data, dict)  # the server refused the namespace
        if self.connected_once and not refused:
            # A lost connection being re-established: python-socketio retries.
            print(f"{PROGRAM}: reconnecting: {message}", file=sys.stderr, flush=True)
            return
        print(str(message), file=sys.stderr, flush=True)
        self.finish(1)

    async def on_disconnect(self, reason: Any = None) -> None:
        if self.done.done():
            return
        if reason == self.sio.reason.SERVER_DISCONNECT:
            # The server ended this session: python-socketio does not reconnect.
            print(f"{PROGRAM}: disconnected: {reason}", file=sys.stderr, flush=True)
            self.finish(1)
        else:
            print(f"{PROGRAM}: connection lost ({reason}); reconnecting",
                  file=sys.stderr, flush=True)

    async def on_error(self, error: Any = None) -> None:
        print(f"{PROGRAM}: error: {to_json(error)}", file=sys.stderr, flush=True)

    async def on_notification(self, notification: Any = None, *_: Any) -> bool:
        if self.done.done():
            return True
        nid = notification.get("id") if isinstance(notification, dict) else None
        stored = isinstance(nid, str) and not nid.startswith("live:")
        # A stored notification seen already (replay/live overlap): ack only.
        duplicate = stored and self.last_id is not None and nid <= self.last_id
        if not duplicate:
            print(to_json(notification), flush=True)
            if stored:
                self.last_id = nid
                if self.opts.state is not None:
                    write_state(self.opts.state, nid)
            self.printed += 1
            if self.opts.exit_after is not None and self.printed >= self.opts.exit_after:
                # The ack (this handler's return value) is queued before the
                # main task gets to disconnect.
                self.finish(0)
        return True

    # -- lifecycle -----------------------------------------------------------

    async def run(self) -> int:
        try:
            await asyncio.wait_for(
                self.sio.connect(self.opts.url, namespaces=[NAMESPACE], auth=self.auth,
                                 transports=TRANSPORTS[self.opts.transport],
                                 wait_timeout=CONNECT_TIMEOUT),
                CONNECT_TIMEOUT + 1)
        except asyncio.TimeoutError:
            if not self.done.done():
                print(f"{PROGRAM}: no connection within {CONNECT_TIMEOUT:g} s",
                      file=sys.stderr, flush=True)
            self.finish(1)
        except socketio.exceptions.ConnectionError as exc:
            if not self.done.done():  # no connect_error event told why
                print(str(exc) or "connection refused", file=sys.stderr, flush=True)
            self.finish(1)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.finish, 0)
        code = await self.done
        await self.close()
        return code

    async def flush(self) -> None:
        """Waits (bounded) until every queued packet, the last acks included,
        has been sent. python-engineio drops the packets still queued when a
        disconnect starts while a long-polling POST is in flight (the server
        may answer the POST of the namespace connect only after the replay),
        and then waits for a long-poll the server has no reason to end."""
        queue = getattr(self.sio.eio, "queue", None)
        if queue is None or not self.sio.connected:
            return
        try:
            await asyncio.wait_for(queue.join(), CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            pass

    async def close(self) -> None:
        await self.flush()
        try:
            await asyncio.wait_for(self.sio.shutdown(), CONNECT_TIMEOUT)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        await close_http_session(self.sio)


async def amain(opts: argparse.Namespace) -> int:
    try:
        listener = Listener(opts)
    except (OSError, ValueError) as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 1
    return await listener.run()


def main() -> None:
    opts = parse_cli()
    try:
        code = asyncio.run(amain(opts))
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
