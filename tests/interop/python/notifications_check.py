#!/usr/bin/env python3
"""Interop checks of Switchboard's `/notifications` namespace and HTTP push
API (`/api/v1`) with the reference Python Socket.IO client (python-socketio's
AsyncClient), aiohttp, and tokens signed by a real JWT library (PyJWT).

    notifications_check.py URL --secret JWT_SECRET --api-key KEY
                           [--transport websocket|polling|upgrade]
                           [--max-payload BYTES]

`--secret` / `--api-key` default to SWITCHBOARD_JWT_SECRET /
SWITCHBOARD_API_KEY. The server must run with that secret and key, and with
--max-payload BYTES (default 1000000, the server's default too).

Contract: PROTOCOL.md ("Conventions", "Namespace `/notifications`", "HTTP push
API") and docs/notifications.md (ids, live-only topic and broadcast pushes,
read state, idempotency, HTTP errors). Checked here (the same checks as
tests/interop/js/notifications.check.mjs):
- refusals: no token, malformed, wrongly signed, expired, without `exp`,
  unsigned (`alg: none`), empty `sub` -> connect_error `unauthorized`; a
  `since` that is not a stored id -> `bad_request`;
- a push through POST /api/v1/notifications arrives live as `notification`
  with every field, asking for an ack; several users; other users' pushes
  stay away;
- `list` (newest first, unread count, unread_only, before, limit, bad
  arguments acked or emitted as `error` with `bad_request`);
- replay after an offline period (exactly the missed ones, in id order, then
  live), `since` = newest id, no `since`, `since` = 16 zeros;
- `read {ids}` / `read {all}`: ack with the unread count, `unread {count}` on
  every socket of the user; other users' ids ignored; bad payloads;
- `subscribe` / `unsubscribe` (sorted topics), topic pushes reaching only
  subscribed sockets (user null, `topic`, `live:` id), broadcast;
- GET /api/v1/users/{user}/notifications, idempotent retries
  (Idempotency-Key), the HTTP errors (401, 400, 404, 413), POST /api/v1/emit to a
  `/chat` room and to `/echo`.

Every user, topic, room and kind carries a random per-run tag, so runs do not
disturb each other (a broadcast of another run is ignored). Every wait is
bounded; that something does NOT arrive is checked after a round trip on the
same socket (a `list` ack, or a later push that must be the next one to
arrive), never after a fixed sleep.

Prints one `ok   <name>` / `FAIL <name>: expected ... got ...` line per check
and, last, `interop: notifications_check.py <transport>: <P> checks ok, <F>
failed`. Exit code 0 only when nothing failed and something passed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import sys
import time
import warnings
from typing import Any, Awaitable, Callable, NamedTuple
from urllib.parse import quote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aiohttp  # noqa: E402
import jwt  # noqa: E402
import socketio  # noqa: E402
import yarl  # noqa: E402

from checks import (  # noqa: E402
    CONNECT_TIMEOUT, TIMEOUT, CheckFailed, Checker, Received, RecordingClient,
    attempt_connect, bounded, connect_recording, expect, expect_true, main,
    parser, poll_until, show,
)

# The server accepts secrets of 16 bytes or more; PyJWT warns below 32.
warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)

PROGRAM = "notifications_check.py"
TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}
NS = "/notifications"
STORED_ID = re.compile(r"\d{16}")
LIVE_ID = re.compile(r"live:\d{16}")
ZERO_ID = "0" * 16
USER_FIELDS = ["data", "id", "kind", "read", "ts", "user"]
TOPIC_FIELDS = ["data", "id", "kind", "read", "topic", "ts", "user"]
RESERVED_EVENTS = ["connect", "connect_error", "disconnect", "disconnecting",
                   "newListener", "removeListener"]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def keys(value: Any) -> Any:
    return sorted(value) if isinstance(value, dict) else show(value)


def is_stored_id(value: Any) -> bool:
    return isinstance(value, str) and STORED_ID.fullmatch(value) is not None


def b64url(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------
# HTTP


class Response(NamedTuple):
    status: int
    json: Any  # MISSING when the body is not JSON
    text: str
    method: str
    path: str


class Api:
    def __init__(self, base: str, key: str):
        parts = urlsplit(base)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.key = key
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def request(self, method: str, path: str, *, body: Any = MISSING,
                      raw: str | None = None, key: Any = MISSING,
                      headers: dict[str, str] | None = None) -> Response:
        assert self.session is not None
        h = dict(headers or {})
        key = self.key if key is MISSING else key
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        data = None
        if raw is not None:
            data = raw.encode()
            h["Content-Type"] = "application/json"
        elif body is not MISSING:
            data = json.dumps(body, ensure_ascii=False).encode()
            h["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                    method, yarl.URL(self.origin + path, encoded=True), data=data,
                    headers=h, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as res:
                text = await res.text()
                status = res.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise CheckFailed(f"an answer to {method} {path}",
                              f"{type(exc).__name__}: {exc}") from None
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = MISSING
        return Response(status, parsed, text, method, path)

    async def push(self, body: Any, **options: Any) -> Response:
        return await self.request("POST", "/api/v1/notifications", body=body, **options)

    async def push_ok(self, body: Any, **options: Any) -> dict:
        """A push that must answer 201; returns the body."""
        res = await self.push(body, **options)
        expect_status(res, 201)
        expect(["notifications", "online"], keys(res.json), "201 body fields")
        return res.json

    async def push_user(self, user: str, kind: str, data: Any = MISSING,
                        **options: Any) -> str:
        """A user push that must answer 201 with one notification; its id."""
        body: dict[str, Any] = {"users": [user], "kind": kind}
        if data is not MISSING:
            body["data"] = data
        got = await self.push_ok(body, **options)
        expect(1, len(got["notifications"]), "notifications in the 201 body")
        entry = got["notifications"][0]
        expect(["id", "user"], keys(entry), "201 notification entry fields")
        expect(user, entry["user"], "201 notification user")
        expect_true(is_stored_id(entry["id"]), "a 16-digit id", show(entry["id"]))
        return entry["id"]

    async def user_list(self, user: str, query: str = "") -> dict:
        res = await self.request(
            "GET", f"/api/v1/users/{quote(user, safe='')}/notifications{query}")
        expect_status(res, 200)
        expect(["notifications", "unread"], keys(res.json), "200 body fields")
        return res.json

    async def expect_nothing_stored(self, user: str, what: str) -> None:
        """GET of ``user``'s notifications answers an empty inbox."""
        got = await self.user_list(user)
        expect({"notifications": [], "unread": 0}, got, what)


