"""Tar plumbing for ``.oci.tar`` archives: a checked one-pass scan, bounded member readers, and
deterministic member headers. No extraction happens anywhere: members are read in place.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from kaddons.errors import LayoutError, UsageError
from kaddons.oci.layout_names import INDEX_FILE, LAYOUT_FILE

__all__ = ["Member", "Section", "copy_file", "dir_info", "file_info", "member_kind", "scan", "tar_mtime"]

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Member:
    """A regular file inside the tar: its data starts at byte ``offset`` and is ``size`` bytes long."""

    offset: int
    size: int


def member_kind(info: tarfile.TarInfo) -> str:
    """What a tar member that is not a regular file is, for messages: ``symbolic link to '...'``,
    ``hard link to '...'``, ``sparse file``, ``directory``, ``device``, ``FIFO`` or ``special file``."""
    if info.issym():
        return f"symbolic link to {info.linkname!r}"
    if info.islnk():
        return f"hard link to {info.linkname!r}"
    if info.issparse():
        return "sparse file"
    if info.isdir():
        return "directory"
    if info.ischr() or info.isblk():
        return "device"
    if info.isfifo():
        return "FIFO"
    return "special file"


def _is_layout_name(name: str) -> bool:
    return name in (LAYOUT_FILE, INDEX_FILE) or name == "blobs" or name.startswith("blobs/")


def _check(archive: Path, info: tarfile.TarInfo) -> str | None:
    """The normalised name of a member (``./`` stripped), ``None`` for the root ``.``; raises LayoutError."""
    name = info.name
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise LayoutError(f"{archive}: member {name!r} has an absolute name: refusing the archive")
    if ".." in PurePosixPath(name).parts:
        raise LayoutError(f"{archive}: member {name!r} contains '..': refusing the archive")
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    if name in ("", "."):
        return None
    if not _is_layout_name(name):
        return name  # unknown files are allowed (image-layout.md) and ignored
    if info.isdir() and name.startswith("blobs") and len(PurePosixPath(name).parts) <= 2:
        return name  # blobs/ and blobs/<algorithm>/
    if not info.isreg() or info.issparse():
        raise LayoutError(
            f"{archive}: member {info.name!r} is a {member_kind(info)}: layout files and blobs must be regular files"
        )
    return name


def scan(archive: Path) -> dict[str, Member]:
    """Read every header of an uncompressed tar once: normalised name -> :class:`Member` (files only).

    Raises :class:`LayoutError` for a file that is not an (uncompressed) tar, for a name that occurs
    twice (two ``index.json``: readers would disagree on which counts), and for members that are
    absolute, contain ``..``, or are links/devices/directories where layout files or blobs belong.
    """
    members: dict[str, Member] = {}
    try:
        with archive.open("rb") as f:
            if f.read(2) == _GZIP_MAGIC:
                raise LayoutError(f"{archive} is gzip-compressed: an .oci.tar must be an uncompressed tar (gunzip it)")
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:") as tar:
                for info in tar:
                    name = _check(archive, info)
                    if name is not None and info.isreg():
                        if name in members:
                            raise LayoutError(f"{archive} holds {name} twice: refusing it (which copy counts "
                                              "depends on the reader)")
                        members[name] = Member(info.offset_data, info.size)
    except tarfile.TarError as exc:
        raise LayoutError(f"{archive} is not a tar archive: {exc}") from None
    except IsADirectoryError:
        raise UsageError(f"{archive} is a directory, not an .oci.tar file (for a directory use oci-layout:)") from None
    return members


class Section:
    """A read-only stream over ``size`` bytes of ``raw`` starting at its current position; owns ``raw``."""

    def __init__(self, raw: IO[bytes], size: int) -> None:
        self._raw = raw
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self._left:
            n = self._left
        data = self._raw.read(n) if n else b""
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Section:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tar_mtime() -> int:
    """Member mtime of written archives: ``SOURCE_DATE_EPOCH`` (seconds) when set, else 0.

    Raises :class:`UsageError` when ``SOURCE_DATE_EPOCH`` is not a non-negative integer.
    """
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a non-negative integer number of seconds")
    return int(value)


def file_info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    """A deterministic header for a regular file: mode 0644, owner 0:0 with empty names."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def dir_info(name: str, mtime: int) -> tarfile.TarInfo:
    """A deterministic header for a directory (written as ``name/``): mode 0755, owner 0:0."""
    info = file_info(name, 0, mtime)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info


def copy_file(source: Path, out: IO[bytes], size: int) -> None:
    """Append exactly ``size`` bytes of ``source`` to ``out`` (a real file), in the kernel when possible."""
    out.flush()
    with source.open("rb") as src:
        if os.fstat(src.fileno()).st_size != size:
            raise OSError(f"{source} changed size while being exported")
        left = size
        dst_fd = out.fileno()
        try:
            while left:
                done = os.copy_file_range(src.fileno(), dst_fd, min(left, 1 << 30))
                if done == 0:
                    raise OSError(f"{source} shrank while being exported")
                left -= done
        except OSError as exc:
            if left != size or getattr(exc, "errno", None) not in (18, 22, 38, 95):  # EXDEV EINVAL ENOSYS EOPNOTSUPP
                raise
            while chunk := src.read(min((1 << 20), left)):
                out.write(chunk)
                left -= len(chunk)
