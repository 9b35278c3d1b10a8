"""``kaddons serve`` running as a user runs it: tokens from the CLI, the server in its own process on 127.0.0.1
over a copy of the example GitOps repository, and the cluster read through kmock's emulator
(``tests/helpers/kube.py``: a documented STAND-IN, no API server runs here) loaded with a real chart's release
(``tests/helpers/installed.py``) and Argo CD Applications."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaddons.cluster.view import WORKLOAD_KINDS
from tests.helpers.git_remote import GIT_ENV, GitDaemon
from tests.helpers.http_server import StaticServer
from tests.helpers.installed import installed_release
from tests.helpers.kube import KubeAPI, run_kube_api, write_kubeconfig
from tests.stacks.conftest import chart_repo, mirrors_file, testdata  # noqa: F401  (shared fixtures)
from tests.stacks.test_apply import _log as remote_log  # noqa: F401  (the remote's commit subjects)
from tests.stacks.test_apply import _seeded, daemon  # noqa: F401  (the git daemon fixture)

LABELS = {"kaddons.io/cluster": "edge"}
ENCRYPTED = "ENC[AES256_GCM,data:c2VjcmV0,iv:aXZpdml2aXZpdml2,tag:dGFndGFndGFn,type:str]"


def kaddons(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the kaddons CLI."""
    return subprocess.run([sys.executable, "-m", "kaddons", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, check=False)


def application(name: str, status: dict[str, Any]) -> dict[str, Any]:
    """An Argo CD Application of the example cluster with ``status``."""
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "labels": LABELS}, "status": status}


SYNCED = {"sync": {"status": "Synced", "revision": "4f2a9c1"}, "health": {"status": "Healthy"}}


@dataclass
class Server:
    """The running server (``url``), a ``read`` and a ``write`` token, the cluster stand-in (``api``), the
    working copy (``repo``) and the headlamp release's objects."""

    url: str
    read: str
    write: str
    api: KubeAPI
    repo: Path
    release: list[tuple[str, dict[str, Any]]]
    remote: str

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.url + path, headers=headers, params=params, timeout=30)


@pytest.fixture
def server(tmp_path: Path, daemon: GitDaemon, chart_repo: StaticServer) -> Iterator[Server]:  # noqa: F811
    """``kaddons serve`` over a clone of a remote holding the example repository (headlamp's values carry an
    encrypted value; its chart sources mirrored to the test charts), and a cluster where headlamp is Synced with
    three Pods and kyverno is not applied."""
    def with_a_secret(seed: Path) -> None:
        values = seed / "clusters" / "edge" / "values" / "headlamp.yaml"
        values.write_text(values.read_text() + f"oidc:\n  clientSecret: {ENCRYPTED}\n")

    url, repo = _seeded(daemon, tmp_path, tmp_path.name, with_a_secret)
    env = {**GIT_ENV, "KADDONS_MIRRORS_FILE": str(mirrors_file(chart_repo, tmp_path)),
           "KADDONS_CACHE_DIR": str(tmp_path / "cache")}
    tokens = tmp_path / "tokens.json"
    read = kaddons("serve", "token", "create", "--role", "read", "--tokens", str(tokens))
    write = kaddons("serve", "token", "create", "--role", "write", "--tokens", str(tokens))
    assert read.returncode == 0 and write.returncode == 0, read.stderr + write.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with run_kube_api() as api:
        for kind in WORKLOAD_KINDS:
            api.declare(f"{kind.api_version}/{kind.plural}", kind.kind)
        release = installed_release("headlamp", "0.45.0", "headlamp", "headlamp", pods=3, engine="argocd")
        for plural, obj in release:
            api.add(plural, obj)
        api.add("applications", application("manifest-ns-headlamp", SYNCED))
        api.add("applications", application("addon-headlamp", {**SYNCED, "resources": [
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "headlamp", "name": "headlamp",
             "health": {"status": "Healthy"}}]}))
        config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
        process = subprocess.Popen(
            [sys.executable, "-m", "kaddons", "serve", "--repo", str(repo), "--listen", f"127.0.0.1:{port}",
             "--tokens", str(tokens)], env={**os.environ, **env, "KUBECONFIG": str(config)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        remote, url = url, f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            yield Server(url, read.stdout.strip(), write.stdout.strip(), api, repo, release, remote)
        finally:
            process.terminate()
            _out, err = process.communicate(timeout=10)
            assert read.stdout.strip() not in err and "Traceback" not in err  # tokens are never logged


