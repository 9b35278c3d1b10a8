"""Addon sync: a node's addon catalog follows what is published in a registry (spec §4).

::

    from kaddons.sync import SyncConfig, SyncLog, sync_addons

    config = SyncConfig(registry="oci://127.0.0.1:5000", addons_dir=Path("/k2s/addons"), check_digest=True,
                        options=RegistryOptions(insecure=True))
    report = sync_addons(config, log=SyncLog(lambda level, line: print(line)))
    sys.exit(report.exit_code)

- :class:`SyncConfig`: registry (``oci://HOST[:PORT][/PREFIX]`` or ``oci-layout:DIR``), addons
  directory, selection, ``check_digest``, tag policy, registry options, limits.
- :func:`sync_addons`: the one-shot run (``kaddons sync``) -> :class:`SyncReport`.
- :class:`Syncer`: the open source; ``repositories()`` and ``sync_one(name) -> AddonResult`` (for the agent).
- :func:`rollback` (:mod:`.restore`): put back the version a sync replaced (``kaddons rollback``).
- :mod:`.steps`: the steps of one addon's sync; :mod:`.state`: the recorded digests; :mod:`.tags`: tag policies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaddons._lazy import lazy_getattr

if TYPE_CHECKING:
    from .config import SyncConfig, parse_registry, parse_repositories, read_repos_file
    from .log import SyncLog, summary_line
    from .restore import RollbackResult, rollback
    from .state import SyncState, read_state
    from .syncer import AddonResult, Syncer, SyncReport, sync_addons
    from .tags import TagChoice, TagPolicy, parse_tag_policy, select_tag

_LAZY = {
    "SyncConfig": ".config",
    "parse_registry": ".config",
    "parse_repositories": ".config",
    "read_repos_file": ".config",
    "SyncLog": ".log",
    "summary_line": ".log",
    "RollbackResult": ".restore",
    "rollback": ".restore",
    "SyncState": ".state",
    "read_state": ".state",
    "AddonResult": ".syncer",
    "Syncer": ".syncer",
    "SyncReport": ".syncer",
    "sync_addons": ".syncer",
    "TagChoice": ".tags",
    "TagPolicy": ".tags",
    "parse_tag_policy": ".tags",
    "select_tag": ".tags",
}
"""Where each public name lives: imported on first use (PEP 562), so that importing one
submodule does not import them all (the start-up time of every Job and poller run)."""

__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "AddonResult",
    "RollbackResult",
    "SyncConfig",
    "SyncLog",
    "SyncReport",
    "SyncState",
    "Syncer",
    "TagChoice",
    "TagPolicy",
    "parse_registry",
    "parse_repositories",
    "parse_tag_policy",
    "read_repos_file",
    "read_state",
    "rollback",
    "select_tag",
    "summary_line",
    "sync_addons",
]
