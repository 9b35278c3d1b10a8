"""Options shared by several commands, defined once.

Precedence, as kr8s/lightkube document it: command-line arguments > ``KADDONS_*`` environment
variables > the Docker ``config.json`` (credentials only) > defaults.
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kaddons.oci.registry import RegistryOptions

Insecure = Annotated[
    bool, typer.Option("--insecure", envvar="KADDONS_INSECURE", help="Talk plain HTTP to the registry (no TLS).")
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


def registry_options(insecure: bool, ca_file: Path | None, username: str | None, password: str | None,
                     registry_config: Path | None) -> RegistryOptions:
    """Build :class:`RegistryOptions` from the shared command-line options."""
    return RegistryOptions(insecure=insecure, ca_file=ca_file, username=username, password=password,
                           config_path=registry_config)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on standard output."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
