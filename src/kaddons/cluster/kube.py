"""Reading the Kubernetes API, read-only (issue 13), through lightkube.

Configuration, as kubectl finds it: ``--kubeconfig`` or ``$KUBECONFIG`` or ``~/.kube/config`` with ``--context``
(default: the current context); inside a pod, the service account. Errors are one line naming the context and
the server, :class:`~kaddons.errors.ClusterError` (exit 5). A resource the cluster does not serve (its CRD is
not installed) lists as empty.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kaddons.errors import ClusterError

__all__ = ["ClusterReader", "WatchExpired", "kubeconfig_path"]


class WatchExpired(ClusterError):
    """A WATCH was asked to resume from a resourceVersion the server no longer has (410 Gone): LIST again."""


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
        """Every object of a (namespaced) resource, optionally in one ``namespace`` and with ``labels``; a
        resource the cluster does not serve is empty. Raises :class:`ClusterError`."""
        return self.list_at(group, version, kind, plural, namespace=namespace, labels=labels)[0]

    def list_at(self, group: str, version: str, kind: str, plural: str, *, namespace: str | None = None,
                labels: dict[str, str] | None = None) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """:meth:`list` and the collection's ``resourceVersion`` to WATCH from (``None`` when the cluster does not
        serve the resource)."""
        from lightkube import NotReadyError

        try:
            found = self._client.list(_resource(group, version, kind, plural), namespace=namespace or "*",
                                      labels=dict(labels or {}))
            items = [dict(item.to_dict()) if hasattr(item, "to_dict") else dict(item) for item in found]
            try:
                return items, found.resourceVersion
            except NotReadyError:  # the server sent no version: nothing to resume from
                return items, None
        except _transport_errors() as err:
            if _http_status(err) == 404:
                return [], None
            raise self._failure(err, "list", plural, group) from None

    def watch(self, group: str, version: str, kind: str, plural: str, resource_version: str, *,
              namespace: str | None = None, labels: dict[str, str] | None = None,
              server_timeout: int = 300) -> Iterator[tuple[str, dict[str, Any]]]:
        """The changes after ``resource_version`` as ``(type, object)``: ADDED, MODIFIED, DELETED (BOOKMARKs are
        not passed on). Streams that the server ends after ``server_timeout`` seconds are resumed from the last
        version seen. Raises :class:`WatchExpired` on 410 Gone, :class:`ClusterError` otherwise."""
        try:
            for event, obj in self._client.watch(_resource(group, version, kind, plural), namespace=namespace or "*",
                                                 labels=dict(labels or {}), resource_version=resource_version,
                                                 server_timeout=server_timeout):
                if event != "BOOKMARK":
                    yield event, dict(obj.to_dict()) if hasattr(obj, "to_dict") else dict(obj)
        except _transport_errors() as err:
            if _http_status(err) == 410:
                status = getattr(err, "status", None)
                raise WatchExpired(f"{self.where}: watching {plural}.{group} from resourceVersion "
                                   f"{resource_version}: {getattr(status, 'message', None) or 'expired'}") from None
            raise self._failure(err, "watch", plural, group) from None

    def get(self, group: str, version: str, kind: str, plural: str, name: str, *,
            namespace: str) -> dict[str, Any] | None:
        """One object, or ``None`` when it (or its kind) is not there. Raises :class:`ClusterError`."""
        try:
            found = self._client.get(_resource(group, version, kind, plural), name, namespace=namespace)
            return dict(found.to_dict()) if hasattr(found, "to_dict") else dict(found)
        except _transport_errors() as err:
            if _http_status(err) == 404:
                return None
            raise self._failure(err, "get", plural, group) from None

    def patch(self, group: str, version: str, kind: str, plural: str, name: str, patch: dict[str, Any], *,
              namespace: str) -> None:
        """Apply a JSON merge ``patch`` to one object: the only write kaddons makes to a cluster
        (:mod:`kaddons.cluster.sync`). Raises :class:`ClusterError` (a 403 names the permission needed)."""
        from lightkube.types import PatchType

        try:
            self._client.patch(_resource(group, version, kind, plural), name, patch, namespace=namespace,
                               patch_type=PatchType.MERGE)
        except _transport_errors() as err:
            code = _http_status(err)
            if code in (401, 403):
                raise ClusterError(f"{self.where} refused to patch {plural}.{group} {namespace}/{name} (HTTP "
                                   f"{code}): a sync needs patch on it (the reader's ClusterRole is read-only)"
                                   ) from None
            raise self._failure(err, "patch", plural, group) from None

    def close(self) -> None:
        """Close the connections (an open WATCH ends with :class:`ClusterError`)."""
        self._client.close()

    def _failure(self, err: BaseException, verb: str, plural: str, group: str) -> ClusterError:
        """The one-line error for a request that failed: refused (401/403, naming the permission), answered
        with another HTTP status, or not answered at all."""
        status = _http_status(err)
        if status is None:
            return ClusterError(f"cannot reach the cluster of {self.where}: {' '.join(str(err).split()) or type(err)}"
                                ": check the context (--context) and that the API server is up")
        what = f"{plural}.{group}".rstrip(".")
        if status in (401, 403):
            return ClusterError(f"{self.where} refused to {verb} {what} (HTTP {status}): the reader needs "
                                "get/list/watch on it (the ClusterRole of the bootstrap)")
        first = next(iter(str(err).splitlines()), "")
        return ClusterError(f"{self.where}: {verb} {what} failed: HTTP {status} {first}")


_RESOURCES: dict[tuple[str, str, str, str], Any] = {}
_RESOURCES_LOCK = threading.Lock()


def _resource(group: str, version: str, kind: str, plural: str) -> Any:
    """lightkube's class for a namespaced resource; objects stay plain data (no model decoding). Made once per
    resource: lightkube's registry does not find a core-group class it made (it looks up ``/v1``), so a second
    one would be refused."""
    with _RESOURCES_LOCK:
        key = (group, version, kind, plural)
        if key not in _RESOURCES:
            _RESOURCES[key] = _new_resource(group, version, kind, plural)
        return _RESOURCES[key]


def _new_resource(group: str, version: str, kind: str, plural: str) -> Any:
    from lightkube.generic_resource import create_namespaced_resource

    if group == "" and kind == "Event":
        from lightkube.resources.core_v1 import Event  # registered by lightkube itself under v1/Event

        return Event
    if group == "events.k8s.io" and kind == "Event":
        from lightkube.resources.events_v1 import Event as NewEvent

        return NewEvent
    return create_namespaced_resource(group, version, kind, plural)


def _http_status(err: BaseException) -> int | None:
    """The HTTP status of a refused answer: the Kubernetes ``Status`` code of lightkube's ``ApiError``, else the
    response's status (a bare 404 or 410); ``None`` when the server did not answer."""
    code = getattr(getattr(err, "status", None), "code", None)
    if isinstance(code, int) and code:
        return code
    response = getattr(err, "response", None)
    try:
        code = getattr(response, "status_code", None)
    except RuntimeError:  # httpx: the error has no response
        return None
    return code if isinstance(code, int) else None


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
