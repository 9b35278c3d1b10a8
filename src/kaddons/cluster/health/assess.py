"""One object's health (gitops-engine ``GetResourceHealth``): pending deletion, then a Lua rule, then the
built-in rule of a core kind; ``None`` when nothing knows the kind."""

from __future__ import annotations

from typing import Any

from .core import core_rule
from .lua import HealthRules
from .model import PROGRESSING, Health

__all__ = ["HOOK_FINALIZER", "assess", "group_kind"]

HOOK_FINALIZER = "argocd.argoproj.io/hook-finalizer"


def group_kind(obj: dict[str, Any]) -> tuple[str, str]:
    """``(group, kind)`` of an object (``""`` for the core group)."""
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return group, str(obj.get("kind") or "")


def assess(obj: dict[str, Any], rules: HealthRules | None = None) -> Health | None:
    """The health of ``obj`` (a Kubernetes object as plain data), or ``None`` when no rule knows its kind."""
    found_metadata = obj.get("metadata")
    metadata: dict[str, Any] = found_metadata if isinstance(found_metadata, dict) else {}
    finalizers = metadata.get("finalizers") or []
    if metadata.get("deletionTimestamp") and HOOK_FINALIZER not in finalizers:
        return Health(PROGRESSING, "Pending deletion")
    group, kind = group_kind(obj)
    if rules is not None:
        script = rules.script_for(group, kind)
        if script is not None:
            found = rules.run(script, obj)
            if found is not None:
                return found
    rule = core_rule(group, kind)
    return rule(obj) if rule is not None else None
