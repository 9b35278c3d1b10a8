"""Ankra's settings profiles of an add-on (ankra-addons.md §3.3), defined once.

A profile fixes five settings: automated sync, prune, self-heal, the strict health check and the revision
history limit. The rest (sync options, retry policy, sync window, ignored differences) is left as it is. An
add-on whose five settings match no profile is ``custom``, as Ankra calls it once any of them is changed.
"""

from __future__ import annotations

from typing import Any

from .document import AddonSettings

__all__ = ["CUSTOM", "PROFILES", "apply_profile", "profile_of"]

CUSTOM = "custom"
PROFILES: dict[str, dict[str, Any]] = {
    "default": {"automated": True, "auto_prune": True, "self_heal": True, "strict_health_check": False,
                "revision_history_limit": 10},
    "development": {"automated": True, "auto_prune": True, "self_heal": True, "strict_health_check": False,
                    "revision_history_limit": 5},
    "production-critical": {"automated": False, "auto_prune": False, "self_heal": False,
                            "strict_health_check": True, "revision_history_limit": 20},
    "stateful": {"automated": True, "auto_prune": False, "self_heal": True, "strict_health_check": False,
                 "revision_history_limit": 10},
}
"""Profile name -> the five settings it fixes (§3.3's table)."""
_SYNC = ("automated", "auto_prune", "self_heal")


def profile_of(settings: AddonSettings) -> str:
    """The profile ``settings`` match, else :data:`CUSTOM`."""
    found = {key: getattr(settings.sync_policy, key) for key in _SYNC}
    found["strict_health_check"] = settings.strict_health_check
    found["revision_history_limit"] = settings.revision_history_limit
    return next((name for name, fixed in PROFILES.items() if fixed == found), CUSTOM)


def apply_profile(entry: Any, profile: str) -> None:
    """Write profile ``profile``'s five settings into an add-on entry (a round-trip mapping), keeping the rest
    of its ``settings``. Raises KeyError for an unknown profile (the caller names the profiles)."""
    from ruamel.yaml.comments import CommentedMap

    fixed = PROFILES[profile]
    settings = entry.get("settings")
    if settings is None:
        settings = entry["settings"] = CommentedMap()
    policy = settings.get("sync_policy")
    if policy is None:
        policy = settings["sync_policy"] = CommentedMap()
    for key in _SYNC:
        policy[key] = fixed[key]
    settings["strict_health_check"] = fixed["strict_health_check"]
    settings["revision_history_limit"] = fixed["revision_history_limit"]
