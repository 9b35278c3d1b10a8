"""Options shared by several commands, defined once.

Precedence, as kr8s/lightkube document it: command-line arguments > ``KADDONS_*`` environment
variables > the Docker ``config.json`` (credentials only) > defaults.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from kaddons.oci.registry import RegistryOptions


def env_bool(envvar: str) -> Callable[[str | bool], bool]:
    """The typer ``parser`` of a boolean flag that can also come from ``envvar``.

    Typer's own conversion refuses PowerShell's ``$true``/``$false``, which K2s writes into its
    ConfigMaps; this one accepts them and the usual spellings (:func:`kaddons.sync.config.parse_bool`).
    Any other value raises :class:`~kaddons.errors.UsageError` naming ``envvar`` (one line, exit 2).
    """

    def parse(value: str | bool) -> bool:
        from kaddons.sync.config import parse_bool

        return parse_bool(value, envvar)

    return parse


def concurrency_parser(value: str | int) -> int:
    """The typer ``parser`` of ``--concurrency`` (sync, agent): a one-line UsageError (exit 2) for a bad value."""
    from kaddons.sync.config import parse_concurrency

    return parse_concurrency(value, "--concurrency/KADDONS_CONCURRENCY")


Insecure = Annotated[
    bool, typer.Option("--insecure", envvar="KADDONS_INSECURE", parser=env_bool("KADDONS_INSECURE"),
                       help="Talk plain HTTP to the registry (no TLS).")
]
CaFile = Annotated[
    Path | None,
    typer.Option("--ca-file", envvar="KADDONS_CA_FILE", exists=True, dir_okay=False,
                 help="PEM bundle of CAs to trust in addition to the system's."),
]
Username = Annotated[
    str | None, typer.Option("--username", "-u", envvar="KADDONS_USERNAME", help="Registry user name.")
]
Password = Annotated[
    str | None,
    typer.Option("--password", "-p", envvar="KADDONS_PASSWORD", help="Registry password or token."),
]
RegistryConfig = Annotated[
    Path | None,
    typer.Option("--registry-config", envvar="KADDONS_REGISTRY_CONFIG", dir_okay=False,
                 help="Docker config.json with credentials "
                      "\\[default: $DOCKER_CONFIG/config.json, then ~/.docker/config.json]."),
]


class OutputFormat(enum.StrEnum):
    """How a command prints data."""

    text = "text"
    json = "json"


Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="Output format.")]


_REGISTRY_FLAGS: list[tuple[str, Any, Any]] = [
    ("insecure", Insecure, False),
    ("ca_file", CaFile, None),
    ("username", Username, None),
    ("password", Password, None),
    ("registry_config", RegistryConfig, None),
]


def with_registry_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a typer command the shared registry flags, defined once here.

    The command declares a parameter ``options: RegistryOptions`` instead of the five flags; the
    wrapper shows typer the flags and calls the command with the :class:`RegistryOptions` they make.
    """
    signature = inspect.signature(command, eval_str=True)
    kept = [p for name, p in signature.parameters.items() if name != "options"]
    flags = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
             for name, annotation, default in _REGISTRY_FLAGS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name, _, _ in _REGISTRY_FLAGS}
        if given["registry_config"] is not None:  # checked now: a registry that needs no login would never read it
            from kaddons.oci.registry import read_config

            read_config(given["registry_config"], required=True)
        options = RegistryOptions(insecure=given["insecure"], ca_file=given["ca_file"], username=given["username"],
                                  password=given["password"], config_path=given["registry_config"])
        return command(*args, options=options, **kwargs)

    new_signature = signature.replace(parameters=[*kept, *flags])
    wrapper.__signature__ = new_signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in new_signature.parameters.values()}
    return wrapper


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on standard output."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
