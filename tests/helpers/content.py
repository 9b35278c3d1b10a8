"""Build OCI test content into any :class:`~kaddons.oci.store.Store` (layout, archive, registry).

Everything is deterministic: the same arguments give the same bytes and digests, and ``salt``
makes content unique when tests share a store or a registry. Children are pushed before parents,
as registries require, and the top-level index is tagged last.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from kaddons.oci import mediatypes as mt
from kaddons.oci.models import Descriptor, canonical_json, successors
from kaddons.oci.store import ReadOnlyStore, Store, fetch_bytes

__all__ = [
    "ADDON_ARTIFACT_TYPE",
    "ADDON_CONFIG_TYPE",
    "CHARTS_LAYER",
    "MANIFESTS_LAYER",
    "Artifact",
    "build_artifact",
    "graph",
    "index_json",
    "make_artifact",
    "push_bytes",
    "push_json",
    "read_all",
    "tgz",
]

ADDON_ARTIFACT_TYPE = "application/vnd.k2s.addon.v1"
ADDON_CONFIG_TYPE = "application/vnd.k2s.addon.config.v1+json"
MANIFESTS_LAYER = "application/vnd.k2s.addon.manifests.v1.tar+gzip"
CHARTS_LAYER = "application/vnd.k2s.addon.charts.v1.tar+gzip"


def push_bytes(store: Store, data: bytes, media_type: str, **fields: Any) -> Descriptor:
    """Push ``data`` and return its descriptor; ``fields`` are descriptor fields by spec name
    (``artifactType=``, ``annotations=``, ``platform=``...)."""
    desc = Descriptor.for_bytes(data, media_type, **fields)
    store.push(desc, io.BytesIO(data))
    return desc


def push_json(store: Store, document: dict[str, Any], media_type: str, **fields: Any) -> Descriptor:
    """Push a JSON document as canonical JSON; see :func:`push_bytes`."""
    return push_bytes(store, canonical_json(document), media_type, **fields)


def tgz(files: dict[str, bytes]) -> bytes:
    """A deterministic tar+gzip of ``{name: content}`` (mtime 0, sorted names)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


@dataclass
class Artifact:
    """What :func:`build_artifact` pushed: the top-level ``index``, its two ``manifests`` (linux,
    windows), and every descriptor pushed in push order (``blobs``: configs, layers, manifests, index)."""

    index: Descriptor
    manifests: list[Descriptor]
    blobs: list[Descriptor] = field(default_factory=list)

    @property
    def digests(self) -> set[str]:
        return {d.digest for d in self.blobs}


def build_artifact(store: Store, tag: str | None = None, *, name: str = "demo", version: str = "1.0.0",
                   salt: str = "", layer_size: int = 0) -> Artifact:
    """Push a K2s-like addon artifact: an image index (``artifactType``, annotations) of two image
    manifests. ``linux`` has the empty config, ``windows`` a custom config media type; both have
    ``artifactType``, layer media types :data:`MANIFESTS_LAYER` and :data:`CHARTS_LAYER` with title
    annotations, and are listed in the index with ``artifactType``, ``platform`` and annotations.
    ``layer_size`` > 0 adds that many extra (incompressible-ish) bytes to each manifests layer.
    Tags the index with ``tag`` unless it is ``None``.
    """
    pushed: list[Descriptor] = []
    manifests = []
    for variant in ("linux", "windows"):
        if variant == "linux":
            config = push_bytes(store, b"{}", mt.OCI_EMPTY)
        else:
            config = push_json(store, {"name": name, "version": version, "salt": salt}, ADDON_CONFIG_TYPE)
        filler = bytes((i * 7919 + len(salt)) % 251 for i in range(layer_size))
        layers = [
            push_bytes(store, tgz({f"{variant}/deploy.yaml": f"kind: ConfigMap # {name} {salt}\n".encode(),
                                   f"{variant}/filler.bin": filler}),
                       MANIFESTS_LAYER, annotations={mt.ANNOTATION_TITLE: f"manifests-{variant}.tgz"}),
            push_bytes(store, tgz({f"{variant}/chart/Chart.yaml": f"name: {name}\nversion: {version}\n".encode()}),
                       CHARTS_LAYER, annotations={mt.ANNOTATION_TITLE: f"charts-{variant}.tgz"}),
        ]
        manifest = {
            "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": ADDON_ARTIFACT_TYPE,
            "config": config.to_json_dict(), "layers": [d.to_json_dict() for d in layers],
            "annotations": {"vnd.k2s.addon.name": name, "vnd.k2s.addon.variant": variant},
        }
        desc = push_json(store, manifest, mt.OCI_MANIFEST, artifactType=ADDON_ARTIFACT_TYPE,
                         platform={"os": variant, "architecture": "amd64"},
                         annotations={"vnd.k2s.addon.variant": variant})
        pushed += [config, *layers, desc]
        manifests.append(desc)
    index_doc = {
        "schemaVersion": 2, "mediaType": mt.OCI_INDEX, "artifactType": ADDON_ARTIFACT_TYPE,
        "manifests": [d.to_json_dict() for d in manifests],
        "annotations": {"org.opencontainers.image.version": version, "vnd.k2s.addon.name": name},
    }
    index = push_json(store, index_doc, mt.OCI_INDEX, artifactType=ADDON_ARTIFACT_TYPE,
                      annotations={"org.opencontainers.image.version": version})
    pushed.append(index)
    if tag is not None:
        store.tag(index, tag)
    return Artifact(index=index, manifests=manifests, blobs=pushed)


def make_artifact(store: Store, tag: str | None = None, **options: Any) -> Descriptor:
    """:func:`build_artifact` and return the index descriptor (as pushed, without ``ref.name``)."""
    return build_artifact(store, tag, **options).index


def read_all(store: ReadOnlyStore, desc: Descriptor) -> bytes:
    """The whole (verified) content of ``desc``; for test-sized blobs only."""
    with store.fetch(desc) as stream:
        return stream.read()


def graph(store: ReadOnlyStore, root: Descriptor) -> list[Descriptor]:
    """``root`` and every descriptor reachable from it, breadth first, one per digest."""
    seen: dict[str, Descriptor] = {}
    queue = [root]
    while queue:
        desc = queue.pop(0)
        if desc.digest in seen:
            continue
        seen[desc.digest] = desc
        if desc.is_manifest:
            queue.extend(successors(desc, fetch_bytes(store, desc)))
    return list(seen.values())


def index_json(layout_root: Any) -> dict[str, Any]:
    """The parsed ``index.json`` of a layout directory (a ``pathlib.Path``)."""
    return json.loads((layout_root / "index.json").read_bytes())
