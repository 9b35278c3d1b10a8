"""The parts of a sync one by one: recorded state, configuration, log lines, discovery, compare, rollback."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from kaddons.addons import discover
from kaddons.addons.catalog import digest_path, sidecar_path
from kaddons.addons.importer import import_archive
from kaddons.addons.install import catalog_lock, kept_record
from kaddons.addons.publish import push_archive
from kaddons.errors import InvalidReferenceError, KaddonsError, NotFoundError, UsageError
from kaddons.sync import (
    SyncConfig,
    Syncer,
    SyncLog,
    SyncState,
    parse_registry,
    parse_repositories,
    read_repos_file,
    read_state,
    rollback,
    sync_addons,
)
from kaddons.sync.state import clear_state, write_state
from kaddons.sync.steps import compare
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.registry import RunningRegistry
from tests.sync.conftest import PLAIN, Lines, config, export_copy, installed_files, publish, source_files, tree

DIGEST = "sha256:" + "ab" * 32


# --- recorded state (§4.4 [COMPAT]) ------------------------------------------------------------------


def test_state_is_written_as_k2s_writes_it_and_read_with_or_without_bom(catalog: Path) -> None:
    state = SyncState(DIGEST, "host/addons/metrics:v1", "metrics", "metrics", "v1")
    write_state(catalog, "metrics", state)
    assert digest_path(catalog, "metrics").read_bytes() == DIGEST.encode()  # no BOM, no newline
    assert read_state(catalog, "metrics") == state
    digest_path(catalog, "metrics").write_bytes(b"\xef\xbb\xbf" + DIGEST.upper().replace("SHA256", "sha256").encode()
                                                + b"\r\n")
    assert read_state(catalog, "metrics") == state  # K2s's BOM, whitespace and case
    digest_path(catalog, "metrics").write_bytes(b"\xef\xbb\xbfsha256:" + b"cd" * 32)
    assert read_state(catalog, "metrics") == SyncState("sha256:" + "cd" * 32)  # a K2s sync since: sidecar stale
    digest_path(catalog, "metrics").write_bytes(b"garbage")
    assert read_state(catalog, "metrics") is None
    clear_state(catalog, "metrics")
    assert not digest_path(catalog, "metrics").exists() and not sidecar_path(catalog, "metrics").exists()
    clear_state(catalog, "metrics")  # twice is fine


def test_compare_says_what_to_do(catalog: Path) -> None:
    assert compare(catalog, "metrics", DIGEST).message == "'metrics': first sync run"
    write_state(catalog, "metrics", SyncState(DIGEST, None, "metrics", "metrics"))
    changed = compare(catalog, "metrics", "sha256:" + "00" * 32)
    assert not changed.skip and changed.message == f"'metrics': digest changed (was: {DIGEST})"
    missing = compare(catalog, "metrics", DIGEST)
    assert not missing.skip and "addon directory missing -- forcing re-sync" in missing.message
    (catalog / "metrics").mkdir()
    (catalog / "metrics" / "addon.manifest.yaml").write_text("x")
    assert compare(catalog, "metrics", DIGEST.upper().replace("SHA256", "sha256")).skip
    write_state(catalog, "ingress-nginx", SyncState(DIGEST, None, "ingress", "nginx"))
    (catalog / "ingress").mkdir()
    (catalog / "ingress" / "addon.manifest.yaml").write_text("x")
    assert not compare(catalog, "ingress-nginx", DIGEST).skip  # the implementation folder is missing (§8.4)
    (catalog / "ingress" / "nginx").mkdir()
    assert compare(catalog, "ingress-nginx", DIGEST).skip
    digest_path(catalog, "dicom").write_text(DIGEST)  # only K2s's file: the manifest must say where it lives
    assert compare(catalog, "dicom", DIGEST).unknown_location


# --- configuration -----------------------------------------------------------------------------------


def test_registry_forms() -> None:
    assert str(parse_registry("oci://127.0.0.1:5000")) == "oci://127.0.0.1:5000"
    assert parse_registry("127.0.0.1:5000/team/").prefix == "team/"
    layout = parse_registry("oci-layout:/srv/addons")
    assert (layout.kind, layout.path) == ("layout", Path("/srv/addons"))
    for bad in ("", "oci-layout:", "oci://host:port:x", "oci://h:5000/addons:v1"):
        with pytest.raises(UsageError):
            parse_registry(bad)
    with pytest.raises(InvalidReferenceError):
        parse_registry("oci://Bad Host")


def test_repository_lists(tmp_path: Path) -> None:
    assert parse_repositories(" metrics, addons/dicom  ingress-nginx,,metrics ") == ["metrics", "dicom",
                                                                                   "ingress-nginx"]
    assert parse_repositories("team/addons/metrics", "team/") == ["metrics"]
    for bad in ("addons/a/b", "../lib", "Metrics"):
        with pytest.raises(UsageError, match="not a valid addon repository name"):
            parse_repositories(bad)
    listed = tmp_path / "repos.txt"
    listed.write_text("\ufeff# addons to sync\nmetrics\n\naddons/ingress-nginx  # nginx\n")
    assert read_repos_file(listed) == ["metrics", "ingress-nginx"]
    with pytest.raises(UsageError, match="cannot be read"):
        read_repos_file(tmp_path / "nope.txt")


def test_config_validates_its_input(catalog: Path) -> None:
    cfg = SyncConfig(registry="h:5000", addons_dir=str(catalog), addons=("addons/metrics",),  # type: ignore[arg-type]
                     tag_policy="semver:>=1.0.0")
    assert (cfg.addons, str(cfg.policy), cfg.addons_dir) == (("metrics",), "semver:>=1.0.0", catalog)
    with pytest.raises(UsageError, match="invalid tag policy"):
        SyncConfig(registry="h:5000", addons_dir=catalog, tag_policy="newest")
    with pytest.raises(UsageError, match="attempts"):
        SyncConfig(registry="h:5000", addons_dir=catalog, attempts=0)


def test_log_lines_have_the_k2s_form() -> None:
    lines = Lines()
    log = SyncLog(lines, clock=lambda: time.struct_time((2026, 8, 22, 16, 23, 8, 0, 0, -1)))
    log.info("a")
    log.warn("b")
    log.error("c\nd")
    assert lines.lines == ["2026-08-22 16:23:08 [AddonSync] a", "2026-08-22 16:23:08 [AddonSync][WARN] b",
                           "2026-08-22 16:23:08 [AddonSync][ERROR] c", "2026-08-22 16:23:08 [AddonSync][ERROR] d"]
    real = Lines()
    SyncLog(real).info("x")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[AddonSync\] x", real.lines[0])


# --- discovery and selection ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(testdata: Path, registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """metrics and dicom published below a prefix of their own; returns ``HOST/PREFIX``."""
    prefix = f"{registry.host}/parts-{uuid.uuid4().hex[:8]}"
    _, archive = export_copy(testdata, tmp_path_factory.mktemp("parts"), ["metrics", "dicom"], label="v1")
    publish(archive, prefix)
    return prefix


def test_a_registry_without_catalog_api_needs_a_list(small: str, registry: RunningRegistry, catalog: Path,
                                                     tmp_path: Path) -> None:
    prefix = small.split("/", 1)[1]
    with FaultProxy(registry.url) as proxy:
        proxy.add_fault(path=r"/v2/_catalog", status=404, times=None)
        lines = Lines()
        with pytest.raises(NotFoundError, match="needs --repos-file or KADDONS_REPOS"):
            sync_addons(config(f"oci://{proxy.host}/{prefix}", catalog), log=lines.log())
        assert "[AddonSync][ERROR]" in lines.text
        report = sync_addons(config(f"oci://{proxy.host}/{prefix}", catalog, repositories=("dicom", "metrics")))
        assert [(r.repository, r.status) for r in report.results] == [("dicom", "synced"), ("metrics", "synced")]
        assert proxy.count(path="_catalog") == 1


def test_discovery_skips_what_cannot_be_an_addon_and_warns(small: str, registry: RunningRegistry, catalog: Path,
                                                           tmp_path: Path, testdata: Path) -> None:
    _, archive = export_copy(testdata, tmp_path, ["metrics"], label="nested")
    push_archive(archive, f"{small}/addons/nested", PLAIN)  # lands in PREFIX/addons/nested/addons/metrics
    lines = Lines()
    report = sync_addons(config(f"oci://{small}", catalog, check_digest=True), log=lines.log())
    assert [r.repository for r in report.results] == ["dicom", "metrics"]
    assert "[AddonSync][WARN] Skipping repository" in lines.text and "nested/addons/metrics" in lines.text


def test_empty_registry_is_a_warning_not_a_failure(fresh_registry: RunningRegistry, catalog: Path) -> None:
    lines = Lines()
    report = sync_addons(config(fresh_registry.host, catalog), log=lines.log())
    assert report.results == [] and report.exit_code == 0
    assert "[AddonSync][WARN] No addon repositories found" in lines.text
    assert "Addon sync completed. Synced: 0, Skipped (unchanged): 0, Failed: 0" in lines.text


def test_missing_addons_directory_stops_the_run(small: str, tmp_path: Path) -> None:
    lines = Lines()
    with pytest.raises(NotFoundError, match="does not exist"):
        sync_addons(config(f"oci://{small}", tmp_path / "nope"), log=lines.log())
    assert "[AddonSync][ERROR]" in lines.text


def test_a_k2s_digest_file_without_sidecar_costs_one_manifest_get(small: str, registry: RunningRegistry,
                                                                  catalog: Path) -> None:
    prefix = small.split("/", 1)[1]
    assert sync_addons(config(f"oci://{small}", catalog, addons=("dicom",))).synced == 1
    digest = read_state(catalog, "dicom").digest  # type: ignore[union-attr]
    sidecar_path(catalog, "dicom").unlink()
    digest_path(catalog, "dicom").write_bytes(b"\xef\xbb\xbf" + digest.encode())  # as K2s writes it
    with FaultProxy(registry.url) as proxy:
        report = sync_addons(config(f"oci://{proxy.host}/{prefix}", catalog, addons=("dicom",), check_digest=True))
    assert [(r.repository, r.status) for r in report.results] == [("dicom", "skipped")]
    assert [(m, p.rsplit("/", 2)[-2]) for m, p, _ in proxy.requests] == [("GET", "tags"), ("HEAD", "manifests"),
                                                                         ("GET", "manifests")]


def test_layout_source_skips_entries_that_are_not_addons(testdata: Path, all_archive: Path, catalog: Path,
                                                         tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    with tarfile.open(all_archive) as tar:
        tar.extractall(layout, filter="data")
    index = json.loads((layout / "index.json").read_text())
    dicom = next(e for e in index["manifests"] if e["annotations"]["vnd.k2s.addon.export-name"] == "dicom")
    index["manifests"].append({**dicom, "mediaType": "application/vnd.oci.image.index.v1+json"})
    (layout / "index.json").write_text(json.dumps(index))
    lines = Lines()
    report = sync_addons(config(f"oci-layout:{layout}", catalog, addons=("dicom",)), log=lines.log())
    assert [(r.repository, r.status) for r in report.results] == [("dicom", "synced")]
    assert "[AddonSync][WARN] Skipping oci-layout:" in lines.text and "is not an image manifest" in lines.text
    [unknown] = sync_addons(config(f"oci-layout:{layout}", catalog, addons=("nosuch",))).results
    assert unknown.status == "failed" and "no addon 'nosuch'" in unknown.reason


# --- rollback ---------------------------------------------------------------------------------------


def test_rollback_of_a_multi_implementation_addon_restores_its_entry(testdata: Path, registry: RunningRegistry,
                                                                    catalog: Path, tmp_path: Path) -> None:
    prefix = f"{registry.host}/rollback-{uuid.uuid4().hex[:8]}"
    v1, first = export_copy(testdata, tmp_path, ["ingress"], label="v1")
    publish(first, prefix)

    def change(source: Path) -> None:
        manifest = source / "ingress" / "addon.manifest.yaml"
        manifest.write_text(manifest.read_text().replace("uses nginx as a reverse proxy", "uses nginx v2", 1))
        (source / "ingress" / "nginx" / "manifests" / "cluster-local-ingress.yaml").unlink()

    v2, second = export_copy(testdata, tmp_path, ["ingress nginx"], change, "v2")
    publish(second, prefix, tag="v2.0.0")
    cfg = config(f"oci://{prefix}", catalog, check_digest=True, addons=("ingress-nginx", "ingress-traefik"))
    assert sync_addons(config(f"oci://{prefix}", catalog, tag_policy="tag:v1.0.0")).synced == 3
    assert kept_record(catalog, "ingress-nginx") == (False, None)
    v1_digest = read_state(catalog, "ingress-nginx").digest  # type: ignore[union-attr]
    assert sync_addons(cfg).synced == 1
    assert kept_record(catalog, "ingress-nginx")[1]["digest"] == v1_digest
    traefik = tree(catalog / "ingress" / "traefik")
    result = rollback(catalog, "addons/ingress-nginx")
    assert result.digest == v1_digest and result.directory == catalog / "ingress" / "nginx"
    assert {k: v for k, v in tree(catalog / "ingress" / "nginx").items() if "gitops-sync" not in k} == \
        source_files(v1 / "ingress" / "nginx", "ingress")
    ingress = discover(catalog).find("ingress")
    assert [i.name for i in ingress.implementations] == ["nginx", "nginx-gw", "traefik"]
    assert ingress.implementations[0].description == discover(v1).find("ingress", "nginx").description
    assert tree(catalog / "ingress" / "traefik") == traefik
    assert [p for p in catalog.rglob("addon.manifest.yaml") if len(p.relative_to(catalog).parts) != 2] == []
    assert discover(v2).find("ingress", "nginx").description.endswith("nginx v2")


def test_rollback_refusals(small: str, catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no addon named metrics in .*: installed: none"):
        rollback(catalog, "metrics")
    assert sync_addons(config(f"oci://{small}", catalog, addons=("metrics",))).synced == 1
    with pytest.raises(NotFoundError, match="no previous version of metrics is kept"):
        rollback(catalog, "metrics")
    with pytest.raises(NotFoundError, match=r"no addon named metrcs in .*: did you mean metrics\? installed: metrics"):
        rollback(catalog, "metrcs")
    with pytest.raises(NotFoundError, match="no addon named storage-smb"):  # "NAME IMPL" is read as the export name
        rollback(catalog, "storage smb")
    with pytest.raises(NotFoundError, match="does not exist"):
        rollback(tmp_path / "nope", "metrics")
    with pytest.raises(UsageError):
        rollback(catalog, "../lib")
    with catalog_lock(catalog, timeout=5), pytest.raises(KaddonsError, match="another kaddons process"):
        rollback(catalog, "metrics", lock_timeout=0.1)


def test_an_import_replaced_version_can_be_rolled_back_without_a_digest(small: str, testdata: Path, catalog: Path,
                                                                       tmp_path: Path) -> None:
    def change(source: Path) -> None:
        (source / "metrics" / "README.md").write_text("imported\n")

    _, archive = export_copy(testdata, tmp_path, ["metrics"], change, "imported")
    import_archive(archive, catalog)
    assert sync_addons(config(f"oci://{small}", catalog, addons=("metrics",))).synced == 1
    result = rollback(catalog, "metrics")
    assert result.digest is None and read_state(catalog, "metrics") is None  # imported: nothing recorded
    assert installed_files(catalog / "metrics", single=True)["README.md"] == b"imported\n"


def test_sync_one_refuses_names_that_break_the_rule(small: str, catalog: Path) -> None:
    with Syncer(config(f"oci://{small}", catalog)) as syncer:
        bad = syncer.sync_one("../lib")
        good = syncer.sync_one("addons/dicom")
    assert bad.status == "failed" and "not a valid addon repository name" in bad.reason
    assert (good.repository, good.status) == ("dicom", "synced")
    assert sorted(p.name for p in catalog.iterdir()) == [".addon-sync-digests", ".kaddons", "dicom"]


# --- records and kept versions stay true (issue 10 items 2-3) ----------------------------------------


def test_a_resync_of_unchanged_content_changes_nothing_and_keeps_the_previous_version(
        small: str, testdata: Path, catalog: Path, tmp_path: Path) -> None:
    def change(source: Path) -> None:
        (source / "metrics" / "README.md").write_text("imported\n")

    _, archive = export_copy(testdata, tmp_path, ["metrics"], change, "imported")
    import_archive(archive, catalog)
    [first] = sync_addons(config(f"oci://{small}", catalog, addons=("metrics",))).results
    assert first.status == "synced"
    synced = tree(catalog / "metrics")
    inode = (catalog / "metrics").stat().st_ino
    lines = Lines()
    [again] = sync_addons(config(f"oci://{small}", catalog, addons=("metrics",)), log=lines.log()).results
    assert (again.status, again.reason, again.digest) == ("skipped", "same layers", first.digest)
    assert "nothing downloaded" in lines.text
    state = read_state(catalog, "metrics")
    assert state is not None
    write_state(catalog, "metrics", SyncState(state.digest))  # a K2s sync record: the files must be compared
    [third] = sync_addons(config(f"oci://{small}", catalog, addons=("metrics",)), log=lines.log()).results
    assert (third.status, third.reason) == ("skipped", "content unchanged") and "nothing changed on disk" in lines.text
    assert (catalog / "metrics").stat().st_ino == inode and tree(catalog / "metrics") == synced  # no swap
    assert read_state(catalog, "metrics").digest == first.digest  # type: ignore[union-attr]
    result = rollback(catalog, "metrics")  # the imported version is still the kept one
    assert installed_files(catalog / "metrics", single=True)["README.md"] == b"imported\n"
    assert (result.digest, result.replaced_digest) == (None, first.digest)


def test_rollback_to_the_installed_version_is_an_error(small: str, catalog: Path) -> None:
    assert sync_addons(config(f"oci://{small}", catalog, addons=("metrics",))).synced == 1
    current = read_state(catalog, "metrics")
    assert current is not None
    previous = catalog / ".kaddons" / "previous"
    previous.mkdir(parents=True)  # what an older kaddons kept after re-installing the same content
    shutil.copytree(catalog / "metrics", previous / "metrics")
    (previous / "metrics" / "addon.manifest.yaml").rename(previous / "metrics" / "addon.manifest.yaml.previous")
    (previous / "metrics.kept.json").write_text(json.dumps({"target": "metrics", "record": current.to_json(),
                                                            "manifest": None}))
    before = tree(catalog / "metrics")
    with pytest.raises(UsageError, match=f"previous version of metrics is the version installed \\({current.digest}"):
        rollback(catalog, "metrics")
    assert read_state(catalog, "metrics") == current and tree(catalog / "metrics") == before
    # The same files kept without a record (an import): still nothing to roll back to, and the record stays.
    (previous / "metrics.kept.json").write_text(json.dumps({"target": "metrics", "record": None, "manifest": None}))
    with pytest.raises(UsageError, match="nothing to roll back to"):
        rollback(catalog, "metrics")
    assert read_state(catalog, "metrics") == current and tree(catalog / "metrics") == before


def test_import_over_a_synced_addon_drops_its_record(small: str, testdata: Path, catalog: Path,
                                                     tmp_path: Path) -> None:
    [synced] = sync_addons(config(f"oci://{small}", catalog, addons=("metrics",))).results
    registry_files = tree(catalog / "metrics")

    def change(source: Path) -> None:
        (source / "metrics" / "README.md").write_text("imported\n")

    _, archive = export_copy(testdata, tmp_path, ["metrics"], change, "imported")
    import_archive(archive, catalog)
    assert read_state(catalog, "metrics") is None  # the files no longer are what the registry digest names
    assert not digest_path(catalog, "metrics").exists() and not sidecar_path(catalog, "metrics").exists()
    lines = Lines()
    [again] = sync_addons(config(f"oci://{small}", catalog, check_digest=True, addons=("metrics",)),
                          log=lines.log()).results
    assert (again.status, again.digest) == ("synced", synced.digest), lines.text
    assert "unchanged, skipping" not in lines.text and tree(catalog / "metrics") == registry_files


def test_a_record_counts_only_while_the_files_are_the_ones_synced(small: str, catalog: Path) -> None:
    cfg = config(f"oci://{small}", catalog, check_digest=True, addons=("metrics",))
    assert sync_addons(cfg).synced == 1
    synced = tree(catalog / "metrics")
    assert [r.status for r in sync_addons(cfg).results] == ["skipped"]
    readme = catalog / "metrics" / "README.md"
    readme.write_bytes(readme.read_bytes() + b"edited on the node\n")  # K2s's import or a person changed it
    lines = Lines()
    [result] = sync_addons(cfg, log=lines.log()).results
    assert result.status == "synced" and "the files on disk changed since the sync" in lines.text
    assert tree(catalog / "metrics") == synced
    assert [r.status for r in sync_addons(cfg).results] == ["skipped"]


def test_a_change_of_source_is_said_in_the_log_and_the_result(small: str, testdata: Path, registry: RunningRegistry,
                                                               catalog: Path, tmp_path: Path) -> None:
    """A prefix ending in /addons reads REG/addons/addons/<name>: a mistake that used to replace an
    installed addon with another repository's, saying only "digest changed"."""
    def change(source: Path) -> None:
        (source / "metrics" / "README.md").write_text("from elsewhere\n")

    _, archive = export_copy(testdata, tmp_path, ["metrics"], change, "elsewhere")
    other = f"{registry.host}/other-{uuid.uuid4().hex[:8]}/addons"
    publish(archive, other)
    assert sync_addons(config(f"oci://{small}", catalog, addons=("metrics",))).synced == 1
    lines = Lines()
    [result] = sync_addons(config(f"oci://{other}", catalog, check_digest=True, addons=("metrics",)),
                           log=lines.log()).results
    assert result.status == "synced"
    assert result.previous_reference == f"{small}/addons/metrics"
    assert result.to_json()["previousReference"] == f"{small}/addons/metrics"
    assert f"ends in /addons: addons are read from oci://{other}/addons/<name>" in lines.text
    assert f"replacing the version from {small}/addons/metrics with one from {other}/addons/metrics" in lines.text
    # The same source again is no change of provenance; an imported addon replaced by a sync is said too.
    [same] = sync_addons(config(f"oci://{other}", catalog, addons=("metrics",))).results
    assert (same.status, same.previous_reference) == ("skipped", None)
    _, dicom = export_copy(testdata, tmp_path, ["dicom"], lambda s: (s / "dicom" / "x.txt").write_text("x"), "dicom")
    import_archive(dicom, catalog)
    [replaced] = sync_addons(config(f"oci://{small}", catalog, addons=("dicom",))).results
    assert replaced.previous_reference == "(not synced from a registry)"


