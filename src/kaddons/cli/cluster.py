"""``kaddons cluster``: add-on stacks declared in Ankra's cluster document (phase 2; ankra-addons.md §6.1 verbs).

``-f FILE`` names the document; without it, the one ``clusters/*/cluster.yaml`` of the working copy.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kaddons.cli._options import with_registry_options
from kaddons.errors import NotFoundError, UsageError
from kaddons.oci.registry import RegistryOptions

if TYPE_CHECKING:
    from kaddons.charts.preflight import PreflightReport
    from kaddons.charts.sources import SourceOptions
    from kaddons.stacks.load import LoadedCluster

cluster_app = typer.Typer(help="Add-on stacks declared in Ankra's ImportCluster document, kept in Git.",
                          no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
stacks_app = typer.Typer(help="The stacks of the cluster document.", no_args_is_help=True)
addons_app = typer.Typer(help="The add-ons of the cluster document.", no_args_is_help=True)
cluster_app.add_typer(stacks_app, name="stacks")
cluster_app.add_typer(addons_app, name="addons")

FileOption = Annotated[Path | None, typer.Option(
    "--file", "-f", dir_okay=False, show_default=False,
    help="The cluster document \\[default: the one clusters/*/cluster.yaml of the working copy].")]
RepoOption = Annotated[Path | None, typer.Option(
    "--repo", file_okay=False, show_default=False,
    help="The repository root that paths in the document stay inside \\[default: the Git working copy].")]


def _format(value: str) -> str:
    """-o checked as the command line is read: a bad one is refused before any work (a preflight, a cluster read)."""
    if value not in ("table", "json", "yaml"):
        raise UsageError(f"-o {value!r}: use table, json or yaml")
    return value


FormatOption = Annotated[str, typer.Option("--output", "-o", metavar="table|json|yaml", callback=_format,
                                           help="Output format.")]

EngineOption = Annotated[str | None, typer.Option(
    "--engine", metavar="argocd|flux", show_default=False,
    help="The GitOps engine to render for \\[default: the document's spec.kaddons.engine, else argocd].")]
GitUrlOption = Annotated[str | None, typer.Option(
    "--git-url", metavar="URL", show_default=False,
    help="The GitOps repository as the cluster's engine clones it \\[default: spec.kaddons.repo_url, else the "
         "GitHub URL of spec.git_repository, else the working copy's remote].")]
MirrorOption = Annotated[list[str] | None, typer.Option(
    "--mirror", metavar="FROM=TO", show_default=False,
    help="Read chart sources starting with FROM from TO instead (repeatable; also the mirrors file "
         "$KADDONS_MIRRORS_FILE or ~/.config/kaddons/mirrors.yaml). Rendered objects keep the document's URLs.")]
StrictOption = Annotated[bool, typer.Option("--strict", help="Treat preflight warnings as errors.")]


def default_document(start: Path) -> Path:
    """The one ``clusters/*/cluster.yaml`` of the working copy holding ``start``; raises when there is none or
    several (naming them)."""
    from kaddons.stacks.load import find_repository

    root = find_repository(start.absolute())
    found = sorted(root.glob("clusters/*/cluster.yaml"))
    if not found:
        raise NotFoundError(f"no clusters/*/cluster.yaml in {root}: give the cluster document with -f FILE")
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(root)) for p in found)
        raise UsageError(f"{root} holds several cluster documents ({names}): choose one with -f FILE")
    return found[0]


def _load(file: Path | None, repo: Path | None) -> LoadedCluster:
    from kaddons.stacks.load import load_cluster

    loaded = load_cluster(file if file is not None else default_document(Path.cwd()), repository=repo)
    for warning in loaded.warnings:
        typer.echo(f"warning: {warning}", err=True)
    return loaded


