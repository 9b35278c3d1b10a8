"""Crash safety and concurrency of ``kaddons sync`` run as real processes (issue 4: faults).

* SIGKILL at random points (>= 30 runs): afterwards every addon is the old or the new version complete
  (or, mid-swap, missing with the journal that puts the old one back, which the next run does first),
  and the recorded digest never names content that is not on disk; the next sync completes.
* Random kills rarely land inside a swap (it takes microseconds), so a second test kills the sync at
  every one of its file-system changes in turn (rename, replace, unlink), with the same checks.
* Two syncs at once on one catalog: serialised by the catalog lock, no corruption.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from kaddons.addons import discover, load_manifest
from kaddons.addons.catalog import sync_record
from kaddons.addons.install import catalog_lock, recover
from kaddons.sync import sync_addons
from kaddons.sync.state import addon_path
from tests.helpers.registry import RunningRegistry
from tests.sync.conftest import config, export_copy, installed_files, publish, source_files

NAMES = ["dicom", "ingress-nginx", "ingress-traefik", "metrics"]
LOCATIONS = {"dicom": ("dicom", "dicom"), "ingress-nginx": ("ingress", "nginx"),
             "ingress-traefik": ("ingress", "traefik"), "metrics": ("metrics", "metrics")}
RUNS = 32


@dataclass
class Versions:
    registry: str  # oci://HOST/PREFIX
    files: dict[str, dict[str, dict[str, bytes]]]  # tag -> export name -> files
    digests: dict[str, str]  # manifest digest -> tag
    descriptions: dict[str, str]  # tag -> description of ingress nginx


def _v2(source: Path) -> None:
    (source / "metrics" / "Backup.ps1").unlink()
    (source / "metrics" / "README.md").write_text("metrics v2\n")
    (source / "dicom" / "README.md").write_text("dicom v2\n")
    (source / "ingress" / "nginx" / "manifests" / "added-in-v2.yaml").write_text("kind: ConfigMap\n")
    (source / "ingress" / "traefik" / "README.md").write_text("traefik v2\n")
    manifest = source / "ingress" / "addon.manifest.yaml"
    manifest.write_text(manifest.read_text().replace("uses nginx as a reverse proxy", "uses nginx v2", 1))


@pytest.fixture(scope="module")
def versions(testdata: Path, registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Versions:
    tmp = tmp_path_factory.mktemp("crash")
    prefix = f"{registry.host}/crash-{uuid.uuid4().hex[:8]}"
    selection = ["metrics", "dicom", "ingress nginx", "ingress traefik"]
    files: dict[str, dict[str, dict[str, bytes]]] = {}
    digests: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    for tag, change, label in (("v1.0.0", None, "v1"), ("v1.0.1", _v2, "v2")):
        source, archive = export_copy(testdata, tmp, selection, change, label)
        pushed = publish(archive, prefix, tag=tag)
        digests |= {p.digest: tag for p in pushed.values()}
        files[tag] = {name: source_files(source.joinpath(*dict.fromkeys(LOCATIONS[name])), LOCATIONS[name][0])
                      for name in NAMES}
        descriptions[tag] = discover(source).find("ingress", "nginx").description
    assert files["v1.0.0"]["metrics"] != files["v1.0.1"]["metrics"]
    return Versions(f"oci://{prefix}", files, digests, descriptions)


def _command(versions: Versions, catalog: Path, tag: str) -> list[str]:
    return [sys.executable, "-m", "kaddons", "sync", "--registry", versions.registry, "--addons-dir", str(catalog),
            "--insecure", "--repos", ",".join(NAMES), "--tag-policy", f"tag:{tag}"]


def _version_of(versions: Versions, name: str, folder: Path) -> str:
    present = installed_files(folder, single=LOCATIONS[name][0] == LOCATIONS[name][1])
    matching = [tag for tag, by_name in versions.files.items() if by_name[name] == present]
    assert matching, f"{name}: {folder} is neither version complete"
    return matching[0]


def check_after_kill(versions: Versions, catalog: Path) -> None:
    """The invariants right after a kill, before anything repairs the catalog."""
    for name in NAMES:
        addon, implementation = LOCATIONS[name]
        folder = addon_path(catalog, addon, implementation)
        record = sync_record(catalog, name)
        if not folder.exists():  # killed between the two renames of the swap: the journal brings it back
            assert (catalog / ".kaddons" / "previous" / f"{name}.json").is_file(), name
            assert (catalog / ".kaddons" / "previous" / name).is_dir(), name
            assert record is None, f"{name}: a digest is recorded for content that is not on disk"
            continue
        version = _version_of(versions, name, folder)
        if record is not None:
            assert versions.digests[record.digest] == version, f"{name}: the digest names the other version"
    load_manifest(catalog / "ingress" / "addon.manifest.yaml")  # never half-written
    if (catalog / "metrics").exists():
        load_manifest(catalog / "metrics" / "addon.manifest.yaml")


def check_after_recovery(versions: Versions, catalog: Path) -> dict[str, str]:
    """After the repair every run starts with: each addon present, old or new, listed; returns their versions."""
    with catalog_lock(catalog):
        recover(catalog)
    found = discover(catalog)
    assert found.problems == []
    seen = {}
    for name in NAMES:
        addon, implementation = LOCATIONS[name]
        seen[name] = _version_of(versions, name, addon_path(catalog, addon, implementation))
        record = sync_record(catalog, name)
        assert record is None or versions.digests[record.digest] == seen[name]
    nginx = found.find("ingress", "nginx")
    assert nginx.description == versions.descriptions[seen["ingress-nginx"]], "manifest entry and folder disagree"
    assert [i.name for i in found.find("ingress").implementations] == ["nginx", "traefik"]
    return seen


def test_sigkill_at_random_points_leaves_old_or_new_complete(versions: Versions, catalog: Path) -> None:
    assert sync_addons(config(versions.registry, catalog, tag_policy="tag:v1.0.0",
                              repositories=tuple(NAMES))).synced == len(NAMES)
    # How long a whole run takes once the process has started (its first log line).
    started = subprocess.Popen(_command(versions, catalog, "v1.0.1"), stdout=subprocess.PIPE, text=True)
    assert started.stdout is not None
    started.stdout.readline()
    begin = time.monotonic()
    assert started.wait(timeout=60) == 0
    duration = time.monotonic() - begin
    rng = random.Random(4)
    killed_mid_run = 0
    mixed = set()
    for run in range(RUNS):
        tag = ("v1.0.0", "v1.0.1")[run % 2]
        proc = subprocess.Popen(_command(versions, catalog, tag), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # imports done: the run is starting
        time.sleep(rng.uniform(0, duration * 1.1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        if proc.wait(timeout=30) == -signal.SIGKILL:
            killed_mid_run += 1
        check_after_kill(versions, catalog)
        mixed.add(tuple(sorted(check_after_recovery(versions, catalog).items())))
    assert killed_mid_run >= RUNS // 2  # most kills landed inside a run
    assert len(mixed) > 2  # and left different mixtures of old and new
    # The next normal run completes the sync.
    done = subprocess.run(_command(versions, catalog, "v1.0.1"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    assert set(check_after_recovery(versions, catalog).values()) == {"v1.0.1"}
    assert os.listdir(catalog / ".kaddons" / "staging") == []


def test_two_syncs_at_once_are_serialised(versions: Versions, catalog: Path) -> None:
    procs = [subprocess.Popen(_command(versions, catalog, tag), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for tag in ("v1.0.1", "v1.0.1", "v1.0.0")]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
        # Each run changes every addon, or finds it with exactly the files it would install (a run of the same
        # tag serialised behind another changes nothing on disk).
        counts = re.search(r"Synced: (\d+), Skipped \(unchanged\): (\d+), Failed: 0", out)
        assert counts is not None and int(counts[1]) + int(counts[2]) == 4, out
    seen = check_after_recovery(versions, catalog)
    assert os.listdir(catalog / ".kaddons" / "staging") == []
    # Every addon is complete in one version, with the record of exactly that version.
    for name in NAMES:
        record = sync_record(catalog, name)
        assert record is not None and versions.digests[record.digest] == seen[name]


STEP_KILL = """
import os, sys
from pathlib import Path
limit, calls = int(sys.argv[1]), [0]

