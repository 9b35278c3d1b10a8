"""Build addon archives the way K2s's ``Export.ps1`` does (spec §2), from the real test-data addons.

What makes them K2s-like, on purpose (Round trip B of §7.6):

* layers are bsdtar ``tar -czf <dest> .`` output: members ``./``, ``./dir/``, ``./dir/file`` in
  directory order, gzip with a header timestamp; image layers are plain tars of ``./<file>.tar``;
* blobs, manifests and ``index.json`` are PowerShell 5.1 ``ConvertTo-Json`` text: indented, two spaces
  after each colon, CRLF, ``'<>&`` escaped as ``\\u0027`` ...;
* manifest annotations as §2.11, index annotations as §2.12 (or, with ``round_trip=True``, only
  ``org.opencontainers.image.ref.name`` as after ``oras copy --to-oci-layout``, §2.16);
* the outer tar is ``tar -cvf <file> .``: ``./``, ``./blobs/``, ``./blobs/sha256/``, the blobs,
  ``./index.json``, ``./oci-layout``.

Layer contents follow the export rules of §2.4 for the addons used by the tests (``metrics``,
``ingress``, ``storage``, ``dashboard``).
"""

from __future__ import annotations

import gzip as gzip_module
import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaddons.addons.names import export_name
from kaddons.oci import mediatypes as mt
from tests.helpers.k2s_facts import ANN, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, LICENSES, VENDOR, k2s_layer, layer_files

ANN_ADDON_COUNT, ANN_ADDON_NAME, ANN_CREATED = ANN["addon_count"], ANN["addon_name"], ANN["created"]
ANN_DESCRIPTION, ANN_EXPORT_DATE, ANN_EXPORT_NAME = ANN["description"], ANN["export_date"], ANN["export_name"]
ANN_EXPORT_TYPE, ANN_IMPLEMENTATION, ANN_K2S_VERSION = ANN["export_type"], ANN["implementation"], ANN["k2s_version"]
ANN_LICENSES, ANN_REF_NAME, ANN_TITLE = ANN["licenses"], ANN["ref_name"], ANN["title"]
ANN_VENDOR, ANN_VERSION = ANN["vendor"], ANN["version"]

__all__ = [
    "EXPORT_DATE", "K2S_VERSION", "MTIME", "Artifact", "Layer", "addon_artifact", "digest", "filtered_manifest",
    "k2s_tar", "layer", "ps_json", "raw_tar", "snapshot", "write_k2s_archive",
]

K2S_VERSION = "2.0.0"
EXPORT_DATE = "2026-08-22T16:23:08Z"  # local time with a literal Z, as K2s writes it (§8.1)
MTIME = 1_787_000_000


def digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ps_json(document: Any) -> bytes:
    """``document`` as Windows PowerShell 5.1 ``ConvertTo-Json`` writes it (§2.12): UTF-8, no BOM."""
    text = json.dumps(document, indent=4, separators=(",", ":  "), ensure_ascii=False)
    for char in "'<>&":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text.replace("\n", "\r\n").encode("utf-8")


