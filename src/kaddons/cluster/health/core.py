"""Health of the core kinds, as Argo CD's gitops-engine assesses them (``pkg/health/health_*.go``; kaddons'
own port, tested against that package's fixtures and expected statuses).

Deployment, StatefulSet, ReplicaSet, DaemonSet (``apps``), Pod, Service, PersistentVolumeClaim (core),
Ingress (``networking.k8s.io``, ``extensions``), Job (``batch``), HorizontalPodAutoscaler (``autoscaling``),
APIService (``apiregistration.k8s.io``), Argo Workflow (``argoproj.io``). Fields missing from an object read as
Kubernetes' zero values, as the typed conversion upstream reads them; ``spec.replicas`` missing is "not set".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .model import DEGRADED, HEALTHY, PROGRESSING, SUSPENDED, UNKNOWN, Health

__all__ = ["core_rule"]

Rule = Callable[[dict[str, Any]], Health]


def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj or obj[key] is None:
            return default
        obj = obj[key]
    return obj


def _int(obj: Any, *path: str) -> int:
    value = _get(obj, *path, default=0)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _replicas(obj: dict[str, Any]) -> int | None:
    value = _get(obj, "spec", "replicas")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _conditions(obj: Any) -> list[dict[str, Any]]:
    found = _get(obj, "status", "conditions", default=[])
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _condition(obj: Any, kind: str) -> dict[str, Any] | None:
    return next((c for c in _conditions(obj) if c.get("type") == kind), None)


def _name(obj: dict[str, Any]) -> str:
    return str(_get(obj, "metadata", "name", default=""))


def _generation(obj: dict[str, Any]) -> int:
    return _int(obj, "metadata", "generation")


def _deployment(obj: dict[str, Any]) -> Health:
    if _get(obj, "spec", "paused", default=False) is True:
        return Health(SUSPENDED, "Deployment is paused")
    if _generation(obj) > _int(obj, "status", "observedGeneration"):
        return Health(PROGRESSING, "Waiting for rollout to finish: observed deployment generation less than desired "
                                   "generation")
    progressing = _condition(obj, "Progressing")
    wanted = _replicas(obj)
    updated, replicas = _int(obj, "status", "updatedReplicas"), _int(obj, "status", "replicas")
    available = _int(obj, "status", "availableReplicas")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(DEGRADED, f'Deployment "{_name(obj)}" exceeded its progress deadline')
    if wanted is not None and updated < wanted:
        return Health(PROGRESSING, f"Waiting for rollout to finish: {updated} out of {wanted} new replicas have been "
                                   "updated...")
    if replicas > updated:
        return Health(PROGRESSING, f"Waiting for rollout to finish: {replicas - updated} old replicas are pending "
                                   "termination...")
    if available < updated:
        return Health(PROGRESSING, f"Waiting for rollout to finish: {available} of {updated} updated replicas are "
                                   "available...")
    return Health(HEALTHY)


def _statefulset(obj: dict[str, Any]) -> Health:
    observed = _int(obj, "status", "observedGeneration")
    if observed == 0 or _generation(obj) > observed:
        return Health(PROGRESSING, "Waiting for statefulset spec update to be observed...")
    wanted = _replicas(obj)
    ready, updated = _int(obj, "status", "readyReplicas"), _int(obj, "status", "updatedReplicas")
    if wanted is not None and ready < wanted:
        return Health(PROGRESSING, f"Waiting for {wanted - ready} pods to be ready...")
    strategy = _get(obj, "spec", "updateStrategy", default={})
    kind = _get(strategy, "type", default="")
    rolling = _get(strategy, "rollingUpdate")
    if kind == "RollingUpdate" and isinstance(rolling, dict):
        partition = rolling.get("partition")
        if wanted is not None and isinstance(partition, int) and updated < wanted - partition:
            return Health(PROGRESSING, f"Waiting for partitioned roll out to finish: {updated} out of "
                                       f"{wanted - partition} new pods have been updated...")
        return Health(HEALTHY, f"partitioned roll out complete: {updated} new pods have been updated...")
    if kind == "OnDelete":
        return Health(HEALTHY, f"statefulset has {ready} ready pods")
    update_revision = _get(obj, "status", "updateRevision", default="")
    current_revision = _get(obj, "status", "currentRevision", default="")
    if update_revision != current_revision:
        return Health(PROGRESSING, f"waiting for statefulset rolling update to complete {updated} pods at revision "
                                   f"{update_revision}...")
    return Health(HEALTHY, f"statefulset rolling update complete {_int(obj, 'status', 'currentReplicas')} pods at "
                           f"revision {current_revision}...")


def _daemonset(obj: dict[str, Any]) -> Health:
    if _generation(obj) > _int(obj, "status", "observedGeneration"):
        return Health(PROGRESSING, "Waiting for rollout to finish: observed daemon set generation less than desired "
                                   "generation")
    updated, desired = _int(obj, "status", "updatedNumberScheduled"), _int(obj, "status", "desiredNumberScheduled")
    if _get(obj, "spec", "updateStrategy", "type") == "OnDelete":
        return Health(HEALTHY, f"daemon set {updated} out of {desired} new pods have been updated")
    if updated < desired:
        return Health(PROGRESSING, f'Waiting for daemon set "{_name(obj)}" rollout to finish: {updated} out of '
                                   f"{desired} new pods have been updated...")
    available = _int(obj, "status", "numberAvailable")
    if available < desired:
        return Health(PROGRESSING, f'Waiting for daemon set "{_name(obj)}" rollout to finish: {available} of '
                                   f"{desired} updated pods are available...")
    return Health(HEALTHY)


def _replicaset(obj: dict[str, Any]) -> Health:
    if _generation(obj) > _int(obj, "status", "observedGeneration"):
        return Health(PROGRESSING, "Waiting for rollout to finish: observed replica set generation less than "
                                   "desired generation")
    failure = _condition(obj, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return Health(DEGRADED, str(failure.get("message") or ""))
    wanted, available = _replicas(obj), _int(obj, "status", "availableReplicas")
    if wanted is not None and available < wanted:
        return Health(PROGRESSING, f"Waiting for rollout to finish: {available} out of {wanted} new replicas are "
                                   "available...")
    return Health(HEALTHY)


def _statuses(obj: Any, key: str) -> list[dict[str, Any]]:
    found = _get(obj, "status", key, default=[])
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def _pod_ready(obj: dict[str, Any]) -> bool:
    ready = _condition(obj, "Ready")
    return ready is not None and ready.get("status") == "True"


def _pod(obj: dict[str, Any]) -> Health:
    restart = _get(obj, "spec", "restartPolicy", default="")
    message = str(_get(obj, "status", "message", default=""))
    if restart == "Always":
        messages = []
        for container in _statuses(obj, "containerStatuses"):
            waiting = _get(container, "state", "waiting")
            reason = str(_get(waiting, "reason", default="")) if isinstance(waiting, dict) else ""
            if isinstance(waiting, dict) and (reason.startswith("Err") or reason.endswith("Error")
                                              or reason.endswith("BackOff")):
                messages.append(str(waiting.get("message") or ""))
        if messages:
            return Health(DEGRADED, ", ".join(messages))
    phase = _get(obj, "status", "phase", default="")
    if phase == "Pending":
        return Health(PROGRESSING, message)
    if phase == "Succeeded":
        return Health(HEALTHY, message)
    if phase == "Failed":
        if message:
            return Health(DEGRADED, message)
        for container in [*_statuses(obj, "initContainerStatuses"), *_statuses(obj, "containerStatuses")]:
            terminated = _get(container, "state", "terminated")
            if isinstance(terminated, dict):
                if terminated.get("message"):
                    return Health(DEGRADED, str(terminated["message"]))
                if terminated.get("reason") == "OOMKilled":
                    return Health(DEGRADED, "OOMKilled")
                code = terminated.get("exitCode") or 0
                if code != 0:
                    return Health(DEGRADED, f'container "{container.get("name", "")}" failed with exit code {code}')
        return Health(DEGRADED, "")
    if phase == "Running":
        if restart == "Always":
            if _pod_ready(obj):
                return Health(HEALTHY, message)
            if any(isinstance(_get(c, "lastState", "terminated"), dict) for c in _statuses(obj, "containerStatuses")):
                return Health(DEGRADED, message)
            return Health(PROGRESSING, message)
        if restart in ("OnFailure", "Never"):
            return Health(PROGRESSING, message)
    return Health(UNKNOWN, message)


def _pvc(obj: dict[str, Any]) -> Health:
    phase = _get(obj, "status", "phase", default="")
    return Health({"Lost": DEGRADED, "Pending": PROGRESSING, "Bound": HEALTHY}.get(phase, UNKNOWN))


def _service(obj: dict[str, Any]) -> Health:
    if _get(obj, "spec", "type") == "LoadBalancer":
        return Health(HEALTHY if _get(obj, "status", "loadBalancer", "ingress") else PROGRESSING)
    return Health(HEALTHY)


def _ingress(obj: dict[str, Any]) -> Health:
    return Health(HEALTHY if _get(obj, "status", "loadBalancer", "ingress") else PROGRESSING)


def _job(obj: dict[str, Any]) -> Health:
    failed = complete = suspended = False
    fail_message = message = ""
    for condition in _conditions(obj):
        kind = condition.get("type")
        if kind == "Failed":
            failed = complete = True
            fail_message = str(condition.get("message") or "")
        elif kind == "Complete":
            complete = True
            message = str(condition.get("message") or "")
        elif kind == "Suspended":
            complete = True
            message = str(condition.get("message") or "")
            suspended = condition.get("status") == "True"
    if not complete:
        return Health(PROGRESSING, message)
    if failed:
        return Health(DEGRADED, fail_message)
    if suspended:
        return Health(SUSPENDED, fail_message)
    return Health(HEALTHY, message)


def _apiservice(obj: dict[str, Any]) -> Health:
    available = _condition(obj, "Available")
    if available is None:
        return Health(PROGRESSING, "Waiting to be processed")
    text = f"{available.get('reason') or ''}: {available.get('message') or ''}"
    return Health(HEALTHY if available.get("status") == "True" else PROGRESSING, text)


_HPA_DEGRADED = {("AbleToScale", "FailedGetScale"), ("AbleToScale", "FailedUpdateScale"),
                 ("ScalingActive", "FailedGetResourceMetric"), ("ScalingActive", "InvalidSelector")}
_WAITING_TO_AUTOSCALE = Health(PROGRESSING, "Waiting to Autoscale")


def _hpa(obj: dict[str, Any]) -> Health:
    if str(obj.get("apiVersion", "")).endswith("/v1"):
        annotation = _get(obj, "metadata", "annotations", "autoscaling.alpha.kubernetes.io/conditions")
        if annotation is None:
            return _WAITING_TO_AUTOSCALE
        try:
            conditions = json.loads(annotation)
        except (TypeError, ValueError) as err:
            return Health(UNKNOWN, f"failed to convert conditions annotation to typed: {err}")
        conditions = [c for c in conditions if isinstance(c, dict)] if isinstance(conditions, list) else []
    else:
        conditions = _conditions(obj)
    for condition in conditions:
        kind, reason = condition.get("type"), condition.get("reason")
        if (kind, reason) in _HPA_DEGRADED:
            return Health(DEGRADED, str(condition.get("message") or ""))
        if kind in ("AbleToScale", "ScalingLimited") and condition.get("status") == "True":
            return Health(HEALTHY, str(condition.get("message") or ""))
    return _WAITING_TO_AUTOSCALE


def _workflow(obj: dict[str, Any]) -> Health:
    phase, message = _get(obj, "status", "phase", default=""), str(_get(obj, "status", "message", default=""))
    if phase in ("", "Pending", "Running"):
        return Health(PROGRESSING, message)
    if phase == "Succeeded":
        return Health(HEALTHY, message)
    if phase in ("Failed", "Error"):
        return Health(DEGRADED, message)
    return Health(UNKNOWN, message)


_RULES: dict[tuple[str, str], Rule] = {
    ("apps", "Deployment"): _deployment, ("apps", "StatefulSet"): _statefulset,
    ("apps", "ReplicaSet"): _replicaset, ("apps", "DaemonSet"): _daemonset,
    ("extensions", "Ingress"): _ingress, ("networking.k8s.io", "Ingress"): _ingress,
    ("argoproj.io", "Workflow"): _workflow, ("apiregistration.k8s.io", "APIService"): _apiservice,
    ("", "Service"): _service, ("", "PersistentVolumeClaim"): _pvc, ("", "Pod"): _pod,
    ("batch", "Job"): _job, ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
}


def core_rule(group: str, kind: str) -> Rule | None:
    """The built-in rule of ``(group, kind)``, or ``None``."""
    return _RULES.get((group, kind))
