"""The state of every member of a cluster document, from what the cluster's engine reports (issue 13).

One LIST per kind (engine objects, workload kinds), never one request per add-on
(:meth:`~.view.ClusterView.watched`); members
are assessed parents first (by graph depth), so a child waiting on a parent says which
(:func:`~kaddons.cluster.state.addon_state`). :func:`member_details` adds one add-on's resource map, reading the
workload kinds of its namespace once.
"""

from __future__ import annotations

from kaddons.stacks.load import LoadedCluster

from .cache import ClusterCache
from .health import HealthRules
from .kube import ClusterReader
from .resource_map import DEFAULT_CAP
from .state import AddonState
from .view import ClusterView, MemberDetails

__all__ = ["member_details", "member_states"]


def member_states(loaded: LoadedCluster, reader: ClusterReader, engine: str, *, rules: HealthRules | None = None,
                  warnings: list[str] | None = None) -> dict[tuple[str, str], AddonState]:
    """``(kind, name) -> state`` of every manifest and add-on of ``loaded``, from the engine's objects and the
    health of each member's objects (one LIST per kind, cluster-wide). A workload kind the reader may not list
    is left out, with a line in ``warnings``. Raises ClusterError."""
    view = ClusterView(loaded, engine, rules)
    cache = ClusterCache(reader, view.watched(), view.listener)
    cache.list_once()
    if warnings is not None:
        warnings.extend(f"{message}: the health of its objects is left out" for message in cache.errors.values())
    return view.states()


def member_details(loaded: LoadedCluster, reader: ClusterReader, engine: str, key: tuple[str, str], *,
                   rules: HealthRules | None = None, cap: int = DEFAULT_CAP) -> MemberDetails:
    """The member ``key`` with its resource map, from one LIST per engine kind and per workload kind in the
    member's namespace. Raises ClusterError."""
    view = ClusterView(loaded, engine, rules)
    namespace = view.namespace_of(key)
    cache = ClusterCache(reader, view.watched(namespaces=[namespace] if namespace else None), view.listener)
    cache.list_once()
    return view.details(key, cap=cap)
