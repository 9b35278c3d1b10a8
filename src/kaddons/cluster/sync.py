"""``sync``: ask the cluster's engine to reconcile an add-on now (issue 14; ankra-addons.md §6.2 "trigger a
sync"). The one write kaddons makes to the Kubernetes API, because Git cannot express "now":

- Argo CD: the Application ``addon-<name>`` gets an ``operation`` (a sync of its target revision, as
  ``argocd app sync`` sets one), refused while an operation runs;
- Flux: the HelmRelease ``<name>`` (or Kustomization ``manifest-<name>``) gets the annotation
  ``reconcile.fluxcd.io/requestedAt`` with the time, as ``flux reconcile`` sets it; a catalog addon's member
  Kustomization ``catalog-<name>`` and the Kustomizations applying its manifests from the artifact get it each.

A catalog addon is synced as an add-on is (Argo CD: its Application ``catalog-<name>``).

Both are JSON merge patches. The reader's ClusterRole does not allow them: the identity needs ``patch`` on
``applications.argoproj.io``, or on ``helmreleases`` and ``kustomizations`` of the toolkit (a 403 says so).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kaddons.errors import ClusterError, NotFoundError

from .kube import ClusterReader
from .view import APPLICATION, ENGINE_NAMESPACES, HELM_RELEASE, KUSTOMIZATION

if TYPE_CHECKING:
    from kaddons.stacks.load import LoadedCluster

__all__ = ["sync_member", "sync_target"]


def sync_target(loaded: LoadedCluster, name: str) -> tuple[str, tuple[str, ...]]:
    """``(kind, paths)`` of the member ``name`` to sync: ``("addon", ())`` for an add-on, ``("catalog", its
    delivered paths)`` for a catalog addon. Raises NotFoundError naming both kinds' members."""
    from kaddons.stacks.load import member_kind, unknown_member

    kind = member_kind(loaded, name)
    if kind == "addon":
        return "addon", ()
    if kind == "catalog":
        return "catalog", tuple(next(e for e in loaded.document.spec.kaddons.catalog if e.name == name).paths)
    raise unknown_member(loaded, name)


def sync_member(reader: ClusterReader, engine: str, kind: str, name: str, *,
                paths: tuple[str, ...] = ()) -> dict[str, Any]:
    """Ask ``engine`` to reconcile member ``(kind, name)`` now (a catalog addon's delivered ``paths`` name its
    Flux Kustomizations); returns what was asked (``object``: the objects patched, ``patch``). Raises
    NotFoundError (no engine object), ClusterError (refused, unreachable, or a sync already running)."""
    namespace = ENGINE_NAMESPACES[engine]
    if engine == "flux" and kind == "catalog":
        from kaddons.stacks.render_flux import catalog_kustomization_name

        names = [f"catalog-{name}", *(catalog_kustomization_name(name, path) for path in paths)]
        asked = [_annotate(reader, namespace, object_name) for object_name in names]
        return {"object": f"{KUSTOMIZATION.kind} {', '.join(f'{namespace}/{n}' for n in names)}",
                "patch": asked[0]}
    if engine == "argocd":
        target, object_name = APPLICATION, f"{kind}-{name}"
    elif kind == "addon":
        target, object_name = HELM_RELEASE, name
    else:
        target, object_name = KUSTOMIZATION, f"manifest-{name}"
    current = reader.get(target.group, target.version, target.kind, target.plural, object_name, namespace=namespace)
    if current is None:
        raise NotFoundError(f"no {target.kind} {namespace}/{object_name} in the cluster of {reader.where}: apply the "
                            "cluster first (kaddons cluster apply), then wait for the engine to create it")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if engine == "argocd":
        phase = ((current.get("status") or {}).get("operationState") or {}).get("phase")
        if current.get("operation") or phase == "Running":
            raise ClusterError(f"Application {object_name} has an operation running: wait for it (kaddons cluster "
                               "addons get) before asking for another sync")
        spec = current.get("spec") or {}
        sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
        revision = next((s.get("targetRevision") for s in sources if isinstance(s, dict) and s.get("targetRevision")
                         and not s.get("ref")), None) or "HEAD"
        patch: dict[str, Any] = {"operation": {
            "initiatedBy": {"username": "kaddons"},
            "info": [{"name": "Reason", "value": f"kaddons cluster addons sync at {now}"}],
            "sync": {"revision": revision}}}
    else:
        patch = {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": now}}}
    reader.patch(target.group, target.version, target.kind, target.plural, object_name, patch, namespace=namespace)
    return {"object": f"{target.kind} {namespace}/{object_name}", "patch": patch}


def _annotate(reader: ClusterReader, namespace: str, object_name: str) -> dict[str, Any]:
    """Flux's reconcile request on Kustomization ``namespace/object_name``; the patch made."""
    target = KUSTOMIZATION
    if reader.get(target.group, target.version, target.kind, target.plural, object_name, namespace=namespace) is None:
        raise NotFoundError(f"no {target.kind} {namespace}/{object_name} in the cluster of {reader.where}: apply the "
                            "cluster first (kaddons cluster apply), then wait for the engine to create it")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": now}}}
    reader.patch(target.group, target.version, target.kind, target.plural, object_name, patch, namespace=namespace)
    return patch
