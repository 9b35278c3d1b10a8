"""Argo-format Lua health rules, run in a sandboxed LuaJIT (``lupa``) (issue 13).

A rule is a Lua script that reads the global ``obj`` (the object as Lua tables; lists 1-based) and returns
``{status = "...", message = "..."}``, as Argo CD's ``resource_customizations/<group>/<Kind>/health.lua``.
Rules come from:

* a directory in that layout (:meth:`HealthRules.from_directory`): the exact ``<group>/<Kind>`` folder first,
  else the first folder, in sorted order, whose name matches with ``_`` as a wildcard (``_.crossplane.io/_``);
* an ``argocd-cm`` ConfigMap's ``data`` (:meth:`HealthRules.add_argocd_cm`):
  ``resource.customizations.health.<group>_<Kind>`` keys;
* a catalog addon's own package (:meth:`HealthRules.add_package`), for the CRDs it installs: the files
  ``<group>/<Kind>/health.lua`` below :data:`PACKAGE_FOLDER` of its ``manifests/`` folder. They travel in the
  manifests layer as any file there ([COMPAT]: no new layer, K2s ignores them) and reach the repository with
  ``enable``; they rank below the cluster's ``argocd-cm`` and ``--rules``.

Later sources win over earlier ones for the same group and kind.

The sandbox: no ``python``, ``io``, ``os`` (but ``os.time``/``os.date``), ``require``, ``dofile``, ``loadfile``,
``package``, ``debug``; the JIT is off so an instruction hook can stop a script after :data:`TIME_LIMIT` seconds
(an endless loop is ``Unknown``, with the reason). A status outside Argo's six is ``Unknown`` with Argo's
message "Lua returned an invalid health status"; a script returning ``nil`` gives no health.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaddons.errors import KaddonsError

from .model import HEALTH_ORDER, UNKNOWN, Health

__all__ = ["PACKAGE_FOLDER", "TIME_LIMIT", "HealthRules", "LuaError"]

PACKAGE_FOLDER = "health"
"""The folder of an addon's ``manifests/`` that holds its health rules, in Argo CD's layout."""

TIME_LIMIT = 1.0
"""Seconds a rule may run (Argo CD's own limit)."""
_HOOK_EVERY = 10_000
_SANDBOX = """
local hook, gettime, limit, clock, osdate, every = ...
python = nil; io = nil; require = nil; dofile = nil; loadfile = nil; package = nil; debug = nil; load = nil
loadstring = nil
os = {time = clock, date = osdate}
return function(fn, obj)
  local started = gettime()
  hook(function()
    if gettime() - started > limit then error("health check timed out", 0) end
  end, "", every)
  _G.obj = obj
  local ok, result = pcall(fn)
  hook()
  _G.obj = nil
  if not ok then error(result, 0) end
  return result
end
"""


class LuaError(KaddonsError):
    """A health rule that does not compile."""


@dataclass
class HealthRules:
    """Lua health rules by ``(group, kind)`` and by wildcard pattern (see the module)."""

    exact: dict[tuple[str, str], str] = field(default_factory=dict)
    patterns: list[tuple[str, str, str]] = field(default_factory=list)  # (group pattern, kind pattern, script)
    _runtime: Any = field(default=None, repr=False)
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False)
    _run: Any = field(default=None, repr=False)

    @classmethod
    def from_directory(cls, root: Path) -> HealthRules:
        """The rules of a directory in Argo CD's ``resource_customizations`` layout."""
        rules = cls()
        rules.add_directory(root)
        return rules

    def add_directory(self, root: Path) -> None:
        """Add every ``<group>/<Kind>/health.lua`` under ``root``."""
        for script in sorted(root.glob("*/*/health.lua")):
            group, kind = script.parent.parent.name, script.parent.name
            self.add(group, kind, script.read_text(encoding="utf-8"))

    def add_package(self, files: dict[str, str], folder: str) -> None:
        """Add the rules of a package's files (relative POSIX path -> text): every
        ``<folder>/<group>/<Kind>/health.lua``."""
        for path, text in sorted(files.items()):
            parts = path.split("/")
            if path.startswith(f"{folder}/") and len(parts) == len(folder.split("/")) + 3 and \
                    parts[-1] == "health.lua":
                self.add(parts[-3], parts[-2], text)

    def merged(self, later: HealthRules | None) -> HealthRules:
        """These rules with ``later``'s on top (for the same group and kind, ``later`` wins)."""
        rules = HealthRules(dict(self.exact), list(self.patterns))
        for (group, kind), script in (later.exact if later is not None else {}).items():
            rules.add(group, kind, script)
        for group, kind, script in later.patterns if later is not None else []:
            rules.add(group, kind, script)
        return rules

    def add_argocd_cm(self, data: dict[str, str]) -> None:
        """Add the ``resource.customizations.health.<group>_<Kind>`` entries of an ``argocd-cm``'s data."""
        prefix = "resource.customizations.health."
        for key, script in sorted(data.items()):
            if key.startswith(prefix) and "_" in key[len(prefix):]:
                group, _, kind = key[len(prefix):].rpartition("_")
                self.add(group, kind, script)

    def add(self, group: str, kind: str, script: str) -> None:
        """Add (or replace) the rule of ``group``/``kind``; ``_`` in either is a wildcard."""
        if "_" in group or "_" in kind:
            self.patterns = [p for p in self.patterns if (p[0], p[1]) != (group, kind)]
            self.patterns.append((group, kind, script))
            self.patterns.sort(key=lambda p: (p[0], p[1]))
        else:
            self.exact[(group, kind)] = script

    def script_for(self, group: str, kind: str) -> str | None:
        """The rule that applies to ``group``/``kind``, or ``None``."""
        found = self.exact.get((group, kind))
        if found is not None:
            return found
        for group_pattern, kind_pattern, script in self.patterns:
            if fnmatch.fnmatchcase(group, group_pattern.replace("_", "*")) and \
                    fnmatch.fnmatchcase(kind, kind_pattern.replace("_", "*")):
                return script
        return None

    def __bool__(self) -> bool:
        return bool(self.exact or self.patterns)

    def _lua(self) -> Any:
        if self._runtime is None:
            from lupa import luajit21  # type: ignore[import-untyped]

            runtime = luajit21.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=True)
            runtime.execute("jit.off()")
            self._run = runtime.execute(_SANDBOX, runtime.eval("debug.sethook"), time.monotonic, TIME_LIMIT,
                                        runtime.eval("os.time"), runtime.eval("os.date"), _HOOK_EVERY)
            self._runtime = runtime
        return self._runtime

    def _function(self, script: str) -> Any:
        compiled = self._compiled.get(script)
        if compiled is None:
            try:
                compiled = self._lua().compile(script)
            except Exception as err:  # lupa.LuaSyntaxError, without importing lupa's classes everywhere
                raise LuaError(f"a health rule does not compile: {' '.join(str(err).split())}") from None
            self._compiled[script] = compiled
        return compiled

    def run(self, script: str, obj: dict[str, Any]) -> Health | None:
        """``script`` on ``obj``; ``None`` when it returns nothing (see the module)."""
        function = self._function(script)
        lua = self._lua()
        try:
            result = self._run(function, _to_lua(lua, obj))
        except Exception as err:  # lupa.LuaError: the script failed or ran out of time
            return Health(UNKNOWN, " ".join(str(err).split()))
        if result is None:
            return None
        status, message = result["status"], result["message"]
        if status is None and message is None:
            return None
        if status not in HEALTH_ORDER:
            return Health(UNKNOWN, "Lua returned an invalid health status")
        return Health(str(status), "" if message is None else str(message))


def _to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        table = lua.table()
        for key, item in value.items():
            table[key] = _to_lua(lua, item)
        return table
    if isinstance(value, list):
        table = lua.table()
        for index, item in enumerate(value, 1):
            table[index] = _to_lua(lua, item)
        return table
    return value
