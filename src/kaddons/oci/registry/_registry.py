"""A registry host: one connection pool, its authentication state, ``/v2/`` and ``_catalog``."""

from __future__ import annotations

from types import TracebackType

import httpx

from kaddons.errors import RegistryResponseError
from kaddons.oci.reference import parse_registry_host
from kaddons.oci.registry._http import HttpClient
from kaddons.oci.registry._options import RegistryOptions
from kaddons.oci.registry._repository import Repository

__all__ = ["Registry"]


class Registry:
    """The registry at ``host`` (``HOST[:PORT]``, an ``oci://`` prefix is accepted).

    Holds one ``httpx.Client`` (one connection pool) shared by all its :class:`Repository` objects,
    and the authentication state (tokens are cached per scope set). Thread-safe. Use it as a
    context manager, or call :meth:`close`.

    ``catalog_page_size`` is the ``n`` asked for per ``_catalog`` page.
    Raises :class:`~kaddons.errors.InvalidReferenceError` for a malformed host and
    :class:`~kaddons.errors.UsageError` for an unusable ``ca_file``.
    """

    catalog_page_size: int = 100

    def __init__(self, host: str, options: RegistryOptions | None = None) -> None:
        self.host = parse_registry_host(host)
        self.options = options or RegistryOptions()
        self._http = HttpClient(self.host, self.options)

    def __repr__(self) -> str:
        return f"Registry({self.host})"

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; the object is unusable afterwards."""
        self._http.close()

    def ping(self) -> None:
        """``GET /v2/`` (distribution-spec end-1), authenticating if the registry challenges.

        Raises RegistryUnavailableError (unreachable), TLSVerificationError, AuthenticationError,
        RegistryResponseError (e.g. 404: not an OCI registry).
        """
        response = self._http.request("GET", self._http.url("/v2/"), what=f"{self.host}/v2/", expect=(200, 404))
        if response.status_code == 404:
            raise RegistryResponseError(
                f"GET {self.host}/v2/: 404: {self.host} is not an OCI registry: check the address", status=404
            )

    def repository(self, name: str) -> Repository:
        """The repository ``name`` (validated: InvalidReferenceError) of this registry."""
        return Repository(self, name)

    def catalog(self) -> list[str]:
        """Every repository name, sorted: ``GET /v2/_catalog?n=`` following ``Link: rel="next"``.

        Not in the OCI spec (Docker Registry v2 API); the scope asked for is ``registry:catalog:*``.
        """
        names: set[str] = set()
        url: httpx.URL | None = self._http.url("/v2/_catalog")
        params: dict[str, str] | None = {"n": str(self.catalog_page_size)}
        while url is not None:
            response = self._http.request("GET", url, what=f"{self.host} _catalog", expect=(200,),
                                          scopes=("registry:catalog:*",), params=params)
            try:
                names.update(r for r in (response.json().get("repositories") or []) if isinstance(r, str))
            except (ValueError, AttributeError, TypeError):
                raise RegistryResponseError(
                    f"GET {self.host}/v2/_catalog: the answer is not a repository list", status=200
                ) from None
            following = response.links.get("next", {}).get("url")
            url, params = (url.join(following), None) if following else (None, None)
        return sorted(names)
