"""Export addons into one K2s-compatible ``.oci.tar`` (spec §2), deterministically.

For every selected implementation (§2.2, :mod:`.selection`): layers 0-3 from the directory tree
(§2.4, :mod:`.contents`) with ``gitops-sync/`` injected (§2.5), images (layers 4-5, §2.7) pulled with
kaddons' own OCI client unless omitted, packages (layer 6, §2.8) unless omitted, the config blob
(§2.10), the image manifest (§2.11); then ``index.json`` (§2.12) and the archive
``K2s-<version>-addons-<names>.oci.tar`` (§2.14), written in one pass and renamed into place.

Determinism (§2.15 [REC]): every timestamp, tar mtime and annotation date is ``SOURCE_DATE_EPOCH``
(seconds, UTC, written ``yyyy-MM-ddTHH:mm:ssZ`` in true UTC, §8.1) or 0 when unset, as ko and other
reproducible OCI builders do; JSON is canonical; tars are sorted with fixed owners and modes. The
same input gives a byte-identical archive.

Differences from K2s, on purpose: an unknown addon or implementation is an error (§8.10); a
multi-implementation addon's ``addon.manifest.yaml`` is always filtered to the exported implementation
(§8.9: K2s ships the whole manifest for ``export ingress nginx``); no cluster or admin rights are needed.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kaddons.errors import RegistryUnavailableError, UsageError
from kaddons.gitops import parse_flavor, render_gitops_sync
from kaddons.oci import mediatypes
from kaddons.oci._tarutil import tar_mtime
from kaddons.oci.archive import BlobSource, write_blobs_archive
from kaddons.oci.models import Descriptor, ImageIndex, ImageManifest, canonical_json

from . import format as fmt
from .catalog import Addon, Implementation, discover
from .contents import layer_entries, left_out, walk_files
from .format import LayerKind, layer_spec
from .manifest import MANIFEST_FILE
from .selection import Selection, select
from .tarball import Entry, HashingWriter, TarOfFiles, write_layer

if TYPE_CHECKING:
    from kaddons.oci.registry import RegistryOptions

__all__ = ["ExportOptions", "ExportResult", "ExportedImplementation", "archive_file_name", "export_addons"]


@dataclass(frozen=True)
class ExportOptions:
    """How to export.

    ``omit_images`` / ``omit_packages`` skip layers 4-5 / 6 (no network then). ``k2s_version`` is
    written to ``vnd.k2s.version`` and the file name; ``None`` reads the ``VERSION`` file of the K2s
    install directory holding the addons directory, else uses :data:`DEFAULT_K2S_VERSION`.
    ``registry_options`` gives the options for an image registry host (credentials, plain HTTP);
    ``image_cache`` keeps pulled image archives between exports (re-pulled only when the tag moved);
    ``platform`` is the platform pulled for Linux images. ``log`` receives progress lines, ``warn`` one
    line per implementation whose files K2s's layer rules leave out (the same list is in the result).
    ``gitops_flavor`` chooses the injected ``gitops-sync/`` Job (§2.5): ``k2s`` (K2s's Windows
    HostProcess Job, [COMPAT]) or ``kaddons`` (a Linux Job running ``kaddons sync``); see
    :mod:`kaddons.gitops.gitops_sync`.
    """

    omit_images: bool = False
    omit_packages: bool = False
    k2s_version: str | None = None
    registry_options: Callable[[str], RegistryOptions] | None = None
    image_cache: Path | None = None
    platform: str = "linux/amd64"
    log: Callable[[str], None] | None = None
    gitops_flavor: str = "k2s"
    warn: Callable[[str], None] | None = None


@dataclass(frozen=True)
class ExportedImplementation:
    """One image manifest of the archive: its names, ``tag`` (``v<version>``), manifest ``digest`` and
    ``size`` (bytes), the titles of its layers in order, and ``left_out``: the files of the implementation
    that K2s's layer rules leave out, as ``(relative path, why)``."""

    addon: str
    implementation: str
    export_name: str
    version: str
    tag: str
    digest: str
    size: int
    layers: list[str]
    left_out: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ExportResult:
    """The archive written and what it holds, in index order."""

    path: Path
    implementations: list[ExportedImplementation] = field(default_factory=list)


