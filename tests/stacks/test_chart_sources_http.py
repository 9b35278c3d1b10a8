"""Where an HTTP chart repository's credentials go, and how its redirects are verified (``kaddons.charts.sources``),
against real servers: the k2s-history charts served as static files over HTTP, and over HTTPS with a certificate
of a test CA (``trustme``)."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaddons.charts.cache import ChartCache
from kaddons.charts.sources import MAX_REDIRECTS, SourceOptions, open_source
from kaddons.errors import RegistryResponseError, RegistryUnavailableError
from kaddons.oci.registry import RegistryOptions
from tests.helpers.http_server import StaticServer
from tests.helpers.secure_registry import TLSMaterial, _server_context, make_tls

CHART = "headlamp-0.45.0.tgz"
BASIC = "Basic " + base64.b64encode(b"charts:s3cret").decode()


@pytest.fixture
def credential(monkeypatch: pytest.MonkeyPatch) -> str:
    """The named credential ``charts`` (KADDONS_CREDENTIAL_CHARTS_*), as a document's credential_name gives it."""
    monkeypatch.setenv("KADDONS_CREDENTIAL_CHARTS_USERNAME", "charts")
    monkeypatch.setenv("KADDONS_CREDENTIAL_CHARTS_PASSWORD", "s3cret")
    monkeypatch.setenv("HELM_REPOSITORY_CONFIG", "/nonexistent/repositories.yaml")
    return "charts"


@pytest.fixture
def tls(tmp_path: Path) -> TLSMaterial:
    return make_tls(tmp_path / "tls")


def _charts(testdata: Path, folder: Path, archive_url: str | None = None) -> Path:
    """The k2s-history repository in ``folder``; with ``archive_url``, its index places headlamp 0.45.0 there."""
    shutil.copytree(testdata.parent / "charts" / "k2s-history", folder)
    if archive_url is not None:
        index = folder / "index.yaml"
        index.write_text(index.read_text().replace(f"- {CHART}\n", f"- {archive_url}\n", 1))
    return folder


def _pull(url: str, tmp_path: Path, credential: str | None, options: SourceOptions | None = None) -> str:
    source = open_source(url, options or SourceOptions(), credential)
    try:
        found = source.find("headlamp", "0.45.0")
        return source.pull(found, ChartCache(tmp_path / "cache")).digest
    finally:
        source.close()


@pytest.fixture
def other(testdata: Path, tmp_path: Path) -> Iterator[StaticServer]:
    """A second origin (another port) serving the same files."""
    with StaticServer(_charts(testdata, tmp_path / "other")) as server:
        yield server


def test_credentials_go_to_the_repository_not_to_an_archive_on_another_host(
        testdata: Path, tmp_path: Path, credential: str, other: StaticServer) -> None:
    root = _charts(testdata, tmp_path / "repo", archive_url=f"{other.url}/{CHART}")
    with StaticServer(root) as repository:
        digest = _pull(f"{repository.url}/", tmp_path, credential)
    assert digest.startswith("sha256:")
    assert repository.authorizations == [("/index.yaml", BASIC)]
    assert other.authorizations == [(f"/{CHART}", None)]  # as Helm without --pass-credentials


def test_an_archive_beside_the_index_gets_the_credentials(testdata: Path, tmp_path: Path, credential: str) -> None:
    with StaticServer(_charts(testdata, tmp_path / "repo")) as repository:
        _pull(f"{repository.url}/", tmp_path, credential)
    assert repository.authorizations == [("/index.yaml", BASIC), (f"/{CHART}", BASIC)]


def test_a_redirect_to_another_host_drops_the_credentials(testdata: Path, tmp_path: Path, credential: str,
                                                          other: StaticServer) -> None:
    with StaticServer(_charts(testdata, tmp_path / "repo")) as repository:
        repository.redirect(f"/{CHART}", f"{other.url}/{CHART}")
        _pull(f"{repository.url}/", tmp_path, credential)
    assert repository.authorizations[-1] == (f"/{CHART}", BASIC)
    assert other.authorizations == [(f"/{CHART}", None)]


def test_a_redirect_from_http_to_https_is_verified(testdata: Path, tmp_path: Path, tls: TLSMaterial) -> None:
    """The http:// repository's client never sets up TLS; the https:// hop is verified against the trust store
    (the test CA is not in it: refused), or against --ca-file (accepted)."""
    with StaticServer(_charts(testdata, tmp_path / "secure"), tls=_server_context(tls)) as secure, \
            StaticServer(_charts(testdata, tmp_path / "repo")) as repository:
        repository.redirect(f"/{CHART}", f"{secure.url}/{CHART}")
        with pytest.raises(RegistryUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
            _pull(f"{repository.url}/", tmp_path, None)
        assert secure.requests == []  # no request went out over an unverified connection
        trusted = SourceOptions(registry=RegistryOptions(ca_file=tls.ca_file))
        assert _pull(f"{repository.url}/", tmp_path, None, trusted).startswith("sha256:")
        assert secure.count(f"/{CHART}") == 1


def test_a_redirect_loop_ends_with_an_error(testdata: Path, tmp_path: Path) -> None:
    with StaticServer(_charts(testdata, tmp_path / "repo")) as repository:
        repository.redirect("/index.yaml", "/index.yaml")
        with pytest.raises(RegistryResponseError, match=f"more than {MAX_REDIRECTS} redirects"):
            _pull(f"{repository.url}/", tmp_path, None)
        assert repository.count("/index.yaml") == MAX_REDIRECTS + 1
