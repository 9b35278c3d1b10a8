"""What ``kaddons serve`` holds (issue 15): one cluster document of a working copy, read again when one of its
files changes, and, with a kubeconfig, the live view of its cluster (one LIST+WATCH per kind, shared by every
client: :class:`~kaddons.cluster.cache.ClusterCache`). The routes call these methods; they hold no logic of their
own."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaddons.cluster.cache import ClusterCache
from kaddons.cluster.kube import ClusterReader
from kaddons.cluster.view import ENGINE_NAMESPACES, ClusterView
from kaddons.errors import KaddonsError, NotFoundError
from kaddons.stacks.load import LoadedCluster, load_cluster

__all__ = ["ClusterService", "Live"]


RECHECK = 0.5
"""Seconds between two looks at the document's files for a change (a stat per file: 500 add-ons are 500)."""

@dataclass
class Live:
    """The cluster as currently watched for one version of the document."""

    view: ClusterView
    cache: ClusterCache


class ClusterService:
    """See the module. ``reader`` makes a :class:`ClusterReader` (``None``: no cluster, states are left out);
    ``engine`` overrides the document's ``spec.kaddons.engine``."""

    def __init__(self, document: Path, *, reader: Callable[[], ClusterReader] | None = None,
                 engine: str | None = None, preflight: Callable[[LoadedCluster], None] | None = None,
                 mirrors: list[str] | None = None) -> None:
        self.document = document
        self._mirrors = list(mirrors or [])
        self._reader = reader
        self._engine = engine
        self._preflight = preflight
        self._lock = threading.Lock()
        self._loaded: LoadedCluster | None = None
        self._stamps: dict[Path, tuple[int, int]] = {}
        self._live: Live | None = None
        self._rows: tuple[object, tuple[int, int], list[bytes]] | None = None
        self._rows_lock = threading.Lock()  # one build of the serialized list at a time; the others wait for it
        self._latest: dict[str, str | None] = {}
        self._latest_stamp = 0
        self._rollbacks: tuple[object, dict[str, Any]] | None = None
        self._checked = 0.0
        self._writers = 0  # operations of this server writing the files now

    @property
    def engine(self) -> str:
        return self._engine or self.loaded().document.spec.kaddons.engine

    def _changed(self) -> bool:
        for path, stamp in self._stamps.items():
            try:
                info = path.stat()
            except OSError:
                return True
            if (info.st_mtime_ns, info.st_size) != stamp:
                return True
        return False

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """An operation of this server writes the document's files: until it ends, reads keep the document as it
        was (a read between two of its writes would find them half done), then look at the files again."""
        with self._lock:
            self._writers += 1
        try:
            yield
        finally:
            with self._lock:
                self._writers -= 1
                self._checked = 0.0

    def loaded(self) -> LoadedCluster:
        """The document as its files are now (read again when one changed; the files are looked at once per
        :data:`RECHECK` seconds at most, not once per request). Raises ClusterDocumentError."""
        with self._lock:
            now = time.monotonic()
            if self._loaded is not None and (now - self._checked < RECHECK or self._writers):
                return self._loaded
            self._checked = now
            if self._loaded is None or self._changed():
                loaded = load_cluster(self.document)
                self._stamps = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in loaded.files}
                self._loaded = loaded
                if self._live is not None:
                    self._live.cache.stop(wait=0.1)
                    self._live = None
            return self._loaded

    def loaded_now(self) -> LoadedCluster | None:
        """The document as last read, when that is known to be current without reading it (within
        :data:`RECHECK` of the last look, during one of this server's writes, or when no file's time or size
        changed: a stat each); ``None`` when it must be read again, or another thread holds the lock. For the event
        loop, which never reads the document (0.1-0.4 s for 300 add-ons) nor waits for a thread that does."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._loaded is None:
                return None
            now = time.monotonic()
            if now - self._checked < RECHECK or self._writers:
                return self._loaded
            if self._changed():
                return None
            self._checked = now
            return self._loaded
        finally:
            self._lock.release()

    def live(self) -> Live | None:
        """The watched cluster for the current document (started on first use), or ``None`` without a cluster."""
        loaded = self.loaded()
        with self._lock:
            if self._live is None and self._reader is not None:
                view = ClusterView(loaded, self._engine or loaded.document.spec.kaddons.engine)
                cache = ClusterCache(self._reader(), view.watched(), view.listener)
                cache.start()
                cache.wait_synced(10)
                self._live = Live(view, cache)
            return self._live

    def _rows_key(self) -> tuple[LoadedCluster, tuple[int, int]]:
        live = self.live()
        return self.loaded(), (live.cache.revision if live is not None else -1, self._latest_stamp)

    def current_addon_page(self, page: int, page_size: int) -> bytes | None:
        """:meth:`addon_page` when the serialized list is current, else ``None`` (building it is left to the
        caller's thread: the event loop never builds it, nor starts watching the cluster again after the document
        changed, which waits for the first LIST of every kind; nor reads the document: :meth:`loaded_now`)."""
        loaded = self.loaded_now()
        if loaded is None:
            return None
        live = self._live
        if live is None and self._reader is not None:
            return None
        revision = (live.cache.revision if live is not None else -1, self._latest_stamp)
        cached = self._rows
        if cached is None or cached[0] is not loaded or cached[1] != revision:
            return None
        return _envelope(cached[2], page, page_size)

    def addon_page(self, page: int, page_size: int) -> bytes:
        """One page of :meth:`addon_rows` in the API's envelope, as JSON; the serialized list is kept until the
        document or the cluster changes, so a poll of an unchanged cluster costs a slice. Built by one caller at a
        time (the others wait for it), and kept current in the background by :meth:`keep_list_current`."""
        return _envelope(self._current_rows(), page, page_size)

    def _current_rows(self) -> list[bytes]:
        import json

        with self._rows_lock:
            loaded, revision = self._rows_key()
            cached = self._rows
            if cached is None or cached[0] is not loaded or cached[1] != revision:
                rows = self.addon_rows()
                cached = (loaded, revision, [json.dumps(row, separators=(",", ":")).encode() for row in rows])
                self._rows = cached
            return cached[2]

    def keep_list_current(self, stop: threading.Event, every: float = 1.0) -> None:
        """Build the serialized list again whenever the cluster changes (and at least every ``every`` seconds
        look at the document and the latest versions), so that a poll finds it built. Runs until ``stop`` is set;
        a failure is retried on the next turn (the request path reports it)."""
        while not stop.is_set():
            try:
                live = self.live()
                revision = live.cache.revision if live is not None else -1
                self._current_rows()
            except Exception:  # the request that builds it next answers the error
                stop.wait(every)
                continue
            if live is None:
                stop.wait(every)
            else:
                live.cache.wait(revision, every)

    def addon_rows(self) -> list[dict[str, Any]]:
        """Every add-on with its place, chart and (with a cluster) ``state`` and ``reason``, then every catalog
        addon (``kind: catalog``), as ``kaddons cluster addons list`` has them: its artifact ``addons/<name>`` in
        place of the chart, the tag as the version, the registry as the source."""
        loaded = self.loaded()
        live = self.live()
        states = self._states_now() if live is not None else None
        changes = self._last_changes(loaded)
        from kaddons.stacks.load import listed_members

        rows = []
        for member in listed_members(loaded):
            rows.append({**_member_row(loaded, states, member.stack, member.kind, member), "kind": member.kind,
                         "chart_name": member.chart, "chart_version": member.version, "registry_url": member.source,
                         "latest_chart_version": self._latest.get(member.name) if member.kind == "addon" else None,
                         "last_updated": change.time if (change := changes.get(member.name)) else None,
                         "rolled_back_to": change.mark if change else None})
        return rows

    def _last_changes(self, loaded: LoadedCluster) -> dict[str, Any]:
        """Add-on -> its newest change (time, and the revision a rollback went back to), read from Git once per
        document version (:func:`~kaddons.operations.history.list_changes`)."""
        from kaddons.operations.history import list_changes

        cached = self._rollbacks
        if cached is None or cached[0] is not loaded:
            cached = self._rollbacks = (loaded, list_changes(loaded))
        return cached[1]

    def refresh_latest(self) -> list[str]:
        """Read each chart source once for the newest version each add-on could move to (the rows'
        ``latest_chart_version``); returns warnings for sources that could not be read."""
        from kaddons.charts.latest import latest_versions
        from kaddons.charts.mirrors import load_mirrors
        from kaddons.charts.sources import SourceOptions

        warnings: list[str] = []
        addons = [a for s in self.loaded().document.spec.stacks for a in s.addons]
        self._latest = latest_versions(addons, SourceOptions(mirrors=load_mirrors(self._mirrors)), warnings)
        self._latest_stamp += 1
        return warnings

    def addon(self, name: str, *, expand: bool = False, cap: int = 50) -> dict[str, Any]:
        """One add-on: overview, state, engine object, resource map (``expand``: group members listed), masked
        values, settings (Ankra's defaults filled in, with the ``profile`` they match; as ``kaddons cluster addons
        settings``) and its objects' events; a catalog addon: its artifact (tag, digest, paths) in place of a chart and
        values. Raises NotFoundError."""
        from kaddons.secrets.detect import masked_values

        key = self.member(name)
        data: dict[str, Any]
        if key[0] == "catalog":
            entry = next(e for e in self.loaded().document.spec.kaddons.catalog if e.name == name)
            namespace = entry.namespace
            data = {"name": name, "kind": "catalog", "stack_name": entry.stack, "addon": entry.addon,
                    "implementation": entry.implementation, "registry_url": entry.registry, "tag": entry.tag,
                    "digest": entry.digest, "paths": list(entry.paths), "namespace": namespace}
        else:
            from kaddons.stacks.profiles import profile_of

            stack, addon = self.known(name)
            namespace = addon.namespace
            data = {"name": name, "kind": "addon", "stack_name": stack, "chart_name": addon.chart_name,
                    "chart_version": addon.chart_version, "registry_url": addon.source_url, "namespace": namespace,
                    "values": masked_values(addon.values, f"values of add-on {name}"),
                    "settings": {"profile": profile_of(addon.settings), **addon.settings.model_dump(mode="json")}}
        data.update({"state": None, "reason": None, "engine": None, "resources": [], "events": []})
        live = self.live()
        if live is None:
            return data
        with live.cache.locked():
            details = live.view.details(key, cap=cap)
        data.update({"state": details.state.state, "reason": details.state.reason, "engine": details.engine,
                     "resources": [tree.to_dict(expand) for tree in details.trees]})
        data["events"] = self._events(live, namespace, details.objects)
        return data

    def _events(self, live: Live, namespace: str, objects: set[str]) -> list[dict[str, Any]]:
        from kaddons.cluster.events import cluster_events

        found = cluster_events(live.cache.reader, sorted({namespace, ENGINE_NAMESPACES[live.view.engine]}))
        return [{"time": e.time, "type": e.type, "reason": e.reason, "object": e.object, "count": e.count,
                 "message": e.message} for e in found if e.object in objects]

    def history(self, name: str) -> list[dict[str, str]]:
        """The commits that changed add-on (or catalog addon) ``name``, newest first. Raises NotFoundError."""
        from kaddons.operations.history import addon_history

        self.member(name)
        return [{"revision": c.revision, "time": c.time, "author": c.author, "subject": c.subject}
                for c in addon_history(self.document, name)]

    def chart_versions(self, name: str) -> list[dict[str, Any]]:
        """The versions of add-on ``name``'s chart in its source, newest first (``version``, ``deprecated``,
        ``current``). Raises NotFoundError, RegistryError."""
        from kaddons.charts.mirrors import load_mirrors
        from kaddons.charts.sources import SourceOptions, open_source

        _stack, addon = self.known(name)
        source = open_source(addon.source_url, SourceOptions(mirrors=load_mirrors(self._mirrors)),
                             addon.registry_credential_name)
        try:
            versions = source.versions(addon.chart_name)
        finally:
            source.close()
        return [{"version": v.version, "deprecated": v.deprecated, "current": v.version == addon.chart_version}
                for v in versions]

    def chart(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The chart of add-on ``name`` at ``version`` (default: the one it runs) in the add-on's source:
        ``chart``, ``version``, ``source``, ``digest`` (of the archive, verified), ``description``, ``app_version``,
        ``default_values`` (its ``values.yaml`` as written), ``readme`` and ``truncated``
        (:func:`~kaddons.charts.files.chart_documents`). Raises NotFoundError (a version the source lacks: the
        nearest named), RegistryError, ContentError."""
        from kaddons.addons._yaml import parse_yaml
        from kaddons.charts.cache import ChartCache
        from kaddons.charts.files import chart_documents
        from kaddons.charts.mirrors import load_mirrors
        from kaddons.charts.sources import SourceOptions, open_source
        from kaddons.errors import ContentError

        _stack, addon = self.known(name)
        wanted = version or addon.chart_version
        source = open_source(addon.source_url, SourceOptions(mirrors=load_mirrors(self._mirrors)),
                             addon.registry_credential_name)
        try:
            pulled = source.pull(source.find(addon.chart_name, wanted), ChartCache())
        finally:
            source.close()
        what = f"chart {addon.chart_name} {wanted}"
        documents = chart_documents(pulled.path, what)
        meta = parse_yaml(documents.chart_yaml or "{}", f"{what} Chart.yaml", error=lambda _s, d: ContentError(
            f"{what}: its Chart.yaml is not YAML ({d})"))
        meta = meta if isinstance(meta, dict) else {}
        return {"chart": addon.chart_name, "version": wanted, "source": addon.source_url, "digest": pulled.digest,
                "description": meta.get("description"), "app_version": meta.get("appVersion"),
                "default_values": documents.values, "readme": documents.readme,
                "truncated": list(documents.truncated)}

    def sources(self) -> list[dict[str, Any]]:
        """The chart sources the document's add-ons install from: ``url``, ``registry`` (the
        ``spec.helm_registries`` entry naming it, or ``None``), ``charts`` (name -> the add-ons using it)."""
        loaded = self.loaded()
        registries = {r.url.rstrip("/"): r.name for r in loaded.document.spec.helm_registries}
        found: dict[str, dict[str, list[str]]] = {}
        for stack in loaded.document.spec.stacks:
            for addon in stack.addons:
                found.setdefault(addon.source_url, {}).setdefault(addon.chart_name, []).append(addon.name)
        return [{"url": url, "registry": registries.get(url.rstrip("/")), "charts": charts}
                for url, charts in sorted(found.items())]

    def manifests(self) -> list[dict[str, Any]]:
        """Every manifest member: ``name``, ``stack_name``, ``namespace``, ``parents``, ``encrypted`` (SOPS keys in
        it), ``kinds`` (``Kind/name`` of its objects), and with a cluster ``state`` and ``reason``."""
        loaded = self.loaded()
        states = self._states_now()
        return [_manifest_row(loaded, states, stack.name, manifest)
                for stack in loaded.document.spec.stacks for manifest in stack.manifests]

    def manifest(self, name: str) -> dict[str, Any]:
        """Manifest member ``name``: its row of :meth:`manifests` and its ``content`` (YAML) with every encrypted
        value masked. Raises NotFoundError."""
        from kaddons.secrets.detect import masked_text

        loaded = self.loaded()
        for stack in loaded.document.spec.stacks:
            for manifest in stack.manifests:
                if manifest.name == name:
                    return {**_manifest_row(loaded, self._states_now(), stack.name, manifest),
                            "content": masked_text(manifest.content)}
        raise NotFoundError(f"no manifest {name!r} in cluster {loaded.document.metadata.name}")

    def recipients(self) -> dict[str, Any]:
        """The age recipients the repository encrypts for (``.sops.yaml``: ``config``, relative to the repository,
        and ``recipients``); public keys only, never the private key."""
        from kaddons.secrets.keys import SOPS_CONFIG, read_recipients

        return {"config": SOPS_CONFIG, "recipients": read_recipients(self.loaded().repository)}

    def _states_now(self) -> dict[Any, Any] | None:
        live = self.live()
        if live is None:
            return None
        with live.cache.locked():
            return live.view.states()

    def stack_history(self, stack: str) -> list[dict[str, str]]:
        """The commits that changed stack ``stack``, newest first. Raises NotFoundError."""
        from kaddons.operations.history import stack_history

        return [{"revision": c.revision, "time": c.time, "author": c.author, "subject": c.subject}
                for c in stack_history(self.document, stack)]

    def known(self, name: str) -> tuple[str, Any]:
        """``(stack name, add-on)`` of add-on ``name`` in the document (no cluster read). Raises NotFoundError."""
        loaded = self.loaded()
        for stack in loaded.document.spec.stacks:
            for addon in stack.addons:
                if addon.name == name:
                    return stack.name, addon
        raise NotFoundError(f"no add-on {name!r} in cluster {loaded.document.metadata.name}")

    def _options(self, dry_run: bool) -> Any:
        from kaddons.operations.apply import ApplyOptions

        return ApplyOptions(engine=self._engine, dry_run=dry_run)

    def upgrade(self, name: str, version: str | None, *, dry_run: bool = False,
                sets: tuple[tuple[str, Any], ...] = ()) -> dict[str, Any]:
        """Move add-on ``name`` to chart ``version`` and/or set values: one commit, pushed (see
        :func:`upgrade_addon`)."""
        from kaddons.operations.lifecycle import upgrade_addon

        self.known(name)
        return _result(upgrade_addon(self.document, name, version, options=self._options(dry_run),
                                     preflight=self._preflight, sets=sets), dry_run)

    def rollback(self, name: str, to: str | None = None, *, dry_run: bool = False) -> dict[str, Any]:
        """Restore add-on (or catalog addon) ``name`` as it was at revision ``to`` (default: before its last
        change)."""
        from kaddons.operations.lifecycle import rollback_addon

        self.member(name)
        revision, result = rollback_addon(self.document, name, to=to, options=self._options(dry_run),
                                          preflight=self._preflight)
        return {**_result(result, dry_run), "restored": revision}

    def member(self, name: str) -> tuple[str, str]:
        """``(kind, name)`` of add-on or catalog addon ``name``. Raises NotFoundError."""
        from kaddons.stacks.load import member_kind

        loaded = self.loaded()
        kind = member_kind(loaded, name)
        if kind is not None:
            return kind, name
        raise NotFoundError(f"no add-on {name!r} in cluster {loaded.document.metadata.name}")  # no server paths

    def kept(self, name: str) -> bool:
        """Whether ``name`` is an add-on uninstalled with its definition kept (``spec.kaddons.uninstalled``)."""
        return any(kept.addon.name == name for kept in self.loaded().document.spec.kaddons.uninstalled)

    def uninstall(self, name: str, *, delete: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """Take add-on ``name`` off its stack (children re-attached to its parents), its definition kept unless
        ``delete`` (see :func:`~kaddons.operations.members.uninstall_addon`)."""
        from kaddons.operations.members import uninstall_addon

        return _result(uninstall_addon(self.document, name, delete=delete, force=True,
                                       options=self._options(dry_run), preflight=self._preflight), dry_run)

    def restore(self, name: str, stack: str | None, *, dry_run: bool = False) -> dict[str, Any]:
        """Put the kept definition of add-on ``name`` back into ``stack`` (default: its own)."""
        from kaddons.operations.members import restore_addon

        return _result(restore_addon(self.document, name, stack=stack, options=self._options(dry_run),
                                     preflight=self._preflight), dry_run)

    def install(self, request: dict[str, Any]) -> dict[str, Any]:
        """Add a chart add-on (``request``: the API's install body) to a stack (see :func:`install_addon`)."""
        import tempfile

        from kaddons.operations.members import NewAddon, install_addon

        name = request.get("name") or request["chart"]
        parents = tuple(tuple(p.split(":", 1)) for p in request.get("parents") or [])
        with tempfile.TemporaryDirectory(prefix="kaddons-install-") as temp:
            values = None
            if request.get("values") is not None:
                values = Path(temp) / "values.yaml"
                values.write_text(request["values"], encoding="utf-8")
            addon = NewAddon(name, request["chart"], request["chart_version"], request["source"],
                             request.get("namespace") or name, parents, values)
            result = install_addon(self.document, request["stack"], addon,
                                   options=self._options(bool(request.get("dry_run"))), preflight=self._preflight)
        return _result(result, bool(request.get("dry_run")))

    def settings(self, name: str, *, profile: str | None = None, settings: dict[str, Any] | None = None,
                 dry_run: bool = False) -> dict[str, Any]:
        """Set a profile's five settings, or the settings as a whole (see :func:`update_settings`)."""
        from kaddons.gitops._yaml import dump_documents
        from kaddons.operations.lifecycle import update_settings

        self.known(name)
        text = dump_documents([settings]) if settings is not None else None
        return _result(update_settings(self.document, name, settings=text, profile=profile,
                                       options=self._options(dry_run), preflight=self._preflight), dry_run)

    def enable(self, request: dict[str, Any]) -> dict[str, Any]:
        """Enable a catalog addon (``request``: the API's enable body; see :func:`enable_addon`)."""
        from kaddons.oci.registry import RegistryOptions
        from kaddons.operations.catalog import enable_addon

        dry_run = bool(request.get("dry_run"))
        parents = [tuple(p.split(":", 1)) for p in request.get("parents") or []]
        enabled = enable_addon(self.document, request["addon"], request.get("implementation"),
                               stack=request["stack"], registry=request["registry"],
                               registry_options=RegistryOptions(insecure=bool(request.get("insecure"))),
                               tag=request.get("tag"), paths=request.get("paths"),
                               namespace=request.get("namespace"), parents=parents,
                               options=self._options(dry_run), preflight=self._preflight)
        return {**_result(enabled.result, dry_run), "name": enabled.name, "tag": enabled.tag,
                "digest": enabled.digest, "paths": enabled.hydrated.paths, "charts": enabled.hydrated.charts}

    def disable(self, name: str, *, dry_run: bool = False) -> dict[str, Any]:
        """Remove catalog addon ``name`` (see :func:`disable_addon`)."""
        from kaddons.operations.catalog import disable_addon

        return _result(disable_addon(self.document, name, force=True, options=self._options(dry_run),
                                     preflight=self._preflight), dry_run)

    def sync(self, name: str) -> dict[str, Any]:
        """Ask the engine to reconcile add-on (or catalog addon) ``name`` now
        (:func:`~kaddons.cluster.sync.sync_member`)."""
        from kaddons.cluster.sync import sync_member, sync_target
        from kaddons.errors import UsageError

        self.member(name)
        kind, paths = sync_target(self.loaded(), name)
        if self._reader is None:
            raise UsageError("this server reads no cluster (started --offline or without a kubeconfig): no sync")
        return sync_member(self._reader(), self.engine, kind, name, paths=paths)

    def close(self) -> None:
        """Stop watching the cluster."""
        with self._lock:
            if self._live is not None:
                self._live.cache.stop(wait=0.2)
                self._live = None




def _member_row(loaded: LoadedCluster, states: dict[Any, Any] | None, stack: str, kind: str,
                member: Any) -> dict[str, Any]:
    """What the add-on and manifest rows share: ``name``, ``stack_name``, ``namespace``, ``parents``, ``state``,
    ``reason`` (``None`` without a cluster)."""
    state = states.get((kind, member.name)) if states is not None else None
    return {"name": member.name, "stack_name": stack, "namespace": member.namespace,
            "parents": [f"{k}:{n}" for k, n in loaded.graph.members[(kind, member.name)].parents],
            "state": state.state if state else None, "reason": state.reason if state else None}


def _manifest_row(loaded: LoadedCluster, states: dict[Any, Any] | None, stack: str, manifest: Any) -> dict[str, Any]:
    """A row of :meth:`ClusterService.manifests`."""
    from kaddons.secrets.detect import has_encrypted_values

    return {**_member_row(loaded, states, stack, "manifest", manifest),
            "encrypted": has_encrypted_values(manifest.content), "kinds": _kinds(manifest.content)}


def _kinds(content: str) -> list[str]:
    """``Kind/name`` of each object of a manifest's YAML stream (what it creates, for a list; the content route
    has the YAML itself)."""
    from kaddons.addons._yaml import parse_yaml

    try:
        documents = parse_yaml(content, "manifest", documents=True)
    except KaddonsError:
        return []
    return [f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}" for d in documents if isinstance(d, dict)]


def _envelope(items: list[bytes], page: int, page_size: int) -> bytes:
    """A page of serialized rows in Ankra's ``{result, pagination}`` envelope."""
    import json

    total = len(items)
    chosen = items[(page - 1) * page_size: page * page_size]
    pagination = json.dumps({"page": page, "page_size": page_size, "total_count": total,
                             "total_pages": (total + page_size - 1) // page_size}, separators=(",", ":"))
    return b'{"result":[' + b",".join(chosen) + b'],"pagination":' + pagination.encode() + b"}"


def _result(result: Any, dry_run: bool) -> dict[str, Any]:
    """An apply's result as plain data; a dry run's with its unified diff, ciphertext masked."""
    from kaddons.operations.apply import unified_diff
    from kaddons.secrets.detect import masked_text

    data: dict[str, Any] = {"commit": result.commit, "changed": list(result.changed), "upstream": result.upstream,
                            "dry_run": dry_run, "warnings": list(result.warnings)}
    if dry_run:
        data["diff"] = masked_text(unified_diff(result))
    return data
