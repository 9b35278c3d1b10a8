"""An apply killed (SIGKILL) at every step never leaves a half-rendered tree committed, and the next apply
recovers (issue 11, "Git"). Real processes against a real remote (``git daemon``).

The apply runs in a child process whose :class:`~kaddons.repo.WorkingCopy` steps (fetch, build the tree,
commit, push, move the branch, check out files) kill the process before or after the N-th step; N runs over
every step until an apply finishes unkilled. After each kill: the remote holds either the seed commit alone or
the seed plus one complete apply commit; the next apply succeeds; the remote then holds exactly one apply
commit with the whole tree; the clone is clean; one more apply makes no commit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.git_remote import GIT_ENV, git, run_git_daemon
from tests.helpers.http_server import StaticServer
from tests.stacks.conftest import mirrors_file
from tests.stacks.test_apply import EXAMPLE

pytestmark = pytest.mark.slow

KILLER = """
import os, signal, sys
import pygit2
from kaddons.repo import working_copy

target = int(sys.argv[1])
count = 0

def point():
    global count
    count += 1
    if count == target:
        os.kill(os.getpid(), signal.SIGKILL)

def wrap(owner, name):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        point()
        result = original(*args, **kwargs)
        point()
        return result
    setattr(owner, name, wrapper)

for name in ("fetch", "build_tree", "commit", "push", "advance", "_move_branch"):
    wrap(working_copy.WorkingCopy, name)
for name in ("checkout_tree", "create_commit"):
    wrap(pygit2.Repository, name)
"""


def child(argv: list[str], extra: str = "") -> str:
    """A script running ``kaddons ARGV`` that kills itself (SIGKILL) before or after the N-th step (``sys.argv[1]``;
    0: never) of the working copy (fetch, build the tree, commit, push, move the branch, check out) and of what
    ``extra`` wraps with ``wrap(owner, name)``."""
    return f"{KILLER}\n{extra}\nfrom kaddons.cli.app import main\nsys.argv = {['kaddons', *argv]!r}\nmain()\n"


CHILD = child(["cluster", "apply"])


def run_child(script: str, work: Path, target: int) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (see :func:`child`) in ``work``, killed at step ``target``."""
    env = {**os.environ, **GIT_ENV, "HOME": str(work.parent)}
    return subprocess.run([sys.executable, "-c", script, str(target)], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _run(work: Path, target: int) -> subprocess.CompletedProcess[str]:
    return run_child(CHILD, work, target)


def _remote_state(url: str, tmp: Path) -> tuple[list[str], set[str]]:
    check = tmp / "check"
    shutil.rmtree(check, ignore_errors=True)
    git("clone", "--quiet", url, str(check))
    files = set(git("ls-files", cwd=check).splitlines())
    return git("log", "--format=%s", cwd=check).splitlines(), files


def test_a_kill_at_every_step_of_an_apply(tmp_path: Path, chart_repo: StaticServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KADDONS_MIRRORS_FILE", str(mirrors_file(chart_repo, tmp_path)))
    monkeypatch.setenv("KADDONS_CACHE_DIR", str(tmp_path / "cache"))
    with run_git_daemon(tmp_path / "remotes") as daemon:
        # The complete result, from an apply nobody kills.
        reference_url = daemon.create("reference")
        seed = tmp_path / "seed"
        shutil.copytree(EXAMPLE, seed)
        (seed / "README.md").unlink()
        git("init", "--quiet", "-b", "main", cwd=seed)
        git("add", "-A", cwd=seed)
        git("commit", "--quiet", "-m", "seed", cwd=seed)
        git("push", "--quiet", reference_url, "main", cwd=seed)
        reference = tmp_path / "reference"
        git("clone", "--quiet", reference_url, str(reference))
        values = "clusters/edge/values/headlamp.yaml"
        (reference / values).write_text((reference / values).read_text() + "edited: 1\n")
        assert _run(reference, 0).returncode == 0
        expected_log, expected_files = _remote_state(reference_url, tmp_path)
        assert len(expected_log) == 2 and any(f.startswith("clusters/edge/argocd/") for f in expected_files)

        target = 1
        while True:
            url = daemon.create(f"crash-{target}")
            git("push", "--quiet", url, "main", cwd=seed)
            work = tmp_path / f"work-{target}"
            git("clone", "--quiet", url, str(work))
            (work / values).write_text((work / values).read_text() + "edited: 1\n")
            killed = _run(work, target)
            if killed.returncode == 0:
                break
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            log, files = _remote_state(url, tmp_path)
            assert log in (["seed"], expected_log), f"step {target}: {log}"
            if log == expected_log:
                assert files == expected_files, f"step {target}: a partial tree was pushed"

            again = _run(work, 0)
            assert again.returncode == 0, f"step {target}: {again.stderr}"
            assert _remote_state(url, tmp_path) == (expected_log, expected_files), f"step {target}"
            assert git("status", "--porcelain", cwd=work) == "", f"step {target}"
            assert (work / "clusters/edge/argocd/root.yaml").is_file()
            assert git("rev-parse", "HEAD", cwd=work) == git("rev-parse", "origin/main", cwd=work)
            third = _run(work, 0)
            assert "no commit" in third.stderr, f"step {target}: {third.stderr}"
            shutil.rmtree(work)
            target += 1
        assert target > 10  # every step was reached: fetch, tree, commit, push, checkout, branch
