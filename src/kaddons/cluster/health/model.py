"""Health statuses (gitops-engine ``pkg/health/health.go``): the six codes, their order, one result."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEGRADED", "HEALTHY", "HEALTH_ORDER", "MISSING", "PROGRESSING", "SUSPENDED", "UNKNOWN", "Health",
           "worse"]

HEALTHY = "Healthy"
SUSPENDED = "Suspended"
PROGRESSING = "Progressing"
MISSING = "Missing"
DEGRADED = "Degraded"
UNKNOWN = "Unknown"
HEALTH_ORDER = (HEALTHY, SUSPENDED, PROGRESSING, MISSING, DEGRADED, UNKNOWN)
"""From the most healthy to the least: a parent shows the worst of its children."""
_RANK = {code: i for i, code in enumerate(HEALTH_ORDER)}


@dataclass(frozen=True)
class Health:
    """A ``status`` (one of :data:`HEALTH_ORDER`) and a human ``message`` (may be empty)."""

    status: str
    message: str = ""


def worse(current: str, new: str) -> bool:
    """``new`` is a worse status than ``current`` (an unknown code counts as the best, as in Argo CD)."""
    return _RANK.get(new, 0) > _RANK.get(current, 0)
