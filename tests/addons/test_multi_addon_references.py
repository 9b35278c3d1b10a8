"""Tags shared by several addons in one archive or layout (every K2s multi-addon export tags each addon
``v1.0.0``): a tag that names several manifests is an error listing them, and a layout tag that names
another addon is moved only when asked. Through the CLI, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kaddons.addons.export import ExportOptions, export_addons
from kaddons.oci.layout import LayoutStore


def kaddons(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kaddons", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def two_addons(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A K2s multi-addon export of metrics and dicom (both tagged v1.0.0) and export name -> digest."""
    result = export_addons(testdata, ["metrics", "dicom"], tmp_path_factory.mktemp("multi"),
                           ExportOptions(omit_images=True, omit_packages=True))
    index = json.loads(subprocess.run(["tar", "-xOf", result.path, "index.json"], capture_output=True,
                                      check=True).stdout)
    digests = {e["annotations"]["vnd.k2s.addon.export-name"]: e["digest"] for e in index["manifests"]}
    assert sorted(digests) == ["dicom", "metrics"]
    assert {e["annotations"]["org.opencontainers.image.ref.name"] for e in index["manifests"]} == {"v1.0.0"}
    return result.path, digests


def test_an_ambiguous_tag_lists_the_candidates_and_the_way_out(two_addons: tuple[Path, dict[str, str]],
                                                               tmp_path: Path) -> None:
    archive, digests = two_addons
    for args in (("copy", f"oci-archive:{archive}:v1.0.0", f"oci-layout:{tmp_path / 'out'}"),
                 ("manifest", "fetch", f"oci-archive:{archive}:v1.0.0")):
        line = one_line_error(kaddons(*args), 2)
        assert "tag 'v1.0.0' names 2 different manifests" in line
        assert f"metrics {digests['metrics']}" in line and f"dicom {digests['dicom']}" in line
        assert "@sha256:" in line
    assert not (tmp_path / "out").exists()
    fetched = kaddons("manifest", "fetch", f"oci-archive:{archive}@{digests['dicom']}")
    assert fetched.returncode == 0 and '"vnd.k2s.addon.name":"dicom"' in fetched.stdout.replace(" ", "")


def test_a_layout_tag_naming_another_addon_is_moved_only_when_asked(two_addons: tuple[Path, dict[str, str]],
                                                                    tmp_path: Path) -> None:
    archive, digests = two_addons
    layout = tmp_path / "layout"
    first = kaddons("copy", f"oci-archive:{archive}@{digests['metrics']}", f"oci-layout:{layout}:v1.0.0")
    assert first.returncode == 0, first.stderr
    before = (layout / "index.json").read_bytes()
    refused = one_line_error(kaddons("copy", f"oci-archive:{archive}@{digests['dicom']}",
                                     f"oci-layout:{layout}:v1.0.0"), 2)
    assert f"tag 'v1.0.0' in OCI layout {layout} already names metrics {digests['metrics']}" in refused
    assert "--move-tag" in refused and f"@{digests['dicom']}" in refused
    assert (layout / "index.json").read_bytes() == before
    # Ways out: a tag of its own keeps both addons in the layout ...
    assert kaddons("copy", f"oci-archive:{archive}@{digests['dicom']}", f"oci-layout:{layout}:dicom-v1.0.0") \
        .returncode == 0
    store = LayoutStore(layout)
    assert store.resolve("v1.0.0").digest == digests["metrics"]
    assert store.resolve("dicom-v1.0.0").digest == digests["dicom"]
    # ... and --move-tag moves it on purpose (the same copy again is no conflict).
    again = kaddons("copy", f"oci-archive:{archive}@{digests['metrics']}", f"oci-layout:{layout}:v1.0.0")
    assert again.returncode == 0, again.stderr
    moved = kaddons("copy", f"oci-archive:{archive}@{digests['dicom']}", f"oci-layout:{layout}:v1.0.0",
                    "--move-tag")
    assert moved.returncode == 0, moved.stderr
    assert LayoutStore(layout).resolve("v1.0.0").digest == digests["dicom"]
