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
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from kaddons.errors import RegistryUnavailableError
from kaddons.oci import mediatypes as mt
from kaddons.oci.models import Descriptor, canonical_json
from kaddons.oci.registry import Registry, RegistryOptions, RetryPolicy
from kaddons.sync import SyncConfig, Syncer
from kaddons.sync._metrics import Metrics
from kaddons.sync._server import AgentServer
from kaddons.sync.agent import Agent, AgentOptions, Outcome, SyncerTarget
from kaddons.sync.notifications import MAX_ENVELOPE_BYTES, pushed_addons
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.registry import RunningRegistry, run_registry


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
        self.names_error: Exception | None = None
        self.names_calls: list[float] = []

    def names(self) -> list[str]:
        self.names_calls.append(time.monotonic())
        if self.fail_names:
            raise RuntimeError("catalog unavailable")
        if self.names_error is not None:
            raise self.names_error
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


def test_a_pushed_tag_not_found_yet_is_looked_up_again_at_once() -> None:
    """The registry announces a push before the tag resolves: the sync the notification starts must not wait
    out the failure backoff (min_backoff 5 s here) but look again within a fraction of a second."""
    target = RecordingTarget([])
    missing = Outcome("failed", "tag 'v1' not found", not_found=True)
    target.script["a"] = [missing, missing, Outcome("synced")]
    target.script["b"] = [missing] * 10
    agent = Agent(target, AgentOptions(interval=60, jitter=0, min_backoff=5, max_backoff=60, push_retries=4,
                                       push_retry_delay=0.05))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        agent.trigger("a")
        wait_for(lambda: target.count("a") >= 3, timeout=3)
        t = [when for name, when in target.calls if name == "a"]
        assert t[2] - t[0] < 1.0, t
        agent.trigger("b")  # never found: four quick retries, then the normal backoff
        wait_for(lambda: target.count("b") >= 5, timeout=3)
        time.sleep(0.8)
        assert target.count("b") == 5
    finally:
        stop.set()
        thread.join(timeout=10)
    assert 'kaddons_syncs_total{addon="a",result="synced"} 1.0' in agent.metrics.render().decode()


def test_backoff_is_the_longer_of_exponential_and_retry_after_within_the_cap() -> None:
    agent = Agent(RecordingTarget([]), AgentOptions(min_backoff=5, max_backoff=60))
    assert [agent.backoff(n) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]
    assert agent.backoff(3, retry_after=2) == 20  # a short Retry-After does not shorten the backoff
    assert agent.backoff(1, retry_after=30) == 30  # a longer one wins
    assert agent.backoff(1, retry_after=3600) == 60  # capped by max_backoff
    assert agent.backoff(1000) == 60


def test_a_short_retry_after_keeps_the_backoff_and_a_long_one_is_capped() -> None:
    target = RecordingTarget(["a"])
    target.script["a"] = [Outcome("failed", "429", retry_after=0.01), Outcome("failed", "429", retry_after=100)]
    agent = Agent(target, AgentOptions(interval=10, jitter=0, min_backoff=0.3, max_backoff=0.5))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: target.count("a") >= 3)
        t = [when for _, when in target.calls]
        assert 0.28 <= t[1] - t[0] < 0.7  # max(0.3 backoff, 0.01 Retry-After)
        assert 0.48 <= t[2] - t[1] < 1.0  # max(0.6, 100) capped at 0.5
    finally:
        stop.set()
        thread.join(timeout=10)


def test_discovery_waits_for_the_registrys_retry_after() -> None:
    target = RecordingTarget(["a"])
    target.names_error = RegistryUnavailableError("GET /v2/_catalog: 429", retry_after=0.6)
    agent = Agent(target, AgentOptions(interval=10, discovery_interval=10, min_backoff=0.01, max_backoff=5))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: len(target.names_calls) >= 2)
        assert 0.55 <= target.names_calls[1] - target.names_calls[0] < 1.5  # not 4 x min_backoff
    finally:
        stop.set()
        thread.join(timeout=10)


# --- Retry-After from a real registry answer (FaultProxy in front of the real registry) ------------------

GIVE_UP_AT_ONCE = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_elapsed=1.0)


