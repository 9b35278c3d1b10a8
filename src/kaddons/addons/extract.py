"""Safe, streaming extraction of addon layer tars (spec §2.9 [COMPAT], §8.18-8.19).

Layer blobs come from artifacts nobody vouches for, so extraction confines and bounds them:

* only regular files and directories are written; symbolic and hard links, devices, FIFOs and sparse
  files are refused;
* member names must be relative POSIX paths: absolute names (also ``C:``-style), ``..`` components,
  backslashes and NUL characters are refused; a leading ``./`` (K2s writes ``./x``) is accepted;
* two names that differ only in case (between members, or with what ``dest`` already holds) are
  refused: they would overwrite each other on Windows, where K2s runs;
* the expanded size, the expansion ratio of gzip layers and the number of members are limited
  (:class:`ExtractLimits`), against decompression bombs;
* a file name that occurs twice in one tar is refused (readers disagree on which copy counts), as are
  names equal to another after Unicode normalization (NFC/NFD) or case folding;
* the blob is read to its end and verified after the tar ends, so a digest mismatch or content longer
  than its descriptor is detected even when the tar stops early.

Every refusal is an :class:`~kaddons.errors.UnsafeContentError` (one line, naming the layer and the
member). The caller extracts into a staging directory and discards it on any error; nothing here
writes outside ``dest``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tarfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, Protocol, cast

from kaddons.errors import ContentError, UnsafeContentError, UsageError
from kaddons.oci._tarutil import member_kind
from kaddons.oci.digest import VerifyingReader

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_MEMBERS", "DEFAULT_MAX_RATIO", "DEFAULT_RATIO_FLOOR", "ExtractLimits",
           "extract_tar", "format_size", "parse_size"]

DEFAULT_MAX_BYTES = 4 * 1024**3
"""Default limit of the bytes one tar may expand to: 4 GiB."""
DEFAULT_MAX_MEMBERS = 100_000
"""Default limit of the members (files and directories) of one tar."""
DEFAULT_MAX_RATIO = 200
"""Default limit of expanded bytes per compressed byte of a gzip layer (text compresses 5-20 times)."""
DEFAULT_RATIO_FLOOR = 32 * 1024**2
"""Expanded bytes below which the ratio is not checked: 32 MiB."""
_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


@dataclass(frozen=True)
class ExtractLimits:
    """Bounds for one tar: ``max_bytes`` of file content written, ``max_members`` headers read, and for a
    gzip tar ``max_ratio``: once more than ``ratio_floor`` bytes are written, the bytes written may be at
    most ``max_ratio`` times the compressed bytes read so far (a bomb is stopped after ``ratio_floor``
    bytes instead of ``max_bytes``).

    Raises :class:`~kaddons.errors.UsageError` for a limit that is not positive.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS
    max_ratio: int = DEFAULT_MAX_RATIO
    ratio_floor: int = DEFAULT_RATIO_FLOOR

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_members, self.max_ratio, self.ratio_floor) <= 0:
            raise UsageError(f"extraction limits must be positive, got {self.max_bytes} bytes, "
                             f"{self.max_members} members, ratio {self.max_ratio} after {self.ratio_floor} bytes")


def parse_size(text: str) -> int:
    """A byte count from ``512MiB``, ``4GiB``, ``1.5G``, ``100kB`` or ``1048576`` (bytes).

    ``KiB``/``MiB``/``GiB``/``TiB`` are powers of 1024, ``k``/``M``/``G``/``T`` (with or without ``B``)
    powers of 1000; case is ignored. Raises :class:`~kaddons.errors.UsageError` for anything else or
    a size below one byte.
    """
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise UsageError(f"{text!r} is not a size: use a number of bytes or e.g. 512MiB, 4GiB, 2G")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value < 1:
        raise UsageError(f"size {text!r} must be at least 1 byte")
    return value


