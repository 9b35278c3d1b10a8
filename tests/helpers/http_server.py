"""A small static HTTP file server on 127.0.0.1, for tests of downloads (``offline_usage`` curl entries).

:class:`StaticServer` is a threaded stdlib HTTP/1.1 server that serves the files under ``root``
(GET and HEAD, streamed from disk with a ``Content-Length``), answers 404 for anything else, and
can be programmed per path:

- :meth:`StaticServer.redirect`: answer a 301/302/307/308 with ``Location`` (relative or absolute);
- :meth:`StaticServer.fail`: answer a status (500, 429, ...) ``times`` times (``None``: always),
  with optional headers, before serving normally again;
- :meth:`StaticServer.cut`: send the full ``Content-Length`` but only the first bytes of the file, then
  close the connection (a truncated download), ``times`` times.

It also accepts absolute-form request targets (``GET http://other.host/path``), as a forward HTTP
proxy receives them, and serves ``/path`` from ``root``: tests point ``HTTP_PROXY`` at it to prove
that the environment's proxy is used. ``requests`` logs ``(method, target, status)`` of every
request (the target as received), so tests can count retries, and ``authorizations`` the ``(path,
Authorization header or None)`` of every request, so tests can see where credentials went. With ``tls`` (a server-side
:class:`ssl.SSLContext`, e.g. from ``trustme``) it serves HTTPS and ``url`` is ``https://127.0.0.1:PORT``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

__all__ = ["StaticServer", "unused_port"]


@dataclass
class _Failure:
    status: int
    times: int | None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None


def unused_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StaticServer:
    """Serves ``root`` on a free 127.0.0.1 port; ``url`` is ``http(s)://127.0.0.1:PORT``. A context manager."""

    def __init__(self, root: Path, *, tls: ssl.SSLContext | None = None) -> None:
        self.root = root.resolve()
        self.requests: list[tuple[str, str, int]] = []
        self.authorizations: list[tuple[str, str | None]] = []
        self._redirects: dict[str, tuple[int, str]] = {}
        self._failures: dict[str, _Failure] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="static-http",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer requests for ``path`` with ``status`` and ``Location: location``."""
        self._redirects[path] = (status, location)

    def fail(self, path: str, status: int, *, times: int | None = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` requests for ``path`` (``None``: all) with ``status`` and an empty body."""
        self._failures[path] = _Failure(status, times, dict(headers or {}))

    def cut(self, path: str, after: int, *, times: int | None = 1) -> None:
        """Truncate the next ``times`` answers for ``path`` (``None``: all) after ``after`` bytes of the body."""
        self._failures[path] = _Failure(200, times, cut_after=after)

    def count(self, path: str) -> int:
        """How many requests asked for ``path`` (origin-form or absolute-form)."""
        return sum(1 for _method, target, _status in self.requests if _path_of(target) == path)

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            failure = self._failures.get(path)
            if failure is None:
                return None
            if failure.times is not None:
                if failure.times <= 0:
                    return None
                failure.times -= 1
            return failure

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _log(self, status: int) -> None:
                with server._lock:
                    server.requests.append((self.command, self.path, status))
                    server.authorizations.append((_path_of(self.path), self.headers.get("Authorization")))

            def _empty(self, status: int, headers: dict[str, str]) -> None:
                self._log(status)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer(self, *, body: bool) -> None:
                path = _path_of(self.path)
                if path in server._redirects:
                    status, location = server._redirects[path]
                    self._empty(status, {"Location": location})
                    return
                failure = server._take_failure(path)
                if failure is not None and failure.cut_after is None:
                    self._empty(failure.status, failure.headers)
                    return
                file = (server.root / urllib.parse.unquote(path).lstrip("/")).resolve()
                if not file.is_relative_to(server.root) or not file.is_file():
                    self._empty(404, {})
                    return
                self._log(200)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(file.stat().st_size))
                self.end_headers()
                if not body:
                    return
                with open(file, "rb") as source, contextlib.suppress(ConnectionError):
                    if failure is not None and failure.cut_after is not None:
                        self.wfile.write(source.read(failure.cut_after))
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    shutil.copyfileobj(source, self.wfile, 64 * 1024)

        return Handler


def _path_of(target: str) -> str:
    """The path of a request target, origin-form (``/a/b?q``) or absolute-form (``http://h/a/b?q``)."""
    return urllib.parse.urlsplit(target).path or "/"
