"""Events of a cluster document's objects, newest first (issue 13; ankra-addons.md §3.5).

Both APIs are read: ``core/v1`` Events (``involvedObject``, ``lastTimestamp``) and ``events.k8s.io/v1`` Events
(``regarding``, ``eventTime``), one LIST per API per namespace of the document's add-ons and manifests, and
merged into one shape: time, type, reason, object, message, count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaddons.stacks.load import LoadedCluster

from .kube import ClusterReader

__all__ = ["ClusterEvent", "cluster_events", "namespaces_of"]


@dataclass(frozen=True)
class ClusterEvent:
    """One event: ``time`` (RFC 3339, as the API wrote it), ``type`` (Normal/Warning), ``reason``, the
    ``object`` (``Kind/name``), its ``namespace``, ``message`` and ``count``."""

    time: str
    type: str
    reason: str
    object: str
    namespace: str
    message: str
    count: int


def namespaces_of(loaded: LoadedCluster) -> list[str]:
    """The namespaces the document's add-ons and manifests live in, sorted."""
    found: set[str] = set()
    for stack in loaded.document.spec.stacks:
        found.update(addon.namespace for addon in stack.addons)
        found.update(m.namespace for m in stack.manifests if m.namespace)
    return sorted(found)


def _core(event: dict[str, Any]) -> ClusterEvent:
    involved = event.get("involvedObject") or {}
    when = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or \
        (event.get("metadata") or {}).get("creationTimestamp") or ""
    return ClusterEvent(str(when), str(event.get("type") or ""), str(event.get("reason") or ""),
                        f"{involved.get('kind')}/{involved.get('name')}",
                        str(involved.get("namespace") or (event.get("metadata") or {}).get("namespace") or ""),
                        str(event.get("message") or ""), int(event.get("count") or 1))


def _new(event: dict[str, Any]) -> ClusterEvent:
    regarding = event.get("regarding") or {}
    series = event.get("series") or {}
    when = event.get("eventTime") or event.get("deprecatedLastTimestamp") or \
        (event.get("metadata") or {}).get("creationTimestamp") or ""
    return ClusterEvent(str(when), str(event.get("type") or ""), str(event.get("reason") or ""),
                        f"{regarding.get('kind')}/{regarding.get('name')}",
                        str(regarding.get("namespace") or (event.get("metadata") or {}).get("namespace") or ""),
                        str(event.get("note") or ""), int(series.get("count") or event.get("deprecatedCount") or 1))


def cluster_events(reader: ClusterReader, namespaces: list[str], *, of: str | None = None,
                   kind: str | None = None) -> list[ClusterEvent]:
    """The events in ``namespaces``, newest first; ``of`` keeps one object's (``Kind/name``), ``kind`` one type
    (``Warning``). The same event reported by both APIs appears once."""
    seen: dict[tuple[str, str, str, str], ClusterEvent] = {}
    for namespace in namespaces:
        found = [_core(e) for e in reader.list("", "v1", "Event", "events", namespace=namespace)]
        found += [_new(e) for e in reader.list("events.k8s.io", "v1", "Event", "events", namespace=namespace)]
        for event in found:
            if of is not None and event.object.lower() != of.lower():
                continue
            if kind is not None and event.type.lower() != kind.lower():
                continue
            key = (event.object, event.reason, event.message, event.time)
            seen.setdefault(key, event)
    return sorted(seen.values(), key=lambda e: e.time, reverse=True)