def _print_data(data: Any, fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt == "yaml":
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        yaml.dump(data, sys.stdout)
    else:
        raise UsageError(f"-o {fmt!r}: use text, json or yaml")


def _print(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    if fmt in ("json", "yaml"):
        _print_data(rows, fmt)
        return
    if fmt == "table":
        table = [[str(row[c]) if row[c] is not None else "-" for c in columns] for row in rows]
        widths = [max(len(c), *(len(r[i]) for r in table)) if table else len(c) for i, c in enumerate(columns)]
        for line in ([c.upper() for c in columns], *table):
            typer.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    else:
        raise UsageError(f"-o {fmt!r}: use table, json or yaml")


@cluster_app.command("validate")
def validate_command(
    file: FileOption = None,
    repo: RepoOption = None,
    strict_secrets: Annotated[bool, typer.Option(
        "--strict-secrets", help="Make plaintext that looks secret an error: a Secret manifest with plaintext data, "
                                 "a values key like password or token outside encrypted_paths.")] = False,
) -> None:
    """Check the cluster document: its schema (unknown keys refused), the files it names, variables, the
    dependency graph (duplicates, missing parents, cycles), and secrets (values named in encrypted_paths are
    ciphertext; plaintext that looks secret is a warning). Nothing is written."""
    from kaddons.secrets.guard import check_encrypted, secret_warnings

    loaded = _load(file, repo)
    check_encrypted(loaded)
    secrets = secret_warnings(loaded)
    if strict_secrets and secrets:
        raise UsageError(f"{secrets[0]} (--strict-secrets; {len(secrets)} in all)")
    for warning in secrets:
        typer.echo(f"warning: {warning}", err=True)
    document = loaded.document
    addons = sum(len(s.addons) for s in document.spec.stacks)
    manifests = sum(len(s.manifests) for s in document.spec.stacks)
    typer.echo(f"{loaded.path}: cluster {document.metadata.name} is valid: {len(document.spec.stacks)} stack(s), "
               f"{addons} add-on(s), {manifests} manifest(s), {len(loaded.warnings) + len(secrets)} warning(s)")


encrypt_app = typer.Typer(help="Encrypt values of an add-on's values file or a manifest with SOPS (age), per key.",
                          no_args_is_help=True)
decrypt_app = typer.Typer(help="Print the plaintext of an encrypted values file or manifest (nothing is written).",
                          no_args_is_help=True)
cluster_app.add_typer(encrypt_app, name="encrypt")
cluster_app.add_typer(decrypt_app, name="decrypt")
KeyOption = Annotated[list[str] | None, typer.Option(
    "--key", "-k", metavar="NAME", show_default=False,
    help="A key whose values to encrypt, matched anywhere in the file (repeatable; a.b means b; a leading dot is "
         "literal: .dockerconfigjson).")]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", show_default=False,
    help="Set KEY (dotted path) to VALUE and encrypt it in the same step: the plaintext never reaches the working "
         "copy (repeatable).")]


def _encrypt(kind: str, name: str, file: Path | None, keys: list[str], sets: list[str], all_data: bool) -> None:
    from kaddons.operations.encrypt import encrypt_member

    result = encrypt_member(_load(file, None), kind, name, keys=keys, sets=sets, all_data=all_data)
    typer.echo(f"{result.file}: encrypted {', '.join(result.keys)} ({kind} {name}; recorded in encrypted_paths). "
               "Commit with kaddons cluster apply.", err=True)
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)


@encrypt_app.command("addon")
def encrypt_addon(name: Annotated[str, typer.Argument(help="The add-on.")], key: KeyOption = None,
                  set_: SetOption = None, file: FileOption = None) -> None:
    """Encrypt keys of the add-on's values file (configuration.from_file) for the repository's recipients
    (.sops.yaml); the names go into configuration.encrypted_paths."""
    _encrypt("addon", name, file, key or [], set_ or [], False)


@encrypt_app.command("manifest")
def encrypt_manifest(name: Annotated[str, typer.Argument(help="The manifest.")], key: KeyOption = None,
                     all_data: Annotated[bool, typer.Option(
                         "--all-data", help="Every value under a Secret's data and stringData.")] = False,
                     set_: SetOption = None, file: FileOption = None) -> None:
    """Encrypt keys of the manifest's file (from_file) for the repository's recipients; the names go into
    encrypted_paths."""
    _encrypt("manifest", name, file, key or [], set_ or [], all_data)


@decrypt_app.command("addon")
def decrypt_addon(name: Annotated[str, typer.Argument(help="The add-on.")], file: FileOption = None) -> None:
    """Print the add-on's decrypted values (needs one of the recipients' keys: SOPS_AGE_KEY_FILE)."""
    from kaddons.operations.encrypt import decrypt_member

    sys.stdout.write(decrypt_member(_load(file, None), "addon", name))


@decrypt_app.command("manifest")
def decrypt_manifest(name: Annotated[str, typer.Argument(help="The manifest.")], file: FileOption = None) -> None:
    """Print the manifest decrypted (needs one of the recipients' keys: SOPS_AGE_KEY_FILE)."""
    from kaddons.operations.encrypt import decrypt_member

    sys.stdout.write(decrypt_member(_load(file, None), "manifest", name))


@stacks_app.command("list")
def stacks_list(file: FileOption = None, repo: RepoOption = None, output: FormatOption = "table") -> None:
    """The stacks: name, deploy wave, add-ons, manifests, description."""
    document = _load(file, repo).document
    rows = [{"name": s.name, "deployWave": s.deploy_wave, "addons": len(s.addons), "manifests": len(s.manifests),
             "description": s.description} for s in document.spec.stacks]
    _print(rows, output, ["name", "deployWave", "addons", "manifests", "description"])


