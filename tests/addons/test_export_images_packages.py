"""Export with images (layers 4-5, pulled from a real registry) and packages (layer 6, from a real HTTP server)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaddons.addons.export import ExportOptions, export_addons
from kaddons.addons.images import image_file_name
from kaddons.errors import NotFoundError
from kaddons.oci.archive import ArchiveStore
from kaddons.oci.registry import Registry, RegistryOptions
from tests.helpers.http_server import StaticServer
from tests.helpers.images import push_image
from tests.helpers.k2s_facts import FORMAT as fmt
from tests.helpers.registry import RunningRegistry, free_port

MANIFEST = """\
apiVersion: v1
kind: AddonManifest
metadata:
  name: demo
  description: an addon with images and packages
spec:
  implementations:
    - name: demo
      offline_usage:
        linux:
          repos: []
          deb: []
          curl:
            - url: {url}/tools/helper.sh
              destination: /usr/local/bin/helper.sh
          additionalImages:
            - {host}/export-test/extra:2.0
        windows:
          curl:
            - url: {url}/tools/tool.zip
              destination: bin\\tool.exe
      commands:
        enable:
          script:
            subPath: Enable.ps1
        disable:
          script:
            subPath: Disable.ps1
"""


@pytest.fixture
def demo_addon(tmp_path: Path, registry: RunningRegistry) -> Iterator[tuple[Path, StaticServer]]:
    plain = RegistryOptions(insecure=True)
    with Registry(registry.host, plain) as client:
        push_image(client.repository("export-test/app"), "1.0", salt="app")
        push_image(client.repository("export-test/extra"), "2.0", salt="extra")
        push_image(client.repository("export-test/win"), "1.0", salt="win")
    files = tmp_path / "files"
    (files / "tools").mkdir(parents=True)
    (files / "tools/helper.sh").write_bytes(b"#!/bin/sh\necho helper\n")
    (files / "tools/tool.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    server = StaticServer(files)
    server.__enter__()
    addon = tmp_path / "addons/demo"
    (addon / "manifests").mkdir(parents=True)
    (addon / "addon.manifest.yaml").write_text(MANIFEST.format(url=server.url, host=registry.host))
    (addon / "Enable.ps1").write_text("# enable\n")
    (addon / "Disable.ps1").write_text("# disable\n")
    (addon / "manifests/app.yaml").write_text(
        f"spec:\n  containers:\n    - image: {registry.host}/export-test/app:1.0\n"
        f"    - image: {registry.host}/export-test/win:1.0 #windows_image\n")
    yield addon.parent, server
    server.__exit__(None, None, None)


def _layer_members(archive: Path, title: str) -> dict[str, bytes]:
    store = ArchiveStore(archive)
    manifest_desc = store.index().manifests[0]
    with store.fetch(manifest_desc) as stream:
        manifest = json.loads(stream.read())
    desc = next(d for d in manifest["layers"] if d["annotations"][fmt.ANN_TITLE] == title)
    spec = next(s for s in fmt.LAYERS if s.title == title)
    assert desc["mediaType"] == spec.media_type
    with tarfile.open(archive) as outer:
        data = outer.extractfile(f"blobs/sha256/{desc['digest'][7:]}").read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz" if spec.gzip else "r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_images_and_packages_fill_layers_4_to_6(demo_addon: tuple[Path, StaticServer], registry: RunningRegistry,
                                                tmp_path: Path) -> None:
    addons, _server = demo_addon
    out = tmp_path / "out"
    out.mkdir()
    options = ExportOptions(registry_options=lambda host: RegistryOptions(insecure=True))
    result = export_addons(addons, ["demo"], out, options)
    assert result.implementations[0].layers == [
        "config.tar.gz", "manifests.tar.gz", "scripts.tar.gz", "images-linux.tar", "images-windows.tar",
        "packages.tar.gz"]
    ArchiveStore(result.path).validate(deep=True)
    linux = _layer_members(result.path, "images-linux.tar")
    app, extra = f"{registry.host}/export-test/app:1.0", f"{registry.host}/export-test/extra:2.0"
    assert sorted(linux) == sorted([image_file_name(app, windows=False), image_file_name(extra, windows=False)])
    windows = _layer_members(result.path, "images-windows.tar")
    assert list(windows) == [image_file_name(f"{registry.host}/export-test/win:1.0", windows=True)]
    assert next(iter(windows)).startswith("windows_")
    # Each member is an OCI archive of the image: a Linux one holds the linux/amd64 manifest only.
    member = tmp_path / "app.tar"
    member.write_bytes(linux[image_file_name(app, windows=False)])
    image = ArchiveStore(member)
    image.validate(deep=True)
    (entry,) = image.index().manifests
    assert entry.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert entry.ref_name == app
    packages = _layer_members(result.path, "packages.tar.gz")
    assert packages == {"linuxpackages/helper.sh": b"#!/bin/sh\necho helper\n",
                        "windowspackages/tool.zip": b"PK\x05\x06" + b"\0" * 18}


def test_image_cache_makes_a_second_export_identical_without_pulling(demo_addon: tuple[Path, StaticServer],
                                                                     tmp_path: Path) -> None:
    addons, _server = demo_addon
    cache = tmp_path / "cache"
    paths = []
    for run in ("one", "two"):
        out = tmp_path / run
        out.mkdir()
        options = ExportOptions(omit_packages=True, image_cache=cache,
                                registry_options=lambda host: RegistryOptions(insecure=True))
        paths.append(export_addons(addons, ["demo"], out, options).path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert len(list(cache.glob("*.tar"))) == 3


def test_missing_image_fails_the_export_and_leaves_nothing(demo_addon: tuple[Path, StaticServer],
                                                           registry: RunningRegistry, tmp_path: Path) -> None:
    addons, _server = demo_addon
    (addons / "demo/manifests/gone.yaml").write_text(f"image: {registry.host}/export-test/gone:9.9\n")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(NotFoundError, match="gone"):
        export_addons(addons, ["demo"], out, ExportOptions(registry_options=lambda h: RegistryOptions(insecure=True)))
    assert list(out.iterdir()) == []


def test_cli_insecure_registry_flag(demo_addon: tuple[Path, StaticServer], registry: RunningRegistry,
                                    tmp_path: Path) -> None:
    addons, _server = demo_addon

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kaddons", "export", "demo", "--addons-dir", str(addons),
                               "-d", str(tmp_path), "--omit-packages", *extra], capture_output=True, text=True,
                              timeout=120)

    tls = run()  # the test registry speaks plain HTTP: HTTPS must fail, in one line
    assert tls.returncode == 5 and len(tls.stderr.strip().splitlines()) >= 1 and "Traceback" not in tls.stderr
    ok = run("--insecure-registry", registry.host)
    assert ok.returncode == 0, ok.stderr
    assert "images-linux.tar" in ok.stderr


def test_an_unreachable_image_registry_points_to_omit_images(tmp_path: Path) -> None:
    addon = tmp_path / "addons" / "demo"
    (addon / "manifests").mkdir(parents=True)
    down = f"127.0.0.1:{free_port()}"  # nothing listens: what an air-gapped machine sees
    (addon / "addon.manifest.yaml").write_text(MANIFEST.format(url=f"http://{down}", host=down))
    (addon / "Enable.ps1").write_text("# enable\n")
    (addon / "Disable.ps1").write_text("# disable\n")
    (addon / "manifests" / "app.yaml").write_text(f"image: {down}/app:1.0\n")
    done = subprocess.run([sys.executable, "-m", "kaddons", "export", "demo", "--addons-dir",
                           str(tmp_path / "addons"), "-d", str(tmp_path / "out"), "--omit-packages"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 5 and "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: demo: its images cannot be pulled") and "--omit-images" in line
    assert "--insecure" not in line


def test_the_bundled_examples_find_every_file_their_images_are_named_in() -> None:
    """examples/addons/metrics names ../common/manifests/windows-exporter/daemonset.yaml (K2s's layout)."""
    from kaddons.addons import discover
    from kaddons.addons.images import discover_images

    examples = Path(__file__).resolve().parents[2] / "examples" / "addons"
    catalog = discover(examples)
    assert catalog.problems == []
    for addon in catalog.addons:
        for impl in addon.implementations:
            images = discover_images(impl, addon.directory)  # raises for a file that is not there
            if addon.name == "metrics":
                assert any("windows-exporter" in image for image in images.windows), images
