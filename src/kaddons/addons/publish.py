"""Publish every addon of an ``.oci.tar`` to its own repository (spec §2.16, §4.6).

K2s documents ``oras copy --from-oci-layout FILE:<tag> HOST/addons/<export name>:<tag>`` per addon,
which cannot address one manifest of a multi-addon archive when they all share ``v1.0.0`` (§2.13,
§8.8). :func:`push_archive` copies each image manifest by digest instead, to
``REGISTRY[/PREFIX]/addons/<export name>:<tag>``: the layout addon-sync discovers (§4.6). Bytes are
unchanged, so the registry digest equals the archive's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kaddons.errors import LayoutError, NotFoundError, TagConflictError, UsageError
from kaddons.oci.archive import ArchiveStore
from kaddons.oci.copy import CopyObserver, CopyOptions, copy
from kaddons.oci.reference import validate_tag
from kaddons.oci.registry import Registry, RegistryOptions

from .artifact import addon_entries
from .repository import ADDONS_NAMESPACE, addon_repository, split_registry

__all__ = ["ADDONS_NAMESPACE", "PushedAddon", "addon_repository", "push_archive", "split_registry"]

@dataclass(frozen=True)
class PushedAddon:
    """One published addon: its export name, ``reference`` (``HOST/…/addons/<name>:<tag>``), manifest
    ``digest`` and the blob counts of the copy (``copied`` + ``skipped`` already present)."""

    export_name: str
    reference: str
    digest: str
    copied: int
    skipped: int


MOVABLE_TAGS = frozenset({"latest"})
"""Tags that are expected to move; every other tag names one content for good unless ``force``."""


def _check_tags_free(client: Registry, host: str, prefix: str, targets: dict[tuple[str, str], str]) -> None:
    """Raise :class:`TagConflictError` naming every tag that already names other content."""
    taken = []
    for (name, chosen), digest in targets.items():
        if chosen in MOVABLE_TAGS:
            continue
        try:
            held = client.repository(addon_repository(prefix, name)).resolve(chosen)
        except NotFoundError:
            continue
        if held.digest != digest:
            taken.append(f"{host}/{addon_repository(prefix, name)}:{chosen} holds {held.digest}, this archive "
                         f"{digest}")
    if taken:
        shown = "; ".join(taken[:5]) + (f"; and {len(taken) - 5} more" if len(taken) > 5 else "")
        raise TagConflictError(f"refusing to move published version tags: {shown}; publish a new version (raise "
                               "the version in addon.manifest.yaml, or --tag), or pass --force to replace them")


def push_archive(archive: str | Path, registry: str, options: RegistryOptions | None = None, *,
                 tag: str | None = None, observer: CopyObserver | None = None,
                 log: Callable[[str], None] | None = None, force: bool = False,
                 on_pushed: Callable[[PushedAddon], None] | None = None) -> list[PushedAddon]:
    """Copy every addon manifest of ``archive`` to ``registry`` (``HOST[:PORT][/PREFIX]``), one repository each.

    The tag is ``tag`` when given, else the entry's ``org.opencontainers.image.ref.name``, else
    ``v<version>``. Returns one :class:`PushedAddon` per manifest, in index order; ``on_pushed`` gets
    each as soon as its tag is set (so an interrupted push has said what it published). Raises
    :class:`LayoutError` for an archive without addons (or an entry without a tag),
    :class:`UsageError` for two entries with the same export name and tag,
    :class:`~kaddons.errors.TagConflictError` (before anything is pushed) when a tag other than
    ``latest`` already names different content in the registry (a version tag is a promise that Flux's
    semver selection and K2s's tag rules rely on; ``force`` moves it), and what the OCI copy raises
    (registry errors, digest mismatches: nothing is tagged for an addon whose copy failed).
    """
    host, prefix = split_registry(registry)
    if tag is not None:
        validate_tag(tag)
    path = Path(archive)
    with ArchiveStore(path) as store:
        entries = addon_entries(store, store.index().manifests, where=str(path),
                                warn=lambda warning: log(f"warning: {warning}") if log is not None else None)
        if not entries:
            raise LayoutError(f"{path} holds no addon manifest (no {ADDONS_NAMESPACE} annotations): nothing to push")
        targets: dict[tuple[str, str], str] = {}
        for entry in entries:
            chosen = tag or entry.tag
            if chosen is None:
                raise LayoutError(f"{path}: addon {entry.export_name} has neither a ref.name nor a version: pass --tag")
            key = (entry.export_name, chosen)
            if key in targets and targets[key] != entry.descriptor.digest:
                raise UsageError(f"{path} holds two different manifests for {entry.export_name}:{chosen}")
            targets[key] = entry.descriptor.digest
        pushed = []
        with Registry(host, options) as client:
            if not force:
                _check_tags_free(client, host, prefix, targets)
            for (name, chosen), digest in targets.items():
                repository = client.repository(addon_repository(prefix, name))
                result = copy(store, digest, repository, chosen, CopyOptions(observer=observer))
                reference = f"{host}/{addon_repository(prefix, name)}:{chosen}"
                if log is not None:
                    log(f"Pushed {reference} {result.root.digest}")
                pushed.append(PushedAddon(name, reference, result.root.digest, result.copied, result.skipped))
                if on_pushed is not None:
                    on_pushed(pushed[-1])
    return pushed
