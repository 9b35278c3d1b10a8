"""The new-user walk of issue 10, replayed: the README's commands in order in a fresh directory, with the
mistakes people make between them. Every mistake must exit non-zero with one ``error:`` line on standard
error and no traceback, and touch no file; every right command must do what the README says.

Real components: the kaddons CLI as a process, the Debian ``docker-registry``, ``kubectl kustomize``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.registry import RunningRegistry, free_port

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "addons"
pytestmark = pytest.mark.slow


def _snapshot(root: Path) -> dict[str, str]:
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if ".kaddons/lock" in rel:
            continue
        found[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


class Walk:
    """Runs ``kaddons`` in ``home``; a mistake is checked for its one-line error and an untouched ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker")}
        for name in [key for key in self.env if key.startswith("KADDONS_")]:
            del self.env[name]

    def ok(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        done = self._run(args)
        assert done.returncode == 0, f"kaddons {' '.join(map(str, args))}: {done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr
        return done

    def mistake(self, *args: str | Path, code: int, says: tuple[str, ...]) -> str:
        before = _snapshot(self.home)
        done = self._run(args)
        assert done.returncode == code, f"kaddons {' '.join(map(str, args))}: {done.stdout}{done.stderr}"
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
        for needle in says:
            assert needle in lines[0], lines[0]
        assert _snapshot(self.home) == before, f"kaddons {' '.join(map(str, args))} changed files"
        return lines[0]

    def _run(self, args: tuple[str | Path, ...]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kaddons", *map(str, args)], cwd=self.home, env=self.env,
                              capture_output=True, text=True, timeout=180)


def test_a_new_user_walks_through_the_readme(tmp_path: Path, fresh_registry: RunningRegistry) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copytree(EXAMPLES, home / "addons")
    walk = Walk(home)
    host = fresh_registry.host

    # Export: the output directory is created as K2s creates it; unknown names say which exist.
    walk.mistake("export", "metric", "-d", "out", "--omit-images", code=3, says=("no addon named 'metric'",))
    walk.ok("export", "-d", "out/all", "--omit-images", "--omit-packages")
    [archive] = (home / "out" / "all").glob("K2s-*-addons-all.oci.tar")
    assert archive.name == "K2s-0.0.0-addons-all.oci.tar"  # never kaddons' own version

    # Push: http:// says what to write; a second push of other content under the same version is refused.
    walk.mistake("push", archive, f"http://{host}", code=2, says=("write oci://", "--insecure"))
    pushed = walk.ok("push", archive, f"oci://{host}", "--insecure", "-o", "json")
    digests = {p["exportName"]: p["digest"] for p in json.loads(pushed.stdout)}
    assert sorted(digests) == ["metrics", "storage-smb"]
    readme = home / "addons" / "metrics" / "README.md"
    readme.write_text(readme.read_text() + "\nrebuilt\n")
    walk.ok("export", "metrics", "-d", "out/changed", "--omit-images", "--omit-packages")
    [changed] = (home / "out" / "changed").glob("*.oci.tar")
    walk.mistake("push", changed, f"oci://{host}", "--insecure", code=2,
                 says=(f"{host}/addons/metrics:v1.0.0 holds {digests['metrics']}", "--force"))

    # Copy: the shared v1.0.0 of a multi-addon archive names two manifests.
    walk.mistake("copy", f"oci-archive:{archive}:v1.0.0", "oci-layout:layout", code=2,
                 says=("names 2 different manifests", "@sha256:"))
    walk.ok("copy", f"oci-archive:{archive}@{digests['metrics']}", "oci-layout:layout:metrics-v1.0.0")

    # Sync: the catalog must exist; a bad registry config is named even though the registry needs no login.
    walk.mistake("sync", "--registry", f"oci://{host}", "--insecure", "--addons-dir", "catalog", code=3,
                 says=("catalog (--addons-dir) does not exist", "mkdir -p catalog"))
    (home / "catalog").mkdir()
    walk.mistake("sync", "--registry", f"oci://{host}", "--insecure", "--addons-dir", "catalog",
                 "--registry-config", "nope.json", code=2, says=("nope.json does not exist",))
    synced = walk.ok("sync", "--registry", f"oci://{host}", "--insecure", "--addons-dir", "catalog")
    assert synced.stdout.strip().splitlines()[-1].endswith("Synced: 2, Skipped (unchanged): 0, Failed: 0")
    rows = json.loads(walk.ok("ls", "--addons-dir", "catalog", "-o", "json").stdout)
    assert {r["exportName"] for r in rows} == {"metrics", "storage-smb"}
    again = walk.ok("sync", "--registry", f"oci://{host}", "--insecure", "--addons-dir", "catalog")
    assert "Synced: 0, Skipped (unchanged): 2" in again.stdout  # same layers: recorded, nothing swapped

    # Rollback: a typo names what is there; nothing was replaced, so nothing is kept.
    walk.mistake("rollback", "metrcs", "--addons-dir", "catalog", code=3, says=("did you mean metrics?",))
    walk.mistake("rollback", "metrics", "--addons-dir", "catalog", code=3, says=("no previous version of metrics",))

    # GitOps: the user's overlay keeps its files; registrations accumulate.
    overlay = home / "cluster"
    overlay.mkdir()
    (overlay / "README.md").write_text("our cluster\n")
    (overlay / "kustomization.yaml").write_text("resources: [addon-sync]\n")
    walk.mistake("gitops", "render", "--engine", "fluxcd", "--registry", f"oci://{host}", "--output-dir", overlay,
                 "--force", code=2, says=("kustomization.yaml would be overwritten and is not kaddons'",))
    walk.ok("gitops", "render", "--engine", "fluxcd", "--registry", f"oci://{host}",
            "--output-dir", overlay / "addon-sync")
    for name in ("metrics", "storage-smb"):
        walk.ok("gitops", "register", name, "--registry", f"oci://{host}", "--output-dir", overlay / "registered")
    assert (overlay / "README.md").read_text() == "our cluster\n"
    registered = (overlay / "registered" / "kustomization.yaml").read_text()
    assert "metrics.yaml" in registered and "storage-smb.yaml" in registered
    as_json = walk.ok("gitops", "register", "metrics", "--registry", f"oci://{host}", "-o", "json")
    assert [obj["kind"] for obj in json.loads(as_json.stdout)] == ["OCIRepository", "Kustomization"]
    assert not (home / "json").exists()

    # The agent: loopback by default; a busy address is named.
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        walk.mistake("agent", "--registry", f"oci://{host}", "--insecure", "--addons-dir", "catalog",
                     "--listen", f"127.0.0.1:{port}", code=2, says=(f"cannot listen on 127.0.0.1:{port}",))
