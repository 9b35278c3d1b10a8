"""Operations of ``kaddons serve`` (issue 15; Ankra's job states, ankra-addons.md §6.2): every write (upgrade,
rollback, uninstall) is queued as an operation and run by one worker thread, one at a time, because they all
edit and commit the same working copy. An operation moves ``pending`` -> ``running`` -> ``success`` | ``failed``;
a pending one can be ``cancelled``. Its ``result`` names the commit (``null`` when nothing changed or on a dry
run) and the files changed; a dry run's result also holds the unified diff of what it would commit, to
confirm. The last 1,000 operations are kept in memory and, given a ``journal`` file (``kaddons serve`` keeps
it in the working copy's Git folder, ``.git/kaddons/operations.jsonl``), outlive a restart of the server: every
change of status is appended to it as one JSON line, the last line of an operation wins, and the file is written
anew (atomically) when it grows past twice what is kept. A dry run's diff is not written there (a preview to
confirm at once; after a restart, run it again). An operation that was pending when the server stopped is
``cancelled`` on the next start, one that was running is ``failed`` (its commit, if it made one, is on the branch:
the commits are the lasting record); numbering goes on after the highest id of the journal, so an id is never
given to two operations. Values a request carries (an install's values text, an upgrade's values by path) are
not recorded (:func:`recorded`): operations are read with any read token, and a value meant to be encrypted that
an operation refused would otherwise be shown in plaintext.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import queue
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kaddons.errors import KaddonsError, NotFoundError, UsageError

__all__ = ["NOT_RECORDED", "Operation", "Operations", "journal_of", "recorded"]

PENDING, RUNNING, SUCCESS, FAILED, CANCELLED = "pending", "running", "success", "failed", "cancelled"
KEEP = 1000
NOT_RECORDED = "<not recorded>"
"""What :func:`recorded` puts in place of a value."""


def journal_of(folder: Path) -> Path | None:
    """Where ``kaddons serve`` keeps the operations of the working copy holding ``folder``:
    ``<its Git folder>/kaddons/operations.jsonl`` (private to that clone, never committed); ``None`` outside Git."""
    import pygit2

    found = pygit2.discover_repository(str(folder))
    return Path(found) / "kaddons" / "operations.jsonl" if found else None


def recorded(parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` as an operation keeps them: a ``values`` text (install) is replaced by :data:`NOT_RECORDED`
    and its size, each ``value`` of a ``values`` list (an upgrade's values by path) by :data:`NOT_RECORDED`; the
    paths, versions and names stay. The change itself is in its commit (the result names it)."""
    values = parameters.get("values")
    if isinstance(values, str):
        return {**parameters, "values": f"{NOT_RECORDED} ({len(values.encode())} bytes)"}
    if isinstance(values, list):
        return {**parameters, "values": [{**item, "value": NOT_RECORDED} if isinstance(item, dict) else NOT_RECORDED
                                         for item in values]}
    return parameters


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operation:
        """The operation :meth:`to_dict` gave; raises KeyError or TypeError for anything else."""
        return cls(**{name: data[name] for name in ("id", "kind", "target", "parameters", "status", "created",
                                                    "started", "finished", "result", "error")})


Work = Callable[[], dict[str, Any]]


def _journal_line(operation: Operation) -> str:
    """The journal's line for ``operation``: its :meth:`~Operation.to_dict`, but for a dry run's ``diff`` (a preview
    to confirm now, often large: after a restart, run the dry run again)."""
    data = operation.to_dict()
    if isinstance(data["result"], dict) and "diff" in data["result"]:
        data["result"] = {k: v for k, v in data["result"].items() if k != "diff"}
    return json.dumps(data, separators=(",", ":")) + "\n"


