"""``kaddons agent`` end to end: a real registry notifies a running agent, which syncs the pushed addon."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kaddons.addons.export import ExportOptions, export_addons
from kaddons.addons.publish import push_archive
from kaddons.oci.registry import RegistryOptions
from tests.helpers.registry import free_port, run_registry


def _wait(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_a_push_reaches_the_catalog_within_two_seconds(testdata: Path, tmp_path: Path) -> None:
    port = free_port()
    config = (f"notifications:\n  endpoints:\n    - name: kaddons\n      url: http://127.0.0.1:{port}/events\n"
              "      headers:\n        Authorization: [Bearer e2e-token]\n"
              "      timeout: 1s\n      threshold: 3\n      backoff: 1s\n")
    out, catalog = tmp_path / "out", tmp_path / "catalog"
    out.mkdir()
    catalog.mkdir()
    archive = export_addons(testdata, ["metrics"], out, ExportOptions(omit_images=True, omit_packages=True)).path
    with run_registry(extra_config=config) as registry:
        agent = subprocess.Popen(
            [sys.executable, "-m", "kaddons", "agent", "--registry", f"oci://{registry.host}", "--insecure",
             "--addons-dir", str(catalog), "--interval", "1h", "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "KADDONS_EVENTS_TOKEN": "e2e-token"})
        try:
            base = f"http://127.0.0.1:{port}"
            assert _wait(lambda: _get(f"{base}/healthz") == 200, 20), "the agent did not come up"
            pushed = push_archive(archive, registry.host, RegistryOptions(insecure=True))
            start = time.monotonic()
            record = catalog / ".addon-sync-digests" / "metrics"
            assert _wait(record.exists, 5), "the pushed addon did not reach the catalog"
            latency = time.monotonic() - start
            assert latency < 2.0, f"push-to-catalog latency {latency:.2f}s"
            assert record.read_text() == pushed[0].digest
            assert (catalog / "metrics/manifests/metrics-server.yaml").is_file()
            metrics = httpx.get(f"{base}/metrics").text
            assert 'kaddons_syncs_total{addon="metrics",result="synced"} 1.0' in metrics
            assert "kaddons_registry_requests_total" in metrics
        finally:
            agent.send_signal(signal.SIGTERM)
            output, _ = agent.communicate(timeout=30)
    assert agent.returncode == 0, output
    assert "Agent stopped" in output and "Traceback" not in output


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return 0


def test_the_agent_listens_on_loopback_by_default_and_names_a_busy_address(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "kaddons", "agent", "--registry", "oci://127.0.0.1:9",
                               "--insecure", "--addons-dir", str(catalog), "--listen", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port} (Address already in use)")
    assert "--listen HOST:PORT" in done.stderr
    helped = subprocess.run([sys.executable, "-m", "kaddons", "agent", "--help"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert "127.0.0.1:8080" in helped.stdout and "0.0.0.0:8080" not in helped.stdout
    empty = tmp_path / "token"
    empty.write_text("\n")
    bad = subprocess.run([sys.executable, "-m", "kaddons", "agent", "--registry", "oci://127.0.0.1:9",
                          "--addons-dir", str(catalog), "--events-token-file", str(empty)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith(f"error: --events-token-file {empty} holds no token")
