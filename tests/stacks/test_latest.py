"""``kaddons cluster addons list --latest``: the newest chart version each add-on could move to, read from the
real test chart repository (served over HTTP as the example's mirrored sources)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from kaddons.charts.latest import is_prerelease
from tests.helpers.http_server import StaticServer
from tests.stacks.conftest import mirrors_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"


def _list(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kaddons", "cluster", "addons", "list", "--offline", *args],
                          cwd=repo, env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False)


def test_latest_offers_the_newest_stable_version_per_addon(chart_repo: StaticServer, tmp_path: Path) -> None:
    repo = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, repo)
    (repo / ".git").mkdir()
    env = {"KADDONS_MIRRORS_FILE": str(mirrors_file(chart_repo, tmp_path))}
    done = _list(repo, "--latest", "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert (rows["headlamp"]["latest_chart_version"], rows["headlamp"]["upgrade"]) == ("0.45.0", False)
    assert (rows["kyverno"]["latest_chart_version"], rows["kyverno"]["upgrade"]) == ("3.9.0", True)
    table = _list(repo, "--latest", env=env)
    assert "LATEST_CHART_VERSION" in table.stdout.splitlines()[0]


def test_an_unreadable_source_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    repo = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, repo)
    (repo / ".git").mkdir()
    mirrors = tmp_path / "mirrors.yaml"
    mirrors.write_text("https://kubernetes-sigs.github.io/headlamp/: http://127.0.0.1:9/\n"
                       "https://kyverno.github.io/kyverno/: http://127.0.0.1:9/\n")
    done = _list(repo, "--latest", "-o", "json", env={"KADDONS_MIRRORS_FILE": str(mirrors)})
    assert done.returncode == 0, done.stderr
    assert all(row["latest_chart_version"] is None for row in json.loads(done.stdout))
    assert done.stderr.count("latest versions not read") == 2


def test_prerelease_rule() -> None:
    assert is_prerelease("1.2.0-rc.1") and is_prerelease("v0.1.0-alpha")
    assert not is_prerelease("1.2.0") and not is_prerelease("1.2.0+build.7")
