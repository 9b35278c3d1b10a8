"""Sync addons from a registry into an addons directory (``kaddons sync``, spec §4; fixes §8.3-8.7,
§8.18-8.19, §8.22-8.26).

:class:`Syncer` holds the open source (one connection pool) and syncs one addon with
:meth:`Syncer.sync_one`, which never raises for a failed addon: the result says why, in one line.
:func:`sync_addons` is the one-shot run: discovery, every addon, the summary of §4.9. It checks up to
``config.concurrency`` addons at once (threads sharing the syncer); each addon's log lines are kept
until it is done and then written together, the addons in discovery order, so the log reads as a
sequential run's (§4.9). Changes to the catalog still happen one at a time (the catalog lock) and in
discovery order (an addon changes the catalog only once the addons before it are done), so the catalog
a run leaves does not depend on timing (e.g. the order of implementations in a merged addon manifest).

Per addon (:mod:`.steps`): the tag is chosen by the policy and resolved once with a HEAD; with
``check_digest`` an unchanged digest whose addon is on disk ends the sync there (no other request).
Otherwise, holding the catalog lock, the manifest and the blobs of layers 0-3 are fetched by digest,
verified while they stream and extracted into a staging folder; the manifest is validated; the folder
is swapped into place (the replaced version is kept for ``kaddons rollback``); the digest is recorded
last. Downloads that fail (registry unavailable after its retries, bytes that do not verify) are tried
again up to ``attempts`` times (not when the registry asked to wait with ``Retry-After``: then the addon
fails at once and its error carries ``retry_after`` for the agent's backoff); then the addon fails and the
catalog and its record are untouched.

Differences from K2s on purpose: the repository must hold the addon of its own export name; the
digest is always recorded (K2s only with ``-CheckDigest``) and only consulted with ``check_digest``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from kaddons.addons.artifact import AddonEntry
from kaddons.addons.format import LayerKind, layer_for_media_type
from kaddons.addons.install import catalog_lock, recover
from kaddons.addons.names import is_single_implementation
from kaddons.addons.publish import ADDONS_NAMESPACE
from kaddons.errors import DigestError, KaddonsError, NotFoundError, RegistryUnavailableError
from kaddons.oci.models import Descriptor

from . import steps
from .config import SyncConfig, repository_name
from .log import BufferedLog, SyncLog, summary_line
from .source import LayoutSource, RegistrySource, open_source
from .state import SyncState, addon_path, is_present

__all__ = ["AddonResult", "Status", "SyncReport", "Syncer", "sync_addons"]

Status = Literal["synced", "skipped", "failed"]
_RETRIED = (DigestError, RegistryUnavailableError)
_LAYER_PLACES = {LayerKind.CONFIG: "config files", LayerKind.MANIFESTS: "manifests/",
                 LayerKind.CHARTS: "Helm charts (manifests/chart/)", LayerKind.SCRIPTS: "scripts"}


def _layers_line(name: str, entry: AddonEntry) -> str:
    """What the sync of ``entry`` extracted, and which of its layers stay in the registry."""
    kinds = [spec.kind for spec in (layer_for_media_type(d.media_type) for d in entry.manifest.layers)
             if spec is not None]
    extracted = [_LAYER_PLACES[kind] for kind in kinds if kind in _LAYER_PLACES]
    left = sorted({"images" if kind in (LayerKind.IMAGES_LINUX, LayerKind.IMAGES_WINDOWS) else "packages"
                   for kind in kinds if kind not in _LAYER_PLACES})
    line = f"'{name}': extracted {', '.join(extracted) or 'nothing'}"
    if left:
        line += f"; not fetched: {' and '.join(left)} (pulled when the addon is enabled)"
    return line


@dataclass(frozen=True)
class AddonResult:
    """The outcome for repository ``addons/<repository>``.

    ``status``: ``synced``, ``skipped`` (unchanged) or ``failed``; ``reason``: one line (why it failed,
    or why it was skipped); ``tag``, ``digest`` and ``reference`` of the chosen manifest when known;
    ``addon``, ``implementation`` and ``directory`` where it lives when known; ``previous_digest``:
    what was recorded before; ``previous_reference``: where the replaced version came from, set only
    when that differs from ``reference``'s repository (another registry or repository, or not synced at
    all: ``"(not synced from a registry)"``); ``error``: the exception of a failure (not serialised).
    """

    repository: str
    status: Status
    reason: str = ""
    tag: str | None = None
    digest: str | None = None
    reference: str | None = None
    addon: str | None = None
    implementation: str | None = None
    directory: Path | None = None
    previous_digest: str | None = None
    previous_reference: str | None = None
    error: BaseException | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The object ``kaddons sync -o json`` prints per addon."""
        single = self.addon is not None and is_single_implementation(self.addon, self.implementation)
        return {"repository": self.repository, "status": self.status, "reason": self.reason or None,
                "tag": self.tag, "digest": self.digest, "reference": self.reference, "name": self.addon,
                "implementation": None if single else self.implementation,
                "directory": str(self.directory) if self.directory is not None else None,
                "previousDigest": self.previous_digest, "previousReference": self.previous_reference}


