#!/usr/bin/env python3
"""Interop checks of Switchboard's plain WebSocket echo `/ws` with Python's
`websockets` library, used the classic way.

    ws_echo_check.py ws://127.0.0.1:PORT/ws [--max-payload N]

Contract (PROTOCOL.md, "Plain WebSocket `/ws`"): each text message gets the
text `Server received: <message>` back; binary messages are echoed unchanged;
the payload limit is the server's `--max-payload` (default 1000000 bytes): a
message larger than that ends the connection with close code 1009.
`--max-payload` here must match the server's.

Prints one `ok   <name>` / `FAIL <name>: expected ... got ...` line per check
and, last, `interop: ws_echo_check.py websocket: <P> checks ok, <F> failed`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websockets  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from checks import (  # noqa: E402
    CONNECT_TIMEOUT, CheckFailed, Checker, bounded, expect, expect_true,
    main, parser, show,
)

PREFIX = "Server received: "
DEFAULT_MAX_PAYLOAD = 1_000_000


def connect(url: str):
    # The client itself must not be the limit: no client-side size cap.
    return websockets.connect(url, max_size=None, open_timeout=CONNECT_TIMEOUT)


async def send(ws: Any, data: Any) -> None:
    try:
        await bounded(ws.send(data), f"sending {len(data)} bytes/chars to finish")
    except ConnectionClosed as exc:
        raise CheckFailed("to send", f"the connection closed ({close_info(exc)})") from None


async def recv(ws: Any, what: str) -> Any:
    try:
        return await bounded(ws.recv(), what)
    except ConnectionClosed as exc:
        raise CheckFailed(what, f"the connection closed ({close_info(exc)})") from None


def close_info(exc: ConnectionClosed) -> str:
    if exc.rcvd is None:
        return "no close frame received from the server"
    return f"server close code {exc.rcvd.code} reason {exc.rcvd.reason!r}"


async def text_roundtrip(ws: Any, text: str) -> None:
    await send(ws, text)
    got = await recv(ws, f"a reply to a text of {len(text)} chars")
    expect_true(isinstance(got, str), "a text reply",
                f"{type(got).__name__} {show(got)}")
    expect(PREFIX + text, got, "text reply")


async def binary_roundtrip(ws: Any, data: bytes) -> None:
    await send(ws, data)
    got = await recv(ws, f"a reply to {len(data)} binary bytes")
    expect_true(isinstance(got, bytes), "a binary reply",
                f"{type(got).__name__} {show(got)}")
    expect(data, got, "binary reply")


async def echo_checks(checker: Checker, ws: Any, limit: int) -> None:
    """The echo checks, all over one open connection."""
    await checker.run("text hello", lambda: text_roundtrip(ws, "hello"))
    await checker.run("unicode text",
                      lambda: text_roundtrip(ws, "héllo wörld ✓ 😀 𝄞 日本語 עברית"))
    await checker.run("empty text", lambda: text_roundtrip(ws, ""))
    await checker.run(
        "text with newlines and quotes",
        lambda: text_roundtrip(ws, 'line 1\nline "2"\r\n\ttab \\ end'))

    async def in_order() -> None:
        texts = [f"msg-{i} {'x' * i}" for i in range(20)]
        for text in texts:
            await send(ws, text)
        got = [await recv(ws, f"reply {i + 1} of {len(texts)}")
               for i in range(len(texts))]
        expect([PREFIX + t for t in texts], got, "replies in order")
    await checker.run("several messages in order", in_order)

    await checker.run("binary bytes echoed unchanged",
                      lambda: binary_roundtrip(ws, bytes(range(256)) * 4))
    await checker.run("binary with text-looking bytes",
                      lambda: binary_roundtrip(ws, "not text ✓".encode()))
    await checker.run("empty binary", lambda: binary_roundtrip(ws, b""))

    async def mixed_in_order() -> None:
        sent = ["one", b"\x01two", "three", b"\x00\xff"]
        for item in sent:
            await send(ws, item)
        got = [await recv(ws, f"reply {i + 1} of {len(sent)}")
               for i in range(len(sent))]
        expect([PREFIX + s if isinstance(s, str) else s for s in sent],
               got, "replies in order")
    await checker.run("text and binary interleaved in order", mixed_in_order)

    if limit > 1:
        await checker.run(
            f"large text just under the limit ({limit - 1} bytes)",
            lambda: text_roundtrip(ws, "a" * (limit - 1)))
    await checker.run(f"large text at the limit ({limit} bytes)",
                      lambda: text_roundtrip(ws, "b" * limit))
    await checker.run(f"large binary at the limit ({limit} bytes)",
                      lambda: binary_roundtrip(ws, bytes([7]) * limit))
    await checker.run("still echoing after large messages",
                      lambda: text_roundtrip(ws, "after"))


async def too_big(url: str, payload: Any) -> None:
    """A message over the limit: the server closes with 1009."""
    async with connect(url) as ws:
        try:
            await bounded(ws.send(payload), "the over-size send to finish")
            got = await bounded(ws.recv(), "the server to close the connection")
        except ConnectionClosed as exc:
            if exc.rcvd is None:
                raise CheckFailed("close code 1009 (message too big)",
                                  close_info(exc)) from None
            expect(1009, exc.rcvd.code, "close code")
            return
        raise CheckFailed("close code 1009 (message too big)",
                          f"a reply {show(got)}")


async def amain() -> int:
    p = parser("ws_echo_check.py", "Interop checks of Switchboard's plain "
               "WebSocket echo /ws with the websockets library.",
               "WebSocket URL, e.g. ws://127.0.0.1:3000/ws")
    p.add_argument("--max-payload", type=int, default=DEFAULT_MAX_PAYLOAD,
                   metavar="N",
                   help="the server's payload limit in bytes (default %(default)s)")
    opts = p.parse_args()
    url, limit = opts.url, opts.max_payload
    checker = Checker("ws_echo_check.py", "websocket")

    # The classic way: `async with websockets.connect(url) as ws`, send, recv.
    try:
        async with connect(url) as ws:
            checker.ok("connect")
            await echo_checks(checker, ws, limit)
            await bounded(ws.close(), "the close handshake to finish")
        await checker.run("client close -> server answers with close frame 1000",
                          lambda: expect_close_reply(ws, 1000))
    except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake,
            websockets.InvalidURI, CheckFailed) as exc:
        if checker.passed == 0:
            checker.fail("connect", f"a connection to {url}",
                         f"{type(exc).__name__}: {exc}")
            checker.skip_all(["remaining checks"], "no connection")
            return checker.summary()
        checker.fail("connection", "to stay open and close cleanly",
                     f"{type(exc).__name__}: {exc}")

    # Over-size messages, each on its own connection (the server closes it).
    await checker.run(f"text over the limit ({limit + 1} bytes) -> close 1009",
                      lambda: too_big(url, "c" * (limit + 1)))
    await checker.run(f"binary over the limit ({limit + 1} bytes) -> close 1009",
                      lambda: too_big(url, bytes([9]) * (limit + 1)))
    return checker.summary()


async def expect_close_reply(ws: Any, code: int) -> None:
    """RFC 6455 5.5.1: the server answers the client's Close with a Close."""
    rcvd = ws.protocol.close_rcvd
    if rcvd is None:
        raise CheckFailed(f"a close frame from the server with code {code}",
                          "no close frame: the server closed the TCP connection "
                          f"without one (client sees {int(ws.close_code)})")
    expect(code, int(rcvd.code), "close code")


if __name__ == "__main__":
    main(amain)
