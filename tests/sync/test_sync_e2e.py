"""The main job end to end: real addons exported, pushed to the real registry, synced into a catalog (issue 4).

Requests are counted by a :class:`FaultProxy` in front of the registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kaddons.addons import discover, sync_record
from kaddons.addons.publish import push_archive
from kaddons.oci.models import parse_manifest
from kaddons.oci.registry import Registry
from kaddons.oci.store import fetch_bytes
from kaddons.sync import Syncer, read_state, rollback, sync_addons
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.registry import RunningRegistry
from tests.sync.conftest import (
    PLAIN,
    Lines,
    assert_catalog_matches,
    config,
    export_copy,
    installed_files,
    publish,
    source_files,
    tree,
)

ALL = ["dashboard", "dicom", "ingress-nginx", "ingress-nginx-gw", "ingress-traefik", "metrics", "rollout-argocd",
       "rollout-fluxcd", "storage-smb"]


def layer_count(host: str, name: str, tag: str) -> int:
    with Registry(host, PLAIN) as client:
        repository = client.repository(f"addons/{name}")
        return len(parse_manifest(fetch_bytes(repository, repository.resolve(tag))).layers)


def test_publish_sync_update_delete_rollback(testdata: Path, all_archive: Path, fresh_registry: RunningRegistry,
                                             catalog: Path, tmp_path: Path) -> None:
    pushed = publish(all_archive, fresh_registry.host)
    assert sorted(pushed) == ALL
    with FaultProxy(fresh_registry.url) as proxy:
        # Into an empty catalog: every addon, with the layer 0-3 files of the source.
        lines = Lines()
        report = sync_addons(config(proxy.host, catalog, check_digest=True), log=lines.log())
        assert [(r.repository, r.status) for r in report.results] == [(n, "synced") for n in ALL]
        assert "Addon sync completed. Synced: 9, Skipped (unchanged): 0, Failed: 0" in lines.text
        assert "[AddonSync][ERROR]" not in lines.text
        assert_catalog_matches(testdata, catalog)
        for name, item in pushed.items():
            record = sync_record(catalog, name)
            assert record is not None and record.digest == item.digest
            assert record.reference == f"{proxy.host}/addons/{name}:v1.0.0"
        assert proxy.count("GET", "/blobs/") == sum(layer_count(fresh_registry.host, n, "v1.0.0") for n in ALL)

        # Nothing new: no manifest or blob download, a tag list and a HEAD per addon, one catalog call.
        proxy.clear()
        report = sync_addons(config(proxy.host, catalog, check_digest=True))
        assert report.skipped == len(ALL) and report.synced == report.failed == 0
        assert proxy.count("GET", "/blobs/") == 0 and proxy.count("GET", "/manifests/") == 0
        assert len(proxy.requests) == 1 + 2 * len(ALL)
        # A fixed tag and a configured list: one HEAD per addon, nothing else.
        proxy.clear()
        report = sync_addons(config(proxy.host, catalog, check_digest=True, tag_policy="tag:v1.0.0",
                                    repositories=tuple(ALL)))
        assert report.skipped == len(ALL)
        assert proxy.requests == [("HEAD", f"/v2/addons/{n}/manifests/v1.0.0", 200) for n in ALL]

        # A new version of one addon: only that one is synced, by its digest.
        def readme_v2(source: Path) -> None:
            (source / "metrics" / "README.md").write_text("metrics v2\n")

        v2_source, v2_archive = export_copy(testdata, tmp_path, ["metrics"], readme_v2, "v2")
        v2 = publish(v2_archive, fresh_registry.host, tag="v1.0.1")["metrics"]
        traefik_before = tree(catalog / "ingress" / "traefik")
        proxy.clear()
        report = sync_addons(config(proxy.host, catalog, check_digest=True))
        assert [(r.repository, r.status) for r in report.results] == \
            [(n, "synced" if n == "metrics" else "skipped") for n in ALL]
        assert report.results[ALL.index("metrics")].previous_digest == pushed["metrics"].digest
        assert proxy.count("GET", "/blobs/") == proxy.count("GET", "/v2/addons/metrics/blobs/") == \
            layer_count(fresh_registry.host, "metrics", "v1.0.1")
        assert proxy.count("GET", "/manifests/") == 1
        assert (catalog / "metrics" / "README.md").read_text() == "metrics v2\n"
        assert tree(catalog / "ingress" / "traefik") == traefik_before
        assert read_state(catalog, "metrics").digest == v2.digest  # type: ignore[union-attr]

        # A file deleted from the addon and republished disappears from the catalog.
        def drop_backup(source: Path) -> None:
            readme_v2(source)
            (source / "metrics" / "Backup.ps1").unlink()

        v3_source, v3_archive = export_copy(testdata, tmp_path, ["metrics"], drop_backup, "v3")
        v3 = publish(v3_archive, fresh_registry.host, tag="v1.0.2")["metrics"]
        report = sync_addons(config(proxy.host, catalog, check_digest=True, addons=("metrics",)))
        assert [(r.repository, r.status) for r in report.results] == [("metrics", "synced")]
        assert not (catalog / "metrics" / "Backup.ps1").exists()
        assert installed_files(catalog / "metrics", single=True) == source_files(v3_source / "metrics", "metrics")

        # Rollback restores the previous version and its recorded digest; a second one undoes it.
        result = rollback(catalog, "metrics")
        assert (result.digest, result.replaced_digest) == (v2.digest, v3.digest)
        assert installed_files(catalog / "metrics", single=True) == source_files(v2_source / "metrics", "metrics")
        assert sync_record(catalog, "metrics").digest == v2.digest  # type: ignore[union-attr]
        assert [a.name for a in discover(catalog).addons] == ["dashboard", "dicom", "ingress", "metrics", "rollout",
                                                              "storage"]
        rollback(catalog, "metrics")
        assert installed_files(catalog / "metrics", single=True) == source_files(v3_source / "metrics", "metrics")
        rollback(catalog, "metrics")
        # The next sync brings the newest version back (documented): the registry did not change.
        report = sync_addons(config(proxy.host, catalog, check_digest=True, addons=("metrics",)))
        assert report.synced == 1 and not (catalog / "metrics" / "Backup.ps1").exists()


def test_multi_implementation_update_keeps_the_other_implementations(
        testdata: Path, fresh_registry: RunningRegistry, catalog: Path, tmp_path: Path) -> None:
    _, first = export_copy(testdata, tmp_path, ["ingress"], label="v1")
    publish(first, fresh_registry.host)
    assert sync_addons(config(fresh_registry.host, catalog)).synced == 3

    def change(source: Path) -> None:
        manifest = source / "ingress" / "addon.manifest.yaml"
        manifest.write_text(manifest.read_text().replace("uses nginx as a reverse proxy", "uses NGINX v2", 1))
        (source / "ingress" / "nginx" / "manifests" / "added.yaml").write_text("kind: ConfigMap\n")

    changed, second = export_copy(testdata, tmp_path, ["ingress nginx"], change, "v2")
    publish(second, fresh_registry.host, tag="v2.0.0")
    others = {impl: tree(catalog / "ingress" / impl) for impl in ("traefik", "nginx-gw")}
    report = sync_addons(config(fresh_registry.host, catalog, check_digest=True))
    assert [(r.repository, r.status) for r in report.results] == [
        ("ingress-nginx", "synced"), ("ingress-nginx-gw", "skipped"), ("ingress-traefik", "skipped")]
    assert (catalog / "ingress" / "nginx" / "manifests" / "added.yaml").is_file()
    assert {impl: tree(catalog / "ingress" / impl) for impl in others} == others
    addon = discover(catalog).find("ingress")
    assert [i.name for i in addon.implementations] == ["nginx", "nginx-gw", "traefik"]  # in sync order
    source_nginx = discover(changed).find("ingress", "nginx")
    assert addon.implementations[0].description == source_nginx.description  # the entry was updated (§8.5)
    assert source_nginx.description.endswith("uses NGINX v2")
    # A multi-implementation addon is found at <addon>/<impl>/ (§8.4): unchanged means skipped.
    again = sync_addons(config(fresh_registry.host, catalog, check_digest=True))
    assert again.skipped == 3


def test_oci_layout_as_the_registry(testdata: Path, all_archive: Path, catalog: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    with tarfile.open(all_archive) as tar:
        tar.extractall(layout, filter="data")
    lines = Lines()
    report = sync_addons(config(f"oci-layout:{layout}", catalog, check_digest=True), log=lines.log())
    assert [(r.repository, r.status) for r in report.results] == [(n, "synced") for n in ALL]
    assert_catalog_matches(testdata, catalog)
    assert report.results[0].reference == f"oci-layout:{layout}:dashboard:v1.0.0"
    assert sync_addons(config(f"oci-layout:{layout}", catalog, check_digest=True)).skipped == len(ALL)


def test_removed_addon_directory_is_synced_again(testdata: Path, all_archive: Path, registry: RunningRegistry,
                                                 catalog: Path, tmp_path: Path) -> None:
    prefix = f"{registry.host}/missing-dir"
    push_archive(all_archive, prefix, PLAIN)
    cfg = config(f"oci://{prefix}", catalog, check_digest=True, addons=("dicom", "ingress-traefik"))
    assert sync_addons(cfg).synced == 2
    (catalog / "dicom").rename(tmp_path / "dicom-away")
    lines = Lines()
    report = sync_addons(cfg, log=lines.log())
    assert [(r.repository, r.status) for r in report.results] == [("dicom", "synced"), ("ingress-traefik", "skipped")]
    assert "digest unchanged but addon directory missing -- forcing re-sync" in lines.text
    assert_catalog_matches(testdata, catalog, only={"dicom", "ingress-traefik"})


def test_cli_sync_from_environment_and_rollback(testdata: Path, all_archive: Path, registry: RunningRegistry,
                                                tmp_path: Path) -> None:
    catalog = tmp_path / "k2s" / "addons"
    catalog.mkdir(parents=True)
    push_archive(all_archive, f"{registry.host}/cli", PLAIN)
    env = {**os.environ, "KADDONS_REGISTRY": f"oci://{registry.host}/cli", "KADDONS_ADDONS_DIR": str(catalog),
           "KADDONS_INSECURE": "true", "KADDONS_CHECK_DIGEST": "true", "KADDONS_REPOS": "metrics,addons/dicom"}

    def kaddons(*args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kaddons", *args], capture_output=True, text=True,
                              env={**env, **overrides}, timeout=120)

    first = kaddons("sync")
    assert first.returncode == 0, first.stderr
    assert "[AddonSync] Addon sync completed. Synced: 2, Skipped (unchanged): 0, Failed: 0" in \
        first.stdout.splitlines()[-1]
    assert "'metrics': extracted config files, manifests/, scripts" in first.stdout  # what happened, per addon
    assert "Layer 2 (Helm charts)" not in first.stdout
    assert "[AddonSync][ERROR]" not in first.stdout and first.stderr == ""
    again = kaddons("sync", "-o", "json")
    assert again.returncode == 0 and "Skipped (unchanged): 2" in again.stderr
    assert [(r["repository"], r["status"]) for r in json.loads(again.stdout)] == [("metrics", "skipped"),
                                                                                    ("dicom", "skipped")]
    rows = json.loads(kaddons("ls", "-o", "json").stdout)
    assert {r["exportName"]: r["source"] for r in rows} == {
        "dicom": f"{registry.host}/cli/addons/dicom:v1.0.0", "metrics": f"{registry.host}/cli/addons/metrics:v1.0.0"}
    failed = kaddons("sync", "--addon", "nosuch", "--addon", "metrics", "--tag-policy", "tag:v1.0.0")
    assert failed.returncode == 1
    assert "[AddonSync][ERROR] Failed to sync 'nosuch': " in failed.stdout
    assert "Synced: 0, Skipped (unchanged): 1, Failed: 1" in failed.stdout.splitlines()[-1]  # the summary is last
    assert failed.stderr.startswith("error: 1 addon(s) failed to sync: nosuch (") and failed.stderr.count("\n") == 1
    nothing = kaddons("rollback", "metrics")
    assert nothing.returncode == 3 and nothing.stderr.startswith("error: no previous version of metrics")
    redone = kaddons("sync", "--addon", "metrics", KADDONS_CHECK_DIGEST="false")  # fetched, and the same files
    assert redone.returncode == 0 and "Synced: 0, Skipped (unchanged): 1," in redone.stdout
    assert "has the layers 0-3 already extracted; digest recorded, nothing downloaded" in redone.stdout
    nothing = kaddons("rollback", "metrics")  # still: a re-sync of the same content kept no "previous" copy
    assert nothing.returncode == 3 and nothing.stderr.startswith("error: no previous version of metrics")
    readme = catalog / "metrics" / "README.md"
    readme.write_text("edited on the node\n")
    fixed = kaddons("sync", "--addon", "metrics")  # the record no longer names the files: synced again
    assert fixed.returncode == 0 and "Synced: 1," in fixed.stdout and readme.read_text() != "edited on the node\n"
    back = kaddons("rollback", "metrics", "-o", "json")
    assert back.returncode == 0, back.stderr
    rolled = json.loads(back.stdout)
    assert rolled["exportName"] == "metrics" and rolled["digest"] is None and rolled["replacedDigest"]
    assert readme.read_text() == "edited on the node\n"
    bad = kaddons("sync", "--tag-policy", "semver:>>1")
    assert bad.returncode == 2 and bad.stderr.startswith("error: invalid tag policy")
    down = kaddons("sync", "--registry", "oci://127.0.0.1:9", KADDONS_REPOS="")
    assert down.returncode == 5 and "[AddonSync][ERROR]" in down.stdout
    assert "--repos-file or KADDONS_REPOS" in down.stdout
    assert down.stderr.startswith("error: ") and down.stderr.count("\n") == 1 and "127.0.0.1:9" in down.stderr
    down_json = kaddons("sync", "--registry", "oci://127.0.0.1:9", "-o", "json", KADDONS_REPOS="")
    assert down_json.returncode == 5
    answer = json.loads(down_json.stdout)
    assert answer["exitCode"] == 5 and "127.0.0.1:9" in answer["error"]


def test_one_syncer_serves_parallel_syncs(testdata: Path, all_archive: Path, registry: RunningRegistry,
                                          catalog: Path) -> None:
    """What the agent does: several addons synced at once through one Syncer (one connection pool)."""
    prefix = f"{registry.host}/threads"
    push_archive(all_archive, prefix, PLAIN)
    with Syncer(config(f"oci://{prefix}", catalog, check_digest=True)) as syncer, ThreadPoolExecutor(4) as pool:
        names = syncer.repositories()
        results = list(pool.map(syncer.sync_one, names))
        again = list(pool.map(syncer.sync_one, names))
    assert [r.status for r in results] == ["synced"] * len(ALL) and names == ALL
    assert [r.status for r in again] == ["skipped"] * len(ALL)
    assert_catalog_matches(testdata, catalog)


#: Modules a ``kaddons sync`` that finds every addon unchanged must not import (issue 10 item 28: every FluxCD
#: Job and Argo CD poll is a new process): other commands, YAML, rich, and httpx's own command line.
NOT_FOR_A_NO_OP_SYNC = ("kaddons.cli.cluster", "kaddons.cli.gitops", "kaddons.stacks", "kaddons.gitops", "rich",
                        "ruamel.yaml", "click", "pygments")


def test_cli_no_op_sync_imports_only_what_it_needs(all_archive: Path, registry: RunningRegistry,
                                                   tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    push_archive(all_archive, f"{registry.host}/startup", PLAIN)
    argv = ["kaddons", "sync", "--registry", f"oci://{registry.host}/startup", "--insecure", "--addons-dir",
            str(catalog), "--check-digest", "--addon", "metrics"]
    imported = tmp_path / "modules.json"
    # the command as the console script runs it, writing the names of the imported modules when it exits
    program = ("import atexit, json, sys, runpy\n"
               f"atexit.register(lambda: open({str(imported)!r}, 'w').write(json.dumps(sorted(sys.modules))))\n"
               f"sys.argv = {argv!r}\n"
               "runpy.run_module('kaddons', run_name='__main__')\n")
    first = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "Synced: 1," in first.stdout, first.stderr
    unchanged = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert unchanged.returncode == 0 and "Skipped (unchanged): 1," in unchanged.stdout, unchanged.stderr
    modules = json.loads(imported.read_text())
    assert "kaddons.sync.syncer" in modules and "httpx" in modules  # the hook saw the command run
    assert [m for m in modules if m.split(".")[0] in NOT_FOR_A_NO_OP_SYNC or m.startswith(NOT_FOR_A_NO_OP_SYNC)] \
        == []
