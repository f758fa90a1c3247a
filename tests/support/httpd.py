"""A loopback HTTP server on a thread, for tests that need a real one to talk to."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A handler that keeps the test output free of its access log."""

    def log_message(self, *_: object) -> None:
        pass


def directory_handler(root: Path) -> type[http.server.SimpleHTTPRequestHandler]:
    """A quiet handler serving the files of `root` (GET and HEAD)."""

    class Handler(QuietHandler, http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

    return Handler


@contextmanager
def serving(
    handler: type[http.server.BaseHTTPRequestHandler],
    host: str = "127.0.0.1",
    context: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """The base URL of a threading server running `handler` on `host` (https with a server
    `context`), stopped afterwards."""
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if context else 'http'}://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
