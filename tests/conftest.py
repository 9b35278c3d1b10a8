"""Shared fixtures: the real registry, and helpers to build OCI content on disk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.registry import RunningRegistry, run_registry


@pytest.fixture(scope="session")
def registry() -> Iterator[RunningRegistry]:
    """A plain-HTTP distribution 2.8 registry shared by the session (use unique repository names)."""
    with run_registry() as running:
        yield running


@pytest.fixture
def fresh_registry() -> Iterator[RunningRegistry]:
    """A plain-HTTP registry of its own for a test that needs an empty catalog."""
    with run_registry() as running:
        yield running
