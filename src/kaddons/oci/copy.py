"""Copy a manifest or index with everything it references, from any store to any store.

The algorithm of oras-go v2 ``Copy``, reshaped for Python as its lessons suggest:

1. **Resolve** the source reference once; everything after uses digests.
2. **Walk** the graph from the root, fetching manifests and indexes (small, verified, kept in
   memory while the copy runs). A manifest the destination already has is skipped *with its whole
   subgraph*: content addressing makes that safe.
3. **Copy blobs** that the destination lacks, in parallel (``concurrency`` threads), streaming
   each from source to destination; a cross-repository mount is tried first when both ends are
   repositories of one registry.
4. **Push manifests in dependency order** (children before parents), with their original bytes,
   so digests are equal on both sides (skopeo re-serialises indexes; kaddons never does).
5. **Tag the root last**, so the destination never shows a tag whose content is incomplete.

Any failure raises before step 5: the destination may hold verified blobs but no new tag.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from kaddons.errors import AmbiguousReferenceError, NotFoundError, TagConflictError
from kaddons.oci._layoutcore import describe
from kaddons.oci.models import Descriptor, successors
from kaddons.oci.store import ReadOnlyStore, Store, fetch_bytes

__all__ = ["CopyObserver", "CopyOptions", "CopyResult", "copy", "copy_graph"]

DEFAULT_CONCURRENCY = 4


class CopyObserver(Protocol):
    """Receives progress events; called from worker threads."""

    def on_start(self, desc: Descriptor) -> None: ...

    def on_bytes(self, desc: Descriptor, count: int) -> None: ...

    def on_done(self, desc: Descriptor, *, skipped: bool) -> None: ...


@runtime_checkable
class _Mounter(Protocol):
    """Optional capability of a registry repository: cross-repository blob mount."""

    name: str

    def mount(self, desc: Descriptor, from_repository: str) -> bool: ...


@runtime_checkable
class _Indexer(Protocol):
    """Optional capability of layouts: record an untagged root in ``index.json``."""

    def add_to_index(self, desc: Descriptor) -> None: ...


@dataclass
class CopyOptions:
    """How to copy. ``concurrency``: blobs transferred at once (``<= 0``: the default, 4). ``move_tag``: a
    layout or archive tag that names other content is moved to the copy (else that is an error)."""

    concurrency: int = DEFAULT_CONCURRENCY
    observer: CopyObserver | None = None
    move_tag: bool = False


@dataclass
class CopyResult:
    """What a copy did: the root descriptor, and counts and bytes of what moved or was skipped."""

    root: Descriptor
    copied: int = 0
    skipped: int = 0
    mounted: int = 0
    bytes_copied: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _add(self, *, copied: int = 0, skipped: int = 0, mounted: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.copied += copied
            self.skipped += skipped
            self.mounted += mounted
            self.bytes_copied += nbytes


def _mount_source(src: ReadOnlyStore, dst: Store) -> str | None:
    """The source repository name when both ends are repositories of one registry host."""
    src_registry = getattr(src, "registry", None)
    dst_registry = getattr(dst, "registry", None)
    if not isinstance(dst, _Mounter) or src_registry is None or dst_registry is None:
        return None
    if getattr(src_registry, "host", None) != getattr(dst_registry, "host", None):
        return None
    name = getattr(src, "name", None)
    return name if isinstance(name, str) and name != dst.name else None


class _Plan:
    """The part of the graph the destination lacks: manifests in push order, blobs to copy."""

    def __init__(self) -> None:
        self.manifests: list[tuple[Descriptor, bytes]] = []  # post-order: children first
        self.blobs: dict[str, Descriptor] = {}
        self.skipped: list[Descriptor] = []
        self._seen: set[str] = set()

    def walk(self, src: ReadOnlyStore, dst: Store, desc: Descriptor) -> None:
        if desc.digest in self._seen:
            return
        self._seen.add(desc.digest)
        if not desc.is_manifest:
            self.blobs[desc.digest] = desc
            return
        if dst.exists(desc):
            self.skipped.append(desc)
            return
        raw = fetch_bytes(src, desc)
        for child in successors(desc, raw):
            self.walk(src, dst, child)
        self.manifests.append((desc, raw))


def copy_graph(src: ReadOnlyStore, dst: Store, root: Descriptor, options: CopyOptions | None = None) -> CopyResult:
    """Copy ``root`` and everything it references from ``src`` to ``dst``; tag nothing.

    Returns a :class:`CopyResult`. Raises whatever the stores raise
    (:class:`~kaddons.errors.DigestMismatchError`, :class:`~kaddons.errors.NotFoundError`,
    :class:`~kaddons.errors.RegistryError` ...); content that verified stays in ``dst``.
    """
    options = options or CopyOptions()
    observer = options.observer
    result = CopyResult(root=root)
    plan = _Plan()
    plan.walk(src, dst, root)
    for desc in plan.skipped:
        result._add(skipped=1)
        if observer:
            observer.on_done(desc, skipped=True)
    mount_from = _mount_source(src, dst)

    def copy_blob(desc: Descriptor) -> None:
        if dst.exists(desc):
            result._add(skipped=1)
            if observer:
                observer.on_done(desc, skipped=True)
            return
        if observer:
            observer.on_start(desc)
        if mount_from is not None and isinstance(dst, _Mounter) and dst.mount(desc, mount_from):
            result._add(copied=1, mounted=1)
        else:
            with src.fetch(desc) as stream:
                if observer is not None:
                    stream.observer = lambda n: observer.on_bytes(desc, n)
                dst.push(desc, stream)  # type: ignore[arg-type]
            result._add(copied=1, nbytes=desc.size)
        if observer:
            observer.on_done(desc, skipped=False)

    workers = options.concurrency if options.concurrency > 0 else DEFAULT_CONCURRENCY
    if plan.blobs:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kaddons-copy") as pool:
            futures = [pool.submit(copy_blob, desc) for desc in plan.blobs.values()]
            _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:  # a failure: start nothing new, let running transfers end
                future.cancel()
            for future in futures:
                if future.done() and not future.cancelled() and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
    for desc, raw in plan.manifests:
        if observer:
            observer.on_start(desc)
        dst.push(desc, io.BytesIO(raw))
        result._add(copied=1, nbytes=len(raw))
        if observer:
            observer.on_done(desc, skipped=False)
    return result


def _check_tag_free(dst: ReadOnlyStore, tag: str, root: Descriptor) -> None:
    """Raise :class:`TagConflictError` when ``tag`` in the layout ``dst`` names other content than ``root``:
    tagging would take it out of ``index.json`` (the manifest would no longer be reachable)."""
    where = getattr(dst, "where", "the destination")
    try:
        held = dst.resolve(tag)
    except NotFoundError:
        return
    except AmbiguousReferenceError as err:
        held_digests = [digest for digest, _ in err.candidates if digest != root.digest]
        label = f"{len(held_digests)} other manifests"
    else:
        if held.digest == root.digest:
            return
        name = describe(held)
        label = f"{name} {held.digest}" if name else held.digest
    raise TagConflictError(
        f"tag {tag!r} in {where} already names {label}: tagging the copy would drop it from index.json; give this "
        f"copy a tag of its own (e.g. NAME-{tag}), copy it untagged with …@{root.digest}, or pass --move-tag")


def copy(src: ReadOnlyStore, src_reference: str, dst: Store, dst_reference: str | None = None,
         options: CopyOptions | None = None) -> CopyResult:
    """Copy what ``src_reference`` (a tag or digest) names in ``src`` to ``dst``, then tag it.

    ``dst_reference``: the tag to set in ``dst``; ``None`` copies by digest only (a layout records
    the root untagged in its ``index.json`` so that it stays reachable). The tag is set only after
    the whole graph is in ``dst``. Returns a :class:`CopyResult` whose ``root`` is the copied
    descriptor. Raises :class:`~kaddons.errors.NotFoundError` when the reference does not resolve, and
    :class:`~kaddons.errors.TagConflictError`, before anything is copied, when ``dst`` is a layout or
    archive whose ``dst_reference`` names other content (unless ``options.move_tag``).
    """
    root = src.resolve(src_reference)
    if dst_reference is not None and not dst_reference.startswith("sha256:") and isinstance(dst, _Indexer) \
            and not (options and options.move_tag):
        _check_tag_free(dst, dst_reference, root)
    result = copy_graph(src, dst, root, options)
    if dst_reference is not None and not dst_reference.startswith("sha256:"):
        dst.tag(root, dst_reference)
    elif isinstance(dst, _Indexer):
        dst.add_to_index(root)
    return result

