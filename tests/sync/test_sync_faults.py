"""Registry faults between sync and the real registry (a FaultProxy): retried within bounds, then the addon
fails with a one-line reason, its catalog folder and recorded digest untouched, the other addons synced."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from kaddons.addons.catalog import digest_path, sidecar_path
from kaddons.sync import sync_addons
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.k2s_archive import snapshot
from tests.helpers.registry import RunningRegistry
from tests.sync.conftest import Lines, config, export_copy, installed_files, publish, source_files


@dataclass
class Published:
    prefix: str  # PREFIX (no host)
    v1: Path  # the sources of v1.0.0 and v1.0.1
    v2: Path
    digests: dict[str, tuple[str, str]]  # export name -> (v1.0.0 digest, v1.0.1 digest)


@pytest.fixture(scope="module")
def published(testdata: Path, registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """metrics and dicom at v1.0.0 and (README changed) v1.0.1, below a prefix of their own."""
    tmp = tmp_path_factory.mktemp("faults")
    prefix = f"faults-{uuid.uuid4().hex[:8]}"

    def v2(source: Path) -> None:
        for name in ("metrics", "dicom"):
            (source / name / "README.md").write_text(f"{name} v2\n")

    v1_source, v1_archive = export_copy(testdata, tmp, ["metrics", "dicom"], label="v1")
    v2_source, v2_archive = export_copy(testdata, tmp, ["metrics", "dicom"], v2, "v2")
    first = publish(v1_archive, f"{registry.host}/{prefix}")
    second = publish(v2_archive, f"{registry.host}/{prefix}", tag="v1.0.1")
    return Published(prefix, v1_source, v2_source, {n: (first[n].digest, second[n].digest) for n in first})


@pytest.fixture
def synced_v1(published: Published, registry: RunningRegistry, catalog: Path) -> Path:
    """The catalog with v1.0.0 of both addons."""
    report = sync_addons(config(f"oci://{registry.host}/{published.prefix}", catalog, tag_policy="tag:v1.0.0",
                                repositories=("metrics", "dicom")))
    assert report.synced == 2
    return catalog


def recorded(catalog: Path, name: str) -> tuple[bytes, bytes]:
    return digest_path(catalog, name).read_bytes(), sidecar_path(catalog, name).read_bytes()


BLOBS = r"/addons/metrics/blobs/"

RECOVERED = {
    "500 twice": ({"method": "GET", "path": BLOBS, "status": 500, "times": 2}, 500),
    "503 on the manifest": ({"method": "GET", "path": r"/addons/metrics/manifests/sha256", "status": 503}, 503),
    "cut mid-blob": ({"method": "GET", "path": BLOBS, "cut_after": 40}, None),
    "wrong bytes once": ({"method": "GET", "path": BLOBS, "flip_at": 20}, None),
    "wrong manifest bytes once": ({"method": "GET", "path": r"/addons/metrics/manifests/sha256", "flip_at": 30},
                                  None),
}


@pytest.mark.parametrize("case", sorted(RECOVERED))
def test_transient_faults_are_retried(published: Published, registry: RunningRegistry, synced_v1: Path,
                                      case: str) -> None:
    fault, status = RECOVERED[case]
    with FaultProxy(registry.url) as proxy:
        injected = proxy.add_fault(**fault)  # type: ignore[arg-type]
        lines = Lines()
        report = sync_addons(config(f"oci://{proxy.host}/{published.prefix}", synced_v1,
                                    repositories=("metrics", "dicom")), log=lines.log())
    assert [(r.repository, r.status) for r in report.results] == [("metrics", "synced"), ("dicom", "synced")], \
        lines.text
    assert injected.used >= 1
    if status is not None:
        assert proxy.count(status=status) == fault.get("times", 1)
    if "flip_at" in fault:
        assert "[AddonSync][WARN] 'metrics': " in lines.text and "trying again (2/3)" in lines.text
    assert installed_files(synced_v1 / "metrics", single=True) == source_files(published.v2 / "metrics", "metrics")


def test_429_with_retry_after_is_honoured(published: Published, registry: RunningRegistry, synced_v1: Path) -> None:
    with FaultProxy(registry.url) as proxy:
        proxy.add_fault(method="HEAD", path=r"/addons/metrics/manifests/v1\.0\.1", status=429, retry_after=1)
        started = time.monotonic()
        report = sync_addons(config(f"oci://{proxy.host}/{published.prefix}", synced_v1,
                                    repositories=("metrics",), check_digest=True))
        elapsed = time.monotonic() - started
    assert [(r.repository, r.status) for r in report.results] == [("metrics", "synced")]
    assert proxy.count("HEAD", status=429) == 1 and elapsed >= 1.0


PERSISTENT = {
    "500": ({"method": "GET", "path": BLOBS, "status": 500, "times": None}, "500"),
    "429": ({"method": "GET", "path": BLOBS, "status": 429, "times": None, "retry_after": 0}, "429"),
    "cut": ({"method": "GET", "path": BLOBS, "cut_after": 40, "times": None}, "cut at byte"),
    "wrong bytes": ({"method": "GET", "path": BLOBS, "flip_at": 20, "times": None}, "digest mismatch"),
    "502 on HEAD": ({"method": "HEAD", "path": r"/addons/metrics/", "status": 502, "times": None},
                                   "502"),
}


@pytest.mark.parametrize("case", sorted(PERSISTENT))
def test_persistent_faults_fail_that_addon_only(published: Published, registry: RunningRegistry, synced_v1: Path,
                                                case: str) -> None:
    fault, expected = PERSISTENT[case]
    before = snapshot(synced_v1 / "metrics"), recorded(synced_v1, "metrics")
    with FaultProxy(registry.url) as proxy:
        proxy.add_fault(**fault)  # type: ignore[arg-type]
        lines = Lines()
        started = time.monotonic()
        report = sync_addons(config(f"oci://{proxy.host}/{published.prefix}", synced_v1, check_digest=True,
                                    repositories=("metrics", "dicom")), log=lines.log())
        elapsed = time.monotonic() - started
    metrics, dicom = report.results
    assert (metrics.status, dicom.status) == ("failed", "synced")
    assert expected.lower() in metrics.reason.lower() and "\n" not in metrics.reason
    assert f"[AddonSync][ERROR] Failed to sync 'metrics': {metrics.reason}" in lines.text
    assert "Synced: 1, Skipped (unchanged): 0, Failed: 1" in lines.text
    assert (snapshot(synced_v1 / "metrics"), recorded(synced_v1, "metrics")) == before
    assert installed_files(synced_v1 / "dicom", single=True) == source_files(published.v2 / "dicom", "dicom")
    assert os.listdir(synced_v1 / ".kaddons" / "staging") == []
    assert elapsed < 20  # bounded retries


def test_a_registry_asking_to_wait_fails_the_addon_at_once(published: Published, registry: RunningRegistry,
                                                           synced_v1: Path) -> None:
    """A 429 with ``Retry-After`` that outlasts the client's retries is not retried by the sync at once: the addon
    fails with the wait in its error (the agent's backoff honours it), the others still sync."""
    before = snapshot(synced_v1 / "metrics"), recorded(synced_v1, "metrics")
    with FaultProxy(registry.url) as proxy:
        proxy.add_fault(method="GET", path=BLOBS, status=429, times=None, retry_after=1)
        lines = Lines()
        report = sync_addons(config(f"oci://{proxy.host}/{published.prefix}", synced_v1, check_digest=True,
                                    repositories=("metrics", "dicom")), log=lines.log())
    metrics, dicom = report.results
    assert (metrics.status, dicom.status) == ("failed", "synced"), lines.text
    assert "asked to wait 1s" in metrics.reason
    assert getattr(metrics.error, "retry_after", None) == 1.0
    assert "trying again" not in lines.text
    assert (snapshot(synced_v1 / "metrics"), recorded(synced_v1, "metrics")) == before
