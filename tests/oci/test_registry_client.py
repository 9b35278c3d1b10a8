"""The registry client against the real registry (distribution 2.8), plain HTTP.

Faults (500, 429, cut connections, flipped bytes) come from :class:`FaultProxy`, a stdlib proxy in
front of the real registry: the registry itself is never mocked.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from kaddons.errors import (
    DigestMismatchError,
    InvalidManifestError,
    InvalidReferenceError,
    NotFoundError,
    RegistryResponseError,
    RegistryUnavailableError,
    UnsupportedDigestError,
)
from kaddons.oci import mediatypes as mt
from kaddons.oci.copy import copy_graph
from kaddons.oci.layout import LayoutStore
from kaddons.oci.models import Descriptor, canonical_json, parse_index, parse_manifest
from kaddons.oci.registry import Registry, RegistryOptions, Repository, RetryPolicy
from kaddons.oci.registry._http import retry_after_seconds
from kaddons.oci.store import Store, TagLister
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.registry import RunningRegistry, free_port

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_elapsed=20.0)
CONFIG_TYPE = "application/vnd.kaddons.test.config.v1+json"
LAYER_TYPE = "application/vnd.kaddons.test.layer.v1.tar+gzip"
ARTIFACT_TYPE = "application/vnd.kaddons.test.addon.v1"
MiB = 1024 * 1024


def unique(prefix: str = "t") -> str:
    return f"kaddons-test/{prefix}-{uuid.uuid4().hex[:10]}"


def connect(host: str, retry: RetryPolicy = FAST) -> Registry:
    return Registry(host, RegistryOptions(insecure=True, retry=retry, timeout=10.0))


@pytest.fixture
def reg(registry: RunningRegistry) -> Iterator[Registry]:
    with connect(registry.host) as client:
        yield client


@pytest.fixture
def via_proxy(proxy: FaultProxy) -> Iterator[Registry]:
    with connect(proxy.host) as client:
        yield client


def blob(data: bytes, media_type: str = LAYER_TYPE) -> Descriptor:
    return Descriptor.for_bytes(data, media_type)


def push(repo: Repository, data: bytes, media_type: str = LAYER_TYPE, **fields: object) -> Descriptor:
    desc = Descriptor.for_bytes(data, media_type, **fields)
    repo.push(desc, io.BytesIO(data))
    return desc


def push_artifact(repo: Repository, salt: str) -> tuple[Descriptor, bytes]:
    """Config + layer + manifest with artifactType; returns the manifest descriptor and bytes."""
    config = push(repo, json.dumps({"salt": salt}).encode(), CONFIG_TYPE)
    layer = push(repo, f"layer of {salt}".encode() * 100)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": config.to_json_dict(),
        "layers": [layer.to_json_dict()],
        "annotations": {"org.opencontainers.image.title": salt},
    }
    raw = canonical_json(manifest)
    return push(repo, raw, mt.OCI_MANIFEST), raw


class Unseekable(io.RawIOBase):
    """A source that cannot be rewound (a pipe, a download in progress)."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# --- round trips -------------------------------------------------------------------------------------


def test_repository_satisfies_the_store_protocols(reg: Registry) -> None:
    repo = reg.repository(unique())
    assert isinstance(repo, Store)
    assert isinstance(repo, TagLister)
    assert repo.registry is reg
    with pytest.raises(InvalidReferenceError, match="invalid repository name"):
        reg.repository("Upper/Case")
    with pytest.raises(InvalidReferenceError, match="invalid tag"):
        repo.resolve("-bad-tag")