@cluster_app.command("render")
def render_command(
    git_url: GitUrlOption = None,
    file: FileOption = None,
    repo: RepoOption = None,
    engine: EngineOption = None,
    revision: Annotated[str, typer.Option("--revision", help="The branch the engine follows.")] = "main",
    write: Annotated[bool, typer.Option(
        "--write", help="Write the tree into clusters/<cluster>/<engine>/ of the repository (only kaddons' files "
                        "there are replaced) instead of printing its objects.")] = False,
    force: Annotated[bool, typer.Option("--force", help="With --write: replace kaddons' files edited by hand.")]
    = False,
) -> None:
    """Render the tree of the cluster document for Argo CD (an app-of-apps root, one Application per add-on and
    per manifest, ordered by sync waves) or Flux (HelmRepositories, one HelmRelease per add-on, a Kustomization
    per member with dependsOn, one per deploy wave). Pure: the same document gives the same bytes. Committing it
    to Git is `kaddons cluster apply`."""
    from kaddons.gitops.output import write_tree
    from kaddons.operations.apply import ENGINES, document_repo_url, render_tree

    loaded = _load(file, repo)
    chosen = engine or loaded.document.spec.kaddons.engine
    if chosen not in ENGINES:
        raise UsageError(f"--engine {chosen!r}: use argocd or flux")
    url = git_url or document_repo_url(loaded)
    if url is None:
        raise UsageError("give the GitOps repository as the engine clones it: --git-url URL (or spec.kaddons.repo_url "
                         "in the document)")
    files = render_tree(loaded, chosen, url, revision)
    base = f"clusters/{loaded.document.metadata.name}/{chosen}/"
    if not write:
        sys.stdout.write("---\n".join(text.decode("utf-8") for path, text in files.items()
                                       if not path.endswith("kustomization.yaml")))
        return
    done = write_tree({path.removeprefix(base): data for path, data in files.items()}, loaded.repository / base,
                      force=force, prune=True)
    typer.echo(f"Rendered {len(files)} file(s) into {done.directory} ({len(done.written)} written, "
               f"{len(done.unchanged)} unchanged, {len(done.removed)} removed)", err=True)

def _document(file: Path | None) -> Path:
    return file if file is not None else default_document(Path.cwd())


def _source_options(mirror: list[str] | None, options: RegistryOptions) -> SourceOptions:
    from kaddons.charts.mirrors import load_mirrors
    from kaddons.charts.sources import SourceOptions

    return SourceOptions(mirrors=load_mirrors(mirror or []), registry=options)


def _preflight(mirror: list[str] | None, options: RegistryOptions, strict: bool) -> Callable[[LoadedCluster], None]:
    source_options = _source_options(mirror, options)  # a bad --mirror fails before anything else

    def run(loaded: LoadedCluster) -> None:
        from kaddons.charts.preflight import preflight

        _print_preflight(preflight(loaded, source_options, strict=strict))

    return run


def _print_preflight(report: PreflightReport) -> None:
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)


@cluster_app.command("template")
@with_registry_options
def template_command(options: RegistryOptions, file: FileOption = None, repo: RepoOption = None,
                     mirror: MirrorOption = None, strict: StrictOption = False,
                     output: FormatOption = "table") -> None:
    """Preflight: find every add-on's chart at its exact version in its source, pull it by digest, check the
    values against the chart's schema and render it with them (Helm SDK, in-process). Warnings for unknown
    values keys, namespaces nothing creates, deprecated charts. Unchanged add-ons are not rendered again."""
    from kaddons.charts.preflight import preflight

    loaded = _load(file, repo)
    report = preflight(loaded, _source_options(mirror, options), strict=strict)
    _print_preflight(report)
    rows = [{"name": c.name, "stack": c.stack, "chart": c.chart, "version": c.version, "digest": c.digest,
             "objects": c.objects, "cached": c.cached, "warnings": len(c.warnings)} for c in report.checks]
    if output == "table":
        for row in rows:
            row["digest"] = str(row["digest"])[:19]
    _print(rows, output, ["name", "stack", "chart", "version", "digest", "objects", "cached", "warnings"])
    typer.echo(f"{len(report.checks)} add-on(s) checked, {report.rendered} chart(s) rendered, "
               f"{len(report.warnings)} warning(s)", err=True)


