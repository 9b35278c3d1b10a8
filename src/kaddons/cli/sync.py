"""``kaddons sync`` and ``kaddons rollback``: the addon catalog follows a registry (spec §4).

Every flag can also come from a ``KADDONS_*`` variable, so the same command runs in a Job or CronJob
fed from a ConfigMap (K2s's ``addon-sync-config``, §5.1).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kaddons.addons.extract import DEFAULT_MAX_BYTES, ExtractLimits, format_size, parse_size
from kaddons.errors import KaddonsError
from kaddons.oci.registry import RegistryOptions
from kaddons.sync.config import DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from kaddons.sync.log import Level

if TYPE_CHECKING:
    from kaddons.sync import SyncLog

from ._options import Output, OutputFormat, concurrency_parser, env_bool, print_json, with_registry_options
from .addons import AddonsDir, K2sInstallDir, resolve_addons_dir


def _printer(stream: str) -> SyncLog:
    from kaddons.sync import SyncLog

    def sink(_level: Level, line: str) -> None:
        out = sys.stdout if stream == "stdout" else sys.stderr
        out.write(line + "\n")
        out.flush()

    return SyncLog(sink)


@with_registry_options
def sync_command(
    registry: Annotated[str, typer.Option(
        "--registry", envvar="KADDONS_REGISTRY", show_default=False,
        help="Where addons are published: oci://HOST\\[:PORT]\\[/PREFIX] (repositories PREFIX/addons/<name>) "
             "or oci-layout:DIR.")],
    addons_dir: AddonsDir = None,
    k2s_install_dir: K2sInstallDir = None,
    addon: Annotated[list[str] | None, typer.Option(
        "--addon", envvar="KADDONS_ADDON", show_default=False,
        help="Sync only this addon (its export name, repository addons/NAME); repeatable. No discovery.")] = None,
    check_digest: Annotated[bool, typer.Option(
        "--check-digest", envvar="KADDONS_CHECK_DIGEST", parser=env_bool("KADDONS_CHECK_DIGEST"),
        help="Skip addons whose manifest digest is the one recorded and that are on disk.")] = False,
    tag_policy: Annotated[str, typer.Option(
        "--tag-policy", envvar="KADDONS_TAG_POLICY",
        help="Which tag to sync: k2s (latest, else highest \\[v]X.Y.Z, else lexical), semver:EXPR (as Flux, "
             "e.g. semver:>=0.0.0-0) or tag:T.")] = "k2s",
    repos_file: Annotated[Path | None, typer.Option(
        "--repos-file", envvar="KADDONS_REPOS_FILE", dir_okay=False, show_default=False,
        help="Repositories to sync, one per line (NAME or addons/NAME), for registries without a catalog "
             "API.")] = None,
    repos: Annotated[str | None, typer.Option(
        "--repos", envvar="KADDONS_REPOS", show_default=False,
        help="Repositories to sync, separated by commas or spaces; like --repos-file.")] = None,
    max_expanded_size: Annotated[str, typer.Option(
        "--max-expanded-size", metavar="SIZE", envvar="KADDONS_MAX_EXPANDED_SIZE",
        help="Refuse a layer that expands to more than SIZE (e.g. 512MiB), against decompression bombs.")
    ] = format_size(DEFAULT_MAX_BYTES).replace(" ", ""),
    concurrency: Annotated[int, typer.Option(
        "--concurrency", metavar="N", envvar="KADDONS_CONCURRENCY", parser=concurrency_parser,
        help=f"Addons checked at once, 1 to {MAX_CONCURRENCY} (1: one after another); downloads and installs "
             "still happen one at a time. The log keeps each addon's lines together, in order.")
    ] = DEFAULT_CONCURRENCY,
    output: Output = OutputFormat.text,
    *,
    options: RegistryOptions,
) -> None:
    """Sync addons from a registry into an addons directory, each atomically.

    Repositories addons/* come from the registry's catalog API,
    unless --addon, --repos-file or --repos name them.
    Per addon, the tag policy picks a tag, resolved once to a manifest digest.
    Only the manifest and layers 0-3 are downloaded, by digest, verified.
    They are extracted into a staging folder, validated and swapped into place.
    The replaced version is kept for `kaddons rollback`.
    The digest is recorded last, in ADDONS_DIR/.addon-sync-digests/NAME.
    Log lines are K2s's \\[AddonSync] lines on standard output
    (standard error with -o json, which prints one object per addon: repository,
    status, reason, tag, digest, reference, name, implementation, directory,
    previousDigest, previousReference; or, when the run cannot start, one object
    with error and exitCode).
    Errors are also said in one line on standard error.
    The exit code is 1 when any addon failed; the others are still synced.
    """
    from kaddons.sync import SyncConfig, parse_registry, parse_repositories, read_repos_file, sync_addons

    root = resolve_addons_dir(addons_dir, k2s_install_dir)
    prefix = parse_registry(registry).prefix
    listed: list[str] | None = None
    if repos_file is not None:
        listed = read_repos_file(repos_file, prefix)
    if repos:
        listed = [*(listed or []), *parse_repositories(repos, prefix)]
    names = [name for value in addon or [] for name in parse_repositories(value, prefix)]
    config = SyncConfig(registry=registry, addons_dir=root, addons=tuple(names),
                        repositories=tuple(listed) if listed is not None else None, check_digest=check_digest,
                        tag_policy=tag_policy, options=options,
                        limits=ExtractLimits(max_bytes=parse_size(max_expanded_size)), concurrency=concurrency)
    log = _printer("stderr" if output is OutputFormat.json else "stdout")
    try:
        report = sync_addons(config, log=log)
    except KaddonsError as err:  # logged as an [AddonSync][ERROR] line; said once more for whoever reads stderr
        if output is OutputFormat.json:
            print_json({"error": " ".join(str(err).split()), "exitCode": err.exit_code})
        else:
            typer.echo(f"error: {' '.join(str(err).split())}", err=True)
        raise typer.Exit(err.exit_code) from None
    if output is OutputFormat.json:
        print_json(report.to_json())
    elif report.failed:
        failed = [f"{r.repository} ({r.reason})" for r in report.results if r.status == "failed"]
        shown = "; ".join(failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")
        typer.echo(f"error: {len(failed)} addon(s) failed to sync: {shown}", err=True)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def rollback_command(
    name: Annotated[str, typer.Argument(show_default=False, help=(
        "The addon's export name: NAME for a single-implementation addon, NAME-IMPL otherwise (e.g. "
        "ingress-nginx)."))],
    addons_dir: AddonsDir = None,
    k2s_install_dir: K2sInstallDir = None,
    output: Output = OutputFormat.text,
) -> None:
    """Put back the version of an addon that the last sync or import replaced, and its recorded digest.

    The replaced version is kept in turn, so a second rollback undoes the first.
    The next sync brings the newest published version back again,
    unless the registry changed (pin one with --tag-policy tag:T).
    """
    from kaddons.sync import rollback

    root = resolve_addons_dir(addons_dir, k2s_install_dir)
    result = rollback(root, name)
    if output is OutputFormat.json:
        print_json({"exportName": result.name, "directory": str(result.directory), "digest": result.digest,
                    "replacedDigest": result.replaced_digest})
        return
    recorded = f"recorded digest {result.digest}" if result.digest else "no digest recorded"
    typer.echo(f"Rolled back {result.name} in {result.directory} ({recorded})")
