"""Fixtures of the GitOps tests: K2s's addon-sync tree of the test data, a CA bundle, the kaddons CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.addons.conftest import addons_dir, testdata, writable_copy  # noqa: F401  (shared fixtures)

CliRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def k2s_addon_sync(testdata: Path) -> Path:  # noqa: F811
    """K2s's own ``addons/common/manifests/addon-sync`` tree (read-only)."""
    path = testdata / "common" / "manifests" / "addon-sync"
    assert (path / "base" / "kustomization.yaml").is_file(), path
    return path


@pytest.fixture(scope="session")
def sync_script(k2s_addon_sync: Path) -> Path:
    """The ``Sync-Addons.ps1`` of the test data (a stand-in for K2s's script), for ``--sync-script``."""
    return k2s_addon_sync / "base" / "scripts" / "Sync-Addons.ps1"


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PEM file with one CA certificate (trustme)."""
    import trustme

    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def kaddons() -> CliRun:
    """Run the ``kaddons`` command line (``python -m kaddons``) and capture its output."""

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kaddons", *map(str, args)], capture_output=True, text=True,
                              timeout=120)

    return run


def assert_one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    """A failed command: non-zero exit, exactly one ``error: ...`` line naming ``needles``, no traceback."""
    assert done.returncode != 0, done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and not done.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