def _timestamp(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def archive_file_name(k2s_version: str, export_names: Sequence[str], *, all_addons: bool) -> str:
    """``K2s-<version>-addons-<names>.oci.tar`` (§2.14): ``all``, or the export names lowercased with
    ``[_\\s]+`` runs as ``-``, joined by ``-``."""
    names = "all" if all_addons else "-".join(re.sub(r"[_\s]+", "-", n).lower() for n in export_names)
    return f"K2s-{k2s_version}-addons-{names}.oci.tar"


DEFAULT_K2S_VERSION = "0.0.0"
"""``vnd.k2s.version`` of an export outside a K2s install (no ``VERSION`` file): not tied to a K2s release.
A constant, so that upgrading kaddons changes no artifact digest (never kaddons' own version)."""


def _k2s_version(addons_dir: Path, given: str | None) -> str:
    if given is not None:
        version = given.strip()
    else:
        version_file = addons_dir.resolve().parent / "VERSION"
        version = (version_file.read_text(encoding="utf-8-sig").strip() if version_file.is_file()
                   else DEFAULT_K2S_VERSION)
    if not version or any(c in version for c in "/\\\0") or version.startswith("."):
        raise UsageError(f"K2s version {version!r} cannot be part of a file name: pass --k2s-version X.Y.Z")
    return version


def _filtered_manifest(addon: Addon, impl: Implementation) -> Entry:
    """The config layer's ``addon.manifest.yaml``: verbatim for a single implementation, else filtered to ``impl``."""
    if impl.single:
        return Entry(MANIFEST_FILE, addon.manifest_path)
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments and the SPDX header are kept
    yaml.preserve_quotes = True
    yaml.width = 4096
    data = yaml.load(addon.manifest_path.read_text(encoding="utf-8-sig"))
    implementations = data["spec"]["implementations"]
    for i in reversed(range(len(implementations))):
        if implementations[i].get("name") != impl.name:
            del implementations[i]
    out = io.StringIO()
    yaml.dump(data, out)
    return Entry(MANIFEST_FILE, out.getvalue().encode("utf-8"))


def _content_digest(layers: dict[LayerKind, list[Entry]]) -> str:
    """A digest of layers 0-3's member names and contents (without ``gitops-sync/``), independent of tar/gzip."""
    h = hashlib.sha256()
    for kind in sorted(layers, key=lambda k: layer_spec(k).number):
        h.update(f"{kind.value}\0".encode())
        for entry in layers[kind]:
            content = hashlib.sha256()
            if isinstance(entry.source, bytes):
                content.update(entry.source)
            else:
                with entry.source.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        content.update(chunk)
            h.update(f"{entry.name}\0{content.hexdigest()}\0".encode())
    return f"sha256:{h.hexdigest()}"


class _Builder:
    """Builds the blobs of one export in a staging directory; ``blobs`` maps digest -> source."""

    def __init__(self, staging: Path, options: ExportOptions, mtime: int) -> None:
        self.staging = staging
        self.options = options
        self.mtime = mtime
        self.timestamp = _timestamp(mtime)
        self.blobs: dict[str, BlobSource] = {}
        self._count = 0

    def _log(self, message: str) -> None:
        if self.options.log is not None:
            self.options.log(message)

    def gzip_layer(self, kind: LayerKind, entries: list[Entry]) -> Descriptor:
        self._count += 1
        path = self.staging / f"layer-{self._count}.tar.gz"
        with path.open("wb") as raw:
            out = HashingWriter(raw)
            write_layer(out, entries, mtime=self.mtime)  # type: ignore[arg-type]
        return self._add(kind, out.digest, out.size, path)

    def _add(self, kind: LayerKind, digest: str, size: int, source: BlobSource) -> Descriptor:
        spec = layer_spec(kind)
        self.blobs.setdefault(digest, source)
        return Descriptor(mediaType=spec.media_type, digest=digest, size=size,
                          annotations={fmt.ANN_TITLE: spec.title})

    def image_layers(self, addon: Addon, impl: Implementation) -> list[Descriptor]:
        from .images import discover_images, pull_images

        images = discover_images(impl, addon.directory)
        if not images.linux and not images.windows:
            return []
        self._log(f"{impl.export_name}: pulling {len(images.linux)} Linux and {len(images.windows)} Windows images")
        cache = self.options.image_cache or (self.staging / "images")
        cache.mkdir(parents=True, exist_ok=True)
        try:
            pulled = pull_images(images, cache, options_for=self.options.registry_options,
                                 platform=self.options.platform)
        except RegistryUnavailableError as err:  # offline, most often: the way out is not --insecure
            from kaddons.oci.registry._errors import INSECURE_HINT

            reason = str(err).replace(INSECURE_HINT, "").rstrip(" ;:,")
            raise RegistryUnavailableError(
                f"{impl.export_name}: its images cannot be pulled ({reason}); without access to the image "
                "registries, export with --omit-images (and --omit-packages)", retry_after=err.retry_after) from None
        layers = []
        for kind, windows in ((LayerKind.IMAGES_LINUX, False), (LayerKind.IMAGES_WINDOWS, True)):
            files = {p.file_name: p.path for p in pulled if p.windows == windows}
            if files:
                tar = TarOfFiles(files, mtime=self.mtime)
                layers.append(self._add(kind, tar.digest(), tar.size(), tar))
        return layers

    def package_layer(self, impl: Implementation) -> Descriptor | None:
        offline = impl.spec.offline_usage
        if offline is None:
            return None
        from .packages import fetch_packages

        self._count += 1
        folder = self.staging / f"packages-{self._count}"
        folder.mkdir()
        fetch_packages(offline, folder, log=self.options.log)
        entries = [Entry(rel, path) for rel, path in walk_files(folder, confine=folder)]
        return self.gzip_layer(LayerKind.PACKAGES, entries) if entries else None

    def implementation(self, selection: Selection, impl: Implementation, k2s_version: str,
                       export_type: str) -> tuple[Descriptor, ExportedImplementation]:
        addon = selection.addon
        manifest_entry = _filtered_manifest(addon, impl)
        plain = layer_entries(impl.directory, addon.name, manifest=manifest_entry)
        gitops = render_gitops_sync(impl.export_name, timestamp=self.timestamp, content_digest=_content_digest(plain),
                                    flavor=self.options.gitops_flavor)
        layers_in = layer_entries(impl.directory, addon.name, manifest=manifest_entry, gitops_sync=gitops)
        dropped = left_out(impl.directory, layers_in)
        if dropped and self.options.warn is not None:
            shown = ", ".join(f"{rel} ({why})" for rel, why in dropped[:_MAX_LISTED])
            more = f" and {len(dropped) - _MAX_LISTED} more" if len(dropped) > _MAX_LISTED else ""
            self.options.warn(f"{impl.export_name}: {len(dropped)} file(s) left out by K2s's layer rules: "
                              f"{shown}{more}")
        ordered = sorted(layers_in, key=lambda k: layer_spec(k).number)
        layers = [self.gzip_layer(kind, layers_in[kind]) for kind in ordered]
        if not self.options.omit_images:
            layers.extend(self.image_layers(addon, impl))
        if not self.options.omit_packages and (packages := self.package_layer(impl)) is not None:
            layers.append(packages)
        description = addon.description
        config = canonical_json({
            "name": addon.name, "version": impl.version, "implementation": impl.name, "description": description,
            "k2sVersion": k2s_version, "exportDate": self.timestamp,
        })
        config_desc = Descriptor.for_bytes(config, fmt.CONFIG_MEDIA_TYPE)
        self.blobs.setdefault(config_desc.digest, config)
        names = {fmt.ANN_ADDON_NAME: addon.name, fmt.ANN_IMPLEMENTATION: impl.name,
                 fmt.ANN_EXPORT_NAME: impl.export_name}
        manifest = ImageManifest(
            schemaVersion=2, mediaType=mediatypes.OCI_MANIFEST, artifactType=fmt.ARTIFACT_TYPE, config=config_desc,
            layers=layers, annotations={
                fmt.ANN_TITLE: impl.export_name, fmt.ANN_VERSION: impl.version, fmt.ANN_CREATED: self.timestamp,
                fmt.ANN_VENDOR: fmt.VENDOR, fmt.ANN_LICENSES: fmt.LICENSES,
                fmt.ANN_DESCRIPTION: description or f"K2s addon: {addon.name}",
                **names, fmt.ANN_K2S_VERSION: k2s_version, fmt.ANN_EXPORT_DATE: self.timestamp,
                fmt.ANN_EXPORT_TYPE: export_type,
            })
        raw = canonical_json(manifest.to_json_dict())
        tag = f"v{impl.version}"
        desc = Descriptor.for_bytes(raw, mediatypes.OCI_MANIFEST, artifactType=fmt.ARTIFACT_TYPE, annotations={
            fmt.ANN_REF_NAME: tag, fmt.ANN_TITLE: impl.export_name, fmt.ANN_VERSION: impl.version, **names,
        })
        self.blobs.setdefault(desc.digest, raw)
        titles = [(d.annotations or {}).get(fmt.ANN_TITLE, "") for d in layers]
        self._log(f"{impl.export_name}: {tag} {desc.digest} ({', '.join(titles)})")
        return desc, ExportedImplementation(addon.name, impl.name, impl.export_name, impl.version, tag, desc.digest,
                                            len(raw), titles, dropped)


_MAX_PROBLEMS = 5
_MAX_LISTED = 10


def _make_output_dir(output_dir: Path) -> Path | None:
    """Create ``output_dir`` and its parents as K2s's export does (``mkdir -Force``); the topmost folder
    created (removed again if the export fails), or ``None`` when it existed. Raises :class:`UsageError`."""
    top = None
    for folder in [*reversed(output_dir.absolute().parents), output_dir.absolute()]:
        if not folder.exists():
            top = top or folder
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output directory {output_dir} ({err.strerror}): pass another -d") from None
    return top


def export_addons(addons_dir: str | Path, names: Sequence[str], output_dir: str | Path,
                  options: ExportOptions | None = None) -> ExportResult:
    """Export the addons ``names`` select (§2.2; empty: all) from ``addons_dir`` into ``output_dir``.

    Returns the archive's path and its manifests. Raises :class:`~kaddons.errors.NotFoundError` for
    a missing addons directory or an unknown addon/implementation, :class:`UsageError` for an
    output that is not a directory (a missing directory is created, with its parents) or files that
    cannot be exported (links, reserved names),
    :class:`~kaddons.errors.AddonManifestError` for a selected addon whose manifest is invalid,
    :class:`UsageError` for an unknown ``gitops_flavor``, and
    the registry/download errors of images and packages. Nothing is left behind on failure: the
    staging directory is removed and an existing archive of the same name is untouched.
    """
    options = options or ExportOptions()
    parse_flavor(options.gitops_flavor, "--gitops-flavor")
    addons_dir, output_dir = Path(addons_dir), Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"output {output_dir} is not a directory: pass a directory with -d")
    catalog = discover(addons_dir)
    selections = select(catalog, names)
    if not selections:
        problems = [str(p) for p in catalog.problems]
        shown = "; ".join(problems[:_MAX_PROBLEMS])
        if len(problems) > _MAX_PROBLEMS:
            shown += f"; and {len(problems) - _MAX_PROBLEMS} more (kaddons ls --addons-dir {addons_dir} lists them)"
        counted = f"{len(problems)} invalid: " if len(problems) > 1 else ""
        raise UsageError(f"no valid addon in {addons_dir} to export" + (f" ({counted}{shown})" if problems else ""))
    k2s_version = _k2s_version(addons_dir, options.k2s_version)
    all_addons = not names
    export_type = "all" if all_addons else "specific"
    mtime = tar_mtime()
    created = _make_output_dir(output_dir)
    staging = Path(tempfile.mkdtemp(dir=output_dir, prefix=".kaddons-export-"))
    try:
        builder = _Builder(staging, options, mtime)
        descriptors, exported = [], []
        for selection in selections:
            for impl in selection.implementations:
                desc, item = builder.implementation(selection, impl, k2s_version, export_type)
                descriptors.append(desc)
                exported.append(item)
        index = ImageIndex(schemaVersion=2, mediaType=mediatypes.OCI_INDEX, manifests=descriptors, annotations={
            fmt.ANN_CREATED: builder.timestamp, fmt.ANN_VENDOR: fmt.VENDOR, fmt.ANN_LICENSES: fmt.LICENSES,
            fmt.ANN_K2S_VERSION: k2s_version, fmt.ANN_EXPORT_DATE: builder.timestamp, fmt.ANN_EXPORT_TYPE: export_type,
            fmt.ANN_ADDON_COUNT: str(len(descriptors)),
        })
        path = output_dir / archive_file_name(k2s_version, [e.export_name for e in exported], all_addons=all_addons)
        write_blobs_archive(path, canonical_json(index.to_json_dict()), builder.blobs)
        created = None
        return ExportResult(path=path, implementations=exported)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created is not None:  # the export failed: the folders it made go too
            shutil.rmtree(created, ignore_errors=True)
