"""A Kubernetes API for tests: kmock's ``KubernetesEmulator`` on 127.0.0.1, in a thread of its own.

A STAND-IN, documented as such: no Kubernetes API server runs on these machines (components-phase2.md §7).
kmock serves the real HTTP paths (LIST, GET, WATCH, API discovery) and parses the requests; this module adds
the API server's resourceVersion semantics on top, so kaddons' informer code path is real:

- every change gets the next ``metadata.resourceVersion``; a LIST carries the current one;
- a WATCH from a version replays what changed after it, then follows; a WATCH without one (or from ``0``)
  starts with an ``ADDED`` per existing object;
- after :meth:`KubeAPI.compact`, a WATCH from an older version gets the ``ERROR`` event with a ``Status`` of
  code 410 (``Expired``), as the API server's watch cache answers;
- ``timeoutSeconds`` ends a WATCH stream; :meth:`KubeAPI.drop_watches` ends every open one (a server restart);
- ``labelSelector`` (``k=v``, ``k!=v``, ``k``) filters LIST and WATCH;
- PATCH applies a JSON merge patch to the stored object (a MODIFIED event) and is recorded in ``patches``.

It runs no controllers, admission or server-side apply. Objects are recorded ones (upstream fixtures, engine
objects in each state, objects rendered from the real charts) loaded with :meth:`KubeAPI.add`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import attrs
import kmock

__all__ = ["KubeAPI", "run_kube_api", "write_kubeconfig"]


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what ``Content-Type: application/merge-patch+json`` asks for)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, _, value = term.partition("=")
            if labels.get(key) != value.lstrip("="):
                return False
        elif term not in labels:
            return False
    return True


@attrs.define(kw_only=True)
class VersionedEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """kmock's emulator with the API server's resourceVersion semantics (see the module)."""

    store: dict[tuple[str, str | None, str], dict[str, Any]] = attrs.field(factory=dict)
    log: list[tuple[int, str, str, dict[str, Any]]] = attrs.field(factory=list)
    version: int = 1
    compacted: int = 0
    epoch: int = 0
    changed: asyncio.Condition | None = None
    patches: list[tuple[tuple[str, str | None, str], Any]] = attrs.field(factory=list)
    """Every PATCH served: the object's key and the patch."""

    def _condition(self) -> asyncio.Condition:
        if self.changed is None:
            self.changed = asyncio.Condition()
        return self.changed

    @staticmethod
    def _key(request: Any) -> str:
        resource = request.resource
        return f"{resource.group}/{resource.version}/{resource.plural}".lstrip("/")

    def _selected(self, request: Any, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if request.namespace is not None and meta.get("namespace") != request.namespace:
            return False
        if request.name is not None and meta.get("name") != request.name:
            return False
        return _selector_matches(request.params.get("labelSelector", ""), meta.get("labels") or {})

    async def change(self, resource: str, kind: str, obj: dict[str, Any]) -> None:
        """Record ``kind`` (ADDED, MODIFIED, DELETED) of ``obj`` in ``resource`` under the next version."""
        async with self._condition():
            self._change(resource, kind, obj)
            self._condition().notify_all()

    def _change(self, resource: str, kind: str, obj: dict[str, Any]) -> None:
        self.version += 1
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.version)
        meta = obj["metadata"]
        key = (resource, meta.get("namespace"), meta["name"])
        if kind == "DELETED":
            self.store.pop(key, None)
        else:
            self.store[key] = obj
        self.log.append((self.version, resource, kind, obj))

    async def drop(self, compact: bool, changes: list[tuple[str, str, dict[str, Any]]] | None = None) -> None:
        """End every open watch stream, make ``changes`` (no stream sees them); with ``compact``, forget the
        history (older versions get 410)."""
        async with self._condition():
            self.epoch += 1
            for resource, kind, obj in changes or []:
                self._change(resource, kind, obj)
            if compact:
                self.compacted = self.version + 1
                self.log.clear()
            self._condition().notify_all()

    async def _handle(self, request: Any) -> Any:
        """PATCH (merge patch) changes the stored object and is a MODIFIED watch event; the rest as kmock does."""
        import aiohttp.web

        if request.resource is not None and request.action == kmock.action.UPDATE and request.name is not None:
            key = (self._key(request), request.namespace, request.name)
            current = self.store.get(key)
            if current is None:
                return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                  "reason": "NotFound", "code": 404,
                                                  "message": f"{request.name} not found"}, status=404)
            self.patches.append((key, request.data))
            async with self._condition():
                self._change(key[0], "MODIFIED", _merge(copy.deepcopy(current), request.data))
                self._condition().notify_all()
            return aiohttp.web.json_response(self.store[key])
        return await super()._handle(request)

    async def _serve_list(self, request: Any) -> Any:
        if self._key(request) not in {f"{r.group}/{r.version}/{r.plural}".lstrip("/") for r in self._get_resources()}:
            raise kmock.KubernetesResourceNotFoundError()
        resource = self._key(request)
        items = [obj for (res, _ns, _name), obj in self.store.items()
                 if res == resource and self._selected(request, obj)]
        return {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": str(self.version)}, "items": items}

    async def _serve_fetch(self, request: Any) -> Any:
        obj = self.store.get((self._key(request), request.namespace, request.name))
        if obj is None:
            raise kmock.KubernetesObjectNotFoundError()
        return obj

    async def _serve_watch(self, request: Any) -> AsyncIterator[Any]:
        yield b""
        resource = self._key(request)
        since = request.params.get("resourceVersion") or "0"
        timeout = float(request.params.get("timeoutSeconds") or 3600)
        deadline = asyncio.get_running_loop().time() + timeout
        epoch = self.epoch
        start = int(since)
        if start and start < self.compacted:
            yield {"type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired", "code": 410,
                "message": f"too old resource version: {start} ({self.compacted})"}}
            return
        if not start:
            for (res, _ns, _name), obj in list(self.store.items()):
                if res == resource and self._selected(request, obj):
                    yield {"type": "ADDED", "object": obj}
            start = self.version
        while True:
            for version, res, kind, obj in [entry for entry in self.log if entry[0] > start]:
                start = version
                if res == resource and self._selected(request, obj):
                    yield {"type": kind, "object": obj}
            async with self._condition():
                if self.epoch != epoch:
                    return
                if not any(entry[0] > start for entry in self.log):
                    left = deadline - asyncio.get_running_loop().time()
                    if left <= 0:
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._condition().wait(), left)
                if self.epoch != epoch:
                    return


