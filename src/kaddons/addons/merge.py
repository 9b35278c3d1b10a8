"""Merging an imported ``addon.manifest.yaml`` into the installed one (spec §3.6, §4.8; fixes §8.5, §8.6, §8.9).

K2s appends imported implementations that the installed manifest lacks and *skips* the ones it has,
so a re-published implementation never updates its entry (§8.5); without yq it overwrites the whole
file and loses the other implementations (§8.6); and the body's comments are lost. Here the merge is
a YAML round trip (ruamel.yaml): comments, the leading ``#`` header (SPDX lines) and key order are
kept, an imported implementation *replaces* the entry of the same name in place and is appended
otherwise, and every other entry stays as it was. A UTF-8 BOM is accepted on read and never written.

Pure functions: text in, text out.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from kaddons.errors import AddonManifestError

from ._yaml import round_trip_yaml
from .manifest import parse_manifest_text

__all__ = ["merge_manifest"]


def _load(text: str, source: str) -> Any:
    parse_manifest_text(text, source)  # validates, with messages naming the YAML path
    from ruamel.yaml.error import YAMLError  # imported with the first merge (see kaddons.addons._yaml)

    try:
        return round_trip_yaml().load(text)
    except YAMLError as err:  # pragma: no cover - parse_manifest_text already rejected bad YAML
        raise AddonManifestError(source, " ".join(str(err).split())) from None


def _dump(document: Any) -> str:
    out = io.StringIO()
    round_trip_yaml().dump(document, out)
    return out.getvalue()


def _implementations(document: Any) -> Any:
    return document["spec"]["implementations"]


def merge_manifest(existing: str | None, imported: str, *, only: Iterable[str] | None = None,
                   existing_source: str = "installed addon.manifest.yaml",
                   imported_source: str = "imported addon.manifest.yaml") -> str:
    """The installed manifest text ``existing`` with the implementations of ``imported`` merged in.

    ``only`` names the imported implementations to take (default: all of them); the others are
    ignored, so an artifact that carries its addon's full manifest (§8.9) adds only what it installs.
    Each taken implementation replaces the entry of the same name of ``existing`` at its position, or
    is appended; the other entries, the header comment and everything outside
    ``spec.implementations`` of ``existing`` stay. With ``existing`` ``None`` (nothing installed) the
    result is ``imported`` reduced to the taken implementations, returned unchanged (without a BOM)
    when it holds exactly those.

    Both texts may start with a BOM; the result has none and ends with a newline. Raises
    :class:`~kaddons.errors.AddonManifestError` (naming ``existing_source``/``imported_source``) when
    a text is not a valid manifest, when the two name different addons, or when ``only`` names an
    implementation ``imported`` lacks.
    """
    imported = imported.removeprefix("\ufeff")
    source_doc = _load(imported, imported_source)
    available = [impl["name"] for impl in _implementations(source_doc)]
    wanted = available if only is None else list(dict.fromkeys(only))
    missing = [name for name in wanted if name not in available]
    if missing:
        raise AddonManifestError(imported_source, f"spec.implementations: no implementation {missing[0]!r} "
                                                  f"(it has: {', '.join(available)})")
    taken = [impl for impl in _implementations(source_doc) if impl["name"] in wanted]
    if existing is None:
        if [impl["name"] for impl in taken] == available:
            return imported if imported.endswith("\n") else imported + "\n"
        implementations = _implementations(source_doc)
        for index in reversed(range(len(implementations))):
            if implementations[index]["name"] not in wanted:
                del implementations[index]
        return _dump(source_doc)
    target_doc = _load(existing.removeprefix("\ufeff"), existing_source)
    target_name, source_name = target_doc["metadata"]["name"], source_doc["metadata"]["name"]
    if target_name != source_name:
        raise AddonManifestError(existing_source, f"metadata.name is {target_name!r}, the imported manifest is "
                                                  f"for {source_name!r}: refusing to merge them")
    entries = _implementations(target_doc)
    for impl in taken:
        position = next((i for i, entry in enumerate(entries) if entry["name"] == impl["name"]), None)
        if position is None:
            entries.append(impl)
        else:
            entries[position] = impl
    return _dump(target_doc)
