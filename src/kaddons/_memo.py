"""Results of pure computations kept on disk by the hash of their input (issue 14, performance).

Every CLI command is a new process, and on a large cluster document most of its time is work whose input did
not change since the last command: parsing the same YAML files (:mod:`kaddons.stacks.parsed`), writing the same
objects as YAML (:func:`kaddons.gitops._yaml.dump_kept`). A :class:`DiskMemo` keeps such results under
``$KADDONS_CACHE_DIR/<name>/`` (else ``$XDG_CACHE_HOME/kaddons/<name>/``, default ``~/.cache``), one file per
key (the caller's sha256 hex of everything the result depends on), each file the sha256 of its content followed
by the content, checked on every read. Files are written beside their place and renamed into it. A memo holds at
most ``max_files`` files and ``max_bytes`` bytes: once a process has written, the least recently used files go
(a read refreshes a file's time) until it holds three quarters of either. Any problem (an unwritable folder, a
damaged file) is a miss, never an error. ``KADDONS_MEMO=off`` turns every memo off.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from kaddons._paths import cache_home

__all__ = ["DiskMemo"]

_KEY = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = 32


class DiskMemo:
    """Bytes by key in the folder ``name`` of kaddons' cache (see the module)."""

    def __init__(self, name: str, *, max_files: int, max_bytes: int) -> None:
        self.name = name
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._bounded: set[Path] = set()

    def folder(self) -> Path | None:
        """Where the files are, or ``None`` when ``KADDONS_MEMO`` is ``off``."""
        if os.environ.get("KADDONS_MEMO", "").lower() in ("off", "0", "false", "no"):
            return None
        given = os.environ.get("KADDONS_CACHE_DIR")
        return (Path(given) if given else cache_home() / "kaddons") / self.name

    def get(self, key: str) -> bytes | None:
        """The bytes kept under ``key`` (64 lowercase hex digits), if present and whole; else ``None``."""
        folder = self.folder()
        if folder is None or not _KEY.fullmatch(key):
            return None
        path = folder / key
        try:
            with open(path, "rb") as handle:
                data = handle.read(self.max_bytes + _DIGEST + 1)
            if len(data) < _DIGEST or hashlib.sha256(data[_DIGEST:]).digest() != data[:_DIGEST]:
                return None  # damaged or cut: a miss (the next put replaces it)
            os.utime(path)
        except OSError:
            return None
        return data[_DIGEST:]

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key``; a result larger than a tenth of the memo is not kept."""
        folder = self.folder()
        if folder is None or not _KEY.fullmatch(key) or len(data) > self.max_bytes // 10:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".memo-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(hashlib.sha256(data).digest())
                    out.write(data)
                os.replace(temp, folder / key)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            if folder not in self._bounded:  # once a process: a command writes a few hundred files at most
                self._bounded.add(folder)
                self._bound(folder)
        except OSError:
            return  # a memo that cannot be written is no memo, not an error

    def _bound(self, folder: Path) -> None:
        entries = []
        total = 0
        with os.scandir(folder) as found:
            for entry in found:
                if entry.name.startswith("."):
                    continue
                try:
                    stat = entry.stat()
                except OSError:
                    continue
                entries.append((stat.st_mtime, stat.st_size, entry.path))
                total += stat.st_size
        if len(entries) <= self.max_files and total <= self.max_bytes:
            return
        entries.sort()
        count = len(entries)
        for _mtime, size, path in entries:
            if count <= self.max_files * 3 // 4 and total <= self.max_bytes * 3 // 4:
                break
            try:
                os.unlink(path)
            except OSError:
                continue
            count -= 1
            total -= size
