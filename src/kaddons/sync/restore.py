"""``kaddons rollback NAME``: put back the version a sync (or import) replaced (fixes §8.22).

Every install keeps the version it replaces under ``<addons-dir>/.kaddons/previous/<export name>/``
with the sync record it had. :func:`rollback` swaps it back into place atomically, through the same
journaled swap as a sync (so the version it replaces is kept in turn: a second rollback undoes the
first), and restores the recorded digest: the K2s digest file and the sidecar name the restored
version again, or are removed when it was not synced from a registry.

The next sync brings the newest version back, unless the registry changed: rollback is a repair for
the time until a fixed version is published (or the tag policy pins an older one, ``tag:T``).
"""

from __future__ import annotations

import dataclasses
import difflib
import shutil
from dataclasses import dataclass
from pathlib import Path

from kaddons.addons.catalog import discover
from kaddons.addons.install import catalog_lock, install_implementation, kept_record, put_back, recover, take_previous
from kaddons.addons.names import export_name
from kaddons.errors import NotFoundError, UsageError

from .config import repository_name
from .state import SyncState, clear_state, fingerprint, read_state, write_state

__all__ = ["RollbackResult", "rollback"]


@dataclass(frozen=True)
class RollbackResult:
    """What :func:`rollback` did: the export ``name``, the ``directory`` restored, the ``digest`` now
    recorded (``None``: none) and the ``replaced_digest`` recorded before (``None``: none)."""

    name: str
    directory: Path
    digest: str | None
    replaced_digest: str | None


def _same_message(name: str, digest: str | None) -> str:
    what = f" ({digest})" if digest else ""
    return (f"the kept previous version of {name} is the version installed{what}: there is nothing to roll back "
            "to; publish a fixed version, or pin an older tag with kaddons sync --tag-policy tag:TAG")


def _check_known(addons_dir: Path, name: str) -> None:
    """Raise :class:`NotFoundError` naming the export names there are when no addon of ``name`` is installed."""
    names = sorted(impl.export_name for addon in discover(addons_dir).addons for impl in addon.implementations)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise NotFoundError(f"no addon named {name} in {addons_dir}: {hint}installed: {', '.join(names) or 'none'}")


def rollback(addons_dir: str | Path, name: str, *, lock_timeout: float = 600.0) -> RollbackResult:
    """Swap the kept previous version of the addon exported as ``name`` back into ``addons_dir``.

    ``name`` is an export name (``metrics``, ``ingress-nginx``; ``addons/`` may lead) or ``"NAME IMPL"``.
    Holds the catalog lock. Raises :class:`~kaddons.errors.UsageError` for an invalid name and when the
    kept version is the installed one (same digest or same files: rolling back would change nothing),
    :class:`~kaddons.errors.NotFoundError` when the addons directory does not exist, no addon of that
    name is installed (the message lists those that are), or no previous version is kept,
    :class:`~kaddons.errors.ContentError`/:class:`~kaddons.errors.AddonManifestError` when the kept
    version cannot be installed, ``OSError``.
    """
    addons_dir = Path(addons_dir)
    words = name.split()
    if len(words) == 2:  # "NAME IMPL", as export and import take it
        name = export_name(*words)
    name = repository_name(name)
    if not addons_dir.is_dir():
        raise NotFoundError(f"addons directory {addons_dir} does not exist or is not a directory")
    with catalog_lock(addons_dir, timeout=lock_timeout):
        recover(addons_dir)
        current = read_state(addons_dir, name)
        _, record = kept_record(addons_dir, name)
        previous = SyncState.from_json(record)
        if current is not None and previous is not None and previous.digest == current.digest:
            raise UsageError(_same_message(name, current.digest))
        if not kept_record(addons_dir, name)[0] and current is None:
            _check_known(addons_dir, name)
        kept = take_previous(addons_dir, name)
        try:
            restored = SyncState.from_json(kept.record)
            clear_state(addons_dir, name)
            try:
                installed = install_implementation(addons_dir, kept.staged,
                                                   record=current.to_json() if current is not None else None)
            except BaseException:
                put_back(addons_dir, kept)
                if current is not None:
                    write_state(addons_dir, name, current)
                raise
            if installed.unchanged:  # the kept version has the installed files: nothing was rolled back
                if current is not None:
                    write_state(addons_dir, name, current)
                raise UsageError(_same_message(name, current.digest if current is not None else None))
            if restored is not None:
                restored = dataclasses.replace(restored, fingerprint=fingerprint(installed.directory))
                write_state(addons_dir, name, restored)
        finally:
            shutil.rmtree(kept.staging, ignore_errors=True)
    return RollbackResult(name, installed.directory, restored.digest if restored else None,
                          current.digest if current else None)
