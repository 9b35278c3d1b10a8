"""``kaddons push``: every addon of an archive to ``REGISTRY/addons/<export name>:<tag>``, byte for byte."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kaddons.addons.export import ExportOptions, export_addons
from kaddons.addons.publish import push_archive, split_registry
from kaddons.errors import InvalidReferenceError, LayoutError
from kaddons.oci.registry import Registry, RegistryOptions
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.registry import RunningRegistry

PLAIN = RegistryOptions(insecure=True)
OMIT = ExportOptions(omit_images=True, omit_packages=True)


@pytest.fixture(scope="module")
def multi_archive(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("push")
    return export_addons(testdata, ["metrics", "ingress"], out, OMIT).path


def test_each_addon_lands_in_its_own_repository_with_the_archive_digest(multi_archive: Path,
                                                                        fresh_registry: RunningRegistry) -> None:
    pushed = push_archive(multi_archive, fresh_registry.host, PLAIN)
    names = ["metrics", "ingress-nginx", "ingress-traefik", "ingress-nginx-gw"]
    assert [p.export_name for p in pushed] == names
    index = json.loads(subprocess.run(["tar", "-xOf", str(multi_archive), "index.json"], capture_output=True,
                                      check=True).stdout)
    digests = {d["annotations"]["vnd.k2s.addon.export-name"]: d["digest"] for d in index["manifests"]}
    with Registry(fresh_registry.host, PLAIN) as client:
        assert client.catalog() == sorted(f"addons/{n}" for n in names)
        for p in pushed:
            assert p.reference == f"{fresh_registry.host}/addons/{p.export_name}:v1.0.0"
            assert client.repository(f"addons/{p.export_name}").resolve("v1.0.0").digest == p.digest
            assert p.digest == digests[p.export_name]  # all four share v1.0.0 and each still gets its own
    again = push_archive(multi_archive, fresh_registry.host, PLAIN)
    assert len(again) == len(pushed) and all(p.copied == 0 for p in again)  # nothing is uploaded twice


def test_prefix_and_tag_override(multi_archive: Path, registry: RunningRegistry) -> None:
    pushed = push_archive(multi_archive, f"oci://{registry.host}/team-a", PLAIN, tag="stable")
    with Registry(registry.host, PLAIN) as client:
        assert client.repository("team-a/addons/metrics").tags() == ["stable"]
    assert pushed[0].reference == f"{registry.host}/team-a/addons/metrics:stable"


def test_skopeo_reads_what_was_pushed(multi_archive: Path, registry: RunningRegistry) -> None:
    import shutil

    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    pushed = push_archive(multi_archive, f"{registry.host}/skopeo-peer", PLAIN)
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{pushed[1].reference}"],
                         capture_output=True, check=True, timeout=60).stdout
    digest = subprocess.run(["skopeo", "manifest-digest", "/dev/stdin"], input=raw, capture_output=True,
                            check=True).stdout.decode().strip()
    assert digest == pushed[1].digest


def test_bad_registry_and_archive_inputs(tmp_path: Path, registry: RunningRegistry) -> None:
    for text in ("", "host:port:x", f"{registry.host}/addons:v1", f"{registry.host}/x@sha256:" + "0" * 64):
        with pytest.raises(InvalidReferenceError):
            split_registry(text)
    assert split_registry(f"oci://{registry.host}/a/b/") == (registry.host, "a/b/")
    empty = tmp_path / "empty.oci.tar"
    subprocess.run(["tar", "-cf", str(empty), "-T", "/dev/null"], check=True)
    with pytest.raises(LayoutError):
        push_archive(empty, registry.host, PLAIN)


def test_cli_push_prints_reference_and_digest(multi_archive: Path, fresh_registry: RunningRegistry) -> None:
    proc = subprocess.run([sys.executable, "-m", "kaddons", "push", str(multi_archive), fresh_registry.host,
                           "--insecure"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(f"{fresh_registry.host}/addons/metrics:v1.0.0 sha256:")
    down = subprocess.run([sys.executable, "-m", "kaddons", "push", str(multi_archive), "127.0.0.1:9", "--insecure"],
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 5 and down.stderr.startswith("error: ") and len(down.stderr.splitlines()) == 1


def test_a_published_version_tag_is_not_moved_without_force(testdata: Path, multi_archive: Path,
                                                            registry: RunningRegistry, tmp_path: Path) -> None:
    prefix = f"{registry.host}/promise-{tmp_path.name[-12:].lower().strip('_-') or 'x'}"
    [first] = [p for p in push_archive(multi_archive, prefix, PLAIN) if p.export_name == "metrics"]
    source = tmp_path / "addons"
    subprocess.run(["cp", "-r", str(testdata), str(source)], check=True)
    readme = source / "metrics" / "README.md"
    readme.write_text("a different build of the same version\n")
    changed = export_addons(source, ["metrics"], tmp_path / "out", OMIT).path

    def push(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kaddons", "push", str(changed), prefix, "--insecure", *extra],
                              capture_output=True, text=True, timeout=120)

    refused = push()
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert f"{prefix}/addons/metrics:v1.0.0 holds {first.digest}" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    with Registry(registry.host, PLAIN) as client:
        held = client.repository(f"{prefix.split('/', 1)[1]}/addons/metrics").resolve("v1.0.0")
        assert held.digest == first.digest  # nothing moved
        assert push("--tag", "latest").returncode == 0  # latest is meant to move
        assert push("--tag", "v1.0.1").returncode == 0  # a new version is the way
        assert push_archive(multi_archive, prefix, PLAIN)  # the same content again is no conflict
        forced = push("--force")
        assert forced.returncode == 0, forced.stderr
        moved = client.repository(f"{prefix.split('/', 1)[1]}/addons/metrics").resolve("v1.0.0")
        assert moved.digest != first.digest


def test_ctrl_c_says_interrupted_and_what_was_published(multi_archive: Path, registry: RunningRegistry) -> None:
    prefix = f"ctrlc-{uuid.uuid4().hex[:8]}"
    with FaultProxy(registry.url) as proxy:
        hang = proxy.add_fault(method="PUT", path=r"/addons/ingress-nginx/manifests/", delay=30, times=None)
        push = subprocess.Popen([sys.executable, "-m", "kaddons", "push", str(multi_archive),
                                 f"{proxy.host}/{prefix}", "--insecure"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert push.stdout is not None
        first = push.stdout.readline()  # metrics is published before ingress-nginx's manifest hangs
        assert first.startswith(f"{proxy.host}/{prefix}/addons/metrics:v1.0.0 sha256:"), first
        deadline = time.monotonic() + 20
        while hang.used == 0:
            assert time.monotonic() < deadline and push.poll() is None
            time.sleep(0.05)
        push.send_signal(signal.SIGINT)
        out, err = push.communicate(timeout=30)
    assert push.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: interrupted")
    assert "ingress-nginx" not in out


def test_ctrl_c_while_starting_is_one_line() -> None:
    for delay in (0.05, 0.15):
        proc = subprocess.Popen([sys.executable, "-m", "kaddons", "--help"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err
        if proc.returncode != 0:  # the help may have been printed before the signal came
            assert proc.returncode == 130 and err == "error: interrupted\n", err
