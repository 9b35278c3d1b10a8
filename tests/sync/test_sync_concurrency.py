"""``kaddons sync --concurrency N`` (issue 4, polling many addons faster): up to N addons are checked at once,
yet the log, the results and the catalog are those of a sequential run, and a failing addon disturbs no other.

Real addons exported and pushed to the real registry; a :class:`FaultProxy` in front of it delays answers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from kaddons.addons.format import LayerKind, layer_spec
from kaddons.addons.publish import push_archive
from kaddons.errors import UsageError
from kaddons.sync import sync_addons
from kaddons.sync.config import SyncConfig, parse_concurrency
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.k2s_archive import addon_artifact, raw_tar
from tests.helpers.registry import RunningRegistry
from tests.sync.conftest import PLAIN, Lines, assert_catalog_matches, config, tree
from tests.sync.test_sync_e2e import ALL
from tests.sync.test_sync_hostile import member, push_artifact, with_layer

_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
_NAMED = re.compile(r"(?:Processing|Failed to sync|Saved digest for) '([^']+)'|/addons/([a-z0-9-]+)")


@pytest.fixture(scope="module")
def prefix(registry: RunningRegistry, all_archive: Path) -> str:
    """Every test-data addon pushed once, to ``<prefix>/addons/<name>:v1.0.0`` of the shared registry."""
    name = f"concurrency-{uuid.uuid4().hex[:8]}"
    push_archive(all_archive, f"{registry.host}/{name}", PLAIN)
    return name


def blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """The per-addon blocks of a sync log: (addon of the ``Processing`` line, its lines up to the next block or
    the summary)."""
    found: list[tuple[str, list[str]]] = []
    for line in lines:
        if "Addon sync completed." in line:
            break
        started = re.search(r"\[AddonSync\] Processing '([^']+)'", line)
        if started:
            found.append((started.group(1), []))
        if found:
            found[-1][1].append(line)
    return found


def assert_blocks_whole(lines: list[str]) -> None:
    """Every line of an addon's block that names an addon names that one (no line of another addon in it)."""
    for name, block in blocks(lines):
        for line in block:
            for match in _NAMED.finditer(line):
                assert (match.group(1) or match.group(2)) == name, f"block of {name!r} holds: {line}"


def without_stamps(lines: list[str], catalog: Path) -> list[str]:
    return [_STAMP.sub("", line).replace(str(catalog), "CATALOG") for line in lines]


def test_concurrent_sync_logs_and_installs_as_a_sequential_one(testdata: Path, registry: RunningRegistry,
                                                                prefix: str, tmp_path: Path) -> None:
    runs = {}
    with FaultProxy(registry.url) as proxy:
        for concurrency in (1, 4):
            catalog = tmp_path / f"catalog-{concurrency}"
            catalog.mkdir()
            if concurrency == 4:  # the first addons answer last: later ones are ready to install first
                proxy.add_fault(method="HEAD", path="/addons/dashboard/manifests/", delay=0.5)
                proxy.add_fault(method="HEAD", path="/addons/ingress-nginx/manifests/", delay=0.5)
            lines = Lines()
            report = sync_addons(config(f"oci://{proxy.host}/{prefix}", catalog, check_digest=True,
                                        concurrency=concurrency), log=lines.log())
            runs[concurrency] = (report, lines.lines, catalog)
    (sequential, sequential_log, sequential_catalog), (parallel, parallel_log, parallel_catalog) = runs[1], runs[4]
    assert [(r.repository, r.status) for r in parallel.results] == [(n, "synced") for n in ALL]
    assert [name for name, _ in blocks(parallel_log)] == ALL
    assert_blocks_whole(parallel_log)
    # Line for line the sequential run's log (times aside), summary and final lines included.
    assert without_stamps(parallel_log, parallel_catalog) == without_stamps(sequential_log, sequential_catalog)
    assert [r.to_json() | {"directory": None} for r in parallel.results] == \
        [r.to_json() | {"directory": None} for r in sequential.results]
    # Installed in discovery order: the merged ingress manifest lists nginx, nginx-gw, traefik as a sequential run.
    assert_catalog_matches(testdata, parallel_catalog)
    for folder in sorted(p.name for p in sequential_catalog.iterdir() if not p.name.startswith(".")):
        assert tree(parallel_catalog / folder) == tree(sequential_catalog / folder), folder


def test_failing_addons_do_not_disturb_the_others(testdata: Path, registry: RunningRegistry, all_archive: Path,
                                                  catalog: Path, tmp_path: Path) -> None:
    prefix = f"failing-{uuid.uuid4().hex[:8]}"
    push_archive(all_archive, f"{registry.host}/{prefix}", PLAIN)
    dicom = addon_artifact(testdata, "dicom")  # dicom's own artifact, its scripts layer hostile
    evil = [member("./Enable.ps1", None, tarfile.SYMTYPE, "/etc/passwd")]
    with_layer(dicom, LayerKind.SCRIPTS, raw_tar(evil, gzip=layer_spec(LayerKind.SCRIPTS).gzip))
    push_artifact(tmp_path, registry.host, f"{prefix}/addons/dicom", dicom, tag="v1.0.1")
    names = ("dashboard", "no-such-addon", "metrics", "dicom", "ingress-nginx", "storage-smb")
    lines = Lines()
    report = sync_addons(config(f"oci://{registry.host}/{prefix}", catalog, check_digest=True, concurrency=4,
                                repositories=names), log=lines.log())
    assert [(r.repository, r.status) for r in report.results] == [
        ("dashboard", "synced"), ("no-such-addon", "failed"), ("metrics", "synced"), ("dicom", "failed"),
        ("ingress-nginx", "synced"), ("storage-smb", "synced")]
    assert report.exit_code == 1
    assert "symbolic link" in report.results[3].reason and "\n" not in report.results[3].reason
    assert [name for name, _ in blocks(lines.lines)] == list(names)
    assert_blocks_whole(lines.lines)
    for name, block in blocks(lines.lines):
        failed = [line for line in block if f"[AddonSync][ERROR] Failed to sync '{name}': " in line]
        assert len(failed) == (1 if name in ("no-such-addon", "dicom") else 0), name
    assert "Addon sync completed. Synced: 4, Skipped (unchanged): 0, Failed: 2" in lines.text
    assert lines.lines[-2].endswith("[AddonSync][ERROR] 2 addon(s) failed to sync: no-such-addon, dicom")
    assert "Addon sync completed. Synced: " in lines.lines[-1]  # the summary line stays last
    assert_catalog_matches(testdata, catalog, only={"dashboard", "metrics", "ingress-nginx", "storage-smb"})
    assert not (catalog / "dicom").exists()


