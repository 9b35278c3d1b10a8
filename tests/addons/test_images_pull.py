"""Pulling addon images into OCI archives (spec §2.7 steps 5-6) from the real registry."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaddons.addons.images import (
    CONTAINERD_IMAGE_NAME,
    SOURCE_DIGEST,
    ImageSet,
    image_file_name,
    parse_image_reference,
    pull_images,
)
from kaddons.errors import DigestMismatchError, InvalidReferenceError, NotFoundError, UsageError
from kaddons.oci import mediatypes as mt
from kaddons.oci.archive import ArchiveStore
from kaddons.oci.models import Descriptor
from kaddons.oci.registry import Registry, RegistryOptions, Repository, RetryPolicy
from kaddons.oci.store import fetch_bytes
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.images import WINDOWS_OS_VERSION, push_image
from tests.helpers.registry import RunningRegistry

FAST = RegistryOptions(insecure=True, retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02))


def plain(_registry: str) -> RegistryOptions:
    return FAST


@pytest.fixture
def client(registry: RunningRegistry) -> Iterator[Registry]:
    with Registry(registry.host, FAST) as running:
        yield running


@pytest.fixture
def repo(client: Registry) -> Repository:
    """A fresh repository of the session registry."""
    return client.repository(f"images/{uuid.uuid4().hex[:12]}")


@pytest.fixture
def proxy(registry: RunningRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as running:
        yield running


def ref_of(repo: Repository, tag: str = "1.0", host: str | None = None) -> str:
    return f"{host or repo.registry.host}/{repo.name}:{tag}"


def only_entry(path: Path) -> Descriptor:
    with ArchiveStore(path) as archive:
        archive.validate(deep=True)
        entries = archive.index().manifests
    assert len(entries) == 1
    return entries[0]


def archived_digests(path: Path) -> set[str]:
    with ArchiveStore(path) as archive:
        return {name.rpartition("/")[2] for name in archive._open().members if name.startswith("blobs/sha256/")}


def hexes(digests: set[str]) -> set[str]:
    return {d.removeprefix("sha256:") for d in digests}


# --- references and file names -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "name", "endpoint", "target"), [
    ("nginx", "docker.io/library/nginx:latest", "registry-1.docker.io", "latest"),
    ("nginx:1.27", "docker.io/library/nginx:1.27", "registry-1.docker.io", "1.27"),
    ("index.docker.io/bitnami/redis:7", "docker.io/bitnami/redis:7", "registry-1.docker.io", "7"),
    ("docker.io/jodogne/orthanc-plugins:1.13.0", "docker.io/jodogne/orthanc-plugins:1.13.0",
     "registry-1.docker.io", "1.13.0"),
    ("localhost/app", "localhost/app:latest", "localhost", "latest"),
    ("localhost:5000/a/b/c:v1", "localhost:5000/a/b/c:v1", "localhost:5000", "v1"),
    ("127.0.0.1:5000/team/app@sha256:" + "a" * 64, "127.0.0.1:5000/team/app@sha256:" + "a" * 64,
     "127.0.0.1:5000", "sha256:" + "a" * 64),
    ("registry.k8s.io/pause:3.10@sha256:" + "b" * 64, "registry.k8s.io/pause:3.10@sha256:" + "b" * 64,
     "registry.k8s.io", "sha256:" + "b" * 64),
    ("registry.k8s.io/metrics-server/metrics-server:v0.7.2", "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
     "registry.k8s.io", "v0.7.2"),
])
def test_references_are_normalised_as_docker_does(text: str, name: str, endpoint: str, target: str) -> None:
    ref = parse_image_reference(text)
    assert (ref.name, ref.endpoint, ref.target) == (name, endpoint, target)


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("nginx latest", "white space"),
    ("Nginx", "lowercase"),
    ("registry.k8s.io/Pause:3.10", "lowercase"),
    ("nginx:-bad", "invalid tag"),
    ("nginx@sha512:" + "a" * 128, "sha256"),
    ("nginx@sha256:abc", "sha256"),
    ("bad_host:5000:1/x", "registry"),
    ("example.com//x:1", "repository"),
])
def test_bad_references_name_the_image(text: str, why: str) -> None:
    with pytest.raises(InvalidReferenceError) as err:
        parse_image_reference(text)
    assert f"invalid image reference {text!r}" in str(err.value)
    assert why in str(err.value)


def test_file_names_follow_k2s() -> None:
    assert image_file_name("registry.k8s.io/metrics-server/metrics-server:v0.7.2", windows=False) \
        == "registry.k8s.io_metrics-server_metrics-server_v0.7.2.tar"
    assert image_file_name("shsk2s.azurecr.io/prometheus-community/windows-exporter:0.31.8-hp", windows=True) \
        == "windows_shsk2s.azurecr.io_prometheus-community_windows-exporter_0.31.8-hp.tar"
    assert image_file_name("localhost:5000/a@sha256:" + "c" * 64, windows=False) \
        == "localhost_5000_asha256_" + "c" * 64 + ".tar"


# --- pulling -------------------------------------------------------------------------------------------------

def test_linux_index_archives_only_the_requested_platform(repo: Repository, tmp_path: Path) -> None:
    image = push_image(repo, "1.0", salt="linux")
    reference = ref_of(repo)
    [pulled] = pull_images(ImageSet(linux=[reference]), tmp_path, options_for=plain)
    assert pulled.file_name == image_file_name(reference, windows=False)
    assert pulled.path == tmp_path / pulled.file_name and pulled.path.is_file()
    assert (pulled.reference, pulled.windows, pulled.reused) == (reference, False, False)
    assert pulled.digest == image.manifests["linux/amd64"].digest
    entry = only_entry(pulled.path)
    assert entry.digest == pulled.digest and entry.media_type == mt.OCI_MANIFEST
    assert entry.annotations == {mt.ANNOTATION_REF_NAME: reference, CONTAINERD_IMAGE_NAME: reference,
                                 SOURCE_DIGEST: image.root.digest}
    assert entry.platform is not None and (entry.platform.os, entry.platform.architecture) == ("linux", "amd64")
    with ArchiveStore(pulled.path) as archive:
        assert fetch_bytes(archive, entry) == image.manifest_bytes["linux/amd64"]
    stored = archived_digests(pulled.path)
    assert hexes(image.blobs["linux/amd64"]) <= stored
    assert not hexes(image.blobs["linux/arm64/v8"] | image.blobs["windows/amd64"]) & stored
    assert image.root.digest.removeprefix("sha256:") not in stored
    assert sorted(p.name for p in tmp_path.iterdir()) == [pulled.file_name]  # no staging left behind


def test_another_platform_is_selected_on_request(repo: Repository, tmp_path: Path) -> None:
    image = push_image(repo, "1.0", salt="arm")
    [pulled] = pull_images(ImageSet(linux=[ref_of(repo)]), tmp_path, options_for=plain, platform="linux/aarch64")
    assert pulled.digest == image.manifests["linux/arm64/v8"].digest
    assert only_entry(pulled.path).platform.variant == "v8"  # type: ignore[union-attr]


def test_windows_image_keeps_every_platform(repo: Repository, tmp_path: Path) -> None:
    image = push_image(repo, "1.0", salt="windows")
    reference = ref_of(repo)
    [pulled] = pull_images(ImageSet(windows=[reference]), tmp_path, options_for=plain)
    assert pulled.file_name.startswith("windows_") and pulled.windows
    assert pulled.digest == image.root.digest
    entry = only_entry(pulled.path)
    assert (entry.digest, entry.media_type) == (image.root.digest, mt.OCI_INDEX)
    assert entry.annotations == {mt.ANNOTATION_REF_NAME: reference, CONTAINERD_IMAGE_NAME: reference}
    with ArchiveStore(pulled.path) as archive:
        assert fetch_bytes(archive, entry) == image.root_bytes
    assert hexes(set().union(*image.blobs.values())) <= archived_digests(pulled.path)


def test_single_manifest_image_is_archived_as_is(repo: Repository, tmp_path: Path) -> None:
    image = push_image(repo, "1.0", salt="single", index=False)
    [pulled] = pull_images(ImageSet(linux=[ref_of(repo)]), tmp_path, options_for=plain)
    entry = only_entry(pulled.path)
    assert entry.digest == pulled.digest == image.root.digest
    assert SOURCE_DIGEST not in (entry.annotations or {})


def test_digest_reference_is_pulled_by_digest(repo: Repository, tmp_path: Path) -> None:
    image = push_image(repo, "1.0", salt="digest")
    reference = f"{repo.registry.host}/{repo.name}@{image.manifests['linux/amd64'].digest}"
    [pulled] = pull_images(ImageSet(linux=[reference]), tmp_path, options_for=plain)
    assert pulled.digest == image.manifests["linux/amd64"].digest
    assert only_entry(pulled.path).annotations[mt.ANNOTATION_REF_NAME] == reference  # type: ignore[index]


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed (make test installs it)")
def test_skopeo_reads_our_archives(repo: Repository, tmp_path: Path) -> None:
    image = push_image(repo, "1.0", salt="skopeo")
    pulled = pull_images(ImageSet(linux=[ref_of(repo)], windows=[ref_of(repo)]), tmp_path, options_for=plain)
    linux, windows = pulled

    def inspect(path: Path) -> bytes:
        return subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{path}"], check=True,
                              capture_output=True, timeout=120).stdout

    assert inspect(linux.path) == image.manifest_bytes["linux/amd64"]
    assert inspect(windows.path) == image.root_bytes
    config = subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{linux.path}"], check=True,
                            capture_output=True, timeout=120).stdout
    assert (json.loads(config)["os"], json.loads(config)["architecture"]) == ("linux", "amd64")


def test_existing_archive_is_reused_after_one_head_request(repo: Repository, proxy: FaultProxy,
                                                           tmp_path: Path) -> None:
    image = push_image(repo, "1.0", salt="reuse-1")
    images = ImageSet(linux=[ref_of(repo, host=proxy.host)], windows=[ref_of(repo, host=proxy.host)])
    first = pull_images(images, tmp_path, options_for=plain)
    assert [p.reused for p in first] == [False, False]
    assert proxy.count("GET", "/blobs/") > 0
    before = {p.path: p.path.read_bytes() for p in first}
    proxy.clear()

    again = pull_images(images, tmp_path, options_for=plain)
    assert [p.reused for p in again] == [True, True]
    assert [p.digest for p in again] == [p.digest for p in first]
    assert proxy.requests and all(method == "HEAD" and "/manifests/1.0" in path
                                  for method, path, _ in proxy.requests)
    assert proxy.count("HEAD") == 2  # one per image, nothing else
    assert {p.path: p.path.read_bytes() for p in again} == before

    proxy.clear()  # a new push to the tag: the Linux archive is replaced, with the new content
    newer = push_image(repo, "1.0", salt="reuse-2")
    [linux] = pull_images(ImageSet(linux=images.linux), tmp_path, options_for=plain)
    assert not linux.reused and linux.digest == newer.manifests["linux/amd64"].digest != image.manifests[
        "linux/amd64"].digest
    assert proxy.count("GET", "/blobs/") > 0
    assert only_entry(linux.path).annotations[SOURCE_DIGEST] == newer.root.digest  # type: ignore[index]


def test_changing_the_platform_pulls_again(repo: Repository, tmp_path: Path) -> None:
    image = push_image(repo, "1.0", salt="platform-change")
    images = ImageSet(linux=[ref_of(repo)])
    pull_images(images, tmp_path, options_for=plain)
    [arm] = pull_images(images, tmp_path, options_for=plain, platform="linux/arm64")
    assert not arm.reused and arm.digest == image.manifests["linux/arm64/v8"].digest
    assert only_entry(arm.path).digest == arm.digest


def test_results_are_sorted_whatever_finishes_first(client: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    prefix = f"order-{uuid.uuid4().hex[:8]}"
    names = ["zeta", "alpha", "mid"]
    for name in names:
        push_image(client.repository(f"{prefix}/{name}"), "1.0", salt=name, layers=1)
    references = [f"{proxy.host}/{prefix}/{name}:1.0" for name in names]
    proxy.add_fault(method="HEAD", path=f"{prefix}/alpha/", delay=0.5)  # the first in sorted order ends last
    done: list[str] = []
    pulled = pull_images(ImageSet(linux=references, windows=[references[0]]), tmp_path, options_for=plain,
                         concurrency=4, on_pulled=lambda p: done.append(p.reference))
    assert done[-1] == references[1]
    assert [(p.windows, p.reference) for p in pulled] == \
        [(False, r) for r in sorted(references)] + [(True, references[0])]


def test_the_same_image_twice_is_pulled_once(repo: Repository, tmp_path: Path) -> None:
    push_image(repo, "latest", salt="dedup", layers=1)
    bare = f"{repo.registry.host}/{repo.name}"
    pulled = pull_images(ImageSet(linux=[bare, f"{bare}:latest"]), tmp_path, options_for=plain)
    assert [p.reference for p in pulled] == [bare]
    assert pulled[0].file_name == image_file_name(bare, windows=False)
    assert only_entry(pulled[0].path).annotations[mt.ANNOTATION_REF_NAME] == f"{bare}:latest"  # type: ignore[index]


def test_missing_image_names_image_and_registry(repo: Repository, tmp_path: Path) -> None:
    push_image(repo, "1.0", salt="missing", layers=1)
    for reference in (ref_of(repo, "2.0"), f"{repo.registry.host}/images/does-not-exist:1.0"):
        with pytest.raises(NotFoundError) as err:
            pull_images(ImageSet(linux=[reference]), tmp_path, options_for=plain)
        assert f"image {reference} not found on registry {repo.registry.host}" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_platform_lists_the_platforms_present(repo: Repository, tmp_path: Path) -> None:
    push_image(repo, "1.0", salt="s390x", layers=1)
    with pytest.raises(NotFoundError) as err:
        pull_images(ImageSet(linux=[ref_of(repo)]), tmp_path, options_for=plain, platform="linux/s390x")
    message = str(err.value)
    assert f"image {ref_of(repo)} has no linux/s390x manifest" in message
    assert f"linux/amd64, linux/arm64, windows/amd64 ({WINDOWS_OS_VERSION})" in message
    assert list(tmp_path.iterdir()) == []


def test_bad_input_fails_before_any_request(proxy: FaultProxy, tmp_path: Path) -> None:
    good = f"{proxy.host}/images/anything:1.0"
    with pytest.raises(InvalidReferenceError, match="invalid image reference 'Bad/Image:1'"):
        pull_images(ImageSet(linux=[good, "Bad/Image:1"]), tmp_path, options_for=plain)
    with pytest.raises(UsageError, match="invalid platform 'linux'"):
        pull_images(ImageSet(linux=[good]), tmp_path, options_for=plain, platform="linux")
    with pytest.raises(UsageError, match="would both be exported as"):
        pull_images(ImageSet(linux=[f"{proxy.host}/a/b:1", f"{proxy.host}/a_b:1"]), tmp_path, options_for=plain)
    assert proxy.requests == []
    assert pull_images(ImageSet(), tmp_path / "never", options_for=plain) == []
    assert not (tmp_path / "never").exists()


def test_failed_pull_keeps_the_previous_archive(repo: Repository, proxy: FaultProxy, tmp_path: Path) -> None:
    push_image(repo, "1.0", salt="atomic-1")
    reference = ref_of(repo, host=proxy.host)
    [first] = pull_images(ImageSet(linux=[reference]), tmp_path, options_for=plain)
    before = first.path.read_bytes()
    newer = push_image(repo, "1.0", salt="atomic-2")
    layer = json.loads(newer.manifest_bytes["linux/amd64"])["layers"][1]["digest"]
    proxy.add_fault(method="GET", path=f"/blobs/{layer}", flip_at=10, times=None)
    with pytest.raises(DigestMismatchError):
        pull_images(ImageSet(linux=[reference]), tmp_path, options_for=plain)
    assert first.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.file_name]


def test_options_are_asked_per_registry(repo: Repository, tmp_path: Path) -> None:
    push_image(repo, "1.0", salt="options", layers=1)
    asked: list[str] = []

    def options_for(registry: str) -> RegistryOptions:
        asked.append(registry)
        return FAST

    seen: list[str] = []
    pull_images(ImageSet(linux=[ref_of(repo)], windows=[ref_of(repo)]), tmp_path, options_for=options_for,
                on_pulled=lambda p: seen.append(p.file_name))
    assert asked == [repo.registry.host]
    assert sorted(seen) == sorted(p.name for p in tmp_path.iterdir())
