"""Every command's ``--help`` renders: help text goes through rich markup, where a stray ``[/X]`` is an error."""

from __future__ import annotations

import inspect
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



def _first_paragraphs(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(group path, a subcommand's first help paragraph with its line breaks as spaces), for every group."""
    found = []
    for name, command in group.commands.items():
        text = " ".join(inspect.cleandoc(command.help or "").partition("\n\n")[0].split())
        found.append((prefix, text))
        if hasattr(command, "commands"):
            found += _first_paragraphs(command, (*prefix, name))
    return found


@pytest.mark.parametrize(("group", "paragraph"), _first_paragraphs(typer.main.get_command(app)),
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else v[:40])
def test_group_help_lists_a_command_in_one_flow(group: tuple[str, ...], paragraph: str) -> None:
    """A group's help lists each command with its first paragraph, line breaks of the docstring not kept (a wide
    terminal shows it on one line): before, a docstring wrapped in the source was listed as broken lines."""
    result = CliRunner().invoke(app, [*group, "--help"], env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    assert paragraph in " ".join(result.output.split())
