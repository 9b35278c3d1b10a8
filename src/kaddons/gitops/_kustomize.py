"""The subset of ``kustomize build`` the rendered trees use, so that ``kaddons gitops render`` without ``-o``
prints the objects ``kubectl kustomize DIR`` builds from the ``-o DIR`` tree (same files, same result).

Supported kustomization fields: ``resources`` (files and directories), ``namespace``,
``generatorOptions.disableNameSuffixHash: true`` and ``configMapGenerator`` with ``files`` (``KEY=PATH`` or
``PATH``) and ``options.labels``. Anything else is a programming error (:class:`ValueError`): the trees
are package data. Objects come out in kustomize's default ("legacy") order.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from ._yaml import load_documents

__all__ = ["build"]

_FIELDS = {"apiVersion", "kind", "namespace", "resources", "generatorOptions", "configMapGenerator"}
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
                   "PersistentVolume", "PriorityClass"}
# kustomize api/resid/gvk.go: orderFirst / orderLast.
_ORDER_FIRST = ["Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
                "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
                "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
                "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget"]
_ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
_TYPE_ORDER = {kind: i - len(_ORDER_FIRST) for i, kind in enumerate(_ORDER_FIRST)}
_TYPE_ORDER.update({kind: i + 1 for i, kind in enumerate(_ORDER_LAST)})


def _legacy_key(obj: dict[str, Any]) -> tuple[int, str, str, str]:
    group_version, kind = obj["apiVersion"], obj["kind"]
    group, _, version = group_version.rpartition("/")
    meta = obj["metadata"]
    return (_TYPE_ORDER.get(kind, 0), f"{group}_{version}_{kind}", meta.get("namespace", ""), meta["name"])


def _text(files: Mapping[str, bytes], path: str) -> str:
    if path not in files:
        raise ValueError(f"kustomize tree: {path} is referenced but not rendered")
    return files[path].decode("utf-8")


def _generated(files: Mapping[str, bytes], directory: str, generator: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, str] = {}
    for item in generator.get("files", []):
        key, sep, rel = item.partition("=")
        if not sep:
            key, rel = posixpath.basename(item), item
        data[key] = _text(files, posixpath.normpath(posixpath.join(directory, rel)))
    metadata: dict[str, Any] = {"name": generator["name"]}
    labels = (generator.get("options") or {}).get("labels")
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _build(files: Mapping[str, bytes], directory: str) -> list[dict[str, Any]]:
    path = posixpath.normpath(posixpath.join(directory, "kustomization.yaml"))
    kustomization = load_documents(_text(files, path))[0]
    unknown = set(kustomization) - _FIELDS
    if unknown:
        raise ValueError(f"kustomize tree: {path} uses unsupported fields {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = posixpath.normpath(posixpath.join(directory, entry))
        if posixpath.join(target, "kustomization.yaml") in files:
            objects.extend(_build(files, target))
        else:
            objects.extend(load_documents(_text(files, target)))
    generators = kustomization.get("configMapGenerator", [])
    if generators and not (kustomization.get("generatorOptions") or {}).get("disableNameSuffixHash"):
        raise ValueError(f"kustomize tree: {path} generates names with a hash suffix")
    objects.extend(_generated(files, directory, generator) for generator in generators)
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in _CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = namespace
    return objects


def build(files: Mapping[str, bytes], directory: str = ".") -> list[dict[str, Any]]:
    """The objects of the kustomization in ``directory`` of ``files`` (POSIX relative path -> bytes)."""
    return sorted(_build(files, directory), key=_legacy_key)
