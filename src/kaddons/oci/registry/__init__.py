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

from kaddons.oci.registry._credentials import read_config
from kaddons.oci.registry._http import retry_after_seconds
from kaddons.oci.registry._options import RegistryOptions, RetryPolicy
from kaddons.oci.registry._registry import Registry
from kaddons.oci.registry._repository import Repository

__all__ = ["Registry", "RegistryOptions", "Repository", "RetryPolicy", "read_config", "retry_after_seconds"]
