"""``sync``: ask the cluster's engine to reconcile an add-on now (issue 14; ankra-addons.md §6.2 "trigger a
sync"). The one write kaddons makes to the Kubernetes API, because Git cannot express "now":

- Argo CD: the Application ``addon-<name>`` gets an ``operation`` (a sync of its target revision, as
  ``argocd app sync`` sets one), refused while an operation runs;
- Flux: the HelmRelease ``<name>`` (or Kustomization ``manifest-<name>``) gets the annotation
  ``reconcile.fluxcd.io/requestedAt`` with the time, as ``flux reconcile`` sets it.

Both are JSON merge patches. The reader's ClusterRole does not allow them: the identity needs ``patch`` on
``applications.argoproj.io``, or on ``helmreleases`` and ``kustomizations`` of the toolkit (a 403 says so).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kaddons.errors import ClusterError, NotFoundError

from .kube import ClusterReader
from .view import APPLICATION, ENGINE_NAMESPACES, HELM_RELEASE, KUSTOMIZATION

__all__ = ["sync_member"]


def sync_member(reader: ClusterReader, engine: str, kind: str, name: str) -> dict[str, Any]:
    """Ask ``engine`` to reconcile member ``(kind, name)`` now; returns what was asked (``object``, ``patch``).
    Raises NotFoundError (no engine object), ClusterError (refused, unreachable, or a sync already running)."""
    namespace = ENGINE_NAMESPACES[engine]
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
