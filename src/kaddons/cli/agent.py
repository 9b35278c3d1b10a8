"""``kaddons agent``: keep an addons directory in sync with a registry, continuously.

The same settings as ``kaddons sync`` (flags or ``KADDONS_*`` variables), plus the schedule and the
HTTP listener for registry push notifications, ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from kaddons.errors import UsageError
from kaddons.oci.registry import RegistryOptions

from ._options import concurrency_parser, with_registry_options
from .addons import AddonsDir, K2sInstallDir, resolve_addons_dir

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, what: str) -> float:
    """``300``, ``30s``, ``5m``, ``1h``, ``500ms`` -> seconds; UsageError otherwise."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"{what} {text!r} is not a positive duration such as 30s, 5m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``:PORT`` (every interface) -> (host, port); UsageError otherwise."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {text!r} is not HOST:PORT (e.g. 127.0.0.1:8080, or :8080 for every interface)")
    return host.strip("[]") or "0.0.0.0", int(port)


def read_token(path: Path | None) -> str | None:
    """The events token: the first line of ``path``, else ``$KADDONS_EVENTS_TOKEN``, else ``None``.
    Raises UsageError for an unreadable or empty file."""
    if path is None:
        return os.environ.get("KADDONS_EVENTS_TOKEN") or None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--events-token-file {path} cannot be read ({getattr(err, 'strerror', None) or err})") \
            from None
    if not token or any(c.isspace() for c in token):
        raise UsageError(f"--events-token-file {path} holds no token (one line without spaces)")
    return token


@with_registry_options
def agent_command(
    registry: Annotated[str, typer.Option(
        "--registry", envvar="KADDONS_REGISTRY", show_default=False,
        help="oci://HOST\\[:PORT]\\[/PREFIX] or oci-layout:DIR, as for kaddons sync.")],
    addons_dir: AddonsDir = None,
    k2s_install_dir: K2sInstallDir = None,
    tag_policy: Annotated[str, typer.Option("--tag-policy", envvar="KADDONS_TAG_POLICY",
                                            help="k2s, semver:EXPR or tag:T, as for kaddons sync.")] = "k2s",
    repos_file: Annotated[Path | None, typer.Option(
        "--repos-file", envvar="KADDONS_REPOS_FILE", dir_okay=False, show_default=False,
        help="Repositories to sync, one per line, for registries without a catalog API.")] = None,
    repos: Annotated[str | None, typer.Option("--repos", envvar="KADDONS_REPOS", show_default=False,
                                              help="Repositories to sync, separated by commas or spaces.")] = None,
    interval: Annotated[str, typer.Option("--interval", envvar="KADDONS_INTERVAL",
                                          help="How often each addon is checked (30s, 5m, 1h).")] = "5m",
    jitter: Annotated[float, typer.Option("--jitter", envvar="KADDONS_JITTER", min=0.0, max=1.0,
                                          help="Random spread of each period, as a fraction of it.")] = 0.1,
    concurrency: Annotated[int, typer.Option("--concurrency", metavar="N", envvar="KADDONS_CONCURRENCY",
                                             parser=concurrency_parser,
                                             help="Addon syncs (so registry requests) at once, 1 to 64.")] = 4,
    listen: Annotated[str, typer.Option(
        "--listen", envvar="KADDONS_LISTEN",
        help="HOST:PORT for POST /events (registry notifications), GET /healthz and GET /metrics; :PORT listens "
             "on every interface.")]
    = "127.0.0.1:8080",
    events_token_file: Annotated[Path | None, typer.Option(
        "--events-token-file", envvar="KADDONS_EVENTS_TOKEN_FILE", dir_okay=False, show_default=False,
        help="A file holding the token POST /events must carry (Authorization: Bearer TOKEN, from the registry's "
             "notifications.endpoints[].headers); or set KADDONS_EVENTS_TOKEN.")] = None,
    events_insecure: Annotated[bool, typer.Option(
        "--events-insecure", envvar="KADDONS_EVENTS_INSECURE",
        help="Take notifications without a token (anyone reaching the port can trigger syncs).")] = False,
    *,
    options: RegistryOptions,
) -> None:
    """Sync addons continuously; a registry push notification syncs the pushed addon at once.

    Point the registry's notifications at http://THIS-HOST:PORT/events
    (distribution config: notifications.endpoints[].url), with the agent's token in
    notifications.endpoints[].headers (Authorization: [Bearer TOKEN]). Stops on SIGTERM or Ctrl-C
    after the running syncs finish. Logs K2s's [AddonSync] lines on standard output.
    """
    from kaddons.sync import SyncConfig, SyncLog, parse_repositories, read_repos_file
    from kaddons.sync._metrics import Metrics
    from kaddons.sync._server import AgentServer
    from kaddons.sync.agent import Agent, AgentOptions, SyncerTarget
    from kaddons.sync.syncer import Syncer

    root = resolve_addons_dir(addons_dir, k2s_install_dir)
    every = parse_duration(interval, "--interval")
    host, port = parse_listen(listen)
    token = read_token(events_token_file)
    metrics = Metrics()
    options = dataclasses.replace(options, on_request=metrics.on_request)
    listed = None
    if repos_file is not None or repos is not None:
        listed = tuple([*(read_repos_file(repos_file) if repos_file else []),
                        *(parse_repositories(repos) if repos else [])])
    config = SyncConfig(registry=registry, addons_dir=root, repositories=listed, check_digest=True,
                        tag_policy=tag_policy, options=options)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)

    def sink(_level: object, line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    stop = threading.Event()
    with Syncer(config, log=SyncLog(sink)) as syncer:
        agent = Agent(SyncerTarget(syncer), AgentOptions(interval=every, jitter=jitter, concurrency=concurrency,
                                                         discovery_interval=every), metrics=metrics)
        try:
            server = AgentServer(host, port, metrics=metrics, on_push=agent.trigger, prefix=config.spec.prefix,
                                 healthy=lambda: agent.healthy(), token=token, events_insecure=events_insecure)
        except OSError as err:
            raise UsageError(f"cannot listen on {host}:{port} ({err.strerror or err}): choose another address with "
                             "--listen HOST:PORT") from None
        server.start()
        if token is None and not events_insecure:
            sink(None, "[AddonSync][WARN] Push notifications are off (POST /events answers 403): give the agent a "
                       "token (KADDONS_EVENTS_TOKEN or --events-token-file) and the registry the same one, or pass "
                       "--events-insecure")
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        sink(None, f"[AddonSync] Agent listening on {host}:{server.port}; checking every {interval}")
        try:
            agent.run(stop)
        finally:
            server.stop()
        sink(None, "[AddonSync] Agent stopped")
