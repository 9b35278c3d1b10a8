"""The ``kaddons`` command: a thin shell over the library.

Every :class:`~kaddons.errors.KaddonsError` becomes one line on standard error, prefixed
``error:``, and the exit code of its class; there is never a traceback for bad input.
"""

from __future__ import annotations

import importlib
import inspect
import signal
import sys
from types import FrameType
from typing import Any

import typer
from typer._click import exceptions as click_errors  # typer's own click: its usage errors, to print them in one line

from kaddons import __version__
from kaddons.errors import KaddonsError

from . import _interrupted_while_starting

#: The commands and groups of ``kaddons``, in the order ``kaddons --help`` lists them: name -> (module of
#: :mod:`kaddons.cli`, its function or ``typer.Typer``). Only the one a command line names is imported and
#: built (every FluxCD Job and Argo CD poll is a new ``kaddons sync`` process); ``--help`` builds them all.
COMMANDS: dict[str, tuple[str, str]] = {
    "copy": ("oci", "copy_command"),
    "health": ("health", "health_command"),
    "ls": ("addons", "ls_command"),
    "import": ("importing", "import_command"),
    "export": ("packaging", "export_command"),
    "push": ("packaging", "push_command"),
    "sync": ("sync", "sync_command"),
    "rollback": ("sync", "rollback_command"),
    "agent": ("agent", "agent_command"),
    "repo": ("oci", "repo_app"),
    "manifest": ("oci", "manifest_app"),
    "blob": ("oci", "blob_app"),
    "gitops": ("gitops", "gitops_app"),
    "cluster": ("cluster_state", "cluster_app"),  # cluster_state adds its commands to cluster.cluster_app
    "sops": ("secrets", "sops_app"),
    "serve": ("serve", "serve_app"),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kaddons {__version__}")
        raise typer.Exit()


_catch_interrupts = False
"""Set by :func:`main`: the command's own Ctrl-C handling starts with :func:`_root`. Until then (imports, ``--help``)
nothing has been done, and :mod:`kaddons.cli`'s start-up handler ends the process at once."""


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Deliver Kubernetes addons as OCI artifacts through GitOps."""
    if _catch_interrupts:
        signal.signal(signal.SIGINT, _interrupt)


def build(names: list[str] | None = None) -> typer.Typer:
    """The ``kaddons`` app with the commands ``names`` of :data:`COMMANDS` (default: all of them)."""
    built = typer.Typer(
        name="kaddons",
        help="Deliver Kubernetes addons as OCI artifacts through GitOps.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(_root)
    for name in COMMANDS if names is None else names:
        module, attribute = COMMANDS[name]
        target = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
        if isinstance(target, typer.Typer):
            built.add_typer(target, name=name)
        else:
            built.command(name)(target)
    _one_line_listings(built)
    return built


def _one_line_listings(group: typer.Typer) -> None:
    """Give each command of ``group`` (and of its groups) its first paragraph, on one line, as the text a group's
    help lists it with: typer's rich help keeps that paragraph's line breaks there (it drops them everywhere
    else), so a docstring wrapped in the source was listed as broken lines."""
    for info in group.registered_commands:
        text = info.help if info.help is not None else inspect.getdoc(info.callback) or ""
        if info.short_help is None and text:
            info.short_help = " ".join(text.partition("\f")[0].partition("\n\n")[0].split())
    for child in group.registered_groups:
        if child.typer_instance is not None:
            _one_line_listings(child.typer_instance)


def __getattr__(name: str) -> Any:
    """``app``: every command, built on first use (tests and documentation tools read it)."""
    if name == "app":
        return build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) while a command runs. Not a KeyboardInterrupt, which click turns into a bare exit:
    it unwinds through every ``finally`` (staging folders are removed, locks released) up to :func:`main`."""


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise Interrupted


def main() -> None:
    """Console-script entry point: run the app, mapping library errors to exit codes.

    Ctrl-C prints ``error: interrupted`` and exits 130; what a command reported as done before it stays done.
    """
    global _catch_interrupts
    named = sys.argv[1] if len(sys.argv) > 1 else None
    _catch_interrupts = signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _interrupted_while_starting)
    try:
        result = build([named] if named in COMMANDS else None)(prog_name="kaddons", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as err:
        err.show()
        sys.exit(2)
    except click_errors.UsageError as err:  # a bad flag or value: one line, as every other error
        where = f" (kaddons {err.ctx.command_path.partition(' ')[2]} --help)".replace("  ", " ") if err.ctx else ""
        typer.echo(f"error: {' '.join(err.format_message().split())}{where}", err=True)
        sys.exit(2)
    except click_errors.ClickException as err:
        typer.echo(f"error: {' '.join(err.format_message().split())}", err=True)
        sys.exit(err.exit_code)
    except typer.Abort:
        typer.echo("error: interrupted (what was reported as done is done)", err=True)
        sys.exit(130)
    except KaddonsError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except (Interrupted, KeyboardInterrupt):
        typer.echo("error: interrupted (what was reported as done is done)", err=True)
        sys.exit(130)
    except OSError as err:
        typer.echo(f"error: {err.strerror or err}{f': {err.filename}' if err.filename else ''}", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
