"""Fixtures and helpers of the sync tests: real test-data addons, exported and published to the real registry."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from kaddons.addons import discover
from kaddons.addons.export import ExportOptions, export_addons
from kaddons.addons.publish import PushedAddon, push_archive
from kaddons.oci.registry import RegistryOptions, RetryPolicy
from kaddons.sync import SyncConfig, SyncLog
from tests.addons.conftest import testdata, writable_copy  # noqa: F401  (the testdata fixture, shared)
from tests.helpers.k2s_facts import catalog_files

OMIT = ExportOptions(omit_images=True, omit_packages=True)
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_elapsed=10.0)
PLAIN = RegistryOptions(insecure=True, retry=FAST_RETRY)
GENERATED = {"manifests/gitops-sync/kustomization.yaml", "manifests/gitops-sync/sync-job.yaml"}


def source_files(impl_dir: Path, addon: str) -> dict[str, bytes]:
    """What a synced implementation folder must hold for the source folder ``impl_dir`` (§3.5-3.6): layers 0-3
    routed to their places by K2s's rules as the tests write them (:mod:`tests.helpers.k2s_facts`), without the
    generated gitops-sync files and the manifest."""
    return catalog_files(impl_dir, addon)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder``: relative POSIX path -> content."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def installed_files(folder: Path, *, single: bool) -> dict[str, bytes]:
    """The files of an installed implementation folder, without what sync adds beside the source's
    (the manifest of a single-implementation addon, the generated gitops-sync files)."""
    files = tree(folder)
    if single:
        files.pop("addon.manifest.yaml", None)
    return {k: v for k, v in files.items() if k not in GENERATED}


def assert_catalog_matches(source: Path, catalog: Path, only: set[str] | None = None) -> None:
    """Every implementation of ``source`` (or the export names ``only``) is in ``catalog`` with its files."""
    found = discover(catalog)
    assert found.problems == []
    listed = {i.export_name: i for a in found.addons for i in a.implementations}
    for addon in discover(source).addons:
        for impl in addon.implementations:
            if only is not None and impl.export_name not in only:
                continue
            assert impl.export_name in listed, f"{impl.export_name} missing from the catalog"
            target = listed[impl.export_name].directory
            if not impl.single:
                assert not (target / "addon.manifest.yaml").exists(), "stray manifest (§7.5 item 6)"
                present = {k: v for k, v in tree(target).items() if k not in GENERATED}
            else:
                present = installed_files(target, single=True)
            assert present == source_files(impl.directory, addon.name), impl.export_name
            assert set(tree(target)) >= GENERATED, impl.export_name


@pytest.fixture(scope="session")
def all_archive(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """Every test-data addon exported (without images and packages) into one .oci.tar."""
    return export_addons(testdata, [], tmp_path_factory.mktemp("sync-export"), OMIT).path


def export_copy(testdata: Path, tmp: Path, names: list[str], change: Callable[[Path], None] | None = None,  # noqa: F811
                label: str = "copy") -> tuple[Path, Path]:
    """A writable copy of ``testdata`` changed by ``change``, and the archive of ``names`` exported from it."""
    source = writable_copy(testdata, tmp / f"{label}-addons")
    if change is not None:
        change(source)
    out = tmp / f"{label}-out"
    out.mkdir()
    return source, export_addons(source, names, out, OMIT).path


def publish(archive: Path, host: str, tag: str | None = None) -> dict[str, PushedAddon]:
    """Push every addon of ``archive`` to ``host`` (plain HTTP); export name -> what was pushed."""
    return {p.export_name: p for p in push_archive(archive, host, PLAIN, tag=tag)}


def config(host_or_source: str, catalog: Path, **fields: object) -> SyncConfig:
    """A sync config for a plain-HTTP registry ``HOST:PORT`` (or an ``oci-layout:`` source)."""
    registry = host_or_source if host_or_source.startswith("oci") else f"oci://{host_or_source}"
    return SyncConfig(registry=registry, addons_dir=catalog, options=PLAIN, **fields)  # type: ignore[arg-type]


class Lines:
    """A :class:`SyncLog` sink that keeps the lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, _level: str, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def log(self) -> SyncLog:
        return SyncLog(self)


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """An empty addons directory."""
    path = tmp_path / "catalog"
    path.mkdir()
    return path


def remove(path: Path) -> None:
    """Remove a file or folder of a test-data copy."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
