"""The K2s addon format as the tests know it: literal values copied from
``shared/reference/k2s-addon-delivery.md`` (§2.4, §2.9-2.12, §3.5), never imported from kaddons.

The tests build K2s archives and compute the files an import or sync must produce from these facts, so
that a wrong key, media type or routing rule in :mod:`kaddons.addons.format` or
:mod:`kaddons.addons.contents` fails a test instead of passing both directions of the compatibility
claim (``tests/addons/test_k2s_facts.py`` compares the two).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ANN",
    "ARTIFACT_TYPE",
    "CONFIG_MEDIA_TYPE",
    "CONFIG_PATTERNS",
    "DOC_PATTERNS",
    "FORMAT",
    "LAYERS",
    "LICENSES",
    "VENDOR",
    "K2sLayer",
    "catalog_files",
    "k2s_layer",
]


@dataclass(frozen=True)
class K2sLayer:
    """One row of the layer table of §2.9."""

    number: int
    kind: str
    title: str
    media_type: str
    gzip: bool


LAYERS = (  # §2.9, in manifest order
    K2sLayer(0, "config", "config.tar.gz", "application/vnd.k2s.addon.configfiles.v1.tar+gzip", True),
    K2sLayer(1, "manifests", "manifests.tar.gz", "application/vnd.k2s.addon.manifests.v1.tar+gzip", True),
    K2sLayer(2, "charts", "charts.tar.gz", "application/vnd.cncf.helm.chart.content.v1.tar+gzip", True),
    K2sLayer(3, "scripts", "scripts.tar.gz", "application/vnd.k2s.addon.scripts.v1.tar+gzip", True),
    K2sLayer(4, "images-linux", "images-linux.tar", "application/vnd.oci.image.layer.v1.tar", False),
    K2sLayer(5, "images-windows", "images-windows.tar", "application/vnd.k2s.addon.images-windows.v1.tar", False),
    K2sLayer(6, "packages", "packages.tar.gz", "application/vnd.k2s.addon.packages.v1.tar+gzip", True),
)
ARTIFACT_TYPE = "application/vnd.k2s.addon.v1"  # §2.11
CONFIG_MEDIA_TYPE = "application/vnd.k2s.addon.config.v1+json"  # §2.10
VENDOR = "Siemens Healthineers AG"
LICENSES = "MIT"
ANN = {  # §2.11-2.12 annotation keys
    "ref_name": "org.opencontainers.image.ref.name",
    "title": "org.opencontainers.image.title",
    "version": "org.opencontainers.image.version",
    "created": "org.opencontainers.image.created",
    "vendor": "org.opencontainers.image.vendor",
    "licenses": "org.opencontainers.image.licenses",
    "description": "org.opencontainers.image.description",
    "addon_name": "vnd.k2s.addon.name",
    "implementation": "vnd.k2s.addon.implementation",
    "export_name": "vnd.k2s.addon.export-name",
    "addon_count": "vnd.k2s.addon.count",
    "k2s_version": "vnd.k2s.version",
    "export_date": "vnd.k2s.export.date",
    "export_type": "vnd.k2s.export.type",
}
CONFIG_PATTERNS = ("values.yaml", "values-*.yaml", "settings.json", "*.config.json", "*.config.yaml")  # §2.4 (b)
DOC_PATTERNS = ("*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg", "*.drawio", "*.drawio.png", "*.md", "*.ndjson",
                "*.json", "*.license", "dockerfile*")  # §2.4 layer 3 (c)


def k2s_layer(kind: object) -> K2sLayer:
    """The row of ``kind``: a kind name (``"config"``) or anything whose ``value`` is one (an enum member)."""
    name = getattr(kind, "value", kind)
    return next(row for row in LAYERS if row.kind == name)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in patterns)


def _tree(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def layer_files(impl_dir: Path, addon: str) -> dict[str, dict[str, bytes]]:
    """Layers 0-3 of the implementation folder ``impl_dir`` of addon ``addon`` (``metadata.name``) by the
    rules of §2.4 (kind -> member -> bytes), without the manifest (layer 0 (a)) and the generated
    ``gitops-sync/`` (§2.5): config patterns, ``config/`` and addon-specific JSON (d), everything under
    ``manifests/``, ``manifests/chart/`` again as the charts layer, scripts and documents (only the top
    README)."""
    config = {p.name: p.read_bytes() for p in sorted(impl_dir.iterdir()) if p.is_file() and _matches(
        p.name, CONFIG_PATTERNS)}
    config |= {f"config/{path}": data for path, data in _tree(impl_dir / "config").items()}
    for path in sorted(impl_dir.rglob("*.json")):  # (d) addon-specific JSON, copied flat
        if path.parent.name == addon and not path.name.lower().startswith(("package", "tsconfig", "eslint", "babel")) \
                and not re.search(rb'"apiVersion"\s*:\s*"', path.read_bytes()):
            config[path.name] = path.read_bytes()
    manifests = {path: data for path, data in _tree(impl_dir / "manifests").items()
                 if not path.startswith("gitops-sync/")}
    charts = _tree(impl_dir / "manifests" / "chart")
    scripts = {"README.md": (impl_dir / "README.md").read_bytes()} if (impl_dir / "README.md").is_file() else {}
    for path, data in _tree(impl_dir).items():
        leaf = path.rsplit("/", 1)[-1]
        if leaf.lower().endswith((".ps1", ".psm1")) or (_matches(leaf, DOC_PATTERNS) and leaf != "README.md"):
            scripts[path] = data
    layers = {"config": config, "manifests": manifests, "scripts": scripts}
    if (impl_dir / "manifests" / "chart").is_dir():
        layers["charts"] = charts
    return layers


def catalog_files(impl_dir: Path, addon: str) -> dict[str, bytes]:
    """What an imported or synced implementation folder holds for ``impl_dir`` (§3.5-3.6): layers 0-3 at
    their places, without the generated ``gitops-sync/`` files and the addon manifest."""
    layers = layer_files(impl_dir, addon)
    files = {f"manifests/{p}": d for p, d in layers["manifests"].items()}
    files |= {f"manifests/chart/{p}": d for p, d in layers.get("charts", {}).items()}
    return files | layers["scripts"] | layers["config"]


class _Format:
    """The facts under the names :mod:`kaddons.addons.format` uses, so format tests read like the code they
    check while taking nothing from it."""

    LAYERS = LAYERS
    ARTIFACT_TYPE = ARTIFACT_TYPE
    CONFIG_MEDIA_TYPE = CONFIG_MEDIA_TYPE
    VENDOR = VENDOR
    LICENSES = LICENSES
    ANN_REF_NAME, ANN_TITLE, ANN_VERSION = ANN["ref_name"], ANN["title"], ANN["version"]
    ANN_CREATED, ANN_VENDOR, ANN_LICENSES = ANN["created"], ANN["vendor"], ANN["licenses"]
    ANN_DESCRIPTION, ANN_ADDON_NAME, ANN_IMPLEMENTATION = ANN["description"], ANN["addon_name"], ANN["implementation"]
    ANN_EXPORT_NAME, ANN_ADDON_COUNT, ANN_K2S_VERSION = ANN["export_name"], ANN["addon_count"], ANN["k2s_version"]
    ANN_EXPORT_DATE, ANN_EXPORT_TYPE = ANN["export_date"], ANN["export_type"]


FORMAT = _Format
"""``from tests.helpers.k2s_facts import FORMAT as fmt``: the K2s facts as literal values."""
