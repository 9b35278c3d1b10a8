"""The dependency graph of a cluster document (ankra-addons.md §1.10).

Members are the manifests and add-ons of every stack and the catalog addons of ``spec.kaddons.catalog`` (kind
``catalog``, in the stack they name); applications are children only. Checks, each an error naming the member:
(kind, name) unique across the document; every parent exists (a ``manifest``, an ``addon`` or a ``catalog``
addon); a catalog addon's stack exists; no parent in a stack of a later ``deploy_wave`` than its child's; no
cycle (reported as its path, ``addon "a" -> manifest "b" -> addon "a"``). Computed: each
member's depth (0 without parents, else one more than its deepest parent) and the stacks' ``deploy_wave``
order. :func:`remove_member` takes a member out and re-attaches its children to its parents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kaddons.errors import ClusterDocumentError

from .document import Addon, ImportCluster, Manifest, Parent

__all__ = ["ClusterGraph", "Member", "build_graph", "remove_member"]

Key = tuple[str, str]


@dataclass(frozen=True)
class Member:
    """A manifest, add-on or catalog addon: ``kind``, ``name``, its ``stack``, ``parents`` (keys), ``depth`` and
    where it is declared in the document (``where``: its YAML path)."""

    kind: str
    name: str
    stack: str
    parents: tuple[Key, ...]
    depth: int
    where: str

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclass
class ClusterGraph:
    """The members by (kind, name), in document order, and the ``waves``: each stack's ``deploy_wave``
    (``None``: no part in the ordering)."""

    members: dict[Key, Member] = field(default_factory=dict)
    waves: dict[str, int | None] = field(default_factory=dict)

    def children(self, key: Key) -> list[Member]:
        """The members that name ``key`` as a parent."""
        return [member for member in self.members.values() if key in member.parents]


def _label(key: Key) -> str:
    return f'{key[0]} "{key[1]}"'


def build_graph(document: ImportCluster, source: str) -> ClusterGraph:
    """Check the edges of ``document`` and compute depths; raises :class:`ClusterDocumentError` naming ``source``
    and the member for a duplicate, a missing or wrong-kind parent, or a cycle (its path)."""
    declared: dict[Key, tuple[str, str, list[Parent]]] = {}
    waves: dict[str, int | None] = {}
    children_only: list[tuple[str, str, list[Parent]]] = []
    for s_index, stack in enumerate(document.spec.stacks):
        if stack.name in waves:
            raise ClusterDocumentError(source, f"spec.stacks[{s_index}].name: stack {stack.name!r} is declared twice")
        waves[stack.name] = stack.deploy_wave
        entries: list[tuple[str, list[Manifest | Addon]]] = [("manifest", list(stack.manifests)),
                                                             ("addon", list(stack.addons))]
        for kind, items in entries:
            for index, item in enumerate(items):
                where = f"spec.stacks[{s_index}].{kind}s[{index}]"
                key = (kind, item.name)
                if key in declared:
                    raise ClusterDocumentError(source, f"{where}: {_label(key)} is declared twice (also at "
                                                       f"{declared[key][1]}): names are unique per kind across the "
                                                       "whole document, since parents carry no stack")
                declared[key] = (stack.name, where, list(item.parents))
        for index, application in enumerate(stack.applications):
            children_only.append((stack.name, f"spec.stacks[{s_index}].applications[{index}]",
                                  list(application.parents)))
    for c_index, entry in enumerate(document.spec.kaddons.catalog):
        where = f"spec.kaddons.catalog[{c_index}]"
        if entry.stack not in waves:
            raise ClusterDocumentError(source, f"{where}.stack: no stack named {entry.stack!r} in spec.stacks "
                                               f"(stacks: {', '.join(waves) or 'none'}): declare it, or enable the "
                                               "addon again with --stack")
        key = ("catalog", entry.name)
        if key in declared:
            raise ClusterDocumentError(source, f"{where}: {_label(key)} is declared twice (also at "
                                               f"{declared[key][1]})")
        declared[key] = (entry.stack, where, list(entry.parents))
    for _stack, where, parents in [*declared.values(), *children_only]:
        for p_index, parent in enumerate(parents):
            if (parent.kind, parent.name) not in declared:
                known = sorted(name for kind, name in declared if kind == parent.kind)
                raise ClusterDocumentError(source, f"{where}.parents[{p_index}]: no {parent.kind} named "
                                                   f"{parent.name!r} in the document ({parent.kind}s: "
                                                   f"{', '.join(known) or 'none'})")
    for stack_name, where, parents in declared.values():
        for p_index, parent in enumerate(parents):
            parent_stack = declared[(parent.kind, parent.name)][0]
            wave, parent_wave = waves[stack_name] or 0, waves[parent_stack] or 0
            if parent_wave > wave:
                raise ClusterDocumentError(source, f"{where}.parents[{p_index}]: {parent.kind} {parent.name!r} is in "
                                                   f"stack {parent_stack!r} (deploy_wave {parent_wave}), a later wave "
                                                   f"than this member's stack {stack_name!r} ({wave}): a parent "
                                                   "deploys first, so move it to the same or an earlier wave")
    depths: dict[Key, int] = {}
    state: dict[Key, int] = {}  # 1: on the path, 2: done

    def visit(key: Key, path: list[Key]) -> int:
        if state.get(key) == 2:
            return depths[key]
        if state.get(key) == 1:
            cycle = [*path[path.index(key):], key]
            raise ClusterDocumentError(source, f"{declared[key][1]}: dependency cycle: "
                                               f"{' -> '.join(_label(k) for k in cycle)}")
        state[key] = 1
        parents = [(p.kind, p.name) for p in declared[key][2]]
        depth = 1 + max((visit(parent, [*path, key]) for parent in parents), default=-1)
        state[key] = 2
        depths[key] = depth
        return depth

    graph = ClusterGraph(waves=waves)
    for key, (stack_name, where, parents) in declared.items():
        visit(key, [])
        graph.members[key] = Member(key[0], key[1], stack_name,
                                    tuple(dict.fromkeys((p.kind, p.name) for p in parents)), depths[key], where)
    return graph


def remove_member(graph: ClusterGraph, key: Key) -> ClusterGraph:
    """``graph`` without ``key``; each child gets the removed member's parents in its place (§1.10), depths
    recomputed. Raises ``KeyError`` for an unknown member."""
    removed = graph.members[key]
    parents_of: dict[Key, tuple[Key, ...]] = {}
    for other in graph.members.values():
        if other.key == key:
            continue
        parents = list(other.parents)
        if key in parents:
            at = parents.index(key)
            parents[at:at + 1] = [p for p in removed.parents if p not in parents]
        parents_of[other.key] = tuple(parents)
    depths: dict[Key, int] = {}

    def depth(k: Key) -> int:
        if k not in depths:
            depths[k] = 1 + max((depth(p) for p in parents_of[k]), default=-1)
        return depths[k]

    members = {k: Member(m.kind, m.name, m.stack, parents_of[k], depth(k), m.where)
               for k, m in graph.members.items() if k != key}
    return ClusterGraph(members=members, waves=dict(graph.waves))
