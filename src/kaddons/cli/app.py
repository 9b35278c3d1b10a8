"""The ``kaddons`` command: a thin shell over the library.

Every :class:`~kaddons.errors.KaddonsError` becomes one line on standard error, prefixed
``error:``, and the exit code of its class; there is never a traceback for bad input.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer
from typer._click import exceptions as click_errors  # typer's own click: its usage errors, to print them in one line

from kaddons import __version__
from kaddons.errors import KaddonsError

from . import (
    _interrupted_while_starting,
    addons,
    agent,
    cluster_state,  # noqa: F401  (registers its commands on cluster_app)
    importing,
    oci,
    packaging,
)
from . import sync as sync_cli
from .cluster import cluster_app
from .gitops import gitops_app
from .health import health_command
from .secrets import sops_app
from .serve import serve_app

app = typer.Typer(
    name="kaddons",
    help="Deliver Kubernetes addons as OCI artifacts through GitOps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("copy")(oci.copy_command)
app.command("health")(health_command)
app.command("ls")(addons.ls_command)
app.command("import")(importing.import_command)
app.command("export")(packaging.export_command)
app.command("push")(packaging.push_command)
app.command("sync")(sync_cli.sync_command)
app.command("rollback")(sync_cli.rollback_command)
app.command("agent")(agent.agent_command)
app.add_typer(oci.repo_app, name="repo")
app.add_typer(oci.manifest_app, name="manifest")
app.add_typer(oci.blob_app, name="blob")
app.add_typer(gitops_app, name="gitops")
app.add_typer(cluster_app, name="cluster")
app.add_typer(sops_app, name="sops")
app.add_typer(serve_app, name="serve")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kaddons {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Deliver Kubernetes addons as OCI artifacts through GitOps."""


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) while a command runs. Not a KeyboardInterrupt, which click turns into a bare exit:
    it unwinds through every ``finally`` (staging folders are removed, locks released) up to :func:`main`."""


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise Interrupted


def main() -> None:
    """Console-script entry point: run the app, mapping library errors to exit codes.

    Ctrl-C prints ``error: interrupted`` and exits 130; what a command reported as done before it stays done.
    """
    if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _interrupted_while_starting):
        signal.signal(signal.SIGINT, _interrupt)
    try:
        result = app(standalone_mode=False)
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
