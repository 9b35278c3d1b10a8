"""A cluster document's members as the cluster shows them: states, resource maps, the objects of each add-on
(issue 13; ankra-addons.md §3.1 and §3.5).

A :class:`ClusterView` is fed the events of a :class:`~kaddons.cluster.cache.ClusterCache` (its
:meth:`~ClusterView.listener`) over the kinds :meth:`~ClusterView.watched` names: the engine's objects
(Argo CD ``Application``s in ``argocd``, or Flux ``HelmRelease``s and ``Kustomization``s in ``flux-system``,
labelled ``kaddons.io/cluster=<name>``) and the workload kinds of :data:`WORKLOAD_KINDS`. It keeps them indexed,
so a state or a map is computed without a pass over every object.

An object belongs to a member when:

- the engine lists it: an Argo CD Application's ``status.resources[]``, a Flux Kustomization's
  ``status.inventory.entries[]``;
- or it carries the member's Helm release (annotations ``meta.helm.sh/release-name`` = the add-on's name and
  ``meta.helm.sh/release-namespace`` = its namespace: both engines install the release under the add-on's name);
- or Argo CD's tracking (annotation ``argocd.argoproj.io/tracking-id`` ``<app>:…``, or label
  ``app.kubernetes.io/instance`` = ``<app>``).

Its roots are those objects that no other held object owns; the map follows owner references from them. An
object the engine lists but whose kind is not watched is still a node, with the health the engine reports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kaddons.stacks.load import LoadedCluster

from .cache import Kind, Watched
from .health import Health, HealthRules
from .resource_map import DEFAULT_CAP, Node, ObjectIndex
from .state import AddonState, addon_state

__all__ = ["ENGINE_NAMESPACES", "WORKLOAD_KINDS", "ClusterView", "MemberDetails"]

WORKLOAD_KINDS: tuple[Kind, ...] = (
    Kind("apps", "v1", "Deployment", "deployments"),
    Kind("apps", "v1", "StatefulSet", "statefulsets"),
    Kind("apps", "v1", "DaemonSet", "daemonsets"),
    Kind("apps", "v1", "ReplicaSet", "replicasets"),
    Kind("", "v1", "Pod", "pods"),
    Kind("", "v1", "Service", "services"),
    Kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    Kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    Kind("", "v1", "ConfigMap", "configmaps"),
    Kind("", "v1", "ServiceAccount", "serviceaccounts"),
    Kind("batch", "v1", "Job", "jobs"),
    Kind("batch", "v1", "CronJob", "cronjobs"),
    Kind("networking.k8s.io", "v1", "Ingress", "ingresses"),
    Kind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
)
"""The kinds a resource map follows (all within the reader's ClusterRole, :mod:`kaddons.cluster.rbac`)."""

APPLICATION = Kind("argoproj.io", "v1alpha1", "Application", "applications")
HELM_RELEASE = Kind("helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases")
KUSTOMIZATION = Kind("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations")
ENGINE_NAMESPACES = {"argocd": "argocd", "flux": "flux-system"}
"""Where each engine's objects of a cluster live (the bootstraps put them there)."""

MemberKey = tuple[str, str]


def engine_kinds(engine: str) -> tuple[Kind, ...]:
    """The engine objects' kinds: Application, or HelmRelease and Kustomization."""
    return (APPLICATION,) if engine == "argocd" else (HELM_RELEASE, KUSTOMIZATION)


def member_of(engine_object: dict[str, Any]) -> MemberKey | None:
    """Which member an engine object stands for: ``addon-<name>``/``manifest-<name>``/``catalog-<name>``
    Applications, Flux HelmReleases ``<name>`` (add-ons) and Kustomizations ``manifest-<name>`` and
    ``catalog-<name>`` (catalog addons)."""
    name = str((engine_object.get("metadata") or {}).get("name") or "")
    kind = engine_object.get("kind")
    if kind == "HelmRelease":
        return ("addon", name)
    for prefix in ("addon", "manifest", "catalog"):
        if name.startswith(f"{prefix}-") and (kind == "Application" or prefix != "addon"):
            return (prefix, name.removeprefix(f"{prefix}-"))
    return None


def package_rules(loaded: LoadedCluster) -> HealthRules:
    """The health rules the catalog addons of ``loaded`` carry (``manifests/health/<group>/<Kind>/health.lua``
    of each, as ``enable`` took them into the repository), in document order: a later addon's rule wins."""
    from .health.lua import PACKAGE_FOLDER

    rules = HealthRules()
    for entry in loaded.document.spec.kaddons.catalog:
        rules.add_package(loaded.catalog[entry.name].files, f"manifests/{PACKAGE_FOLDER}")
    return rules


def _ownership(obj: dict[str, Any]) -> list[tuple[str, ...]]:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    labels = meta.get("labels") or {}
    keys: list[tuple[str, ...]] = []
    release = annotations.get("meta.helm.sh/release-name")
    if release:
        keys.append(("helm", str(annotations.get("meta.helm.sh/release-namespace") or meta.get("namespace") or ""),
                     str(release)))
    tracking = annotations.get("argocd.argoproj.io/tracking-id")
    if isinstance(tracking, str) and ":" in tracking:
        keys.append(("argocd", tracking.split(":", 1)[0].rpartition("_")[2]))
    elif labels.get("app.kubernetes.io/instance"):
        keys.append(("argocd", str(labels["app.kubernetes.io/instance"])))
    return keys


@dataclass
class MemberDetails:
    """One member as the cluster shows it: ``state``, a summary of its ``engine`` object (``None`` when missing),
    its resource map ``trees`` and the ``objects`` in them (``Kind/name``, for their events)."""

    kind: str
    name: str
    namespace: str | None
    state: AddonState
    engine: dict[str, Any] | None
    trees: list[Node]
    objects: set[str] = field(default_factory=set)


class ClusterView:
    """See the module. Thread-safe when every call holds the cache's lock (:meth:`ClusterCache.locked`)."""

    def __init__(self, loaded: LoadedCluster, engine: str, rules: HealthRules | None = None) -> None:
        self.loaded = loaded
        self.engine = engine
        self.cluster = loaded.document.metadata.name
        self.rules = package_rules(loaded).merged(rules) if loaded.catalog else rules
        """The health rules: the catalog addons' own, then ``rules`` (the cluster's argocd-cm, --rules) on top."""
        self.index = ObjectIndex(self.rules or None)
        self.engine_objects: dict[MemberKey, dict[str, Any]] = {}
        self._owned: dict[tuple[str, ...], dict[str, None]] = defaultdict(dict)
        self._keys: dict[str, list[tuple[str, ...]]] = {}
        self._engine_kinds = engine_kinds(engine)
        self.objects_read = False
        """Whether workload kinds are watched: then the objects' health counts in the states."""
        self._health: dict[MemberKey, Health | None] = {}
        self._states: dict[MemberKey, AddonState] | None = None
        self._listed: dict[tuple[str, str, str], set[MemberKey]] = defaultdict(set)
        """(kind, namespace, name) -> the members whose engine object lists that object."""
        self._nested: dict[tuple[str, str], dict[str, Any]] = {}
        """Flux Kustomizations that are no member's own (a catalog addon's, applying a folder of its artifact),
        by (namespace, name): a member's Kustomization lists them, and their inventories continue its map."""

    def watched(self, *, workloads: bool = True, namespaces: list[str] | None = None) -> list[Watched]:
        """What to watch: the engine's objects, and (``workloads``) :data:`WORKLOAD_KINDS` in all namespaces or
        one informer per kind and namespace of ``namespaces``."""
        labels = (("kaddons.io/cluster", self.cluster),)
        found = [Watched(kind, ENGINE_NAMESPACES[self.engine], labels) for kind in self._engine_kinds]
        if workloads:
            self.objects_read = True
            scopes: list[str | None] = list(namespaces) if namespaces else [None]
            for kind in WORKLOAD_KINDS:
                found.extend(Watched(kind, ns, optional=True) for ns in scopes)
        return found

    def listener(self, watched: Watched, event: str, obj: dict[str, Any]) -> None:
        """Take one change from the cache (ADDED, MODIFIED, DELETED)."""
        self._states = None
        if watched.kind in self._engine_kinds:
            member = member_of(obj)
            if member is not None and member in self.loaded.graph.members:
                self._health.pop(member, None)
                for listed in self._listed_keys(self.engine_objects.get(member)):
                    self._listed[listed].discard(member)
                if event == "DELETED":
                    self.engine_objects.pop(member, None)
                else:
                    self.engine_objects[member] = obj
                    for listed in self._listed_keys(obj):
                        self._listed[listed].add(member)
            elif obj.get("kind") == "Kustomization":
                meta = obj.get("metadata") or {}
                where = (str(meta.get("namespace") or ""), str(meta.get("name")))
                owners = set(self._listed.get(("Kustomization", *where), ()))
                for kind, ns, name, _health in _listed(self._nested.get(where)):
                    self._listed[(kind, ns or "", name)] -= owners
                if event == "DELETED":
                    self._nested.pop(where, None)
                else:
                    self._nested[where] = obj
                    for kind, ns, name, _health in _listed(obj):
                        self._listed[(kind, ns or "", name)].update(owners)
                for owner in owners:
                    self._health.pop(owner, None)
            return
        meta = obj.get("metadata") or {}
        uid = self.index.uid_of(str(obj.get("kind")), meta.get("namespace"), str(meta.get("name")))
        if uid is not None:
            self._invalidate(uid)
            for key in self._keys.pop(uid, []):
                self._owned[key].pop(uid, None)
        if event == "DELETED":
            self.index.remove(obj)
            return
        uid = self.index.put(obj)
        keys = _ownership(obj)
        if keys:
            self._keys[uid] = keys
            for key in keys:
                self._owned[key][uid] = None
        self._invalidate(uid)

    def _invalidate(self, uid: str) -> None:
        """Forget the objects' health of the members the object belongs to: walking up its owners, by their Helm
        release, Argo CD tracking, or an engine object listing them."""
        if not self._health:
            return
        found: set[MemberKey] = set()
        seen: set[str] = set()
        todo = [uid]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for key in self._keys.get(current, []):
                if key[0] == "helm":
                    found.add(("addon", key[2]))
                else:
                    found.update(k for k in [_app_member(key[1])] if k is not None)
            node = self.index.node(current)
            if node is not None:
                found.update(self._listed.get((node.kind, str(node.namespace or ""), node.name), ()))
            todo.extend(self.index.owners_of(current))
        for member in found:
            self._health.pop(member, None)

    def states(self) -> dict[MemberKey, AddonState]:
        """``(kind, name) -> state`` of every member, parents first (see :func:`~.state.addon_state`); with
        :attr:`objects_read`, the health of each member's objects counts (computed once per change of them).
        Kept until the next change."""
        if self._states is not None:
            return self._states
        states: dict[MemberKey, AddonState] = {}
        for key, member in sorted(self.loaded.graph.members.items(), key=lambda item: item[1].depth):
            parents = {f"{kind} {name}": states[(kind, name)].state for kind, name in member.parents}
            states[key] = addon_state(self.engine_objects.get(key), parents,
                                      self.objects_health(key) if self.objects_read else None)
        self._states = states
        return states

    def objects_health(self, key: MemberKey) -> Health | None:
        """The worst health in the member's resource map, its message naming the path to the object."""
        if key not in self._health:
            worst: Health | None = None
            for tree in self._trees(key, DEFAULT_CAP):
                if tree.shown is not None and (worst is None or _rank(tree.shown) > _rank(worst)):
                    worst = Health(tree.shown.status, f"{tree.label}: {tree.shown.message}".rstrip(": "))
            self._health[key] = worst
        return self._health[key]

    def _trees(self, key: MemberKey, cap: int) -> list[Node]:
        roots, missing = self._roots(key, self.namespace_of(key))
        return sorted([*self.index.trees(roots, cap), *missing], key=lambda n: (-_rank(n.shown), n.kind, n.name))

    def namespace_of(self, key: MemberKey) -> str | None:
        """The namespace of the member ``key`` (``None`` for a manifest without one)."""
        if key[0] == "catalog":
            return next((e.namespace for e in self.loaded.document.spec.kaddons.catalog if e.name == key[1]), None)
        for stack in self.loaded.document.spec.stacks:
            for item in (stack.addons if key[0] == "addon" else stack.manifests):
                if item.name == key[1]:
                    return item.namespace
        return None

    def _listed_keys(self, engine_object: dict[str, Any] | None) -> set[tuple[str, str, str]]:
        """``(kind, namespace, name)`` of what an engine object lists, directly (a nested Kustomization itself)
        and through the nested Kustomizations."""
        both = [*_listed(engine_object), *self._entries(engine_object)]
        return {(kind, ns or "", name) for kind, ns, name, _health in both}

    def _entries(self, engine_object: dict[str, Any] | None) -> list[tuple[str, str | None, str, Health | None]]:
        """What an engine object lists, a listed Kustomization of :attr:`_nested` replaced by what it lists."""
        found: list[tuple[str, str | None, str, Health | None]] = []
        seen: set[tuple[str, str]] = set()
        todo = _listed(engine_object)
        while todo:
            kind, ns, name, health = todo.pop(0)
            nested = (ns or "", name)
            if kind == "Kustomization" and nested in self._nested:
                if nested not in seen:
                    seen.add(nested)
                    todo.extend(_listed(self._nested[nested]))
                continue
            found.append((kind, ns, name, health))
        return found

    def _roots(self, key: MemberKey, namespace: str | None) -> tuple[list[str], list[Node]]:
        uids: list[str] = []
        missing: list[Node] = []
        for kind, ns, name, health in self._entries(self.engine_objects.get(key)):
            uid = self.index.uid_of(kind, ns, name)
            if uid is not None:
                uids.append(uid)
            else:
                missing.append(Node(kind, name, ns, None, health, health))
        engine_name = key[1] if self.engine != "argocd" and key[0] == "addon" else f"{key[0]}-{key[1]}"
        if key[0] == "addon":
            uids.extend(self._owned.get(("helm", namespace or "", key[1]), {}))
        uids.extend(self._owned.get(("argocd", engine_name), {}))
        return [uid for uid in dict.fromkeys(uids) if not self.index.is_owned(uid)], missing

    def details(self, key: MemberKey, *, cap: int = DEFAULT_CAP) -> MemberDetails:
        """The member ``key`` (``("addon", name)``) as the cluster shows it."""
        states = self.states()
        namespace = self.namespace_of(key)
        trees = self._trees(key, cap)
        objects: set[str] = set()

        def walk(node: Node) -> None:
            if node.members is None:
                objects.add(f"{node.kind}/{node.name}")
            for child in [*node.children, *(node.members or [])]:
                walk(child)

        for tree in trees:
            walk(tree)
        engine_object = self.engine_objects.get(key)
        if engine_object is not None:
            objects.add(f"{engine_object.get('kind')}/{(engine_object.get('metadata') or {}).get('name')}")
        return MemberDetails(key[0], key[1], namespace, states[key], engine_summary(engine_object), trees, objects)


def _listed(engine_object: dict[str, Any] | None) -> list[tuple[str, str | None, str, Health | None]]:
    """The objects an engine object lists: ``(kind, namespace, name, health)`` from an Argo CD Application's
    ``status.resources[]`` (with the health Argo CD reports) or a Flux Kustomization's
    ``status.inventory.entries[]`` (ids ``<namespace>_<name>_<group>_<kind>``)."""
    status = (engine_object or {}).get("status") or {}
    listed: list[tuple[str, str | None, str, Health | None]] = []
    for resource in status.get("resources") or []:
        if isinstance(resource, dict):
            health = resource.get("health") or {}
            listed.append((str(resource.get("kind")), resource.get("namespace"), str(resource.get("name")),
                           Health(str(health["status"]), str(health.get("message") or ""))
                           if health.get("status") else None))
    for entry in (status.get("inventory") or {}).get("entries") or []:
        parts = str(entry.get("id") if isinstance(entry, dict) else "").split("_")
        if len(parts) >= 4:
            listed.append((parts[-1], parts[0] or None, "_".join(parts[1:-2]), None))
    return listed


def _app_member(application: str) -> MemberKey | None:
    for prefix in ("addon", "manifest", "catalog"):
        if application.startswith(f"{prefix}-"):
            return (prefix, application.removeprefix(f"{prefix}-"))
    return None


def _rank(health: Health | None) -> int:
    from .health import HEALTH_ORDER

    return HEALTH_ORDER.index(health.status) if health is not None and health.status in HEALTH_ORDER else 0


def engine_summary(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the engine says about a member, in a few fields: for an Argo CD Application ``sync``, ``revision``,
    ``health``, ``operation`` (phase, message, finished); for Flux ``ready`` (status, reason, message),
    ``revision``; both: ``kind``, ``name``, ``namespace``."""
    if obj is None:
        return None
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    summary: dict[str, Any] = {"kind": obj.get("kind"), "name": meta.get("name"), "namespace": meta.get("namespace")}
    if obj.get("kind") == "Application":
        operation = status.get("operationState") or {}
        summary.update({
            "sync": (status.get("sync") or {}).get("status"), "revision": (status.get("sync") or {}).get("revision"),
            "health": (status.get("health") or {}).get("status"),
            "operation": {"phase": operation.get("phase"), "message": operation.get("message"),
                          "finished": operation.get("finishedAt")} if operation else None})
        return summary
    ready = next((c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") == "Ready"), {})
    history = status.get("history") or []
    summary.update({
        "ready": {"status": ready.get("status"), "reason": ready.get("reason"), "message": ready.get("message")},
        "revision": status.get("lastAppliedRevision") or (
            history[0].get("chartVersion") if history and isinstance(history[0], dict) else None)})
    return summary
