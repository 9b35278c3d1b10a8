"""The sync log: K2s ``Sync-Addons.ps1`` lines (spec §4.9).

Every line is ``<yyyy-MM-dd HH:mm:ss> <prefix> <message>`` in local time, the prefix one of
``[AddonSync]``, ``[AddonSync][WARN]`` and ``[AddonSync][ERROR]``; tests and operators grep for
these fragments and for the summary line (:func:`summary_line`). Where lines go is the caller's
choice: a ``sink`` receives each finished line with its level. :meth:`SyncLog.buffered` keeps the
lines of one addon synced in a worker thread, so that a concurrent sync still writes each addon's lines
together and the addons in order (:meth:`BufferedLog.flush`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

__all__ = ["ERROR", "INFO", "PREFIXES", "WARN", "BufferedLog", "Level", "Sink", "SyncLog", "summary_line"]

Level = Literal["info", "warn", "error"]
INFO: Level = "info"
WARN: Level = "warn"
ERROR: Level = "error"
PREFIXES: dict[Level, str] = {INFO: "[AddonSync]", WARN: "[AddonSync][WARN]", ERROR: "[AddonSync][ERROR]"}
"""The prefix of each level (§4.9)."""

Sink = Callable[[Level, str], None]
"""Receives ``(level, line)``; ``line`` is complete (timestamp and prefix), without a newline."""


def summary_line(synced: int, skipped: int, failed: int) -> str:
    """``Addon sync completed. Synced: N, Skipped (unchanged): N, Failed: N`` (§4.9)."""
    return f"Addon sync completed. Synced: {synced}, Skipped (unchanged): {skipped}, Failed: {failed}"


class SyncLog:
    """Formats sync messages as §4.9 lines and hands them to ``sink`` (none: they are dropped).

    Thread-safe as long as ``sink`` is. ``clock`` gives the local time as ``time.localtime`` does.
    """

    def __init__(self, sink: Sink | None = None, *, clock: Callable[[], time.struct_time] = time.localtime) -> None:
        self._sink = sink
        self._clock = clock

    def _emit(self, level: Level, message: str) -> None:
        if self._sink is None:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", self._clock())
        for part in message.splitlines() or [""]:
            self._sink(level, f"{stamp} {PREFIXES[level]} {part}")

    def info(self, message: str) -> None:
        """An ``[AddonSync]`` line."""
        self._emit(INFO, message)

    def warn(self, message: str) -> None:
        """An ``[AddonSync][WARN]`` line."""
        self._emit(WARN, message)

    def error(self, message: str) -> None:
        """An ``[AddonSync][ERROR]`` line."""
        self._emit(ERROR, message)

    def write(self, level: Level, line: str) -> None:
        """Hand a finished ``line`` (timestamp and prefix already in it) to the sink as it is."""
        if self._sink is not None:
            self._sink(level, line)

    def buffered(self) -> BufferedLog:
        """A log that keeps its lines, stamped when they are logged, until :meth:`BufferedLog.flush`
        writes them into this one."""
        return BufferedLog(self)


class BufferedLog(SyncLog):
    """A :class:`SyncLog` whose lines wait in memory until :meth:`flush` writes them into ``target``.

    Thread-safe. Lines are formatted (time stamped) when they are logged, with ``target``'s clock, so
    a flushed line says when it happened. Lines logged after a flush wait for the next one.
    """

    def __init__(self, target: SyncLog) -> None:
        super().__init__(self._keep, clock=target._clock)
        self.target = target
        self._lines: list[tuple[Level, str]] = []
        self._guard = threading.Lock()

    def _keep(self, level: Level, line: str) -> None:
        with self._guard:
            self._lines.append((level, line))

    @property
    def lines(self) -> list[tuple[Level, str]]:
        """The ``(level, line)`` pairs waiting, oldest first (a copy)."""
        with self._guard:
            return list(self._lines)

    def flush(self) -> None:
        """Write the waiting lines into ``target`` in the order they were logged, and forget them."""
        with self._guard:
            lines, self._lines = self._lines, []
        for level, line in lines:
            self.target.write(level, line)