def format_size(value: int) -> str:
    """``4294967296`` -> ``4 GiB``; exact binary units where they fit, else bytes."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= factor and value % factor == 0:
            return f"{value // factor} {unit}"
    return f"{value} bytes"


def _member_path(info: tarfile.TarInfo, what: str) -> str | None:
    """The member's normalised relative path, ``None`` for the root (``.``/``./``); raises if unsafe."""
    name = info.name
    if "\x00" in name or "\\" in name:
        raise UnsafeContentError(f"{what}: member {name!r} contains a backslash or NUL character: refusing it")
    if name.startswith("/") or _DRIVE.match(name):
        raise UnsafeContentError(f"{what}: member {name!r} has an absolute name: refusing it")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeContentError(f"{what}: member {name!r} contains '..': refusing it")
    if not parts:
        return None
    if not (info.isreg() or info.isdir()) or info.issparse():
        raise UnsafeContentError(f"{what}: member {name!r} is a {member_kind(info)}: refusing it (only files and "
                                 "directories are allowed)")
    return "/".join(parts)


def _key(path: str) -> str:
    """What makes two names the same file somewhere: case (Windows) and Unicode normalization (NFC/NFD)."""
    return unicodedata.normalize("NFC", path).lower()


class _Tree:
    """What ``dest`` holds (pre-existing and written): exact path by lowercase path, and which are dirs."""

    def __init__(self, dest: Path, what: str) -> None:
        self.what = what
        self.names: dict[str, str] = {}
        self.dirs: set[str] = set()
        for root, dirs, files in os.walk(dest):
            base = PurePosixPath(Path(root).relative_to(dest).as_posix())
            for name in dirs:
                self._add(str(base / name), is_dir=True)
            for name in files:
                self._add(str(base / name), is_dir=False)

    def _add(self, path: str, *, is_dir: bool) -> None:
        path = path.removeprefix("./")
        self.names[_key(path)] = path
        if is_dir:
            self.dirs.add(path)

    def claim(self, path: str, *, is_dir: bool, member: str) -> None:
        """Record ``path`` (and its parents as directories); raise on a case clash or a file/dir conflict."""
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            want_dir = is_dir or depth < len(parts)
            known = self.names.get(_key(prefix))
            if known is not None and known != prefix:
                raise UnsafeContentError(f"{self.what}: member {member!r} collides with {known!r} when case and "
                                         "Unicode normalization are ignored (as on Windows and macOS): refusing it")
            if known is not None and want_dir != (prefix in self.dirs):
                existing = "directory" if prefix in self.dirs else "file"
                raise UnsafeContentError(f"{self.what}: member {member!r} conflicts with the {existing} {prefix!r}: "
                                         "refusing it")
            self._add(prefix, is_dir=want_dir)


