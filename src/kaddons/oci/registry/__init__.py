"""An OCI distribution-spec v1.1 registry client (plus Docker token auth and ``_catalog``).

::

    from kaddons.oci.registry import Registry, RegistryOptions

    with Registry("127.0.0.1:5000", RegistryOptions(insecure=True)) as registry:
        repo = registry.repository("addons/dicom")
        desc = repo.resolve("1.0.0")
        with repo.fetch(desc) as stream:
            manifest = stream.read()

- :class:`Registry`: one host, one connection pool; ``ping``, ``catalog``, ``repository``.
- :class:`Repository`: a :class:`~kaddons.oci.store.Store` and ``TagLister`` over one repository.
- :class:`RegistryOptions`, :class:`RetryPolicy`: TLS, credentials, timeouts and retries.

Errors are :mod:`kaddons.errors` only: no httpx exception escapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaddons._lazy import lazy_getattr
from kaddons.oci.registry._options import RegistryOptions, RetryPolicy  # light: what every command parses

if TYPE_CHECKING:
    from kaddons.oci.registry._credentials import read_config
    from kaddons.oci.registry._http import retry_after_seconds
    from kaddons.oci.registry._registry import Registry
    from kaddons.oci.registry._repository import Repository

_LAZY = {"read_config": "._credentials", "retry_after_seconds": "._http", "Registry": "._registry",
         "Repository": "._repository"}
"""The client itself (httpx) is imported on first use (PEP 562): a command that never talks to a registry
starts without it."""

__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = ["Registry", "RegistryOptions", "Repository", "RetryPolicy", "read_config", "retry_after_seconds"]
