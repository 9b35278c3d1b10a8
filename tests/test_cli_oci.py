"""The OCI commands as a user runs them: a real ``kaddons`` process against the real registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kaddons.oci.layout import LayoutStore
from kaddons.oci.models import parse_index
from kaddons.oci.store import fetch_bytes
from tests.helpers.content import make_artifact
from tests.helpers.registry import RunningRegistry, free_port


def kaddons(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([sys.executable, "-m", "kaddons", *args], capture_output=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"kaddons {' '.join(args)} -> {proc.returncode}\n{proc.stderr.decode()}")
    return proc


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, LayoutStore]:
    store = LayoutStore(tmp_path / "layout", create=True)
    make_artifact(store, "1.0.0")
    return tmp_path / "layout", store


def test_copy_layout_registry_archive_layout_keeps_digests(
        tmp_path: Path, registry: RunningRegistry, layout: tuple[Path, LayoutStore]) -> None:
    path, store = layout
    root = store.resolve("1.0.0")
    repo = f"{registry.host}/cli/multi"
    out = kaddons("copy", f"oci-layout:{path}:1.0.0", f"oci://{repo}", "--insecure").stdout.decode()
    assert f"Digest: {root.digest}" in out
    out = kaddons("copy", f"{repo}:1.0.0", f"oci-archive:{tmp_path / 'x.oci.tar'}:v2", "--insecure", "-o", "json")
    data = json.loads(out.stdout)
    assert data["digest"] == root.digest and data["copied"] > 0
    kaddons("copy", f"oci-archive:{tmp_path / 'x.oci.tar'}:v2", f"oci-layout:{tmp_path / 'back'}")
    back = LayoutStore(tmp_path / "back")
    assert back.tags() == ["v2"]
    assert fetch_bytes(back, back.resolve("v2")) == fetch_bytes(store, root)


def test_repo_ls_tags_manifest_and_blob_fetch(
        tmp_path: Path, fresh_registry: RunningRegistry, layout: tuple[Path, LayoutStore]) -> None:
    path, store = layout
    root = store.resolve("1.0.0")
    host = fresh_registry.host
    for repo, tag in [("addons/b", "2.0.0"), ("addons/a", "1.10.0"), ("addons/a", "1.9.0"), ("addons/a", "latest")]:
        kaddons("copy", f"oci-layout:{path}:1.0.0", f"{host}/{repo}:{tag}", "--insecure")
    assert kaddons("repo", "ls", host, "--insecure").stdout.decode().splitlines() == ["addons/a", "addons/b"]
    assert json.loads(kaddons("repo", "ls", f"oci://{host}", "--insecure", "-o", "json").stdout) == [
        "addons/a", "addons/b"]
    tags = kaddons("repo", "tags", f"{host}/addons/a", "--insecure").stdout.decode().splitlines()
    assert tags == ["1.10.0", "1.9.0", "latest"]
    assert kaddons("repo", "tags", f"oci-layout:{path}").stdout.decode().splitlines() == ["1.0.0"]

    raw = kaddons("manifest", "fetch", f"{host}/addons/a:latest", "--insecure").stdout
    assert raw == fetch_bytes(store, root)
    desc = json.loads(kaddons("manifest", "fetch", f"{host}/addons/a:latest", "--insecure", "--descriptor").stdout)
    assert desc["digest"] == root.digest and desc["size"] == root.size

    child = parse_index(raw).manifests[0]
    out_file = tmp_path / "child.json"
    kaddons("blob", "fetch", f"{host}/addons/b@{child.digest}", "--file", str(out_file), "--insecure")
    assert out_file.read_bytes() == fetch_bytes(store, child)
    old = kaddons("blob", "fetch", f"oci-layout:{path}@{child.digest}", "-o", str(tmp_path / "again.json"))
    assert (tmp_path / "again.json").read_bytes() == out_file.read_bytes()  # the old spelling still works
    assert b"warning: -o/--output FILE is deprecated" in old.stderr and b"--file" in old.stderr


def test_bad_reference_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = kaddons("copy", "Not A Reference", f"oci-layout:{tmp_path / 'x'}", check=False)
    assert proc.returncode == 2
    assert "invalid" in one_line_error(proc)
    assert not (tmp_path / "x").exists()


def test_registry_down_is_one_line_and_exit_5(tmp_path: Path, layout: tuple[Path, LayoutStore]) -> None:
    path, _ = layout
    proc = kaddons("copy", f"oci-layout:{path}:1.0.0", f"127.0.0.1:{free_port()}/down/x:1", "--insecure",
                   check=False)
    assert proc.returncode == 5
    assert "127.0.0.1" in one_line_error(proc)


def test_unknown_tag_is_not_found_exit_3(layout: tuple[Path, LayoutStore], tmp_path: Path) -> None:
    path, _ = layout
    proc = kaddons("copy", f"oci-layout:{path}:nope", f"oci-layout:{tmp_path / 'y'}", check=False)
    assert proc.returncode == 3
    assert "nope" in one_line_error(proc)


def test_blob_fetch_of_corrupt_blob_writes_no_file(tmp_path: Path, layout: tuple[Path, LayoutStore]) -> None:
    path, store = layout
    child = parse_index(fetch_bytes(store, store.resolve("1.0.0"))).manifests[0]
    blob = path / "blobs" / "sha256" / child.digest.split(":")[1]
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b"{", b"[", 1))
    target = tmp_path / "out.json"
    proc = kaddons("blob", "fetch", f"oci-layout:{path}@{child.digest}", "--file", str(target), check=False)
    assert proc.returncode == 4
    assert "digest" in one_line_error(proc)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []


@pytest.mark.parametrize("content", [None, "{not json", "[]"], ids=["missing", "malformed", "not-an-object"])
def test_a_bad_registry_config_is_named_even_when_no_login_is_needed(
        tmp_path: Path, registry: RunningRegistry, layout: tuple[Path, LayoutStore], content: str | None) -> None:
    path, _ = layout
    config = tmp_path / "docker" / "config.json"
    if content is not None:
        config.parent.mkdir()
        config.write_text(content)
    proc = kaddons("copy", f"oci-layout:{path}:1.0.0", f"oci://{registry.host}/cli/config-check", "--insecure",
                   "--registry-config", str(config), check=False)
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert str(config) in line
    assert ("does not exist" in line and "--registry-config" in line) if content is None else "fix or remove" in line
    env_proc = subprocess.run([sys.executable, "-m", "kaddons", "repo", "ls", registry.host, "--insecure"],
                              capture_output=True, timeout=120,
                              env={**os.environ, "KADDONS_REGISTRY_CONFIG": str(config)})
    assert env_proc.returncode == 2 and str(config) in one_line_error(env_proc)
