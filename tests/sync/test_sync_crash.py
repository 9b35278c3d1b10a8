"""Crash safety and concurrency of ``kaddons sync`` run as real processes (issue 4: faults; issue 16).

The promise: after SIGKILL at any moment, a reader (``ls``, K2s) sees every addon as the complete old or
the complete new version, listed with its own manifest entry, with no temporary file in it, and a recorded
digest never names content that is not on disk.

* SIGKILL at random points (>= 30 runs), checked at the moment of the kill and after recovery; the next
  sync completes.
* Random kills rarely land inside a swap (it takes microseconds), so a second test kills at every one of
  the file-system changes in turn (rename, replace, unlink, link, mkdir, rmtree, the atomic exchange) of an
  update, a first install and a rollback, single- and multi-implementation addons alike.
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

from kaddons.addons import discover
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
        check_as_a_reader_sees_it(versions, catalog, first_install=False)
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
import os, shutil, sys
from pathlib import Path
limit, calls = int(sys.argv[1]), [0]

def counted(function):
    def call(*args, **kwargs):
        calls[0] += 1
        if calls[0] == limit:
            os._exit(9)
        return function(*args, **kwargs)
    return call

# Every file-system change a sync, an install or a rollback makes.
os.rename, os.replace, os.unlink, os.link, os.mkdir = (counted(os.rename), counted(os.replace), counted(os.unlink),
                                                      counted(os.link), counted(os.mkdir))
shutil.rmtree = counted(shutil.rmtree)
from kaddons.addons import install
install.exchange = counted(install.exchange)
from kaddons.oci.registry import RegistryOptions
from kaddons.sync import SyncConfig, rollback, sync_addons
scenario, registry, catalog = sys.argv[2], sys.argv[3], Path(sys.argv[4])
if scenario == "rollback":
    rollback(catalog, "metrics")
    rollback(catalog, "ingress-nginx")
    sys.exit(0)
report = sync_addons(SyncConfig(registry=registry, addons_dir=catalog, tag_policy="tag:v1.0.1",
                                repositories=("ingress-nginx", "metrics", "ingress-traefik"),
                                options=RegistryOptions(insecure=True), concurrency=1))
sys.exit(report.exit_code)
"""


def check_as_a_reader_sees_it(versions: Versions, catalog: Path, *, first_install: bool) -> None:
    """What ``ls`` and K2s see at the moment of a kill, before anything repairs: every listed implementation
    is complete in one version, its manifest entry is that version's, nothing but its files is in its
    folder, and a recorded digest names what is on disk. Only a first install may find an addon absent."""
    found = discover(catalog)
    assert found.problems == [], found.problems
    listed = {impl.export_name: impl for addon in found.addons for impl in addon.implementations}
    for name in NAMES:
        addon, implementation = LOCATIONS[name]
        folder = addon_path(catalog, addon, implementation)
        if name not in listed:
            assert first_install and not folder.exists(), f"{name}: its folder is there but it is not listed"
            assert sync_record(catalog, name) is None
            continue
        assert folder.is_dir(), f"{name} is listed but its folder is missing"
        version = _version_of(versions, name, folder)  # complete, and no stray (temporary) file in it
        record = sync_record(catalog, name)
        if record is not None:
            assert versions.digests[record.digest] == version, f"{name}: the digest names the other version"
        if name == "ingress-nginx":
            assert listed[name].description == versions.descriptions[version], "manifest entry and folder disagree"
    assert not [p for p in catalog.rglob("*.tmp") if ".kaddons" not in p.parts], "a temporary file is visible"


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["update", "first install", "rollback"])
def test_a_kill_at_every_file_system_step(versions: Versions, tmp_path: Path, scenario: str) -> None:
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    if scenario != "first install":
        assert sync_addons(config(versions.registry, pristine, tag_policy="tag:v1.0.0",
                                  repositories=tuple(NAMES))).synced == len(NAMES)
    if scenario == "rollback":
        assert sync_addons(config(versions.registry, pristine, tag_policy="tag:v1.0.1",
                                  repositories=tuple(NAMES))).synced == len(NAMES)
    catalog = tmp_path / "catalog"
    for step in range(1, 400):
        shutil.rmtree(catalog, ignore_errors=True)
        shutil.copytree(pristine, catalog, symlinks=True)
        code = subprocess.run([sys.executable, "-c", STEP_KILL, str(step), scenario, versions.registry,
                               str(catalog)], timeout=60).returncode
        if code == 0:
            break
        assert code == 9
        check_as_a_reader_sees_it(versions, catalog, first_install=scenario == "first install")
        with catalog_lock(catalog):
            recover(catalog)
        check_as_a_reader_sees_it(versions, catalog, first_install=scenario == "first install")
        staging = catalog / ".kaddons" / "staging"
        assert not staging.exists() or os.listdir(staging) == []
    else:
        pytest.fail("the run never completed")
    assert step > 10  # the kills landed inside the swaps, not only before them
    seen = {name: _version_of(versions, name, addon_path(catalog, *LOCATIONS[name]))
            for name in ("metrics", "ingress-nginx")}
    expected = "v1.0.0" if scenario == "rollback" else "v1.0.1"
    assert seen == {"metrics": expected, "ingress-nginx": expected}
