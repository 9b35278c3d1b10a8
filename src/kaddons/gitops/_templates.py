"""The template trees shipped as package data: ``templates/k2s/`` (K2s's files, MIT, byte for byte, plus
kaddons' content digest in ``gitops-sync/sync-job.yaml``) and ``templates/kaddons/`` (kaddons' own)."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from kaddons import __version__

from ._choices import Flavor

__all__ = ["VERSION_PLACEHOLDER", "template_bytes", "template_tree"]

VERSION_PLACEHOLDER = "KADDONS_VERSION_PLACEHOLDER"
"""In ``templates/kaddons/``: kaddons' version (the default image tag); replaced in every file read here."""


def _root(flavor: Flavor) -> Traversable:
    return resources.files(__package__).joinpath("templates", flavor.value)


def _expand(flavor: Flavor, data: bytes) -> bytes:
    if flavor is Flavor.kaddons:
        return data.replace(VERSION_PLACEHOLDER.encode(), __version__.encode())
    return data


def template_bytes(flavor: Flavor, path: str) -> bytes:
    """One template file (``base/configmap.yaml``), with kaddons' version filled in."""
    node = _root(flavor)
    for part in path.split("/"):
        node = node.joinpath(part)
    return _expand(flavor, node.read_bytes())


def template_tree(flavor: Flavor, folder: str, *, exclude: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under ``folder`` as ``{"<folder>/<relative path>": bytes}``; ``exclude`` drops sub-folders."""
    files: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            rel = f"{prefix}/{child.name}"
            if child.is_dir():
                if rel not in exclude:
                    walk(child, rel)
            elif not child.name.endswith((".pyc", ".pyo")):
                files[rel] = _expand(flavor, child.read_bytes())

    walk(_root(flavor).joinpath(folder), folder)
    return files
