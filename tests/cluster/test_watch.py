"""LIST once, then WATCH: the informers that keep kaddons' view of a cluster current (issue 13).

The API server is kmock's emulator with resourceVersion semantics (``tests/helpers/kube.py``: a documented
STAND-IN, no API server runs here); the client path (lightkube LIST and WATCH, resourceVersion, 410) is real.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kaddons.cluster.cache import ClusterCache, Kind, Watched
from kaddons.cluster.kube import ClusterReader
from tests.helpers.kube import KubeAPI, run_kube_api, write_kubeconfig

DEPLOYMENTS = Kind("apps", "v1", "Deployment", "deployments")
PODS = Kind("", "v1", "Pod", "pods")


def _deployment(name: str, replicas: int = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "web", "uid": f"uid-{name}", "labels": labels or {}},
            "spec": {"replicas": replicas}}


def _until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the cache did not catch up"
        time.sleep(0.02)


@pytest.fixture
def api() -> Iterator[KubeAPI]:
    with run_kube_api() as running:
        running.declare("apps/v1/deployments", "Deployment")
        running.declare("v1/pods", "Pod")
        yield running


@pytest.fixture
def reader(api: KubeAPI, tmp_path: Path) -> ClusterReader:
    return ClusterReader(kubeconfig=write_kubeconfig(tmp_path / "kubeconfig", api.url))


def _replicas(cache: ClusterCache, name: str) -> int | None:
    found = [d for d in cache.objects(DEPLOYMENTS) if d["metadata"]["name"] == name]
    return found[0]["spec"]["replicas"] if found else None


def test_one_list_then_every_change_from_the_watch(api: KubeAPI, reader: ClusterReader) -> None:
    api.add("deployments", _deployment("a"))
    seen: list[tuple[str, str]] = []
    cache = ClusterCache(reader, [Watched(DEPLOYMENTS), Watched(PODS)],
                         listener=lambda _w, event, obj: seen.append((event, obj["metadata"]["name"])))
    cache.start()
    try:
        assert cache.wait_synced(10)
        assert _replicas(cache, "a") == 1
        api.add("deployments", _deployment("b"))
        api.update("deployments", _deployment("a", replicas=3))
        api.delete("deployments", _deployment("b"))
        _until(lambda: seen[-1:] == [("DELETED", "b")])
        assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
        assert _replicas(cache, "a") == 3 and _replicas(cache, "b") is None
        assert api.list_requests == 2  # one per kind, never per change
        assert cache.errors == {}
    finally:
        cache.stop()


def test_an_ended_stream_resumes_from_the_last_version_without_listing_again(api: KubeAPI,
                                                                             reader: ClusterReader) -> None:
    cache = ClusterCache(reader, [Watched(DEPLOYMENTS)])
    cache.start()
    try:
        assert cache.wait_synced(10)
        api.add("deployments", _deployment("a"))
        _until(lambda: _replicas(cache, "a") == 1)
        watches = api.watch_requests
        api.drop_watches()
        api.update("deployments", _deployment("a", replicas=2))  # while no stream is open, perhaps
        _until(lambda: _replicas(cache, "a") == 2)
        assert api.watch_requests == watches + 1
        assert api.list_requests == 1
        resumed = [r for r in list(api.emulator) if r.params.get("watch") == "true"][-1]
        assert int(resumed.params["resourceVersion"]) >= 2  # from where it was, not from scratch
    finally:
        cache.stop()


def test_410_gone_lists_again_and_reports_what_vanished_meanwhile(api: KubeAPI, reader: ClusterReader) -> None:
    api.add("deployments", _deployment("a"))
    api.add("deployments", _deployment("b"))
    seen: list[tuple[str, str]] = []
    cache = ClusterCache(reader, [Watched(DEPLOYMENTS)],
                         listener=lambda _w, event, obj: seen.append((event, obj["metadata"]["name"])))
    cache.start()
    try:
        assert cache.wait_synced(10)
        # the informer's stream ends; meanwhile b goes, a changes, and the server compacts its history
        api.outage("deployments", deleted=(_deployment("b"),), updated=(_deployment("a", replicas=5),))
        _until(lambda: _replicas(cache, "b") is None and _replicas(cache, "a") == 5)
        assert api.list_requests >= 2  # listed again after 410
        assert ("DELETED", "b") in seen and ("MODIFIED", "a") in seen
        assert sorted(d["metadata"]["name"] for d in cache.objects(DEPLOYMENTS)) == ["a"]
    finally:
        cache.stop()


def test_label_selector_keeps_only_its_objects(api: KubeAPI, reader: ClusterReader) -> None:
    api.add("deployments", _deployment("mine", labels={"kaddons.io/cluster": "edge"}))
    api.add("deployments", _deployment("theirs", labels={"kaddons.io/cluster": "other"}))
    cache = ClusterCache(reader, [Watched(DEPLOYMENTS, "web", (("kaddons.io/cluster", "edge"),))])
    cache.start()
    try:
        assert cache.wait_synced(10)
        api.add("deployments", _deployment("late", labels={"kaddons.io/cluster": "other"}))
        api.add("deployments", _deployment("mine-too", labels={"kaddons.io/cluster": "edge"}))
        _until(lambda: _replicas(cache, "mine-too") == 1)
        assert sorted(d["metadata"]["name"] for d in cache.objects(DEPLOYMENTS)) == ["mine", "mine-too"]
    finally:
        cache.stop()


def test_an_unreachable_server_is_an_error_that_names_the_context(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reader = ClusterReader(kubeconfig=write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}",
                                                       context="edge"))
    cache = ClusterCache(reader, [Watched(DEPLOYMENTS)])
    cache.start()
    try:
        _until(lambda: bool(cache.errors))
        assert not cache.wait_synced(0.1)
        message = cache.errors["deployments.apps"]
        assert "cannot reach the cluster of context edge" in message and "--context" in message
    finally:
        started = time.monotonic()
        cache.stop()
        assert time.monotonic() - started < 5


def test_the_readers_clusterrole_covers_every_kind_it_reads() -> None:
    from kaddons.cluster.rbac import READ_RULES
    from kaddons.cluster.view import WORKLOAD_KINDS, engine_kinds

    allowed = {(group, resource) for rule in READ_RULES
               for group in rule["apiGroups"] for resource in rule["resources"]}
    read = [*WORKLOAD_KINDS, *engine_kinds("argocd"), *engine_kinds("flux")]
    assert [k for k in read if (k.group, k.plural) not in allowed] == []
    assert ("", "secrets") not in allowed
