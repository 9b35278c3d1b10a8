"""Moving staged implementations into an addons directory: swap, merge, previous version, recovery, lock."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kaddons.addons import discover
from kaddons.addons.install import (
    IMAGES_DIR,
    PREVIOUS_MANIFEST,
    StagedImplementation,
    catalog_lock,
    install_implementation,
    install_shared,
    new_staging,
    recover,
)
from kaddons.errors import AddonManifestError, ContentError, KaddonsError, UnsafeContentError
from tests.addons.conftest import writable_copy
from tests.helpers.k2s_archive import filtered_manifest, snapshot


def stage(addons: Path, source: Path, addon: str, implementation: str, manifest: bytes) -> StagedImplementation:
    """A staged copy of ``source`` (an implementation folder of the test data) without its manifest."""
    staging = new_staging(addons, "test")
    folder = writable_copy(source, staging / "impl")
    (folder / "addon.manifest.yaml").unlink(missing_ok=True)
    return StagedImplementation(addon, implementation, folder, manifest)


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def manifests_found(root: Path) -> list[str]:
    """Every addon.manifest.yaml below root, as K2s's unlimited-depth Go discovery would find them (§1.5)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("addon.manifest.yaml"))


def catalog(addons: Path) -> dict[str, str]:
    """The snapshot of everything but the staging folders (where the tests stage)."""
    return {k: v for k, v in snapshot(addons).items() if not k.startswith(".kaddons/staging/")}


@pytest.fixture
def addons(tmp_path: Path) -> Path:
    path = tmp_path / "addons"
    path.mkdir()
    return path


def test_single_implementation_lands_in_the_addon_folder_with_the_manifest_verbatim(
        addons: Path, testdata: Path) -> None:
    manifest = (testdata / "metrics" / "addon.manifest.yaml").read_bytes()
    installed = install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "metrics", manifest))
    assert installed.directory == addons / "metrics" and installed.export_name == "metrics"
    assert files(addons / "metrics") == files(testdata / "metrics")
    assert installed.files == sorted(files(testdata / "metrics"))
    assert [a.name for a in discover(addons).addons] == ["metrics"]


def test_reinstall_replaces_the_folder_and_keeps_the_previous_version_hidden(addons: Path, testdata: Path) -> None:
    manifest = (testdata / "metrics" / "addon.manifest.yaml").read_bytes()
    install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "metrics", manifest))
    staged = stage(addons, testdata / "metrics", "metrics", "metrics", manifest.replace(b"metrics server", b"m-s"))
    (staged.directory / "Update.ps1").unlink()  # no longer shipped
    (staged.directory / "New.ps1").write_text("new")
    install_implementation(addons, staged)
    assert not (addons / "metrics" / "Update.ps1").exists()
    assert (addons / "metrics" / "New.ps1").read_text() == "new"
    assert b"m-s" in (addons / "metrics" / "addon.manifest.yaml").read_bytes()
    previous = addons / ".kaddons" / "previous" / "metrics"
    assert (previous / "Update.ps1").is_file() and (previous / PREVIOUS_MANIFEST).read_bytes() == manifest
    assert manifests_found(addons) == ["metrics/addon.manifest.yaml"]
    assert discover(addons).problems == []


def test_multi_implementations_merge_and_never_leave_a_stray_manifest(addons: Path, testdata: Path) -> None:
    full = (testdata / "ingress" / "addon.manifest.yaml").read_text(encoding="utf-8")
    for impl in ("nginx", "traefik"):
        staged = stage(addons, testdata / "ingress" / impl, "ingress", impl, filtered_manifest(full, impl).encode())
        (staged.directory / "addon.manifest.yaml").write_text("a stray manifest")
        installed = install_implementation(addons, staged)
        assert installed.directory == addons / "ingress" / impl
        assert installed.manifest_path == addons / "ingress" / "addon.manifest.yaml"
    assert manifests_found(addons) == ["ingress/addon.manifest.yaml"]
    assert files(addons / "ingress" / "nginx") == files(testdata / "ingress" / "nginx")
    addon = discover(addons).find("ingress")
    assert [i.name for i in addon.implementations] == ["nginx", "traefik"]
    assert (addons / "ingress" / "addon.manifest.yaml").read_text().startswith("# SPDX-FileCopyrightText")


