"""Every command's ``--help`` renders: help text goes through rich markup, where a stray ``[/X]`` is an error."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kaddons.cli.app import app


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_every_command_is_listed() -> None:
    assert {("export",), ("sync",), ("gitops", "render"), ("gitops", "register"), ("repo", "tags")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "kaddons")
def test_help_renders(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Usage:" in result.output
