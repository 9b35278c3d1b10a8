"""An add-on's lifecycle state from its engine object, by one table (issue 13; ankra-addons.md §3.1).

The engine's verdict comes first. Rows are tried in order; the first that matches decides
(Argo CD ``Application`` | Flux ``HelmRelease``/``Kustomization`` -> state):

1. object missing | missing -> Unknown
2. a parent is not Synced | same -> Pending, naming the parents
3. no ``status`` yet | no ``Ready`` condition -> Pending (queued)
4. ``operationState.phase`` Running/Terminating | ``Reconciling=True`` -> Deploying
5. ``operationState.phase`` Failed/Error | ``Stalled=True``, or ``Ready=False`` with a failure reason -> Degraded
6. ``sync.status`` OutOfSync | ``spec.suspend``, or the generation not observed yet -> OutOfSync
7. ``health.status`` Degraded/Missing, naming the first such resource | - ; or, both engines, the add-on's
   objects (its resource map, when read) are Degraded/Missing, naming the first -> Degraded
8. ``health.status`` Progressing | ``Ready=Unknown``; or the objects are Progressing -> Deploying
9. Synced and Healthy (or Suspended) | ``Ready=True`` -> Synced
10. anything else -> Unknown (Flux ``Ready=False`` without a known failure reason: Degraded)

The objects' health matters because an engine's verdict can be stale: Flux's ``Ready`` says the release was
installed and once became ready, not that its Pods still run; Argo CD's Deployment health does not look at the
Pods (argo-cd #3781). The map rolls a crash-looping Pod up to its Deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .health import Health
from .health.model import DEGRADED as DEGRADED_HEALTH
from .health.model import MISSING as MISSING_HEALTH
from .health.model import PROGRESSING as PROGRESSING_HEALTH

__all__ = ["DEGRADED", "DEPLOYING", "OUT_OF_SYNC", "PENDING", "STATES", "SYNCED", "UNKNOWN", "AddonState",
           "addon_state"]

PENDING, DEPLOYING, SYNCED, DEGRADED, OUT_OF_SYNC, UNKNOWN = (
    "Pending", "Deploying", "Synced", "Degraded", "OutOfSync", "Unknown")
STATES = (PENDING, DEPLOYING, SYNCED, DEGRADED, OUT_OF_SYNC, UNKNOWN)
_FLUX_FAILURES = ("Failed", "Error", "Exhausted", "ArtifactFailed", "ChartLoad", "DependencyNotReady")


@dataclass(frozen=True)
class AddonState:
    """The ``state`` (one of :data:`STATES`), why (``reason``), and which row of the table decided (``row``)."""

    state: str
    reason: str
    row: int


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def addon_state(engine_object: dict[str, Any] | None, parents: dict[str, str] | None = None,
                objects: Health | None = None) -> AddonState:
    """The state of an add-on from its ``engine_object`` (an Argo CD Application or a Flux HelmRelease or
    Kustomization, as read from the cluster; ``None`` when missing), its ``parents``' states (name -> state) and
    the worst health of its ``objects`` (``None`` when not read; the message names the object)."""
    if engine_object is None:
        return AddonState(UNKNOWN, "its engine object is not in the cluster (not applied yet, or deleted)", 1)
    waiting = sorted(name for name, state in (parents or {}).items() if state != SYNCED)
    if waiting:
        return AddonState(PENDING, f"waiting on parents: {', '.join(waiting)}", 2)
    found = _argo(engine_object) if engine_object.get("kind") == "Application" else _flux(engine_object)
    if objects is not None and found.row > 7:
        if objects.status in (DEGRADED_HEALTH, MISSING_HEALTH):
            return AddonState(DEGRADED, objects.message or objects.status, 7)
        if objects.status == PROGRESSING_HEALTH and found.row > 8:
            return AddonState(DEPLOYING, objects.message or "progressing", 8)
    return found


def _argo(app: dict[str, Any]) -> AddonState:
    status = app.get("status")
    if not isinstance(status, dict) or not status:
        return AddonState(PENDING, "queued: Argo CD has not reconciled it yet", 3)
    phase = _get(status, "operationState", "phase")
    operation_message = str(_get(status, "operationState", "message") or "")
    if phase in ("Running", "Terminating"):
        return AddonState(DEPLOYING, operation_message or f"sync {phase.lower()}", 4)
    if phase in ("Failed", "Error"):
        return AddonState(DEGRADED, operation_message or f"sync {phase.lower()}", 5)
    sync = _get(status, "sync", "status")
    health = _get(status, "health", "status")
    if sync == "OutOfSync":
        return AddonState(OUT_OF_SYNC, "Git differs from the cluster", 6)
    if health in ("Degraded", "Missing"):
        for resource in status.get("resources") or []:
            if isinstance(resource, dict) and _get(resource, "health", "status") in ("Degraded", "Missing"):
                message = _get(resource, "health", "message") or _get(resource, "health", "status")
                return AddonState(DEGRADED, f"{resource.get('kind')}/{resource.get('name')}: {message}", 7)
        return AddonState(DEGRADED, str(_get(status, "health", "message") or health), 7)
    if health == "Progressing":
        return AddonState(DEPLOYING, str(_get(status, "health", "message") or "progressing"), 8)
    if sync == "Synced" and health in ("Healthy", "Suspended"):
        return AddonState(SYNCED, f"synced at {_get(status, 'sync', 'revision') or 'its revision'}, {health}", 9)
    return AddonState(UNKNOWN, f"sync {sync or 'unknown'}, health {health or 'unknown'}", 10)


def _flux(obj: dict[str, Any]) -> AddonState:
    conditions = {c.get("type"): c for c in _get(obj, "status", "conditions") or [] if isinstance(c, dict)}
    ready = conditions.get("Ready")
    if ready is None:
        if _get(obj, "spec", "suspend") is True:
            return AddonState(OUT_OF_SYNC, "suspended: Flux does not reconcile it", 6)
        return AddonState(PENDING, "queued: Flux has not reconciled it yet", 3)
    reconciling, stalled = conditions.get("Reconciling"), conditions.get("Stalled")
    if reconciling is not None and reconciling.get("status") == "True":
        return AddonState(DEPLOYING, str(reconciling.get("message") or "reconciling"), 4)
    reason, message = str(ready.get("reason") or ""), str(ready.get("message") or "")
    if (stalled is not None and stalled.get("status") == "True") or (
            ready.get("status") == "False" and any(word in reason for word in _FLUX_FAILURES)):
        return AddonState(DEGRADED, f"{reason}: {message}".strip(": "), 5)
    generation, observed = _get(obj, "metadata", "generation"), _get(obj, "status", "observedGeneration")
    if _get(obj, "spec", "suspend") is True:
        return AddonState(OUT_OF_SYNC, "suspended: Flux does not reconcile it", 6)
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        return AddonState(OUT_OF_SYNC, "Git changed; Flux has not applied the new spec yet", 6)
    if ready.get("status") == "Unknown":
        return AddonState(DEPLOYING, message or "progressing", 8)
    if ready.get("status") == "True":
        return AddonState(SYNCED, message or "ready", 9)
    return AddonState(DEGRADED if ready.get("status") == "False" else UNKNOWN, f"{reason}: {message}".strip(": "),
                      10)
