"""A key rotation killed (SIGKILL) at every step leaves every encrypted file opening with the old key, and the
rotation can be finished (issue 12, "Rotation interrupted between its steps leaves every file decryptable with at
least one key"). Real processes: ``kaddons sops rotate`` in a child, the real ``sops`` binary, a real remote
(``git daemon``).

The child kills itself before or after the N-th step: making the new key, each decrypt and re-encrypt by
``sops``, and each working-copy step (fetch, build the tree, commit, push, move the branch, check out); N runs
over every step until the rotation finishes unkilled. After each kill: the remote holds the seed alone or the
seed plus the complete first step, and every encrypted file there opens with the old key. Then ``rotate`` again
(or, when the first step did reach the remote, its "under way" answer) and ``rotate --confirm`` finish it: every
file opens with the new key and no longer with the old one, and the clone is clean.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kaddons.secrets.detect import is_sops_encrypted
from tests.helpers.git_remote import git, run_git_daemon
from tests.stacks.test_apply import EXAMPLE
from tests.stacks.test_apply_crash import _remote_state, child, run_child
from tests.stacks.test_secrets import SECRET, SOPS, _add_secret_manifest

pytestmark = pytest.mark.slow

STEPS = """from kaddons.secrets import sops as _sops
from kaddons.operations import rotate as _rotate
wrap(_sops, 'encrypt_with_regex')
wrap(_sops, 'decrypt')
wrap(_rotate, 'keygen')"""
ROTATE = child(["sops", "rotate"], STEPS)
CONFIRM = child(["sops", "rotate", "--confirm"])


def _kaddons(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kaddons", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def _opens(folder: Path, key_file: Path) -> list[str]:
    """The encrypted files of ``folder`` that ``sops`` cannot open with ``key_file`` (or that lack the secret)."""
    closed = []
    for path in sorted(folder.rglob("*.yaml")):
        if ".git" in path.parts or not is_sops_encrypted(path.read_text()):
            continue
        out = subprocess.run([str(SOPS), "decrypt", str(path)], capture_output=True, text=True, check=False,
                             env={**os.environ, "SOPS_AGE_KEY_FILE": str(key_file)})
        if out.returncode != 0 or SECRET not in out.stdout:
            closed.append(path.relative_to(folder).as_posix())
    return closed


def _last_key(key_file: Path, into: Path) -> Path:
    """The newest identity of ``key_file`` (the one the finished rotation made) alone in ``into``."""
    [*_, newest] = [line for line in key_file.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")]
    into.write_text(newest + "\n")
    into.chmod(0o600)
    return into


def test_a_rotation_killed_at_every_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{SOPS.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("SOPS_DISABLE_VERSION_CHECK", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("KADDONS_CACHE_DIR", str(tmp_path / "cache"))
    old_key = tmp_path / "old.txt"
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(old_key))
    with run_git_daemon(tmp_path / "remotes") as daemon:
        seed = tmp_path / "seed"
        shutil.copytree(EXAMPLE, seed)
        git("init", "--quiet", "-b", "main", cwd=seed)
        assert _kaddons("sops", "keygen", cwd=seed).returncode == 0
        done = _kaddons("cluster", "encrypt", "addon", "headlamp", "--set", f"auth.password={SECRET}", cwd=seed)
        assert done.returncode == 0, done.stderr
        _add_secret_manifest(seed, "db-secret", f"stringData:\n  password: '{SECRET}'\n")
        done = _kaddons("cluster", "encrypt", "manifest", "db-secret", "--all-data", cwd=seed)
        assert done.returncode == 0, done.stderr
        git("add", "-A", cwd=seed)
        git("commit", "--quiet", "-m", "seed", cwd=seed)
        assert _opens(seed, old_key) == [] and len(list(seed.rglob("*.yaml"))) > 2

        target = 1
        while True:
            url = daemon.create(f"rotate-{target}")
            git("push", "--quiet", url, "main", cwd=seed)
            work = tmp_path / f"work-{target}"
            git("clone", "--quiet", url, str(work))
            key_file = tmp_path / f"keys-{target}.txt"
            shutil.copy(old_key, key_file)
            key_file.chmod(0o600)
            monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
            killed = run_child(ROTATE, work, target)
            if killed.returncode == 0:
                break
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            log, _files = _remote_state(url, tmp_path)
            assert log in (["seed"], ["kaddons: start an age key rotation (files encrypted for the old and the new "
                                      "key)", "seed"]), f"step {target}: {log}"
            assert _opens(tmp_path / "check", old_key) == [], f"step {target}: a file the old key cannot open"
            assert _opens(work, old_key) == [], f"step {target}: a file of the clone the old key cannot open"

            again = run_child(ROTATE, work, 0)
            assert again.returncode == 0 or (len(log) == 2 and "a key rotation is under way" in again.stderr), \
                f"step {target}: {again.stderr}"
            confirmed = run_child(CONFIRM, work, 0)
            assert confirmed.returncode == 0, f"step {target}: {confirmed.stderr}"
            log, _files = _remote_state(url, tmp_path)
            assert len(log) == 3 and log[0].startswith("kaddons: confirm the age key rotation"), f"step {target}"
            new_key = _last_key(key_file, tmp_path / "new.txt")
            assert _opens(tmp_path / "check", new_key) == [], f"step {target}"
            assert len(_opens(tmp_path / "check", old_key)) >= 2, f"step {target}: the old key still opens files"
            for leftover in work.rglob(".*.kaddons-tmp"):  # a killed write's temporary file: never committed
                leftover.unlink()
            assert git("status", "--porcelain", cwd=work) == "", f"step {target}"
            shutil.rmtree(work)
            target += 1
        assert target > 10  # every step was reached: the key, each sops call, fetch, tree, commit, push, checkout
