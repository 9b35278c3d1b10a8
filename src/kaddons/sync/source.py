"""Where addons are synced from: a registry (``addons/<name>`` repositories) or an OCI layout directory.

An :class:`AddonSource` answers the questions a sync asks, by export name (the repository name below
``addons/``): which addons there are (discovery), which tags one has, which manifest a tag names
(one ``HEAD`` on a registry), and a :class:`~kaddons.oci.store.ReadOnlyStore` to read its content
by digest.

* :class:`RegistrySource`: ``oci://HOST[:PORT][/PREFIX]``; discovery through ``/v2/_catalog``
  (``PREFIX/addons/*``), or an explicit list for registries without it (GHCR, ECR; §8.25).
* :class:`LayoutSource`: ``oci-layout:DIR``; every index entry that is an addon manifest is one tag
  (its ``ref.name``, else ``v<version>``) of the repository named by its export name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from kaddons.addons.artifact import read_entry
from kaddons.addons.names import is_valid_name
from kaddons.addons.publish import ADDONS_NAMESPACE, addon_repository
from kaddons.errors import KaddonsError, NotFoundError
from kaddons.oci import mediatypes as mt
from kaddons.oci._layoutcore import without_ref_name
from kaddons.oci.layout import LayoutStore
from kaddons.oci.models import Descriptor
from kaddons.oci.registry import Registry, RegistryOptions, Repository
from kaddons.oci.store import ReadOnlyStore

from .config import RegistrySpec

__all__ = ["AddonSource", "LayoutSource", "RegistrySource", "open_source"]

Warn = Callable[[str], None]


class AddonSource(Protocol):
    """What a sync reads; names are export names (``metrics``, ``ingress-nginx``)."""

    where: str
    """The source for messages: ``HOST/PREFIX`` or ``oci-layout:DIR``."""

    def repositories(self) -> list[str]:
        """Every addon repository, sorted. Raises a KaddonsError when the source cannot be listed."""
        ...

    def tags(self, name: str) -> list[str]:
        """The tags of ``name``. Raises NotFoundError for an unknown repository, registry errors."""
        ...

    def resolve(self, name: str, tag: str) -> Descriptor:
        """The descriptor ``name:tag`` names (one ``HEAD`` on a registry). Raises NotFoundError."""
        ...

    def store(self, name: str) -> ReadOnlyStore:
        """The store holding the content of ``name``, read by digest."""
        ...

    def reference(self, name: str, tag: str) -> str:
        """``HOST/PREFIX/addons/NAME:TAG`` or ``oci-layout:DIR:NAME:TAG``, for logs and records."""
        ...


class RegistrySource:
    """The ``addons/*`` repositories of a registry (one connection pool; close it)."""

    def __init__(self, host: str, prefix: str = "", options: RegistryOptions | None = None, *,
                 warn: Warn | None = None) -> None:
        self.registry = Registry(host, options)
        self.prefix = prefix
        self.where = f"{self.registry.host}{('/' + prefix.rstrip('/')) if prefix else ''}"
        self._warn = warn
        self._repositories: dict[str, Repository] = {}

    def close(self) -> None:
        """Close the connection pool."""
        self.registry.close()

    def repositories(self) -> list[str]:
        """``GET /v2/_catalog`` filtered to ``PREFIX/addons/NAME``; other names below it are skipped with a warning."""
        head = f"{self.prefix}{ADDONS_NAMESPACE}/"
        names = []
        for repository in self.registry.catalog():
            if not repository.startswith(head):
                continue
            name = repository[len(head):]
            if is_valid_name(name):
                names.append(name)
            elif self._warn is not None:
                self._warn(f"Skipping repository '{repository}': '{name}' is not a valid addon name")
        return sorted(names)

    def _repository(self, name: str) -> Repository:
        repository = self._repositories.get(name)
        if repository is None:
            repository = self._repositories[name] = self.registry.repository(addon_repository(self.prefix, name))
        return repository

    def tags(self, name: str) -> list[str]:
        return self._repository(name).tags()

    def resolve(self, name: str, tag: str) -> Descriptor:
        return self._repository(name).resolve(tag)

    def store(self, name: str) -> ReadOnlyStore:
        return self._repository(name)

    def reference(self, name: str, tag: str) -> str:
        return f"{self.registry.host}/{addon_repository(self.prefix, name)}:{tag}"


class LayoutSource:
    """The addons of an OCI image layout directory; its index is read once, on construction.

    Entries that are not addon manifests (no name, an index, invalid names, no tag) are skipped with
    a warning; of entries with the same export name and tag, the last one counts (as a layout resolves
    a tag). Raises what :class:`~kaddons.oci.layout.LayoutStore` raises for a missing or invalid layout.
    """

    def __init__(self, path: Path, *, warn: Warn | None = None) -> None:
        self.layout = LayoutStore(path)
        self.where = f"oci-layout:{path}"
        self._entries: dict[str, dict[str, Descriptor]] = {}
        for desc in self.layout.index().manifests:
            self._add(desc, warn)

    def _add(self, desc: Descriptor, warn: Warn | None) -> None:
        what = f"{self.where}: index entry {desc.digest}"
        if desc.media_type not in mt.MANIFEST_TYPES:
            problem = f"{desc.media_type!r} is not an image manifest"
        else:
            try:
                entry = read_entry(self.layout, desc, where=self.where)
            except KaddonsError as err:
                problem = str(err)
            else:
                if entry is None:
                    problem = "no addon name annotation"
                elif entry.tag is None:
                    problem = "neither a ref.name nor a version to use as its tag"
                else:
                    self._entries.setdefault(entry.export_name, {})[entry.tag] = without_ref_name(desc)
                    return
        if warn is not None:
            warn(f"Skipping {what} - {problem}")

    def close(self) -> None:
        """Nothing to release."""

    def repositories(self) -> list[str]:
        return sorted(self._entries)

    def _tags(self, name: str) -> dict[str, Descriptor]:
        found = self._entries.get(name)
        if found is None:
            held = ", ".join(sorted(self._entries)) or "none"
            raise NotFoundError(f"no addon {name!r} in {self.where} (it holds: {held})")
        return found

    def tags(self, name: str) -> list[str]:
        return sorted(self._tags(name))

    def resolve(self, name: str, tag: str) -> Descriptor:
        desc = self._tags(name).get(tag)
        if desc is None:
            raise NotFoundError(f"tag {tag!r} of {name} not found in {self.where}; tags: {', '.join(self.tags(name))}")
        return desc

    def store(self, name: str) -> ReadOnlyStore:
        return self.layout

    def reference(self, name: str, tag: str) -> str:
        return f"{self.where}:{name}:{tag}"


@contextlib.contextmanager
def open_source(spec: RegistrySpec, options: RegistryOptions | None = None, *,
                warn: Warn | None = None) -> Iterator[RegistrySource | LayoutSource]:
    """The source ``spec`` names, closed on exit; ``warn`` receives discovery warnings."""
    source: RegistrySource | LayoutSource
    if spec.kind == "layout":
        assert spec.path is not None
        source = LayoutSource(spec.path, warn=warn)
    else:
        source = RegistrySource(spec.host, spec.prefix, options, warn=warn)
    try:
        yield source
    finally:
        source.close()
