"""Kubernetes resources that run the addon sync inside a cluster (spec §5), rendered from package data.

* :mod:`.gitops_sync`: the ``gitops-sync/`` directory that export injects into every manifests layer (§2.5, §5.3).
"""

from __future__ import annotations

from .gitops_sync import GITOPS_SYNC_DIR, render_gitops_sync

__all__ = ["GITOPS_SYNC_DIR", "render_gitops_sync"]
