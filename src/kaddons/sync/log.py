"""The sync log: K2s ``Sync-Addons.ps1`` lines (spec §4.9).

Every line is ``<yyyy-MM-dd HH:mm:ss> <prefix> <message>`` in local time, the prefix one of
``[AddonSync]``, ``[AddonSync][WARN]`` and ``[AddonSync][ERROR]``; tests and operators grep for
these fragments and for the summary line (:func:`summary_line`). Where lines go is the caller's
choice: a ``sink`` receives each finished line with its level.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["ERROR", "INFO", "PREFIXES", "WARN", "Level", "Sink", "SyncLog", "summary_line"]

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