def expect_status(res: Response, status: int) -> None:
    if res.status != status:
        raise CheckFailed(f"{res.method} {res.path} -> HTTP {status}",
                          f"HTTP {res.status} {show(res.text, 300)}")


def expect_http_error(res: Response, status: int, code: str, what: str = "") -> None:
    """An HTTP error answer: `status` with exactly {"error": {"code", "message"}}."""
    label = f"{what}: " if what else ""
    if res.status != status:
        raise CheckFailed(f"{label}{res.method} {res.path} -> HTTP {status} {code}",
                          f"HTTP {res.status} {show(res.text, 300)}")
    expect(["error"], keys(res.json), f"{label}error body fields")
    expect(["code", "message"], keys(res.json["error"]), f"{label}error fields")
    expect(code, res.json["error"]["code"], f"{label}error code")
    message = res.json["error"]["message"]
    expect_true(isinstance(message, str) and message != "",
                f"{label}a human message", show(message))


def expect_ack_error(ack: tuple, code: str, what: str = "") -> None:
    """A refusal ack: exactly ({ok: False, error: {code, message}},)."""
    label = f"{what}: " if what else ""
    expect_true(len(ack) == 1, f"{label}one ack argument", show(ack))
    a = ack[0]
    expect(["error", "ok"], keys(a), f"{label}ack fields")
    expect(False, a["ok"], f"{label}ok")
    expect(["code", "message"], keys(a["error"]), f"{label}error fields")
    expect(code, a["error"]["code"], f"{label}error code")
    message = a["error"]["message"]
    expect_true(isinstance(message, str) and message != "",
                f"{label}a human message", show(message))


def expect_ack_ok(ack: tuple, fields: list[str], what: str = "") -> dict:
    """A success ack: exactly ({ok: True, ...fields},). Returns the dict."""
    label = f"{what}: " if what else ""
    expect_true(len(ack) == 1, f"{label}one ack argument", show(ack))
    expect(sorted(["ok", *fields]), keys(ack[0]), f"{label}ack fields")
    expect(True, ack[0]["ok"], f"{label}ok")
    return ack[0]


# ---------------------------------------------------------------------------
# Sockets


class Conn:
    """One recorded python-socketio client connected to one namespace."""

    def __init__(self, client: RecordingClient, ns: str):
        self.client = client
        self.ns = ns

    async def next(self, event: str) -> Received:
        return await self.client.next_event(self.ns, event)

    async def ack(self, event: str, *args: Any) -> tuple:
        return await self.client.ack_args(event, args, self.ns)

    async def emit(self, event: str, *args: Any) -> None:
        await self.client.emit_args(event, args, self.ns)

    def unread(self) -> list[Received]:
        return self.client.unread(self.ns)

    def drain(self, event: str) -> list[Received]:
        queue = self.client._queue(self.ns, event)  # noqa: SLF001
        taken = []
        while not queue.empty():
            taken.append(queue.get_nowait())
        return taken


