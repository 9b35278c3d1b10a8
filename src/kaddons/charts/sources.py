"""Helm chart sources: an HTTP(S) repository (its ``index.yaml``) or an OCI registry (``oci://``), told apart
by the URL's scheme (issue 11, "Chart sources").

* :meth:`ChartSource.versions` lists what the source has for a chart, newest first;
  :meth:`ChartSource.find` is one exact version (a missing one is :class:`~kaddons.errors.NotFoundError`,
  exit 3, listing what there is); :meth:`ChartSource.pull` fetches its archive by digest into the
  :class:`~kaddons.charts.cache.ChartCache`, verified (an HTTP repository's ``index.yaml`` ``digest``; an OCI
  chart layer's descriptor), and reuses a cached archive without a download.
* OCI charts follow Helm's layout: repository ``<path>/<chart>``, tag = version with ``+`` as ``_``, the
  archive the layer of media type ``application/vnd.cncf.helm.chart.content.v1.tar+gzip``.
* Credentials, never from Git: the named credential of the add-on or registry (``registry_credential_name``,
  ``helm_registries[].credential_name``) from ``KADDONS_CREDENTIAL_<NAME>_USERNAME`` and ``..._PASSWORD``
  (``<NAME>`` upper-cased, ``-`` and ``.`` as ``_``); else for OCI the registry options (``--username``, the
  Docker config, else Helm's registry config that ``helm registry login`` writes); else for HTTP the matching
  entry of Helm's ``repositories.yaml``
  (``$HELM_REPOSITORY_CONFIG``, default ``~/.config/helm/repositories.yaml``). As Helm does without
  ``--pass-credentials``, an HTTP repository's credentials go only to its own scheme, host and port: not to a
  chart archive the index places on another host, nor across a redirect to one.
* An HTTP repository follows at most :data:`MAX_REDIRECTS` redirects, each hop verified by its own scheme: TLS
  is set up (and its trust store read) only when a request goes to ``https://``.
* An unreachable source is :class:`~kaddons.errors.RegistryUnavailableError` (exit 5).
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import httpx

from kaddons import __version__
from kaddons.errors import (
    AuthenticationError,
    ClusterDocumentError,
    ContentError,
    KaddonsError,
    NotFoundError,
    RegistryResponseError,
    RegistryUnavailableError,
)
from kaddons.oci.registry import RegistryOptions

from .cache import ChartCache
from .mirrors import Mirrors

__all__ = ["ChartSource", "ChartVersion", "HttpChartSource", "OciChartSource", "PulledChart", "SourceOptions",
           "named_credentials", "open_source"]

HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MAX_INDEX_BYTES = 64 * 1024 * 1024
"""Bytes an ``index.yaml`` may have."""
_ATTEMPTS = 3
MAX_REDIRECTS = 10


@dataclass(frozen=True)
class ChartVersion:
    """One version of a chart in a source: ``digest`` of its archive (``sha256:…``; ``None`` when an HTTP index
    does not say), ``location`` (the archive's URL, or the OCI reference), ``deprecated`` (its Chart.yaml)."""

    chart: str
    version: str
    digest: str | None
    location: str
    deprecated: bool = False


@dataclass(frozen=True)
class PulledChart:
    """A chart archive in the cache: its ``path`` and verified ``digest``."""

    version: ChartVersion
    path: Path
    digest: str


@dataclass(frozen=True)
class SourceOptions:
    """How kaddons reads chart sources: ``mirrors``, the OCI ``registry`` options (TLS, plain HTTP, Docker
    config), the ``cache``, the ``timeout`` in seconds of each request."""

    mirrors: Mirrors = field(default_factory=Mirrors)
    registry: RegistryOptions = field(default_factory=RegistryOptions)
    cache: ChartCache | None = None
    timeout: float = 60.0


class ChartSource(Protocol):
    """A chart source (see the module)."""

    url: str

    def versions(self, chart: str) -> list[ChartVersion]: ...

    def find(self, chart: str, version: str) -> ChartVersion: ...

    def pull(self, found: ChartVersion, cache: ChartCache) -> PulledChart: ...

    def close(self) -> None: ...


def named_credentials(name: str | None) -> tuple[str, str] | None:
    """``(username, password)`` of the named credential from the environment, or ``None``."""
    if not name:
        return None
    key = re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    user = os.environ.get(f"KADDONS_CREDENTIAL_{key}_USERNAME")
    password = os.environ.get(f"KADDONS_CREDENTIAL_{key}_PASSWORD")
    return (user, password) if user and password else None


def open_source(url: str, options: SourceOptions, credential: str | None = None) -> ChartSource:
    """The source at ``url`` (the document's), read through ``options.mirrors``; ``credential`` names its
    credential. Raises :class:`~kaddons.errors.UsageError` for a URL that is neither ``http(s)://`` nor
    ``oci://``."""
    read = options.mirrors.rewrite(url)
    if read.startswith("oci://"):
        return OciChartSource(url, read, options, named_credentials(credential))
    if read.startswith(("http://", "https://")):
        return HttpChartSource(url, read, options, named_credentials(credential))
    raise ClusterDocumentError(url, "a chart source is an http(s):// Helm repository or an oci:// registry")


def _newest_first(versions: list[ChartVersion]) -> list[ChartVersion]:
    def key(v: ChartVersion) -> tuple[int, ...]:
        core = v.version.lstrip("v").split("+")[0]
        main, _, pre = core.partition("-")
        numbers = [int(p) if p.isdigit() else 0 for p in main.split(".")[:3]]
        return (*numbers, 0 if pre else 1)

    return sorted(versions, key=key, reverse=True)


def _missing(chart: str, version: str, where: str, have: list[ChartVersion]) -> NotFoundError:
    listed = ", ".join(v.version for v in have[:15]) + (f" and {len(have) - 15} more" if len(have) > 15 else "")
    if not have:
        return NotFoundError(f"chart {chart} is not in {where}: check chart_name and the registry URL")
    return NotFoundError(f"chart {chart} has no version {version} in {where}: it has {listed} (newest first); "
                         "set chart_version to one of them")


def _same_version(a: str, b: str) -> bool:
    return a == b or a.lstrip("v") == b.lstrip("v")


class HttpChartSource:
    """A Helm HTTP repository: ``index.yaml`` at ``read_url`` (``url`` is the document's)."""

    def __init__(self, url: str, read_url: str, options: SourceOptions, credentials: tuple[str, str] | None) -> None:
        self.url = url
        self.read_url = read_url.rstrip("/") + "/"
        self._auth = credentials or _helm_repository_credentials(url)
        self._ca_file = options.registry.ca_file
        self._timeout = options.timeout
        self._clients: dict[str, httpx.Client] = {}
        self._index: dict[str, list[ChartVersion]] | None = None

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _client(self, scheme: str) -> httpx.Client:
        """The client for ``http`` or ``https`` requests, made on first use. Redirects are followed by
        :meth:`_get`, so the ``http`` client never meets TLS: it gets a context that trusts no certificate (a
        handshake fails closed), not the trust store, which costs 50-100 ms to read."""
        client = self._clients.get(scheme)
        if client is None:
            verify: ssl.SSLContext | bool = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if scheme == "https":
                verify = ssl.create_default_context(cafile=str(self._ca_file)) if self._ca_file else True
            client = self._clients[scheme] = httpx.Client(
                timeout=httpx.Timeout(self._timeout), follow_redirects=False, trust_env=True, verify=verify,
                headers={"User-Agent": f"kaddons/{__version__}", "Accept-Encoding": "identity"})
        return client

    def _where(self) -> str:
        return self.url if self.read_url.rstrip("/") == self.url.rstrip("/") else f"{self.url} (mirror {self.read_url})"

    def _get(self, url: str, what: str) -> httpx.Response:
        """The answer to ``GET url`` after its redirects (at most :data:`MAX_REDIRECTS`), streamed; the
        repository's credentials go only to its own origin (see the module)."""
        origin = _origin(httpx.URL(self.read_url))
        request_url = httpx.URL(url)
        for _hop in range(MAX_REDIRECTS + 1):
            if request_url.scheme not in ("http", "https"):
                raise RegistryResponseError(f"{what}: redirected to {request_url.scheme}:, not http(s)", status=0)
            auth = self._auth if _origin(request_url) == origin else None
            response = self._send(request_url, auth)
            if not response.has_redirect_location or response.next_request is None:
                return response
            request_url = response.next_request.url
            response.close()
        raise RegistryResponseError(f"{what}: more than {MAX_REDIRECTS} redirects", status=0)

    def _send(self, url: httpx.URL, auth: tuple[str, str] | None) -> httpx.Response:
        client = self._client(url.scheme)
        last: Exception | None = None
        for _ in range(_ATTEMPTS):
            try:
                response = client.send(client.build_request("GET", url), stream=True, auth=auth)
            except httpx.HTTPError as err:
                last = err
                continue
            if response.status_code in (502, 503, 504):
                response.close()
                last = RegistryUnavailableError(f"{url}: HTTP {response.status_code}")
                continue
            return response
        detail = " ".join(str(last).split()) or type(last).__name__
        raise RegistryUnavailableError(f"cannot reach the chart repository {self._where()} ({detail}, "
                                       f"{_ATTEMPTS} attempts): check the URL, or use --mirror FROM=TO")

    def _check(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status == 200:
            return
        response.close()
        if status in (401, 403):
            raise AuthenticationError(f"{what}: HTTP {status}: give the repository's credential "
                                      "(KADDONS_CREDENTIAL_<NAME>_USERNAME/_PASSWORD, or helm repo add)")
        if status == 404:
            raise NotFoundError(f"{what}: HTTP 404: is {self._where()} a Helm repository?")
        raise RegistryResponseError(f"{what}: HTTP {status}", status=status)

    def _load_index(self) -> dict[str, list[ChartVersion]]:
        if self._index is not None:
            return self._index
        from kaddons._parsed import parse

        url = self.read_url + "index.yaml"
        response = self._get(url, url)
        try:
            self._check(response, f"{self._where()} index.yaml")
            data = bytearray()
            for chunk in response.iter_bytes():
                data.extend(chunk)
                if len(data) > MAX_INDEX_BYTES:
                    raise ContentError(f"{url} is larger than {MAX_INDEX_BYTES} bytes: not a Helm index")
        except httpx.HTTPError as err:
            raise RegistryUnavailableError(f"reading {url} failed: {err}") from None
        finally:
            response.close()
        try:
            index = parse(data.decode("utf-8-sig"), url, error=ClusterDocumentError)  # remembered: indexes are big
        except UnicodeDecodeError:
            raise ContentError(f"{url} is not UTF-8 text: not a Helm index") from None
        if not isinstance(index, dict) or not isinstance(index.get("entries"), dict):
            raise ContentError(f"{url} is not a Helm repository index (no entries)")
        found: dict[str, list[ChartVersion]] = {}
        for name, entries in index["entries"].items():
            versions = []
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, dict) or not isinstance(entry.get("version"), str):
                    continue
                urls = entry.get("urls") if isinstance(entry.get("urls"), list) else []
                if not urls or not isinstance(urls[0], str):
                    continue
                digest = entry.get("digest")
                digest = f"sha256:{digest}" if isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest) \
                    else None
                versions.append(ChartVersion(str(name), entry["version"], digest,
                                             str(httpx.URL(self.read_url).join(urls[0])),
                                             bool(entry.get("deprecated"))))
            found[str(name)] = _newest_first(versions)
        self._index = found
        return found

    def versions(self, chart: str) -> list[ChartVersion]:
        return list(self._load_index().get(chart, []))

    def find(self, chart: str, version: str) -> ChartVersion:
        have = self.versions(chart)
        for candidate in have:
            if _same_version(candidate.version, version):
                return candidate
        raise _missing(chart, version, self._where(), have)

    def pull(self, found: ChartVersion, cache: ChartCache) -> PulledChart:
        if found.digest is not None:
            cached = cache.get(found.digest)
            if cached is not None:
                return PulledChart(found, cached, found.digest)
        what = f"chart {found.chart} {found.version} ({found.location})"
        response = self._get(found.location, what)
        try:
            self._check(response, what)
            path, digest = cache.put(_ResponseReader(response), found.digest, what)
        except httpx.HTTPError as err:
            raise RegistryUnavailableError(f"downloading {what} failed: {err}") from None
        finally:
            response.close()
        return PulledChart(replace(found, digest=digest), path, digest)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (the scheme's default when not written): Helm's test for passing credentials."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host.lower(), port


class _ResponseReader:
    """A file-like ``read`` over a streamed httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.iter_raw()
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _helm_repository_credentials(url: str) -> tuple[str, str] | None:
    """The username and password Helm's ``repositories.yaml`` holds for ``url``, if any."""
    path = Path(os.environ.get("HELM_REPOSITORY_CONFIG") or Path.home() / ".config" / "helm" / "repositories.yaml")
    if not path.is_file():
        return None
    from kaddons.addons._yaml import parse_yaml

    try:
        data = parse_yaml(path.read_text(encoding="utf-8"), str(path), error=ClusterDocumentError)
    except (OSError, UnicodeDecodeError, KaddonsError):
        return None
    for entry in data.get("repositories") or [] if isinstance(data, dict) else []:
        if isinstance(entry, dict) and str(entry.get("url", "")).rstrip("/") == url.rstrip("/"):
            user, password = entry.get("username"), entry.get("password")
            if isinstance(user, str) and isinstance(password, str) and user:
                return user, password
    return None


def _helm_registry_config(host: str) -> Path | None:
    """Helm's registry config (``$HELM_REGISTRY_CONFIG``, default ``~/.config/helm/registry/config.json``, the
    Docker config format ``helm registry login`` writes) when it knows ``host`` and the Docker config does not."""
    from kaddons.oci.registry._credentials import default_config_path, normalize_server, read_config

    def knows(path: Path) -> bool:
        try:
            config = read_config(path)
        except KaddonsError:
            return False
        if not config:
            return False
        wanted = normalize_server(host)
        keys = [*(config.get("auths") or {}), *(config.get("credHelpers") or {})]
        return any(normalize_server(str(key)) == wanted for key in keys)

    helm = Path(os.environ.get("HELM_REGISTRY_CONFIG")
                or Path.home() / ".config" / "helm" / "registry" / "config.json")
    if not helm.is_file() or knows(default_config_path()):
        return None
    return helm if knows(helm) else None


class OciChartSource:
    """Charts in an OCI registry under ``oci://HOST/PATH`` (Helm's layout, see the module)."""

    def __init__(self, url: str, read_url: str, options: SourceOptions, credentials: tuple[str, str] | None) -> None:
        from kaddons.oci.registry import Registry

        self.url = url
        rest = read_url.removeprefix("oci://").rstrip("/")
        self.host, _, self.path = rest.partition("/")
        registry_options = options.registry
        if credentials is not None:
            registry_options = replace(registry_options, username=credentials[0], password=credentials[1])
        elif registry_options.username is None and registry_options.config_path is None:
            helm_config = _helm_registry_config(self.host)
            if helm_config is not None:
                registry_options = replace(registry_options, config_path=helm_config)
        self._registry = Registry(self.host, registry_options)
        self._where = url if read_url == url else f"{url} (mirror {read_url})"

    def close(self) -> None:
        self._registry.close()

    def _repository(self, chart: str) -> Any:
        return self._registry.repository(f"{self.path}/{chart}" if self.path else chart)

    def versions(self, chart: str) -> list[ChartVersion]:
        try:
            tags = self._repository(chart).tags()
        except NotFoundError:
            return []
        base = f"oci://{self.host}/{self.path + '/' if self.path else ''}{chart}"
        return _newest_first([ChartVersion(chart, t.replace("_", "+"), None, f"{base}:{t}") for t in tags])

    def find(self, chart: str, version: str) -> ChartVersion:
        tag = version.replace("+", "_")
        try:
            desc = self._repository(chart).resolve(tag)
        except NotFoundError:
            raise _missing(chart, version, self._where, self.versions(chart)) from None
        base = f"oci://{self.host}/{self.path + '/' if self.path else ''}{chart}"
        return ChartVersion(chart, version, None, f"{base}@{desc.digest}")

    def pull(self, found: ChartVersion, cache: ChartCache) -> PulledChart:
        from kaddons.oci.models import parse_manifest

        repository = self._repository(found.chart)
        reference = found.location.rpartition("@")[2]
        what = f"chart {found.chart} {found.version} ({found.location})"
        _desc, raw = repository.fetch_manifest(reference)
        manifest = parse_manifest(raw, what=what)
        layers = [layer for layer in manifest.layers if layer.media_type == HELM_CHART_LAYER]
        if len(layers) != 1:
            raise ContentError(f"{what} is not a Helm chart: no layer of media type {HELM_CHART_LAYER}")
        layer = layers[0]
        cached = cache.get(layer.digest)
        if cached is None:
            with repository.fetch(layer) as stream:
                cached, _ = cache.put(stream, layer.digest, what)
        return PulledChart(replace(found, digest=layer.digest), cached, layer.digest)
