"""A streamed download that resumes after a cut connection (distribution-spec §Pulling blobs, Range).

:class:`ResumingStream` yields the body of a GET chunk by chunk, never holding more than one chunk.
When the connection breaks (or the body ends before the expected size), it asks again from the
current offset with ``Range: bytes=N-``: a ``206`` answer continues where the stream stopped, a
``200`` answer (a server that ignores ``Range``) is read again and its first N bytes skipped. The
number of these resumptions (``attempts``, counting the first request) and the time from the first
cut (``max_elapsed``) are bounded by the :class:`RetryPolicy`; a slow consumer is not a failure.
Verification of the bytes is the job of the :class:`~kaddons.oci.digest.VerifyingReader` on top.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx

from kaddons.errors import InvalidManifestError, RegistryResponseError, RegistryUnavailableError
from kaddons.oci._stream import CHUNK, ChunkStream
from kaddons.oci.registry._errors import one_line, transport_error
from kaddons.oci.registry._options import RetryPolicy

__all__ = ["CHUNK_SIZE", "ResumingStream", "read_bounded"]

#: Bytes per read from the network.
CHUNK_SIZE = CHUNK
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

#: Opens the GET from an offset: ``open(offset)`` returns a streamed 200 or 206 response.
Opener = Callable[[int], httpx.Response]


class ResumingStream(ChunkStream):
    """The raw body of a download of ``size`` bytes, resumed after cuts; ``what`` names it in messages."""

    def __init__(self, opener: Opener, size: int, policy: RetryPolicy, what: str) -> None:
        super().__init__()
        self._open = opener
        self._size = size
        self._policy = policy
        self._what = what
        self._offset = 0
        self._skip = 0
        self._buffer = b""
        self._failures = 0
        self._first_cut = 0.0
        self._response = opener(0)
        self._chunks = self._iterate(self._response)

    @property
    def resumptions(self) -> int:
        """How many times the download was resumed."""
        return self._failures

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (at most one network chunk), ``b""`` at the end; chunks pass uncopied."""
        if size is None or size < 0:
            return self.readall()
        while not self._buffer:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                if self._offset >= self._size:
                    return b""
                self._resume(f"the body ended after {self._offset} of {self._size} bytes")
                continue
            except httpx.RequestError as exc:
                self._resume(one_line(str(exc) or type(exc).__name__, 80))
                continue
            if self._skip:
                dropped = min(self._skip, len(chunk))
                chunk = chunk[dropped:]
                self._skip -= dropped
            self._buffer = chunk
        if len(self._buffer) <= size:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        self._offset += len(data)
        return data

    @staticmethod
    def _iterate(response: httpx.Response) -> Iterator[bytes]:
        yield from response.iter_bytes()  # as it arrives: a chunk buffer would lose bytes at a cut

    def _resume(self, reason: str) -> None:
        self._response.close()
        self._failures += 1
        if self._failures == 1:
            self._first_cut = time.monotonic()
        policy = self._policy
        delay = policy.backoff(self._failures)
        if self._failures >= policy.attempts or time.monotonic() - self._first_cut + delay > policy.max_elapsed:
            raise RegistryUnavailableError(
                f"download of {self._what} was cut at byte {self._offset} of {self._size} "
                f"{self._failures} times (last: {reason}): retry later"
            )
        time.sleep(delay)
        response = self._open(self._offset)
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if not match or int(match.group(1)) != self._offset:
                response.close()
                raise RegistryResponseError(
                    f"GET {self._what}: resumed at byte {self._offset} but the registry answered the range "
                    f"{response.headers.get('content-range')!r}",
                    status=206,
                )
            self._skip = 0
        else:
            self._skip = self._offset
        self._response = response
        self._chunks = self._iterate(response)

    def close(self) -> None:
        try:
            self._response.close()
        finally:
            super().close()


def read_bounded(response: httpx.Response, limit: int, what: str) -> bytes:
    """The whole body of a streamed ``GET`` answer, at most ``limit`` bytes (then closed).

    Raises :class:`InvalidManifestError` beyond ``limit`` (only manifests are read whole), and
    :class:`RegistryUnavailableError` when the connection fails.
    """
    data = bytearray()
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > limit:
                raise InvalidManifestError(f"manifest {what} is larger than {limit} bytes")
    except httpx.RequestError as exc:
        raise transport_error(exc, "GET", what, 1) from None
    finally:
        response.close()
    return bytes(data)
