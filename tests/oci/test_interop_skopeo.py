"""Interop with skopeo, an independent OCI implementation, against the real registry.

skopeo re-serialises image indexes (it drops ``artifactType``), so the index digest differs after
skopeo touched it; child manifests and blobs must stay byte-identical in both directions.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kaddons.oci.copy import copy
from kaddons.oci.layout import LayoutStore
from kaddons.oci.models import parse_index
from kaddons.oci.registry import Registry, RegistryOptions
from kaddons.oci.store import fetch_bytes
from tests.helpers.content import make_artifact
from tests.helpers.registry import RunningRegistry

pytestmark = pytest.mark.skipif(
    shutil.which("skopeo") is None, reason="skopeo is not installed (make test installs it)")
PLAIN = RegistryOptions(insecure=True)


def skopeo(*args: str) -> bytes:
    return subprocess.run(["skopeo", *args], check=True, capture_output=True, timeout=120).stdout


def test_we_push_and_skopeo_reads_identical_manifests(tmp_path: Path, registry: RunningRegistry) -> None:
    layout = LayoutStore(tmp_path / "layout", create=True)
    root = make_artifact(layout, "1.0.0")
    with Registry(registry.host, PLAIN) as client:
        copy(layout, "1.0.0", client.repository("interop/ours"), "1.0.0")
    ref = f"docker://{registry.host}/interop/ours"
    assert skopeo("inspect", "--raw", "--tls-verify=false", f"{ref}:1.0.0") == fetch_bytes(layout, root)
    for child in parse_index(fetch_bytes(layout, root)).manifests:
        raw = skopeo("inspect", "--raw", "--tls-verify=false", f"{ref}@{child.digest}")
        assert raw == fetch_bytes(layout, child)
    assert skopeo("list-tags", "--tls-verify=false", ref).count(b"1.0.0") == 1


def test_skopeo_pushes_our_layout_and_we_pull_it_back(tmp_path: Path, registry: RunningRegistry) -> None:
    layout = LayoutStore(tmp_path / "layout", create=True)
    root = make_artifact(layout, "1.0.0")
    children = parse_index(fetch_bytes(layout, root)).manifests
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:1.0.0",
           f"docker://{registry.host}/interop/skopeo:1.0.0")
    back = LayoutStore(tmp_path / "back", create=True)
    with Registry(registry.host, PLAIN) as client:
        result = copy(client.repository("interop/skopeo"), "1.0.0", back, "1.0.0")
    pulled = parse_index(fetch_bytes(back, result.root))
    assert [c.digest for c in pulled.manifests] == [c.digest for c in children]
    for child in children:
        assert fetch_bytes(back, child) == fetch_bytes(layout, child)
    back.validate(deep=True)


def test_skopeo_reads_our_layout_directly(tmp_path: Path) -> None:
    layout = LayoutStore(tmp_path / "layout", create=True)
    root = make_artifact(layout, "1.0.0")
    raw = skopeo("inspect", "--raw", f"oci:{tmp_path / 'layout'}:1.0.0")
    assert raw == fetch_bytes(layout, root)