@cluster_app.command("apply")
@with_registry_options
def apply_command(
    options: RegistryOptions,
    file: FileOption = None,
    engine: EngineOption = None,
    git_url: GitUrlOption = None,
    message: Annotated[str | None, typer.Option("--message", "-m", show_default=False,
                                                help="The commit message \\[default: one naming the cluster].")]
    = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the files that would change; commit nothing.")]
    = False,
    mirror: MirrorOption = None,
    strict: StrictOption = False,
    output: Annotated[str, typer.Option("--output", "-o", metavar="text|json|yaml",
                                        help="Output format of the result.")] = "text",
    confirm_destructive: Annotated[bool, typer.Option(
        "--confirm-destructive", help="Let an add-on move to another namespace (Helm installs it anew there and "
                                      "everything in the old one is deleted, volumes too).")] = False,
) -> None:
    """Validate the cluster document, render clusters/<cluster>/<engine>/, commit the document's files and the
    tree, and push to the tracked branch, only when something changed. A push refused because someone pushed
    first is fetched, rendered again on top, and retried. A namespace change of an add-on is refused without
    --confirm-destructive."""
    from kaddons.operations.apply import ApplyOptions, apply_cluster

    if output not in ("text", "json", "yaml"):
        raise UsageError(f"-o {output!r}: use text, json or yaml")
    result = apply_cluster(_document(file), ApplyOptions(engine=engine, git_url=git_url, message=message,
                                                         dry_run=dry_run, confirm_destructive=confirm_destructive),
                           preflight=_preflight(mirror, options, strict))
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if output != "text":
        data = {"cluster": result.cluster, "engine": result.engine, "upstream": result.upstream,
                "commit": result.commit, "changed": result.changed, "dryRun": dry_run, "keptLocalChanges": result.kept}
        _print_data(data, output)
        return
    if dry_run:
        for path in result.changed:
            typer.echo(path)
        typer.echo(f"{len(result.changed)} file(s) would change on {result.upstream} (dry run: nothing committed)",
                   err=True)
        return
    if result.commit is None:
        typer.echo(f"cluster {result.cluster}: {result.upstream} is up to date ({result.engine}); no commit", err=True)
    else:
        typer.echo(f"cluster {result.cluster}: pushed {result.commit[:12]} to {result.upstream} "
                   f"({len(result.changed)} file(s) changed, {result.engine})", err=True)
    for path in result.kept:
        typer.echo(f"warning: {path} has local changes and was left as it is; the commit has the remote's version",
                   err=True)


@cluster_app.command("diff")
@with_registry_options
def diff_command(options: RegistryOptions, file: FileOption = None, engine: EngineOption = None,
                 git_url: GitUrlOption = None, mirror: MirrorOption = None, strict: StrictOption = False) -> None:
    """What `kaddons cluster apply` would change on the tracked branch, as a unified diff (nothing written;
    the preflight runs as for apply)."""
    from kaddons.operations.apply import ApplyOptions, apply_cluster, unified_diff

    result = apply_cluster(_document(file), ApplyOptions(engine=engine, git_url=git_url, dry_run=True),
                           preflight=_preflight(mirror, options, strict))
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    sys.stdout.write(unified_diff(result))
    if not result.changed:
        typer.echo(f"cluster {result.cluster}: no changes against {result.upstream}", err=True)


DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show the files that would change; commit nothing.")]


def _report(result: Any, dry_run: bool, what: str) -> None:
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if dry_run:
        for path in result.changed:
            typer.echo(path)
        typer.echo(f"{what}: {len(result.changed)} file(s) would change on {result.upstream} (dry run: nothing "
                   "committed)", err=True)
    elif result.commit is None:
        typer.echo(f"{what}: nothing changed on {result.upstream}; no commit", err=True)
    else:
        typer.echo(f"{what}: pushed {result.commit[:12]} to {result.upstream} ({len(result.changed)} file(s) "
                   "changed)", err=True)


def _split_assignment(item: str) -> tuple[str, str, str]:
    """``PATH=VALUE`` split at the first ``=`` outside a ``[field=value]`` selector (``env[name=X].value=y``)."""
    depth = 0
    for i, char in enumerate(item):
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(depth - 1, 0)
        elif char == "=" and depth == 0:
            return item[:i], "=", item[i + 1:]
    return item, "", ""


