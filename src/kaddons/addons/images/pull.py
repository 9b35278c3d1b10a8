"""Pull addon images into OCI archives, one ``.tar`` per image (spec §2.7 steps 5-6).

K2s pulls with ``buildah``/``nerdctl`` on the cluster nodes and exports with ``buildah push
oci-archive:`` / ``ctr images export``; kaddons pulls straight from the registries with its own OCI
client (:mod:`kaddons.oci`), so no cluster is needed. Each archive is an ``.oci.tar``
(:func:`kaddons.oci.archive.write_archive`) whose ``index.json`` has one entry annotated with
``org.opencontainers.image.ref.name`` and ``io.containerd.image.name``, both the full normalised
reference (``registry.k8s.io/metrics-server/metrics-server:v0.7.2``), so that ``buildah pull
oci-archive:`` and ``ctr images import`` (K2s's import, §3.7) name the image.

* Linux: when the tag is an image index, only the manifest of ``platform`` is archived (what
  ``buildah pull`` keeps); its index entry carries the index's ``platform`` and, in
  :data:`SOURCE_DIGEST`, the digest of the index the tag resolved to.
* Windows: the whole graph the tag names, every platform (``nerdctl pull --all-platforms``).

Re-use: when ``dest_dir/<file name>`` already names the image and the digest its reference
resolves to now (one ``HEAD`` request), nothing is downloaded. Archives are written atomically
(staged in a temporary layout next to the target, tarred to a temporary file, renamed).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from kaddons.errors import KaddonsError, NotFoundError, UsageError
from kaddons.oci import mediatypes as mt
from kaddons.oci.archive import ArchiveStore, write_archive
from kaddons.oci.copy import copy_graph
from kaddons.oci.layout import LayoutStore
from kaddons.oci.models import Descriptor, ImageIndex, canonical_json, parse_index
from kaddons.oci.registry import Registry, RegistryOptions, Repository
from kaddons.oci.store import fetch_bytes

from ._platform import Platform, describe, matches, parse_platform, select_manifest
from .discovery import ImageSet
from .reference import ImageReference, image_file_name, parse_image_reference

__all__ = ["CONTAINERD_IMAGE_NAME", "DEFAULT_CONCURRENCY", "SOURCE_DIGEST", "PulledImage", "pull_images"]

CONTAINERD_IMAGE_NAME = "io.containerd.image.name"
"""The ``index.json`` annotation ``ctr images import`` names an image by (containerd's own key)."""
SOURCE_DIGEST = "vnd.kaddons.image.source-digest"
"""On an ``index.json`` entry: the digest the reference resolved to, when it is not the entry's own
(an image index of which one platform was archived). Lets a re-export recognise the archive."""
DEFAULT_CONCURRENCY = 4
_MAX_FILE_NAME = 255


@dataclass(frozen=True)
class PulledImage:
    """One image archive.

    ``reference`` is as discovered, ``name`` the full normalised reference (the archive's
    ``ref.name``); ``path`` is ``dest_dir / file_name``; ``digest`` the manifest (or, for Windows, the
    index) that was archived; ``reused`` is true when the existing archive was kept.
    """

    reference: str
    file_name: str
    path: Path
    digest: str
    windows: bool
    name: str = ""
    reused: bool = False


@dataclass(frozen=True)
class _Job:
    reference: str
    image: ImageReference
    windows: bool
    path: Path

    def result(self, digest: str, *, reused: bool) -> PulledImage:
        return PulledImage(self.reference, self.path.name, self.path, digest, self.windows, self.image.name, reused)


def _plan(images: ImageSet, dest_dir: Path) -> list[_Job]:
    """Parse every reference before any request; one job per (OS, normalised name), first one kept."""
    jobs: dict[tuple[bool, str], _Job] = {}
    files: dict[str, str] = {}
    for windows, references in ((False, images.linux), (True, images.windows)):
        for reference in references:
            image = parse_image_reference(reference)
            if (windows, image.name) in jobs:
                continue
            file_name = image_file_name(reference, windows=windows)
            if len(file_name.encode()) > _MAX_FILE_NAME:
                raise UsageError(f"image {reference}: the file name {file_name[:40]}... is longer than "
                                 f"{_MAX_FILE_NAME} bytes")
            if file_name in files:
                raise UsageError(f"images {files[file_name]} and {reference} would both be exported as "
                                 f"{file_name}: keep only one of them")
            files[file_name] = reference
            jobs[(windows, image.name)] = _Job(reference, image, windows, dest_dir / file_name)
    return list(jobs.values())


class _Registries:
    """One :class:`Registry` (connection pool) per registry, shared by the worker threads."""

    def __init__(self, options_for: Callable[[str], RegistryOptions] | None) -> None:
        self._options_for = options_for
        self._open: dict[str, Registry] = {}
        self._lock = threading.Lock()

    def repository(self, image: ImageReference) -> Repository:
        with self._lock:
            registry = self._open.get(image.registry)
            if registry is None:
                options = self._options_for(image.registry) if self._options_for else None
                registry = self._open[image.registry] = Registry(image.endpoint, options)
        return registry.repository(image.repository)

    def close(self) -> None:
        for registry in self._open.values():
            registry.close()


def _resolve(repo: Repository, job: _Job) -> Descriptor:
    try:
        return repo.resolve(job.image.target)
    except NotFoundError as err:
        raise NotFoundError(f"image {job.reference} not found on registry {job.image.endpoint}: {err}") from None


def _reusable(job: _Job, resolved: Descriptor, wanted: Platform) -> Descriptor | None:
    """The ``index.json`` entry of an existing archive that holds what ``resolved`` names, else ``None``."""
    if not job.path.is_file():
        return None
    try:
        archive = ArchiveStore(job.path)
        try:
            entries = archive.index().manifests
            if len(entries) != 1 or not archive.exists(entries[0]):
                return None
        finally:
            archive.close()
    except KaddonsError:
        return None  # not an archive we can read: pull again and replace it
    entry = entries[0]
    annotations = entry.annotations or {}
    if annotations.get(mt.ANNOTATION_REF_NAME) != job.image.name:
        return None
    if annotations.get(SOURCE_DIGEST, entry.digest) != resolved.digest:
        return None
    if entry.digest != resolved.digest and not matches(entry, wanted):
        return None  # the platform asked for changed
    return entry


def _select(repo: Repository, job: _Job, index_desc: Descriptor, wanted: Platform) -> Descriptor:
    index = parse_index(fetch_bytes(repo, index_desc), what=f"image index of {job.reference}")
    chosen = select_manifest(index.manifests, wanted)
    if chosen is None:
        raise NotFoundError(f"image {job.reference} has no {wanted} manifest; platforms in its index: "
                            f"{describe(index.manifests)} (choose one with the platform option)")
    return chosen


def _archive(repo: Repository, target: Descriptor, entry: Descriptor, path: Path) -> None:
    """Copy ``target``'s graph into a staged layout whose ``index.json`` is ``[entry]``, tar it to ``path``."""
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.staging-"))
    try:
        layout = LayoutStore(staging, create=True)
        copy_graph(repo, layout, target)
        index = ImageIndex(schemaVersion=2, mediaType=mt.OCI_INDEX, manifests=[entry])
        write_archive(staging, path, index_json=canonical_json(index))  # LayoutStore.tag takes plain tags only
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pull_one(job: _Job, registries: _Registries, wanted: Platform) -> PulledImage:
    repo = registries.repository(job.image)
    resolved = _resolve(repo, job)
    existing = _reusable(job, resolved, wanted)
    if existing is not None:
        return job.result(existing.digest, reused=True)
    target = resolved
    if not job.windows and resolved.media_type in mt.INDEX_TYPES:
        target = _select(repo, job, resolved, wanted)
    annotations = {**(target.annotations or {}), mt.ANNOTATION_REF_NAME: job.image.name,
                   CONTAINERD_IMAGE_NAME: job.image.name}
    if target.digest != resolved.digest:
        annotations[SOURCE_DIGEST] = resolved.digest
    entry = target.model_copy(update={"annotations": annotations})
    _archive(repo, target, entry, job.path)
    return job.result(target.digest, reused=False)


def _run(jobs: list[_Job], work: Callable[[_Job], PulledImage], concurrency: int) -> list[PulledImage]:
    """Run ``work`` on every job in ``concurrency`` threads; on a failure start nothing new, let running
    pulls end, then raise the failure of the first failed job in job order."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kaddons-images") as pool:
        futures: list[Future[PulledImage]] = [pool.submit(work, job) for job in jobs]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()
    for future in futures:
        if not future.cancelled() and (error := future.exception()) is not None:
            raise error
    return [future.result() for future in futures]


def pull_images(images: ImageSet, dest_dir: Path, *, options_for: Callable[[str], RegistryOptions] | None = None,
                platform: str = "linux/amd64", concurrency: int = DEFAULT_CONCURRENCY,
                on_pulled: Callable[[PulledImage], None] | None = None) -> list[PulledImage]:
    """Pull every image of ``images`` into ``dest_dir/<image_file_name(...)>`` (see the module docstring).

    ``options_for(registry)`` gives the :class:`RegistryOptions` of a registry, named as in the
    normalised reference (``docker.io``, ``registry.k8s.io``, ``127.0.0.1:5000``); ``None``: defaults
    (HTTPS, Docker config credentials). ``platform`` (``OS/ARCH[/VARIANT]``) selects the manifest of
    a Linux image index. ``concurrency`` images are pulled at once (``<= 0``: 4). ``on_pulled`` is
    called (from a worker thread) after each image. ``dest_dir`` is created if needed.

    The same image listed twice (after normalisation, per OS) is pulled once, under the first name.
    Returns one :class:`PulledImage` per image, sorted by ``windows`` then ``reference``, whatever
    the completion order.

    Raises, before any request: :class:`~kaddons.errors.InvalidReferenceError` naming a reference
    that does not parse, :class:`~kaddons.errors.UsageError` for a bad ``platform`` or two images
    that map to one file name. Then :class:`~kaddons.errors.NotFoundError` for an image missing from
    its registry (naming both) or an index without ``platform`` (listing the platforms present), and
    registry and content errors as :mod:`kaddons.oci` raises them. A failed pull leaves no partial
    archive; archives of other images that completed stay.
    """
    wanted = parse_platform(platform)
    dest_dir = Path(dest_dir)
    jobs = _plan(images, dest_dir)
    if not jobs:
        return []
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create image directory {dest_dir}: {err.strerror or err}") from None
    registries = _Registries(options_for)

    def work(job: _Job) -> PulledImage:
        pulled = _pull_one(job, registries, wanted)
        if on_pulled is not None:
            on_pulled(pulled)
        return pulled

    try:
        results = _run(jobs, work, concurrency if concurrency > 0 else DEFAULT_CONCURRENCY)
    finally:
        registries.close()
    return sorted(results, key=lambda pulled: (pulled.windows, pulled.reference))
