"""The newest chart version each add-on could move to ("upgrade available"; issue 14, ankra-addons.md §6.2
``latest_chart_version``).

Each source is read once for all the add-ons that use it (its ``index.yaml``, or its OCI tags). Pre-releases
follow Helm's rule (``helm search`` without ``--devel``): an add-on on a stable version is offered only stable
versions; one already on a pre-release is offered pre-releases too. A source that cannot be read gives no answer
for its add-ons and one warning line.
"""

from __future__ import annotations

from collections import defaultdict

from kaddons.errors import KaddonsError
from kaddons.stacks.document import Addon

from .sources import SourceOptions, open_source

__all__ = ["is_prerelease", "latest_versions"]


def is_prerelease(version: str) -> bool:
    """SemVer's pre-release part (``1.2.0-rc.1``); build metadata (``+abc``) is not one."""
    return "-" in version.split("+", 1)[0]


def latest_versions(addons: list[Addon], options: SourceOptions,
                    warnings: list[str] | None = None) -> dict[str, str | None]:
    """``add-on name -> newest version offered`` (``None`` when its source could not be read)."""
    by_source: dict[tuple[str, str | None], list[Addon]] = defaultdict(list)
    for addon in addons:
        by_source[(addon.source_url, addon.registry_credential_name)].append(addon)
    found: dict[str, str | None] = {}
    for (url, credential), users in by_source.items():
        try:
            source = open_source(url, options, credential)
            try:
                for addon in users:
                    versions = [v.version for v in source.versions(addon.chart_name)]
                    offered = versions if is_prerelease(addon.chart_version) else [
                        v for v in versions if not is_prerelease(v)]
                    found[addon.name] = offered[0] if offered else None
            finally:
                source.close()
        except KaddonsError as err:
            for addon in users:
                found.setdefault(addon.name, None)
            if warnings is not None:
                warnings.append(f"chart source {url}: {err}: latest versions not read")
    return found
