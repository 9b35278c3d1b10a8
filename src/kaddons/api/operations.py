"""Operations of ``kaddons serve`` (issue 15; Ankra's job states, ankra-addons.md §6.2): every write (upgrade,
rollback, uninstall) is queued as an operation and run by one worker thread, one at a time, because they all
edit and commit the same working copy. An operation moves ``pending`` -> ``running`` -> ``success`` | ``failed``;
a pending one can be ``cancelled``. Its ``result`` names the commit (``null`` when nothing changed or on a dry
run) and the files changed; a dry run's result also holds each changed text file before and after, for a diff
to confirm. Operations are kept in memory (the last 1,000); the commits are the lasting record.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kaddons.errors import KaddonsError, NotFoundError, UsageError

__all__ = ["Operation", "Operations"]

PENDING, RUNNING, SUCCESS, FAILED, CANCELLED = "pending", "running", "success", "failed", "cancelled"
KEEP = 1000


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Operation:
    """One queued write: ``id``, ``kind`` (``upgrade``…), ``target`` (``addon/<name>``), ``parameters``,
    ``status``, times (``created``, ``started``, ``finished``; RFC 3339), ``result`` or ``error`` (one line)."""

    id: str
    kind: str
    target: str
    parameters: dict[str, Any]
    status: str = PENDING
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "target": self.target, "parameters": self.parameters,
                "status": self.status, "created": self.created, "started": self.started, "finished": self.finished,
                "result": self.result, "error": self.error}


Work = Callable[[], dict[str, Any]]


class Operations:
    """The queue and its worker (see the module). ``on_change`` is called after each status change."""

    def __init__(self, on_change: Callable[[Operation], None] | None = None) -> None:
        self._items: OrderedDict[str, Operation] = OrderedDict()
        self._work: dict[str, Work] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._on_change = on_change
        self._changed = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, daemon=True, name="kaddons-operations")
        self._thread.start()

    def submit(self, kind: str, target: str, parameters: dict[str, Any], work: Work) -> Operation:
        """Queue ``work`` (returns the result to record; raises KaddonsError to fail)."""
        with self._lock:
            operation = Operation(f"op-{next(self._ids):06d}", kind, target, parameters)
            self._items[operation.id] = operation
            self._work[operation.id] = work
            while len(self._items) > KEEP:
                oldest = next(iter(self._items))
                if self._items[oldest].status in (PENDING, RUNNING):
                    break
                del self._items[oldest]
        self._queue.put(operation.id)
        self._tell(operation)
        return operation

    def get(self, operation_id: str) -> Operation:
        """The operation; raises NotFoundError."""
        with self._lock:
            found = self._items.get(operation_id)
        if found is None:
            raise NotFoundError(f"no operation {operation_id!r}")
        return found

    def all(self) -> list[Operation]:
        """Every kept operation, newest first."""
        with self._lock:
            return list(reversed(self._items.values()))

    def cancel(self, operation_id: str) -> Operation:
        """Cancel a pending operation; raises UsageError when it has started."""
        operation = self.get(operation_id)
        with self._lock:
            if operation.status != PENDING:
                raise UsageError(f"operation {operation_id} is {operation.status}: only a pending one can be "
                                 "cancelled")
            operation.status, operation.finished = CANCELLED, _now()
            self._work.pop(operation_id, None)
        self._tell(operation)
        return operation

    def wait(self, operation_id: str, timeout: float) -> Operation:
        """The operation once it has finished (or after ``timeout`` seconds)."""
        operation = self.get(operation_id)
        with self._changed:
            self._changed.wait_for(lambda: operation.status not in (PENDING, RUNNING), timeout)
        return operation

    def close(self) -> None:
        """Stop the worker after the running operation."""
        self._queue.put(None)

    def _tell(self, operation: Operation) -> None:
        with self._changed:
            self._changed.notify_all()
        if self._on_change is not None:
            self._on_change(operation)

    def _run(self) -> None:
        while (operation_id := self._queue.get()) is not None:
            with self._lock:
                work = self._work.pop(operation_id, None)
                operation = self._items.get(operation_id)
                if work is None or operation is None:  # cancelled
                    continue
                operation.status, operation.started = RUNNING, _now()
            self._tell(operation)
            try:
                result = work()
            except KaddonsError as err:
                operation.error, operation.status = str(err), FAILED
            except Exception as err:  # a defect: recorded, the worker goes on
                operation.error, operation.status = f"{type(err).__name__}: {err}", FAILED
            else:
                operation.result, operation.status = result, SUCCESS
            operation.finished = _now()
            self._tell(operation)
