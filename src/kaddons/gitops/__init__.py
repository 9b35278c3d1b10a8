"""Kubernetes resources that run the addon sync inside a cluster (spec §5), rendered from package data.

* :mod:`.gitops_sync`: the ``gitops-sync/`` directory that export injects into every manifests layer
  (§2.5, §5.3), per flavor.
* :mod:`.render`: ``kaddons gitops render``, the cluster tree (base + FluxCD or Argo CD overlay).
* :mod:`.register`: ``kaddons gitops register``, the per-addon FluxCD OCIRepository + Kustomization.
* :mod:`.output`: writing generated files into a directory, replacing only what kaddons wrote there.
* :mod:`.options`: the validated inputs of both (one-line :class:`~kaddons.errors.UsageError`).

Two flavors (:class:`Flavor`): ``kaddons`` (Linux pods running ``kaddons sync``) and ``k2s`` (K2s's
Windows HostProcess pods, byte for byte). Only the light modules are imported here: export imports
this package.
"""

from __future__ import annotations

from ._choices import Engine, Flavor, parse_engine, parse_flavor
from .gitops_sync import GITOPS_SYNC_DIR, render_gitops_sync

__all__ = ["GITOPS_SYNC_DIR", "Engine", "Flavor", "parse_engine", "parse_flavor", "render_gitops_sync"]
