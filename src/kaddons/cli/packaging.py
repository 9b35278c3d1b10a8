"""Packaging commands: ``kaddons export`` (spec §2) and ``kaddons push`` (§2.16)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from kaddons.errors import UsageError
from kaddons.oci.reference import parse_registry_host
from kaddons.oci.registry import RegistryOptions

from ._options import Output, OutputFormat, print_json, with_registry_options
from .addons import AddonsDir, K2sInstallDir, resolve_addons_dir


def _log(message: str) -> None:
    typer.echo(message, err=True)


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def export_command(
    names: Annotated[list[str] | None, typer.Argument(
        help="NAME [IMPLEMENTATION] pairs, or \"NAME IMPLEMENTATION\"; none: every addon.", show_default=False)] = None,
    directory: Annotated[Path | None, typer.Option("--directory", "-d", file_okay=False, show_default=False,
                                                   help="Where to write the .oci.tar (required; created).")] = None,
    addons_dir: AddonsDir = None,
    k2s_install_dir: K2sInstallDir = None,
    omit_images: Annotated[bool, typer.Option("--omit-images", help="Leave out layers 4-5 (images).")] = False,
    omit_packages: Annotated[bool, typer.Option("--omit-packages", help="Leave out layer 6 (packages).")] = False,
    k2s_version: Annotated[str | None, typer.Option(
        "--k2s-version", help="vnd.k2s.version and the file name \\[default: VERSION of the K2s install dir, "
                              "else 0.0.0].", show_default=False)] = None,
    image_cache: Annotated[Path | None, typer.Option(
        "--image-cache", file_okay=False, help="Keep pulled image archives here; re-pulled only when a tag moved.",
        show_default=False)] = None,
    platform: Annotated[str, typer.Option("--platform", help="Platform of Linux images (OS/ARCH\\[/VARIANT]).")]
    = "linux/amd64",
    insecure_registries: Annotated[list[str] | None, typer.Option(
        "--insecure-registry", help="HOST[:PORT] of an image registry to reach over plain HTTP (repeatable).",
        show_default=False)] = None,
    gitops_flavor: Annotated[str, typer.Option(
        "--gitops-flavor", metavar="k2s|kaddons",
        help="The Job injected as gitops-sync/ in every manifests layer: k2s (K2s's Windows HostProcess Job) "
             "or kaddons (a Linux Job running kaddons sync).")] = "k2s",
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No warning about files K2s's layer rules leave out (-o json always lists them).")]
    = False,
    output: Output = OutputFormat.text,
    *,
    options: RegistryOptions,
) -> None:
    """Export addons into one K2s-compatible .oci.tar: one image manifest per implementation.

    The archive is K2s-<version>-addons-<names>.oci.tar. The same input gives the same bytes:
    timestamps are SOURCE_DATE_EPOCH (or 0). Images are pulled from their registries with the
    credentials of --registry-config / the Docker config; --insecure makes every image registry plain HTTP.
    """
    from kaddons.addons.export import ExportOptions, export_addons

    if directory is None:
        raise UsageError("no export directory given: pass -d DIR")
    root = resolve_addons_dir(addons_dir, k2s_install_dir)
    plain = {parse_registry_host(h) for h in insecure_registries or []}

    def options_for(host: str) -> RegistryOptions:
        return dataclasses.replace(options, insecure=options.insecure or host in plain)

    result = export_addons(root, names or [], directory, ExportOptions(
        omit_images=omit_images, omit_packages=omit_packages, k2s_version=k2s_version, registry_options=options_for,
        image_cache=image_cache, platform=platform, log=_log if output is OutputFormat.text else None,
        gitops_flavor=gitops_flavor, warn=None if quiet or output is OutputFormat.json else _warn,
    ))
    if output is OutputFormat.json:
        print_json({"path": str(result.path), "implementations": [
            {"addon": i.addon, "implementation": i.implementation, "exportName": i.export_name,
             "version": i.version, "tag": i.tag, "digest": i.digest, "layers": i.layers,
             "leftOut": [{"path": rel, "reason": why} for rel, why in i.left_out]}
            for i in result.implementations]})
    else:
        typer.echo(f"Exported {len(result.implementations)} implementation(s) to {result.path}")


@with_registry_options
def push_command(
    archive: Annotated[Path, typer.Argument(help="The .oci.tar to publish.", dir_okay=False, show_default=False)],
    registry: Annotated[str, typer.Argument(help="\\[oci://]HOST\\[:PORT]\\[/PREFIX]: each addon goes to "
                                                 "PREFIX/addons/<export name>:<tag>.", show_default=False)],
    tag: Annotated[str | None, typer.Option("--tag", help="Tag every addon with this instead of v<version>.",
                                            show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Move tags that already name other content in the registry (a published version changes "
                        "under the nodes that follow it).")] = False,
    output: Output = OutputFormat.text,
    *,
    options: RegistryOptions,
) -> None:
    """Publish every addon of an .oci.tar to its own repository, byte for byte, and print reference and digest.

    A tag that already names other content (a published version) is refused unless --force; latest moves.
    """
    from kaddons.addons.publish import PushedAddon, push_archive

    def published(p: PushedAddon) -> None:  # printed at once: an interrupted push has said what it published
        if output is OutputFormat.text:
            typer.echo(f"{p.reference} {p.digest}")

    from ._progress import copy_progress  # the copy code and its models, when needed

    with copy_progress() as observer:
        pushed = push_archive(archive, registry, options, tag=tag, observer=observer, force=force,
                              on_pushed=published)
    if output is OutputFormat.json:
        print_json([{"exportName": p.export_name, "reference": p.reference, "digest": p.digest,
                     "copied": p.copied, "skipped": p.skipped} for p in pushed])


export_command = with_registry_options(export_command)
