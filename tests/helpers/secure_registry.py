"""The real registry behind TLS, with htpasswd Basic auth or Docker token (Bearer) auth.

- :func:`make_tls` makes a throw-away CA and a server certificate for ``127.0.0.1`` with
  ``trustme``, in a 0755 directory of 0644 files (the registry runs as ``nobody`` under root).
- :func:`run_tls_registry` runs the real ``docker-registry`` with ``http.tls`` and either
  ``auth.htpasswd`` (bcrypt hashes, the only kind distribution accepts) or ``auth.token``.
- :class:`TokenServer` is a STAND-IN for a Docker token-auth server (distribution
  ``docs/spec/auth/token.md``): no real token server exists on this machine, so this small stdlib
  HTTPS server issues the JWTs the real registry verifies (``x5c`` chain against its
  ``rootcertbundle``). Only the token server is a stand-in; the registry checking the tokens is real.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import bcrypt
import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.helpers.registry import RunningRegistry, run_registry

__all__ = ["TLSMaterial", "TokenServer", "htpasswd_file", "make_tls", "run_tls_registry"]


@dataclass
class TLSMaterial:
    """A CA (``ca_file``, PEM) and a server certificate chain and key for 127.0.0.1, in ``directory``."""

    ca: trustme.CA
    directory: Path
    ca_file: Path
    cert_file: Path
    key_file: Path


def _world_readable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def make_tls(directory: Path | None = None) -> TLSMaterial:
    """A fresh CA and a ``127.0.0.1``/``localhost`` server certificate, readable by ``nobody``."""
    root = Path(directory or tempfile.mkdtemp(prefix="kaddons-tls-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    (root / "server.pem").write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(root / "server.key"))
    return TLSMaterial(ca, root, *(_world_readable(root / n) for n in ("ca.pem", "server.pem", "server.key")))


def htpasswd_file(path: Path, users: dict[str, str]) -> Path:
    """An htpasswd file of bcrypt hashes (cost 4: fast, tests only), readable by ``nobody``."""
    lines = [f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}" for user, pw in users.items()]
    path.write_text("\n".join(lines) + "\n")
    return _world_readable(path)


def _server_context(tls: TLSMaterial) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    return context


@dataclass
class TokenServer:
    """STAND-IN Docker token server (see the module docstring) at ``realm``, over HTTPS with ``tls``.

    ``GET realm?service=&scope=`` with Basic credentials of ``users`` (or anonymously) and the
    OAuth2 ``POST`` ``grant_type=refresh_token`` with a key of ``refresh_tokens`` (token -> user)
    answer ``{"token", "access_token", "expires_in"}``. Authenticated users get every action they
    ask for, except users in ``pull_only`` (``pull`` only); anonymous callers get ``pull`` only if
    ``anonymous_pull``. Wrong credentials: 401.
    ``requests`` logs ``(method, user or None, scopes)``.
    """

    tls: TLSMaterial
    users: dict[str, str]
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    service: str = "kaddons-test-registry"
    issuer: str = "kaddons-test-token-issuer"
    expires_in: int = 300
    anonymous_pull: bool = False
    pull_only: frozenset[str] = frozenset()
    requests: list[tuple[str, str | None, list[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        signer_ca = trustme.CA()
        signer = signer_ca.issue_cert("token-signer.kaddons.test")
        self.rootcertbundle = self.tls.directory / "token-roots.pem"
        signer_ca.cert_pem.write_to_path(str(self.rootcertbundle))
        _world_readable(self.rootcertbundle)
        self._key = signer.private_key_pem.bytes()
        leaf = x509.load_pem_x509_certificate(signer.cert_chain_pems[0].bytes())
        self._x5c = [base64.b64encode(leaf.public_bytes(Encoding.DER)).decode()]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
        self._server.daemon_threads = True
        self._server.socket = _server_context(self.tls).wrap_socket(self._server.socket, server_side=True)
        self._server.token_server = self  # type: ignore[attr-defined]
        self.realm = f"https://127.0.0.1:{self._server.server_address[1]}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="token-server",
                                        daemon=True)
        self._thread.start()

    def registry_config(self) -> str:
        """The ``auth.token`` section of the registry config (top level YAML)."""
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {self.service}\n"
                f"    issuer: {self.issuer}\n    rootcertbundle: {self.rootcertbundle}\n")

    def issue(self, subject: str, scopes: list[str], authenticated: bool) -> str:
        """A JWT granting ``subject`` the ``scopes`` (``type:name:actions``) allowed to it."""
        access = []
        for scope in scopes:
            resource, _, actions = scope.rpartition(":")
            kind, _, name = resource.partition(":")
            wanted = [a for a in actions.split(",") if a]
            if authenticated and subject not in self.pull_only:
                granted = wanted
            else:
                may_pull = self.anonymous_pull or (authenticated and subject in self.pull_only)
                granted = [a for a in wanted if a == "pull" and may_pull]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": self._x5c})

    def count(self, method: str | None = None) -> int:
        """How many token requests (of ``method``) were answered."""
        return sum(1 for m, _, _ in self.requests if method is None or m == method)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TokenServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _TokenHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _grant(self, user: str | None, scopes: list[str], authenticated: bool) -> None:
        server: TokenServer = self.server.token_server  # type: ignore[attr-defined]
        server.requests.append((self.command, user, scopes))
        token = server.issue(user or "anonymous", scopes, authenticated)
        self._answer(200, {"token": token, "access_token": token, "expires_in": server.expires_in})

    def do_GET(self) -> None:
        server: TokenServer = self.server.token_server  # type: ignore[attr-defined]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        scopes = [s for value in query.get("scope", []) for s in value.split()]
        header = self.headers.get("Authorization", "")
        if not header:
            self._grant(None, scopes, authenticated=False)
            return
        try:
            user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user, password = "", ""
        if not header.startswith("Basic ") or server.users.get(user) != password:
            server.requests.append((self.command, None, scopes))
            self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            return
        self._grant(user, scopes, authenticated=True)

    def do_POST(self) -> None:
        server: TokenServer = self.server.token_server  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        scopes = [s for value in form.get("scope", []) for s in value.split()]
        user = server.refresh_tokens.get((form.get("refresh_token") or [""])[0])
        if (form.get("grant_type") or [""])[0] != "refresh_token" or user is None:
            server.requests.append((self.command, None, scopes))
            self._answer(401, {"error": "invalid_grant"})
            return
        self._grant(user, scopes, authenticated=True)


@contextlib.contextmanager
def run_tls_registry(tls: TLSMaterial, *, htpasswd: dict[str, str] | None = None,
                     token: TokenServer | None = None) -> Iterator[RunningRegistry]:
    """Run the real registry over HTTPS (certificate of ``tls``), with Basic or token auth if given.

    The ``http.tls`` lines continue the ``http:`` mapping that :func:`run_registry`'s config ends
    with (its ``extra_config`` is appended right after ``http.secret``).
    """
    extra = f"  tls:\n    certificate: {tls.cert_file}\n    key: {tls.key_file}\n"
    workdir = Path(tempfile.mkdtemp(prefix="kaddons-tls-registry-"))
    try:
        if htpasswd is not None:
            path = htpasswd_file(workdir / "htpasswd", htpasswd)
            extra += f"auth:\n  htpasswd:\n    realm: kaddons-test\n    path: {path}\n"
        elif token is not None:
            extra += token.registry_config()
        os.chmod(workdir, 0o755)
        with run_registry(extra_config=extra, scheme="https", ca_file=str(tls.ca_file), workdir=workdir) as running:
            yield running
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
