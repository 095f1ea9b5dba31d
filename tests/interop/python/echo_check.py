#!/usr/bin/env python3
"""Interop checks of Switchboard's echo namespaces (`/` and `/echo`) with the
reference Python Socket.IO client (python-socketio's AsyncClient).

    echo_check.py URL [--transport websocket|polling|upgrade] [--namespace /echo]

Contract (PROTOCOL.md, "Namespace `/` and `/echo` - echo"):
- on connect the server emits `auth` with the handshake's auth (`{}` if none);
- `message` -> `message-back` with the same arguments (binary included);
- `message-with-ack` -> acknowledged with the same arguments;
- `emit-with-ack` -> the server emits `emit-with-ack` with the same arguments
  asking for an ack, then emits `emit-with-ack` with the ack's arguments;
- any other event -> acked with the same arguments when an ack was asked,
  otherwise emitted back under the same name;
- any other namespace is refused with connect_error `Invalid namespace`.

Prints one `ok   <name>` / `FAIL <name>: expected ... got ...` line per check
and, last, `interop: echo_check.py <transport>: <P> checks ok, <F> failed`.
Exit code 0 only when nothing failed and something passed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Awaitable, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import socketio  # noqa: E402

from checks import (  # noqa: E402
    CONNECT_TIMEOUT, TIMEOUT, Checker, RecordingClient,
    attempt_connect, bounded, connect_recording, expect, expect_true, main, parser,
    poll_until, same, show,
)

TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}
UNKNOWN_NAMESPACE = "/nope-does-not-exist"
AUTH = {"token": "abc", "n": 1, "nested": {"a": [1, 2]}}

# Plain (JSON) values of every kind.
TRICKY_TEXT = 'quote " backslash \\ slash / newline \n tab \t sep \x1e nul \x00 end'
UNICODE = "héllo wörld ✓ 😀 𝄞 日本語 עברית"
NESTED = {
    "list": [1, "two", 3.5, None, True, {"deep": [False, [], {}]}],
    "emoji": "🚀✨",
    "empty": {},
    "neg": -42,
}
BLOB = bytes(range(256))
BIG_BLOB = bytes((i * 7919 + 13) % 256 for i in range(64 * 1024))


class Session:
    """The checks of one namespace over one connected client."""

    def __init__(self, url: str, namespace: str, transport: str,
                 checker: Checker):
        self.url = url
        self.ns = namespace
        self.transport = transport
        self.transports = TRANSPORTS[transport]
        self.checker = checker
        self.client: RecordingClient | None = None
        self.barrier_n = 0

    def name(self, what: str) -> str:
        return f"{what} [{self.ns}]"

    @property
    def c(self) -> RecordingClient:
        assert self.client is not None
        return self.client

    async def check(self, what: str, fn: Callable[[], Awaitable[Any]]) -> bool:
        ok = await self.checker.run(self.name(what), fn)
        if not ok and self.client is not None:
            # Leftovers of a failed check must not be taken by the next one.
            self.client.drop_unread(self.ns)
        return ok

    # -- building blocks --------------------------------------------------

    async def echo_message(self, args: tuple) -> None:
        await self.c.emit_args("message", args, self.ns)
        got = await self.c.next_event(self.ns, "message-back")
        expect(args, got.args, f"message-back with {len(args)} args")
        expect_true(not got.ack_requested, "message-back without ack request",
                    "an ack request")

    async def echo_ack(self, args: tuple) -> None:
        ack = await self.c.ack_args("message-with-ack", args, self.ns)
        expect(args, ack, f"ack with {len(args)} args")

    async def emit_with_ack(self, args: tuple) -> None:
        reply = tuple(reversed(args)) + ("acked-by-python", {"n": len(args)})
        key = (self.ns, "emit-with-ack")
        # Answer only the server's first emit (the one with exactly our args).
        self.c.replies[key] = lambda got: reply if same(got, args) else None
        try:
            await self.c.emit_args("emit-with-ack", args, self.ns)
            first = await self.c.next_event(self.ns, "emit-with-ack")
            expect(args, first.args, "first emit-with-ack with the sent args")
            expect_true(first.ack_requested,
                        "the first emit-with-ack to ask for an ack",
                        "no ack request")
            second = await self.c.next_event(self.ns, "emit-with-ack")
            expect(reply, second.args,
                   "second emit-with-ack with the client's ack args")
            expect_true(not second.ack_requested,
                        "the second emit-with-ack without ack request",
                        "an ack request")
        finally:
            self.c.replies.pop(key, None)

    async def barrier(self) -> None:
        """A round trip through `message`: once its echo is back, the server
        has handled everything sent before it."""
        self.barrier_n += 1
        marker = f"barrier-{self.barrier_n}"
        await self.c.emit_args("message", (marker,), self.ns)
        got = await self.c.next_event(self.ns, "message-back")
        expect((marker,), got.args, "the barrier's message-back")

    # -- checks ---------------------------------------------------------

    async def run(self) -> None:
        ok = await self.check("connect with auth", self.connect_with_auth)
        if not ok:
            self.checker.skip_all([self.name("remaining checks")],
                                  "no connection")
            await self.close()
            return
        try:
            await self.run_connected()
        finally:
            await self.close()

    async def connect_with_auth(self) -> None:
        self.client = await connect_recording(self.url, self.ns,
                                              self.transports, auth=AUTH)

    async def auth_echoed(self) -> None:
        got = await self.c.next_event(self.ns, "auth")
        expect((AUTH,), got.args, "auth event args")
        expect_true(not got.ack_requested, "auth without ack request",
                    "an ack request")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    async def run_connected(self) -> None:
        c, ns = self.c, self.ns
        await self.check("server emits auth with the handshake's auth",
                         self.auth_echoed)

        if self.transport == "upgrade":
            async def upgraded() -> None:
                await poll_until(lambda: c.transport() == "websocket",
                                 "transport 'websocket' after upgrade",
                                 c.transport)
                await self.echo_message(("after upgrade", 1, BLOB))
            await self.check("upgrade polling -> websocket, echo works after",
                             upgraded)
        else:
            async def same_transport() -> None:
                expect(self.transport, c.transport(), "transport")
                await self.echo_message((f"over {self.transport}",))
            await self.check(f"transport stays {self.transport}",
                             same_transport)

        async def no_auth() -> None:
            other = await connect_recording(self.url, ns, self.transports)
            try:
                got = await other.next_event(ns, "auth")
                expect(({},), got.args, "auth event args")
            finally:
                await other.close()
        await self.check("connect without auth -> auth is {}", no_auth)

        # message -> message-back, 0..5 plain arguments
        message_cases = {
            "message 0 args": (),
            "message 1 arg (dict)": (NESTED,),
            "message 2 args (unicode, int)": (UNICODE, 7),
            "message 3 args (float, negative, bool)": (3.25, -17, True),
            "message 5 args mixed": (
                TRICKY_TEXT, -0.5, None, [1, [2, [3, []]], {"k": "v"}],
                {"b": False, "big": 2**53 + 1, "small": -(2**40), "f": 1e-7},
            ),
            "message 1 arg (list)": ([1, "x", None, 2.5],),
            "message 1 arg (empty string)": ("",),
        }
        for what, args in message_cases.items():
            await self.check(what, lambda args=args: self.echo_message(args))

        binary_cases = {
            "message binary alone": (BLOB,),
            "message binary mixed with plain args": ("before", BLOB, 3, None,
                                                     b"\x00\xff", "after"),
            "message binary nested in dict": ({"name": "blob", "data": BLOB,
                                               "inner": {"x": b"\x01\x02"}},),
            "message binary nested in list": ([1, BLOB, [b"\xfe", "s"]],),
            "message binary 64 KiB and empty": (BIG_BLOB, b""),
        }
        for what, args in binary_cases.items():
            await self.check(what, lambda args=args: self.echo_message(args))

        ack_cases = {
            "message-with-ack 1 arg": ({"hello": UNICODE},),
            "message-with-ack 3 args": ("a", 2, [3.5, None, False]),
            "message-with-ack 0 args": (),
            "message-with-ack binary": (BLOB, {"nested": [b"\x00"]}, "x"),
        }
        for what, args in ack_cases.items():
            await self.check(what, lambda args=args: self.echo_ack(args))

        await self.check(
            "emit-with-ack round trip (client acks different values)",
            lambda: self.emit_with_ack(("first", 2, {"three": [3]}, None)))
        await self.check(
            "emit-with-ack round trip binary",
            lambda: self.emit_with_ack((b"\x01\x02\x03", "mixed",
                                        {"blob": BLOB})))

        async def custom_no_ack() -> None:
            args = ("custom", 1, {"x": [True, None]}, b"\x07")
            await c.emit_args("custom-event", args, ns)
            got = await c.next_event(ns, "custom-event")
            expect(args, got.args, "custom-event emitted back")
            expect_true(not got.ack_requested,
                        "custom-event emitted without ack request",
                        "an ack request")
        await self.check("custom-event without ack -> emitted back",
                         custom_no_ack)

        async def custom_with_ack() -> None:
            args = ("custom-acked", 2.5, [UNICODE], BLOB)
            ack = await c.ack_args("custom-event", args, ns)
            expect(args, ack, "ack args")
            await self.barrier()
            stray = [r for r in c.unread(ns) if r.event == "custom-event"]
            expect_true(not stray, "no custom-event emitted back",
                        show([(r.event, r.args) for r in stray]))
        await self.check("custom-event with ack -> acked, not emitted back",
                         custom_with_ack)

        async def nothing_unexpected() -> None:
            await self.barrier()
            stray = c.unread(ns)
            expect_true(not stray, "no unread server events",
                        show([(r.event, r.args) for r in stray]))
        await self.check("no unexpected server events", nothing_unexpected)

        async def disconnect() -> None:
            await bounded(c.disconnect(), "disconnect to finish")
            await poll_until(lambda: not c.connected, "connected == False",
                             lambda: c.connected)
        await self.check("disconnect", disconnect)


async def unknown_namespace(url: str, transports: list[str]) -> None:
    attempt = await attempt_connect(url, UNKNOWN_NAMESPACE, transports)
    expect_true(not attempt.timed_out, "connect() to be refused",
                f"no answer within {CONNECT_TIMEOUT:g} s")
    expect_true(not attempt.connected, "no connect to " + UNKNOWN_NAMESPACE,
                "a connect")
    expect_true(attempt.refused is not None, "connect() to raise ConnectionError",
                "no error")
    await attempt.expect_connect_error("Invalid namespace")


async def socket_ids_are_not_the_session_id(url: str, transports: list[str],
                                            namespaces: list[str]) -> None:
    """One connection multiplexing several namespaces: each socket has an id
    of its own, and none is the Engine.IO session id (which grants the
    session, so only this client may know it)."""
    client = RecordingClient()
    try:
        await asyncio.wait_for(
            client.connect(url, transports=transports, namespaces=namespaces,
                           wait_timeout=TIMEOUT),
            CONNECT_TIMEOUT)
        session_id = client.eio.sid
        ids = [client.get_sid(ns) for ns in namespaces]
        expect_true(len({session_id, *ids}) == len(ids) + 1,
                    "distinct ids per namespace and session",
                    show({"session": session_id, "sockets": ids}))
        for sid in [session_id, *ids]:
            expect_true(isinstance(sid, str) and len(sid) >= 20
                        and all(ch.isalnum() or ch in "-_" for ch in sid),
                        "ids of at least 20 URL-safe characters (120 bits)",
                        show(sid))
    finally:
        await client.close()


async def amain() -> int:
    p = parser("echo_check.py", "Interop checks of Switchboard's echo "
               "namespaces with python-socketio's AsyncClient.",
               "server URL, e.g. http://127.0.0.1:3000")
    p.add_argument("--transport", choices=sorted(TRANSPORTS),
                   default="websocket")
    p.add_argument("--namespace", action="append",
                   help="namespace to check (repeatable); default / and /echo")
    opts = p.parse_args()
    namespaces = opts.namespace or ["/", "/echo"]

    checker = Checker("echo_check.py", opts.transport)
    for ns in namespaces:
        await Session(opts.url, ns, opts.transport, checker).run()
    if len(namespaces) > 1:
        await checker.run(
            "socket ids: one per namespace, none is the engine id",
            lambda: socket_ids_are_not_the_session_id(
                opts.url, TRANSPORTS[opts.transport], namespaces))
    await checker.run(
        f"unknown namespace {UNKNOWN_NAMESPACE} refused: Invalid namespace",
        lambda: unknown_namespace(opts.url, TRANSPORTS[opts.transport]))
    return checker.summary()


if __name__ == "__main__":
    main(amain)