def test_updating_one_implementation_leaves_the_others_alone(tmp_path: Path, testdata: Path) -> None:
    addons = writable_copy(testdata, tmp_path / "addons")
    nginx_before = snapshot(addons / "ingress" / "nginx")
    full = (testdata / "ingress" / "addon.manifest.yaml").read_text(encoding="utf-8")
    changed = filtered_manifest(full, "traefik").replace("uses traefik as", "uses traefik 3 as")
    staged = stage(addons, testdata / "ingress" / "traefik", "ingress", "traefik", changed.encode())
    shutil.rmtree(staged.directory / "manifests" / "crds")
    install_implementation(addons, staged)
    assert snapshot(addons / "ingress" / "nginx") == nginx_before
    assert not (addons / "ingress" / "traefik" / "manifests" / "crds").exists()
    addon = discover(addons).find("ingress")
    assert [i.name for i in addon.implementations] == ["nginx", "traefik", "nginx-gw"]
    assert addon.implementations[1].description.endswith("uses traefik 3 as a reverse proxy")


CRASH = """
import os, sys
from pathlib import Path
from kaddons.addons import install
mode = sys.argv[3]
real_rename = os.rename
def rename(source, target):
    if mode == "fallback" and "staging" in str(source):  # the second rename of the two-rename swap
        os._exit(9)
    if mode == "exchanged" and "previous" in str(target):  # after the exchange, keeping the old version
        os._exit(9)
    real_rename(source, target)
install.os.rename = rename
if mode == "fallback":
    install.exchange = lambda a, b: False  # a file system without renameat2(RENAME_EXCHANGE)
addons, source = Path(sys.argv[1]), Path(sys.argv[2])
staging = install.new_staging(addons, "crash")
(staging / "impl").mkdir()
(staging / "impl" / "Enable.ps1").write_text("v2")
install.install_implementation(addons, install.StagedImplementation(
    "metrics", "metrics", staging / "impl", (source / "addon.manifest.yaml").read_bytes()))
"""


def test_recover_puts_back_what_a_two_rename_swap_moved_away(addons: Path, testdata: Path) -> None:
    """Where the file system has no atomic exchange, a crash between the two renames leaves a gap that the
    journal closes."""
    manifest = (testdata / "metrics" / "addon.manifest.yaml").read_bytes()
    install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "metrics", manifest))
    crashed = subprocess.run([sys.executable, "-c", CRASH, str(addons), str(testdata / "metrics"), "fallback"],
                             timeout=60)
    assert crashed.returncode == 9
    assert not (addons / "metrics").exists()  # the crash left the addon missing
    assert recover(addons) == ["metrics"]
    assert files(addons / "metrics") == files(testdata / "metrics")
    assert os.listdir(addons / ".kaddons" / "staging") == []
    assert recover(addons) == []  # nothing left to do


def test_an_exchange_swaps_the_whole_folder_and_recover_keeps_the_old_one(addons: Path, testdata: Path) -> None:
    manifest = (testdata / "metrics" / "addon.manifest.yaml").read_bytes()
    install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "metrics", manifest))
    crashed = subprocess.run([sys.executable, "-c", CRASH, str(addons), str(testdata / "metrics"), "exchanged"],
                             timeout=60)
    assert crashed.returncode == 9
    assert files(addons / "metrics") == {"Enable.ps1": b"v2", "addon.manifest.yaml": manifest}  # new, complete
    assert recover(addons) == []
    kept = addons / ".kaddons" / "previous" / "metrics"
    assert {k: v for k, v in files(kept).items() if k != PREVIOUS_MANIFEST} == \
        {k: v for k, v in files(testdata / "metrics").items() if k != "addon.manifest.yaml"}
    assert os.listdir(addons / ".kaddons" / "staging") == []


def test_an_addon_removed_on_purpose_is_not_brought_back(addons: Path, testdata: Path) -> None:
    manifest = (testdata / "metrics" / "addon.manifest.yaml").read_bytes()
    install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "metrics", manifest))
    install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "metrics", manifest + b"# v2\n"))
    assert (addons / ".kaddons" / "previous" / "metrics").is_dir()
    shutil.rmtree(addons / "metrics")
    assert recover(addons) == []
    assert not (addons / "metrics").exists()