def _sets(sets: list[str] | None, strings: list[str] | None, files: list[str] | None) -> tuple[tuple[str, Any], ...]:
    """``--set`` (a YAML scalar: 3, true, null), ``--set-string`` and ``--set-file`` as (path, value) pairs."""
    from kaddons.addons._yaml import parse_yaml
    from kaddons.errors import ClusterDocumentError

    found: list[tuple[str, Any]] = []
    for flag, given in (("--set", sets), ("--set-string", strings), ("--set-file", files)):
        for item in given or []:
            path, equals, raw = _split_assignment(item)
            if not equals or not path:
                raise UsageError(f"{flag} {item!r}: use PATH=VALUE, e.g. image.tag=1.2.3 or env[name=X].value=y")
            if flag == "--set":
                value = parse_yaml(raw, f"{flag} {path}", error=ClusterDocumentError) if raw else ""
                if isinstance(value, (dict, list)):
                    raise UsageError(f"{flag} {item!r}: a value is a scalar; use --set-file for a structure")
            elif flag == "--set-file":
                try:
                    value = Path(raw).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as err:
                    raise UsageError(f"{flag} {path}: cannot read {raw} ({err})") from None
            else:
                value = raw
            found.append((path, value))
    return tuple(found)


@addons_app.command("upgrade")
@with_registry_options
def addons_upgrade(options: RegistryOptions,
                   name: Annotated[str, typer.Argument(help="The add-on.")],
                   chart_version: Annotated[str | None, typer.Option(
                       "--chart-version", show_default=False, help="The chart version to move to.")] = None,
                   set_: Annotated[list[str] | None, typer.Option(
                       "--set", metavar="PATH=VALUE", show_default=False,
                       help="Set a value (a YAML scalar) at PATH: image.tag=1.2, env[name=LOG].value=debug, "
                            "args[0]=-v (repeatable).")] = None,
                   set_string: Annotated[list[str] | None, typer.Option(
                       "--set-string", metavar="PATH=VALUE", show_default=False,
                       help="Set a value as a string (repeatable).")] = None,
                   set_file: Annotated[list[str] | None, typer.Option(
                       "--set-file", metavar="PATH=FILE", show_default=False,
                       help="Set a value to a file's text (repeatable).")] = None,
                   values_from_file: Annotated[Path | None, typer.Option(
                       "--values-from-file", exists=True, dir_okay=False, show_default=False,
                       help="Replace the values with this file's.")] = None,
                   values_stdin: Annotated[str | None, typer.Option(
                       "--values", metavar="-", show_default=False,
                       help="Replace the values with standard input's ('-').")] = None,
                   add_parent: Annotated[list[str] | None, typer.Option(
                       "--add-parent", metavar="KIND:NAME", show_default=False, help="Add a parent (repeatable).")]
                   = None,
                   remove_parent: Annotated[list[str] | None, typer.Option(
                       "--remove-parent", metavar="KIND:NAME", show_default=False,
                       help="Remove a parent (repeatable).")] = None,
                   set_parent: Annotated[list[str] | None, typer.Option(
                       "--set-parent", metavar="KIND:NAME", show_default=False,
                       help="Replace the parents with these (repeatable).")] = None,
                   namespace: Annotated[str | None, typer.Option(
                       "--namespace", show_default=False,
                       help="Move it to another namespace: a new install there, the old one deleted (needs "
                            "--confirm-destructive).")] = None,
                   confirm_destructive: Annotated[bool, typer.Option(
                       "--confirm-destructive", help="Let --namespace through.")] = False,
                   file: FileOption = None, dry_run: DryRunOption = False, mirror: MirrorOption = None,
                   strict: StrictOption = False,
                   message: Annotated[str | None, typer.Option("--message", "-m", show_default=False)] = None) -> None:
    """Move an add-on to another chart version, set or replace its values, change its parents or namespace: the
    document and its values file are edited (comments kept), the chart rendered with them, and the change
    committed and pushed, or nothing at all. Encrypted keys are set with kaddons cluster encrypt addon NAME --set
    instead. With --dry-run, the values, the rendered manifests and the CRDs that change are shown."""
    from kaddons.operations.apply import ApplyOptions
    from kaddons.operations.lifecycle import ParentEdit, upgrade_addon

    sets = _sets(set_, set_string, set_file)
    values: str | None = None
    if values_from_file is not None and values_stdin is not None:
        raise UsageError("give --values-from-file F or --values -, not both")
    if values_stdin is not None:
        if values_stdin != "-":
            raise UsageError(f"--values {values_stdin!r}: --values reads standard input ('-'); a file is "
                             "--values-from-file F")
        values = sys.stdin.read()
    elif values_from_file is not None:
        try:
            values = values_from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--values-from-file {values_from_file}: cannot read it ({err})") from None
    parents = ParentEdit(tuple(_parents(add_parent)), tuple(_parents(remove_parent)),
                         tuple(_parents(set_parent)) if set_parent else None)
    document = _document(file)
    preflight = _preflight(mirror, options, strict)
    seen: list[LoadedCluster] = []
    if dry_run:  # the add-on before, and as the apply sees it after, for the preview
        from kaddons.stacks.load import load_cluster

        seen.append(load_cluster(document))
        check = preflight

        def preflight(loaded: LoadedCluster) -> None:
            check(loaded)
            seen.append(loaded)

    result = upgrade_addon(document, name, chart_version,
                           options=ApplyOptions(message=message, dry_run=dry_run,
                                                confirm_destructive=confirm_destructive),
                           preflight=preflight, sets=sets, values=values, parents=parents, namespace=namespace)
    what = " and ".join([*([f"-> {chart_version}"] if chart_version else []),
                         *([f"values {', '.join(p for p, _v in sets)}"] if sets else []),
                         *(["values replaced"] if values is not None else []),
                         *(["parents"] if parents else []), *([f"namespace {namespace}"] if namespace else [])])
    if dry_run and len(seen) > 1:
        _print_preview(seen[0], seen[-1], name, _source_options(mirror, options))
    _report(result, dry_run, f"add-on {name} {what}")


