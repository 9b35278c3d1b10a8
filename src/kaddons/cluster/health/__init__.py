"""The health of one Kubernetes object, as Argo CD assesses it (issue 13).

::

    from kaddons.cluster.health import HealthRules, assess

    rules = HealthRules.from_directory(Path("resource_customizations"))
    health = assess(obj, rules)          # Health(status="Degraded", message="...") or None

Core kinds by a port of gitops-engine's rules (:mod:`.core`); custom resources by Argo-format Lua scripts in a
sandboxed LuaJIT (:mod:`.lua`). ``None``: no rule knows the kind.
"""

from .assess import assess
from .lua import HealthRules, LuaError
from .model import HEALTH_ORDER, Health, worse

__all__ = ["HEALTH_ORDER", "Health", "HealthRules", "LuaError", "assess", "worse"]
