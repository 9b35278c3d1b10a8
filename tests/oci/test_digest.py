"""Digests and the verifying stream every store hands out."""

from __future__ import annotations

import hashlib
import io

import pytest

from kaddons.errors import DigestMismatchError, UnsupportedDigestError
from kaddons.oci.digest import VerifyingReader, digest_of, validate_digest, verifying


def test_validate_digest_accepts_sha256_only() -> None:
    good = "sha256:" + hashlib.sha256(b"x").hexdigest()
    assert validate_digest(good) == good
    for bad in ("sha512:" + "0" * 128, "sha256:" + "A" * 64, "sha256:abc", "nocolon", "sha256:" + "0" * 65):
        with pytest.raises(UnsupportedDigestError):
            validate_digest(bad)


def test_reader_passes_good_content_through() -> None:
    data = b"0123456789" * 1000
    reader = VerifyingReader(io.BytesIO(data), digest_of(data), len(data))
    assert reader.read() == data
    assert reader.read(10) == b""


def test_last_chunk_of_corrupt_content_is_never_handed_over() -> None:
    data = b"a" * 100
    reader = VerifyingReader(io.BytesIO(b"a" * 99 + b"b"), digest_of(data), 100)
    assert reader.read(60) == b"a" * 60  # not yet known to be bad
    with pytest.raises(DigestMismatchError, match="digest mismatch"):
        reader.read(60)  # the read that completes the size verifies before returning


def test_short_and_long_content_are_refused() -> None:
    data = b"abc"
    with pytest.raises(DigestMismatchError, match="ended after 2 of 3"):
        VerifyingReader(io.BytesIO(b"ab"), digest_of(data), 3).read()
    long_reader = VerifyingReader(io.BytesIO(b"abcd"), digest_of(data), 3)
    assert long_reader.read(3) == b"abc"
    with pytest.raises(DigestMismatchError, match="larger than the 3 bytes"):
        long_reader.read(1)


def test_verifying_reuses_an_unread_reader_for_the_same_content_only() -> None:
    data = b"payload"
    inner = VerifyingReader(io.BytesIO(data), digest_of(data), len(data))
    assert verifying(inner, digest_of(data), len(data)) is inner
    other = verifying(inner, digest_of(b"other"), 5)
    assert other is not inner
    source = io.BytesIO(data)
    wrapped = verifying(source, digest_of(data), len(data))
    assert wrapped.read() == data
    wrapped.close()
    assert not source.closed  # the caller's stream is only lent