def _print_preview(before: LoadedCluster, after: LoadedCluster, name: str, options: SourceOptions) -> None:
    """The values, rendered manifests and CRDs an upgrade changes (:mod:`kaddons.charts.compare`)."""
    from kaddons.charts.compare import preview_upgrade

    def addon(loaded: LoadedCluster) -> Any:
        return next(a for s in loaded.document.spec.stacks for a in s.addons if a.name == name)

    old, new = addon(before), addon(after)
    registries = {r.url.rstrip("/"): r.credential_name for r in after.document.spec.helm_registries}
    credential = new.registry_credential_name or registries.get(new.source_url.rstrip("/"))
    preview = preview_upgrade(old, new, options, credential)
    typer.echo(preview.values or f"# values of {name}: unchanged")
    typer.echo(preview.manifests or f"# rendered manifests of {name}: unchanged")
    for line in preview.crds:
        typer.echo(f"warning: {line}", err=True)


@addons_app.command("history")
def addons_history(name: Annotated[str, typer.Argument(help="The add-on.")], file: FileOption = None,
                   output: FormatOption = "table") -> None:
    """The commits that changed the add-on (its entry or its values file), newest first."""
    from kaddons.operations.history import addon_history

    rows = [{"revision": c.revision if output != "table" else c.revision[:12], "time": c.time, "author": c.author,
             "subject": c.subject} for c in addon_history(_document(file), name)]
    _print(rows, output, ["revision", "time", "author", "subject"])


@stacks_app.command("history")
def stacks_history(name: Annotated[str, typer.Argument(help="The stack.")], file: FileOption = None,
                   output: FormatOption = "table") -> None:
    """The commits that changed the stack (the entries of its members, their values and manifest files), newest
    first."""
    from kaddons.operations.history import stack_history

    rows = [{"revision": c.revision if output != "table" else c.revision[:12], "time": c.time, "author": c.author,
             "subject": c.subject} for c in stack_history(_document(file), name)]
    _print(rows, output, ["revision", "time", "author", "subject"])


@addons_app.command("rollback")
@with_registry_options
def addons_rollback(options: RegistryOptions, name: Annotated[str, typer.Argument(help="The add-on.")],
                    to: Annotated[str | None, typer.Option("--to", metavar="REVISION", show_default=False,
                                                           help="The revision to restore \\[default: the one before "
                                                                "the add-on's newest change].")] = None,
                    file: FileOption = None, dry_run: DryRunOption = False, mirror: MirrorOption = None,
                    strict: StrictOption = False) -> None:
    """Restore the add-on's chart version, settings and values as they were at a revision, as a new commit
    (auto-sync stays on; the history stays)."""
    from kaddons.operations.apply import ApplyOptions
    from kaddons.operations.lifecycle import rollback_addon

    revision, result = rollback_addon(_document(file), name, to=to, options=ApplyOptions(dry_run=dry_run),
                                      preflight=_preflight(mirror, options, strict))
    _report(result, dry_run, f"add-on {name} rolled back to {revision[:12]}")


