"""Blob uploads (distribution-spec §Pushing blobs): monolithic POST+PUT, chunked POST+PATCH*+PUT.

The source is wrapped in a :class:`~kaddons.oci.digest.VerifyingReader`, and the last chunk is only
sent once size and digest verified: the registry never receives a complete body for content that
does not match its descriptor, so nothing becomes visible under the digest. The upload session is
cancelled (``DELETE <location>``) on any failure.

A streamed upload cannot be sent again from memory. When the source is seekable it is rewound and
the whole session restarted, by the :class:`RetryPolicy`; otherwise the first failure propagates.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

import httpx

from kaddons.errors import (
    DigestMismatchError,
    KaddonsError,
    RegistryResponseError,
    RegistryUnavailableError,
    UsageError,
)
from kaddons.oci.digest import VerifyingReader, validate_digest, verifying
from kaddons.oci.models import Descriptor
from kaddons.oci.registry._http import HttpClient
from kaddons.oci.registry._reader import CHUNK_SIZE

__all__ = ["BlobUploader"]

_log = logging.getLogger("kaddons.oci.registry")
_OCTETS = "application/octet-stream"


def _read_exactly(reader: VerifyingReader, n: int) -> bytes:
    parts: list[bytes] = []
    while n > 0:
        data = reader.read(n)
        if not data:
            break
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


class BlobUploader:
    """Uploads blobs into repository ``name`` of ``http``'s host; ``what`` prefixes messages."""

    def __init__(self, http: HttpClient, name: str) -> None:
        self.http = http
        self.name = name
        self.where = f"{http.host}/{name}"
        self.scopes = (f"repository:{name}:pull,push",)

    def upload(self, desc: Descriptor, content: BinaryIO, chunk_size: int | None) -> None:
        """Upload ``content`` as ``desc`` (monolithic if ``chunk_size`` is None), restarting if seekable."""
        if chunk_size is not None and chunk_size <= 0:
            raise UsageError(f"chunk size must be a positive number of bytes, not {chunk_size}")
        start: int | None = None
        with contextlib.suppress(OSError, AttributeError, ValueError):
            if content.seekable():
                start = content.tell()
        policy = self.http.policy
        started = time.monotonic()
        failures = 0
        once: Callable[[], None] = (
            (lambda: self._monolithic(desc, content)) if chunk_size is None
            else (lambda: self._chunked(desc, content, chunk_size))
        )
        while True:
            try:
                once()
                return
            except RegistryUnavailableError:
                failures += 1
                delay = policy.backoff(failures)
                if (start is None or failures >= policy.attempts
                        or time.monotonic() - started + delay > policy.max_elapsed):
                    raise
                _log.debug("restarting the upload of %s@%s in %.2fs", self.where, desc.digest, delay)
                time.sleep(delay)
                content.seek(start)

    def start(self, params: dict[str, str] | None = None, scopes: tuple[str, ...] | None = None,
              expect: tuple[int, ...] = (202,)) -> httpx.Response:
        """``POST /v2/<name>/blobs/uploads/``: the answer (202 with ``Location``, or 201 for a mount)."""
        return self.http.request(
            "POST", self.http.url(f"/v2/{self.name}/blobs/uploads/"), what=f"{self.where} blobs/uploads/",
            expect=expect, scopes=scopes or self.scopes, params=params, headers={"Content-Length": "0"},
        )

    def location(self, response: httpx.Response, base: httpx.URL | None = None) -> httpx.URL:
        """The absolute upload URL of an answer's ``Location`` (relative or absolute, maybe with a query)."""
        value = response.headers.get("location")
        if not value:
            raise RegistryResponseError(
                f"{response.request.method} {self.where} blobs/uploads/: "
                f"{response.status_code} without a Location header",
                status=response.status_code,
            )
        return (base or self.http.base_url).join(value)

    def cancel(self, location: httpx.URL) -> None:
        """Best effort ``DELETE <location>``: abandon an upload session."""
        with contextlib.suppress(KaddonsError):
            self.http.request("DELETE", location, what=f"{self.where} upload session", expect=(200, 202, 204, 404),
                              scopes=self.scopes, retry=False)

    def _finish(self, location: httpx.URL, desc: Descriptor, content: bytes | Iterator[bytes],
                size: int) -> None:
        url = location.copy_add_param("digest", desc.digest)
        response = self.http.request(
            "PUT", url, what=f"{self.where} blobs/{desc.digest}", expect=(201, 204), scopes=self.scopes,
            headers={"Content-Type": _OCTETS, "Content-Length": str(size)}, content=content,
            retry=isinstance(content, bytes),
        )
        answered = response.headers.get("docker-content-digest")
        if answered and validate_digest(answered) != desc.digest:
            raise DigestMismatchError(f"{self.where}: the registry stored blob {desc.digest} as {answered}")

    def _verifying(self, desc: Descriptor, content: BinaryIO) -> VerifyingReader:
        what = f"upload of {self.where}@{desc.digest}"
        return verifying(content, desc.digest, desc.size, what=what)

    def _monolithic(self, desc: Descriptor, content: BinaryIO) -> None:
        location = self.location(self.start())
        reader = self._verifying(desc, content)

        def body() -> Iterator[bytes]:
            # Hold one chunk back: the last one leaves only after the digest verified and no extra byte follows.
            pending = reader.read(CHUNK_SIZE)
            while pending:
                following = reader.read(CHUNK_SIZE)
                yield pending
                pending = following

        try:
            if desc.size == 0:
                reader.verify_to_end()
                self._finish(location, desc, b"", 0)
            else:
                self._finish(location, desc, body(), desc.size)
        except BaseException:
            self.cancel(location)
            raise

    def _chunked(self, desc: Descriptor, content: BinaryIO, chunk_size: int) -> None:
        location = self.location(self.start())
        reader = self._verifying(desc, content)
        offset = 0
        try:
            while offset < desc.size:
                chunk = _read_exactly(reader, min(chunk_size, desc.size - offset))
                if offset + len(chunk) >= desc.size:
                    reader.verify_to_end()  # raises before the last chunk leaves if anything is wrong
                elif not chunk:
                    reader.verify_to_end()  # the source ended early: raises DigestMismatchError
                end = offset + len(chunk) - 1
                response = self.http.request(
                    "PATCH", location, what=f"{self.where} blobs/uploads/ (bytes {offset}-{end})", expect=(202,),
                    scopes=self.scopes, content=chunk, retry=False,
                    headers={"Content-Type": _OCTETS, "Content-Range": f"{offset}-{end}",
                             "Content-Length": str(len(chunk))},
                )
                location = self.location(response, location)
                offset += len(chunk)
            if desc.size == 0:
                reader.verify_to_end()
            self._finish(location, desc, b"", 0)
        except BaseException:
            self.cancel(location)
            raise
