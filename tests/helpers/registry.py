"""Start the real OCI registry (Debian ``docker-registry``, CNCF distribution 2.8) for tests.

Not a mock: the real server binary on a free 127.0.0.1 port, storage in a temporary directory,
dropped to ``nobody`` when the tests run as root. :func:`run_registry` yields a
:class:`RunningRegistry` once ``/v2/`` answers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_CONFIG = """version: 0.1
log:
  level: {log_level}
  accesslog:
    disabled: {accesslog_disabled}
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: test-only-secret
{extra}"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningRegistry:
    """A running registry: ``host`` is ``127.0.0.1:PORT``; ``url`` has the scheme."""

    host: str
    url: str
    workdir: Path
    pid: int
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return (self.workdir / "registry.log").read_text(errors="replace")


def _drop_root() -> list[str]:
    if os.geteuid() == 0 and shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    return []


@contextlib.contextmanager
def run_registry(*, extra_config: str = "", scheme: str = "http", ca_file: str | None = None,
                 workdir: Path | None = None, log_level: str = "error") -> Iterator[RunningRegistry]:
    """Run ``docker-registry serve`` until the context exits.

    ``extra_config`` is appended to the YAML config (TLS, auth, notifications...); files it names
    must be readable by ``nobody``. ``scheme``/``ca_file`` tell the readiness probe how to connect.
    """
    exe = shutil.which("docker-registry")
    if exe is None:
        raise RuntimeError("docker-registry is not installed: apt-get install -y docker-registry (or: make test)")
    tmp = Path(workdir or tempfile.mkdtemp(prefix="kaddons-registry-"))
    tmp.chmod(0o755)
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    drop = _drop_root()
    if drop:
        shutil.chown(data, "nobody", "nogroup")
    port = free_port()
    config = tmp / "config.yml"
    config.write_text(_CONFIG.format(root=data, port=port, extra=extra_config, log_level=log_level,
                                     accesslog_disabled="true" if log_level == "error" else "false"))
    config.chmod(0o644)
    with open(tmp / "registry.log", "wb") as log:
        proc = subprocess.Popen([*drop, exe, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"{scheme}://127.0.0.1:{port}"
    running = RunningRegistry(host=f"127.0.0.1:{port}", url=url, workdir=tmp, pid=proc.pid)
    try:
        _wait_ready(proc, url, ca_file, running)
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, ca_file: str | None, running: RunningRegistry) -> None:
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}:\n{running.log}")
        try:
            with urllib.request.urlopen(url + "/v2/", timeout=1, context=context):
                return
        except urllib.error.HTTPError:
            return  # 401 from an auth-protected registry: it is up
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"docker-registry did not answer on {url}/v2/:\n{running.log}")
        time.sleep(0.05)
