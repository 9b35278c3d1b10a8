"""Content digests (image-spec descriptor.md §Digests), computed and verified while streaming.

Only ``sha256`` is supported; any other algorithm, or a malformed encoded part, raises
:class:`~kaddons.errors.UnsupportedDigestError` with the digest in the message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import BinaryIO

from kaddons.errors import DigestMismatchError, UnsupportedDigestError
from kaddons.oci._stream import CHUNK, ChunkStream

__all__ = [
    "ALGORITHM",
    "VerifyingReader",
    "digest_of",
    "encoded",
    "validate_digest",
    "verifying",
]

ALGORITHM = "sha256"
# Grammar of descriptor.md: algorithm ":" encoded.
_DIGEST_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_SHA256_ENCODED = re.compile(r"^[a-f0-9]{64}$")


def validate_digest(digest: str) -> str:
    """Return ``digest`` unchanged if it is a well-formed ``sha256:<64 lowercase hex>``.

    Raises :class:`UnsupportedDigestError` for a malformed digest or another algorithm.
    """
    if not isinstance(digest, str) or not _DIGEST_GRAMMAR.match(digest):
        raise UnsupportedDigestError(f"malformed digest {digest!r}: expected sha256:<64 hex digits>")
    algorithm, _, hexpart = digest.partition(":")
    if algorithm != ALGORITHM:
        raise UnsupportedDigestError(
            f"unsupported digest algorithm {algorithm!r} in {digest}: kaddons supports sha256 only"
        )
    if not _SHA256_ENCODED.match(hexpart):
        raise UnsupportedDigestError(f"malformed sha256 digest {digest!r}: expected 64 lowercase hex digits")
    return digest


def encoded(digest: str) -> str:
    """The hex part of a validated digest (the blob's file name in a layout)."""
    return validate_digest(digest).partition(":")[2]


def digest_of(data: bytes) -> str:
    """The ``sha256:`` digest of in-memory bytes (manifests and other small documents)."""
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"


class VerifyingReader(ChunkStream):
    """A read-only stream that checks size and digest of the bytes passing through it.

    Wraps ``raw``, which is expected to yield exactly ``size`` bytes whose sha256 is ``digest``.
    The read that completes ``size`` bytes verifies the digest *before* returning its data, so a
    consumer never receives the last chunk of corrupt content; reading past ``size``, or reaching
    EOF early, raises :class:`DigestMismatchError`. ``what`` names the content in messages.
    ``observer``, if set, is called with the byte count of every read (progress bars).
    Closing the reader closes ``raw``. Reads hand on the wrapped stream's bytes without copying.
    """

    def __init__(self, raw: BinaryIO, digest: str, size: int, *, what: str | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._digest = validate_digest(digest)
        self._size = size
        self._what = what or digest
        self._hash = hashlib.sha256()
        self._seen = 0
        self._verified = False
        self.observer: Callable[[int], None] | None = None

    @property
    def digest(self) -> str:
        """The digest the content must have."""
        return self._digest

    @property
    def size(self) -> int:
        """The size in bytes the content must have."""
        return self._size

    @property
    def bytes_read(self) -> int:
        """How many bytes have passed through so far."""
        return self._seen

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        remaining = self._size - self._seen
        if remaining <= 0:
            # Probe one byte past the end: content longer than its descriptor is an error.
            if self._raw.read(1):
                raise DigestMismatchError(
                    f"{self._what}: content is larger than the {self._size} bytes its descriptor says"
                )
            self._finish()
            return b""
        if size == 0:
            return b""
        data = self._raw.read(min(size, remaining))
        if not data:
            raise DigestMismatchError(f"{self._what}: content ended after {self._seen} of {self._size} bytes")
        self._hash.update(data)
        self._seen += len(data)
        if self._seen == self._size:
            self._finish()
        if self.observer is not None:
            self.observer(len(data))
        return bytes(data)

    def _finish(self) -> None:
        if self._verified:
            return
        actual = f"{ALGORITHM}:{self._hash.hexdigest()}"
        if actual != self._digest:
            raise DigestMismatchError(f"{self._what}: digest mismatch: expected {self._digest}, got {actual}")
        self._verified = True

    def verify_to_end(self) -> None:
        """Read and discard whatever is left, then verify (raises on any mismatch)."""
        while self.read(CHUNK):
            pass
        self._finish()

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class _Borrowed:
    """The caller's stream, lent to a VerifyingReader: closing the reader leaves it open."""

    def __init__(self, raw: BinaryIO) -> None:
        self.read = raw.read

    def close(self) -> None:
        pass


def verifying(content: BinaryIO, digest: str, size: int, *, what: str | None = None) -> VerifyingReader:
    """A verified view of ``content`` for a store's ``push``; closing it leaves ``content`` open.

    When ``content`` already is an unread :class:`VerifyingReader` for the same digest and size (a
    ``fetch`` from another store, as in ``copy``), it is returned as is: it raises before handing
    over the last chunk of bad content, so hashing every byte a second time would add nothing.
    """
    if (isinstance(content, VerifyingReader) and content.digest == digest and content.size == size
            and content.bytes_read == 0):
        return content
    return VerifyingReader(_Borrowed(content), digest, size, what=what)  # type: ignore[arg-type]