def test_addons_are_checked_at_once(registry: RunningRegistry, prefix: str, catalog: Path) -> None:
    names = ("dashboard", "dicom", "metrics", "storage-smb")
    with FaultProxy(registry.url) as proxy:
        fields = {"check_digest": True, "tag_policy": "tag:v1.0.0", "repositories": names}
        assert sync_addons(config(f"oci://{proxy.host}/{prefix}", catalog, **fields)).synced == 4
        proxy.clear()
        proxy.add_fault(method="HEAD", path="/manifests/", delay=0.3, times=None)
        walls = {}
        for concurrency in (4, 1):
            started = time.perf_counter()
            report = sync_addons(config(f"oci://{proxy.host}/{prefix}", catalog, concurrency=concurrency, **fields))
            walls[concurrency] = time.perf_counter() - started
            assert [(r.repository, r.status) for r in report.results] == [(n, "skipped") for n in names]
        assert proxy.count("HEAD", "/manifests/", 200) == len(proxy.requests) == 8  # one HEAD per addon, nothing else
    assert walls[4] < 0.9 < 1.2 < walls[1], walls


def test_cli_concurrency_option_and_environment(registry: RunningRegistry, prefix: str, catalog: Path) -> None:
    with FaultProxy(registry.url) as proxy:
        env = {**os.environ, "KADDONS_REGISTRY": f"oci://{proxy.host}/{prefix}", "KADDONS_ADDONS_DIR": str(catalog),
               "KADDONS_INSECURE": "true", "KADDONS_CHECK_DIGEST": "true"}

        def kaddons(*args: str, **overrides: str) -> tuple[subprocess.CompletedProcess[str], float]:
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "kaddons", "sync", *args], capture_output=True, text=True,
                                  env={**env, **overrides}, timeout=120)
            return done, time.perf_counter() - started

        first, _ = kaddons("--concurrency", "3", "-o", "json")
        assert first.returncode == 0, first.stderr
        assert [(r["repository"], r["status"]) for r in json.loads(first.stdout)] == [(n, "synced") for n in ALL]
        assert [name for name, _ in blocks(first.stderr.splitlines())] == ALL
        assert_blocks_whole(first.stderr.splitlines())

        # Unchanged, every HEAD delayed 0.4 s: the variable's 9 at once, or the option's 1 (it wins) in turn.
        proxy.add_fault(method="HEAD", path="/manifests/", delay=0.4, times=None)
        at_once, at_once_wall = kaddons(KADDONS_CONCURRENCY="9")
        in_turn, in_turn_wall = kaddons("--concurrency", "1", KADDONS_CONCURRENCY="9")
    for done in (at_once, in_turn):
        assert done.returncode == 0, done.stderr
        assert f"Synced: 0, Skipped (unchanged): {len(ALL)}, Failed: 0" in done.stdout
        assert [name for name, _ in blocks(done.stdout.splitlines())] == ALL
    assert in_turn_wall - at_once_wall > 0.4 * (len(ALL) - 1) - 1.0, (at_once_wall, in_turn_wall)

    for args, variable in ((("--concurrency", "0"), None), (("--concurrency", "65"), None), ((), "many"),
                           ((), "1.5")):
        bad, _ = kaddons(*args, **({"KADDONS_CONCURRENCY": variable} if variable else {}))
        assert bad.returncode == 2 and bad.stdout == "", bad.stderr
        assert bad.stderr.startswith("error: --concurrency/KADDONS_CONCURRENCY ") and bad.stderr.count("\n") == 1
        assert "a whole number from 1 to 64" in bad.stderr


@pytest.mark.parametrize("value", [0, -1, 65, "x", "", "1.5", True])
def test_invalid_concurrency_is_refused(catalog: Path, value: object) -> None:
    with pytest.raises(UsageError, match="a whole number from 1 to 64"):
        SyncConfig(registry="oci://127.0.0.1:5000", addons_dir=catalog, concurrency=value)  # type: ignore[arg-type]


def test_concurrency_values() -> None:
    assert [parse_concurrency(v) for v in (" 8 ", "1", 64, "064")] == [8, 1, 64, 64]


@pytest.mark.parametrize("args,variable", [(("--concurrency", "0"), None), ((), "many")])
def test_the_agent_refuses_a_bad_concurrency_in_one_line(tmp_path: Path, args: tuple[str, ...],
                                                         variable: str | None) -> None:
    env = {**os.environ, **({"KADDONS_CONCURRENCY": variable} if variable else {})}
    done = subprocess.run([sys.executable, "-m", "kaddons", "agent", "--registry", "oci://127.0.0.1:9",
                           "--addons-dir", str(tmp_path), *args], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: --concurrency/KADDONS_CONCURRENCY ")
