"""What the clients (chat.py, notify.py, push.py) share: the --url they all
take, the transports the terminal clients offer, the JSON text they print,
and two pieces of python-socketio plumbing. Each client imports it from its
own folder (Python puts the folder of the script it runs first on sys.path).
Standard library only, as push.py is: a client passes its python-socketio
AsyncClient in."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:3000"

# `--transport NAME` -> python-socketio's `transports`.
TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}


def argument_parser(prog: str, url_help: str = "server URL",
                    **kwargs: Any) -> argparse.ArgumentParser:
    """A client's command line, first of all `--url` (default DEFAULT_URL);
    `kwargs` go to ArgumentParser (description, epilog, ...)."""
    p = argparse.ArgumentParser(prog=prog, **kwargs)
    p.add_argument("--url", default=DEFAULT_URL, help=url_help)
    return p


def http_origin(p: argparse.ArgumentParser, url: str) -> str:
    """`scheme://host[:port]` of an http(s) --url; anything else is a usage
    error (`p.error`, exit 2)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        p.error(f"not an http(s) URL: {url}")
    return f"{parts.scheme}://{parts.netloc}"


def to_json(item: Any) -> str:
    """The same text JSON.stringify writes (no spaces, non-ASCII kept as is),
    so the JavaScript and Python clients print the same lines."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def route_events(sio: Any, namespace: str, handler: Any, events: list[str]) -> None:
    """Hands each of `events` on `namespace` to the method `on_<event>` of
    `handler`."""
    for event in events:
        sio.on(event, getattr(handler, f"on_{event}"), namespace=namespace)


async def close_http_session(sio: Any) -> None:
    """Closes python-engineio's aiohttp session (`eio.http`) if it is still
    open: the last step of a client's way out."""
    http = getattr(sio.eio, "http", None)
    if http is not None and not http.closed:
        await http.close()
