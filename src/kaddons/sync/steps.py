"""The one-addon sync as small steps, each testable alone (DESIGN: resolve, compare, fetch, extract,
validate, swap, record; spec §4.2-4.8, fixes §8.3, §8.4, §8.22, §8.26).

``choose_tag`` -> ``resolve_manifest`` (one HEAD: from here on only the digest is used) -> ``compare``
with the recorded state -> ``fetch_entry`` (the manifest, by digest, verified) -> ``stage`` (layers
0-3 only, by digest, verified while streaming, extracted safely, ``addon.manifest.yaml`` checked
against the annotations) -> ``swap`` (atomic, previous version kept) -> ``record`` (digest written
last). :class:`~kaddons.sync.syncer.Syncer` runs them in that order under the catalog lock.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kaddons.addons.artifact import AddonEntry, read_entry
from kaddons.addons.extract import ExtractLimits
from kaddons.addons.install import InstalledImplementation, StagedImplementation, install_implementation, new_staging
from kaddons.addons.publish import ADDONS_NAMESPACE
from kaddons.addons.unpack import CATALOG_KINDS, IMPL_FOLDER, catalog_layers, stage_entry
from kaddons.errors import ContentError, InvalidManifestError
from kaddons.oci import mediatypes as mt
from kaddons.oci.models import Descriptor
from kaddons.oci.store import ReadOnlyStore

from . import tags as tag_policies
from .log import SyncLog
from .source import AddonSource
from .state import (
    SyncState,
    addon_path,
    clear_state,
    fingerprint,
    is_present,
    read_state,
    still_installed,
    write_state,
)

__all__ = ["Comparison", "Staged", "choose_tag", "compare", "fetch_entry", "record", "resolve_manifest",
           "same_layers", "stage", "swap"]

Log = Callable[[str], None]
_RULE_TEXT = {"latest": "'latest' tag", "semver-desc": "semver-desc tag", "lexical-desc":
              "semver unavailable, using lexical-desc tag"}


def choose_tag(source: AddonSource, name: str, policy: tag_policies.TagPolicy, log: SyncLog) -> str:
    """The tag of ``name`` the policy picks (§4.3; Flux §1.3); ``tag:T`` needs no request at all.

    Logs the ``[TagSelect]`` line of §4.3. Raises :class:`~kaddons.errors.NotFoundError` (no tag
    qualifies: the message lists the tags and why each was skipped) and what listing tags raises.
    """
    if not policy.needs_tag_list:
        return tag_policies.select_tag(policy, [], repository=name).tag
    tags = source.tags(name)
    choice = tag_policies.select_tag(policy, tags, repository=f"{ADDONS_NAMESPACE}/{name}")
    rule = _RULE_TEXT.get(choice.rule)
    if rule == _RULE_TEXT["latest"]:
        log.info(f"[TagSelect] '{name}': using 'latest' tag")
    else:
        log.info(f"[TagSelect] '{name}': using {rule or f'{policy} tag'} '{choice.tag}'")
    return choice.tag


def resolve_manifest(source: AddonSource, name: str, tag: str) -> Descriptor:
    """Resolve ``name:tag`` once (one HEAD) to the descriptor of an image manifest.

    Raises :class:`~kaddons.errors.InvalidManifestError` when the tag names an index (an addon is one
    image manifest per implementation, §4.6) or anything else, and what resolving raises.
    """
    desc = source.resolve(name, tag)
    if desc.media_type in mt.INDEX_TYPES:
        raise InvalidManifestError(f"{source.reference(name, tag)} is an image index ({desc.digest}), not an addon "
                                   "manifest: push each implementation as its own manifest (kaddons push)")
    if desc.media_type not in mt.MANIFEST_TYPES:
        raise InvalidManifestError(f"{source.reference(name, tag)} is a {desc.media_type!r}, not an image manifest")
    return desc


@dataclass(frozen=True)
class Comparison:
    """The recorded ``state`` against the resolved digest: ``skip`` when unchanged and present on disk;
    ``unknown_location`` when the digest is unchanged but only K2s's digest file says what it is (the
    manifest tells where the addon lives); ``message`` for the log (§4.2)."""

    state: SyncState | None
    skip: bool
    unknown_location: bool
    message: str


def compare(addons_dir: Path, name: str, digest: str) -> Comparison:
    """Compare the recorded state of ``addons/<name>`` with ``digest`` (§4.4; the path check of §8.4).

    Reads two small files, checks two paths and, when the record has one, compares the fingerprint of the
    addon's folder (one ``stat`` per file); no request.
    """
    state = read_state(addons_dir, name)
    if state is None:
        return Comparison(None, False, False, f"'{name}': first sync run")
    if state.digest != digest.lower():
        return Comparison(state, False, False, f"'{name}': digest changed (was: {state.digest})")
    if state.addon is None or state.implementation is None:
        return Comparison(state, False, True, f"'{name}': digest unchanged; reading the manifest to find the addon")
    if is_present(addons_dir, state.addon, state.implementation):
        if not still_installed(addons_dir, state):
            return Comparison(state, False, False, f"'{name}': digest unchanged but the files on disk changed since "
                                                   "the sync -- forcing re-sync")
        return Comparison(state, True, False, f"'{name}': digest unchanged ({digest}), skipping")
    return Comparison(state, False, False, f"'{name}': digest unchanged but addon directory missing -- forcing re-sync")


def fetch_entry(store: ReadOnlyStore, desc: Descriptor, name: str, *, where: str) -> AddonEntry:
    """The manifest ``desc`` names, fetched by digest (verified) and read as the addon ``name``.

    Raises :class:`~kaddons.errors.ContentError` when it carries no ``vnd.k2s.addon.name`` or is for
    another export name than its repository's, :class:`~kaddons.errors.UnsafeContentError` for names
    that break the name rule, and what :func:`~kaddons.addons.artifact.read_entry` raises.
    """
    entry = read_entry(store, desc, where=where)
    if entry is None:
        raise ContentError(f"{where}: manifest {desc.digest} has no vnd.k2s.addon.name annotation: not an addon "
                           "artifact (push it with kaddons push or oras as the K2s docs say)")
    if entry.export_name != name:
        raise ContentError(f"{where} holds addon {entry.cli_name!r} (export name {entry.export_name}), not {name}: "
                           f"publish it to {ADDONS_NAMESPACE}/{entry.export_name}")
    return entry


@dataclass(frozen=True)
class Staged:
    """An unpacked, validated implementation: the ``staging`` folder and the ``manifest`` bytes."""

    entry: AddonEntry
    staging: Path
    manifest: bytes

    def discard(self) -> None:
        """Remove the staging folder."""
        shutil.rmtree(self.staging, ignore_errors=True)


def stage(store: ReadOnlyStore, entry: AddonEntry, addons_dir: Path, *, where: str, limits: ExtractLimits,
          log: Log, warn: Log) -> Staged:
    """Fetch layers 0-3 of ``entry`` by digest and unpack them into a new staging folder of ``addons_dir``.

    Images and packages (layers 4-6) are never fetched (§8.26). The staging folder is removed on any
    error. Raises what :func:`~kaddons.addons.unpack.stage_entry` raises.
    """
    staging = new_staging(addons_dir, entry.export_name)
    try:
        manifest = stage_entry(store, entry, staging, where=where, limits=limits, kinds=CATALOG_KINDS, log=log,
                               warn=warn)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Staged(entry, staging, manifest)


def swap(addons_dir: Path, staged: Staged, previous: SyncState | None) -> InstalledImplementation:
    """Move the staged implementation into place atomically, keeping the replaced one with its record
    (``previous``, when its fingerprint says the files are still the ones it describes; else none).

    The recorded state of the repository is removed first, so that a crash leaves either no record or
    a record of what is on disk; a failure that is not a crash puts ``previous`` back. Hold the
    catalog lock. Raises what :func:`~kaddons.addons.install.install_implementation` raises.
    """
    entry = staged.entry
    name = entry.export_name
    kept = previous
    if previous is not None and previous.addon is not None and not still_installed(addons_dir, previous):
        kept = None  # the files were changed since that sync: the record does not describe what is kept
    clear_state(addons_dir, name)
    try:
        return install_implementation(addons_dir, StagedImplementation(
            addon=entry.addon, implementation=entry.implementation, directory=staged.staging / IMPL_FOLDER,
            manifest=staged.manifest), record=kept.to_json() if kept is not None else None)
    except BaseException:
        if previous is not None and (previous.fingerprint is None or still_installed(addons_dir, previous)):
            with contextlib.suppress(OSError):  # only while the files it names are still the ones on disk
                write_state(addons_dir, name, previous)
        raise


def same_layers(addons_dir: Path, entry: AddonEntry, state: SyncState | None) -> bool:
    """Whether ``entry``'s layers 0-3 are the ones ``state`` recorded for the files on disk, and those files
    are unchanged: then a new manifest digest (other annotations, a re-export) puts nothing new in place."""
    return (state is not None and state.layers is not None and state.layers == catalog_layers(entry)
            and (state.addon, state.implementation) == (entry.addon, entry.implementation)
            and still_installed(addons_dir, state))


def record(addons_dir: Path, entry: AddonEntry, digest: str, *, reference: str, tag: str) -> SyncState:
    """Record that ``entry`` (manifest ``digest``) is now on disk, with the :func:`~.state.fingerprint` of its
    folder; call it after :func:`swap`."""
    state = SyncState(digest.lower(), reference, entry.addon, entry.implementation, tag,
                      fingerprint(addon_path(addons_dir, entry.addon, entry.implementation)), catalog_layers(entry))
    write_state(addons_dir, entry.export_name, state)
    return state