@dataclass
class KubeAPI:
    """The running emulator: ``url``; :meth:`add`, :meth:`update`, :meth:`delete` change objects (each a
    watch event), :meth:`compact` and :meth:`drop_watches` act as the API server does."""

    url: str
    emulator: VersionedEmulator
    loop: asyncio.AbstractEventLoop

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def declare(self, resource: str, kind: str, namespaced: bool = True) -> None:
        """Serve ``resource`` (``group/version/plural``, ``v1/pods`` for the core group) even with no object."""

        async def declare() -> None:
            if resource not in self.emulator.resources:
                self.emulator.resources[resource] = {"kind": kind, "namespaced": namespaced}

        self._run(declare())

    def add(self, plural: str, obj: dict[str, Any]) -> None:
        """Create or replace ``obj`` as a resource of its ``apiVersion`` and ``plural``."""
        resource = f"{obj['apiVersion']}/{plural}"
        self.declare(resource, obj["kind"])
        existed = any(key[0] == resource and key[2] == obj["metadata"]["name"]
                      and key[1] == obj["metadata"].get("namespace") for key in list(self.emulator.store))
        self._run(self.emulator.change(resource, "MODIFIED" if existed else "ADDED", obj))

    update = add

    def delete(self, plural: str, obj: dict[str, Any]) -> None:
        """Delete ``obj`` (a DELETED watch event)."""
        self._run(self.emulator.change(f"{obj['apiVersion']}/{plural}", "DELETED", obj))

    def compact(self) -> None:
        """End the open watches and forget the history: resuming from an older version gets 410 Gone."""
        self._run(self.emulator.drop(compact=True))

    def outage(self, plural: str, *, deleted: tuple[dict[str, Any], ...] = (),
               updated: tuple[dict[str, Any], ...] = ()) -> None:
        """End the open watches, delete and update objects while no stream is open, and compact: a client
        resuming from its version gets 410 Gone and must LIST to learn what changed."""
        changes = [(f"{o['apiVersion']}/{plural}", "DELETED", o) for o in deleted]
        changes += [(f"{o['apiVersion']}/{plural}", "MODIFIED", o) for o in updated]
        self._run(self.emulator.drop(compact=True, changes=changes))

    def drop_watches(self) -> None:
        """End the open watch streams (as a server restart or a load balancer does); history is kept."""
        self._run(self.emulator.drop(compact=False))

    @property
    def watch_requests(self) -> int:
        """How many WATCH requests were served."""
        return sum(1 for r in list(self.emulator) if r.params.get("watch") == "true")

    @property
    def list_requests(self) -> int:
        """How many LIST requests were served."""
        return sum(1 for r in list(self.emulator) if r.method == "GET" and r.params.get("watch") != "true"
                   and r.name is None and r.resource is not None)


@contextlib.contextmanager
def run_kube_api() -> Iterator[KubeAPI]:
    """Start the emulator in a thread; stop it on exit."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    holder: dict[str, Any] = {}

    async def serve() -> None:
        async with VersionedEmulator() as emulator, kmock.Server(emulator) as server:
            holder["api"] = KubeAPI(str(server.url), emulator, asyncio.get_running_loop())
            event = asyncio.Event()
            stop.append(event)
            ready.set()
            await event.wait()
            await emulator.drop(compact=False)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(10), "kmock did not start"
    api: KubeAPI = holder["api"]
    try:
        yield api
    finally:
        api.loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)


def write_kubeconfig(path: Path, server: str, context: str = "test") -> Path:
    """A kubeconfig with one context ``context`` for ``server`` (no credentials: the emulator asks for none)."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": {"server": server}}], "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}]}))
    return path
