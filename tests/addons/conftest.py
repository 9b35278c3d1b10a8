"""Fixtures of the addon-format tests: the real K2s addons of the shared test data, and writable copies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADDON_NAMES = ["dashboard", "dicom", "ingress", "metrics", "rollout", "storage"]


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The read-only K2s addons directory: ``$KADDONS_TESTDATA``, else ``<repo>/../shared/testdata/k2s-addons``."""
    env = os.environ.get("KADDONS_TESTDATA")
    path = Path(env) if env else REPO.parent / "shared" / "testdata" / "k2s-addons"
    if not (path / "metrics" / "addon.manifest.yaml").is_file():
        pytest.skip(f"K2s addon test data not found at {path} (set KADDONS_TESTDATA to the k2s-addons directory)")
    return path


def writable_copy(source: Path, destination: Path) -> Path:
    """Copy ``source`` to ``destination`` with owner-writable permissions (the test data is read-only)."""
    shutil.copytree(source, destination, copy_function=shutil.copyfile)
    for root, dirs, _files in os.walk(destination):
        for name in dirs:
            (Path(root) / name).chmod(0o755)
    destination.chmod(0o755)
    return destination


@pytest.fixture
def addons_dir(testdata: Path, tmp_path: Path) -> Path:
    """A writable copy of the test data at ``<tmp_path>/addons``."""
    return writable_copy(testdata, tmp_path / "addons")
