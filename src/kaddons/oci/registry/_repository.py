"""One repository of a registry: a :class:`~kaddons.oci.store.Store` and a ``TagLister``.

distribution-spec v1.1 endpoints (§Endpoints, end-2 .. end-11): manifests and blobs by digest,
tags, uploads, cross-repository mounts and deletes. Every digest read from the wire is validated
and checked against the bytes or the digest asked for.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, BinaryIO

import httpx

from kaddons.errors import DigestMismatchError, InvalidManifestError, NotFoundError, RegistryResponseError
from kaddons.oci import mediatypes as mt
from kaddons.oci.digest import VerifyingReader, digest_of, validate_digest
from kaddons.oci.models import MAX_MANIFEST_BYTES, Descriptor
from kaddons.oci.reference import validate_repository, validate_tag
from kaddons.oci.registry._errors import read_error_body
from kaddons.oci.registry._reader import ResumingStream, read_bounded
from kaddons.oci.registry._upload import BlobUploader

if TYPE_CHECKING:
    from kaddons.oci.registry._registry import Registry

__all__ = ["Repository"]

_OCTET_STREAM = "application/octet-stream"


def _is_digest(reference: str) -> bool:
    return ":" in reference


def _media_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).split(";", 1)[0].strip()


def _embedded_media_type(raw: bytes, named: str) -> str:
    """The ``mediaType`` field of a manifest served without a ``Content-Type``."""
    try:
        value = json.loads(raw).get("mediaType")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise InvalidManifestError(f"manifest {named} has neither a Content-Type nor a mediaType")
    return value


class Repository:
    """The repository ``name`` of ``registry`` (get one with :meth:`Registry.repository`).

    ``chunk_threshold``: blobs larger than this many bytes are pushed in chunks of ``chunk_size``
    bytes (``PATCH``); ``None`` (the default) always uploads in one ``PUT``.
    """

    def __init__(self, registry: Registry, name: str) -> None:
        self.registry = registry
        self.name = validate_repository(name)
        self.chunk_threshold: int | None = None
        self.chunk_size: int = 16 * 1024 * 1024
        self._http = registry._http
        self._uploader = BlobUploader(self._http, self.name)
        self._pull = (f"repository:{name}:pull",)
        self._push = (f"repository:{name}:pull,push",)

    def __repr__(self) -> str:
        return f"Repository({self.registry.host}/{self.name})"

    @property
    def _where(self) -> str:
        return f"{self.registry.host}/{self.name}"

    def _ref(self, reference: str) -> str:
        """Validate a tag or digest; raises UnsupportedDigestError or InvalidReferenceError."""
        return validate_digest(reference) if _is_digest(reference) else validate_tag(reference)

    def _named(self, reference: str) -> str:
        return f"{self._where}@{reference}" if _is_digest(reference) else f"{self._where}:{reference}"

    def _not_found(self, response: httpx.Response, thing: str) -> NotFoundError:
        body = read_error_body(response)
        if body.code == "NAME_UNKNOWN":
            return NotFoundError(f"repository {self._where} not found in the registry (NAME_UNKNOWN)")
        code = f" ({body.code})" if body.code else ""
        return NotFoundError(f"{thing} not found{code}: check the tag or digest")

    def _manifest_url(self, reference: str) -> httpx.URL:
        return self._http.url(f"/v2/{self.name}/manifests/{reference}")

    def _blob_url(self, digest: str) -> httpx.URL:
        return self._http.url(f"/v2/{self.name}/blobs/{digest}")

    def resolve(self, reference: str) -> Descriptor:
        """``HEAD /v2/<name>/manifests/<reference>``: the descriptor of a tag or digest (end-3).

        ``Descriptor(mediaType=Content-Type, digest=Docker-Content-Digest, size=Content-Length)``;
        without those headers the manifest is fetched and digested. Raises NotFoundError,
        UnsupportedDigestError (a digest other than sha256), DigestMismatchError.
        """
        self._ref(reference)
        response = self._http.request(
            "HEAD", self._manifest_url(reference), what=f"{self._where} manifests/{reference}", expect=(200, 404),
            scopes=self._pull, headers={"Accept": mt.MANIFEST_ACCEPT},
        )
        if response.status_code == 404:
            raise self._not_found(response, self._named(reference))
        digest, length, media_type = (response.headers.get("docker-content-digest"),
                                      response.headers.get("content-length"), _media_type(response))
        if not digest or not length or not length.isdigit() or not media_type:
            return self.fetch_manifest(reference)[0]
        validate_digest(digest)
        if _is_digest(reference) and digest != reference:
            raise DigestMismatchError(f"{self._named(reference)}: the registry answered with digest {digest}")
        return Descriptor(mediaType=media_type, digest=digest, size=int(length))

    def fetch_manifest(self, reference: str) -> tuple[Descriptor, bytes]:
        """``GET /v2/<name>/manifests/<reference>``: the descriptor and exact bytes (end-3).

        At most :data:`MAX_MANIFEST_BYTES` are read (InvalidManifestError beyond). The digest of the
        bytes must equal a digest reference, and the ``Docker-Content-Digest`` header when present
        (DigestMismatchError). Raises NotFoundError for an unknown tag, digest or repository.
        """
        self._ref(reference)
        response = self._http.request(
            "GET", self._manifest_url(reference), what=f"{self._where} manifests/{reference}", expect=(200, 404),
            scopes=self._pull, headers={"Accept": mt.MANIFEST_ACCEPT}, stream=True,
        )
        if response.status_code == 404:
            raise self._not_found(response, self._named(reference))
        raw = read_bounded(response, MAX_MANIFEST_BYTES, self._named(reference))
        actual = digest_of(raw)
        header = response.headers.get("docker-content-digest")
        expected = reference if _is_digest(reference) else (validate_digest(header) if header else actual)
        if actual != expected:
            raise DigestMismatchError(
                f"manifest {self._named(reference)}: digest mismatch: expected {expected}, got {actual}"
            )
        media_type = _media_type(response) or _embedded_media_type(raw, self._named(reference))
        return Descriptor(mediaType=media_type, digest=actual, size=len(raw)), raw

    def fetch(self, desc: Descriptor) -> VerifyingReader:
        """A verified stream of ``desc``'s content: ``/manifests/<digest>`` or ``/blobs/<digest>`` (end-2/3).

        Streamed, redirects followed; a connection cut is resumed with ``Range`` (RetryPolicy bound),
        after which RegistryUnavailableError. Raises NotFoundError when absent; reading raises
        DigestMismatchError when the bytes do not match. The caller closes the stream.
        """
        validate_digest(desc.digest)
        if desc.is_manifest:
            url, headers = self._manifest_url(desc.digest), {"Accept": mt.MANIFEST_ACCEPT}
            what = f"{self._where} manifests/{desc.digest}"
        else:
            url, headers = self._blob_url(desc.digest), {}
            what = f"{self._where} blobs/{desc.digest}"
        headers["Accept-Encoding"] = "identity"

        def opener(offset: int) -> httpx.Response:
            ranged = {**headers, "Range": f"bytes={offset}-"} if offset else headers
            response = self._http.request("GET", url, what=what, expect=(200, 206, 404), scopes=self._pull,
                                          headers=ranged, stream=True)
            if response.status_code == 404:
                raise self._not_found(response, f"{self._where}@{desc.digest}")
            return response

        stream = ResumingStream(opener, desc.size, self._http.policy, f"{self._where}@{desc.digest}")
        return VerifyingReader(stream, desc.digest, desc.size, what=f"{self._where}@{desc.digest}")  # type: ignore[arg-type]

    def exists(self, desc: Descriptor) -> bool:
        """``HEAD`` of the blob or manifest: True on 200, False on 404 (end-2/3)."""
        validate_digest(desc.digest)
        if desc.is_manifest:
            url, headers, kind = self._manifest_url(desc.digest), {"Accept": mt.MANIFEST_ACCEPT}, "manifests"
        else:
            url, headers, kind = self._blob_url(desc.digest), {}, "blobs"
        response = self._http.request("HEAD", url, what=f"{self._where} {kind}/{desc.digest}", expect=(200, 404),
                                      scopes=self._pull, headers=headers)
        return response.status_code == 200

    def stat_blob(self, digest: str) -> Descriptor:
        """A descriptor for any content known by digest only, as the layout stores give (end-2/3).

        ``HEAD /v2/<name>/blobs/<digest>``: media type ``application/octet-stream`` (a registry does
        not know a blob's), size from ``Content-Length``. A registry keeps manifests apart from
        blobs, so when no blob has the digest, a manifest or index with it is looked up
        (:meth:`resolve`; its media type then). Raises NotFoundError when neither exists,
        UnsupportedDigestError for a bad digest.
        """
        validate_digest(digest)
        response = self._http.request("HEAD", self._blob_url(digest), what=f"{self._where} blobs/{digest}",
                                      expect=(200, 404), scopes=self._pull)
        if response.status_code == 404:
            try:
                return self.resolve(digest)
            except NotFoundError:
                raise NotFoundError(f"{self._where}@{digest} not found (neither a blob nor a manifest)") from None
        length, answered = response.headers.get("content-length", ""), response.headers.get("docker-content-digest")
        if answered and validate_digest(answered) != digest:
            raise DigestMismatchError(f"blob {self._where}@{digest}: the registry answered with digest {answered}")
        if not length.isdigit():
            raise RegistryResponseError(f"HEAD {self._where} blobs/{digest}: no Content-Length in the answer",
                                        status=response.status_code)
        return Descriptor(mediaType=_OCTET_STREAM, digest=digest, size=int(length))

    def push(self, desc: Descriptor, content: BinaryIO) -> None:
        """Store ``content`` as ``desc`` (end-4a/6, end-5, end-7).

        Manifests and indexes: the exact bytes (at most MAX_MANIFEST_BYTES) are verified, then
        ``PUT /manifests/<digest>`` with ``Content-Type: desc.media_type``. Blobs: a verified
        streamed upload (chunked above ``chunk_threshold``). Existence is not checked here: callers
        that may skip content the registry has ask :meth:`exists` first, as ``copy`` does, so no
        request is made twice.
        Raises DigestMismatchError (nothing is stored then), RegistryResponseError...
        """
        validate_digest(desc.digest)
        if desc.is_manifest:
            self._push_manifest(desc, content, desc.digest)
        else:
            chunked = self.chunk_threshold is not None and desc.size > self.chunk_threshold
            self._uploader.upload(desc, content, self.chunk_size if chunked else None)

    def push_blob_chunked(self, desc: Descriptor, content: BinaryIO, chunk_size: int) -> None:
        """Upload a blob in ``PATCH`` chunks of at most ``chunk_size`` bytes, then ``PUT ?digest=`` (end-5/6).

        Each chunk is held in memory on its own; the last one leaves only after the digest verified.
        """
        validate_digest(desc.digest)
        self._uploader.upload(desc, content, chunk_size)

    def _push_manifest(self, desc: Descriptor, content: BinaryIO, reference: str) -> None:
        raw = content.read(MAX_MANIFEST_BYTES + 1)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise InvalidManifestError(f"manifest {desc.digest} is larger than {MAX_MANIFEST_BYTES} bytes")
        self._put_manifest(desc, raw, reference)

    def _put_manifest(self, desc: Descriptor, raw: bytes, reference: str) -> None:
        actual = digest_of(raw)
        if actual != desc.digest or len(raw) != desc.size:
            raise DigestMismatchError(
                f"manifest {desc.digest}: the content ({len(raw)} bytes, {actual}) does not match its descriptor "
                f"({desc.size} bytes)"
            )
        response = self._http.request(
            "PUT", self._manifest_url(reference), what=f"{self._where} manifests/{reference}", expect=(201, 200),
            scopes=self._push, headers={"Content-Type": desc.media_type}, content=raw,
        )
        answered = response.headers.get("docker-content-digest")
        if answered and validate_digest(answered) != desc.digest:
            raise DigestMismatchError(f"{self._named(reference)}: the registry stored {desc.digest} as {answered}")

    def mount(self, desc: Descriptor, from_repository: str) -> bool:
        """Mount a blob from another repository of the same registry (end-11).

        True when the registry mounted it (201); False when it opened an upload session instead
        (202: the source lacks the blob or mounting is off); that session is cancelled.
        """
        validate_digest(desc.digest)
        validate_repository(from_repository)
        scopes = (*self._push, f"repository:{from_repository}:pull")
        response = self._uploader.start(params={"mount": desc.digest, "from": from_repository}, scopes=scopes,
                                        expect=(201, 202))
        if response.status_code == 201:
            return True
        self._uploader.cancel(self._uploader.location(response))
        return False

    def tag(self, desc: Descriptor, reference: str) -> None:
        """Point tag ``reference`` at manifest ``desc``: its bytes are fetched and PUT unchanged (end-7a)."""
        validate_tag(reference)
        _, raw = self.fetch_manifest(desc.digest)
        self._put_manifest(desc, raw, reference)

    def tags(self) -> list[str]:
        """``GET /v2/<name>/tags/list``, following ``Link: rel="next"`` (end-8): every tag, sorted.

        A ``null`` list is empty. Raises NotFoundError when the repository does not exist.
        """
        found: set[str] = set()
        url: httpx.URL | None = self._http.url(f"/v2/{self.name}/tags/list")
        while url is not None:
            response = self._http.request("GET", url, what=f"{self._where} tags/list", expect=(200, 404),
                                          scopes=self._pull)
            if response.status_code == 404:
                raise self._not_found(response, f"repository {self._where}")
            try:
                found.update(t for t in (response.json().get("tags") or []) if isinstance(t, str))
            except (ValueError, AttributeError, TypeError):
                raise RegistryResponseError(f"GET {self._where} tags/list: the answer is not a tag list",
                                            status=200) from None
            following = response.links.get("next", {}).get("url")
            url = url.join(following) if following else None
        return sorted(found)

    def delete(self, desc: Descriptor) -> None:
        """``DELETE`` the manifest (and with it its tags) or blob by digest (end-9/10); 202 expected."""
        validate_digest(desc.digest)
        kind = "manifests" if desc.is_manifest else "blobs"
        url = self._manifest_url(desc.digest) if desc.is_manifest else self._blob_url(desc.digest)
        response = self._http.request("DELETE", url, what=f"{self._where} {kind}/{desc.digest}",
                                      expect=(202, 200, 204, 404), scopes=(f"repository:{self.name}:delete",))
        if response.status_code == 404:
            raise NotFoundError(f"{self._where}@{desc.digest} not found: nothing to delete")