@addons_app.command("install")
@with_registry_options
def addons_install(
    options: RegistryOptions,
    chart: Annotated[str, typer.Argument(help="The chart.")],
    stack: Annotated[str, typer.Option("--stack", show_default=False, help="The stack (created when new).")],
    source: Annotated[str, typer.Option("--source", metavar="NAME|URL", show_default=False,
                                        help="A registry of spec.helm_registries, or the chart source's URL.")],
    chart_version: Annotated[str, typer.Option("--chart-version", show_default=False, help="The exact version.")],
    name: Annotated[str | None, typer.Option("--name", show_default=False,
                                             help="The add-on \\[default: the chart's name].")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", show_default=False,
                                                  help="Where it installs \\[default: its name].")] = None,
    values: Annotated[Path | None, typer.Option("--values", exists=True, dir_okay=False, show_default=False,
                                                help="A values file, copied to values/<name>.yaml.")] = None,
    parent: Annotated[list[str] | None, typer.Option("--parent", metavar="KIND:NAME", show_default=False,
                                                     help="A parent (manifest:NAME, addon:NAME or catalog:NAME; "
                                                          "repeatable).")]
    = None,
    file: FileOption = None, dry_run: DryRunOption = False, mirror: MirrorOption = None,
    strict: StrictOption = False,
) -> None:
    """Add a Helm chart add-on to a stack: the document is edited, the chart found and rendered at that
    version, and the change committed and pushed, or nothing at all."""
    from kaddons.operations.apply import ApplyOptions
    from kaddons.operations.members import NewAddon, install_addon

    addon = NewAddon(name or chart, chart, chart_version, source, namespace or name or chart,
                     tuple(_parents(parent)), values)
    result = install_addon(_document(file), stack, addon, options=ApplyOptions(dry_run=dry_run),
                           preflight=_preflight(mirror, options, strict))
    _report(result, dry_run, f"add-on {addon.name} installed in stack {stack}")


@addons_app.command("uninstall")
@with_registry_options
def addons_uninstall(options: RegistryOptions, name: Annotated[str, typer.Argument(help="The add-on.")],
                     delete: Annotated[bool, typer.Option(
                         "--delete", help="Delete its definition and values file too (also of one uninstalled "
                                          "before); without it they are kept for restore.")] = False,
                     force: Annotated[bool, typer.Option(
                         "--force", help="Re-attach the members that name it as parent to its own parents.")] = False,
                     file: FileOption = None, dry_run: DryRunOption = False, mirror: MirrorOption = None,
                     strict: StrictOption = False) -> None:
    """Take an add-on off the cluster, as a commit: it leaves its stack, and the engine deletes its objects (Argo
    CD's finalizer and prune; Flux's prune), with whatever data its chart deletes. Its definition and values
    file are kept in the document's spec.kaddons.uninstalled, so `restore` brings it back; --delete forgets them
    (as Ankra's delete_permanently)."""
    from kaddons.operations.apply import ApplyOptions
    from kaddons.operations.members import uninstall_addon

    result = uninstall_addon(_document(file), name, delete=delete, force=force, options=ApplyOptions(dry_run=dry_run),
                             preflight=_preflight(mirror, options, strict))
    _report(result, dry_run, f"add-on {name} {'deleted' if delete else 'uninstalled (definition kept)'}")


@addons_app.command("restore")
@with_registry_options
def addons_restore(options: RegistryOptions, name: Annotated[str, typer.Argument(help="The uninstalled add-on.")],
                   stack: Annotated[str | None, typer.Option(
                       "--stack", show_default=False, help="The stack \\[default: the one it was uninstalled from; "
                                                           "created when gone].")] = None,
                   file: FileOption = None, dry_run: DryRunOption = False, mirror: MirrorOption = None,
                   strict: StrictOption = False) -> None:
    """Install an add-on again from the definition `uninstall` kept (chart, version, values, settings, parents),
    as a commit."""
    from kaddons.operations.apply import ApplyOptions
    from kaddons.operations.members import restore_addon

    result = restore_addon(_document(file), name, stack=stack, options=ApplyOptions(dry_run=dry_run),
                           preflight=_preflight(mirror, options, strict))
    _report(result, dry_run, f"add-on {name} restored")


def _parents(items: list[str] | None) -> list[tuple[str, str]]:
    parents = []
    for item in items or []:
        kind, sep, parent_name = item.partition(":")
        if not sep or kind not in ("manifest", "addon", "catalog") or not parent_name:
            raise UsageError(f"--parent {item!r}: write it as manifest:NAME, addon:NAME or catalog:NAME")
        parents.append((kind, parent_name))
    return parents


