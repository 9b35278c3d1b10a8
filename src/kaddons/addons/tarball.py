"""Deterministic tar writing for addon layers (spec §2.9, §2.15 [REC]).

Two shapes:

* :func:`write_layer`: a (gzip-compressed) tar of files streamed into a :class:`HashingWriter`, for
  layers 0-3 and 6. Members are sorted by name, every parent directory has an entry, owners are
  0:0 with empty names, modes 0644 (0755 when the source file is executable) and 0755 for
  directories, the mtime is the one given, and the gzip header has mtime 0 and no file name. Names
  carry no ``./`` prefix (readers MUST accept both, §2.9).
* :class:`TarOfFiles`: an uncompressed tar whose members are whole files (the "tar of tars" of the
  image layers 4 and 5). Its exact bytes are known from the file list without writing it, so it can
  be hashed in one read pass and then copied into the ``.oci.tar`` with ``copy_file_range`` (the
  kernel copies; Python never holds the data).

The same input always gives the same bytes with the same zlib; zlib builds may differ (gzip output is
not standardised), so archives are reproducible per machine image, as with every gzip-based tool.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from kaddons.oci._tarutil import copy_file
from kaddons.oci.digest import ALGORITHM

__all__ = ["Entry", "HashingWriter", "TarOfFiles", "write_layer"]

BLOCK = 512
RECORD = 20 * BLOCK
_CHUNK = 1 << 20
_GZIP_LEVEL = 6


@dataclass(frozen=True)
class Entry:
    """One file of a layer: ``name`` is its relative POSIX path inside the tar; ``source`` the file on
    disk to read, or the bytes themselves (generated files such as ``gitops-sync/sync-job.yaml``)."""

    name: str
    source: Path | bytes

    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size

    def mode(self) -> int:
        if isinstance(self.source, bytes):
            return 0o644
        return 0o755 if self.source.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else 0o644


class HashingWriter:
    """A write-only stream over ``raw`` that counts bytes (``size``) and hashes them (``digest``, ``sha256:<hex>``)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()

    @property
    def digest(self) -> str:
        return f"{ALGORITHM}:{self._hash.hexdigest()}"


def _info(name: str, *, size: int = 0, mode: int = 0o644, mtime: int, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type, info.mode, info.size = tarfile.DIRTYPE, 0o755, 0
    return info


def _with_parents(entries: Iterable[Entry]) -> list[tuple[str, Entry | None]]:
    """Sorted (name, entry) pairs, a ``None`` entry for each implied directory."""
    files = {e.name: e for e in entries}
    dirs = {str(parent) for name in files for parent in PurePosixPath(name).parents if str(parent) != "."}
    items: list[tuple[str, Entry | None]] = [(d, None) for d in dirs] + list(files.items())
    return sorted(items, key=lambda item: item[0])


def write_layer(out: BinaryIO, entries: Iterable[Entry], *, mtime: int, compress: bool = True) -> None:
    """Write ``entries`` as a deterministic tar (gzip-compressed when ``compress``) to ``out``.

    Files are streamed in 1 MiB chunks. Later entries of the same name replace earlier ones. ``out``
    is not closed. Raises ``OSError`` when a source cannot be read.
    """
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=_GZIP_LEVEL) if compress else None
    target = gz if gz is not None else out
    with tarfile.open(fileobj=target, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, entry in _with_parents(entries):
            if entry is None:
                tar.addfile(_info(name, mtime=mtime, directory=True))
            elif isinstance(entry.source, bytes):
                tar.addfile(_info(name, size=len(entry.source), mtime=mtime), io.BytesIO(entry.source))
            else:
                with entry.source.open("rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    tar.addfile(_info(name, size=size, mode=entry.mode(), mtime=mtime), f)
    if gz is not None:
        gz.close()


class TarOfFiles:
    """An uncompressed, deterministic tar of whole files at the tar root (layers 4 and 5, §2.7 step 7).

    ``files`` maps member name -> file; members are sorted by name, headers as in
    :func:`write_layer`. :meth:`size` and :meth:`digest` come from the file list and one read pass;
    :meth:`write_to` appends the same bytes to a real file. Files must not change in between
    (``OSError`` when their size did).
    """

    def __init__(self, files: dict[str, Path], *, mtime: int) -> None:
        self._files = sorted((name, path, path.stat().st_size) for name, path in files.items())
        self._mtime = mtime
        self._digest: str | None = None

    def _segments(self) -> Iterator[bytes | tuple[Path, int]]:
        written = 0
        for name, path, size in self._files:
            header = _info(name, size=size, mtime=self._mtime).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            yield header
            yield (path, size)
            pad = -size % BLOCK
            yield b"\0" * pad
            written += len(header) + size + pad
        end = 2 * BLOCK
        yield b"\0" * (end + (-(written + end) % RECORD))

    def size(self) -> int:
        """Total size of the tar in bytes."""
        return sum(len(s) if isinstance(s, bytes) else s[1] for s in self._segments())

    def digest(self) -> str:
        """``sha256:<hex>`` of the tar, computed by reading every file once (cached)."""
        if self._digest is None:
            h = hashlib.sha256()
            for segment in self._segments():
                if isinstance(segment, bytes):
                    h.update(segment)
                    continue
                path, size = segment
                with path.open("rb") as f:
                    left = size
                    while left and (chunk := f.read(min(_CHUNK, left))):
                        h.update(chunk)
                        left -= len(chunk)
                    if left:
                        raise OSError(f"{path} shrank while being exported")
            self._digest = f"{ALGORITHM}:{h.hexdigest()}"
        return self._digest

    def write_to(self, out: IO[bytes]) -> None:
        """Append the tar to ``out``, which must be a real file (``fileno``)."""
        for segment in self._segments():
            if isinstance(segment, bytes):
                out.write(segment)
            else:
                copy_file(segment[0], out, segment[1])