def test_a_new_manifest_with_the_same_layers_is_recorded_without_a_download(
        testdata: Path, all_archive: Path, registry: RunningRegistry, catalog: Path, tmp_path: Path) -> None:
    """An addon exported alone, then within "all" (vnd.k2s.export.type differs), or by another kaddons or K2s
    version: a new manifest digest, the same layers 0-3. The registry's log shows no blob request."""
    prefix = f"{registry.host}/layers-{uuid.uuid4().hex[:8]}"
    alone = export_copy(testdata, tmp_path, ["metrics"], label="alone")[1]
    publish(alone, prefix)
    [first] = sync_addons(config(f"oci://{prefix}", catalog, check_digest=True, addons=("metrics",))).results
    inode = (catalog / "metrics").stat().st_ino
    publish(all_archive, prefix, tag="v1.0.1")  # the same addon exported within "all"
    with FaultProxy(registry.url) as proxy:
        lines = Lines()
        [again] = sync_addons(config(f"oci://{proxy.host}/{prefix.split('/', 1)[1]}", catalog, check_digest=True,
                                     addons=("metrics",)), log=lines.log()).results
    assert (again.status, again.reason) == ("skipped", "same layers") and again.digest != first.digest
    assert read_state(catalog, "metrics").digest == again.digest  # type: ignore[union-attr]
    assert proxy.count(path="/manifests/") >= 1 and proxy.count(path="/blobs/") == 0, proxy.requests
    assert (catalog / "metrics").stat().st_ino == inode
