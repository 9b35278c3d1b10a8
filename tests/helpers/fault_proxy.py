"""A fault-injecting HTTP proxy in front of a real registry, for tests of retries and resumption.

:class:`FaultProxy` is a threaded stdlib HTTP/1.1 server on 127.0.0.1 that forwards every request
to ``upstream_url`` (the real registry, plain HTTP or HTTPS) and the answer back, unless a
programmed :class:`Fault` matches the request. Faults are taken in the order they were added; each
applies to ``times`` matching requests (``None``: all of them). What a fault can do:

- ``status``: answer that status itself (with ``headers``, e.g. ``Retry-After``) and a
  distribution-spec error body, without forwarding;
- ``cut_after``: forward, then send only the first K bytes of the answer's body and drop the
  connection (the client sees a truncated body);
- ``flip_at``: forward, and invert the byte at that offset of the answer's body;
- ``ignore_range``: forward without the ``Range`` header (a server that ignores ranges: 200);
- ``drop_headers``: forward, and leave these headers out of the answer (``Docker-Content-Digest``...);
- ``relative_location``: forward, and turn an absolute ``Location`` into a path (``/v2/...?...``);
- ``delay``: wait that many seconds before answering.

``requests`` logs ``(method, path, status)`` of every request (status as sent to the client), so
that tests can count. The registry builds absolute ``Location`` URLs from the ``Host`` header and
``X-Forwarded-Proto``; the proxy forwards its own host and ``http`` so they point back at it.
Bodies are held in memory: it is meant for test-sized content.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = ["Fault", "FaultProxy"]

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
               "content-length", "date", "server"}


@dataclass
class Fault:
    """One programmed fault; ``method``/``path`` (a regex searched in the path and query) select requests."""

    method: str | None = None
    path: str | None = None
    times: int | None = 1
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None
    flip_at: int | None = None
    ignore_range: bool = False
    delay: float = 0.0
    drop_headers: tuple[str, ...] = ()
    relative_location: bool = False
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or bool(re.search(self.path, path))
        )


class FaultProxy:
    """A proxy to ``upstream_url`` on a free 127.0.0.1 port; ``url`` (http://...) and ``host`` to use.

    ``upstream_ca_file`` verifies an HTTPS upstream. A context manager: the server stops on exit.
    """

    def __init__(self, upstream_url: str, *, upstream_ca_file: str | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream_url)
        self.upstream_url = upstream_url.rstrip("/")
        self._upstream_scheme = parsed.scheme
        self._upstream_netloc = parsed.netloc
        self._context = ssl.create_default_context(cafile=upstream_ca_file) if parsed.scheme == "https" else None
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str, int]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fault-proxy",
                                        daemon=True)
        self._thread.start()

    def add_fault(self, *, method: str | None = None, path: str | None = None, times: int | None = 1,
                  status: int | None = None, retry_after: str | int | None = None,
                  headers: dict[str, str] | None = None, cut_after: int | None = None, flip_at: int | None = None,
                  ignore_range: bool = False, delay: float = 0.0, drop_headers: tuple[str, ...] = (),
                  relative_location: bool = False) -> Fault:
        """Program a fault (see the module docstring); returns it (its ``used`` counts applications)."""
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = str(retry_after)
        fault = Fault(method, path, times, status, all_headers, cut_after, flip_at, ignore_range, delay,
                      tuple(h.lower() for h in drop_headers), relative_location)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget the faults and the request log."""
        with self._lock:
            self._faults.clear()
            self.requests.clear()

    def count(self, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        """How many logged requests match ``method``, the regex ``path`` and ``status``."""
        with self._lock:
            return sum(1 for m, p, s in self.requests
                       if (method is None or m == method) and (path is None or re.search(path, p))
                       and (status is None or s == status))

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.used += 1
                    if fault.times is not None and fault.used >= fault.times:
                        self._faults.remove(fault)
                    return fault
        return None

    def _log(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def _connect(self) -> http.client.HTTPConnection:
        if self._context is not None:
            return http.client.HTTPSConnection(self._upstream_netloc, timeout=30, context=self._context)
        return http.client.HTTPConnection(self._upstream_netloc, timeout=30)

    def _rewrite(self, value: str) -> str:
        for prefix in (self.upstream_url, f"https://{self.host}"):
            value = value.replace(prefix, self.url)
        return value

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _proxy(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self._read_body()
        fault = proxy._take(self.command, self.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            payload = json.dumps({"errors": [{"code": "INJECTED", "message": f"fault proxy: {fault.status}"}]}).encode()
            proxy._log(self.command, self.path, fault.status)  # before answering: the client may count at once
            self.send_response(fault.status)
            for name, value in fault.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        headers: dict[str, str] = {}
        for k, v in self.headers.items():  # a repeated header (skopeo's Accept) is joined, as RFC 9110 5.3 allows
            if k.lower() not in _HOP_BY_HOP:
                headers[k] = f"{headers[k]}, {v}" if k in headers else v
        if fault is not None and fault.ignore_range:
            headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        headers["X-Forwarded-Proto"] = "http"
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        upstream = proxy._connect()
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            data = bytearray(answer.read())
            status, answer_headers = answer.status, answer.getheaders()
            length = answer.getheader("Content-Length")
        finally:
            upstream.close()
        if fault is not None and fault.flip_at is not None and fault.flip_at < len(data):
            data[fault.flip_at] ^= 0xFF
        proxy._log(self.command, self.path, status)
        self.send_response(status)
        dropped = set(fault.drop_headers) if fault is not None else set()
        for name, value in answer_headers:
            if name.lower() in _HOP_BY_HOP or name.lower() in dropped:
                continue
            if name.lower() in ("location", "link"):
                value = proxy._rewrite(value)
            if name.lower() == "location" and fault is not None and fault.relative_location:
                parts = urllib.parse.urlsplit(value)
                value = urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))
            self.send_header(name, value)
        self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault is not None and fault.cut_after is not None:
            self.wfile.write(bytes(data[: fault.cut_after]))
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(bytes(data))

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _proxy
