"""The chart cache: chart archives stored by their sha256 digest, written only after the digest verified.

``<cache>/sha256/<hex>.tgz``; ``<cache>`` is ``$KADDONS_CACHE_DIR/charts``, else
``$XDG_CACHE_HOME/kaddons/charts`` (default ``~/.cache``). A file is streamed into a temporary file beside
its place and renamed once its digest matched, so a reader never sees a partial or unverified chart.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from kaddons._paths import cache_home
from kaddons.errors import DigestMismatchError, KaddonsError
from kaddons.oci.digest import encoded, validate_digest

__all__ = ["ChartCache", "default_cache_dir"]

_CHUNK = 1024 * 1024


class Readable(Protocol):
    """Anything with a file's ``read(size)``."""

    def read(self, size: int = -1, /) -> bytes: ...


def default_cache_dir() -> Path:
    """``$KADDONS_CACHE_DIR/charts``, else ``$XDG_CACHE_HOME/kaddons/charts`` (default ``~/.cache``)."""
    given = os.environ.get("KADDONS_CACHE_DIR")
    if given:
        return Path(given) / "charts"
    return cache_home() / "kaddons" / "charts"


class ChartCache:
    """Chart archives by digest under ``root`` (see the module)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_cache_dir()

    def path(self, digest: str) -> Path:
        """Where the archive of ``digest`` (``sha256:<hex>``) is kept."""
        return self.root / "sha256" / f"{encoded(validate_digest(digest))}.tgz"

    def get(self, digest: str) -> Path | None:
        """The cached archive of ``digest``, or ``None``."""
        path = self.path(digest)
        return path if path.is_file() else None

    def put(self, stream: Readable, digest: str | None, what: str) -> tuple[Path, str]:
        """Store ``stream``'s bytes; ``digest`` (when known) must match, else
        :class:`~kaddons.errors.DigestMismatchError` naming ``what`` and nothing is kept. Returns the path and
        the digest."""
        folder = self.root / "sha256"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".pull-", suffix=".part", dir=folder)
        except OSError as err:
            raise KaddonsError(f"cannot write the chart cache {self.root} ({err.strerror or err}): set "
                               "KADDONS_CACHE_DIR to a writable folder") from None
        hasher = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
            actual = f"sha256:{hasher.hexdigest()}"
            if digest is not None and actual != digest:
                raise DigestMismatchError(f"{what}: digest mismatch: the source promised {digest}, the bytes are "
                                          f"{actual}")
            target = self.path(actual)
            os.replace(temp, target)
            return target, actual
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
