"""Every KADDONS_* variable the README promises for sync and the agent, as a Job or CronJob sets them from a
ConfigMap, through the real CLI against the real registry; and the one-line errors for bad values."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers.registry import RunningRegistry
from tests.sync.conftest import export_copy, publish


@pytest.fixture(scope="module")
def published(testdata: Path, registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """metrics and dicom (v1.0.0 and v1.0.1) below a prefix of their own: ``oci://HOST/PREFIX``."""
    prefix = f"{registry.host}/env-{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("env")
    publish(export_copy(testdata, tmp, ["metrics", "dicom"], label="v1")[1], prefix)
    changed = export_copy(testdata, tmp, ["metrics", "dicom"],
                          lambda s: (s / "metrics" / "README.md").write_text("v2\n"), "v2")[1]
    publish(changed, prefix, tag="v1.0.1")
    return f"oci://{prefix}"


def kaddons(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KADDONS_")}
    return subprocess.run([sys.executable, "-m", "kaddons", *args], capture_output=True, text=True, timeout=120,
                          env={**clean, **env})


def test_sync_reads_every_variable(published: str, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    base = {"KADDONS_REGISTRY": published, "KADDONS_ADDONS_DIR": str(catalog), "KADDONS_INSECURE": "$true"}
    only = kaddons("sync", **base, KADDONS_ADDON="metrics", KADDONS_TAG_POLICY="tag:v1.0.0")
    assert only.returncode == 0, only.stdout + only.stderr
    assert (catalog / "metrics").is_dir() and not (catalog / "dicom").exists()  # KADDONS_ADDON
    assert (catalog / "metrics" / "README.md").read_text() != "v2\n"  # KADDONS_TAG_POLICY
    repos = tmp_path / "repos.txt"
    repos.write_text("# the addons of this node\naddons/dicom\n")
    listed = kaddons("sync", **base, KADDONS_REPOS_FILE=str(repos), KADDONS_CONCURRENCY="2")
    assert listed.returncode == 0 and "Using the configured repository list (1 repo(s))" in listed.stdout
    assert (catalog / "dicom").is_dir()
    bomb = kaddons("sync", **base, KADDONS_ADDON="metrics", KADDONS_MAX_EXPANDED_SIZE="1KiB")
    assert bomb.returncode == 1 and "expands to more than 1 KiB" in bomb.stdout  # KADDONS_MAX_EXPANDED_SIZE
    assert (catalog / "metrics" / "README.md").read_text() != "v2\n"  # nothing changed
    for variable, value, needle in (("KADDONS_TAG_POLICY", "newest", "tag policy"),
                                    ("KADDONS_MAX_EXPANDED_SIZE", "lots", "is not a size"),
                                    ("KADDONS_CONCURRENCY", "0", "KADDONS_CONCURRENCY"),
                                    ("KADDONS_CHECK_DIGEST", "maybe", "KADDONS_CHECK_DIGEST")):
        bad = kaddons("sync", **base, **{variable: value})
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and needle in bad.stderr, (variable, bad.stderr)


@pytest.mark.parametrize(("variable", "value", "needle"), [
    ("KADDONS_INTERVAL", "soon", "is not a positive duration"),
    ("KADDONS_INTERVAL", "0s", "is not a positive duration"),
    ("KADDONS_LISTEN", "localhost", "is not HOST:PORT"),
    ("KADDONS_LISTEN", "127.0.0.1:99999", "is not HOST:PORT"),
    ("KADDONS_JITTER", "2", "KADDONS_JITTER"),
])
def test_the_agent_refuses_bad_values_in_one_line(published: str, tmp_path: Path, variable: str, value: str,
                                                  needle: str) -> None:
    done = kaddons("agent", KADDONS_REGISTRY=published, KADDONS_ADDONS_DIR=str(tmp_path), KADDONS_INSECURE="true",
                   **{variable: value})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and needle in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_agent_reads_interval_jitter_and_listen(published: str, tmp_path: Path) -> None:
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    agent = subprocess.Popen([sys.executable, "-m", "kaddons", "agent"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             env={**{k: v for k, v in os.environ.items() if not k.startswith("KADDONS_")},
                                  "KADDONS_REGISTRY": published, "KADDONS_ADDONS_DIR": str(tmp_path),
                                  "KADDONS_INSECURE": "true", "KADDONS_INTERVAL": "1h", "KADDONS_JITTER": "0",
                                  "KADDONS_LISTEN": f"127.0.0.1:{port}", "KADDONS_EVENTS_INSECURE": "true",
                                  "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("the agent did not listen on KADDONS_LISTEN")
        deadline = time.monotonic() + 20
        while not ((tmp_path / "metrics").is_dir() and (tmp_path / "dicom").is_dir()):
            assert time.monotonic() < deadline, "the first pass did not sync both addons"
            time.sleep(0.1)
    finally:
        agent.terminate()
        output, _ = agent.communicate(timeout=30)
    assert f"Agent listening on 127.0.0.1:{port}; checking every 1h" in output
    assert "Push notifications are off" not in output  # KADDONS_EVENTS_INSECURE
