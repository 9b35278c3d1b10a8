"""``kaddons serve``: the REST API over a GitOps working copy and its cluster (issue 15)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from kaddons.errors import UsageError

from .cluster import EngineOption, FileOption, MirrorOption
from .cluster_state import ContextOption, KubeconfigOption

serve_app = typer.Typer(help="The REST API over the GitOps repository and its cluster.", invoke_without_command=True,
                        context_settings={"help_option_names": ["-h", "--help"]})
token_app = typer.Typer(help="Bearer tokens for kaddons serve.", no_args_is_help=True)
serve_app.add_typer(token_app, name="token")

TokensOption = Annotated[Path | None, typer.Option(
    "--tokens", dir_okay=False, show_default=False,
    help="The tokens file \\[default: $XDG_CONFIG_HOME/kaddons/tokens.json].")]


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {value!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


@serve_app.callback()
def serve_command(
    ctx: typer.Context,
    repo: Annotated[str | None, typer.Option(
        "--repo", metavar="DIR|URL", show_default=False,
        help="The GitOps working copy, or the repository's URL: kaddons then keeps a clone of its own "
             "(cloned once, brought to the remote's commit on each start) \\[default: the current folder].")]
    = None,
    branch: Annotated[str, typer.Option("--branch", help="The branch of --repo URL.")] = "main",
    file: FileOption = None,
    engine: EngineOption = None,
    listen: Annotated[str, typer.Option("--listen", metavar="HOST:PORT",
                                        help="Where to listen: loopback unless told otherwise.")] = "127.0.0.1:8080",
    tokens: TokensOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    offline: Annotated[bool, typer.Option("--offline", help="Read no cluster: no states.")] = False,
    mirror: MirrorOption = None,
) -> None:
    """Serve the REST API (JSON, OpenAPI at /openapi.json) for the cluster document of the working copy: its
    stacks, its add-ons with their states read from the cluster (one LIST+WATCH per kind, shared by every
    client), details with the resource map, and a stream of state changes; writes (upgrade, rollback, uninstall)
    run as operations, one at a time, each one commit pushed as the CLI's. Every route but /healthz and the web
    UI's files needs a bearer token (kaddons serve token create)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from kaddons.api.app import create_app
    from kaddons.api.operations import Operations, journal_of
    from kaddons.api.service import ClusterService
    from kaddons.api.tokens import TokenStore, default_tokens_file
    from kaddons.cluster.kube import ClusterReader
    from kaddons.errors import UsageError
    from kaddons.oci.registry import RegistryOptions
    from kaddons.repo.clone import is_url, working_copy_of

    from .cluster import _preflight, default_document
    from .cluster_state import _has_kubeconfig

    host, port = _listen(listen)
    store = TokenStore.load(tokens or default_tokens_file())
    if repo is not None and is_url(repo):
        folder = working_copy_of(repo, branch)
        typer.echo(f"working copy of {repo} ({branch}): {folder}", err=True)
    else:
        folder = Path(repo) if repo is not None else Path.cwd()
        if not folder.is_dir():
            raise UsageError(f"--repo {repo}: no such folder (give a working copy, or the repository's URL)")
    document = file if file is not None else default_document(folder)
    reader = None
    if not offline:
        if not _has_kubeconfig(kubeconfig):
            typer.echo("warning: no kubeconfig ($KUBECONFIG, ~/.kube/config): no states (--kubeconfig FILE, or "
                       "--offline to say so)", err=True)
        else:
            ClusterReader(context=context, kubeconfig=kubeconfig)  # a broken kubeconfig fails now, in one line

            def reader() -> ClusterReader:
                return ClusterReader(context=context, kubeconfig=kubeconfig)

    service = ClusterService(document, reader=reader, engine=engine,
                             preflight=_preflight(mirror, RegistryOptions(), strict=False), mirrors=mirror)
    service.loaded()  # a document that does not validate fails now, in one line
    service.live()  # the first LIST of every kind before the first client, not during its request
    service.addon_page(1, 1)  # and the add-on list, built once and then kept current in the background
    threading.Thread(target=service.keep_list_current, args=(threading.Event(),), daemon=True,
                     name="kaddons-list").start()
    threading.Thread(target=_latest_loop, args=(service,), daemon=True, name="kaddons-latest").start()
    typer.echo(f"serving {document} on http://{host}:{port} (Ctrl-C stops)", err=True)
    try:
        uvicorn.run(create_app(service, store, Operations(journal=journal_of(folder))), host=host, port=port,
                    log_level="warning", access_log=False)
    finally:
        service.close()


LATEST_EVERY = 600.0
"""Seconds between two reads of the chart sources for the newest versions."""


def _latest_loop(service: Any) -> None:
    import time

    while True:
        try:
            for warning in service.refresh_latest():
                typer.echo(f"warning: {warning}", err=True)
        except Exception as err:  # a background refresh must not end the server
            typer.echo(f"warning: latest chart versions not read: {err}", err=True)
        time.sleep(LATEST_EVERY)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", metavar="read|write", help="What the token may do.")],
    tokens: TokensOption = None,
) -> None:
    """Create a token: its hash goes into the tokens file; the token itself is printed once, alone on its line."""
    from kaddons.api.tokens import create_token, default_tokens_file

    path = tokens or default_tokens_file()
    typer.echo(create_token(path, role))
    typer.echo(f"a {role} token added to {path}; keep it: it is not shown again", err=True)