def test_the_client_error_carries_retry_after_of_a_real_429(registry: RunningRegistry) -> None:
    with FaultProxy(registry.url) as proxy, Registry(proxy.host, RegistryOptions(
            insecure=True, retry=GIVE_UP_AT_ONCE)) as client:
        proxy.add_fault(path=r"/addons/ra-seconds/tags/list", status=429, retry_after=7, times=None)
        with pytest.raises(RegistryUnavailableError) as seconds:
            client.repository("addons/ra-seconds").tags()
        assert proxy.count(status=429) == 1  # 7 s is beyond max_elapsed: no retry inside the client
        assert seconds.value.retry_after == 7.0
        assert "429" in str(seconds.value) and "asked to wait 7s" in str(seconds.value)

        when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
        proxy.add_fault(path=r"/addons/ra-date/tags/list", status=503, headers={"Retry-After": when}, times=None)
        with pytest.raises(RegistryUnavailableError) as date:
            client.repository("addons/ra-date").tags()
        assert date.value.retry_after is not None and 27 <= date.value.retry_after <= 30

        proxy.add_fault(path=r"/addons/ra-zero/tags/list", status=429, retry_after=0, times=None)
        with pytest.raises(RegistryUnavailableError) as zero:
            client.repository("addons/ra-zero").tags()
        assert proxy.count(path="ra-zero", status=429) == 3  # retried within bounds, then the last value
        assert zero.value.retry_after == 0.0

        proxy.add_fault(path=r"/addons/ra-none/tags/list", status=503, times=None)
        with pytest.raises(RegistryUnavailableError) as none:
            client.repository("addons/ra-none").tags()
        assert none.value.retry_after is None


