"""A Kubernetes API for tests: kmock's ``KubernetesEmulator`` on 127.0.0.1, in a thread of its own.

A STAND-IN, documented as such: no Kubernetes API server runs on these machines (components-phase2.md §7).
kmock serves the real HTTP paths (LIST, GET, WATCH) from objects held in memory, so kaddons' client code path
is real; it does not run controllers, admission, server-side apply or resourceVersion semantics. Objects are
recorded ones (upstream fixtures, engine objects in each state) loaded with :meth:`KubeAPI.add`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KubeAPI", "run_kube_api", "write_kubeconfig"]


@dataclass
class KubeAPI:
    """The running emulator: ``url``; :meth:`add` loads an object of a declared resource."""

    url: str
    emulator: Any
    loop: asyncio.AbstractEventLoop
    declared: set[str] = field(default_factory=set)

    def add(self, plural: str, obj: dict[str, Any]) -> None:
        """Load ``obj`` as a resource ``group/version/plural`` (``v1/pods`` for the core group)."""
        api_version = obj["apiVersion"]
        resource = f"{api_version}/{plural}"
        meta = obj["metadata"]

        def load() -> None:
            if resource not in self.declared:
                self.emulator.resources[resource] = {"kind": obj["kind"], "namespaced": True}
                self.declared.add(resource)
            self.emulator.objects[resource, meta.get("namespace"), meta["name"]] = obj

        done = threading.Event()
        self.loop.call_soon_threadsafe(lambda: (load(), done.set()))
        assert done.wait(10)


@contextlib.contextmanager
def run_kube_api() -> Iterator[KubeAPI]:
    """Start the emulator in a thread; stop it on exit."""
    import kmock

    ready = threading.Event()
    stop: list[asyncio.Event] = []
    holder: dict[str, Any] = {}

    async def serve() -> None:
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            holder["api"] = KubeAPI(str(server.url), emulator, asyncio.get_running_loop())
            event = asyncio.Event()
            stop.append(event)
            ready.set()
            await event.wait()

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
