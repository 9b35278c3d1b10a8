"""OCI commands, named as ORAS users know them: copy, repo ls/tags, manifest fetch, blob fetch.

Each command parses, calls the library, prints. Nothing here knows how a store works.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from kaddons.errors import UsageError
from kaddons.oci.reference import REGISTRY, parse_reference, parse_registry_host
from kaddons.oci.registry import RegistryOptions

from ._options import Output, OutputFormat, print_json, with_registry_options

repo_app = typer.Typer(help="List repositories and tags.", no_args_is_help=True)
manifest_app = typer.Typer(help="Fetch manifests.", no_args_is_help=True)
blob_app = typer.Typer(help="Fetch blobs.", no_args_is_help=True)

REFERENCE_HELP = "HOST[:PORT]/REPO[:TAG|@DIGEST], oci-layout:PATH[:TAG] or oci-archive:FILE[:TAG]"


@with_registry_options
def copy_command(
    source: Annotated[str, typer.Argument(help=f"What to copy: {REFERENCE_HELP}.", show_default=False)],
    destination: Annotated[str, typer.Argument(help="Where to: same forms; without a tag, the source's tag.")],
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Blobs copied at once.")] = 4,
    move_tag: Annotated[bool, typer.Option(
        "--move-tag", help="In a layout or archive, move a tag that names other content to this copy (that content "
                           "stays only if another tag or entry names it).")] = False,
    output: Output = OutputFormat.text,
    *,
    options: RegistryOptions,
) -> None:
    """Copy an artifact and everything it references, byte for byte, between registries, layouts and archives."""
    from kaddons.oci.copy import CopyOptions, copy
    from kaddons.oci.targets import open_store

    src_ref = parse_reference(source)
    dst_ref = parse_reference(destination)
    if src_ref.reference is None:
        raise UsageError(f"{source}: name a tag or digest to copy, e.g. {source}:latest")
    if dst_ref.reference is None:
        dst_ref = dst_ref.with_reference(src_ref.tag or src_ref.digest)
    with open_store(src_ref, options=options) as src:
        src.resolve(src_ref.reference)  # a wrong or ambiguous reference fails before the destination is created
        from ._progress import copy_progress  # the copy code and its models, when needed

        with open_store(dst_ref, write=True, options=options) as dst, copy_progress() as observer:
            result = copy(src, src_ref.reference, dst, dst_ref.tag,
                          CopyOptions(concurrency=concurrency, observer=observer, move_tag=move_tag))
    if output is OutputFormat.json:
        print_json({
            "source": str(src_ref), "destination": str(dst_ref), "digest": result.root.digest,
            "mediaType": result.root.media_type, "size": result.root.size,
            "copied": result.copied, "skipped": result.skipped, "mounted": result.mounted,
            "bytesCopied": result.bytes_copied,
        })
    else:
        typer.echo(f"Copied {src_ref} => {dst_ref}")
        typer.echo(f"Digest: {result.root.digest}")


@repo_app.command("ls")
@with_registry_options
def repo_ls(
    registry: Annotated[str, typer.Argument(help="[oci://]HOST[:PORT] of the registry.")],
    output: Output = OutputFormat.text,
    *,
    options: RegistryOptions,
) -> None:
    """List the repositories of a registry (its catalog), sorted, one per line."""
    from kaddons.oci.registry import Registry

    with Registry(parse_registry_host(registry), options) as client:
        names = client.catalog()
    _print_names(names, output)


@repo_app.command("tags")
@with_registry_options
def repo_tags(
    reference: Annotated[str, typer.Argument(help=f"The repository: {REFERENCE_HELP} (tag ignored).")],
    output: Output = OutputFormat.text,
    *,
    options: RegistryOptions,
) -> None:
    """List the tags of a repository, layout or archive, sorted, one per line."""
    from kaddons.oci.targets import open_store

    ref = parse_reference(reference)
    with open_store(ref, options=options) as store:
        names = store.tags()  # type: ignore[attr-defined]
    _print_names(names, output)


@manifest_app.command("fetch")
@with_registry_options
def manifest_fetch(
    reference: Annotated[str, typer.Argument(help=f"{REFERENCE_HELP}; a tag or digest is required.")],
    descriptor: Annotated[bool, typer.Option("--descriptor", help="Print the descriptor instead.")] = False,
    *,
    options: RegistryOptions,
) -> None:
    """Print a manifest or index exactly as stored (its bytes are what its digest covers)."""
    from kaddons.oci.store import fetch_bytes
    from kaddons.oci.targets import open_store

    ref = parse_reference(reference)
    if ref.reference is None:
        raise UsageError(f"{reference}: name a tag or digest, e.g. {reference}:latest")
    with open_store(ref, options=options) as store:
        desc = store.resolve(ref.reference)
        if descriptor:
            print_json(desc.to_json_dict())
            return
        raw = fetch_bytes(store, desc)
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()


@blob_app.command("fetch")
@with_registry_options
def blob_fetch(
    reference: Annotated[str, typer.Argument(
        help="HOST[:PORT]/REPO@DIGEST, oci-layout:PATH@DIGEST or oci-archive:FILE@DIGEST.")],
    file: Annotated[str | None, typer.Option("--file", help="File to write; - for standard output.",
                                             show_default=False)] = None,
    old_output: Annotated[str | None, typer.Option(
        "--output", "-o", hidden=True, help="Deprecated spelling of --file (-o is for formats).")] = None,
    *,
    options: RegistryOptions,
) -> None:
    """Download a blob by digest, verified; the file appears only once all of it verified."""
    from kaddons.oci.targets import open_store

    if old_output is not None:
        if file is not None:
            raise UsageError("give --file only (-o/--output is its deprecated spelling)")
        typer.echo(f"warning: -o/--output FILE is deprecated (-o is for formats): use --file {old_output}", err=True)
        file = old_output
    if file is None:
        raise UsageError("no file given: pass --file FILE, or --file - for standard output")
    output_file = file
    ref = parse_reference(reference)
    if ref.digest is None:
        raise UsageError(f"{reference}: a blob is fetched by digest: REF@sha256:<hex>")
    with open_store(ref, options=options) as store:
        desc = store.stat_blob(ref.digest)  # type: ignore[attr-defined]
        with store.fetch(desc) as stream:
            if output_file == "-":
                _stream_to(stream, sys.stdout.buffer)
            else:
                _write_atomically(stream, Path(output_file))


def _stream_to(stream: object, out: object, chunk: int = 1 << 20) -> None:
    while data := stream.read(chunk):  # type: ignore[attr-defined]
        out.write(data)  # type: ignore[attr-defined]
    out.flush()  # type: ignore[attr-defined]


def _write_atomically(stream: object, target: Path) -> None:
    """Write to a temporary file beside ``target`` and rename it into place once complete."""
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"cannot write {target}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream_to(stream, out)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _print_names(names: list[str], output: OutputFormat) -> None:
    if output is OutputFormat.json:
        print_json(names)
    else:
        for name in names:
            typer.echo(name)


__all__ = ["REGISTRY", "blob_app", "copy_command", "manifest_app", "repo_app"]