def test_a_429_ends_in_the_agent_waiting_retry_after(registry: RunningRegistry, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    with FaultProxy(registry.url) as proxy:
        proxy.add_fault(path=r"/addons/ra-agent/", status=429, retry_after=2, times=None)
        config = SyncConfig(registry=f"oci://{proxy.host}", addons_dir=catalog, addons=("ra-agent",),
                            check_digest=True, options=RegistryOptions(insecure=True, retry=GIVE_UP_AT_ONCE))
        with Syncer(config) as syncer:
            real = SyncerTarget(syncer)
            outcome = real.sync("ra-agent")
            assert (outcome.status, outcome.retry_after) == ("failed", 2.0), outcome
            assert "429" in outcome.message

            calls: list[float] = []

            class Timed:
                def names(self) -> list[str]:
                    return real.names()

                def sync(self, name: str) -> Outcome:
                    calls.append(time.monotonic())
                    return real.sync(name)

            agent = Agent(Timed(), AgentOptions(interval=60, jitter=0, min_backoff=0.05, max_backoff=10))
            stop = threading.Event()
            thread = threading.Thread(target=agent.run, args=(stop,))
            thread.start()
            try:
                wait_for(lambda: len(calls) >= 2, timeout=6)
                assert 1.9 <= calls[1] - calls[0] < 3.5  # Retry-After: 2, not the 0.05 s backoff
            finally:
                stop.set()
                thread.join(timeout=10)


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
    server = AgentServer("127.0.0.1", 0, metrics=metrics, on_push=pushed.append, healthy=lambda: True,
                         token="s3cret")
    server.start()
    auth = {"Authorization": "Bearer s3cret"}
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        metrics.record("metrics", "synced")
        body = httpx.get(f"{base}/metrics").text
        assert 'kaddons_syncs_total{addon="metrics",result="synced"} 1.0' in body
        assert "kaddons_last_success_timestamp_seconds" in body
        assert httpx.post(f"{base}/events", content=b"not json").status_code == 401  # no token
        assert httpx.post(f"{base}/events", content=b"{}", headers={"Authorization": "Bearer guess"}).status_code == 401
        assert httpx.post(f"{base}/events", content=b"not json", headers=auth).status_code == 400
        big = httpx.post(f"{base}/events", content=b" " * (MAX_ENVELOPE_BYTES + 1), headers=auth)
        assert big.status_code == 413
        assert httpx.get(f"{base}/nope").status_code == 404
        envelope = {"events": [
            {"action": "push", "target": {"mediaType": mt.OCI_MANIFEST, "repository": "addons/metrics", "tag": "v1"}},
            {"action": "push", "target": {"mediaType": mt.OCI_LAYER, "repository": "addons/blobonly"}},
            {"action": "pull", "target": {"mediaType": mt.OCI_MANIFEST, "repository": "addons/pulled"}},
            {"action": "push", "target": {"mediaType": mt.OCI_MANIFEST, "repository": "other/x"}},
            {"action": "push", "target": {"mediaType": mt.OCI_MANIFEST, "repository": "addons/../etc"}},
        ]}
        assert httpx.post(f"{base}/events", content=canonical_json(envelope), headers=auth).status_code == 200
        assert pushed == ["metrics"]
    finally:
        server.stop()


def test_events_without_a_token_are_refused_unless_insecure() -> None:
    envelope = canonical_json({"events": [{"action": "push", "target": {
        "mediaType": mt.OCI_MANIFEST, "repository": "addons/metrics", "tag": "v1"}}]})
    for insecure, status in ((False, 403), (True, 200)):
        pushed: list[str] = []
        server = AgentServer("127.0.0.1", 0, metrics=Metrics(), on_push=pushed.append, healthy=lambda: True,
                             events_insecure=insecure)
        server.start()
        try:
            answer = httpx.post(f"http://127.0.0.1:{server.port}/events", content=envelope)
            assert answer.status_code == status and pushed == (["metrics"] if insecure else [])
        finally:
            server.stop()


def test_the_real_registry_notifies_pushes_of_addon_manifests() -> None:
    pushed: list[str] = []
    got = threading.Event()

    def on_push(name: str) -> None:
        pushed.append(name)
        got.set()

    server = AgentServer("127.0.0.1", 0, metrics=Metrics(), on_push=on_push, healthy=lambda: True, token="t0ken")
    server.start()
    config = (f"notifications:\n  endpoints:\n    - name: kaddons\n      url: http://127.0.0.1:{server.port}/events\n"
              "      headers:\n        Authorization: [Bearer t0ken]\n"
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
    body = canonical_json({"events": [{"action": "push", "target": {"mediaType": mt.OCI_MANIFEST, "tag": "v1.0.0",
                                                                    "repository": "team/addons/ingress-nginx"}}]})
    assert pushed_addons(body, prefix="team/") == ["ingress-nginx"]
    assert pushed_addons(body) == []


def test_a_manifest_pushed_by_digest_is_not_a_push_of_the_addon() -> None:
    """kaddons push puts the manifest by digest, then tags it: only the tag's event means a new version."""
    untagged = {"action": "push", "target": {"mediaType": mt.OCI_MANIFEST, "repository": "addons/metrics",
                                             "digest": "sha256:" + "a" * 64}}
    tagged = {"action": "push", "target": {**untagged["target"], "tag": "v1.0.1"}}  # type: ignore[dict-item]
    assert pushed_addons(canonical_json({"events": [untagged]})) == []
    assert pushed_addons(canonical_json({"events": [untagged, tagged]})) == ["metrics"]


def test_a_push_during_a_failing_sync_runs_it_again_at_once() -> None:
    """The failure (say the tag did not resolve yet) does not delay the sync the push asked for by the backoff."""
    target = RecordingTarget(["a"], duration=0.3)
    target.script["a"] = [Outcome("failed", "addons/a:v1.0.1 not found"), Outcome("synced")]
    agent = Agent(target, AgentOptions(interval=60, jitter=0, min_backoff=30, max_backoff=60))
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: target.active == 1)
        agent.trigger("a")
        wait_for(lambda: target.count("a") == 2, timeout=1.5)
    finally:
        stop.set()
        thread.join(timeout=10)


def test_healthz_answers_503_once_the_sync_loop_stalls() -> None:
    """What a liveness probe relies on: /healthz follows the loop's heartbeat, over real HTTP."""
    now = [1000.0]
    agent = Agent(RecordingTarget([]), AgentOptions(), clock=lambda: now[0])
    server = AgentServer("127.0.0.1", 0, metrics=Metrics(), on_push=lambda _name: None, healthy=agent.healthy)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/healthz"
        assert httpx.get(url).status_code == 200
        now[0] += 29.0
        assert httpx.get(url).status_code == 200
        now[0] += 2.0  # no loop iteration for 31 s: stalled
        stalled = httpx.get(url)
        assert stalled.status_code == 503 and stalled.text == "sync loop stalled\n"
        agent.heartbeat = now[0]  # the loop runs again
        assert httpx.get(url).status_code == 200
    finally:
        server.stop()
