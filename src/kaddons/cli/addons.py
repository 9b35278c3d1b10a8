"""Addon commands: ``kaddons ls`` lists the addons of an addons directory (spec §6.5).

``--addons-dir``/``--k2s-install-dir`` and :func:`resolve_addons_dir` are meant to be shared by the
later addon commands (export, import, sync).
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from kaddons.addons import Catalog
from kaddons.errors import KaddonsError, NotFoundError, UsageError

from ._options import print_json

ADDONS_DIR_ENV = "KADDONS_ADDONS_DIR"

AddonsDir = Annotated[
    Path | None,
    typer.Option("--addons-dir", show_default=False,
                 help=f"The addons directory \\[default: ${ADDONS_DIR_ENV}, else ./addons]."),
]
K2sInstallDir = Annotated[
    Path | None,
    typer.Option("--k2s-install-dir", show_default=False,
                 help="A K2s install root (e.g. C:\\k): use its addons directory. Not with --addons-dir."),
]


class ListFormat(enum.StrEnum):
    """How ``ls`` prints: a table (``text`` is the same) or JSON."""

    table = "table"
    text = "text"
    json = "json"


def resolve_addons_dir(addons_dir: Path | None, k2s_install_dir: Path | None) -> Path:
    """The addons directory the options name, checked to exist.

    Precedence: ``--addons-dir``, then ``--k2s-install-dir``/``addons``, then ``$KADDONS_ADDONS_DIR``,
    then ``./addons``. Raises :class:`~kaddons.errors.UsageError` when both options are given or the
    path is a file, :class:`~kaddons.errors.NotFoundError` (one line: what does not exist, and the way
    out) when it does not exist.
    """
    if addons_dir is not None and k2s_install_dir is not None:
        raise UsageError("give --addons-dir or --k2s-install-dir, not both")
    env = os.environ.get(ADDONS_DIR_ENV, "")
    if addons_dir is not None:
        path, origin = addons_dir, "--addons-dir"
    elif k2s_install_dir is not None:
        path, origin = k2s_install_dir / "addons", "--k2s-install-dir"
    elif env:
        path, origin = Path(env), ADDONS_DIR_ENV
    else:
        path, origin = Path("addons"), "the default"
    if path.exists() and not path.is_dir():
        raise UsageError(f"addons directory {path} ({origin}) is a file, not a directory: name the directory "
                         "that holds the addon folders")
    if not path.is_dir():
        if origin == "the default":
            raise NotFoundError(f"no addons directory given and ./{path} does not exist: pass --addons-dir DIR, "
                                f"--k2s-install-dir DIR or set {ADDONS_DIR_ENV}")
        raise NotFoundError(f"addons directory {path} ({origin}) does not exist: create it (mkdir -p {path}) or fix "
                            f"{origin}")
    return path


def _rows(catalog: Catalog) -> list[dict[str, Any]]:
    from kaddons.addons import sync_record

    rows = []
    for addon in catalog.addons:
        for impl in addon.implementations:
            record = sync_record(catalog.addons_dir, impl.export_name)
            rows.append({
                "name": addon.name,
                "implementation": None if impl.single else impl.name,
                "description": impl.description,
                "version": impl.version,
                "exportName": impl.export_name,
                "directory": str(impl.directory),
                "source": record.reference if record else None,
                "digest": record.digest if record else None,
            })
    return rows


def _print_table(rows: list[dict[str, Any]]) -> None:
    # Imported here: rich costs start-up time that the JSON output does not need.
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    synced = any(row["digest"] for row in rows)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    columns = ["NAME", "IMPLEMENTATION", "VERSION", *(["SOURCE", "DIGEST"] if synced else []), "DESCRIPTION"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        sync = [row["source"] or "", (row["digest"] or "")[:19]] if synced else []
        cells = [row["name"], row["implementation"] or "", row["version"], *sync, row["description"]]
        table.add_row(*(Text(cell) for cell in cells))  # Text: a '[' in a description is not markup
    console = Console(highlight=False)
    if console.is_terminal:
        console.print(table)
        return
    # A pipe or a file: one line per row, never cut or wrapped, no trailing blanks.
    console = Console(highlight=False, width=100_000, color_system=None)
    with console.capture() as capture:
        console.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in capture.get().splitlines()))


def ls_command(
    addons_dir: AddonsDir = None,
    k2s_install_dir: K2sInstallDir = None,
    output: Annotated[ListFormat, typer.Option("--output", "-o", help="Output format.")] = ListFormat.table,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any addon manifest is invalid.")] = False,
) -> None:
    """List the addons of an addons directory, one row per implementation.

    IMPLEMENTATION is empty for a single-implementation addon, so NAME [IMPLEMENTATION] is the K2s CLI name.
    VERSION is the version an export gets. SOURCE and DIGEST show for addons synced from a registry.
    -o json prints a list of objects with the keys name, implementation (null if single), description,
    version, exportName, directory, source and digest.
    An invalid addon.manifest.yaml is skipped with a warning and never hides the others.
    The exit code is 0 even then, unless --strict is given: 1 if any manifest was invalid.
    """
    root = resolve_addons_dir(addons_dir, k2s_install_dir)
    from kaddons.addons import discover

    catalog = discover(root)
    for problem in catalog.problems:
        typer.echo(f"warning: {problem}", err=True)
    rows = _rows(catalog)
    if output is ListFormat.json:
        print_json(rows)
    elif rows:
        _print_table(rows)
    else:
        typer.echo(f"no addons in {root}", err=True)
    sys.stdout.flush()
    if strict and catalog.problems:
        raise KaddonsError(f"{len(catalog.problems)} invalid addon manifest(s) in {root}")
