"""Fixtures of the registry-client tests: a fault proxy, and the real registry behind TLS and auth."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.registry import RunningRegistry
from tests.helpers.secure_registry import TLSMaterial, TokenServer, make_tls, run_tls_registry

USERS = {"alice": "wonderland-secret-1", "bob": "builder-secret-2"}  # bob may only pull (token registry)


@dataclass
class SecureRegistry:
    """A real registry over HTTPS: ``host``, the CA that signed its certificate, its users."""

    running: RunningRegistry
    tls: TLSMaterial
    users: dict[str, str]
    token_server: TokenServer | None = None

    @property
    def host(self) -> str:
        return self.running.host


@pytest.fixture
def proxy(registry: RunningRegistry) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` in front of the session's plain-HTTP registry, no faults programmed."""
    with FaultProxy(registry.url) as running:
        yield running


@pytest.fixture(scope="session")
def tls_material() -> Iterator[TLSMaterial]:
    """A throw-away CA and a 127.0.0.1 server certificate, readable by ``nobody``."""
    material = make_tls()
    yield material
    shutil.rmtree(material.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def basic_registry(tls_material: TLSMaterial) -> Iterator[SecureRegistry]:
    """The real registry over HTTPS with htpasswd (Basic) auth for :data:`USERS`."""
    with run_tls_registry(tls_material, htpasswd=USERS) as running:
        yield SecureRegistry(running, tls_material, USERS)


@pytest.fixture(scope="session")
def token_registry(tls_material: TLSMaterial) -> Iterator[SecureRegistry]:
    """The real registry over HTTPS with token auth, and the stand-in token server it trusts.

    The token server also accepts the OAuth2 refresh token ``refresh-token-of-alice``; ``bob`` may
    only pull.
    """
    server = TokenServer(tls_material, users=USERS, refresh_tokens={"refresh-token-of-alice": "alice"},
                         pull_only=frozenset({"bob"}))
    with server, run_tls_registry(tls_material, token=server) as running:
        yield SecureRegistry(running, tls_material, USERS, server)