class NotificationChecks:
    def __init__(self, url: str, transport: str, secret: str, api_key: str,
                 max_payload: int, checker: Checker):
        self.url = url
        self.transport = transport
        self.transports = TRANSPORTS[transport]
        self.secret = secret
        self.api = Api(url, api_key)
        self.max_payload = max_payload
        self.checker = checker
        short = {"websocket": "ws", "polling": "poll", "upgrade": "up"}[transport]
        self.tag = f"py-{short}-{secrets.token_hex(4)}"
        self.open: list[Conn] = []
        self.kind_n = 0

    def user(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def topic(self, name: str) -> str:
        return f"{self.tag}.{name}"

    def kind(self, what: str) -> str:
        """A fresh kind of this run."""
        self.kind_n += 1
        return f"{self.tag}.{what}.{self.kind_n}"

    async def check(self, name: str, fn: Callable[[], Awaitable[Any]]) -> bool:
        ok = await self.checker.run(name, fn)
        if not ok:
            # Leftovers of a failed check must not be taken by the next one.
            for c in self.open:
                c.client.drop_unread(c.ns)
        return ok

    # -- tokens ---------------------------------------------------------------

    def token(self, user: str, secret: str | None = None, ttl: int = 3600) -> str:
        now = int(time.time())
        return jwt.encode({"sub": user, "iat": now, "exp": now + ttl},
                          secret or self.secret, algorithm="HS256")

    # -- sockets --------------------------------------------------------------

    async def connect(self, user: str | None, since: Any = MISSING,
                      namespace: str = NS) -> Conn:
        auth = None
        if namespace == NS:
            auth = {"token": self.token(user)}
            if since is not MISSING:
                auth["since"] = since
        # Ack every notification (the handler's return value is the ack).
        client = await connect_recording(
            self.url, namespace, self.transports, auth=auth,
            replies={(namespace, "notification"): lambda args: True})
        conn = Conn(client, namespace)
        self.open.append(conn)
        return conn

    async def close(self, c: Conn | None) -> None:
        if c is None or c not in self.open:
            return
        self.open.remove(c)
        # Let queued packets (acks) go out first: python-engineio drops what is
        # still queued when a disconnect starts while a long-polling POST is in
        # flight, and then waits for a long-poll nobody ends.
        queue = getattr(c.client.eio, "queue", None)
        if queue is not None and c.client.connected:
            try:
                await asyncio.wait_for(queue.join(), TIMEOUT)
            except asyncio.TimeoutError:
                pass
        await c.client.close()

    async def close_all(self) -> None:
        for c in list(self.open):
            await self.close(c)

    async def refused_with(self, auth: Any, code: str, what: str = "") -> None:
        """Connecting with `auth` must end in connect_error `code` (`what`
        names the case)."""
        label = f"{what}: " if what else ""
        attempt = await attempt_connect(self.url, NS, self.transports, auth=auth)
        expect_true(not attempt.connected, f"{label}connect_error {code}", "a connection")
        expect_true(not attempt.timed_out, f"{label}connect_error {code}",
                    f"no answer within {CONNECT_TIMEOUT:g} s")
        await attempt.expect_connect_error(code, label)

    def foreign(self, n: Any) -> bool:
        """A live topic/broadcast push of another run (user None, kind not ours)."""
        return (isinstance(n, dict) and n.get("user") is None
                and not (isinstance(n.get("kind"), str)
                         and n["kind"].startswith(f"{self.tag}.")))

    async def next_notification(self, c: Conn) -> Received:
        """The next `notification` of this run on `c` (others' broadcasts skipped)."""
        while True:
            record = await c.next("notification")
            if len(record.args) == 1 and self.foreign(record.args[0]):
                continue
            return record

    async def next_new(self, c: Conn, last_id: str | None) -> Received:
        """The next notification whose id is not a stored id <= `last_id`
        (replay/live duplicates, allowed by the contract, are skipped)."""
        while True:
            record = await self.next_notification(c)
            nid = record.args[0].get("id") if record.args and isinstance(record.args[0], dict) else None
            if last_id is not None and is_stored_id(nid) and nid <= last_id:
                continue
            return record

    def pending(self, c: Conn) -> list[Received]:
        return [r for r in c.unread() if r.event == "notification"
                and not (len(r.args) == 1 and self.foreign(r.args[0]))]

    async def settle(self, c: Conn) -> None:
        """A `list` round trip: everything the server sent `c` before is recorded."""
        ack = await c.ack("list", {"limit": 1})
        expect_true(len(ack) == 1 and isinstance(ack[0], dict) and ack[0].get("ok") is True,
                    "list {limit: 1} to be acked ok", show(ack))

    async def expect_no_more_notifications(self, c: Conn, what: str,
                                           last_id: str | None = None) -> None:
        await self.settle(c)

        def duplicate(r: Received) -> bool:
            nid = r.args[0].get("id") if r.args and isinstance(r.args[0], dict) else None
            return last_id is not None and is_stored_id(nid) and nid <= last_id

        stray = [r for r in self.pending(c) if not duplicate(r)]
        expect_true(not stray, f"no notification {what}", show([r.args for r in stray]))

    def expect_stored(self, record: Received, want: dict, what: str = "notification") -> dict:
        """`record` is exactly the stored notification `want` ({id?, user, kind,
        data?}), unread, asking for an ack (answered by the client)."""
        expect(1, len(record.args), f"{what}: argument count")
        n = record.args[0]
        expect(USER_FIELDS, keys(n), f"{what}: fields")
        if "id" in want:
            expect(want["id"], n["id"], f"{what}: id")
        expect_true(is_stored_id(n["id"]), f"{what}: a 16-digit id", show(n["id"]))
        expect(want["user"], n["user"], f"{what}: user")
        expect(want["kind"], n["kind"], f"{what}: kind")
        expect(want.get("data"), n["data"], f"{what}: data")
        expect(False, n["read"], f"{what}: read")
        expect_true(isinstance(n["ts"], int) and not isinstance(n["ts"], bool)
                    and abs(n["ts"] - now_ms()) < 120_000,
                    f"{what}: ts in ms since the epoch, about now", show(n["ts"]))
        expect_true(record.ack_requested, f"{what}: an ack request", "no ack request")
        return n

    def expect_live(self, record: Received, kind: str, data: Any = None,
                    topic: str | None = None, what: str = "notification") -> dict:
        """`record` is a live-only push: user None, `live:` id, topic when given."""
        expect(1, len(record.args), f"{what}: argument count")
        n = record.args[0]
        expect(TOPIC_FIELDS if topic is not None else USER_FIELDS, keys(n), f"{what}: fields")
        expect_true(isinstance(n["id"], str) and LIVE_ID.fullmatch(n["id"]) is not None,
                    f"{what}: an id live:<16 digits>", show(n["id"]))
        expect(None, n["user"], f"{what}: user")
        if topic is not None:
            expect(topic, n["topic"], f"{what}: topic")
        expect(kind, n["kind"], f"{what}: kind")
        expect(data, n["data"], f"{what}: data")
        expect(False, n["read"], f"{what}: read")
        expect_true(isinstance(n["ts"], int) and abs(n["ts"] - now_ms()) < 120_000,
                    f"{what}: ts in ms since the epoch, about now", show(n["ts"]))
        return n

    async def push_and_receive(self, c: Conn, user: str, what: str,
                               data: Any = MISSING, last_id: str | None = None) -> dict:
        """Pushes to `user` and takes it from `c` (skipping duplicates of stored
        ids <= `last_id`): returns the notification."""
        if data is MISSING:
            data = {"what": what}
        kind = self.kind(what)
        nid = await self.api.push_user(user, kind, data)
        return self.expect_stored(await self.next_new(c, last_id),
                                  {"id": nid, "user": user, "kind": kind, "data": data}, what)

    # -- the checks -----------------------------------------------------------

    async def run(self) -> None:
        await self.api.open()
        try:
            await self.refusals()
            alice: list[Conn] = []

            async def connect_alice() -> None:
                alice.append(await self.connect(self.user("alice")))
            if not await self.check("a valid HS256 token (PyJWT) connects", connect_alice):
                self.checker.skip_all(["remaining checks"], f"no connection to {NS}")
                return
            await self.live_push(alice[0])
            await self.list_checks()
            await self.replay_checks()
            await self.read_checks()
            await self.topic_checks()
            await self.idempotency()
            await self.http_errors()
            await self.emit_checks()

            async def nothing_unexpected() -> None:
                for c in self.open:
                    if c.ns != NS:
                        continue
                    await self.settle(c)
                    stray = [r for r in c.unread()
                             if not (r.event == "notification" and len(r.args) == 1
                                     and self.foreign(r.args[0]))]
                    expect_true(not stray, "no unread server events",
                                show([(r.event, r.args) for r in stray]))
            await self.check("no unexpected server events on the open sockets",
                             nothing_unexpected)
        finally:
            await self.close_all()
            await self.api.close()

    async def refusals(self) -> None:
        user = self.user("refused")
        now = int(time.time())
        sign = lambda claims, secret=None: jwt.encode(  # noqa: E731
            claims, secret or self.secret, algorithm="HS256")

        async def malformed() -> None:
            for token in ("not-a-jwt", "a.b.c", ""):
                await self.refused_with({"token": token}, "unauthorized", f"token {token!r}")

        async def bad_since() -> None:
            for since in ("abc", "4 2", 42, "00000000000000001x"):
                await self.refused_with({"token": self.token(user), "since": since},
                                        "bad_request", f"since {since!r}")

        cases: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("no auth -> connect_error unauthorized",
             lambda: self.refused_with(None, "unauthorized")),
            ("auth without token -> unauthorized",
             lambda: self.refused_with({"since": ZERO_ID}, "unauthorized")),
            ("malformed token -> unauthorized", malformed),
            ("token signed with another secret -> unauthorized",
             lambda: self.refused_with(
                 {"token": self.token(user, secret=self.secret + "-not-the-same")},
                 "unauthorized")),
            ("expired token -> unauthorized",
             lambda: self.refused_with(
                 {"token": sign({"sub": user, "iat": now - 3600, "exp": now - 30})},
                 "unauthorized")),
            ("token without exp -> unauthorized",
             lambda: self.refused_with({"token": sign({"sub": user, "iat": now})},
                                       "unauthorized")),
            ("unsigned token (alg none) -> unauthorized",
             lambda: self.refused_with(
                 {"token": f"{b64url({'alg': 'none', 'typ': 'JWT'})}."
                           f"{b64url({'sub': user, 'iat': now, 'exp': now + 3600})}."},
                 "unauthorized")),
            ("token with an empty sub -> unauthorized",
             lambda: self.refused_with(
                 {"token": sign({"sub": "", "iat": now, "exp": now + 3600})},
                 "unauthorized")),
            ("since that is not an id -> connect_error bad_request", bad_since),
            ("since a live: id -> bad_request",
             lambda: self.refused_with(
                 {"token": self.token(user), "since": "live:0000000000000001"},
                 "bad_request")),
        ]
        for name, fn in cases:
            await self.check(name, fn)

    async def live_push(self, alice: Conn) -> None:
        A = self.user("alice")
        other = self.user("nobody-online")

        async def live() -> None:
            kind = self.kind("live")
            data = {"n": 1, "text": "héllo ✓ 😀", "nested": [True, None, 2.5, {"deep": []}]}
            got = await self.api.push_ok({"users": [A], "kind": kind, "data": data})
            expect(1, len(got["notifications"]), "notifications in the 201 body")
            entry = got["notifications"][0]
            expect(["id", "user"], keys(entry), "201 notification entry fields")
            expect(A, entry["user"], "201 notification user")
            expect(1, got["online"], "online (sockets reached)")
            self.expect_stored(await self.next_notification(alice),
                               {"id": entry["id"], "user": A, "kind": kind, "data": data})
        await self.check("HTTP push -> 201, arrives live with every field, asking for an ack", live)

        async def no_data() -> None:
            kind = self.kind("nodata")
            nid = await self.api.push_user(A, kind)
            self.expect_stored(await self.next_notification(alice),
                               {"id": nid, "user": A, "kind": kind, "data": None})
        await self.check("push without data -> data null", no_data)

        async def several() -> None:
            kind = self.kind("multi")
            got = await self.api.push_ok({"users": [A, other], "kind": kind,
                                          "data": {"multi": True}})
            expect(2, len(got["notifications"]), "notifications in the 201 body")
            by_user = {e["user"]: e["id"] for e in got["notifications"]}
            expect(sorted([A, other]), sorted(by_user), "users of the 201 entries")
            expect_true(by_user[A] != by_user[other], "distinct ids", show(got))
            expect(1, got["online"], "online (sockets reached)")
            self.expect_stored(await self.next_notification(alice),
                               {"id": by_user[A], "user": A, "kind": kind,
                                "data": {"multi": True}})
            theirs = await self.api.user_list(other)
            expect([by_user[other]], [n["id"] for n in theirs["notifications"]],
                   "the other user's stored ids")
            expect(1, theirs["unread"], "the other user's unread count")
        await self.check("push to several users -> one stored notification each", several)

        async def not_mine() -> None:
            await self.api.push_user(other, self.kind("not-for-alice"), {"secret": True})
            # The next notification on this socket is a later push to its own user.
            await self.push_and_receive(alice, A, "marker")
            await self.expect_no_more_notifications(alice, "of another user")
        await self.check("a push to another user does not reach this socket", not_mine)

        if self.transport == "upgrade":
            async def upgraded() -> None:
                await poll_until(lambda: alice.client.transport() == "websocket",
                                 "transport 'websocket' after upgrade",
                                 alice.client.transport, timeout=CONNECT_TIMEOUT)
                await self.push_and_receive(alice, A, "after-upgrade")
            await self.check("upgrade polling -> websocket, notifications keep arriving",
                             upgraded)
        else:
            async def same_transport() -> None:
                expect(self.transport, alice.client.transport(), "transport")
            await self.check(f"transport stays {self.transport}", same_transport)

    async def list_checks(self) -> None:
        B = self.user("bob")
        conns: list[Conn] = []
        n: list[dict] = []  # oldest first

        async def four() -> None:
            conns.append(await self.connect(B))
            for i in range(1, 5):
                n.append(await self.push_and_receive(conns[0], B, f"list-{i}", {"i": i}))
            ids = [x["id"] for x in n]
            expect(sorted(ids), ids, "ids increasing in push order")
        if not await self.check("4 pushes arrive live with increasing ids", four):
            self.checker.skip_all(["list checks"], "no notifications to list")
            await self.close(conns[0] if conns else None)
            return
        bob = conns[0]

        async def listed(args: dict) -> dict:
            return expect_ack_ok(await bob.ack("list", args), ["notifications", "unread"],
                                 f"list {json.dumps(args)}")

        def newest() -> list[dict]:
            return list(reversed(n))

        async def list_all() -> None:
            got = await listed({})
            expect(newest(), got["notifications"],
                   "notifications (the ones received, newest first)")
            expect(4, got["unread"], "unread")
        await self.check("list {} -> newest first, with the unread count", list_all)

        async def limit() -> None:
            expect(newest()[:2], (await listed({"limit": 2}))["notifications"], "notifications")
        await self.check("list {limit: 2} -> the 2 newest", limit)

        async def before() -> None:
            expect([n[1], n[0]], (await listed({"before": n[2]["id"]}))["notifications"],
                   "before the 3rd")
            expect([n[1]], (await listed({"before": n[2]["id"], "limit": 1}))["notifications"],
                   "before the 3rd, limit 1")
            expect([], (await listed({"before": n[0]["id"]}))["notifications"],
                   "before the 1st")
        await self.check("list {before} -> the older ones, newest first", before)

        async def bad() -> None:
            for args in ({"limit": 0}, {"limit": 101}, {"limit": -1}, {"limit": "2"},
                         {"limit": 1.5}, {"before": "nope"}, {"before": 5},
                         {"unread_only": "yes"}):
                expect_ack_error(await bob.ack("list", args), "bad_request",
                                 f"list {json.dumps(args)}")
        await self.check("list with bad arguments -> ack bad_request", bad)

        async def bad_no_ack() -> None:
            await bob.emit("list", {"limit": 0})
            got = await bob.next("error")
            expect(1, len(got.args), "error argument count")
            expect(["code", "message"], keys(got.args[0]), "error fields")
            expect("bad_request", got.args[0]["code"], "error code")
        await self.check("list with a bad argument and no ack -> error event bad_request",
                         bad_no_ack)

        async def unread_only() -> None:
            ack = expect_ack_ok(await bob.ack("read", {"ids": [n[1]["id"]]}), ["unread"], "read")
            expect(3, ack["unread"], "unread after reading one")
            got_event = await bob.next("unread")
            expect(({"count": 3},), got_event.args, "unread event")
            got = await listed({"unread_only": True})
            expect([n[3], n[2], n[0]], got["notifications"], "unread notifications, newest first")
            expect(3, got["unread"], "unread")
            every = await listed({})
            expect([x["id"] == n[1]["id"] for x in newest()],
                   [x["read"] for x in every["notifications"]], "read flags")
            n[1] = {**n[1], "read": True}
        await self.check("read one, then list {unread_only: true} -> the unread ones",
                         unread_only)

        async def http_same() -> None:
            socket_view = await listed({})
            got = await self.api.user_list(B)
            expect(socket_view["notifications"], got["notifications"], "notifications")
            expect(socket_view["unread"], got["unread"], "unread")
            expect(3, got["unread"], "unread")
        await self.check("GET /api/v1/users/{user}/notifications = the socket's list", http_same)

        async def http_query() -> None:
            expect([n[3], n[2], n[0]],
                   (await self.api.user_list(B, "?unread_only=true"))["notifications"],
                   "unread_only=true")
            expect(newest()[:1], (await self.api.user_list(B, "?limit=1"))["notifications"],
                   "limit=1")
            expect([n[1]], (await self.api.user_list(
                B, f"?before={n[2]['id']}&limit=1"))["notifications"], "before=3rd&limit=1")
            expect(newest(), (await self.api.user_list(
                B, "?unread_only=false&limit=100"))["notifications"],
                "unread_only=false&limit=100")
        await self.check("GET ?unread_only=true, ?limit=1, ?before=ID&limit=1", http_query)

        async def http_bad_query() -> None:
            for query in ("?limit=0", "?limit=101", "?limit=abc", "?before=nope",
                          "?unread_only=maybe"):
                res = await self.api.request(
                    "GET", f"/api/v1/users/{quote(B, safe='')}/notifications{query}")
                expect_http_error(res, 400, "bad_request", query)
        await self.check("GET with a bad query -> 400 bad_request", http_bad_query)

        async def unknown_user() -> None:
            await self.api.expect_nothing_stored(self.user("never-pushed"), "body")
        await self.check("GET of an unknown user -> 200 empty", unknown_user)

        async def odd_user() -> None:
            odd = f"{self.tag} zoë ✓/ü?#"
            nid = await self.api.push_user(odd, self.kind("odd-user"), {"odd": True})
            got = await self.api.user_list(odd)
            expect([nid], [x["id"] for x in got["notifications"]], "ids")
            expect(odd, got["notifications"][0]["user"], "user")
        await self.check("a user id with spaces and non-ASCII works in the API path", odd_user)
        await self.close(bob)

    async def replay_checks(self) -> None:
        C = self.user("carol")
        stream: list[str] = []  # every id of C, in order

        async def replay() -> None:
            first = await self.connect(C)
            n1 = await self.push_and_receive(first, C, "before-offline")
            stream.append(n1["id"])
            await self.close(first)
            missed = []
            for i in range(1, 4):
                kind = self.kind(f"offline-{i}")
                data = {"offline": i}
                missed.append({"id": await self.api.push_user(C, kind, data),
                               "user": C, "kind": kind, "data": data})
            stream.extend(m["id"] for m in missed)
            again = await self.connect(C, since=n1["id"])
            last = n1["id"]
            for i, want in enumerate(missed, 1):
                got = self.expect_stored(await self.next_new(again, last), want,
                                         f"replayed {i} of 3")
                last = got["id"]
            live = await self.push_and_receive(again, C, "after-replay", last_id=last)
            expect_true(live["id"] > last, "the live one after the replayed ones",
                        show(live["id"]))
            stream.append(live["id"])
            await self.expect_no_more_notifications(
                again, "besides the missed ones and the live one", live["id"])
            await self.close(again)
        await self.check("replay after offline: exactly the missed ones in id order, "
                         "then live", replay)

        async def since_newest() -> None:
            newest = (await self.api.user_list(C, "?limit=1"))["notifications"][0]["id"]
            c = await self.connect(C, since=newest)
            live = await self.push_and_receive(c, C, "after-newest", last_id=newest)
            stream.append(live["id"])
            await self.expect_no_more_notifications(c, "besides the live one", live["id"])
            await self.close(c)
        await self.check("since = the newest id -> nothing replayed, then live", since_newest)

        async def no_since() -> None:
            c = await self.connect(C)
            live = await self.push_and_receive(c, C, "no-since")
            stream.append(live["id"])
            await self.expect_no_more_notifications(c, "besides the live one", live["id"])
            await self.close(c)
        await self.check("no since -> nothing old is pushed, only live ones", no_since)

        async def from_zero() -> None:
            stored = list(reversed((await self.api.user_list(C))["notifications"]))
            expect(stream, [x["id"] for x in stored], "stored ids (HTTP, oldest first)")
            c = await self.connect(C, since=ZERO_ID)
            last = None
            for i, want in enumerate(stored, 1):
                got = self.expect_stored(await self.next_new(c, last), want,
                                         f"replayed {i} of {len(stored)}")
                expect(want, got, f"replayed {i} = its stored version")
                last = got["id"]
            await self.expect_no_more_notifications(c, "besides the stored ones", last)
            await self.close(c)
        await self.check(f"since {ZERO_ID} -> the whole stream in id order", from_zero)

    async def read_checks(self) -> None:
        D = self.user("dave")
        conns: list[Conn] = []
        ids: list[str] = []

        async def two_sockets() -> None:
            conns.append(await self.connect(D))
            conns.append(await self.connect(D))
            for i in range(1, 4):
                kind = self.kind(f"read-{i}")
                got = await self.api.push_ok({"users": [D], "kind": kind, "data": {"i": i}})
                expect(2, got["online"], "online (sockets reached)")
                nid = got["notifications"][0]["id"]
                for name, c in (("on socket 1", conns[0]), ("on socket 2", conns[1])):
                    self.expect_stored(await self.next_notification(c),
                                       {"id": nid, "user": D, "kind": kind, "data": {"i": i}},
                                       name)
                ids.append(nid)
        if not await self.check("two sockets of one user both receive its pushes", two_sockets):
            self.checker.skip_all(["read checks"], "no notifications to read")
            for c in conns:
                await self.close(c)
            return
        d1, d2 = conns

        async def unread_events(count: int) -> None:
            for name, c in (("socket 1", d1), ("socket 2", d2)):
                got = await c.next("unread")
                expect(({"count": count},), got.args, f"unread event on {name}")

        async def read_ids() -> None:
            ack = expect_ack_ok(await d1.ack("read", {"ids": [ids[0]]}), ["unread"], "read")
            expect(2, ack["unread"], "unread")
            await unread_events(2)
        await self.check("read {ids} -> ack unread; both sockets of the user get unread {count}",
                         read_ids)

        async def read_foreign() -> None:
            bobs = await self.api.user_list(self.user("bob"))
            ack = expect_ack_ok(await d1.ack("read", {"ids": [bobs["notifications"][0]["id"],
                                                              "9999999999999999"]}),
                                ["unread"], "read")
            expect(2, ack["unread"], "unread")
            expect(bobs, await self.api.user_list(self.user("bob")),
                   "the other user's notifications")
            expect(2, (await self.api.user_list(D))["unread"], "unread (HTTP)")
            # Whether an `unread` event follows a read that changed nothing is
            # open: if one came, it must carry the unchanged count.
            for c in (d1, d2):
                await self.settle(c)
                for r in c.drain("unread"):
                    expect(({"count": 2},), r.args, "unread event")
        await self.check("read of another user's and unknown ids changes nothing", read_foreign)

        async def read_all() -> None:
            ack = expect_ack_ok(await d2.ack("read", {"all": True}), ["unread"], "read")
            expect(0, ack["unread"], "unread")
            await unread_events(0)
            got = expect_ack_ok(await d1.ack("list", {}), ["notifications", "unread"], "list")
            expect(0, got["unread"], "unread")
            expect([True, True, True], [x["read"] for x in got["notifications"]], "read flags")
            expect(list(reversed(ids)), [x["id"] for x in got["notifications"]], "ids")
            only = expect_ack_ok(await d1.ack("list", {"unread_only": True}),
                                 ["notifications", "unread"], "list")
            expect([], only["notifications"], "unread_only")
        await self.check("read {all: true} -> unread 0 on both sockets", read_all)

        async def read_bad() -> None:
            many = [str(i + 1).zfill(16) for i in range(1001)]
            for args in (({},), ({"ids": []},), ({"ids": "x"},), ({"ids": [1]},),
                         ({"ids": many},), ({"all": "yes"},), ("all",), ()):
                expect_ack_error(await d1.ack("read", *args), "bad_request",
                                 f"read {show(args, 60)}")
            for c in (d1, d2):
                await self.settle(c)
                stray = [r for r in c.unread() if r.event == "unread"]
                expect_true(not stray, "no unread event", show([r.args for r in stray]))
        await self.check("read with a bad payload -> ack bad_request, nothing changes", read_bad)
        await self.close(d1)
        await self.close(d2)

    async def topic_checks(self) -> None:
        news, sport, alerts, empty = (self.topic(t) for t in ("news", "sport", "alerts", "empty"))
        conns: list[Conn] = []

        async def subscribe() -> None:
            for name in ("erin", "frank", "gina"):
                conns.append(await self.connect(self.user(name)))
            e, f, _ = conns
            ack = expect_ack_ok(await e.ack("subscribe", {"topics": [sport, alerts, news]}),
                                ["topics"], "subscribe")
            expect(sorted([alerts, news, sport]), ack["topics"], "topics")
            again = expect_ack_ok(await e.ack("subscribe", {"topics": [news]}),
                                  ["topics"], "subscribe again")
            expect(sorted([alerts, news, sport]), again["topics"], "topics (no duplicate)")
            other = expect_ack_ok(await f.ack("subscribe", {"topics": [alerts]}),
                                  ["topics"], "subscribe")
            expect([alerts], other["topics"], "topics of the other socket")
        if not await self.check("subscribe -> ack with every topic, sorted", subscribe):
            self.checker.skip_all(["topic checks"], "no subscriptions")
            for c in conns:
                await self.close(c)
            return
        e, f, g = conns

        async def unsubscribe() -> None:
            ack = expect_ack_ok(await e.ack("unsubscribe", {"topics": [alerts, empty]}),
                                ["topics"], "unsubscribe")
            expect(sorted([news, sport]), ack["topics"], "topics")
        await self.check("unsubscribe -> ack with the remaining topics", unsubscribe)

        async def bad_topics() -> None:
            many = [f"{self.tag}.t{i}" for i in range(101)]
            for event in ("subscribe", "unsubscribe"):
                for args in ({"topics": ["bad topic"]}, {"topics": []}, {"topics": "x"}, {},
                             {"topics": ["x" * 65]}, {"topics": [7]}, {"topics": many}):
                    expect_ack_error(await e.ack(event, args), "bad_request",
                                     f"{event} {show(args, 60)}")
            ack = expect_ack_ok(await e.ack("subscribe", {"topics": [news]}), ["topics"],
                                "subscribe")
            expect(sorted([news, sport]), ack["topics"], "topics unchanged")
        await self.check("subscribe / unsubscribe bad topics -> ack bad_request", bad_topics)

        async def topic_push() -> None:
            kind = self.kind("topic")
            data = {"headline": "topic ✓"}
            got = await self.api.push_ok({"topic": news, "kind": kind, "data": data})
            expect({"notifications": [], "online": 1}, got, "201 body")
            self.expect_live(await self.next_notification(e), kind, data, news,
                             "on the subscriber")
            kind2 = self.kind("alerts")
            got2 = await self.api.push_ok({"topic": alerts, "kind": kind2})
            expect({"notifications": [], "online": 1}, got2, "201 body (alerts)")
            self.expect_live(await self.next_notification(f), kind2, None, alerts,
                             "on the alerts subscriber")
            for name, c in (("the unsubscribed socket", e), ("the other topic's socket", f),
                            ("a socket without topics", g)):
                await self.expect_no_more_notifications(c, f"on {name}")
        await self.check("topic push -> only subscribed sockets, user null, topic, live: id",
                         topic_push)

        async def nobody() -> None:
            got = await self.api.push_ok({"topic": empty, "kind": self.kind("empty")})
            expect({"notifications": [], "online": 0}, got, "201 body")
        await self.check("topic push without subscribers -> 201, online 0", nobody)

        async def not_stored() -> None:
            await self.api.expect_nothing_stored(self.user("erin"), "erin's stored notifications")
        await self.check("topic pushes are not stored", not_stored)

        async def broadcast() -> None:
            kind = self.kind("broadcast")
            data = {"everyone": True}
            got = await self.api.push_ok({"broadcast": True, "kind": kind, "data": data})
            expect([], got["notifications"], "notifications in the 201 body")
            mine = [c for c in self.open if c.ns == NS]
            expect_true(isinstance(got["online"], int) and got["online"] >= len(mine),
                        f"online >= {len(mine)} (this run's sockets)", show(got["online"]))
            seen = []
            for c in mine:
                seen.append(self.expect_live(await self.next_notification(c), kind, data,
                                             what=f"on {c.client.get_sid(NS)}")["id"])
            expect([seen[0]] * len(seen), seen, "one id for the whole broadcast")
        await self.check("broadcast -> every connected socket, user null, no topic", broadcast)
        for c in (e, f, g):
            await self.close(c)

    async def idempotency(self) -> None:
        I = self.user("ivan")
        state: dict[str, Any] = {}

        async def retry() -> None:
            ivan = await self.connect(I)
            state["ivan"] = ivan
            key = f"{self.tag}-key-{secrets.token_hex(6)}"
            body = {"users": [I], "kind": self.kind("idempotent"), "data": {"attempt": 1}}
            state.update(key=key, body=body)
            first = await self.api.push(body, headers={"Idempotency-Key": key})
            expect_status(first, 201)
            state["first"] = first
            nid = first.json["notifications"][0]["id"]
            self.expect_stored(await self.next_notification(ivan),
                               {"id": nid, "user": I, "kind": body["kind"], "data": body["data"]})
            for attempt in (1, 2):
                again = await self.api.push(body, headers={"Idempotency-Key": key})
                expect(201, again.status, f"retry {attempt}: status")
                expect(first.json, again.json, f"retry {attempt}: body")
            # Nothing sent again: the next notification is a later push.
            marker = await self.push_and_receive(ivan, I, "after-retry")
            stored = await self.api.user_list(I)
            expect([marker["id"], nid], [x["id"] for x in stored["notifications"]], "stored ids")
        ok = await self.check("Idempotency-Key retry -> the same response, nothing sent again",
                              retry)

        async def conflict() -> None:
            if not ok:
                raise CheckFailed("the previous check to pass", "it failed")
            ivan, key, body = state["ivan"], state["key"], state["body"]
            res = await self.api.push({**body, "data": {"attempt": 2}},
                                      headers={"Idempotency-Key": key})
            expect_http_error(res, 409, "bad_request")
            res2 = await self.api.push({**body, "users": [I, self.user("someone")]},
                                       headers={"Idempotency-Key": key})
            expect_http_error(res2, 409, "bad_request", "other users")
            marker = await self.push_and_receive(ivan, I, "after-conflict")
            expect(3, len((await self.api.user_list(I))["notifications"]), "stored notifications")
            expect_true(marker["id"] > state["first"].json["notifications"][0]["id"],
                        "the marker is the next one", show(marker["id"]))
        await self.check("the same Idempotency-Key with a different body -> 409 bad_request",
                         conflict)

        async def bad_key() -> None:
            if "ivan" not in state:
                raise CheckFailed("a connection", "none")
            fresh = {"users": [I], "kind": self.kind("bad-key")}
            expect_http_error(await self.api.push(fresh, headers={"Idempotency-Key": "k" * 256}),
                              400, "bad_request", "256 characters")
            expect_http_error(await self.api.push(
                fresh, headers={"Idempotency-Key": "a key with spaces"}),
                400, "bad_request", "spaces")
            await self.expect_no_more_notifications(state["ivan"], "from refused pushes")
        await self.check("an Idempotency-Key that is not 1..255 visible ASCII -> 400", bad_key)
        await self.close(state.get("ivan"))

    async def http_errors(self) -> None:
        A = self.user("alice")
        kind = self.kind("refused")
        push = self.api.push

        async def no_key() -> None:
            expect_http_error(await push({"users": [A], "kind": kind}, key=None),
                              401, "unauthorized", "POST")
            expect_http_error(await self.api.request(
                "GET", f"/api/v1/users/{A}/notifications", key=None), 401, "unauthorized", "GET")
        await self.check("no API key -> 401 unauthorized", no_key)

        async def wrong_key() -> None:
            expect_http_error(await push({"users": [A], "kind": kind},
                                         key=f"{self.api.key}-wrong"),
                              401, "unauthorized", "Bearer wrong key")
            basic = base64.b64encode(f"x:{self.api.key}".encode()).decode()
            expect_http_error(await push({"users": [A], "kind": kind}, key=None,
                                         headers={"Authorization": f"Basic {basic}"}),
                              401, "unauthorized", "Basic")
        await self.check("wrong API key -> 401 unauthorized", wrong_key)

        async def not_json() -> None:
            expect_http_error(await self.api.request("POST", "/api/v1/notifications",
                                                     raw="{not json"), 400, "bad_request")
        await self.check("body that is not JSON -> 400 bad_request", not_json)

        async def two_targets() -> None:
            t = self.topic("t")
            for body in ({"users": [A], "topic": t, "kind": kind},
                         {"users": [A], "broadcast": True, "kind": kind},
                         {"topic": t, "broadcast": True, "kind": kind}):
                expect_http_error(await push(body), 400, "bad_request", show(sorted(body)))
        await self.check("two targets -> 400 bad_request", two_targets)

        async def no_target() -> None:
            for body in ({"kind": kind}, {"broadcast": False, "kind": kind}):
                expect_http_error(await push(body), 400, "bad_request", show(body))
        await self.check("no target -> 400 bad_request", no_target)

        async def bad_fields() -> None:
            cases = [
                {"users": [], "kind": kind},
                {"users": A, "kind": kind},
                {"users": [A]},
                {"users": [A], "kind": ""},
                {"users": [A], "kind": "k" * 65},
                {"users": [A], "kind": 7},
                {"users": [""], "kind": kind},
                {"users": [f"{self.tag}-u{i}" for i in range(1001)], "kind": kind},
                {"topic": "bad topic", "kind": kind},
                [],
            ]
            for body in cases:
                expect_http_error(await push(body), 400, "bad_request", show(body, 80))
        await self.check("bad fields -> 400 bad_request", bad_fields)

        async def too_large() -> None:
            body = {"users": [A], "kind": kind, "data": "x" * (self.max_payload + 1)}
            expect_http_error(await push(body), 413, "too_large")
        await self.check(f"body above --max-payload ({self.max_payload} bytes) -> 413 too_large",
                         too_large)

        async def unknown_path() -> None:
            expect_http_error(await self.api.request("GET", "/api/v1/nope"), 404, "not_found")
        await self.check("unknown /api/v1 path -> 404 not_found", unknown_path)

        async def openapi() -> None:
            res = await self.api.request("GET", "/api/v1/openapi.json")
            expect_status(res, 200)
            expect_true(isinstance(res.json, dict), "a JSON document", show(res.text, 100))
        await self.check("GET /api/v1/openapi.json -> 200 JSON", openapi)

    async def emit_checks(self) -> None:
        event = f"{self.tag}-event"

        async def post(body: Any, **options: Any) -> Response:
            return await self.api.request("POST", "/api/v1/emit", body=body, **options)

        async def to_echo() -> None:
            echo = await self.connect(None, namespace="/echo")
            try:
                data = {"hello": "echo ✓", "n": [1, 2]}
                res = await post({"namespace": "/echo", "event": event, "data": data})
                expect_status(res, 202)
                expect({"ok": True}, res.json, "202 body")
                got = await echo.next(event)
                expect((data,), got.args, "event args")
            finally:
                await self.close(echo)
        await self.check("POST /api/v1/emit to /echo -> 202, a connected client gets the event",
                         to_echo)

        async def to_room() -> None:
            room_a, room_b = f"{self.tag}-room-a", f"{self.tag}-room-b"
            in_a = await self.connect(None, namespace="/chat")
            in_b = await self.connect(None, namespace="/chat")
            try:
                ack_a = await in_a.ack("join", {"room": room_a, "name": "py-a"})
                expect(True, ack_a[0].get("ok") if ack_a else None, "join room A")
                ack_b = await in_b.ack("join", {"room": room_b, "name": "py-b"})
                expect(True, ack_b[0].get("ok") if ack_b else None, "join room B")

                async def emit(room: str, data: Any) -> Response:
                    return await post({"namespace": "/chat", "room": room,
                                       "event": "announcement", "data": data})
                res = await emit(room_a, {"text": "for room A"})
                expect_status(res, 202)
                expect({"ok": True}, res.json, "202 body")
                expect(({"text": "for room A"},), (await in_a.next("announcement")).args,
                       "room A's event")
                expect_status(await emit(room_b, {"text": "for room B"}), 202)
                expect(({"text": "for room B"},), (await in_b.next("announcement")).args,
                       "room B's first event is its own")
                # Room A's member got nothing more (a round trip through history first).
                await in_a.ack("history", {"room": room_a})
                stray = [r for r in in_a.unread() if r.event == "announcement"]
                expect_true(not stray, "no room B event in room A", show([r.args for r in stray]))
            finally:
                await self.close(in_a)
                await self.close(in_b)
        await self.check("POST /api/v1/emit to a /chat room -> only its members get it", to_room)

        async def refusals() -> None:
            expect_http_error(await post({"namespace": "/nope-not-served", "event": event}),
                              404, "not_found", "unknown namespace")
            for reserved in RESERVED_EVENTS:
                expect_http_error(await post({"namespace": "/echo", "event": reserved}),
                                  400, "bad_request", reserved)
            expect_http_error(await post({"namespace": "/echo", "event": ""}),
                              400, "bad_request", "empty event")
            expect_http_error(await post({"namespace": "/echo", "event": "e" * 65}),
                              400, "bad_request", "65-character event")
            expect_http_error(await post({"event": event}), 400, "bad_request", "no namespace")
            expect_http_error(await post({"namespace": "/echo", "event": event}, key=None),
                              401, "unauthorized", "no key")
        await self.check("POST /api/v1/emit refusals: unknown namespace 404, reserved or "
                         "bad event 400, no key 401", refusals)


