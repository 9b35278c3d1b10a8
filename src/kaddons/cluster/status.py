"""The state of every member of a cluster document, from what the cluster's engine reports (issue 13).

One LIST per kind of engine object, never one request per add-on: Argo CD ``Application``s in its namespace, or
Flux ``HelmRelease``s and ``Kustomization``s in ``flux-system``, selected by the ``kaddons.io/cluster`` label the
renderers put on them. Members are assessed parents first (by graph depth), so a child waiting on a parent says
which (:func:`~kaddons.cluster.state.addon_state`).
"""

from __future__ import annotations

from typing import Any

from kaddons.stacks.load import LoadedCluster

from .kube import ClusterReader
from .state import AddonState, addon_state

__all__ = ["member_states"]


def _engine_objects(reader: ClusterReader, engine: str, cluster: str) -> dict[tuple[str, str], dict[str, Any]]:
    labels = {"kaddons.io/cluster": cluster}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    if engine == "flux":
        for obj in reader.list("helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases",
                               namespace="flux-system", labels=labels):
            found[("addon", str(obj["metadata"]["name"]))] = obj
        for obj in reader.list("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations",
                               namespace="flux-system", labels=labels):
            name = str(obj["metadata"]["name"])
            if name.startswith("manifest-"):
                found[("manifest", name.removeprefix("manifest-"))] = obj
        return found
    for obj in reader.list("argoproj.io", "v1alpha1", "Application", "applications", namespace="argocd",
                           labels=labels):
        name = str(obj["metadata"]["name"])
        for kind in ("addon", "manifest"):
            if name.startswith(f"{kind}-"):
                found[(kind, name.removeprefix(f"{kind}-"))] = obj
    return found


def member_states(loaded: LoadedCluster, reader: ClusterReader, engine: str) -> dict[tuple[str, str], AddonState]:
    """``(kind, name) -> state`` of every manifest and add-on of ``loaded`` (see the module)."""
    objects = _engine_objects(reader, engine, loaded.document.metadata.name)
    states: dict[tuple[str, str], AddonState] = {}
    for key, member in sorted(loaded.graph.members.items(), key=lambda item: item[1].depth):
        parents = {f"{kind} {name}": states[(kind, name)].state for kind, name in member.parents}
        states[key] = addon_state(objects.get(key), parents)
    return states
