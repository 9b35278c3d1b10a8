"""Fixtures of the cluster tests: the shared test data (Argo CD's Lua health checks)."""

from tests.addons.conftest import testdata  # noqa: F401  (the testdata fixture, shared)