def _tarinfo(name: str, *, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = size, MTIME
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    return info


def _gzip(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip_module.GzipFile(fileobj=out, mode="wb", mtime=MTIME, filename="") as gz:
        gz.write(data)
    return out.getvalue()


def raw_tar(members: list[tuple[tarfile.TarInfo, bytes | None]], *, gzip: bool = True) -> bytes:
    """A tar of exactly ``members`` (headers as given, data for regular files), gzip-compressed if ``gzip``:
    for the hostile archives no exporter writes (links, devices, absolute names ...)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return _gzip(raw.getvalue()) if gzip else raw.getvalue()


def k2s_tar(files: dict[str, bytes], *, gzip: bool = True) -> bytes:
    """bsdtar ``tar -c[z]f <dest> .`` of a staging folder holding ``files`` (relative POSIX paths):
    ``./`` first, each directory entry (``./dir/``) before its content, names in sorted order."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [(_tarinfo("./", directory=True), None)]
    children: dict[str, set[str]] = {}
    for path in files:
        parts = path.split("/")
        for depth in range(len(parts)):
            children.setdefault("/".join(parts[:depth]), set()).add("/".join(parts[: depth + 1]))

    def walk(folder: str) -> None:
        for child in sorted(children.get(folder, ()), key=lambda p: p.rsplit("/", 1)[-1].lower()):
            if child in files:
                members.append((_tarinfo(f"./{child}", size=len(files[child])), files[child]))
            else:
                members.append((_tarinfo(f"./{child}/", directory=True), None))
                walk(child)

    walk("")
    return raw_tar(members, gzip=gzip)


@dataclass
class Layer:
    """A layer blob and its descriptor fields."""

    media_type: str
    data: bytes
    title: str | None = None

    @property
    def digest(self) -> str:
        return digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        desc: dict[str, Any] = {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}
        if self.title is not None:
            desc["annotations"] = {ANN_TITLE: self.title}
        return desc


def layer(kind: object, files: dict[str, bytes]) -> Layer:
    """The K2s layer of ``kind`` (a kind name, or an enum member whose value is one) holding ``files``
    (gzip or plain as the layer table of §2.9 says)."""
    spec = k2s_layer(kind)
    return Layer(spec.media_type, k2s_tar(files, gzip=spec.gzip), spec.title)


@dataclass
class Artifact:
    """One exported implementation: its layers, annotations, and the files an import must produce.

    ``manifest_annotations`` and ``index_annotations`` may be edited before writing (tests remove keys).
    ``files`` maps the relative paths of the implementation folder after import to their content.
    """

    addon: str
    implementation: str
    layers: list[Layer]
    version: str = "1.0.0"
    description: str = ""
    manifest_annotations: dict[str, str] = field(default_factory=dict)
    index_annotations: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = export_name(self.addon, self.implementation)
        common = {ANN_VERSION: self.version, ANN_ADDON_NAME: self.addon, ANN_IMPLEMENTATION: self.implementation}
        self.manifest_annotations = self.manifest_annotations or {
            ANN_TITLE: name, ANN_CREATED: EXPORT_DATE, ANN_VENDOR: VENDOR, ANN_LICENSES: LICENSES,
            ANN_DESCRIPTION: self.description or f"K2s addon: {self.addon}", ANN_EXPORT_NAME: name,
            ANN_K2S_VERSION: K2S_VERSION, ANN_EXPORT_DATE: EXPORT_DATE, ANN_EXPORT_TYPE: "specific", **common,
        }
        self.index_annotations = self.index_annotations or {
            ANN_REF_NAME: f"v{self.version}", ANN_TITLE: name, ANN_EXPORT_NAME: name, **common,
        }

    @property
    def export_name(self) -> str:
        return export_name(self.addon, self.implementation)

    def config_blob(self) -> bytes:
        return ps_json({"name": self.addon, "version": self.version, "implementation": self.implementation,
                        "description": self.description, "k2sVersion": K2S_VERSION, "exportDate": EXPORT_DATE})

    def manifest_blob(self) -> bytes:
        config = self.config_blob()
        return ps_json({
            "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "size": len(config), "digest": digest(config)},
            "layers": [item.descriptor() for item in self.layers],
            "annotations": self.manifest_annotations,
        })

    def blobs(self) -> list[bytes]:
        return [self.config_blob(), *(item.data for item in self.layers), self.manifest_blob()]


def filtered_manifest(text: str, implementation: str) -> str:
    """The manifest with only ``implementation`` in ``spec.implementations``, as Export.ps1's yq filter
    leaves it (header and layout kept). Text-based: items start with ``    - name:`` in K2s's files."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if re.match(r"^    - name: ", line)]
    head = lines[: starts[0]]
    blocks = [lines[start:end] for start, end in zip(starts, [*starts[1:], len(lines)], strict=True)]
    chosen = [block for block in blocks if block[0].split(":", 1)[1].strip() == implementation]
    return "".join(head + chosen[0])


def _gitops_sync(testdata: Path, name: str) -> dict[str, bytes]:
    source = testdata / "common" / "manifests" / "addon-sync" / "gitops-sync"
    job = (source / "sync-job.yaml").read_text(encoding="utf-8")
    job = job.replace("EXPORT_TIMESTAMP_PLACEHOLDER", EXPORT_DATE).replace("ADDON_NAME_PLACEHOLDER", name)
    return {"gitops-sync/kustomization.yaml": (source / "kustomization.yaml").read_bytes(),
            "gitops-sync/sync-job.yaml": job.encode("utf-8")}


def addon_artifact(testdata: Path, addon: str, implementation: str | None = None, *, filtered: bool = True,
                   version: str = "1.0.0", images: dict[str, bytes] | None = None,
                   windows_images: dict[str, bytes] | None = None,
                   packages: dict[str, bytes] | None = None) -> Artifact:
    """Export ``addon`` (``implementation`` for a multi-implementation one) of ``testdata`` as K2s does (§2.4).

    ``filtered``: the config-layer manifest keeps only this implementation (``export "ingress nginx"``);
    ``False`` ships the addon's full manifest (``export ingress nginx``, §8.9). ``images`` /
    ``version`` goes into the annotations. ``images`` / ``windows_images`` / ``packages``: files of
    layers 4, 5 and 6 (``{"x.tar": bytes}``, ``{"debianpackages/pkg/p.deb": bytes}``).
    """
    base = testdata / addon
    implementation = implementation or addon
    impl_dir = base if implementation == addon else base / implementation
    manifest_text = (base / "addon.manifest.yaml").read_bytes().decode("utf-8-sig")
    if filtered and implementation != addon:
        manifest_text = filtered_manifest(manifest_text, implementation)
    manifest = manifest_text.encode("utf-8")
    name = export_name(addon, implementation)
    routed = layer_files(impl_dir, addon)
    config = {"addon.manifest.yaml": manifest} | routed["config"]
    manifests = routed["manifests"] | _gitops_sync(testdata, name)
    charts = routed.get("charts", {})
    scripts = routed["scripts"]
    layers = [layer("config", config), layer("manifests", manifests)]
    if "charts" in routed:
        layers.append(layer("charts", charts))
    layers.append(layer("scripts", scripts))
    if images:
        layers.append(layer("images-linux", images))
    if windows_images:
        layers.append(layer("images-windows", windows_images))
    if packages:
        layers.append(layer("packages", packages))
    files = {f"manifests/{p}": d for p, d in manifests.items()} | {f"manifests/chart/{p}": d for p, d in charts.items()}
    files |= scripts | {p: d for p, d in config.items() if p != "addon.manifest.yaml"}
    if implementation == addon:
        files["addon.manifest.yaml"] = manifest
    description = manifest_text.split("description:", 1)[1].splitlines()[0].strip()
    return Artifact(addon=addon, implementation=implementation, layers=layers, version=version,
                    description=description, files=files)


def write_k2s_archive(path: Path, artifacts: list[Artifact], *, round_trip: bool = False,
                      replace_blobs: dict[str, bytes] | None = None) -> Path:
    """Write ``artifacts`` as one K2s ``.oci.tar`` at ``path`` (see the module); returns ``path``.

    ``round_trip``: index entries carry only ``org.opencontainers.image.ref.name`` (§2.16).
    ``replace_blobs``: store these bytes under a digest instead of the real content (corruption tests).
    """
    blobs: dict[str, bytes] = {}
    entries = []
    for artifact in artifacts:
        for data in artifact.blobs():
            blobs[digest(data)] = data
        manifest = artifact.manifest_blob()
        annotations = ({ANN_REF_NAME: artifact.index_annotations.get(ANN_REF_NAME, f"v{artifact.version}")}
                       if round_trip else artifact.index_annotations)
        entry: dict[str, Any] = {"mediaType": mt.OCI_MANIFEST, "size": len(manifest), "digest": digest(manifest)}
        if not round_trip:
            entry["artifactType"] = ARTIFACT_TYPE
        entry["annotations"] = annotations
        entries.append(entry)
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    if not round_trip:
        index["annotations"] = {
            ANN_CREATED: EXPORT_DATE, ANN_VENDOR: VENDOR, ANN_LICENSES: LICENSES, ANN_K2S_VERSION: K2S_VERSION,
            ANN_EXPORT_DATE: EXPORT_DATE, ANN_EXPORT_TYPE: "specific", ANN_ADDON_COUNT: str(len(artifacts)),
        }
    blobs |= replace_blobs or {}
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [
        (_tarinfo("./", directory=True), None), (_tarinfo("./blobs/", directory=True), None),
        (_tarinfo("./blobs/sha256/", directory=True), None),
    ]
    for name, data in sorted(blobs.items()):
        members.append((_tarinfo(f"./blobs/sha256/{name.removeprefix('sha256:')}", size=len(data)), data))
    for name, data in (("./index.json", ps_json(index)), ("./oci-layout", ps_json({"imageLayoutVersion": "1.0.0"}))):
        members.append((_tarinfo(name, size=len(data)), data))
    path.write_bytes(raw_tar(members, gzip=False))
    return path


_UNTRACKED = {".kaddons", ".kaddons/lock", ".kaddons/staging"}


def snapshot(root: Path) -> dict[str, str]:
    """Every entry below ``root`` except kaddons' lock and bookkeeping folders (not their content):
    relative path -> ``dir``, ``link`` or the sha256 of a file. Two equal snapshots mean nothing was
    added, removed or changed."""
    result = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if relative in _UNTRACKED or any(relative.endswith(f"/{name}") for name in _UNTRACKED):
                continue
            if path.is_symlink():
                result[relative] = "link"
            elif path.is_dir():
                result[relative] = "dir"
            else:
                result[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result
