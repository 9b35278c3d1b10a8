"""The agent's scheduler and HTTP endpoints, and real registry notifications reaching it.

The scheduler tests drive :class:`Agent` with :class:`RecordingTarget`, a stand-in for the sync that
records calls and returns scripted outcomes (the sync itself is tested against the real registry in
the other ``tests/sync`` modules). Notifications come from the real Debian ``docker-registry``.
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from kaddons.oci import mediatypes as mt
from kaddons.oci.models import Descriptor, canonical_json
from kaddons.oci.registry import Registry, RegistryOptions
from kaddons.sync._metrics import Metrics
from kaddons.sync._server import AgentServer
from kaddons.sync.agent import Agent, AgentOptions, Outcome
from kaddons.sync.notifications import pushed_addons
from tests.helpers.registry import run_registry


class RecordingTarget:
    """Stand-in for the sync (see module docstring): records (name, start, end) and returns ``script``."""

    def __init__(self, names: list[str], *, duration: float = 0.0) -> None:
        self._names = names
        self.duration = duration
        self.calls: list[tuple[str, float]] = []
        self.script: dict[str, list[Outcome]] = {}
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self.fail_names = False

    def names(self) -> list[str]:
        if self.fail_names:
            raise RuntimeError("catalog unavailable")
        return list(self._names)

    def sync(self, name: str) -> Outcome:
        with self._lock:
            self.calls.append((name, time.monotonic()))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(self.duration)
        with self._lock:
            self.active -= 1
            script = self.script.get(name)
            return script.pop(0) if script else Outcome("skipped")

    def count(self, name: str) -> int:
        with self._lock:
            return sum(1 for n, _ in self.calls if n == name)


@pytest.fixture
def running() -> Iterator[tuple[Agent, RecordingTarget, threading.Event]]:
    target = RecordingTarget(["a", "b", "c"])
    agent = Agent(target, AgentOptions(interval=0.3, jitter=0.1, concurrency=2, discovery_interval=0.5,
                                       min_backoff=0.2, max_backoff=1.0))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    yield agent, target, stop
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the agent did not stop"


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_every_addon_is_synced_repeatedly_on_its_interval(running: tuple[Agent, RecordingTarget,
                                                                         threading.Event]) -> None:
    _agent, target, _stop = running
    wait_for(lambda: all(target.count(n) >= 3 for n in "abc"))
    times = [t for n, t in target.calls if n == "a"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.2 <= g <= 0.6 for g in gaps), gaps  # 0.3 s +- 10 % jitter, plus scheduling slack


def test_failures_back_off_and_retry_after_is_honoured() -> None:
    target = RecordingTarget(["a"])
    target.script["a"] = [Outcome("failed", "boom"), Outcome("failed", "boom"), Outcome("failed", "429",
                                                                                         retry_after=0.8)]
    agent = Agent(target, AgentOptions(interval=10, jitter=0, min_backoff=0.1, max_backoff=5))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: target.count("a") >= 4)
        t = [when for _, when in target.calls]
        assert 0.08 <= t[1] - t[0] < 0.4  # first backoff: min_backoff
        assert 0.18 <= t[2] - t[1] < 0.6  # doubled
        assert 0.75 <= t[3] - t[2] < 1.3  # Retry-After wins
    finally:
        stop.set()
        thread.join(timeout=10)
    text = agent.metrics.render().decode()
    assert 'kaddons_syncs_total{addon="a",result="failed"} 3.0' in text


def test_concurrency_is_bounded_and_stop_waits_for_running_syncs() -> None:
    target = RecordingTarget([f"addon-{i}" for i in range(8)], duration=0.2)
    agent = Agent(target, AgentOptions(interval=60, jitter=0, concurrency=3))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    wait_for(lambda: len(target.calls) >= 8)
    stop.set()
    thread.join(timeout=10)
    assert target.max_active == 3 and target.active == 0


def test_a_trigger_syncs_at_once_and_again_after_a_running_sync() -> None:
    target = RecordingTarget(["a"], duration=0.3)
    agent = Agent(target, AgentOptions(interval=60, jitter=0))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: target.active == 1)  # the first sync of "a" is running
        agent.trigger("a")  # a push while it runs: "a" runs again right after
        wait_for(lambda: target.count("a") == 2, timeout=1.5)
        before = time.monotonic()
        agent.trigger("d")  # an addon pushed after discovery: synced at once
        wait_for(lambda: target.count("d") == 1, timeout=1.0)
        assert next(t for n, t in target.calls if n == "d") - before < 0.5
        time.sleep(0.5)
        assert target.count("a") == 2  # nothing else is due for 60 s
    finally:
        stop.set()
        thread.join(timeout=10)
    assert 'kaddons_notifications_total 2.0' in agent.metrics.render().decode()


def test_discovery_errors_do_not_stop_the_loop() -> None:
    target = RecordingTarget(["a"])
    target.fail_names = True
    agent = Agent(target, AgentOptions(interval=0.2, discovery_interval=0.2, min_backoff=0.05))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        time.sleep(0.3)
        assert target.calls == []
        target.fail_names = False
        wait_for(lambda: target.count("a") >= 1)
    finally:
        stop.set()
        thread.join(timeout=10)


def test_http_endpoints() -> None:
    metrics = Metrics()
    pushed: list[str] = []
    server = AgentServer("127.0.0.1", 0, metrics=metrics, on_push=pushed.append, healthy=lambda: True)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        metrics.record("metrics", "synced")
        body = httpx.get(f"{base}/metrics").text
        assert 'kaddons_syncs_total{addon="metrics",result="synced"} 1.0' in body
        assert "kaddons_last_success_timestamp_seconds" in body
        assert httpx.post(f"{base}/events", content=b"not json").status_code == 400
        assert httpx.get(f"{base}/nope").status_code == 404
        envelope = {"events": [
            {"action": "push", "target": {"mediaType": mt.OCI_MANIFEST, "repository": "addons/metrics"}},
            {"action": "push", "target": {"mediaType": mt.OCI_LAYER, "repository": "addons/blobonly"}},
            {"action": "pull", "target": {"mediaType": mt.OCI_MANIFEST, "repository": "addons/pulled"}},
            {"action": "push", "target": {"mediaType": mt.OCI_MANIFEST, "repository": "other/x"}},
            {"action": "push", "target": {"mediaType": mt.OCI_MANIFEST, "repository": "addons/../etc"}},
        ]}
        assert httpx.post(f"{base}/events", content=canonical_json(envelope)).status_code == 200
        assert pushed == ["metrics"]
    finally:
        server.stop()


def test_the_real_registry_notifies_pushes_of_addon_manifests() -> None:
    pushed: list[str] = []
    got = threading.Event()

    def on_push(name: str) -> None:
        pushed.append(name)
        got.set()

    server = AgentServer("127.0.0.1", 0, metrics=Metrics(), on_push=on_push, healthy=lambda: True)
    server.start()
    config = (f"notifications:\n  endpoints:\n    - name: kaddons\n      url: http://127.0.0.1:{server.port}/events\n"
              "      timeout: 1s\n      threshold: 3\n      backoff: 1s\n")
    try:
        with run_registry(extra_config=config) as registry, Registry(registry.host,
                                                                     RegistryOptions(insecure=True)) as client:
            repo = client.repository("addons/metrics")
            config_blob = Descriptor.for_bytes(b"{}", "application/vnd.k2s.addon.config.v1+json")
            repo.push(config_blob, io.BytesIO(b"{}"))
            manifest = canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                                       "config": config_blob.to_json_dict(), "layers": []})
            desc = Descriptor.for_bytes(manifest, mt.OCI_MANIFEST)
            started = time.monotonic()
            repo.push(desc, io.BytesIO(manifest))
            repo.tag(desc, "v1.0.0")
            assert got.wait(5), "no notification from the registry"
            assert time.monotonic() - started < 2.0
            assert pushed[0] == "metrics"
    finally:
        server.stop()


def test_pushed_addons_with_a_prefix() -> None:
    body = canonical_json({"events": [{"action": "push", "target": {"mediaType": mt.OCI_MANIFEST,
                                                                    "repository": "team/addons/ingress-nginx"}}]})
    assert pushed_addons(body, prefix="team/") == ["ingress-nginx"]
    assert pushed_addons(body) == []
