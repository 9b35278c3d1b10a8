"""The K2s addon artifact format, defined once (spec §2.9-2.12, Appendix B).

An exported addon implementation is one OCI image manifest with ``artifactType``
:data:`ARTIFACT_TYPE`, a config blob of media type :data:`CONFIG_MEDIA_TYPE`, and up to seven layers
(:data:`LAYERS`, always in that order). Export, import and sync all route layers through this table;
nobody else spells a media type, a layer title or an annotation key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "ANN_ADDON_COUNT", "ANN_ADDON_NAME", "ANN_CREATED", "ANN_DESCRIPTION", "ANN_EXPORT_DATE", "ANN_EXPORT_NAME",
    "ANN_EXPORT_TYPE", "ANN_IMPLEMENTATION", "ANN_K2S_VERSION", "ANN_LICENSES", "ANN_REF_NAME", "ANN_TITLE",
    "ANN_VENDOR", "ANN_VERSION", "ARTIFACT_TYPE", "CONFIG_MEDIA_TYPE", "LAYERS", "LICENSES", "VENDOR",
    "LayerKind", "LayerSpec", "layer_for_media_type", "layer_spec",
]

ARTIFACT_TYPE = "application/vnd.k2s.addon.v1"
"""``artifactType`` of every addon manifest and of its index descriptor (§2.11-2.12)."""
CONFIG_MEDIA_TYPE = "application/vnd.k2s.addon.config.v1+json"
"""Media type of the config blob ("metadata.json", §2.10); informational, never read by K2s."""

# Annotation keys (§2.11, §2.12). OCI standard keys first, then K2s's.
ANN_REF_NAME = "org.opencontainers.image.ref.name"
ANN_TITLE = "org.opencontainers.image.title"
ANN_VERSION = "org.opencontainers.image.version"
ANN_CREATED = "org.opencontainers.image.created"
ANN_VENDOR = "org.opencontainers.image.vendor"
ANN_LICENSES = "org.opencontainers.image.licenses"
ANN_DESCRIPTION = "org.opencontainers.image.description"
ANN_ADDON_NAME = "vnd.k2s.addon.name"
"""REQUIRED on the manifest [COMPAT]: the addon's ``metadata.name``."""
ANN_IMPLEMENTATION = "vnd.k2s.addon.implementation"
"""REQUIRED on the manifest [COMPAT]: the implementation name (equal to the addon name when single)."""
ANN_EXPORT_NAME = "vnd.k2s.addon.export-name"
ANN_ADDON_COUNT = "vnd.k2s.addon.count"
ANN_K2S_VERSION = "vnd.k2s.version"
ANN_EXPORT_DATE = "vnd.k2s.export.date"
ANN_EXPORT_TYPE = "vnd.k2s.export.type"

VENDOR = "Siemens Healthineers AG"
"""``org.opencontainers.image.vendor`` K2s writes; kaddons keeps it so K2s tooling sees the same values."""
LICENSES = "MIT"


class LayerKind(enum.Enum):
    """The seven layer kinds of §2.9, in manifest order."""

    CONFIG = "config"
    MANIFESTS = "manifests"
    CHARTS = "charts"
    SCRIPTS = "scripts"
    IMAGES_LINUX = "images-linux"
    IMAGES_WINDOWS = "images-windows"
    PACKAGES = "packages"


@dataclass(frozen=True)
class LayerSpec:
    """One row of the layer table (§2.9, §3.5, §4.7).

    ``number`` is K2s's layer number (0-6, also the order in ``layers[]``); ``title`` the
    ``org.opencontainers.image.title`` annotation; ``gzip`` whether the blob is a gzip tar (else a plain
    tar of ``*.tar`` members); ``pattern`` the case-insensitive substring K2s's importer routes on
    (first match in :data:`ROUTING_ORDER` wins); ``target`` where its members land relative to the
    implementation directory (``None``: not in the implementation directory, see import).
    """

    kind: LayerKind
    number: int
    media_type: str
    title: str
    gzip: bool
    pattern: str
    target: str | None


LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec(LayerKind.CONFIG, 0, "application/vnd.k2s.addon.configfiles.v1.tar+gzip", "config.tar.gz", True,
              "configfiles", None),
    LayerSpec(LayerKind.MANIFESTS, 1, "application/vnd.k2s.addon.manifests.v1.tar+gzip", "manifests.tar.gz", True,
              "manifests", "manifests"),
    LayerSpec(LayerKind.CHARTS, 2, "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "charts.tar.gz", True,
              "helm.chart", "manifests/chart"),
    LayerSpec(LayerKind.SCRIPTS, 3, "application/vnd.k2s.addon.scripts.v1.tar+gzip", "scripts.tar.gz", True,
              "scripts", "."),
    LayerSpec(LayerKind.IMAGES_LINUX, 4, "application/vnd.oci.image.layer.v1.tar", "images-linux.tar", False,
              "image.layer", None),
    LayerSpec(LayerKind.IMAGES_WINDOWS, 5, "application/vnd.k2s.addon.images-windows.v1.tar", "images-windows.tar",
              False, "images-windows", None),
    LayerSpec(LayerKind.PACKAGES, 6, "application/vnd.k2s.addon.packages.v1.tar+gzip", "packages.tar.gz", True,
              "packages", None),
)
"""The layer table, in manifest order."""

_BY_KIND = {spec.kind: spec for spec in LAYERS}
_BY_MEDIA_TYPE = {spec.media_type: spec for spec in LAYERS}
ROUTING_ORDER: tuple[LayerKind, ...] = (
    LayerKind.CONFIG, LayerKind.MANIFESTS, LayerKind.CHARTS, LayerKind.SCRIPTS,
    LayerKind.IMAGES_WINDOWS, LayerKind.IMAGES_LINUX, LayerKind.PACKAGES,
)
"""K2s Import.ps1's wildcard routing order (§3.5): ``*images-windows*`` is tried before ``*image.layer*``."""


def layer_spec(kind: LayerKind) -> LayerSpec:
    """The table row of ``kind``."""
    return _BY_KIND[kind]


def layer_for_media_type(media_type: str) -> LayerSpec | None:
    """The layer a media type is routed to, as K2s routes it (§3.5, §4.7), or ``None`` (ignored layer).

    An exact media type of :data:`LAYERS` wins; otherwise the case-insensitive substrings are tried in
    :data:`ROUTING_ORDER`, so variants K2s accepts (``…configfiles.v2…``) are accepted too. The empty
    descriptor type (``application/vnd.oci.empty.v1+json``) and unknown types give ``None``.
    """
    exact = _BY_MEDIA_TYPE.get(media_type)
    if exact is not None:
        return exact
    lowered = media_type.lower()
    for kind in ROUTING_ORDER:
        spec = _BY_KIND[kind]
        if spec.pattern in lowered:
            return spec
    return None
