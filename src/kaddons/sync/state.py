"""The recorded state of a synced addon: what was extracted, by digest (spec §4.4; fixes §8.3, §8.4).

Two files per repository ``addons/<repo>`` in ``<addons-dir>/.addon-sync-digests/``:

* ``<repo>``: the K2s digest file, ``sha256:<hex>`` in UTF-8 without BOM and without a newline
  ([COMPAT] §4.4: K2s reads it; it is read here with or without BOM and white space);
* ``<repo>.kaddons.json``: kaddons' sidecar, ``{"digest", "reference", "addon", "implementation",
  "tag", "fingerprint"}``, which ``kaddons ls`` shows and which tells where the addon lives on disk
  (multi-implementation addons live at ``<addon>/<impl>/``, §8.4). It counts only when its digest is
  the digest file's. ``fingerprint`` (:func:`fingerprint`) identifies the files the sync put in
  place, so that a record is trusted only while it names what is on disk: files changed since by
  anyone (an edit, K2s's own import) make the next ``--check-digest`` sync fetch the addon again.
  ``layers`` lists layers 0-3 the files came from: a new manifest with the same layers (a re-export
  by a newer kaddons, an addon exported alone instead of with all) is recorded without a download.

Both are written atomically and only after the content they describe is in place; before content is
replaced the digest file is removed (:func:`clear_state`), so that at no moment does the recorded digest
name content that is not on disk. The digest file is the commit point: it is written last.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaddons.addons.catalog import digest_path, sidecar_path, sync_record
from kaddons.addons.install import write_catalog_file
from kaddons.addons.manifest import MANIFEST_FILE
from kaddons.addons.names import check_name, is_single_implementation

__all__ = ["SyncState", "addon_path", "clear_state", "fingerprint", "is_present", "read_state", "still_installed",
           "write_state"]


@dataclass(frozen=True)
class SyncState:
    """What was extracted for a repository: manifest ``digest``, ``reference`` (``HOST/addons/REPO:TAG``),
    ``addon`` and ``implementation`` (``None`` when only K2s's digest file is there), ``tag``, and the
    ``fingerprint`` of the files put in place and the ``layers`` they came from (``<media type>@<digest>``
    of layers 0-3, in manifest order; both ``None`` when recorded by an older kaddons)."""

    digest: str
    reference: str | None = None
    addon: str | None = None
    implementation: str | None = None
    tag: str | None = None
    fingerprint: str | None = None
    layers: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The sidecar object (also what a kept previous version is recorded with)."""
        return {"digest": self.digest, "reference": self.reference, "addon": self.addon,
                "implementation": self.implementation, "tag": self.tag, "fingerprint": self.fingerprint,
                "layers": list(self.layers) if self.layers is not None else None}

    @classmethod
    def from_json(cls, data: object) -> SyncState | None:
        """The state a :meth:`to_json` object describes; ``None`` for anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("digest"), str):
            return None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        addon, implementation = text("addon"), text("implementation")
        if addon is not None and (check_name(addon) or implementation is None or check_name(implementation)):
            addon = implementation = None
        layers = data.get("layers")
        if not (isinstance(layers, list) and all(isinstance(layer, str) for layer in layers)):
            layers = None
        return cls(data["digest"].lower(), text("reference"), addon, implementation, text("tag"), text("fingerprint"),
                   tuple(layers) if layers is not None else None)


def read_state(addons_dir: Path, repo: str) -> SyncState | None:
    """The recorded state of ``addons/<repo>``, or ``None`` when nothing (valid) is recorded.

    The digest file decides (BOM and white space stripped, case ignored); the sidecar adds to it only
    when it names the same digest.
    """
    record = sync_record(addons_dir, repo)
    if record is None:
        return None
    try:
        sidecar = SyncState.from_json(json.loads(sidecar_path(addons_dir, repo).read_bytes()))
    except (OSError, ValueError):
        sidecar = None
    if sidecar is None or sidecar.digest != record.digest:
        return SyncState(record.digest)
    return sidecar


def write_state(addons_dir: Path, repo: str, state: SyncState) -> None:
    """Record ``state`` for ``addons/<repo>``: the sidecar, then the digest file (the commit point).

    Call it only once the content is in place. Raises ``OSError``.
    """
    folder = digest_path(addons_dir, repo).parent
    folder.mkdir(parents=True, exist_ok=True)
    write_catalog_file(addons_dir, sidecar_path(addons_dir, repo),
                       json.dumps(state.to_json(), sort_keys=True).encode("utf-8"))
    write_catalog_file(addons_dir, digest_path(addons_dir, repo), state.digest.encode("utf-8"))


def clear_state(addons_dir: Path, repo: str) -> None:
    """Forget what is recorded for ``addons/<repo>`` (before its content changes). Raises ``OSError``."""
    for path in (digest_path(addons_dir, repo), sidecar_path(addons_dir, repo)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def addon_path(addons_dir: Path, addon: str, implementation: str) -> Path:
    """Where an implementation lives (§4.7): ``<addon>/`` when single, else ``<addon>/<impl>/``."""
    base = Path(addons_dir) / addon
    return base if is_single_implementation(addon, implementation) else base / implementation


def fingerprint(directory: Path) -> str:
    """``sha256:<hex>`` over the path, type, size, modification time (ns) and inode of every file (and
    anything else that is not a directory) below ``directory``: one ``stat`` per entry, no file is read.
    Anything that adds, removes, replaces or edits a file changes it; renaming the folder does not, nor
    does rebuilding its directories around the same files (an install of a sibling implementation links
    them into a new addon folder). Raises ``OSError`` when ``directory`` cannot be listed."""
    digest = hashlib.sha256()
    for path in sorted(Path(directory).rglob("*")):
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode):
            continue
        kind = "f" if stat.S_ISREG(info.st_mode) else "o"
        digest.update(f"{path.relative_to(directory).as_posix()}\0{kind}\0{info.st_size}\0{info.st_mtime_ns}\0"
                      f"{info.st_ino}\n".encode("utf-8", "surrogateescape"))
    return f"sha256:{digest.hexdigest()}"


def still_installed(addons_dir: Path, state: SyncState) -> bool:
    """Whether what ``state`` records is on disk unchanged: present, and with the recorded fingerprint (when
    there is one)."""
    if state.addon is None or state.implementation is None or not is_present(addons_dir, state.addon,
                                                                               state.implementation):
        return False
    return state.fingerprint is None or state.fingerprint == fingerprint(
        addon_path(addons_dir, state.addon, state.implementation))


def is_present(addons_dir: Path, addon: str, implementation: str) -> bool:
    """Whether the implementation is on disk: its folder and the addon's ``addon.manifest.yaml`` exist."""
    if check_name(addon) or check_name(implementation):
        return False
    base = Path(addons_dir) / addon
    return (base / MANIFEST_FILE).is_file() and addon_path(addons_dir, addon, implementation).is_dir()
