"""Push small but real container images (OCI config with os/architecture, gzip tar layers) for pull tests.

:func:`push_image` builds one image manifest per platform and, by default, an image index over them,
as multi-arch images on Docker Hub or registry.k8s.io are laid out. Content is deterministic; ``salt``
makes it unique (so a new push to the same tag gets new digests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kaddons.oci import mediatypes as mt
from kaddons.oci.models import Descriptor, canonical_json
from kaddons.oci.store import Store
from tests.helpers.content import push_bytes, push_json, tgz

__all__ = ["DEFAULT_PLATFORMS", "WINDOWS_OS_VERSION", "PushedImage", "push_image"]

WINDOWS_OS_VERSION = "10.0.17763.6189"
DEFAULT_PLATFORMS: tuple[tuple[str, str, str | None], ...] = (
    ("linux", "amd64", None), ("linux", "arm64", "v8"), ("windows", "amd64", None),
)


def _key(os_name: str, arch: str, variant: str | None) -> str:
    return f"{os_name}/{arch}" + (f"/{variant}" if variant else "")


@dataclass
class PushedImage:
    """What :func:`push_image` pushed. ``root`` is what the tag names (the index, or the one manifest);
    ``manifests``/``manifest_bytes`` are keyed ``os/arch[/variant]``; ``blobs`` holds the config and
    layer digests of each platform."""

    root: Descriptor
    root_bytes: bytes
    manifests: dict[str, Descriptor] = field(default_factory=dict)
    manifest_bytes: dict[str, bytes] = field(default_factory=dict)
    blobs: dict[str, set[str]] = field(default_factory=dict)


def push_image(store: Store, tag: str, *, salt: str = "", platforms: tuple[tuple[str, str, str | None], ...]
               = DEFAULT_PLATFORMS, layers: int = 2, index: bool = True) -> PushedImage:
    """Push an image and tag it ``tag``: per platform an OCI config (``os``, ``architecture``,
    ``variant``, ``rootfs.diff_ids``) and ``layers`` gzip tar layers, then (``index=True``) an OCI
    image index listing the manifests with their ``platform``; ``index=False`` pushes only the
    first platform's manifest and tags it."""
    result: PushedImage | None = None
    entries = []
    for os_name, arch, variant in platforms:
        key = _key(os_name, arch, variant)
        layer_descs = [
            push_bytes(store, tgz({f"layer{n}/{key}.txt": f"{key} layer {n} {salt}\n".encode()}), mt.OCI_LAYER_GZIP)
            for n in range(layers)
        ]
        config_doc = {"architecture": arch, "os": os_name, "rootfs": {"type": "layers", "diff_ids": []},
                      "config": {"Cmd": ["/bin/true"]}, "created": "2024-01-01T00:00:00Z"}
        if variant:
            config_doc["variant"] = variant
        if os_name == "windows":
            config_doc["os.version"] = WINDOWS_OS_VERSION
        config = push_json(store, config_doc, mt.OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config.to_json_dict(),
                    "layers": [d.to_json_dict() for d in layer_descs]}
        raw = canonical_json(manifest)
        platform = {"os": os_name, "architecture": arch, **({"variant": variant} if variant else {}),
                    **({"os.version": WINDOWS_OS_VERSION} if os_name == "windows" else {})}
        desc = push_bytes(store, raw, mt.OCI_MANIFEST, platform=platform)
        if result is None:
            result = PushedImage(root=desc, root_bytes=raw)
        result.manifests[key] = desc
        result.manifest_bytes[key] = raw
        result.blobs[key] = {config.digest, *(d.digest for d in layer_descs)}
        entries.append(desc)
        if not index:
            break
    assert result is not None
    if index:
        raw = canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                              "manifests": [d.to_json_dict() for d in entries]})
        result.root, result.root_bytes = push_bytes(store, raw, mt.OCI_INDEX), raw
    else:
        result.root = result.root.model_copy(update={"platform": None})
    store.tag(result.root, tag)
    return result
