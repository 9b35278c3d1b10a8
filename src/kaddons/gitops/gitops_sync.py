"""The ``gitops-sync/`` directory injected into every exported manifests layer (spec §2.5, §5.3).

FluxCD's per-addon Kustomization applies exactly this directory (``path: ./gitops-sync``). The
template is K2s's own (``addons/common/manifests/addon-sync/gitops-sync/``, MIT, see
``templates/k2s/LICENSE.K2s``) with one addition [REC §5.7, §8.2]: the pod template carries
``kaddons.io/content-digest``, a digest of the addon's content, so a new revision changes the Job's
immutable pod template (Flux ``force: true`` recreates the Job) and an unchanged one does not.

Placeholders are replaced everywhere, comments included, as Export.ps1 does; none is left.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["GITOPS_SYNC_DIR", "PLACEHOLDERS", "render_gitops_sync"]

GITOPS_SYNC_DIR = "gitops-sync"
"""The directory name inside the manifests layer (and FluxCD's Kustomization ``path``)."""
PLACEHOLDERS = ("ADDON_NAME_PLACEHOLDER", "EXPORT_TIMESTAMP_PLACEHOLDER", "CONTENT_DIGEST_PLACEHOLDER")
_FILES = ("kustomization.yaml", "sync-job.yaml")


def render_gitops_sync(export_name: str, *, timestamp: str, content_digest: str,
                       flavor: str = "k2s") -> dict[str, bytes]:
    """The files of ``gitops-sync/``: ``{"kustomization.yaml": ..., "sync-job.yaml": ...}`` (UTF-8, no BOM).

    ``export_name`` names the Job ``addon-sync-<export name>`` and its ``-AddonName``; ``timestamp``
    (``yyyy-MM-ddTHH:mm:ssZ``, UTC) goes to ``k2s.io/export-timestamp``; ``content_digest``
    (``sha256:<hex>``) to the pod template. Only the ``k2s`` flavor exists so far (Windows HostProcess
    Job running ``Sync-Addons.ps1``). Raises ``ValueError`` for another flavor.
    """
    if flavor != "k2s":
        raise ValueError(f"unknown gitops-sync flavor {flavor!r} (known: k2s)")
    values = dict(zip(PLACEHOLDERS, (export_name, timestamp, content_digest), strict=True))
    folder = resources.files(__package__).joinpath("templates", flavor, GITOPS_SYNC_DIR)
    files: dict[str, bytes] = {}
    for name in _FILES:
        text = folder.joinpath(name).read_text(encoding="utf-8")
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        files[name] = text.encode("utf-8")
    return files