async def amain() -> int:
    p = parser(PROGRAM, "Interop checks of Switchboard's /notifications namespace and "
               "HTTP push API with python-socketio's AsyncClient.",
               "server URL, e.g. http://127.0.0.1:3000")
    p.add_argument("--transport", choices=sorted(TRANSPORTS), default="websocket")
    p.add_argument("--secret", default=os.environ.get("SWITCHBOARD_JWT_SECRET"),
                   help="the server's JWT secret (default: $SWITCHBOARD_JWT_SECRET)")
    p.add_argument("--api-key", default=os.environ.get("SWITCHBOARD_API_KEY"),
                   help="an API key of the server (default: $SWITCHBOARD_API_KEY)")
    p.add_argument("--max-payload", type=int, default=1_000_000, metavar="BYTES",
                   help="the server's --max-payload (default 1000000)")
    opts = p.parse_args()
    if not opts.secret or not opts.api_key:
        p.error("--secret and --api-key (or SWITCHBOARD_JWT_SECRET / "
                "SWITCHBOARD_API_KEY) are required")
    checker = Checker(PROGRAM, opts.transport)
    await NotificationChecks(opts.url, opts.transport, opts.secret, opts.api_key,
                             opts.max_payload, checker).run()
    return checker.summary()


if __name__ == "__main__":
    main(amain)
