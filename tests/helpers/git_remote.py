"""A real Git remote on 127.0.0.1 for tests: ``git daemon --enable=receive-pack`` (Debian ``git``).

Not a mock: the same server and protocol (``git://``) as a self-hosted remote. :func:`run_git_daemon` serves
the bare repositories under a folder; :meth:`GitDaemon.create` makes one (``git init --bare -b main``) and
returns its URL. :func:`git` runs the git CLI (the reference client) to set up and inspect repositories.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.registry import free_port

__all__ = ["GitDaemon", "git", "run_git_daemon"]

GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org", "GIT_COMMITTER_NAME": "Test",
           "GIT_COMMITTER_EMAIL": "test@example.org", "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    """Run ``git ARGS`` in ``cwd`` with a fixed identity; its stdout."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class GitDaemon:
    """A running ``git daemon``: bare repositories under ``root``, served at ``git://127.0.0.1:PORT/``."""

    root: Path
    port: int

    def create(self, name: str = "gitops") -> str:
        """A new empty bare repository ``NAME.git`` (branch ``main``); its URL."""
        git("init", "--quiet", "--bare", "-b", "main", str(self.root / f"{name}.git"))
        return self.url(name)

    def url(self, name: str = "gitops") -> str:
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def path(self, name: str = "gitops") -> Path:
        return self.root / f"{name}.git"


@contextlib.contextmanager
def run_git_daemon(root: Path) -> Iterator[GitDaemon]:
    """Start ``git daemon`` serving ``root`` (push enabled) on a free port; stop it on exit."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", f"--base-path={root}", "--export-all", "--enable=receive-pack",
         "--listen=127.0.0.1", f"--port={port}", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("git daemon did not start")
            time.sleep(0.02)
        yield GitDaemon(root, port)
    finally:
        process.terminate()
        process.wait(timeout=10)
