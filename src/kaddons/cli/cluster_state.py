"""``kaddons cluster addons list|get`` and ``kaddons cluster events``: the document's members as the cluster shows
them (issue 13). Read-only: LIST, and WATCH with ``--watch``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kaddons.errors import ClusterError, NotFoundError, known

from .cluster import (
    EngineOption,
    FileOption,
    FormatOption,
    MirrorOption,
    RepoOption,
    _load,
    _print,
    _print_data,
    addons_app,
    cluster_app,
)

if TYPE_CHECKING:
    from kaddons.cluster.kube import ClusterReader
    from kaddons.cluster.resource_map import Node
    from kaddons.cluster.view import ClusterView
    from kaddons.stacks.load import LoadedCluster

ContextOption = Annotated[str | None, typer.Option("--context", show_default=False,
                                                   help="The kubeconfig context \\[default: the current one].")]
KubeconfigOption = Annotated[Path | None, typer.Option(
    "--kubeconfig", dir_okay=False, show_default=False,
    help="The kubeconfig \\[default: $KUBECONFIG, else ~/.kube/config; in a pod, its service account].")]
OfflineOption = Annotated[bool, typer.Option("--offline", help="Do not read the cluster: no state column.")]
RulesOption = Annotated[list[Path] | None, typer.Option(
    "--rules", metavar="DIR", exists=True, file_okay=False, show_default=False,
    help="Lua health rules in Argo CD's resource_customizations/<group>/<Kind>/health.lua layout (repeatable; "
         "later ones win over the cluster's argocd-cm).")]


def _has_kubeconfig(kubeconfig: Path | None) -> bool:
    from kaddons.cluster.kube import kubeconfig_path

    return kubeconfig_path(kubeconfig) is not None or bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _addon_rows(loaded: LoadedCluster, states: dict[tuple[str, str], Any] | None,
                latest: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    from kaddons.stacks.load import listed_members

    rows = []
    for listed in listed_members(loaded):
        key = (listed.kind, listed.name)
        member = loaded.graph.members[key]
        row: dict[str, Any] = {
            "name": listed.name, "stack": listed.stack, "chart": listed.chart, "version": listed.version,
            "source": listed.source, "namespace": listed.namespace,
            "parents": ",".join(f"{k}:{n}" for k, n in member.parents) or None, "depth": member.depth}
        if states is not None:
            row["state"], row["reason"] = states[key].state, states[key].reason
        if latest is not None:
            newest = latest.get(listed.name) if listed.kind == "addon" else None
            row["latest_chart_version"], row["upgrade"] = newest, newest not in (None, listed.version)
        rows.append(row)
    return rows


@addons_app.command("list")
def addons_list(file: FileOption = None, repo: RepoOption = None, output: FormatOption = "table",
                engine: EngineOption = None, context: ContextOption = None, kubeconfig: KubeconfigOption = None,
                offline: OfflineOption = False,
                watch: Annotated[bool, typer.Option(
                    "--watch", "-w", help="Keep watching: on a terminal the table updates in place; otherwise each "
                                          "change prints the add-on's row again (-o json: one JSON object per line). "
                                          "Ctrl-C ends it.")] = False,
                latest: Annotated[bool, typer.Option(
                    "--latest", help="Read each chart source once for the newest version each add-on could move to "
                                     "(latest_chart_version; stable versions only unless on a pre-release).")] = False,
                mirror: MirrorOption = None) -> None:
    """The declared add-ons: name, stack, chart, version, source, namespace, parents, depth, and their state
    in the cluster (Pending, Deploying, Synced, Degraded, OutOfSync, Unknown) read from the engine's objects.
    Without any kubeconfig the state is left out, with a warning; a cluster that cannot be read is exit 5."""
    from kaddons.errors import UsageError

    loaded = _load(file, repo)
    engine = engine or loaded.document.spec.kaddons.engine
    columns = ["name", "stack", "chart", "version", "source", "namespace", "parents", "depth"]
    state_columns = ["name", "stack", "chart", "version", "namespace", "state", "reason"] if output == "table" else [
        *columns, "state", "reason"]
    if watch:
        if offline or latest:
            raise UsageError("--watch follows the cluster: leave out --offline and --latest")
        _watch_list(loaded, engine, _reader(context, kubeconfig), output, state_columns)
        return
    newest: dict[str, str | None] | None = None
    if latest:
        from kaddons.charts.latest import latest_versions
        from kaddons.charts.mirrors import load_mirrors
        from kaddons.charts.sources import SourceOptions

        notes: list[str] = []
        newest = latest_versions([a for s in loaded.document.spec.stacks for a in s.addons],
                                 SourceOptions(mirrors=load_mirrors(mirror or [])), notes)
        for note in notes:
            typer.echo(f"warning: {note}", err=True)
        columns = [*columns, "latest_chart_version"]
        state_columns = [*state_columns[:4], "latest_chart_version", *state_columns[4:]] if output == "table" else [
            *state_columns, "latest_chart_version"]
    states: dict[tuple[str, str], Any] | None = None
    if not offline:
        if not _has_kubeconfig(kubeconfig):
            typer.echo("warning: no kubeconfig ($KUBECONFIG, ~/.kube/config): states not read (--kubeconfig FILE, or "
                       "--offline to say so)", err=True)
        else:
            from kaddons.cluster.status import member_states

            warnings: list[str] = []
            states = member_states(loaded, _reader(context, kubeconfig), engine, warnings=warnings)
            for warning in warnings:
                typer.echo(f"warning: {warning}", err=True)
    from kaddons.operations.history import list_changes

    rows = _addon_rows(loaded, states, newest)
    changes = list_changes(loaded)
    for row in rows:
        change = changes.get(row["name"])
        row["rolled_back_to"] = change.mark if change else None
        row["last_updated"] = change.time if change else None
    shown = state_columns if states is not None else columns
    if output != "table" or any(row["rolled_back_to"] for row in rows):  # the table: when some add-on was rolled back
        shown = [*shown, "rolled_back_to"]
    if output != "table":
        shown = [*shown, "last_updated"]
    _print(rows, output, shown)
    kept = [k.addon.name for k in loaded.document.spec.kaddons.uninstalled]
    if kept and output == "table":
        typer.echo(f"uninstalled, definition kept: {', '.join(kept)} (kaddons cluster addons restore NAME)", err=True)


@addons_app.command("uninstalled")
def addons_uninstalled(file: FileOption = None, repo: RepoOption = None, output: FormatOption = "table") -> None:
    """The add-ons uninstalled with their definition kept (the document's spec.kaddons.uninstalled): name, the
    stack `restore` puts them back into, chart, version, namespace. `restore NAME` brings one back; `uninstall
    NAME --delete` forgets it."""
    rows = [{"name": kept.addon.name, "stack": kept.stack, "chart": kept.addon.chart_name,
             "version": kept.addon.chart_version, "namespace": kept.addon.namespace}
            for kept in _load(file, repo).document.spec.kaddons.uninstalled]
    _print(rows, output, ["name", "stack", "chart", "version", "namespace"])


def _reader(context: str | None, kubeconfig: Path | None) -> ClusterReader:
    from kaddons.cluster.kube import ClusterReader

    return ClusterReader(context=context, kubeconfig=kubeconfig)


def _watch_list(loaded: LoadedCluster, engine: str, reader: ClusterReader, output: str, columns: list[str]) -> None:
    from kaddons.cli.app import Interrupted
    from kaddons.cluster.cache import ClusterCache
    from kaddons.cluster.view import ClusterView

    view = ClusterView(loaded, engine)
    cache = ClusterCache(reader, view.watched(), view.listener)
    cache.start()
    try:
        if not cache.wait_synced(30):
            raise ClusterError(next(iter(cache.errors.values()), f"{reader.where}: no answer within 30 s"))
        if output == "table" and sys.stdout.isatty():
            _watch_live(loaded, view, cache, columns)
        else:
            _watch_lines(loaded, view, cache, output, columns)
    except (KeyboardInterrupt, Interrupted):
        pass  # Ctrl-C is how a watch ends: exit 0, quietly
    finally:
        cache.stop(wait=0.2)


def _rows_now(loaded: LoadedCluster, view: ClusterView, cache: Any) -> list[dict[str, Any]]:
    with cache.locked():
        return _addon_rows(loaded, view.states())


def _watch_lines(loaded: LoadedCluster, view: ClusterView, cache: Any, output: str, columns: list[str]) -> None:
    shown: dict[str, tuple[Any, Any]] = {}
    revision = cache.revision
    errors: dict[str, str] = {}
    first = True
    while True:
        rows = _rows_now(loaded, view, cache)
        changed = [row for row in rows if shown.get(row["name"]) != (row["state"], row["reason"])]
        for row in changed:
            shown[row["name"]] = (row["state"], row["reason"])
        if changed and output == "json":
            for row in changed:
                sys.stdout.write(json.dumps(row) + "\n")
        elif changed and first:
            _print(changed, "table", columns)
        elif changed:
            _print_rows(changed, columns)
        sys.stdout.flush()
        first = False
        if cache.errors != errors:
            errors = cache.errors
            for message in errors.values():
                typer.echo(f"warning: {message} (retrying)", err=True)
        revision = cache.wait(revision, 5.0)


def _print_rows(rows: list[dict[str, Any]], columns: list[str]) -> None:
    for row in rows:
        typer.echo("  ".join(str(row[c]) if row[c] is not None else "-" for c in columns))


def _watch_live(loaded: LoadedCluster, view: ClusterView, cache: Any, columns: list[str]) -> None:
    from rich.live import Live
    from rich.table import Table

    def table() -> Table:
        rendered = Table(box=None, pad_edge=False)
        for column in columns:
            rendered.add_column(column.upper(), overflow="fold")
        for row in _rows_now(loaded, view, cache):
            rendered.add_row(*(str(row[c]) if row[c] is not None else "-" for c in columns))
        if cache.errors:
            rendered.caption = "; ".join(f"{m} (retrying)" for m in cache.errors.values())
        return rendered

    revision = cache.revision
    with Live(table(), auto_refresh=False, redirect_stderr=False) as live:
        while True:
            revision = cache.wait(revision, 5.0)
            live.update(table(), refresh=True)


def _find(loaded: LoadedCluster, name: str) -> tuple[str, Any]:
    for stack in loaded.document.spec.stacks:
        for addon in stack.addons:
            if addon.name == name:
                return stack.name, addon
    names = [a.name for s in loaded.document.spec.stacks for a in s.addons]
    raise NotFoundError(f"no add-on {name!r} in {loaded.path} ({known('add-ons', names, name)}): see kaddons cluster "
                        "addons list")


def _health_rules(rules: list[Path] | None, reader: ClusterReader | None, engine: str) -> Any:
    from kaddons.cluster.health import HealthRules

    loaded = HealthRules()
    if reader is not None and engine == "argocd":
        for config in reader.list("", "v1", "ConfigMap", "configmaps", namespace="argocd"):
            if (config.get("metadata") or {}).get("name") == "argocd-cm":
                loaded.add_argocd_cm({str(k): str(v) for k, v in (config.get("data") or {}).items()})
    for folder in rules or []:
        loaded.add_directory(folder)
    return loaded if loaded else None


def _tree_lines(nodes: list[Node], prefix: str, expand: bool, lines: list[str], top: bool = False) -> None:
    for i, node in enumerate(nodes):
        last = i == len(nodes) - 1
        branch = "" if top else ("└─ " if last else "├─ ")
        status = node.shown.status if node.shown else "-"
        message = node.shown.message if node.shown and node.shown.status != "Healthy" else ""
        lines.append(f"{prefix}{branch}{node.label}  [{status}]" + (f"  {message}" if message else ""))
        inner = prefix if top else prefix + ("   " if last else "│  ")
        kids = [*node.children, *(node.members or [] if expand else [])]
        _tree_lines(kids, inner, expand, lines)


@addons_app.command("get")
def addons_get(
    name: Annotated[str, typer.Argument(help="The add-on.")],
    file: FileOption = None, repo: RepoOption = None, engine: EngineOption = None, context: ContextOption = None,
    kubeconfig: KubeconfigOption = None, offline: OfflineOption = False, rules: RulesOption = None,
    expand: Annotated[bool, typer.Option("--expand", help="List the members of grouped nodes.")] = False,
    cap: Annotated[int, typer.Option("--cap", min=1, help="Group more same-kind leaves than this.")] = 50,
    output: FormatOption = "table",
) -> None:
    """One add-on: overview (chart, state, its engine object), its resource map as a tree (problems first,
    same-kind leaves grouped above --cap), its values with encrypted values masked, and its objects' events,
    newest first. The map follows owner references from the objects the engine lists or the Helm release
    holds, through the workload kinds of the add-on's namespace. A catalog addon shows its artifact (pinned
    digest, implementation, delivered folders) in place of a chart and values."""
    from kaddons.errors import UsageError
    from kaddons.secrets.detect import masked_values
    from kaddons.stacks.load import member_kind

    if output not in ("table", "json", "yaml"):
        raise UsageError(f"-o {output!r}: use table, json or yaml")
    loaded = _load(file, repo)
    engine = engine or loaded.document.spec.kaddons.engine
    values: Any = None
    if member_kind(loaded, name) == "catalog":
        catalog = next(e for e in loaded.document.spec.kaddons.catalog if e.name == name)
        key, namespace = ("catalog", name), catalog.namespace
        artifact = f"{catalog.registry}/addons/{name}:{catalog.tag}@{catalog.digest}"
        data: dict[str, Any] = {"name": name, "kind": "catalog", "stack": catalog.stack, "addon": catalog.addon,
                                "implementation": catalog.implementation, "artifact": artifact,
                                "paths": list(catalog.paths), "namespace": namespace}
        header = [f"Catalog addon {name} (stack {catalog.stack})",
                  f"  artifact   {artifact} (implementation {catalog.implementation})",
                  f"  delivers   {', '.join(catalog.paths) or 'its chart only'}",
                  f"  namespace  {namespace}"]
    else:
        stack, addon = _find(loaded, name)
        key, namespace = ("addon", name), addon.namespace
        values = masked_values(addon.values, f"values of add-on {name}")
        data = {"name": name, "kind": "addon", "stack": stack, "chart": addon.chart_name,
                "version": addon.chart_version, "source": addon.source_url, "namespace": namespace}
        header = [f"Add-on {name} (stack {stack})",
                  f"  chart      {addon.chart_name} {addon.chart_version} from {addon.source_url}",
                  f"  namespace  {namespace}"]
    if not offline:
        from kaddons.cluster.events import cluster_events
        from kaddons.cluster.status import member_details
        from kaddons.cluster.view import ENGINE_NAMESPACES

        reader = _reader(context, kubeconfig)
        details = member_details(loaded, reader, engine, key, rules=_health_rules(rules, reader, engine), cap=cap)
        events = [e for e in cluster_events(reader, sorted({namespace, ENGINE_NAMESPACES[engine]}))
                  if e.object in details.objects]
        data.update({"state": details.state.state, "reason": details.state.reason, "engine": details.engine,
                     "resources": [tree.to_dict(expand) for tree in details.trees]})
    if key[0] == "addon":
        data["values"] = values
    if not offline:
        data["events"] = [{"time": e.time, "type": e.type, "reason": e.reason, "object": e.object,
                           "count": e.count, "message": e.message} for e in events]
    if output != "table":
        _print_data(data, output)
        return
    for line in header:
        typer.echo(line)
    if offline:
        typer.echo("  state      not read (--offline)")
    else:
        typer.echo(f"  state      {details.state.state}: {details.state.reason}")
        typer.echo(f"  engine     {_engine_line(details.engine)}")
        typer.echo("Resource map")
        lines: list[str] = []
        _tree_lines(details.trees, "  ", expand, lines, top=True)
        for line in lines or ["  (no objects found)"]:
            typer.echo(line)
    if key[0] == "addon":
        typer.echo("Values (encrypted values masked)")
        _print_values(values)
    if not offline:
        typer.echo("Events (newest first)")
        if events:
            _print(data["events"][:20], "table", ["time", "type", "reason", "object", "message"])
        else:
            typer.echo("  (none)")
        if len(events) > 20:
            typer.echo(f"  … {len(events) - 20} older (-o json lists them all)")


def _engine_line(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "no engine object in the cluster (not applied yet, or deleted)"
    where = f"{summary['kind']} {summary['namespace']}/{summary['name']}"
    if summary["kind"] == "Application":
        operation = summary.get("operation") or {}
        text = f"{where}: sync {summary.get('sync') or '?'}, health {summary.get('health') or '?'}"
        if summary.get("revision"):
            text += f", revision {summary['revision']}"
        return text + (f", last operation {operation.get('phase')}" if operation.get("phase") else "")
    ready = summary.get("ready") or {}
    text = f"{where}: Ready {ready.get('status') or '?'}" + (f" ({ready['reason']})" if ready.get("reason") else "")
    return text + (f", revision {summary['revision']}" if summary.get("revision") else "")


def _print_values(values: Any) -> None:
    if not values:
        typer.echo("  (none)")
        return
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(values, buffer)
    for line in buffer.getvalue().splitlines():
        typer.echo(f"  {line}")


@cluster_app.command("events")
def events_command(
    file: FileOption = None,
    of: Annotated[str | None, typer.Option("--for", metavar="KIND/NAME", show_default=False,
                                           help="Only this object's events (Deployment/headlamp).")] = None,
    kind: Annotated[str | None, typer.Option("--type", metavar="Warning|Normal", show_default=False,
                                             help="Only events of this type.")] = None,
    context: ContextOption = None, kubeconfig: KubeconfigOption = None, output: FormatOption = "table",
) -> None:
    """The events of the namespaces the document's add-ons and manifests live in, newest first (core/v1 and
    events.k8s.io/v1 merged)."""
    from kaddons.cluster.events import cluster_events, namespaces_of

    loaded = _load(file, None)
    reader = _reader(context, kubeconfig)
    rows = [{"time": e.time, "type": e.type, "reason": e.reason, "object": e.object, "namespace": e.namespace,
             "count": e.count, "message": e.message}
            for e in cluster_events(reader, namespaces_of(loaded), of=of, kind=kind)]
    _print(rows, output, ["time", "type", "reason", "object", "count", "message"])


@addons_app.command("values")
def addons_values(
    name: Annotated[str, typer.Argument(help="The add-on.")],
    file: FileOption = None, repo: RepoOption = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="yaml|json")] = "yaml",
) -> None:
    """The add-on's Helm values as the document gives them (variables substituted). Encrypted values are shown
    decrypted when the age key is here ($SOPS_AGE_KEY_FILE, else ~/.config/sops/age/keys.txt), else as
    <encrypted>; the decrypted text is printed, never written."""
    from kaddons.errors import UsageError
    from kaddons.secrets.detect import is_sops_encrypted, masked_values
    from kaddons.stacks.load import member_kind

    if output not in ("yaml", "json"):
        raise UsageError(f"-o {output!r}: use yaml or json")
    loaded = _load(file, repo)
    if member_kind(loaded, name) == "catalog":
        raise UsageError(f"catalog addon {name!r} has no values in the document: its chart was rendered at enable "
                         f"with the addon's own values.yaml (see catalog/{name}/chart.yaml)")
    _stack, addon = _find(loaded, name)
    text = addon.values
    note = None
    if is_sops_encrypted(text):
        from kaddons.secrets.keys import default_key_file

        key = default_key_file()
        if key.is_file():
            from kaddons.secrets.sops import decrypt

            text = decrypt(text, what=f"values of add-on {name}", identity=str(key))
        else:
            note = f"encrypted values masked: no age key at {key} (set SOPS_AGE_KEY_FILE)"
    values = masked_values(text, f"values of add-on {name}")
    if note:
        typer.echo(f"note: {note}", err=True)
    _print_data(values, output)


@addons_app.command("settings")
def addons_settings(
    name: Annotated[str, typer.Argument(help="The add-on.")],
    file: FileOption = None, repo: RepoOption = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="yaml|json")] = "yaml",
) -> None:
    """The add-on's settings (sync policy, retry policy, sync window, ignored differences, history limit,
    strict health check), Ankra's defaults filled in, and the profile they match (default, development,
    production-critical, stateful, or custom)."""
    from kaddons.errors import UsageError

    if output not in ("yaml", "json"):
        raise UsageError(f"-o {output!r}: use yaml or json")
    from kaddons.stacks.profiles import profile_of

    _stack, addon = _find(_load(file, repo), name)
    _print_data({"profile": profile_of(addon.settings), **addon.settings.model_dump(mode="json")}, output)


@addons_app.command("sync")
def addons_sync(
    name: Annotated[str, typer.Argument(help="The add-on.")],
    file: FileOption = None, repo: RepoOption = None, engine: EngineOption = None, context: ContextOption = None,
    kubeconfig: KubeconfigOption = None,
) -> None:
    """Ask the engine to reconcile the add-on (or catalog addon) now: the one command that writes to the cluster
    API, because Git cannot say "now". Argo CD: an operation on its Application (refused while one runs); Flux:
    the reconcile.fluxcd.io/requestedAt annotation on its HelmRelease (a catalog addon: on its Kustomizations).
    Needs patch on those objects."""
    from kaddons.cluster.sync import sync_member, sync_target

    loaded = _load(file, repo)
    kind, paths = sync_target(loaded, name)
    asked = sync_member(_reader(context, kubeconfig), engine or loaded.document.spec.kaddons.engine, kind, name,
                        paths=paths)
    typer.echo(f"{'catalog addon' if kind == 'catalog' else 'add-on'} {name}: sync asked of {asked['object']}",
               err=True)