class Operations:
    """The queue and its worker (see the module). ``on_change`` is called after each status change; ``journal``:
    the file operations are kept in across restarts (created with its folder, mode 0600; ``None``: memory only).
    Raises OSError when the journal cannot be read or written."""

    def __init__(self, on_change: Callable[[Operation], None] | None = None, *, journal: Path | None = None) -> None:
        self._items: OrderedDict[str, Operation] = OrderedDict()
        self._work: dict[str, Work] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._journal = journal
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
        self._journal_lock = threading.Lock()
        self._journal_lines = 0
        self._ids = itertools.count(self._read_journal() + 1)
        self._on_change = on_change
        self._changed = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, daemon=True, name="kaddons-operations")
        self._thread.start()

    def submit(self, kind: str, target: str, parameters: dict[str, Any], work: Work) -> Operation:
        """Queue ``work`` (returns the result to record; raises KaddonsError to fail)."""
        with self._journal_lock:  # ids, journal lines and the list in one order
            with self._lock:
                operation = Operation(f"op-{next(self._ids):06d}", kind, target, parameters)
            self._append_locked(operation)  # in the journal before anyone can see it
            with self._lock:
                self._items[operation.id] = operation
                self._work[operation.id] = work
                while len(self._items) > KEEP:
                    oldest = next(iter(self._items))
                    if self._items[oldest].status in (PENDING, RUNNING):
                        break
                    del self._items[oldest]
            self._queue.put(operation.id)  # run in the order of their ids
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
        self._append(operation)  # (a stop before this line: the next start cancels it all the same)
        self._tell(operation)
        return operation

    def wait(self, operation_id: str, timeout: float) -> Operation:
        """The operation once it has finished (or after ``timeout`` seconds); a finished one is in the journal."""
        operation = self.get(operation_id)
        with self._changed:
            self._changed.wait_for(lambda: operation.status not in (PENDING, RUNNING), timeout)
        return operation

    def close(self) -> None:
        """Stop the worker after the running operation."""
        self._queue.put(None)

    def _read_journal(self) -> int:
        """Load the journal's operations (the last :data:`KEEP`, in the order they were created), close those a
        stop interrupted, and return the highest id number it holds (0 when there is none)."""
        if self._journal is None:
            return 0
        highest = 0
        try:
            with self._journal.open(encoding="utf-8") as lines:
                for line in lines:
                    try:
                        operation = Operation.from_dict(json.loads(line))
                        number = int(operation.id.removeprefix("op-"))
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue  # a line cut short by a crash, or not ours: the others stand
                    highest = max(highest, number)
                    self._items[operation.id] = operation  # a later line of the same operation wins, in its place
        except FileNotFoundError:
            return 0
        while len(self._items) > KEEP:
            self._items.popitem(last=False)
        stopped = _now()
        for operation in self._items.values():
            if operation.status == PENDING:
                operation.status, operation.finished = CANCELLED, stopped
                operation.error = "the server stopped before it ran"
            elif operation.status == RUNNING:
                operation.status, operation.finished = FAILED, stopped
                operation.error = ("the server stopped while it ran: a commit it made is on the branch (kaddons "
                                   "cluster addons history NAME)")
        self._rewrite_journal()
        return highest

    def _rewrite_journal(self) -> None:
        """Write the journal anew with the kept operations, atomically (a temporary file renamed over it)."""
        assert self._journal is not None
        with self._lock:
            lines = [_journal_line(o) for o in self._items.values()]
        descriptor, name = tempfile.mkstemp(dir=self._journal.parent, prefix=f".{self._journal.name}.",
                                            suffix=".tmp")  # mode 0600
        temporary = Path(name)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.writelines(lines)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self._journal)
        finally:
            temporary.unlink(missing_ok=True)
        self._journal_lines = len(lines)

    def _append(self, operation: Operation) -> None:
        """One JSON line for ``operation`` as it is (or is about to be), in one write: a crash leaves at most that
        line short. A journal grown past twice :data:`KEEP` lines is written anew first."""
        with self._journal_lock:
            self._append_locked(operation)

    def _append_locked(self, operation: Operation) -> None:
        """:meth:`_append`, the journal lock held (it is taken before the list's lock, never after)."""
        if self._journal is None:
            return
        try:
            if self._journal_lines >= 2 * KEEP:
                self._rewrite_journal()
            descriptor = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, _journal_line(operation).encode("utf-8"))
            finally:
                os.close(descriptor)
            self._journal_lines += 1
        except OSError as err:  # the queue goes on in memory; the server's log says what was not kept
            sys.stderr.write(f"warning: operation {operation.id} ({operation.status}) not written to "
                             f"{self._journal}: {err.strerror or err}\n")

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
            self._append(operation)
            self._tell(operation)
            ended: dict[str, Any]
            try:
                ended = {"status": SUCCESS, "result": work()}
            except KaddonsError as err:
                ended = {"status": FAILED, "error": str(err)}
            except Exception as err:  # a defect: recorded, the worker goes on
                ended = {"status": FAILED, "error": f"{type(err).__name__}: {err}"}
            ended["finished"] = _now()
            self._append(dataclasses.replace(operation, **ended))  # journaled before a client can see it
            with self._lock:
                for name, value in ended.items():
                    setattr(operation, name, value)
            self._tell(operation)