@dataclass
class SyncReport:
    """Every :class:`AddonResult` of a run, in order."""

    results: list[AddonResult] = field(default_factory=list)

    def _count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def synced(self) -> int:
        return self._count("synced")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def exit_code(self) -> int:
        """1 when any addon failed, else 0 (§4.10)."""
        return 1 if self.failed else 0

    def summary(self) -> str:
        """The summary line of §4.9."""
        return summary_line(self.synced, self.skipped, self.failed)

    def to_json(self) -> list[dict[str, Any]]:
        return [result.to_json() for result in self.results]


def _asked_to_wait(err: BaseException) -> bool:
    """True when the registry answered 429/503 with ``Retry-After`` after the client's own retries: trying
    again at once would ignore it, so the addon fails now and the caller (the agent) waits that long."""
    return isinstance(err, RegistryUnavailableError) and bool(err.retry_after)


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and not isinstance(err, KaddonsError):
        text = f"{err.strerror or err}{f': {err.filename}' if err.filename else ''}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


class Syncer:
    """Syncs the addons of ``config``, one per :meth:`sync_one` call; a context manager (closes the source).

    Raises :class:`~kaddons.errors.NotFoundError` when the addons directory does not exist, and what
    opening the source raises (an invalid layout, an unusable ``--ca-file``). Thread-safe: the agent
    may call :meth:`sync_one` for different addons at once (the catalog lock serialises the changes).
    """

    def __init__(self, config: SyncConfig, *, log: SyncLog | None = None) -> None:
        self.config = config
        self.log = log or SyncLog()
        if not config.addons_dir.is_dir():
            raise NotFoundError(f"addons directory {config.addons_dir} does not exist or is not a directory")
        spec = config.spec
        if spec.kind == "registry" and spec.prefix.rstrip("/").rpartition("/")[2] == ADDONS_NAMESPACE:
            self.log.warn(f"the registry {spec} ends in /{ADDONS_NAMESPACE}: addons are read from "
                          f"{spec}/{ADDONS_NAMESPACE}/<name>; for {spec}/<name>, drop the trailing "
                          f"/{ADDONS_NAMESPACE} from --registry")
        self._exit = contextlib.ExitStack()
        self.source: RegistrySource | LayoutSource = self._exit.enter_context(
            open_source(config.spec, config.options, warn=self.log.warn))

    def __enter__(self) -> Syncer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release the source (the registry connection pool)."""
        self._exit.close()

    def repositories(self) -> list[str]:
        """The export names to sync: ``config.addons``, else ``config.repositories``, else discovered.

        Raises the source's error, extended with the way out, when discovery fails (a registry without
        ``/v2/_catalog`` needs an explicit list, §8.25).
        """
        config = self.config
        if config.addons:
            return list(config.addons)
        if config.repositories is not None:
            self.log.info(f"Using the configured repository list ({len(config.repositories)} repo(s))")
            return list(config.repositories)
        self.log.info(f"Discovering addon repositories at {self.source.where}")
        try:
            return self.source.repositories()
        except KaddonsError as err:
            if isinstance(self.source, RegistrySource):
                err.args = (f"{err}; a registry without the catalog API needs --repos-file or KADDONS_REPOS",)
            raise

    def sync_one(self, name: str, *, log: SyncLog | None = None,
                 before_change: Callable[[], None] | None = None) -> AddonResult:
        """Sync the addon of repository ``addons/<name>``; never raises for a failed addon (see the module).

        ``log`` receives this addon's lines (default: the syncer's log), e.g. a
        :class:`~kaddons.sync.log.BufferedLog` when several addons are synced at once.
        ``before_change`` is called (in this thread) when the addon must be downloaded, before the
        catalog lock is taken: it may block, or raise a KaddonsError to make the addon fail unchanged.
        """
        log = log or self.log
        progress: dict[str, Any] = {}
        log.info(f"Processing '{name}' ({self.source.where}/addons/{name})")
        try:
            name = repository_name(name, self.config.spec.prefix)  # the name rule before any path is built
            return self._sync(name, progress, log, before_change)
        except (KaddonsError, OSError) as err:
            reason = _reason(err)
            log.error(f"Failed to sync '{name}': {reason}")
            return AddonResult(name, "failed", reason, error=err, **progress)

    def _sync(self, name: str, progress: dict[str, Any], log: SyncLog,
              before_change: Callable[[], None] | None) -> AddonResult:
        config, source = self.config, self.source
        tag = steps.choose_tag(source, name, config.policy, log)
        reference = source.reference(name, tag)
        progress.update(tag=tag, reference=reference)
        desc = steps.resolve_manifest(source, name, tag)
        progress["digest"] = desc.digest
        if config.check_digest:
            comparison = steps.compare(config.addons_dir, name, desc.digest)
            state = comparison.state
            progress["previous_digest"] = state.digest if state is not None else None
            if comparison.skip:
                assert state is not None and state.addon is not None and state.implementation is not None
                log.info(comparison.message)
                return self._skipped(name, progress, state.addon, state.implementation)
            log.info(comparison.message)
        if before_change is not None:
            before_change()
        with catalog_lock(config.addons_dir, timeout=config.lock_timeout):
            for restored in recover(config.addons_dir):
                log.warn(f"Restored the previous version of '{restored}', which an interrupted sync had moved away")
            return self._sync_locked(name, desc, tag, reference, progress, log)

    def _skipped(self, name: str, progress: dict[str, Any], addon: str, implementation: str) -> AddonResult:
        progress.update(addon=addon, implementation=implementation,
                        directory=addon_path(self.config.addons_dir, addon, implementation))
        return AddonResult(name, "skipped", "unchanged", **progress)

    def _sync_locked(self, name: str, desc: Descriptor, tag: str, reference: str,
                     progress: dict[str, Any], log: SyncLog) -> AddonResult:
        config = self.config
        addons_dir = config.addons_dir
        comparison = steps.compare(addons_dir, name, desc.digest)  # again: another process may have synced it
        state = comparison.state
        progress["previous_digest"] = state.digest if state is not None else None
        if config.check_digest and comparison.skip:
            assert state is not None and state.addon is not None and state.implementation is not None
            return self._skipped(name, progress, state.addon, state.implementation)
        store = self.source.store(name)
        for attempt in range(1, config.attempts + 1):
            try:
                entry = steps.fetch_entry(store, desc, name, where=reference)
                progress.update(addon=entry.addon, implementation=entry.implementation,
                                directory=addon_path(addons_dir, entry.addon, entry.implementation))
                if config.check_digest and comparison.unknown_location and is_present(
                        addons_dir, entry.addon, entry.implementation):
                    log.info(f"'{name}': digest unchanged ({desc.digest}), skipping")
                    return self._skipped(name, progress, entry.addon, entry.implementation)
                if steps.same_layers(addons_dir, entry, state):
                    steps.record(addons_dir, entry, desc.digest, reference=reference, tag=tag)
                    log.info(f"'{name}': {desc.digest} has the layers 0-3 already extracted; digest recorded, nothing "
                             "downloaded")
                    result = self._skipped(name, progress, entry.addon, entry.implementation)
                    return dataclasses.replace(result, reason="same layers")
                log.info(f"Pulling {reference}@{desc.digest} (layers 0-3)")
                staged = steps.stage(store, entry, addons_dir, where=reference, limits=config.limits,
                                     log=log.info, warn=log.warn)
                break
            except _RETRIED as err:
                if attempt == config.attempts or _asked_to_wait(err):
                    if attempt > 1:
                        err.args = (f"{_reason(err)} (download tried {attempt} times)",)
                    raise
                log.warn(f"'{name}': {_reason(err)}; trying again ({attempt + 1}/{config.attempts})")
        try:
            log.info(f"Pull completed: {reference}@{desc.digest}")
            changed = _provenance_change(addons_dir, staged.entry.addon, staged.entry.implementation, state, reference)
            if changed is not None:
                progress["previous_reference"] = changed
                log.warn(f"'{name}': replacing the version from {changed} with one from {_repository(reference)}")
            installed = steps.swap(addons_dir, staged, state)
            steps.record(addons_dir, staged.entry, desc.digest, reference=reference, tag=tag)
        finally:
            staged.discard()
        progress["directory"] = installed.directory
        if installed.unchanged:
            log.info(f"'{name}': the files of {desc.digest} are the ones installed; nothing changed on disk")
            log.info(f"Saved digest for '{name}': {desc.digest}")
            return AddonResult(name, "skipped", "content unchanged", **progress)
        log.info(f"Addon '{staged.entry.cli_name}' extracted successfully")
        log.info(_layers_line(name, staged.entry))
        log.info(f"Saved digest for '{name}': {desc.digest}")
        return AddonResult(name, "synced", **progress)


NOT_SYNCED = "(not synced from a registry)"


def _repository(reference: str) -> str:
    """``HOST/…/addons/NAME`` of a ``…:TAG`` reference."""
    head, sep, tail = reference.rpartition(":")
    return head if sep and "/" not in tail else reference


def _provenance_change(addons_dir: Path, addon: str, implementation: str, state: SyncState | None,
                       reference: str) -> str | None:
    """Where the installed version came from when that is not ``reference``'s repository, else ``None``:
    its recorded repository, or :data:`NOT_SYNCED` for an installed addon without a record (imported,
    copied by hand, synced by K2s). Nothing installed: ``None``."""
    if state is not None and state.reference is not None:
        previous = _repository(state.reference)
        return previous if previous != _repository(reference) else None
    if state is None and is_present(addons_dir, addon, implementation):
        return NOT_SYNCED
    return None


class _InOrder:
    """Turns of a concurrent run: job ``i`` may change the catalog once jobs ``0..i-1`` are finished."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._finished: set[int] = set()
        self._prefix = 0  # jobs 0.._prefix-1 are finished
        self._stopped = False

    def wait_turn(self, index: int, name: str) -> None:
        """Block until the jobs before ``index`` are finished; raises KaddonsError when the run stopped."""
        with self._cond:
            self._cond.wait_for(lambda: self._prefix >= index or self._stopped)
            if self._prefix < index:
                raise KaddonsError(f"the sync stopped before '{name}' could be changed")

    def finished(self, index: int) -> None:
        with self._cond:
            self._finished.add(index)
            while self._prefix in self._finished:
                self._finished.discard(self._prefix)
                self._prefix += 1
            self._cond.notify_all()

    def stop(self) -> None:
        """Release every waiting job (they fail unchanged)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


def _sync_in_order(syncer: Syncer, names: Sequence[str], concurrency: int,
                   log: SyncLog) -> Generator[AddonResult, None, None]:
    """Sync ``names`` with up to ``concurrency`` at once; yields the results in the order of ``names``.

    With more than one at a time, each addon logs into its own :class:`~kaddons.sync.log.BufferedLog`,
    flushed into ``log`` when its result is yielded: the lines of an addon stay together, in order. An
    addon to download waits until the addons before it are done (:class:`_InOrder`), so the catalog
    changes in the order of ``names``, as in a sequential run. Exiting early (an unexpected error,
    Ctrl-C) cancels the addons not started and waits for the running ones, which change nothing more.
    """
    if concurrency <= 1 or len(names) <= 1:
        for name in names:
            yield syncer.sync_one(name, log=log)
        return
    turns = _InOrder()

    def job(index: int, name: str, buffer: SyncLog) -> AddonResult:
        try:
            return syncer.sync_one(name, log=buffer, before_change=lambda: turns.wait_turn(index, name))
        finally:
            turns.finished(index)

    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(names)), thread_name_prefix="kaddons-sync")
    try:
        jobs: list[tuple[BufferedLog, Future[AddonResult]]] = []
        for index, name in enumerate(names):
            buffer = log.buffered()
            jobs.append((buffer, pool.submit(job, index, name, buffer)))
        for buffer, future in jobs:
            try:
                result = future.result()
            finally:
                buffer.flush()
            yield result
    finally:
        turns.stop()
        pool.shutdown(wait=True, cancel_futures=True)


def sync_addons(config: SyncConfig, only: Sequence[str] | None = None, *, log: SyncLog | None = None) -> SyncReport:
    """Sync every addon of ``config`` (or only the export names ``only``) once; the one-shot ``kaddons sync``.

    Up to ``config.concurrency`` addons are checked at once (1: one after another); downloads and
    installs take the catalog lock, one at a time. Logs the lines of §4.9 to ``log``, each addon's
    lines together and the addons in order, and returns the :class:`SyncReport` (one result per addon,
    in order; its ``exit_code`` is 1 when any failed). A failing addon never stops the others. Raises
    (after an ``[AddonSync][ERROR]`` line) when the run cannot start: a missing addons directory
    (:class:`~kaddons.errors.NotFoundError`), a source that cannot be opened or listed (registry
    errors, :class:`~kaddons.errors.LayoutError`).
    """
    log = log or SyncLog()
    log.info(f"Starting addon sync from {config.spec} into {config.addons_dir}")
    if config.check_digest:
        log.info("Digest check enabled: unchanged addons that are on disk are skipped")
    report = SyncReport()
    try:
        with Syncer(config, log=log) as syncer:
            names = (list(dict.fromkeys(repository_name(n, config.spec.prefix) for n in only)) if only
                     else syncer.repositories())
            if not names:
                log.warn(f"No addon repositories found in {syncer.source.where} (addons/*): push addons first")
                log.info(report.summary())
                return report
            log.info(f"Found {len(names)} addon repo(s): {', '.join(names)}")
            with contextlib.closing(_sync_in_order(syncer, names, config.concurrency, log)) as results:
                for result in results:  # closing: on an interruption, the pool ends before the syncer
                    report.results.append(result)
    except KaddonsError as err:
        log.error(_reason(err))
        raise
    if report.failed:
        log.error(f"{report.failed} addon(s) failed to sync: "
                  f"{', '.join(r.repository for r in report.results if r.status == 'failed')}")
    elif report.synced:
        log.info("Run 'kaddons ls' (or 'k2s addons ls') to see the synced addons")
    log.info(report.summary())
    return report
