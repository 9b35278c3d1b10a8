"""A rich progress bar for copies, shown only when standard error is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kaddons.oci.copy import CopyObserver
from kaddons.oci.models import Descriptor

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class _ProgressObserver:
    """A :class:`~kaddons.oci.copy.CopyObserver` that draws one bar per blob in flight."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def on_start(self, desc: Descriptor) -> None:
        label = (desc.annotations or {}).get("org.opencontainers.image.title") or desc.digest[7:19]
        self._tasks[desc.digest] = self._progress.add_task(label, total=desc.size)

    def on_bytes(self, desc: Descriptor, count: int) -> None:
        task = self._tasks.get(desc.digest)
        if task is not None:
            self._progress.advance(task, count)

    def on_done(self, desc: Descriptor, *, skipped: bool) -> None:
        task = self._tasks.pop(desc.digest, None)
        if task is not None:
            self._progress.remove_task(task)


@contextlib.contextmanager
def copy_progress() -> Iterator[CopyObserver | None]:
    """Yield an observer drawing progress on a terminal, or ``None`` when stderr is not one."""
    if not sys.stderr.isatty():
        yield None
        return
    # Imported here: rich's progress machinery costs start-up time that scripts and pipes don't need.
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield _ProgressObserver(progress)
