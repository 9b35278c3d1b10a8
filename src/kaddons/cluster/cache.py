"""What the cluster holds, kept current: LIST once, then WATCH, per kind, shared by every add-on (issue 13).

An :class:`Informer` keeps the objects of one kind (optionally in one namespace and with labels) as Kubernetes
clients' informers do:

1. LIST, keeping the collection's ``resourceVersion``;
2. WATCH from that version; each ADDED, MODIFIED or DELETED event updates the store and is passed on;
3. a stream the server ends (``timeoutSeconds``, a restart) is resumed from the last version seen, so no event is
   lost or repeated;
4. ``410 Gone`` (the version was compacted away) means LIST again: the new list replaces the store, and what
   disappeared in between is passed on as DELETED;
5. an unreachable server is retried with a growing pause (0.5 s doubling to 30 s), resuming as in 3.

A :class:`ClusterCache` runs one informer per kind in a thread of its own and counts changes in
:attr:`ClusterCache.revision`, so a consumer can wait for the next one. ``list_once`` fills the stores with one
LIST per kind and no thread: what a one-shot command needs. Objects are stored as read (plain data) and never
copied; consumers must not change them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kaddons.errors import ClusterError

from .kube import ClusterReader, WatchExpired

__all__ = ["ClusterCache", "Informer", "Kind", "Watched"]

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


@dataclass(frozen=True)
class Kind:
    """A namespaced resource: API ``group`` (``""`` for core), ``version``, ``kind``, ``plural``."""

    group: str
    version: str
    kind: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class Watched:
    """What one informer keeps: a :class:`Kind`, in one ``namespace`` (``None``: all) with ``labels``. An
    ``optional`` one that cannot be read (no permission) is reported in :attr:`ClusterCache.errors` instead of
    failing :meth:`ClusterCache.list_once`."""

    kind: Kind
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    optional: bool = False


Listener = Callable[[Watched, str, dict[str, Any]], None]
"""Called with the informer's :class:`Watched`, the event type (ADDED, MODIFIED, DELETED) and the object."""


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


