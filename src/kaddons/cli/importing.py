"""``kaddons import``: install addons from an offline archive into an addons directory (spec §3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kaddons.addons.extract import DEFAULT_MAX_BYTES, ExtractLimits, format_size, parse_size

from ._options import Output, OutputFormat, print_json
from .addons import AddonsDir, K2sInstallDir, resolve_addons_dir


def _log(line: str) -> None:
    typer.echo(line, err=True)


def import_command(
    file: Annotated[Path, typer.Argument(show_default=False, help=(
        "The addon archive: an OCI image layout tar (K2s writes K2s-<version>-addons-<names>.oci.tar)."))],
    names: Annotated[list[str] | None, typer.Argument(show_default=False, help=(
        "Addons to import: NAME, 'NAME IMPL', NAME IMPL or NAME-IMPL \\[default: all]."))] = None,
    addons_dir: AddonsDir = None,
    k2s_install_dir: K2sInstallDir = None,
    max_expanded_size: Annotated[str, typer.Option(
        "--max-expanded-size", metavar="SIZE",
        help="Refuse a layer that expands to more than SIZE (e.g. 512MiB, 8GiB), against decompression bombs.")
    ] = format_size(DEFAULT_MAX_BYTES).replace(" ", ""),
    output: Output = OutputFormat.text,
) -> None:
    """Import addons from an archive made by `k2s addons export` or `kaddons export`.

    Each implementation is staged and checked completely, then moved into place.
    A single-implementation addon goes to ADDONS_DIR/NAME/, another to ADDONS_DIR/NAME/IMPL/.
    Its entry is merged into ADDONS_DIR/NAME/addon.manifest.yaml: an existing entry is updated.
    Files the artifact no longer ships disappear.
    Images go to ADDONS_DIR/.images/NAME/ and are loaded with ctr or nerdctl when one is on PATH.
    Packages go to ADDONS_DIR/.packages/NAME/.
    Progress and warnings go to standard error.
    -o json prints a list of objects with the keys name, implementation (null if single), exportName,
    version, digest, directory, files, images and packages.
    """
    from kaddons.addons.importer import import_archive

    limits = ExtractLimits(max_bytes=parse_size(max_expanded_size))
    root = resolve_addons_dir(addons_dir, k2s_install_dir)
    result = import_archive(file, root, names or [], limits=limits, log=_log)
    if output is OutputFormat.json:
        print_json([impl.to_json() for impl in result.implementations])
        return
    for impl in result.implementations:
        typer.echo(f"Imported {impl.export_name} {impl.version} {impl.digest}")
    warned = f", {len(result.warnings)} warning(s)" if result.warnings else ""
    typer.echo(f"Imported {len(result.implementations)} implementation(s) from {file} into {root}{warned}")
