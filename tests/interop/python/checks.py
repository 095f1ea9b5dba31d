"""Shared helpers for the Switchboard Python interop checks (*_check.py).

Every check program is a list of named checks. Each check prints exactly one
line, ``ok   <name>`` or ``FAIL <name>: expected ... got ...``, and the program
ends with the summary line

    interop: <program> <transport>: <P> checks ok, <F> failed

and exit code 0 only when F == 0 and P > 0.

Every wait is bounded (``TIMEOUT`` seconds) so that a missing reply is a FAIL,
never a hang. Waits are on events, futures and queues, never fixed sleeps;
state without an event is polled in small steps up to a deadline
(``poll_until``).

Contents:
- ``Checker``: runs named checks (``await checker.run(name, coro_fn)``),
  prints the ok/FAIL lines, ``summary()`` prints the last line and returns the
  exit code; ``main(amain)`` runs an async entry point and exits with it.
- ``parser``: the common argparse parser (positional URL).
- ``expect`` / ``expect_true`` / ``same`` / ``show``: strict comparison
  (types included: True != 1, 1 != 1.0) and short FAIL renderings.
- ``bounded`` / ``poll_until``: bounded waits.
- ``RecordingClient`` / ``connect_recording``: a python-socketio AsyncClient
  that queues every server event per namespace with whether the server asked
  for an ack, answers server acks via ``replies``, and ``ack_args`` /
  ``emit_args`` to emit exactly N arguments.
- ``attempt_connect`` / ``Refusal``: a connection meant to be refused, and
  how it ended (connect_error, ConnectionError, no connect).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import math
import sys
import time
from typing import Any, Awaitable, Callable, Iterable, NamedTuple

import socketio

# How long any single wait for a server reply may take before it is a FAIL.
TIMEOUT = 5.0
# Longer bound for opening a connection (handshake, namespace connect, upgrade).
CONNECT_TIMEOUT = 10.0


class CheckFailed(Exception):
    """Raised inside a check: the server's answer differs from the contract."""

    def __init__(self, expected: str, got: str):
        super().__init__(f"expected {expected} got {got}")
        self.expected = expected
        self.got = got


