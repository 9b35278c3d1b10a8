"""Fixtures of the stacks tests: the shared test data (CRDs, charts), and the test charts as a Helm repository."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.addons.conftest import testdata  # noqa: F401  (the testdata fixture, shared)
from tests.helpers.http_server import StaticServer

HEADLAMP = "https://kubernetes-sigs.github.io/headlamp/"
KYVERNO = "https://kyverno.github.io/kyverno/"
"""The chart sources of examples/gitops (the upstream repositories, unreachable here: tests mirror them)."""


@pytest.fixture(scope="module")
def chart_repo(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticServer]:  # noqa: F811
    """The k2s-history charts (six headlamp versions with a values schema, kyverno with subcharts) as a Helm
    HTTP repository: the real index.yaml and archives, served as static files."""
    root = tmp_path_factory.mktemp("charts")
    shutil.copytree(testdata.parent / "charts" / "k2s-history", root, dirs_exist_ok=True)
    with StaticServer(root) as server:
        yield server


def mirrors_file(server: StaticServer, folder: Path) -> Path:
    """A mirrors file (KADDONS_MIRRORS_FILE) sending the example's chart sources to ``server``."""
    file = folder / "mirrors.yaml"
    file.write_text(f"{HEADLAMP}: {server.url}/\n{KYVERNO}: {server.url}/\n")
    return file
