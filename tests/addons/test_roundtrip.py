"""Export -> import of every real addon reproduces the layer 0-3 files of the source (issue: tests on real input)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kaddons.addons import discover
from kaddons.addons.export import ExportOptions, export_addons
from kaddons.addons.importer import import_archive
from tests.helpers.k2s_facts import catalog_files
from tests.helpers.registry import RunningRegistry

OMIT = ExportOptions(omit_images=True, omit_packages=True)


def _expected_files(impl_dir: Path, addon: str) -> dict[str, bytes]:
    """Where each exported source file lands in the imported implementation directory (§3.5, §3.6), by K2s's
    rules as the tests write them (:mod:`tests.helpers.k2s_facts`), not by the exporter under test."""
    return catalog_files(impl_dir, addon)


@pytest.fixture(scope="module")
def imported(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("roundtrip-out")
    archive = export_addons(testdata, [], out, OMIT).path
    catalog = tmp_path_factory.mktemp("roundtrip-catalog")
    import_archive(archive, catalog)
    return catalog


def test_the_imported_catalog_lists_what_the_source_lists(testdata: Path, imported: Path) -> None:
    source, target = discover(testdata), discover(imported)
    assert target.problems == []
    assert [(i.addon, i.name, i.version, i.export_name) for a in target.addons for i in a.implementations] == \
        [(i.addon, i.name, i.version, i.export_name) for a in source.addons for i in a.implementations]


def test_every_implementation_has_exactly_its_layer_0_to_3_files(testdata: Path, imported: Path) -> None:
    for addon in discover(testdata).addons:
        for impl in addon.implementations:
            rel = impl.directory.relative_to(testdata)
            target_dir = imported / rel
            expected = _expected_files(impl.directory, addon.name)
            present = {p.relative_to(target_dir).as_posix() for p in target_dir.rglob("*") if p.is_file()}
            if impl.single:
                present.discard("addon.manifest.yaml")
            else:  # other implementations' folders live below a multi-implementation addon's directory
                assert not (target_dir / "addon.manifest.yaml").exists(), "stray manifest (§7.5 item 6)"
            generated = {"manifests/gitops-sync/kustomization.yaml", "manifests/gitops-sync/sync-job.yaml"}
            assert present == set(expected) | generated, rel
            for name, data in expected.items():
                assert (target_dir / name).read_bytes() == data, f"{rel}/{name}"


def test_files_k2s_does_not_export_stay_out(imported: Path) -> None:
    assert not (imported / "dashboard/build/README.md").exists()
    assert not list((imported / "dashboard").rglob("*.tar.gz"))
    assert (imported / "dicom/orthanc.json").is_file()  # the config layer's flat JSON (§2.4 0 (d), §3.6)
    assert (imported / "storage/smb/config/SmbStorage.json").is_file()
    assert not (imported / "storage/config").exists()  # §7.4: no stray config next to the implementation
    header = (imported / "ingress/addon.manifest.yaml").read_text()
    assert "SPDX-License-Identifier" in header and all(n in header for n in ("nginx", "traefik", "nginx-gw"))


def test_cli_export_push_copy_import_ls(testdata: Path, tmp_path: Path, fresh_registry: RunningRegistry) -> None:
    def kaddons(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "kaddons", *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    out, catalog = tmp_path / "out", tmp_path / "catalog"
    out.mkdir()
    catalog.mkdir()
    exported = json.loads(kaddons("export", "rollout", "--addons-dir", str(testdata), "-d", str(out),
                                  "--omit-images", "--omit-packages", "-o", "json"))
    pushed = json.loads(kaddons("push", exported["path"], fresh_registry.host, "--insecure", "-o", "json"))
    assert [p["exportName"] for p in pushed] == ["rollout-argocd", "rollout-fluxcd"]
    for p in pushed:
        kaddons("copy", p["reference"], f"oci-archive:{tmp_path / p['exportName']}.oci.tar", "--insecure")
        kaddons("import", f"{tmp_path / p['exportName']}.oci.tar", "--addons-dir", str(catalog))
    rows = json.loads(kaddons("ls", "--addons-dir", str(catalog), "-o", "json"))
    assert [(r["name"], r["implementation"]) for r in rows] == [("rollout", "argocd"), ("rollout", "fluxcd")]
