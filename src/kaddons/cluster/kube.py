"""Reading the Kubernetes API, read-only (issue 13), through lightkube.

Configuration, as kubectl finds it: ``--kubeconfig`` or ``$KUBECONFIG`` or ``~/.kube/config`` with ``--context``
(default: the current context); inside a pod, the service account. Errors are one line naming the context and
the server, :class:`~kaddons.errors.ClusterError` (exit 5). A resource the cluster does not serve (its CRD is
not installed) lists as empty.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kaddons.errors import ClusterError

__all__ = ["ClusterReader", "kubeconfig_path"]


def kubeconfig_path(given: Path | None = None) -> Path | None:
    """The kubeconfig kubectl would read: ``given``, else the first file of ``$KUBECONFIG``, else
    ``~/.kube/config``; ``None`` when there is none."""
    if given is not None:
        return given
    env = os.environ.get("KUBECONFIG")
    candidates = [Path(p) for p in env.split(os.pathsep) if p] if env else [Path.home() / ".kube" / "config"]
    return next((p for p in candidates if p.is_file()), None)


class ClusterReader:
    """LIST access to one cluster (see the module). ``where`` names the context and server in messages."""

    def __init__(self, *, context: str | None = None, kubeconfig: Path | None = None) -> None:
        from lightkube import Client, ConfigError, KubeConfig

        path = kubeconfig_path(kubeconfig)
        try:
            if path is not None:
                config = KubeConfig.from_file(str(path))
                self.context = context or config.current_context or "?"
                single = config.get(context_name=context)
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                single = KubeConfig.from_service_account().get()
                self.context = "in-cluster"
            else:
                raise ClusterError("no kubeconfig ($KUBECONFIG, ~/.kube/config) and not in a pod: give one with "
                                   "--kubeconfig FILE, or use --offline")
            if single is None:
                raise ClusterError(f"kubeconfig {path}: no context {context or '(current)'}: choose one with --context")
            self.server = single.cluster.server
            self._client = Client(config=single, field_manager="kaddons")
        except ConfigError as err:
            raise ClusterError(f"kubeconfig {path}: {' '.join(str(err).split())}: choose a context with --context "
                               "(kubectl config get-contexts lists them)") from None
        except (OSError, ValueError, KeyError) as err:
            raise ClusterError(f"kubeconfig {path}: cannot use it ({err}): check the file or give --kubeconfig"
                               ) from None
        self.where = f"context {self.context} ({self.server})"

    def list(self, group: str, version: str, kind: str, plural: str, *, namespace: str | None = None,
             labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every object of a (namespaced) resource, optionally in one ``namespace`` and with ``labels``."""
        from lightkube import ApiError
        from lightkube.generic_resource import create_namespaced_resource

        resource: Any
        if group == "" and kind == "Event":
            from lightkube.resources.core_v1 import Event as resource  # the core group has no generic form
        elif group == "events.k8s.io" and kind == "Event":
            from lightkube.resources.events_v1 import Event as resource
        else:
            resource = create_namespaced_resource(group, version, kind, plural)
        try:
            selector: dict[str, Any] = dict(labels or {})
            found = self._client.list(resource, namespace=namespace or "*", labels=selector)
            return [dict(item.to_dict()) for item in found]
        except ApiError as err:
            status = err.status.code
            if status == 404:
                return []
            if status in (401, 403):
                raise ClusterError(f"{self.where} refused to list {plural}.{group} (HTTP {status}): the reader needs "
                                   "get/list/watch on it (the ClusterRole of the bootstrap)") from None
            raise ClusterError(f"{self.where}: listing {plural}.{group} failed: HTTP {status} {err}") from None
        except _transport_errors() as err:
            raise ClusterError(f"cannot reach the cluster of {self.where}: {' '.join(str(err).split()) or type(err)}: "
                               "check the context (--context) and that the API server is up") from None


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP client's transport errors: lightkube 1.x talks through ``httpx2``, older releases ``httpx``."""
    import httpx

    errors: list[type[BaseException]] = [httpx.HTTPError]
    try:
        import httpx2

        errors.append(httpx2.HTTPError)
    except ImportError:
        pass
    return tuple(errors)