@dataclass
class Informer:
    """The objects of one :class:`Watched`, kept current (see the module). ``objects`` maps
    ``(namespace, name)`` to the object; ``error`` says why it is not current (``None`` when it is)."""

    reader: ClusterReader
    watched: Watched
    listener: Listener | None = None
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    version: str | None = None
    error: str | None = None
    lists: int = 0
    synced: threading.Event = field(default_factory=threading.Event)
    server_timeout: int = 300
    lock: Any = field(default_factory=threading.RLock)
    """Held while the store changes and the listener runs (the cache's, shared by its informers)."""

    def _args(self) -> tuple[str, str, str, str]:
        kind = self.watched.kind
        return kind.group, kind.version, kind.kind, kind.plural

    def relist(self) -> None:
        """LIST and replace the store; what changed since the last list is passed on. Raises ClusterError."""
        items, version = self.reader.list_at(*self._args(), namespace=self.watched.namespace,
                                             labels=dict(self.watched.labels))
        fresh = {_key(obj): obj for obj in items}
        with self.lock:
            self._replace(fresh, version)

    def _replace(self, fresh: dict[tuple[str, str], dict[str, Any]], version: str | None) -> None:
        self.lists += 1
        gone = [obj for key, obj in self.objects.items() if key not in fresh]
        old = self.objects
        self.objects = fresh
        self.version = version
        for obj in gone:
            self._tell(DELETED, obj)
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None:
                self._tell(ADDED, obj)
            elif (before.get("metadata") or {}).get("resourceVersion") != (obj.get("metadata") or {}).get(
                    "resourceVersion"):
                self._tell(MODIFIED, obj)
        self.error = None
        self.synced.set()

    def _tell(self, event: str, obj: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener(self.watched, event, obj)

    def apply(self, event: str, obj: dict[str, Any]) -> None:
        """One watch event into the store (and on to the listener)."""
        version = (obj.get("metadata") or {}).get("resourceVersion")
        with self.lock:
            if version:
                self.version = str(version)
            if event == DELETED:
                self.objects.pop(_key(obj), None)
            else:
                self.objects[_key(obj)] = obj
            self._tell(event, obj)

    def run(self, stop: threading.Event) -> None:
        """LIST, then WATCH until ``stop`` is set (see the module)."""
        pause = 0.5
        while not stop.is_set():
            try:
                if self.version is None:
                    self.relist()
                    if self.version is None:  # the cluster does not serve this kind: look again later
                        stop.wait(30)
                        continue
                for event, obj in self.reader.watch(*self._args(), self.version, namespace=self.watched.namespace,
                                                    labels=dict(self.watched.labels),
                                                    server_timeout=self.server_timeout):
                    if stop.is_set():
                        return
                    self.apply(event, obj)
                    pause = 0.5
            except WatchExpired:
                self.version = None
            except RuntimeError:  # the client was closed under an open watch
                if stop.is_set():
                    return
                raise
            except ClusterError as err:
                if stop.is_set():
                    return
                self.error = str(err)
                if self.watched.optional:
                    self.synced.set()  # as current as it can be: the error says why
                stop.wait(pause)
                pause = min(pause * 2, 30.0)


class ClusterCache:
    """One :class:`Informer` per :class:`Watched`, shared by every reader of the cluster (see the module)."""

    def __init__(self, reader: ClusterReader, watched: Iterable[Watched], listener: Listener | None = None) -> None:
        self.reader = reader
        self._listener = listener
        self._changed = threading.Condition()
        self.revision = 0
        """Counts changes (events passed on); :meth:`wait` returns when it moves."""
        self.informers = {w: Informer(reader, w, self._tell, lock=self._changed) for w in dict.fromkeys(watched)}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _tell(self, watched: Watched, event: str, obj: dict[str, Any]) -> None:
        with self._changed:
            if self._listener is not None:
                self._listener(watched, event, obj)
            self.revision += 1
            self._changed.notify_all()

    def list_once(self) -> None:
        """One LIST per kind, no watch. Raises ClusterError (the cluster cannot be read, or a kind that is not
        ``optional``)."""
        for informer in self.informers.values():
            try:
                informer.relist()
            except ClusterError as err:
                if not informer.watched.optional:
                    raise
                informer.error = str(err)

    def start(self) -> None:
        """An informer thread per kind (daemon threads; :meth:`stop` ends them)."""
        for watched, informer in self.informers.items():
            thread = threading.Thread(target=informer.run, args=(self._stop,), daemon=True,
                                      name=f"kaddons-watch-{watched.kind.plural}")
            thread.start()
            self._threads.append(thread)

    def wait_synced(self, timeout: float) -> bool:
        """Whether every informer has listed once within ``timeout`` seconds."""
        import time

        deadline = time.monotonic() + timeout
        return all(i.synced.wait(max(0.0, deadline - time.monotonic())) for i in self.informers.values())

    def wait(self, after: int, timeout: float) -> int:
        """The :attr:`revision` once it is past ``after``, or after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.revision > after, timeout)
            return self.revision

    @property
    def errors(self) -> dict[str, str]:
        """Why some kinds are not current: ``plural.group -> message``."""
        return {f"{w.kind.plural}.{w.kind.group}".rstrip("."): i.error for w, i in self.informers.items() if i.error}

    def objects(self, kind: Kind) -> list[dict[str, Any]]:
        """The objects of ``kind`` held by every informer of that kind."""
        found: list[dict[str, Any]] = []
        with self._changed:
            for watched, informer in self.informers.items():
                if watched.kind == kind:
                    found.extend(informer.objects.values())
        return found

    def locked(self) -> Any:
        """The lock held while stores change: hold it to read several stores at one moment."""
        return self._changed

    def stop(self, wait: float = 1.0) -> None:
        """End the informers, waiting up to ``wait`` seconds for their threads. A watch blocked on a silent stream
        ends when the server closes it (its ``timeoutSeconds``) or the process exits: the threads are daemons."""
        import time

        self._stop.set()
        self.reader.close()
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