def test_monolithic_blob_push_round_trips_in_one_put(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    data = os.urandom(3 * MiB + 123)
    desc = push(repo, data)
    assert proxy.count("POST", "/blobs/uploads/") == 1
    assert proxy.count("PUT", r"digest=sha256") == 1
    assert proxy.count("PATCH") == 0
    assert repo.exists(desc)
    with repo.fetch(desc) as stream:
        assert stream.read() == data


def test_stat_blob_describes_content_known_by_digest_only(reg: Registry) -> None:
    repo = reg.repository(unique())
    desc = push(repo, os.urandom(4321))
    assert repo.stat_blob(desc.digest) == Descriptor(mediaType="application/octet-stream", digest=desc.digest,
                                                      size=4321)
    manifest, _ = push_artifact(repo, "stat")
    assert repo.stat_blob(manifest.digest) == manifest  # a manifest is found by digest too, with its media type
    with pytest.raises(NotFoundError, match="neither a blob nor a manifest"):
        repo.stat_blob(blob(b"absent").digest)


def test_copying_a_blob_the_registry_has_does_only_a_head(
        via_proxy: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    repo = via_proxy.repository(unique())
    data = b"already there" * 10
    desc = push(repo, data)
    layout = LayoutStore(tmp_path / "layout", create=True)
    layout.push(desc, io.BytesIO(data))
    proxy.clear()
    assert copy_graph(layout, repo, desc).skipped == 1
    assert [(method, status) for method, _, status in proxy.requests] == [("HEAD", 200)]


def test_chunked_blob_push_sends_bounded_patches(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    data = os.urandom(350_000)
    desc = blob(data)
    repo.push_blob_chunked(desc, io.BytesIO(data), chunk_size=100_000)
    assert proxy.count("PATCH") == 4
    assert proxy.count("PUT", r"digest=sha256") == 1
    with repo.fetch(desc) as stream:
        assert stream.read() == data


def test_push_uses_chunks_above_the_threshold(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    repo.chunk_threshold, repo.chunk_size = 1000, 4096
    small, large = b"s" * 1000, os.urandom(10_000)
    push(repo, small)
    assert proxy.count("PATCH") == 0
    desc = push(repo, large)
    assert proxy.count("PATCH") == 3
    assert repo.exists(desc)


def test_manifest_with_custom_media_types_round_trips_byte_for_byte(reg: Registry) -> None:
    repo = reg.repository(unique())
    desc, raw = push_artifact(repo, "custom")
    repo.tag(desc, "1.0.0")
    by_tag = repo.resolve("1.0.0")
    assert (by_tag.media_type, by_tag.digest, by_tag.size) == (mt.OCI_MANIFEST, desc.digest, desc.size)
    assert repo.resolve(desc.digest) == by_tag
    fetched, fetched_raw = repo.fetch_manifest("1.0.0")
    assert fetched_raw == raw
    assert fetched.digest == desc.digest
    with repo.fetch(desc) as stream:
        assert stream.read() == raw
    manifest = parse_manifest(fetched_raw)
    assert manifest.artifact_type == ARTIFACT_TYPE
    assert manifest.config.media_type == CONFIG_TYPE
    assert all(repo.exists(child) for child in [manifest.config, *manifest.layers, desc])


def test_index_of_two_manifests_round_trips(reg: Registry) -> None:
    repo = reg.repository(unique())
    first, _ = push_artifact(repo, "amd64")
    second, _ = push_artifact(repo, "arm64")
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": [
            {**first.to_json_dict(), "platform": {"architecture": "amd64", "os": "linux"}},
            {**second.to_json_dict(), "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }
    raw = json.dumps(index, indent=2).encode()  # not canonical: the bytes must still come back unchanged
    desc = push(repo, raw, mt.OCI_INDEX)
    repo.tag(desc, "v1")
    resolved = repo.resolve("v1")
    assert (resolved.media_type, resolved.digest, resolved.size) == (mt.OCI_INDEX, desc.digest, len(raw))
    _, fetched = repo.fetch_manifest("v1")
    assert fetched == raw
    assert [m.digest for m in parse_index(fetched).manifests] == [first.digest, second.digest]


def test_tags_are_sorted_and_a_deleted_repository_lists_none(reg: Registry) -> None:
    repo = reg.repository(unique())
    desc, _ = push_artifact(repo, "tags")
    for tag in ["b", "a", "v1.10.0", "v1.2.0", "C"]:
        repo.tag(desc, tag)
    assert repo.tags() == ["C", "a", "b", "v1.10.0", "v1.2.0"]
    repo.delete(desc)  # deleting the manifest removes every tag: the registry answers "tags": null
    assert repo.tags() == []


def test_tags_of_an_unknown_repository_is_not_found(reg: Registry) -> None:
    name = unique("absent")
    with pytest.raises(NotFoundError, match=f"repository {reg.host}/{name} not found"):
        reg.repository(name).tags()


def test_catalog_follows_link_pages_and_sorts(fresh_registry: RunningRegistry) -> None:
    names = [f"catalog/repo-{c}" for c in "edcba"]
    with FaultProxy(fresh_registry.url) as proxy, connect(proxy.host) as client:
        for name in names:
            push(client.repository(name), name.encode())
        client.catalog_page_size = 2
        assert client.catalog() == sorted(names)
        assert proxy.count("GET", "/v2/_catalog") == 3


def test_delete_by_digest_removes_manifest_and_blob(reg: Registry) -> None:
    repo = reg.repository(unique())
    desc, raw = push_artifact(repo, "delete")
    repo.tag(desc, "doomed")
    layer = parse_manifest(raw).layers[0]
    repo.delete(desc)
    with pytest.raises(NotFoundError, match="doomed"):
        repo.resolve("doomed")
    assert not repo.exists(desc)
    repo.delete(layer)
    assert not repo.exists(layer)
    with pytest.raises(NotFoundError, match="nothing to delete"):
        repo.delete(layer)


def test_mount_between_repositories(via_proxy: Registry, proxy: FaultProxy) -> None:
    source, target = via_proxy.repository(unique("src")), via_proxy.repository(unique("dst"))
    desc = push(source, os.urandom(50_000))
    proxy.clear()
    assert target.mount(desc, source.name) is True
    assert proxy.count("PUT") == 0  # no byte was uploaded again
    assert target.exists(desc)


def test_mount_of_a_blob_the_source_lacks_cancels_the_session(via_proxy: Registry, proxy: FaultProxy) -> None:
    source, target = via_proxy.repository(unique("src")), via_proxy.repository(unique("dst"))
    desc = blob(b"never pushed " + uuid.uuid4().bytes)
    assert target.mount(desc, source.name) is False
    assert proxy.count("DELETE", "/blobs/uploads/") == 1
    assert not target.exists(desc)


def test_resolve_without_digest_header_falls_back_to_get(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    desc, _ = push_artifact(repo, "no-header")
    repo.tag(desc, "plain")
    proxy.clear()
    proxy.add_fault(method="HEAD", path="/manifests/plain", drop_headers=("Docker-Content-Digest",))
    resolved = repo.resolve("plain")
    assert (resolved.media_type, resolved.digest, resolved.size) == (desc.media_type, desc.digest, desc.size)
    assert [m for m, _, _ in proxy.requests] == ["HEAD", "GET"]


def test_relative_upload_location_is_followed(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    fault = proxy.add_fault(method="POST", path="/blobs/uploads/", relative_location=True)
    desc = push(repo, os.urandom(5000))
    assert fault.used == 1 and proxy.count("PUT", "digest=sha256") == 1
    assert repo.exists(desc)


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [None, 1000], ids=["monolithic", "chunked"])
def test_blob_whose_bytes_do_not_match_is_refused_and_not_stored(
    via_proxy: Registry, proxy: FaultProxy, chunk_size: int | None
) -> None:
    repo = via_proxy.repository(unique())
    data, other = os.urandom(5000), os.urandom(5000)
    claimed = blob(other)  # same size, other digest
    with pytest.raises(DigestMismatchError, match="digest mismatch"):
        if chunk_size is None:
            repo.push(claimed, io.BytesIO(data))
        else:
            repo.push_blob_chunked(claimed, io.BytesIO(data), chunk_size)
    assert not repo.exists(claimed)
    assert not repo.exists(blob(data))
    assert proxy.count("DELETE", "/blobs/uploads/") == 1  # the upload session was cancelled


def test_source_shorter_or_longer_than_its_descriptor_is_refused(reg: Registry) -> None:
    repo = reg.repository(unique())
    data = os.urandom(3000)
    desc = blob(data)
    with pytest.raises(DigestMismatchError, match="ended after 2999 of 3000"):
        repo.push(desc, io.BytesIO(data[:-1]))
    with pytest.raises(DigestMismatchError, match="larger than"):
        repo.push(desc, io.BytesIO(data + b"x"))
    assert not repo.exists(desc)


def test_manifest_that_does_not_match_or_is_too_large_is_refused_before_sending(
    via_proxy: Registry, proxy: FaultProxy
) -> None:
    repo = via_proxy.repository(unique())
    _, raw = push_artifact(repo, "mismatch")
    proxy.clear()
    claimed = Descriptor.for_bytes(raw + b" ", mt.OCI_MANIFEST)
    with pytest.raises(DigestMismatchError, match="does not match its descriptor"):
        repo.push(claimed, io.BytesIO(raw))
    huge = b" " * (4 * MiB + 1)
    with pytest.raises(InvalidManifestError, match="larger than"):
        repo.push(Descriptor.for_bytes(huge, mt.OCI_MANIFEST), io.BytesIO(huge))
    assert proxy.requests == []


def test_unsupported_digest_algorithm_is_refused(reg: Registry) -> None:
    repo = reg.repository(unique())
    sha512 = "sha512:" + "ab" * 64
    with pytest.raises(UnsupportedDigestError, match="sha256 only"):
        repo.resolve(sha512)
    with pytest.raises(UnsupportedDigestError, match="sha256 only"):
        repo.fetch_manifest(sha512)
    with pytest.raises(UnsupportedDigestError):
        Descriptor(mediaType=LAYER_TYPE, digest=sha512, size=1)


def test_non_json_content_is_bytes_to_the_client_but_rejected_by_the_models(reg: Registry) -> None:
    repo = reg.repository(unique())
    raw = b"this is not JSON {"
    desc = push(repo, raw, "application/octet-stream")
    with repo.fetch(desc) as stream:
        assert stream.read() == raw
    with pytest.raises(InvalidManifestError, match="not valid JSON"):
        parse_manifest(raw)


def test_registry_error_code_and_status_reach_the_caller(reg: Registry) -> None:
    repo = reg.repository(unique())
    missing = blob(b"a layer that was never pushed")
    manifest = canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                               "config": blob(b"{}", CONFIG_TYPE).to_json_dict(), "layers": [missing.to_json_dict()]})
    desc = Descriptor.for_bytes(manifest, mt.OCI_MANIFEST)
    with pytest.raises(RegistryResponseError) as caught:
        repo.push(desc, io.BytesIO(manifest))
    assert (caught.value.status, caught.value.code) == (400, "MANIFEST_BLOB_UNKNOWN")
    message = str(caught.value)
    assert message.startswith(f"PUT {reg.host}/{repo.name} manifests/{desc.digest}: 400 MANIFEST_BLOB_UNKNOWN (")
    assert "\n" not in message
    not_json = b"not a manifest"
    with pytest.raises(RegistryResponseError) as invalid:
        repo.push(Descriptor.for_bytes(not_json, mt.OCI_MANIFEST), io.BytesIO(not_json))
    assert invalid.value.code == "MANIFEST_INVALID"


def test_unknown_tag_and_blob_are_not_found(reg: Registry) -> None:
    repo = reg.repository(unique())
    push_artifact(repo, "exists")
    with pytest.raises(NotFoundError, match=f"{reg.host}/{repo.name}:nope not found"):
        repo.resolve("nope")
    with pytest.raises(NotFoundError, match=f"{reg.host}/{repo.name}:nope not found"):
        repo.fetch_manifest("nope")
    with pytest.raises(NotFoundError, match="not found"):
        repo.fetch(blob(b"absent"))
    assert repo.exists(blob(b"absent")) is False


def test_registry_that_is_down_is_unavailable_after_bounded_retries() -> None:
    host = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    with connect(host, policy) as client, pytest.raises(RegistryUnavailableError) as caught:
        client.ping()
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert host in message and "after 3 attempts" in message and "registry is running" in message
    # Over HTTPS the hint also names --insecure: the registry may serve plain HTTP.
    with Registry(host, RegistryOptions(retry=policy)) as client, pytest.raises(RegistryUnavailableError) as caught:
        client.ping()
    assert "--insecure" in str(caught.value)


def test_tls_client_against_a_plain_http_registry_suggests_insecure(registry: RunningRegistry) -> None:
    with Registry(registry.host, RegistryOptions(retry=FAST)) as client, \
            pytest.raises(RegistryUnavailableError) as caught:
        client.ping()
    message = str(caught.value)
    assert f"TLS handshake with {registry.host} failed" in message and "--insecure" in message
    assert "attempts" not in message  # a TLS set-up failure is not retried


# --- retries and resumption ---------------------------------------------------------------------------


def test_truncated_download_is_resumed_with_a_range_request(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    data = os.urandom(2 * MiB)
    desc = push(repo, data)
    proxy.add_fault(method="GET", path="/blobs/sha256", cut_after=700_000)
    with repo.fetch(desc) as stream:
        assert stream.read() == data
    assert [s for m, p, s in proxy.requests if m == "GET" and "/blobs/sha256" in p] == [200, 206]


def test_download_resumes_when_the_server_ignores_range(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    data = os.urandom(MiB + 7)
    desc = push(repo, data)
    proxy.add_fault(method="GET", path="/blobs/sha256", cut_after=300_001)
    proxy.add_fault(method="GET", path="/blobs/sha256", ignore_range=True)
    with repo.fetch(desc) as stream:
        assert stream.read() == data  # the first 300001 bytes of the second answer were skipped
    assert [s for m, p, s in proxy.requests if m == "GET" and "/blobs/sha256" in p] == [200, 200]


def test_download_cut_every_time_gives_up_after_the_policy(proxy: FaultProxy) -> None:
    with connect(proxy.host, RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)) as client:
        repo = client.repository(unique())
        desc = push(repo, os.urandom(100_000))
        proxy.add_fault(method="GET", path="/blobs/sha256", cut_after=1000, times=None)
        with pytest.raises(RegistryUnavailableError, match="was cut at byte 3000 of 100000 3 times"), \
                repo.fetch(desc) as stream:
            stream.read()
        assert proxy.count("GET", "/blobs/sha256") == 3


def test_flipped_byte_in_a_download_is_a_digest_mismatch(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    desc = push(repo, os.urandom(10_000))
    proxy.add_fault(method="GET", path="/blobs/sha256", flip_at=10)
    with pytest.raises(DigestMismatchError, match=desc.digest), repo.fetch(desc) as stream:
        stream.read()


def test_manifest_altered_in_transit_is_refused(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    desc, _ = push_artifact(repo, "flip")
    repo.tag(desc, "latest")
    proxy.add_fault(method="GET", path="/manifests/latest", flip_at=5)
    with pytest.raises(DigestMismatchError, match=f"expected {desc.digest}"):
        repo.fetch_manifest("latest")  # by tag: checked against Docker-Content-Digest


def test_server_error_then_success_is_retried(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    desc, _ = push_artifact(repo, "retry")
    proxy.clear()
    proxy.add_fault(method="HEAD", path="/manifests/", status=500)
    assert repo.resolve(desc.digest).digest == desc.digest
    assert [s for m, _, s in proxy.requests] == [500, 200]


def test_429_retry_after_is_honoured(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    desc, _ = push_artifact(repo, "throttle")
    repo.tag(desc, "t")
    proxy.add_fault(method="GET", path="/tags/list", status=429, retry_after=1)
    started = time.monotonic()
    assert repo.tags() == ["t"]
    assert time.monotonic() - started >= 0.95  # FAST would otherwise wait at most 0.05 s
    assert proxy.count("GET", "/tags/list") == 2


def test_persistent_503_is_unavailable_after_the_attempts(proxy: FaultProxy) -> None:
    with connect(proxy.host, RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)) as client:
        proxy.add_fault(path="/v2/", status=503, times=None)
        with pytest.raises(RegistryUnavailableError, match=r"503 INJECTED .* after 3 attempts"):
            client.ping()
    assert proxy.count("GET", "/v2/") == 3


def test_retry_after_beyond_max_elapsed_is_not_waited_for(proxy: FaultProxy) -> None:
    with connect(proxy.host, RetryPolicy(attempts=5, max_elapsed=2.0)) as client:
        proxy.add_fault(path="/v2/", status=429, retry_after=30)
        started = time.monotonic()
        with pytest.raises(RegistryUnavailableError, match="429"):
            client.ping()
        assert time.monotonic() - started < 2


def test_streamed_upload_restarts_when_the_source_is_seekable(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    data = os.urandom(200_000)
    proxy.add_fault(method="PUT", path="digest=sha256", status=500)
    desc = push(repo, data)
    assert proxy.count("POST", "/blobs/uploads/") == 2  # a new upload session for the second try
    with repo.fetch(desc) as stream:
        assert stream.read() == data


def test_chunked_upload_restarts_when_the_source_is_seekable(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    data = os.urandom(30_000)
    desc = blob(data)
    proxy.add_fault(method="PATCH", status=502)
    repo.push_blob_chunked(desc, io.BytesIO(data), 10_000)
    assert proxy.count("POST", "/blobs/uploads/") == 2
    assert repo.exists(desc)


def test_streamed_upload_from_an_unseekable_source_is_not_retried(via_proxy: Registry, proxy: FaultProxy) -> None:
    repo = via_proxy.repository(unique())
    data = os.urandom(200_000)
    desc = blob(data)
    proxy.add_fault(method="PUT", path="digest=sha256", status=500)
    with pytest.raises(RegistryUnavailableError, match="500"):
        repo.push(desc, Unseekable(data))  # type: ignore[arg-type]
    assert proxy.count("PUT", "digest=sha256") == 1
    assert not repo.exists(desc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0", 0.0), (None, None), ("soon", None),
     (format_datetime(datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC), usegmt=True), 10.0)],
)
def test_retry_after_seconds_or_http_date(value: str | None, expected: float | None) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert retry_after_seconds(value, now=now) == expected
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0