@addons_app.command("enable")
@with_registry_options
def addons_enable(
    options: RegistryOptions,
    addon: Annotated[str, typer.Argument(help="The catalog addon (metadata.name of its addon.manifest.yaml).")],
    implementation: Annotated[str | None, typer.Argument(
        help="Its implementation, for an addon with several (ingress nginx).", show_default=False)] = None,
    stack: Annotated[str, typer.Option("--stack", show_default=False, help="The stack (created when new).")] = "",
    registry: Annotated[str, typer.Option("--registry", metavar="oci://HOST[/PREFIX]", show_default=False,
                                          help="The registry holding PREFIX/addons/<name>, as the cluster reaches "
                                               "it.")] = "",
    tag: Annotated[str | None, typer.Option("--tag", show_default=False,
                                            help="The tag \\[default: the highest release tag].")] = None,
    path: Annotated[list[str] | None, typer.Option(
        "--path", metavar="FOLDER", show_default=False,
        help="A folder of the addon's manifests/ to deliver (repeatable; '.' is manifests/ itself) \\[default: "
             "manifests/ when it has a kustomization.yaml or objects of its own].")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", show_default=False,
                                                  help="Where its chart installs \\[default: the addon's name].")]
    = None,
    parent: Annotated[list[str] | None, typer.Option(
        "--parent", metavar="KIND:NAME", show_default=False,
        help="A parent (manifest:NAME, addon:NAME or catalog:NAME; repeatable).")] = None,
    file: FileOption = None, dry_run: DryRunOption = False, mirror: MirrorOption = None,
    strict: StrictOption = False,
) -> None:
    """Enable a catalog addon (a K2s-format artifact, addons/<name>:<tag> in an OCI registry) on the cluster, as a
    stack member pinned to its digest, and commit it.

    Flux pulls the addon's manifests layer itself (an OCIRepository by digest).

    Argo CD, which cannot select an OCI layer, gets the addon's manifests written into Git.

    A chart of the addon is rendered into Git (with its values.yaml) for both engines.

    The addon's PowerShell scripts (K2s's Windows host steps) are not run: enable such an addon with K2s."""
    from kaddons.operations.apply import ApplyOptions
    from kaddons.operations.catalog import enable_addon

    if not stack or not registry:
        raise UsageError("give --stack S and --registry oci://HOST[/PREFIX]")
    enabled = enable_addon(_document(file), addon, implementation, stack=stack, registry=registry,
                           registry_options=options, tag=tag, paths=path, namespace=namespace,
                           parents=_parents(parent), options=ApplyOptions(dry_run=dry_run),
                           preflight=_preflight(mirror, options, strict),
                           warn=lambda line: typer.echo(f"warning: {line}", err=True))
    for left, why in enabled.hydrated.left_out:
        typer.echo(f"warning: {left} not delivered: {why}", err=True)
    _report(enabled.result, dry_run, f"catalog addon {enabled.name} {enabled.tag} ({enabled.digest[:19]}) enabled "
                                     f"in stack {stack}")


@addons_app.command("disable")
@with_registry_options
def addons_disable(options: RegistryOptions,
                   name: Annotated[str, typer.Argument(help="The catalog addon's member name (its export name).")],
                   force: Annotated[bool, typer.Option(
                       "--force", help="Re-attach the members that name it as parent to its own parents.")] = False,
                   file: FileOption = None, dry_run: DryRunOption = False, mirror: MirrorOption = None,
                   strict: StrictOption = False) -> None:
    """Remove a catalog addon from the cluster document and its folder from the repository, and commit it: the
    engine then deletes what it delivered."""
    from kaddons.operations.apply import ApplyOptions
    from kaddons.operations.catalog import disable_addon

    result = disable_addon(_document(file), name, force=force, options=ApplyOptions(dry_run=dry_run),
                           preflight=_preflight(mirror, options, strict))
    _report(result, dry_run, f"catalog addon {name} disabled")


@addons_app.command("update")
@with_registry_options
def addons_update(options: RegistryOptions, name: Annotated[str, typer.Argument(help="The add-on.")],
                  settings: Annotated[Path | None, typer.Option(
                      "--settings", exists=True, dir_okay=False, show_default=False,
                      help="Replace the add-on's settings with this YAML file's (as kaddons cluster addons settings "
                           "NAME prints them).")] = None,
                  profile: Annotated[str | None, typer.Option(
                      "--profile", metavar="default|development|production-critical|stateful", show_default=False,
                      help="Set the profile's automated sync, prune, self-heal, strict health check and revision "
                           "history limit; the other settings stay.")] = None,
                  file: FileOption = None, dry_run: DryRunOption = False, mirror: MirrorOption = None,
                  strict: StrictOption = False) -> None:
    """Change an add-on's settings (Ankra's sync behaviour) and commit it, or nothing at all."""
    from kaddons.operations.apply import ApplyOptions
    from kaddons.operations.lifecycle import update_settings

    text = None
    if settings is not None:
        try:
            text = settings.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--settings {settings}: cannot read it ({err})") from None
    result = update_settings(_document(file), name, settings=text, profile=profile,
                             options=ApplyOptions(dry_run=dry_run), preflight=_preflight(mirror, options, strict))
    _report(result, dry_run, f"add-on {name} settings {'profile ' + profile if profile else 'replaced'}")