class _Counting:
    """A read-only stream that counts the bytes read through it (the compressed bytes of a gzip layer)."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self.count += len(data)
        return data


def _check_ratio(written: int, compressed: _Counting | None, limits: ExtractLimits, what: str) -> None:
    if compressed is not None and written > limits.ratio_floor and written > limits.max_ratio * max(
            compressed.count, 1):
        raise UnsafeContentError(f"{what} expands more than {limits.max_ratio} times its compressed size "
                                 f"({format_size(written)} from {compressed.count} bytes read): refusing it as a "
                                 "decompression bomb")


def _write_file(source: IO[bytes], target: Path, info: tarfile.TarInfo, budget: list[int], limits: ExtractLimits,
                what: str, compressed: _Counting | None) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            budget[0] += len(chunk)
            if budget[0] > limits.max_bytes:
                raise _too_big(what, limits)
            _check_ratio(budget[0], compressed, limits, what)
            out.write(chunk)
        os.fchmod(out.fileno(), 0o755 if info.mode & 0o111 else 0o644)
    _set_mtime(target, info.mtime)


def _set_mtime(path: Path, mtime: float) -> None:
    with contextlib.suppress(OSError, OverflowError, ValueError):
        os.utime(path, (mtime, mtime))


def _too_big(what: str, limits: ExtractLimits) -> UnsafeContentError:
    return UnsafeContentError(f"{what} expands to more than {format_size(limits.max_bytes)}: refusing it as a "
                              "possible decompression bomb (raise the limit with --max-expanded-size)")


def _make_dir(path: Path, what: str, member: str) -> None:
    try:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UnsafeContentError(f"{what}: member {member!r} needs a directory where a file is: refusing it") from None
    if path.is_symlink() or not path.is_dir():
        raise UnsafeContentError(f"{what}: member {member!r} would be written through a non-directory: refusing it")


class Readable(Protocol):
    """What :func:`extract_tar` reads: a binary stream (a file, a :class:`~kaddons.oci.digest.VerifyingReader`)."""

    def read(self, n: int = -1, /) -> bytes: ...


def extract_tar(stream: Readable, dest: Path, *, gzip: bool, limits: ExtractLimits, what: str) -> list[str]:
    """Extract the tar (gzip-compressed if ``gzip``) read from ``stream`` into the directory ``dest``.

    ``stream`` is read once, front to back (tarfile stream mode); when it is a
    :class:`~kaddons.oci.digest.VerifyingReader` it is read to its end and verified afterwards.
    ``dest`` is created if missing; files already in it are overwritten by members of exactly the same
    name (a chart layer repeats files of the manifests layer). Files are written 0644 (0755 when the
    member had an execute bit), directories 0755, both with the member's mtime. ``what`` names the tar
    in messages (``"ingress-nginx: manifests layer"``).

    Returns the relative POSIX paths of the regular files written, in tar order, each once
    (directories are created but not listed). Raises :class:`~kaddons.errors.UnsafeContentError` for
    unsafe members (see the module) or when ``limits`` are exceeded (it stops at once),
    :class:`~kaddons.errors.ContentError` for bytes that are not a (gzip) tar,
    :class:`~kaddons.errors.DigestMismatchError` from the stream, ``OSError`` for write failures.
    Partial output is left in ``dest`` on error: extract into a staging directory.
    """
    dest.mkdir(parents=True, exist_ok=True)
    tree = _Tree(dest, what)
    written: dict[str, None] = {}
    dir_times: list[tuple[Path, float]] = []
    budget, members = [0], 0
    try:
        compressed = _Counting(stream) if gzip else None
        source_stream = cast(BinaryIO, compressed or stream)  # tarfile reads it with read(n) only
        with tarfile.open(fileobj=source_stream, mode="r|gz" if gzip else "r|") as tar:
            for info in tar:
                members += 1
                if members > limits.max_members:
                    raise UnsafeContentError(f"{what} has more than {limits.max_members} members: refusing it "
                                             "(a possible decompression bomb)")
                path = _member_path(info, what)
                if path is None:
                    continue
                if path in written and not info.isdir():
                    raise UnsafeContentError(f"{what}: member {info.name!r} occurs twice: refusing it (which copy "
                                             "counts depends on the reader)")
                tree.claim(path, is_dir=info.isdir(), member=info.name)
                target = dest / path
                if info.isdir():
                    _make_dir(target, what, info.name)
                    dir_times.append((target, info.mtime))
                    continue
                if budget[0] + info.size > limits.max_bytes:
                    raise _too_big(what, limits)
                _make_dir(target.parent, what, info.name)
                source = tar.extractfile(info)
                if source is None:  # pragma: no cover - regular files always have content
                    continue
                _write_file(source, target, info, budget, limits, what, compressed)
                written[path] = None
        if isinstance(stream, VerifyingReader):
            stream.verify_to_end()
    except tarfile.TarError as exc:
        kind = "a gzip-compressed tar" if gzip else "a tar"
        raise ContentError(f"{what} is not {kind}: {exc}") from None
    except EOFError:
        raise ContentError(f"{what} ends in the middle of the tar: the layer is truncated") from None
    for folder, mtime in reversed(dir_times):
        _set_mtime(folder, mtime)
    return list(written)