def test_installing_the_installed_content_again_changes_nothing(addons: Path, testdata: Path) -> None:
    manifest = (testdata / "metrics" / "addon.manifest.yaml").read_bytes()
    install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "metrics", manifest + b"# v1\n"))
    install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "metrics", manifest))
    kept = files(addons / ".kaddons" / "previous" / "metrics")
    inode = (addons / "metrics").stat().st_ino
    again = install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "metrics", manifest))
    assert again.unchanged and (addons / "metrics").stat().st_ino == inode
    assert files(addons / ".kaddons" / "previous" / "metrics") == kept  # the v1 kept for rollback stays v1
    assert kept[PREVIOUS_MANIFEST].endswith(b"# v1\n")
    # A multi-implementation addon: same files and the same merged manifest change nothing either.
    ingress = (testdata / "ingress" / "addon.manifest.yaml").read_bytes()
    install_implementation(addons, stage(addons, testdata / "ingress" / "nginx", "ingress", "nginx", ingress))
    before = catalog(addons)
    repeat = install_implementation(addons, stage(addons, testdata / "ingress" / "nginx", "ingress", "nginx", ingress))
    assert repeat.unchanged and catalog(addons) == before
    changed = stage(addons, testdata / "ingress" / "nginx", "ingress", "nginx", ingress)
    (changed.directory / "extra.txt").write_text("new\n")
    assert not install_implementation(addons, changed).unchanged
    assert (addons / "ingress" / "nginx" / "extra.txt").is_file()


@pytest.mark.parametrize(("addon", "implementation"), [("../lib", "../lib"), ("ingress", ".."), ("Metrics", "Metrics"),
                                                       ("ingress", "nginx/../../x")])
def test_invalid_names_are_refused_before_any_path_is_built(tmp_path: Path, testdata: Path, addon: str,
                                                            implementation: str) -> None:
    addons = tmp_path / "catalog" / "addons"
    addons.mkdir(parents=True)
    staged = stage(addons, testdata / "metrics", addon, implementation, b"")
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeContentError, match=r"is not a valid (addon|implementation) name"):
        install_implementation(addons, staged)
    assert snapshot(tmp_path) == before


def test_manifest_must_match_the_addon_and_implementation(addons: Path, testdata: Path) -> None:
    manifest = (testdata / "metrics" / "addon.manifest.yaml").read_bytes()
    catalog_before = catalog(addons)
    with pytest.raises(AddonManifestError, match=r"metadata.name is 'metrics', not 'dashboard'"):
        install_implementation(addons, stage(addons, testdata / "metrics", "dashboard", "dashboard", manifest))
    with pytest.raises(AddonManifestError, match=r"spec.implementations has no 'fast'"):
        install_implementation(addons, stage(addons, testdata / "metrics", "metrics", "fast", manifest))
    assert catalog(addons) == catalog_before


def test_single_implementation_never_replaces_a_multi_implementation_addon(tmp_path: Path, testdata: Path) -> None:
    addons = writable_copy(testdata, tmp_path / "addons")
    manifest = (testdata / "metrics" / "addon.manifest.yaml").read_bytes().replace(b"metrics", b"ingress")
    staged = stage(addons, testdata / "metrics", "ingress", "ingress", manifest)
    before = catalog(addons)
    with pytest.raises(ContentError, match=r"holds addon 'ingress' with implementations nginx, traefik, nginx-gw"):
        install_implementation(addons, staged)
    assert catalog(addons) == before


def test_shared_areas_merge_files_and_refuse_case_clashes(addons: Path) -> None:
    first = new_staging(addons, "images")
    (first / "a.tar").write_bytes(b"a1")
    (first / "b.tar").write_bytes(b"b")
    assert install_shared(addons, IMAGES_DIR, "ingress", first) == ["a.tar", "b.tar"]
    second = new_staging(addons, "images")
    (second / "a.tar").write_bytes(b"a2")
    install_shared(addons, IMAGES_DIR, "ingress", second)
    assert files(addons / ".images" / "ingress") == {"a.tar": b"a2", "b.tar": b"b"}
    third = new_staging(addons, "images")
    (third / "B.tar").write_bytes(b"B")
    with pytest.raises(UnsafeContentError, match=r"'B.tar' collides with 'b.tar'"):
        install_shared(addons, IMAGES_DIR, "ingress", third, dry_run=True)
    with pytest.raises(UnsafeContentError, match=r"not a valid addon name"):
        install_shared(addons, IMAGES_DIR, "..", third)


def test_lock_held_by_another_process_times_out(addons: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from kaddons.addons.install import catalog_lock
        with catalog_lock(Path({str(addons)!r})):
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(KaddonsError, match=r"another kaddons process is changing .*lock"), \
                catalog_lock(addons, timeout=0.2):
            pass
    finally:
        holder.communicate("", timeout=30)
    with catalog_lock(addons, timeout=5):
        pass
