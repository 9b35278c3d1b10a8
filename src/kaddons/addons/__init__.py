"""The K2s addon format: ``addon.manifest.yaml``, addon directories and the catalog of an addons directory.

* :mod:`.manifest`: the typed ``addon.manifest.yaml`` (spec §1.4) and its loaders.
* :mod:`.catalog`: discovery of the addons of a directory (§1.5, §6.1) and their sync provenance (§4.4).
* :mod:`.names`: the addon/implementation name rule and the export name (§0), defined once.

Nothing here talks to a registry; :mod:`kaddons.oci` knows nothing about addons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaddons._lazy import lazy_getattr

if TYPE_CHECKING:
    from .catalog import (
        DEFAULT_VERSION,
        DIGESTS_DIR,
        Addon,
        Catalog,
        CatalogProblem,
        Implementation,
        SyncRecord,
        digest_path,
        discover,
        sidecar_path,
        sync_record,
    )
    from .manifest import (
        MANIFEST_FILE,
        AddonImplementation,
        AddonManifest,
        load_manifest,
        parse_manifest_bytes,
        parse_manifest_text,
    )
    from .names import check_name, export_name, is_single_implementation, is_valid_name

_LAZY = {
    "DEFAULT_VERSION": ".catalog",
    "DIGESTS_DIR": ".catalog",
    "Addon": ".catalog",
    "Catalog": ".catalog",
    "CatalogProblem": ".catalog",
    "Implementation": ".catalog",
    "SyncRecord": ".catalog",
    "digest_path": ".catalog",
    "discover": ".catalog",
    "sidecar_path": ".catalog",
    "sync_record": ".catalog",
    "MANIFEST_FILE": ".manifest",
    "AddonImplementation": ".manifest",
    "AddonManifest": ".manifest",
    "load_manifest": ".manifest",
    "parse_manifest_bytes": ".manifest",
    "parse_manifest_text": ".manifest",
    "check_name": ".names",
    "export_name": ".names",
    "is_single_implementation": ".names",
    "is_valid_name": ".names",
}
"""Where each public name lives: imported on first use (PEP 562), so that importing one
submodule does not import them all (the start-up time of every Job and poller run)."""

__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "DEFAULT_VERSION",
    "DIGESTS_DIR",
    "MANIFEST_FILE",
    "Addon",
    "AddonImplementation",
    "AddonManifest",
    "Catalog",
    "CatalogProblem",
    "Implementation",
    "SyncRecord",
    "check_name",
    "digest_path",
    "discover",
    "export_name",
    "is_single_implementation",
    "is_valid_name",
    "load_manifest",
    "parse_manifest_bytes",
    "parse_manifest_text",
    "sidecar_path",
    "sync_record",
]
