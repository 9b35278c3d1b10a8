"""The ``gitops-sync/`` directory injected into every exported manifests layer (spec §2.5, §5.3).

FluxCD's per-addon Kustomization applies exactly this directory (``path: ./gitops-sync``). Two flavors:

* ``k2s`` (export's default, [COMPAT] §2.5): K2s's own template (``addons/common/manifests/addon-sync/
  gitops-sync/``, MIT, see ``templates/k2s/LICENSE.K2s``), a Windows HostProcess Job running
  ``Sync-Addons.ps1``, with one addition [REC §5.7, §8.2]: the pod template carries
  ``kaddons.io/content-digest``, a digest of the addon's content, so a new revision changes the Job's
  immutable pod template (Flux ``force: true`` recreates the Job) and an unchanged one does not.
* ``kaddons``: a Linux Job running ``kaddons sync --addon <export name>`` (``templates/kaddons/``), with
  the same content digest and no ``ttlSecondsAfterFinished`` (a deleted Job would be re-created and
  re-run by Flux, §5.7). Node-specific values are FluxCD post-build variables with defaults
  (``${ADDONS_DIR:=...}``, ``${SYNC_IMAGE:=...}``, ``${RUN_AS_USER:=...}``, ``${RUN_AS_NON_ROOT:=...}``,
  ``${SEMVER:=...}``), filled from ``addon-sync-config`` by the Kustomization ``kaddons gitops register``
  writes.

Placeholders are replaced everywhere, comments included, as Export.ps1 does; none is left.
"""

from __future__ import annotations

from ._choices import Flavor, parse_flavor
from ._templates import template_bytes

__all__ = ["GITOPS_SYNC_DIR", "PLACEHOLDERS", "render_gitops_sync"]

GITOPS_SYNC_DIR = "gitops-sync"
"""The directory name inside the manifests layer (and FluxCD's Kustomization ``path``)."""
PLACEHOLDERS = ("ADDON_NAME_PLACEHOLDER", "EXPORT_TIMESTAMP_PLACEHOLDER", "CONTENT_DIGEST_PLACEHOLDER")
_FILES = ("kustomization.yaml", "sync-job.yaml")


def render_gitops_sync(export_name: str, *, timestamp: str, content_digest: str,
                       flavor: str | Flavor = Flavor.k2s) -> dict[str, bytes]:
    """The files of ``gitops-sync/``: ``{"kustomization.yaml": ..., "sync-job.yaml": ...}`` (UTF-8, no BOM).

    ``export_name`` names the Job ``addon-sync-<export name>`` and the addon it syncs; ``timestamp``
    (``yyyy-MM-ddTHH:mm:ssZ``, UTC) goes to ``k2s.io/export-timestamp``; ``content_digest``
    (``sha256:<hex>``) to the pod template; ``flavor`` is ``k2s`` or ``kaddons`` (see the module).
    Raises :class:`~kaddons.errors.UsageError` for another flavor.
    """
    chosen = parse_flavor(flavor, "--gitops-flavor")
    values = dict(zip(PLACEHOLDERS, (export_name, timestamp, content_digest), strict=True))
    files: dict[str, bytes] = {}
    for name in _FILES:
        text = template_bytes(chosen, f"{GITOPS_SYNC_DIR}/{name}").decode("utf-8")
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        files[name] = text.encode("utf-8")
    return files
