#!/usr/bin/env python3
"""A backend pushing notifications through Switchboard's HTTP push API
(`POST /api/v1/notifications`), with nothing but the standard library.

    push.py --url http://127.0.0.1:3000 --api-key KEY
            (--user U [--user U2 ...] | --topic T | --broadcast)
            --kind KIND [--data JSON] [--idempotency-key K]

`--api-key` defaults to the environment variable SWITCHBOARD_API_KEY.

Contract (PROTOCOL.md, "HTTP push API"; docs/notifications.md): the body is
`{"users": [...] | "topic": T | "broadcast": true, "kind": K, "data": ...}`
with exactly one target; the answer is `201 {"notifications": [{"id", "user"}],
"online": N}`. User notifications are stored durably before the 201.

Retries: a network error (connection refused or reset, timeout), a 5xx or a
429 is retried a few times with backoff, always with the same
`Idempotency-Key` header (a random uuid4 when --idempotency-key is not given).
The server answers a retry of a request it already committed with the first
response and sends nothing again, so a retry never pushes twice.

Prints the response body (one JSON line) on stdout and exits 0 on a 2xx.
Otherwise prints `push.py: HTTP <status>: <code>: <message>` (or the network
error) on stderr and exits 1; a bad command line exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from cli import DEFAULT_URL, argument_parser, to_json

PROGRAM = "push.py"
# Seconds to wait for one HTTP answer.
REQUEST_TIMEOUT = 10.0
# Waits between attempts (seconds); one attempt more than there are waits.
BACKOFF = (0.2, 0.5, 1.0, 2.0)
# Longest Retry-After (seconds) honoured on a 429.
MAX_RETRY_AFTER = 5.0


def parse_cli() -> argparse.Namespace:
    p = argument_parser(
        PROGRAM, url_help=f"server URL (default {DEFAULT_URL})",
        description="Push a notification through Switchboard's HTTP API "
                    "(POST /api/v1/notifications).")
    p.add_argument("--api-key", default=os.environ.get("SWITCHBOARD_API_KEY"),
                   help="API key (default: $SWITCHBOARD_API_KEY)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--user", action="append", metavar="USER",
                        help="a recipient user id (repeatable)")
    target.add_argument("--topic", help="a topic: live push to its subscribers")
    target.add_argument("--broadcast", action="store_true",
                        help="live push to every connected listener")
    p.add_argument("--kind", required=True, help="the notification's kind")
    p.add_argument("--data", default=None, metavar="JSON",
                   help="the notification's data, as JSON (default null)")
    p.add_argument("--idempotency-key", metavar="KEY",
                   help="Idempotency-Key header (default: a random uuid4, "
                        "the same on every retry)")
    p.add_argument("--retries", type=int, default=len(BACKOFF),
                   help=f"retries after a network error, a 5xx or a 429 "
                        f"(default {len(BACKOFF)})")
    args = p.parse_args()
    if not args.api_key:
        p.error("--api-key (or SWITCHBOARD_API_KEY) is required")
    if args.data is not None:
        try:
            args.data = json.loads(args.data)
        except json.JSONDecodeError as exc:
            p.error(f"--data is not JSON: {exc}")
    if args.retries < 0:
        p.error("--retries must be >= 0")
    args.url = args.url.rstrip("/")
    return args


def body_of(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any]
    if args.user:
        body = {"users": args.user}
    elif args.topic is not None:
        body = {"topic": args.topic}
    else:
        body = {"broadcast": True}
    body["kind"] = args.kind
    if args.data is not None:
        body["data"] = args.data
    return body


def attempt(url: str, api_key: str, key: str, payload: bytes) -> tuple[int, bytes, Any]:
    """One POST; returns (status, body, headers). Network errors raise."""
    request = urllib.request.Request(
        url, data=payload, method="POST",
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": key,
        })
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:  # a non-2xx answer
        with exc:
            return exc.code, exc.read(), exc.headers


def retry_after(headers: Any, default: float) -> float:
    try:
        return min(max(float(headers.get("Retry-After", "")), 0.0), MAX_RETRY_AFTER)
    except (TypeError, ValueError):
        return default


def describe_error(status: int, body: bytes) -> str:
    try:
        error = json.loads(body)["error"]
        return f"HTTP {status}: {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        text = body.decode("utf-8", "replace").strip()
        return f"HTTP {status}: {text[:500] or '(empty body)'}"


def main() -> int:
    args = parse_cli()
    key = args.idempotency_key or str(uuid.uuid4())
    payload = to_json(body_of(args)).encode()
    url = f"{args.url}/api/v1/notifications"
    waits = list(BACKOFF[: args.retries])
    waits += [BACKOFF[-1]] * (args.retries - len(waits))
    for attempt_no in range(args.retries + 1):
        last = attempt_no == args.retries
        try:
            status, body, headers = attempt(url, args.api_key, key, payload)
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timeout
            reason = getattr(exc, "reason", exc)
            if last:
                print(f"{PROGRAM}: {url}: {reason} (after {attempt_no + 1} "
                      f"attempts)", file=sys.stderr)
                return 1
            print(f"{PROGRAM}: {reason}; retrying with Idempotency-Key {key}",
                  file=sys.stderr)
            time.sleep(waits[attempt_no])
            continue
        if 200 <= status < 300:
            try:
                text = to_json(json.loads(body))
            except ValueError:
                text = body.decode("utf-8", "replace")
            print(text, flush=True)
            return 0
        if (status >= 500 or status == 429) and not last:
            wait = waits[attempt_no]
            if status == 429:
                wait = retry_after(headers, wait)
            print(f"{PROGRAM}: {describe_error(status, body)}; retrying with "
                  f"Idempotency-Key {key}", file=sys.stderr)
            time.sleep(wait)
            continue
        print(f"{PROGRAM}: {describe_error(status, body)}", file=sys.stderr)
        return 1
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
