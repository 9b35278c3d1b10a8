"""``kaddons gitops render`` and ``kaddons gitops register``: the in-cluster addon sync (spec §5).

Engine and flavor are plain strings checked by the library, so a wrong one is the same one-line
``error:`` as every other bad value; nothing is written before every value is checked.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kaddons.errors import UsageError
from kaddons.gitops.options import (
    DEFAULT_ADDONS_DIR,
    DEFAULT_IMAGE,
    DEFAULT_INTERVAL,
    DEFAULT_RUN_AS_USER,
    DEFAULT_SEMVER,
)

if TYPE_CHECKING:
    from kaddons.gitops.output import WriteResult

gitops_app = typer.Typer(
    help="Run the addon sync in a cluster through FluxCD or Argo CD.", no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Registry = Annotated[str | None, typer.Option(
    "--registry", metavar="oci://HOST[:PORT][/PREFIX]", show_default=False,
    help="The registry the addons are published to (repositories [PREFIX/]addons/<name>; a prefix for the "
         "kaddons flavor only).")]
FlavorOption = Annotated[str, typer.Option(
    "--flavor", metavar="kaddons|k2s",
    help="kaddons: Linux pods running kaddons sync; k2s: K2s's Windows HostProcess pods.")]
Insecure = Annotated[bool, typer.Option("--insecure", help="The registry speaks plain HTTP (no TLS).")]
OutputDir = Annotated[Path | None, typer.Option(
    "--output-dir", file_okay=False, show_default=False,
    help="Write the files here (kubectl apply -k DIR) instead of printing one YAML stream. kaddons replaces only "
         "files it wrote there (recorded in DIR/.kaddons-owned); other files are never changed.")]
OutputOption = Annotated[str | None, typer.Option(
    "--output", "-o", metavar="yaml|json", show_default=False,
    help="Format of what is printed without --output-dir: yaml (one stream, the default) or json (one list). "
         "-o DIR (a directory) still works for one release, with a warning: use --output-dir DIR.")]
Force = Annotated[bool, typer.Option(
    "--force", help="Write into a non-empty directory kaddons has no record of, and replace kaddons' files that "
                    "were edited by hand. Files that are not kaddons' are never changed.")]


_FORMATS = ("yaml", "json")


def _destination(output: str | None, output_dir: Path | None) -> tuple[str, Path | None]:
    """(format, directory) from -o and --output-dir; -o with anything but a format is the old -o DIR."""
    if output is None or output.lower() in _FORMATS:
        if output is not None and output_dir is not None:
            raise UsageError(f"-o {output} prints; --output-dir writes files: give one of them")
        return (output or "yaml").lower(), output_dir
    if output_dir is not None:
        raise UsageError(f"-o {output!r} is not a format (yaml or json): write to a directory with --output-dir only")
    typer.echo(f"warning: -o {output} as a directory is deprecated and will mean a format only: use --output-dir "
               f"{output}", err=True)
    return "yaml", Path(output)


def _print(stream: str, fmt: str) -> None:
    if fmt == "json":
        import json

        from kaddons.gitops._yaml import load_documents

        sys.stdout.write(json.dumps(load_documents(stream), indent=2) + "\n")
    else:
        sys.stdout.write(stream)


def _counts(done: WriteResult) -> str:
    parts = [f"{len(done.written)} written", f"{len(done.unchanged)} unchanged"]
    if done.removed:
        parts.append(f"{len(done.removed)} removed")
    return ", ".join(parts)


def _registry(value: str | None) -> str:
    if value is None:
        raise UsageError("no registry given: pass --registry oci://HOST[:PORT]")
    return value


@gitops_app.command("render")
def render_command(
    engine: Annotated[str | None, typer.Option(
        "--engine", metavar="fluxcd|argocd", show_default=False,
        help="fluxcd: per-addon Jobs applied by Flux (register addons with `kaddons gitops register`); "
             "argocd: a CronJob polling the registry every 5 minutes.")] = None,
    registry: Registry = None,
    flavor: FlavorOption = "kaddons",
    insecure: Insecure = False,
    addons_dir: Annotated[str | None, typer.Option(
        "--addons-dir", metavar="PATH", show_default=False,
        help=f"kaddons flavor: the addons directory on the node, writable by --run-as-user "
             f"\\[default: {DEFAULT_ADDONS_DIR}].")] = None,
    image: Annotated[str | None, typer.Option(
        "--image", metavar="REF", show_default=False,
        help=f"kaddons flavor: the kaddons image the sync pods run \\[default: {DEFAULT_IMAGE}].")] = None,
    ca_file: Annotated[Path | None, typer.Option(
        "--ca-file", dir_okay=False, show_default=False,
        help="kaddons flavor: PEM CAs to trust for the registry (ConfigMap addon-sync-ca).")] = None,
    run_as_user: Annotated[str | None, typer.Option(
        "--run-as-user", metavar="UID", show_default=False,
        help=f"kaddons flavor: user and group id of the sync pods; 0 runs them as root "
             f"\\[default: {DEFAULT_RUN_AS_USER}].")] = None,
    k2s_install_dir: Annotated[str | None, typer.Option(
        "--k2s-install-dir", metavar="PATH", show_default=False,
        help="k2s flavor: K2s's install directory on the Windows node \\[default: C:\\k].")] = None,
    sync_script: Annotated[Path | None, typer.Option(
        "--sync-script", dir_okay=False, show_default=False,
        help="k2s flavor: K2s's Sync-Addons.ps1 (addons\\common\\manifests\\addon-sync\\base\\scripts), for the "
             "ConfigMap addon-sync-script.")] = None,
    output_dir: OutputDir = None,
    output: OutputOption = None,
    force: Force = False,
) -> None:
    """Render the cluster side of addon-sync: namespace k2s-addon-sync, its ServiceAccount and ConfigMaps,
    and the engine's part.

    With --output-dir DIR, DIR/kustomization.yaml builds it all (kubectl apply -k DIR);
    without, the built objects are printed (kubectl apply -f -; -o json: as one JSON list).
    Registry credentials: create the kubernetes.io/dockerconfigjson Secret addon-sync-registry
    in k2s-addon-sync; render never writes secrets.
    """
    from kaddons.gitops.render import render_options, render_stream, render_tree, write_rendered

    if engine is None:
        raise UsageError("no engine given: pass --engine fluxcd or --engine argocd")
    options = render_options(engine, _registry(registry), flavor=flavor, insecure=insecure, addons_dir=addons_dir,
                             image=image, run_as_user=run_as_user, ca_file=ca_file,
                             k2s_install_dir=k2s_install_dir, sync_script=sync_script)
    fmt, output_dir = _destination(output, output_dir)
    if output_dir is None:
        _print(render_stream(options), fmt)
        return
    done = write_rendered(render_tree(options), output_dir, force=force)
    path = done.directory
    typer.echo(f"Rendered {options.engine} ({options.flavor} flavor) to {path} ({_counts(done)}): "
               f"kubectl apply -k {path}", err=True)


@gitops_app.command("register")
def register_command(
    names: Annotated[list[str], typer.Argument(
        metavar="NAME", show_default=False,
        help="Export names of the addons (repositories addons/NAME), e.g. metrics ingress-nginx.")],
    registry: Registry = None,
    insecure: Insecure = False,
    interval: Annotated[str, typer.Option(
        "--interval", help="How often Flux checks the registry and re-applies (a Flux duration).")]
    = DEFAULT_INTERVAL,
    semver: Annotated[str, typer.Option(
        "--semver", metavar="EXPR", help="Which tags to follow: a semver constraint, as Flux's ref.semver.")]
    = DEFAULT_SEMVER,
    flavor: FlavorOption = "kaddons",
    service_account: Annotated[str | None, typer.Option(
        "--service-account", metavar="NAME", show_default=False,
        help="The ServiceAccount Flux applies gitops-sync/ with \\[default: addon-sync-reconciler for the "
             "kaddons flavor, none (kustomize-controller's own) for k2s].")] = None,
    registry_secret: Annotated[bool, typer.Option(
        "--registry-secret", help="Flux pulls with the Secret addon-sync-registry (kubernetes.io/dockerconfigjson).")]
    = False,
    output_dir: OutputDir = None,
    output: OutputOption = None,
    force: Force = False,
) -> None:
    """Register addons with FluxCD: per addon an OCIRepository (addon-sync-NAME) following addons/NAME
    and a Kustomization applying the artifact's gitops-sync/ Job.

    Apply the fluxcd tree of `kaddons gitops render --engine fluxcd` first.
    With --output-dir DIR, one DIR/NAME.yaml per addon and DIR/kustomization.yaml listing every addon registered
    there: registering more addons later adds them, earlier registrations stay;
    without, one YAML stream.
    """
    from kaddons.gitops.register import register_into, register_options, register_stream

    options = register_options(_registry(registry), flavor=flavor, insecure=insecure, interval=interval,
                               semver=semver, service_account=service_account, registry_secret=registry_secret)
    fmt, output_dir = _destination(output, output_dir)
    if output_dir is None:
        _print(register_stream(names, options), fmt)
        return
    done, every = register_into(output_dir, names, options, force=force)
    path = done.directory
    typer.echo(f"Registered {', '.join(dict.fromkeys(names))} in {path}, which registers {len(every)} addon(s) "
               f"({_counts(done)}): kubectl apply -k {path}", err=True)
