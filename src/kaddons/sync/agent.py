"""``kaddons agent``: the addon sync, continuously (issue: Agent).

Every addon repository is synced every ``interval`` seconds, each on its own clock shifted by a
random jitter so a fleet of nodes does not poll in step. At most ``concurrency`` syncs run at once
(a bound on concurrent registry requests). A failed sync is retried with exponential backoff, or
after the registry's ``Retry-After`` when it answered 429/503 and that is longer, both capped at
``max_backoff`` (:meth:`Agent.backoff`). The repository list is refreshed every
``discovery_interval``. A push notification from the registry (:mod:`.notifications`, served by
:mod:`._server`) makes the pushed addon due at once; a push that arrives while that addon is syncing
makes it run again right after. :meth:`Agent.run` returns when its stop event is set (SIGTERM in
the CLI), after the running syncs finish.

The agent knows nothing of registries or catalogs: it drives a :class:`SyncTarget`.
"""

from __future__ import annotations

import functools
import heapq
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from kaddons.errors import NotFoundError, RegistryUnavailableError

from ._metrics import Metrics

if TYPE_CHECKING:
    from .syncer import Syncer

__all__ = ["Agent", "AgentOptions", "Outcome", "SyncTarget", "SyncerTarget"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """The result of one addon sync: ``status``, a one-line ``message``, ``retry_after`` seconds
    when the registry asked for a pause (429/503 ``Retry-After``), and ``not_found`` when the failure
    was a tag or repository the registry does not know (yet)."""

    status: Literal["synced", "skipped", "failed"]
    message: str = ""
    retry_after: float | None = None
    not_found: bool = False


class SyncTarget(Protocol):
    """What the agent syncs: the addon names (export names) and the sync of one of them."""

    def names(self) -> list[str]:
        """The addons to keep in sync; may raise a KaddonsError (logged, retried)."""
        ...

    def sync(self, name: str) -> Outcome:
        """Sync one addon; never raises for a failed sync (returns ``failed``)."""
        ...


@dataclass(frozen=True)
class AgentOptions:
    """Timings in seconds. ``jitter`` is a fraction of ``interval`` (0.1: each period is 90-110% of it).

    After the n-th failure in a row an addon waits ``min_backoff * 2**(n-1)``, at least the registry's
    ``Retry-After``, at most ``max_backoff``. A sync started by a push notification that finds no tag
    (the registry announces a push before the tag resolves) is tried again ``push_retries`` times after
    ``push_retry_delay * 2**k`` seconds (0.1, 0.2, 0.4, 0.8) before that backoff applies.
    """

    interval: float = 300.0
    jitter: float = 0.1
    concurrency: int = 4
    discovery_interval: float = 300.0
    min_backoff: float = 5.0
    max_backoff: float = 3600.0
    push_retries: int = 4
    push_retry_delay: float = 0.1


class Agent:
    """Schedules :class:`SyncTarget` syncs; thread-safe :meth:`trigger`; :meth:`run` blocks."""

    def __init__(self, target: SyncTarget, options: AgentOptions | None = None, *,
                 metrics: Metrics | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        self.options = options or AgentOptions()
        self.metrics = metrics or Metrics()
        self._clock = clock
        self._cond = threading.Condition()
        self._due: list[tuple[float, str]] = []
        self._next: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._pushed: dict[str, int] = {}  # push-triggered addons: quick retries of a not-found tag used
        self._names: set[str] = set()
        self._next_discovery = 0.0
        self.heartbeat = clock()

    def _period(self) -> float:
        spread = self.options.interval * self.options.jitter
        return max(0.0, self.options.interval + random.uniform(-spread, spread))

    def _schedule(self, name: str, at: float) -> None:
        self._next[name] = at
        heapq.heappush(self._due, (at, name))

    def trigger(self, name: str) -> None:
        """Sync ``name`` as soon as a slot is free (a push notification); runs again if it is running."""
        with self._cond:
            self.metrics.notifications.inc()
            self._pushed[name] = 0
            if name in self._running:
                self._again.add(name)
            else:
                self._names.add(name)
                self._schedule(name, self._clock())
            self._cond.notify_all()

    def backoff(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` (>= 1) failed syncs in a row of one addon:
        ``max(min_backoff * 2**(failures-1), retry_after)``, capped at ``max_backoff``.

        ``retry_after`` is the registry's ``Retry-After`` in seconds (``None``: it did not ask).
        """
        options = self.options
        exponential = options.min_backoff * 2 ** min(max(failures - 1, 0), 64)
        return float(min(options.max_backoff, max(exponential, retry_after or 0.0)))

    def _discover(self, now: float) -> None:
        try:
            names = set(self.target.names())
        except Exception as exc:  # a KaddonsError in practice; the loop must survive anything
            delay = min(self.options.discovery_interval, self.options.min_backoff * 4)
            if isinstance(exc, RegistryUnavailableError) and exc.retry_after is not None:
                delay = min(self.options.max_backoff, max(delay, exc.retry_after))  # 429 on /v2/_catalog
            _log.warning("[AddonSync][WARN] listing addon repositories failed: %s (next try in %.0fs)", exc, delay)
            self._next_discovery = now + delay
            return
        self._next_discovery = now + self.options.discovery_interval
        for name in sorted(names - self._names):
            self._schedule(name, now + random.uniform(0, self.options.interval * self.options.jitter))
        self._names |= names

    def _finished(self, name: str, future: Future[Outcome]) -> None:
        try:
            outcome = future.result()
        except Exception as exc:  # a bug in the target: count it as a failure, keep going
            outcome = Outcome("failed", f"unexpected error: {exc}")
        now = self._clock()
        self.metrics.record(name, outcome.status)
        with self._cond:
            self._running.discard(name)
            quick = self._pushed.pop(name, None)
            if outcome.status == "failed" and outcome.not_found and quick is not None \
                    and quick < self.options.push_retries and name not in self._again:
                self._pushed[name] = quick + 1  # the tag of a fresh push may not resolve yet: look again soon
                delay = self.options.push_retry_delay * 2 ** quick
            elif outcome.status == "failed":
                failures = self._failures.get(name, 0) + 1
                self._failures[name] = failures
                delay = self.backoff(failures, outcome.retry_after)
                _log.warning("[AddonSync][ERROR] %s: %s (next try in %.0fs)", name, outcome.message, delay)
            else:
                self._failures.pop(name, None)
                delay = self._period()
            if name in self._again:  # pushed while it ran: that push is news, even after a failure
                self._again.discard(name)
                self._pushed[name] = 0
                delay = delay if outcome.retry_after else 0.0
            self._schedule(name, now + delay)
            self._cond.notify_all()

    def _pop_ready(self, now: float) -> list[str]:
        ready: list[str] = []
        free = self.options.concurrency - len(self._running)
        while self._due and self._due[0][0] <= now and len(ready) < free:
            at, name = heapq.heappop(self._due)
            if self._next.get(name) != at or name in self._running or name in ready:
                continue  # superseded entry
            ready.append(name)
        return ready

    def healthy(self, stalled_after: float = 30.0) -> bool:
        """Whether the scheduling loop ran within the last ``stalled_after`` seconds (``/healthz``)."""
        return self._clock() - self.heartbeat < stalled_after

    def run(self, stop: threading.Event) -> None:
        """Sync until ``stop`` is set, then wait for the running syncs and return."""
        with ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="sync") as pool:
            while not stop.is_set():
                now = self._clock()
                self.heartbeat = now
                if now >= self._next_discovery:
                    self._discover(now)
                with self._cond:
                    for name in self._pop_ready(now):
                        self._running.add(name)
                        future = pool.submit(self.target.sync, name)
                        future.add_done_callback(functools.partial(self._finished, name))
                    if len(self._running) >= self.options.concurrency:
                        wake = self._clock() + 1.0  # a finishing sync notifies
                    else:
                        wake = min([self._next_discovery, *(at for at, _ in self._due[:1])])
                    self._cond.wait(timeout=max(0.0, min(wake - self._clock(), 1.0)))
            with self._cond:
                self._due.clear()


class SyncerTarget:
    """A :class:`SyncTarget` over a :class:`~kaddons.sync.syncer.Syncer` (the real sync of ``kaddons sync``).

    ``names`` discovers the repositories as a one-shot sync does; ``sync`` runs
    ``Syncer.sync_one`` with digest checking (the config's ``check_digest`` should be true). A 429/503
    ``Retry-After`` is honoured inside the registry client's bounded retries; when the sync fails after
    them, its :class:`~kaddons.errors.RegistryUnavailableError` carries the last ``Retry-After``, which
    becomes the outcome's ``retry_after`` (the agent waits at least that long).
    """

    def __init__(self, syncer: Syncer) -> None:
        self.syncer = syncer

    def names(self) -> list[str]:
        return self.syncer.repositories()

    def sync(self, name: str) -> Outcome:
        result = self.syncer.sync_one(name)
        retry_after = result.error.retry_after if isinstance(result.error, RegistryUnavailableError) else None
        return Outcome(result.status, result.reason, retry_after, isinstance(result.error, NotFoundError))
