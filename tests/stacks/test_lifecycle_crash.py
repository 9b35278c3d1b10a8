"""An operation killed (SIGKILL) at any point never commits half a change, and running it again finishes it
(issue 14, "Concurrency and failure"). Real processes against a real remote (``git daemon``).

``kaddons cluster addons upgrade headlamp --chart-version 0.44.0 --set replicaCount=5`` runs in a child whose
file writes (the document and the values file, each written beside and renamed into place) and working-copy
steps (fetch, build the tree, commit, push, move the branch, check out) kill the process before or after the
N-th step; N runs over every step until the upgrade finishes unkilled. After each kill: the remote holds the
seed alone or the seed plus the one complete upgrade commit; the same command run again succeeds; then the
remote holds exactly the tree of an unkilled upgrade, in one commit, and the clone is clean.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers.git_remote import git, run_git_daemon
from tests.helpers.http_server import StaticServer
from tests.stacks.conftest import mirrors_file
from tests.stacks.test_apply import EXAMPLE
from tests.stacks.test_apply_crash import _remote_state, child, run_child

pytestmark = pytest.mark.slow

CHILD = child(["cluster", "addons", "upgrade", "headlamp", "--chart-version", "0.44.0", "--set", "replicaCount=5"],
              "from kaddons.operations import edit\nwrap(edit, 'write_atomic')")


def _run(work: Path, target: int) -> subprocess.CompletedProcess[str]:
    return run_child(CHILD, work, target)


def test_an_upgrade_killed_at_every_step(tmp_path: Path, chart_repo: StaticServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KADDONS_MIRRORS_FILE", str(mirrors_file(chart_repo, tmp_path)))
    monkeypatch.setenv("KADDONS_CACHE_DIR", str(tmp_path / "cache"))
    with run_git_daemon(tmp_path / "remotes") as daemon:
        reference_url = daemon.create("reference")
        seed = tmp_path / "seed"
        shutil.copytree(EXAMPLE, seed)
        git("init", "--quiet", "-b", "main", cwd=seed)
        git("add", "-A", cwd=seed)
        git("commit", "--quiet", "-m", "seed", cwd=seed)
        git("push", "--quiet", reference_url, "main", cwd=seed)
        reference = tmp_path / "reference"
        git("clone", "--quiet", reference_url, str(reference))
        assert _run(reference, 0).returncode == 0
        expected_log, expected_files = _remote_state(reference_url, tmp_path)
        assert len(expected_log) == 2 and expected_log[0].startswith("kaddons: upgrade add-on headlamp")
        expected = {f: (reference / f).read_bytes() for f in expected_files}

        target = 1
        while True:
            url = daemon.create(f"crash-{target}")
            git("push", "--quiet", url, "main", cwd=seed)
            work = tmp_path / f"work-{target}"
            git("clone", "--quiet", url, str(work))
            killed = _run(work, target)
            if killed.returncode == 0:
                break
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            log, files = _remote_state(url, tmp_path)
            assert log in (["seed"], expected_log), f"step {target}: {log}"
            if log == expected_log:
                assert files == expected_files, f"step {target}: a partial change was pushed"

            again = _run(work, 0)
            assert again.returncode == 0, f"step {target}: {again.stderr}"
            log, files = _remote_state(url, tmp_path)
            assert len(log) == 2 and files == expected_files, f"step {target}: {log}"
            check = tmp_path / "check"
            assert {f: (check / f).read_bytes() for f in files if "/.kaddons-inputs" not in f} == {
                f: data for f, data in expected.items() if "/.kaddons-inputs" not in f}, f"step {target}"
            leftovers = [p for p in work.rglob(".*.kaddons-tmp")]
            for leftover in leftovers:  # a temporary file of a killed write: never committed, safe to delete
                assert leftover.name not in files
                leftover.unlink()
            assert git("status", "--porcelain", cwd=work) == "", f"step {target}"
            shutil.rmtree(work)
            target += 1
        assert target > 10  # every step was reached: the writes, fetch, tree, commit, push, checkout, branch