class _Abbrev:
    """Stands in for a long bytes/str value inside a FAIL line."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _abbreviate(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)) and len(value) > 32:
        return _Abbrev(f"<{type(value).__name__} of {len(value)} bytes, "
                       f"starts {bytes(value[:8])!r}, ends {bytes(value[-4:])!r}>")
    if isinstance(value, str) and len(value) > 120:
        return _Abbrev(f"<str of {len(value)} chars, starts {value[:40]!r}>")
    if isinstance(value, tuple):
        return tuple(_abbreviate(v) for v in value)
    if isinstance(value, list):
        return [_abbreviate(v) for v in value]
    if isinstance(value, dict):
        return {k: _abbreviate(v) for k, v in value.items()}
    return value


def show(value: Any, limit: int = 400) -> str:
    """A short, unambiguous rendering of a value for a FAIL line: long bytes
    and strings (also nested ones) are summarised by length and ends."""
    text = repr(_abbreviate(value))
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def same(a: Any, b: Any) -> bool:
    """Strict structural equality: types must match too (True != 1, 1 != 1.0,
    str != bytes); lists and tuples are both sequences."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray)):
        return bytes(a) == bytes(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def expect(expected: Any, got: Any, what: str = "") -> None:
    """Raise CheckFailed unless ``got`` strictly equals ``expected``."""
    if not same(expected, got):
        prefix = f"{what} " if what else ""
        raise CheckFailed(prefix + show(expected), show(got))


def expect_true(condition: bool, expected: str, got: str) -> None:
    if not condition:
        raise CheckFailed(expected, got)


async def bounded(aw: Awaitable[Any], what: str, timeout: float = TIMEOUT) -> Any:
    """Await ``aw`` for at most ``timeout`` seconds; a timeout is a CheckFailed
    naming what was awaited."""
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise CheckFailed(what, f"nothing within {timeout:g} s") from None


async def poll_until(
    predicate: Callable[[], bool], what: str, got: Callable[[], Any],
    timeout: float = TIMEOUT, step: float = 0.02,
) -> None:
    """State polling with a deadline, for state that has no event to wait on."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise CheckFailed(what, f"{show(got())} after {timeout:g} s")
        await asyncio.sleep(step)


class Checker:
    """Runs named checks, prints one line per check and the summary line."""

    def __init__(self, program: str, transport: str):
        self.program = program
        self.transport = transport
        self.passed = 0
        self.failed = 0

    def ok(self, name: str) -> None:
        self.passed += 1
        print(f"ok   {name}", flush=True)

    def fail(self, name: str, expected: str, got: str) -> None:
        self.failed += 1
        print(f"FAIL {name}: expected {expected} got {got}", flush=True)

    async def run(self, name: str, check: Callable[[], Awaitable[Any]]) -> bool:
        """Run one check; any exception is that check's FAIL, never a crash."""
        try:
            await check()
        except CheckFailed as exc:
            self.fail(name, exc.expected, exc.got)
            return False
        except asyncio.TimeoutError:
            self.fail(name, f"a reply within {TIMEOUT:g} s", "a timeout")
            return False
        except Exception as exc:  # noqa: BLE001 - report, don't crash
            self.fail(name, "no error", f"{type(exc).__name__}: {exc}")
            return False
        self.ok(name)
        return True

    def skip_all(self, names: Iterable[str], why: str) -> None:
        """Count checks that could not even start (e.g. no connection) as failed."""
        for name in names:
            self.fail(name, "to run", f"not run ({why})")

    def summary(self) -> int:
        """Print the summary (last line) and return the exit code."""
        sys.stderr.flush()
        print(
            f"interop: {self.program} {self.transport}: "
            f"{self.passed} checks ok, {self.failed} failed",
            flush=True,
        )
        return 0 if self.failed == 0 and self.passed > 0 else 1


def parser(program: str, description: str, url_help: str) -> argparse.ArgumentParser:
    """The common argument parser: a positional URL; programs add options."""
    p = argparse.ArgumentParser(prog=program, description=description)
    p.add_argument("url", help=url_help)
    return p


def main(run: Callable[[], Awaitable[int]]) -> None:
    """Run the program's async entry point and exit with its code."""
    try:
        code = asyncio.run(run())
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.exit(code)


# --------------------------------------------------------------------------
# Socket.IO helpers

# Whether the server event now being handled carried an ack id. python-socketio
# does not tell an event handler if the server asked for an acknowledgement,
# so RecordingClient sets this around each incoming event.
_ACK_REQUESTED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ack_requested", default=False)


class Received(NamedTuple):
    event: str
    args: tuple
    ack_requested: bool


class RecordingClient(socketio.AsyncClient):
    """A python-socketio AsyncClient that records every server event per
    namespace, in arrival order, together with whether the server asked for
    an ack. Checks then wait on those queues with a bound.

    ``replies[(namespace, event)]`` may hold a function ``args -> ack value``
    that answers server events that ask for an ack (a tuple is sent as
    several ack arguments, None as none).
    """

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("reconnection", False)
        super().__init__(**kwargs)
        self._queues: dict[tuple[str, str], asyncio.Queue] = {}
        self.replies: dict[tuple[str, str], Callable[[tuple], Any]] = {}

    async def close(self, timeout: float = TIMEOUT) -> None:
        """Disconnect (or stop reconnecting) and release the HTTP session,
        also after a failed connect, so nothing is left to warn at exit."""
        try:
            await asyncio.wait_for(self.shutdown(), timeout)
        except Exception:  # noqa: BLE001 - best effort at the end
            pass
        http = getattr(self.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()

    def record(self, namespace: str) -> None:
        """Record every (non-reserved) event of ``namespace``; call before
        connect so that events sent on connect are not missed."""

        async def on_any(event: str, *args: Any) -> Any:
            got = Received(event, tuple(args), _ACK_REQUESTED.get())
            self._queue(namespace, event).put_nowait(got)
            reply = self.replies.get((namespace, event))
            if got.ack_requested and reply is not None:
                return reply(got.args)
            return None

        self.on("*", on_any, namespace=namespace)

    def _queue(self, namespace: str, event: str) -> asyncio.Queue:
        key = (namespace, event)
        if key not in self._queues:
            self._queues[key] = asyncio.Queue()
        return self._queues[key]

    async def _handle_event(self, namespace, id, data):  # noqa: A002
        token = _ACK_REQUESTED.set(id is not None)
        try:
            await super()._handle_event(namespace, id, data)
        finally:
            _ACK_REQUESTED.reset(token)

    async def next_event(self, namespace: str, event: str,
                         timeout: float = TIMEOUT) -> Received:
        """The next recorded ``event`` on ``namespace``, waiting at most
        ``timeout`` seconds (a CheckFailed naming the event otherwise)."""
        return await bounded(self._queue(namespace, event).get(),
                             f"server event {event!r} on {namespace}", timeout)

    def unread(self, namespace: str) -> list[Received]:
        """Recorded events of ``namespace`` that no check has taken yet."""
        return [item for (ns, _), q in self._queues.items() if ns == namespace
                for item in list(q._queue)]  # noqa: SLF001

    def drop_unread(self, namespace: str) -> None:
        for (ns, _), q in self._queues.items():
            if ns == namespace:
                while not q.empty():
                    q.get_nowait()

    async def emit_args(self, event: str, args: tuple, namespace: str) -> None:
        """Emit ``event`` with exactly ``args`` as its arguments (0..n)."""
        await self.emit(event, data=tuple(args), namespace=namespace)

    async def ack_args(self, event: str, args: tuple, namespace: str,
                       timeout: float = TIMEOUT) -> tuple:
        """Emit ``event`` with ``args`` asking for an ack; return the ack's
        arguments as a tuple (bounded wait)."""
        done: asyncio.Future = asyncio.get_running_loop().create_future()

        def on_ack(*ack: Any) -> None:
            if not done.done():
                done.set_result(tuple(ack))

        await self.emit(event, data=tuple(args), namespace=namespace,
                        callback=on_ack)
        return await bounded(done, f"an ack for {event!r} on {namespace}",
                             timeout)


async def connect_recording(url: str, namespace: str, transports: list[str],
                            auth: Any = None,
                            timeout: float = CONNECT_TIMEOUT,
                            replies: dict | None = None) -> RecordingClient:
    """Open a RecordingClient on ``namespace`` (recorded from the start);
    ``replies`` (``(namespace, event)`` -> handler) answers the server's acks
    from the first event on. A refused connection is a FAIL, like one that
    does not open in time."""
    client = RecordingClient()
    client.record(namespace)
    client.replies.update(replies or {})
    try:
        await asyncio.wait_for(
            client.connect(url, auth=auth, transports=transports,
                           namespaces=[namespace], wait_timeout=timeout),
            timeout + 1)
    except asyncio.TimeoutError:
        await client.close()
        raise CheckFailed(f"a connection to {namespace}",
                          f"no connection within {timeout:g} s") from None
    except socketio.exceptions.ConnectionError as exc:
        await client.close()
        raise CheckFailed(f"a connection to {namespace}",
                          f"ConnectionError {exc}") from None
    except BaseException:
        await client.close()
        raise
    return client


class Refusal(NamedTuple):
    """How a connection attempt meant to be refused ended (``attempt_connect``)."""
    connected: bool  # the namespace's connect event came
    refused: Exception | None  # the ConnectionError connect() raised
    timed_out: bool  # connect() did not end within CONNECT_TIMEOUT
    connect_error: asyncio.Future  # the connect_error event's arguments

    async def expect_connect_error(self, message: str, label: str = "") -> None:
        """The connect_error event came with one argument ``{"message":
        message}`` (``label`` prefixes the FAIL lines)."""
        data = await bounded(self.connect_error, f"{label}a connect_error event")
        if len(data) != 1 or not isinstance(data[0], dict):
            raise CheckFailed(f"{label}one dict argument {{'message': {message!r}}}",
                              show(data))
        expect(message, data[0].get("message"), f"{label}connect_error message")


async def attempt_connect(url: str, namespace: str, transports: list[str],
                          auth: Any = None) -> Refusal:
    """Try to connect to ``namespace`` and close the client again; the caller
    checks the ``Refusal`` (a refusal is an answer: the wait is bounded)."""
    client = RecordingClient()
    error: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_connect_error(*data: Any) -> None:
        if not error.done():
            error.set_result(data)

    connected = asyncio.Event()
    client.on("connect_error", on_connect_error, namespace=namespace)
    client.on("connect", connected.set, namespace=namespace)
    refused = None
    timed_out = False
    try:
        await asyncio.wait_for(
            client.connect(url, auth=auth, transports=transports,
                           namespaces=[namespace], wait_timeout=TIMEOUT),
            CONNECT_TIMEOUT)
    except socketio.exceptions.ConnectionError as exc:
        refused = exc
    except asyncio.TimeoutError:
        timed_out = True
    finally:
        await client.close()
    return Refusal(connected.is_set(), refused, timed_out, error)