def counted(function):
    def call(*args, **kwargs):
        calls[0] += 1
        if calls[0] == limit:
            os._exit(9)
        return function(*args, **kwargs)
    return call

os.rename, os.replace, os.unlink = counted(os.rename), counted(os.replace), counted(os.unlink)
from kaddons.oci.registry import RegistryOptions
from kaddons.sync import SyncConfig, sync_addons
report = sync_addons(SyncConfig(registry=sys.argv[2], addons_dir=Path(sys.argv[3]), tag_policy="tag:v1.0.1",
                                repositories=("ingress-nginx", "metrics"), options=RegistryOptions(insecure=True)))
sys.exit(report.exit_code)
"""


def test_a_kill_at_every_file_system_step_of_a_sync(versions: Versions, tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    assert sync_addons(config(versions.registry, pristine, tag_policy="tag:v1.0.0",
                              repositories=tuple(NAMES))).synced == len(NAMES)
    catalog = tmp_path / "catalog"
    missing = journaled = 0
    for step in range(1, 200):
        shutil.rmtree(catalog, ignore_errors=True)
        shutil.copytree(pristine, catalog, symlinks=True)
        code = subprocess.run([sys.executable, "-c", STEP_KILL, str(step), versions.registry, str(catalog)],
                              timeout=60).returncode
        if code == 0:
            break
        assert code == 9
        journaled += any(p.name.endswith(".json") and not p.name.endswith(".kept.json")
                         for p in (catalog / ".kaddons" / "previous").glob("*"))
        missing += not (catalog / "metrics").exists() or not (catalog / "ingress" / "nginx").exists()
        check_after_kill(versions, catalog)
        check_after_recovery(versions, catalog)
    else:
        pytest.fail("the sync never completed")
    assert step > 20 and missing >= 2 and journaled >= 4  # the swaps' windows were hit
    seen = check_after_recovery(versions, catalog)
    assert (seen["metrics"], seen["ingress-nginx"]) == ("v1.0.1", "v1.0.1")
