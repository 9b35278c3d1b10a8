"""``kaddons sops``: the age keys and recipients of the GitOps repository (issue 12; Ankra's ``sops-config``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

sops_app = typer.Typer(help="age keys and the repository's SOPS recipients (.sops.yaml).", no_args_is_help=True,
                       context_settings={"help_option_names": ["-h", "--help"]})

RepoOption = Annotated[Path | None, typer.Option(
    "--repo", file_okay=False, exists=True, show_default=False,
    help="The GitOps repository \\[default: the Git working copy holding the current folder].")]


def _root(repo: Path | None) -> Path:
    from kaddons.stacks.load import find_repository

    return repo if repo is not None else find_repository(Path.cwd().absolute())


@sops_app.command("keygen")
def keygen_command(
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", "-o", dir_okay=False, show_default=False,
        help="Where the private key goes (appended, mode 0600) \\[default: $SOPS_AGE_KEY_FILE, else "
             "~/.config/sops/age/keys.txt, where sops looks].")] = None,
    repo: RepoOption = None,
) -> None:
    """Make an age key pair: the private key into the key file (never printed, never in Git), the public key
    printed and added to the repository's recipients in .sops.yaml (every file is encrypted for all of them)."""
    from kaddons.secrets.keys import default_key_file, keygen, read_recipients, write_recipients

    root = _root(repo)
    recipients = read_recipients(root)
    target = key_file if key_file is not None else default_key_file()
    public = keygen(target)
    path = write_recipients(root, [*recipients, public])
    typer.echo(public)
    typer.echo(f"private key appended to {target}; {public} added to {path} ({len(recipients) + 1} recipient(s)). "
               "Files encrypted before hold only the older recipients: re-encrypt them (kaddons cluster encrypt).",
               err=True)


@sops_app.command("config")
def config_command(repo: RepoOption = None,
                   output: Annotated[str, typer.Option("--output", "-o", metavar="text|json")] = "text") -> None:
    """The age recipients the repository encrypts for (its .sops.yaml)."""
    from kaddons.errors import UsageError
    from kaddons.secrets.keys import SOPS_CONFIG, read_recipients

    root = _root(repo)
    recipients = read_recipients(root)
    if output == "json":
        sys.stdout.write(json.dumps({"config": str(root / SOPS_CONFIG), "recipients": recipients}, indent=2) + "\n")
        return
    if output != "text":
        raise UsageError(f"-o {output!r}: use text or json")
    if not recipients:
        typer.echo(f"no recipients: {root / SOPS_CONFIG} is missing or empty; make a key with kaddons sops keygen",
                   err=True)
    for recipient in recipients:
        typer.echo(recipient)


@sops_app.command("rotate")
def rotate_command(
    confirm: Annotated[bool, typer.Option("--confirm", help="Finish: drop the old recipients.")] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="Abandon: drop the new recipient.")] = False,
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", "-o", dir_okay=False, show_default=False,
        help="Where the new private key goes \\[default: as for keygen].")] = None,
) -> None:
    """Rotate the repository's age key in three steps, each one pushed commit: start (a new key; every
    encrypted file re-encrypted for the old and the new keys), then --confirm (the new key alone) or --cancel
    (the old keys alone). Every file opens with at least one key at every moment."""
    from kaddons.operations.rotate import rotate

    result = rotate(Path.cwd(), confirm=confirm, cancel=cancel, key_file=key_file)
    commit = result.commit.commit
    typer.echo(f"key rotation {result.step}: {len(result.files)} file(s) re-encrypted for "
               f"{len(result.recipients)} recipient(s); "
               + (f"pushed {commit[:12]} to {result.commit.upstream}" if commit else "nothing to commit"), err=True)
    for path in result.commit.kept:
        typer.echo(f"warning: {path} has local changes and was left as it is; the commit has the new version",
                   err=True)
