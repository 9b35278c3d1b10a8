"""The agent's HTTP endpoints: ``POST /events`` (registry notifications), ``GET /healthz``, ``GET /metrics``.

A :class:`http.server.ThreadingHTTPServer` on a thread of its own: the registry's notification
broadcaster retries an endpoint that does not answer 2xx, blocking later events, so an envelope is
answered 200 as soon as it parsed, whatever it holds; only a body that is not an envelope gets 400.

``/events`` makes the agent talk to the registry, so it is not open to anyone who can reach the port:
with a ``token`` it takes only requests carrying ``Authorization: Bearer <token>`` (the registry sends
it from ``notifications.endpoints[].headers``; 401 otherwise); without one it answers 403 unless
``events_insecure``. Bodies are bounded (:data:`~.notifications.MAX_ENVELOPE_BYTES`, 413 beyond).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kaddons.errors import ContentError

from ._metrics import Metrics
from .notifications import MAX_ENVELOPE_BYTES, pushed_addons

__all__ = ["AgentServer"]


class AgentServer:
    """Serve the endpoints on ``host:port`` (port 0: a free one, see :attr:`port`).

    ``on_push`` is called with each pushed addon name; ``healthy`` says whether the agent loop is
    alive (``/healthz`` answers 503 otherwise); ``token`` and ``events_insecure`` guard ``/events`` (see
    the module). Raises ``OSError`` when the address is taken.
    """

    def __init__(self, host: str, port: int, *, metrics: Metrics, on_push: Callable[[str], None],
                 healthy: Callable[[], bool], prefix: str = "", token: str | None = None,
                 events_insecure: bool = False) -> None:
        handler = _handler(metrics, on_push, healthy, prefix, token, events_insecure)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="agent-http", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(metrics: Metrics, on_push: Callable[[str], None], healthy: Callable[[], bool],
             prefix: str, token: str | None, events_insecure: bool) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {token}".encode() if token else None

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                ok = healthy()
                self._answer(200 if ok else 503, b"ok\n" if ok else b"sync loop stalled\n")
            elif self.path == "/metrics":
                self._answer(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._answer(404, b"not found\n")

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/events":
                self._answer(404, b"not found\n")
                return
            if expected is not None:
                given = (self.headers.get("Authorization") or "").encode("utf-8", "replace")
                if not hmac.compare_digest(given, expected):
                    self._answer(401, b"notifications need the agent's token (Authorization: Bearer ...)\n")
                    return
            elif not events_insecure:
                self._answer(403, b"notifications are off: start the agent with a token (KADDONS_EVENTS_TOKEN or "
                                  b"--events-token-file) or --events-insecure\n")
                return
            text = self.headers.get("Content-Length") or "0"
            length = int(text) if text.isdigit() else -1
            if length < 0:
                self._answer(411, b"a Content-Length is required\n")
                return
            if length > MAX_ENVELOPE_BYTES:
                self._answer(413, b"envelope too large\n")
                return
            try:
                names = pushed_addons(self.rfile.read(length), prefix=prefix)
            except ContentError as err:
                self._answer(400, f"{err}\n".encode())
                return
            for name in names:
                on_push(name)
            self._answer(200, b"")

    return Handler
