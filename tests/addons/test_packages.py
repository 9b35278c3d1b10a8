"""Packages for export (spec §2.8, layer 6): curl downloads from a real local HTTP server, Debian packages by apt.

Inputs are the ``offline_usage`` of the real K2s addons (rollout's Windows flux zip, ingress's cmctl,
storage's deb list) with their URLs pointed at a :class:`StaticServer` on 127.0.0.1 that mirrors the
GitHub release paths.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from kaddons.addons.manifest import OfflineUsage, load_manifest
from kaddons.addons.packages import PackageFile, check_file_name, fetch_packages, package_file_name
from kaddons.errors import DownloadError, NotFoundError, UsageError
from kaddons.oci.registry import RetryPolicy
from tests.helpers.http_server import StaticServer, unused_port

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
FLUX = "/fluxcd/flux2/releases/download/v2.9.4/flux_2.9.4_windows_amd64.zip"
CMCTL = "/cert-manager/cmctl/releases/download/v2.5.0/cmctl_windows_amd64.exe"
TOOL = "/downloads/linux/kubectl-tool"


def usage_data(testdata: Path, addon: str, implementation: str) -> dict[str, Any]:
    """The ``offline_usage`` of a real test-data implementation, as plain YAML-keyed data."""
    manifest = load_manifest(testdata / addon / "addon.manifest.yaml")
    impl = next(impl for impl in manifest.spec.implementations if impl.name == implementation)
    assert impl.offline_usage is not None
    return impl.offline_usage.model_dump(by_alias=True)


def usage(data: dict[str, Any], base_url: str | None = None) -> OfflineUsage:
    """``data`` as a model, with ``https://github.com`` replaced by ``base_url``."""
    for side in ("linux", "windows"):
        for entry in data[side]["curl"]:
            if base_url is not None:
                entry["url"] = entry["url"].replace("https://github.com", base_url)
    return OfflineUsage.model_validate(data)


def empty_usage() -> dict[str, Any]:
    return {"linux": {"repos": [], "deb": [], "curl": [], "additionalImages": []}, "windows": {"curl": []}}


def at(root: Path, url_path: str) -> Path:
    """The served file of ``url_path`` (``/a/b``)."""
    return root / url_path.lstrip("/")


def files_under(root: Path) -> list[str]:
    """Every file below ``root`` as a relative POSIX path, hidden temporaries included."""
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 go direct, whatever proxy the machine has."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The served directory: a flux zip holding flux.exe, a cmctl binary, a Linux tool."""
    root = tmp_path / "www"
    for path in (FLUX, CMCTL, TOOL):
        at(root, path).parent.mkdir(parents=True)
    with zipfile.ZipFile(at(root, FLUX), "w") as archive:
        archive.writestr("flux.exe", b"MZ flux " * 1000)
    at(root, CMCTL).write_bytes(b"MZ cmctl " * 5000)
    at(root, TOOL).write_bytes(b"\x7fELF tool" * 3000)
    return root


@pytest.fixture
def server(root: Path) -> Iterator[StaticServer]:
    with StaticServer(root) as running:
        yield running


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "packages"
    path.mkdir()
    return path


def test_curl_entries_land_in_linux_and_windows_folders(testdata: Path, server: StaticServer, root: Path,
                                                        dest: Path) -> None:
    data = usage_data(testdata, "rollout", "fluxcd")
    data["windows"]["curl"] += usage_data(testdata, "ingress", "nginx")["windows"]["curl"]
    data["linux"]["curl"] = [{"url": f"{server.url}{TOOL}", "destination": "/usr/local/bin/kubectl-tool"}]
    lines: list[str] = []

    files = fetch_packages(usage(data, server.url), dest, log=lines.append, retry=FAST)

    assert files == [
        PackageFile("linuxpackages/kubectl-tool", f"{server.url}{TOOL}", (at(root, TOOL)).stat().st_size),
        PackageFile("windowspackages/flux_2.9.4_windows_amd64.zip", f"{server.url}{FLUX}",
                    (at(root, FLUX)).stat().st_size),
        PackageFile("windowspackages/cmctl_windows_amd64.exe", f"{server.url}{CMCTL}",
                    (at(root, CMCTL)).stat().st_size),
    ]
    assert files_under(dest) == sorted(file.path for file in files)
    for file, served in zip(files, (TOOL, FLUX, CMCTL), strict=True):
        assert sha256(dest / file.path) == sha256(at(root, served))
    with zipfile.ZipFile(dest / "windowspackages/flux_2.9.4_windows_amd64.zip") as archive:
        assert archive.namelist() == ["flux.exe"]
    assert len(lines) == 3 and all(line.startswith("downloaded ") for line in lines)


def test_nothing_to_fetch(testdata: Path, dest: Path) -> None:
    assert fetch_packages(None, dest) == []
    assert fetch_packages(usage(usage_data(testdata, "metrics", "metrics")), dest) == []
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("status", [301, 302, 307])
def test_redirects_are_followed_and_the_name_comes_from_the_manifest_url(
        status: int, server: StaticServer, root: Path, dest: Path) -> None:
    server.redirect("/releases/latest/download/cmctl.exe", CMCTL, status=status)
    data = empty_usage()
    data["windows"]["curl"] = [{"url": f"{server.url}/releases/latest/download/cmctl.exe",
                                "destination": "bin\\cmctl.exe"}]

    [file] = fetch_packages(usage(data), dest, retry=FAST)

    assert file.path == "windowspackages/cmctl.exe"
    assert sha256(dest / file.path) == sha256(at(root, CMCTL))
    assert [(method, target, code) for method, target, code in server.requests] == [
        ("GET", "/releases/latest/download/cmctl.exe", status), ("GET", CMCTL, 200)]


def test_404_is_not_found_naming_the_url(testdata: Path, server: StaticServer, dest: Path) -> None:
    data = usage_data(testdata, "rollout", "fluxcd")
    data["windows"]["curl"][0]["url"] = f"{server.url}/fluxcd/flux2/releases/download/v9.9.9/flux.zip"

    with pytest.raises(NotFoundError) as caught:
        fetch_packages(usage(data), dest, retry=FAST)

    message = str(caught.value)
    assert f"{server.url}/fluxcd/flux2/releases/download/v9.9.9/flux.zip" in message
    assert "offline_usage.windows.curl[0]" in message and "--omit-packages" in message
    assert "\n" not in message
    assert server.count("/fluxcd/flux2/releases/download/v9.9.9/flux.zip") == 1
    assert files_under(dest) == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_status_recovers_after_retries(status: int, testdata: Path, server: StaticServer, root: Path,
                                                 dest: Path) -> None:
    server.fail(FLUX, status, times=2, headers={"Retry-After": "0"} if status == 429 else None)

    [file] = fetch_packages(usage(usage_data(testdata, "rollout", "fluxcd"), server.url), dest, retry=FAST)

    assert server.count(FLUX) == 3
    assert sha256(dest / file.path) == sha256(at(root, FLUX))


def test_persistent_500_gives_up_after_the_bounded_attempts(testdata: Path, server: StaticServer,
                                                            dest: Path) -> None:
    server.fail(FLUX, 500, times=None)

    with pytest.raises(DownloadError) as caught:
        fetch_packages(usage(usage_data(testdata, "rollout", "fluxcd"), server.url), dest, retry=FAST)

    message = str(caught.value)
    assert f"{server.url}{FLUX}" in message and "HTTP 500" in message and "after 3 attempts" in message
    assert "--omit-packages" in message
    assert caught.value.exit_code == 5
    assert server.count(FLUX) == FAST.attempts
    assert files_under(dest) == []


def test_other_statuses_are_not_retried(testdata: Path, server: StaticServer, dest: Path) -> None:
    server.fail(FLUX, 403, times=None)

    with pytest.raises(DownloadError, match="HTTP 403"):
        fetch_packages(usage(usage_data(testdata, "rollout", "fluxcd"), server.url), dest, retry=FAST)

    assert server.count(FLUX) == 1


def test_connection_refused_is_a_download_error(testdata: Path, dest: Path) -> None:
    url = f"http://127.0.0.1:{unused_port()}{FLUX}"
    data = usage_data(testdata, "rollout", "fluxcd")
    data["windows"]["curl"][0]["url"] = url

    with pytest.raises(DownloadError) as caught:
        fetch_packages(usage(data), dest, retry=FAST)

    message = str(caught.value)
    assert url in message and "could not connect" in message and "after 3 attempts" in message
    assert "--omit-packages" in message
    assert files_under(dest) == []


def test_truncated_body_is_retried_and_never_left_behind(testdata: Path, server: StaticServer, root: Path,
                                                         dest: Path) -> None:
    server.cut(FLUX, after=100, times=1)
    [file] = fetch_packages(usage(usage_data(testdata, "rollout", "fluxcd"), server.url), dest, retry=FAST)
    assert server.count(FLUX) == 2
    assert sha256(dest / file.path) == sha256(at(root, FLUX))

    again = dest.parent / "again"
    again.mkdir()
    server.cut(FLUX, after=100, times=None)
    with pytest.raises(DownloadError, match="after 3 attempts"):
        fetch_packages(usage(usage_data(testdata, "rollout", "fluxcd"), server.url), again, retry=FAST)
    assert files_under(again) == []


@pytest.mark.parametrize(("path", "problem"), [
    ("/download/", "empty"),
    ("", "empty"),
    ("/download/..", "not a file"),
    ("/download/con", "reserved"),
    ("/download/LPT1.exe", "reserved"),
    ("/download/bin\\flux.exe", "contains"),
    ("/download/flux.exe.", "ends with"),
    ("/download/a:b", "contains"),
])
def test_unusable_file_names_are_refused_before_any_download(path: str, problem: str, server: StaticServer,
                                                             dest: Path) -> None:
    data = empty_usage()
    data["windows"]["curl"] = [{"url": f"{server.url}{CMCTL}", "destination": "bin\\cmctl.exe"},
                               {"url": f"{server.url}{path}", "destination": "bin\\x.exe"}]

    with pytest.raises(UsageError) as caught:
        fetch_packages(usage(data), dest, retry=FAST)

    message = str(caught.value)
    assert f"{server.url}{path}" in message and "offline_usage.windows.curl[1].url" in message
    assert problem in message
    assert server.requests == []
    assert files_under(dest) == []


def test_only_http_urls(dest: Path) -> None:
    data = empty_usage()
    data["linux"]["curl"] = [{"url": "file:///etc/passwd", "destination": "/tmp/passwd"}]
    with pytest.raises(UsageError, match=r"offline_usage\.linux\.curl\[0\]\.url.*not an http"):
        fetch_packages(usage(data), dest)


def test_two_urls_with_one_file_name_are_refused(server: StaticServer, dest: Path) -> None:
    data = empty_usage()
    data["windows"]["curl"] = [
        {"url": f"{server.url}{CMCTL}", "destination": "bin\\cmctl.exe"},
        {"url": f"{server.url}/mirror/CMCTL_WINDOWS_AMD64.EXE", "destination": "bin\\other.exe"},
    ]

    with pytest.raises(UsageError) as caught:
        fetch_packages(usage(data), dest)

    message = str(caught.value)
    assert f"{server.url}{CMCTL}" in message and f"{server.url}/mirror/CMCTL_WINDOWS_AMD64.EXE" in message
    assert "windowspackages/" in message
    assert server.requests == []


def test_the_same_url_twice_is_downloaded_once(server: StaticServer, dest: Path) -> None:
    data = empty_usage()
    data["windows"]["curl"] = [{"url": f"{server.url}{CMCTL}", "destination": "bin\\cmctl.exe"},
                               {"url": f"{server.url}{CMCTL}", "destination": "tools\\cmctl.exe"}]
    data["linux"]["curl"] = [{"url": f"{server.url}{CMCTL}", "destination": "/usr/bin/cmctl.exe"}]

    files = fetch_packages(usage(data), dest, retry=FAST)

    assert [file.path for file in files] == ["linuxpackages/cmctl_windows_amd64.exe",
                                             "windowspackages/cmctl_windows_amd64.exe"]
    assert server.count(CMCTL) == 2


def test_large_download_is_streamed_with_bounded_memory(server: StaticServer, root: Path, dest: Path) -> None:
    size = 20 * 1024 * 1024
    big = root / "big" / "images.zip"
    big.parent.mkdir()
    with open(big, "wb") as file:
        for _ in range(size // (1024 * 1024)):
            file.write(os.urandom(1024 * 1024))
    data = empty_usage()
    data["linux"]["curl"] = [{"url": f"{server.url}/big/images.zip", "destination": "/opt/images.zip"}]

    tracemalloc.start()
    try:
        [file] = fetch_packages(usage(data), dest, retry=FAST)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert file.size == size
    assert sha256(dest / file.path) == sha256(big)
    assert peak < 4 * 1024 * 1024, f"peak Python allocations {peak} bytes for a {size}-byte download"


def test_the_environment_proxy_is_used(monkeypatch: pytest.MonkeyPatch, server: StaticServer, root: Path,
                                       dest: Path) -> None:
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTP_PROXY", server.url)
    url = f"http://downloads.example.invalid{TOOL}"
    data = empty_usage()
    data["linux"]["curl"] = [{"url": url, "destination": "/usr/local/bin/tool"}]

    [file] = fetch_packages(usage(data), dest, retry=FAST)

    assert server.requests == [("GET", url, 200)]
    assert sha256(dest / file.path) == sha256(at(root, TOOL))


def test_tls_is_verified_against_ssl_cert_file(monkeypatch: pytest.MonkeyPatch, root: Path, tmp_path: Path,
                                               dest: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with StaticServer(root, tls=context) as server:
        data = empty_usage()
        data["linux"]["curl"] = [{"url": f"{server.url}{TOOL}", "destination": "/usr/local/bin/tool"}]

        with pytest.raises(DownloadError) as caught:
            fetch_packages(usage(data), dest, retry=FAST)
        message = str(caught.value)
        assert f"{server.url}{TOOL}" in message and "did not verify" in message and "SSL_CERT_FILE" in message
        assert files_under(dest) == []

        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        [file] = fetch_packages(usage(data), dest, retry=FAST)
        assert sha256(dest / file.path) == sha256(at(root, TOOL))


def test_repos_commands_are_logged_never_run(tmp_path: Path, dest: Path) -> None:
    marker = tmp_path / "ran"
    data = empty_usage()
    data["linux"]["repos"] = [f"touch {marker}", f"sh -c 'touch {marker}'"]
    lines: list[str] = []

    assert fetch_packages(usage(data), dest, log=lines.append) == []

    assert not marker.exists()
    assert len(lines) == 1 and "offline_usage.linux.repos" in lines[0] and "not run" in lines[0]


def test_file_name_rule() -> None:
    assert package_file_name("https://github.com/a/b/releases/download/v1/flux_2.9.4_windows_amd64.zip?x=1#y") == (
        "flux_2.9.4_windows_amd64.zip")
    assert package_file_name("https://example.com/a%20b.zip") == "a%20b.zip"
    assert check_file_name("cmctl.exe") is None
    for bad in ("", ".", "..", "nul", "Com1.txt", "a\x00b", "a|b", "a?", "a*", 'a"', "a<", "a>", "x "):
        assert check_file_name(bad) is not None, bad


# --- Debian packages -------------------------------------------------------------------------------------------

SMALL_PACKAGE = "libjs-sphinxdoc"
"""Debian bookworm: Depends on libjs-jquery and libjs-underscore, all three arch:all; about 570 kB together."""


def apt_candidate(package: str) -> None:
    """Skip unless apt is installed and its lists offer a candidate for ``package``."""
    if shutil.which("apt-cache") is None or shutil.which("apt-get") is None:
        pytest.skip("apt-get/apt-cache not installed")
    policy = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True,
                            env={**os.environ, "LC_ALL": "C"}, check=False)
    if "Candidate:" not in policy.stdout or "Candidate: (none)" in policy.stdout:
        pytest.skip(f"apt lists offer no candidate for {package} (run apt-get update)")


_OFFLINE = ("Temporary failure resolving", "Could not resolve", "Network is unreachable", "Failed to fetch",
            "Connection failed", "Could not connect", "No route to host")


def _offline(message: str) -> bool:
    """Whether an apt failure says the mirror cannot be reached (not that kaddons did something wrong)."""
    return any(marker in message for marker in _OFFLINE)


def deb_usage(testdata: Path, packages: list[str]) -> OfflineUsage:
    data = usage_data(testdata, "storage", "smb")
    data["linux"]["deb"] = packages
    return usage(data)


@pytest.mark.needs_mirrors
def test_debian_package_and_its_dependencies(testdata: Path, dest: Path) -> None:
    apt_candidate(SMALL_PACKAGE)
    lines: list[str] = []

    try:
        files = fetch_packages(deb_usage(testdata, [SMALL_PACKAGE]), dest, log=lines.append)
    except DownloadError as err:
        if _offline(str(err)):
            pytest.skip(f"needs the Debian package mirror, which cannot be reached here: {err}")
        raise

    assert sorted(file.source for file in files) == ["apt:libjs-jquery", "apt:libjs-sphinxdoc", "apt:libjs-underscore"]
    assert files_under(dest) == sorted(file.path for file in files)
    for file in files:
        assert file.path.startswith(f"debianpackages/{SMALL_PACKAGE}/") and file.path.endswith("_all.deb")
        assert (dest / file.path).stat().st_size == file.size
        with open(dest / file.path, "rb") as deb:
            assert deb.read(21) == b"!<arch>\ndebian-binary"
    assert any(SMALL_PACKAGE in line for line in lines)


def test_unknown_debian_package_is_not_found(testdata: Path, dest: Path) -> None:
    apt_candidate(SMALL_PACKAGE)
    with pytest.raises(NotFoundError) as caught:
        fetch_packages(deb_usage(testdata, [SMALL_PACKAGE, "no-such-package-kaddons"]), dest)
    message = str(caught.value)
    assert "'no-such-package-kaddons'" in message and "offline_usage.linux.deb[1]" in message
    assert list(dest.iterdir()) == []  # resolved before anything is downloaded


def test_virtual_package_with_several_providers_asks_for_one(testdata: Path, dest: Path) -> None:
    apt_candidate("debconf")
    with pytest.raises(UsageError, match=r"'debconf-2\.0' is a virtual package provided by .*debconf"):
        fetch_packages(deb_usage(testdata, ["debconf-2.0"]), dest)
    assert files_under(dest) == []


def test_apt_failure_gives_apts_last_error_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch, testdata: Path,
                                                               server: StaticServer, dest: Path) -> None:
    """apt fetches through the local server as its proxy, which knows no .deb: a real apt-get failure."""
    apt_candidate(SMALL_PACKAGE)
    for name in ("http_proxy", "https_proxy"):
        monkeypatch.setenv(name, server.url)
    monkeypatch.delenv("NO_PROXY")

    with pytest.raises(DownloadError) as caught:
        fetch_packages(deb_usage(testdata, [SMALL_PACKAGE]), dest)

    message = str(caught.value)
    assert "offline_usage.linux.deb[0]" in message and "E: Failed to fetch" in message
    assert "--omit-packages" in message and "\n" not in message
    assert files_under(dest) == [] and list((dest / "debianpackages").iterdir()) == []
    assert server.requests, "apt did not go through the proxy"


def test_debian_packages_need_apt(monkeypatch: pytest.MonkeyPatch, testdata: Path, tmp_path: Path,
                                  dest: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))

    with pytest.raises(UsageError) as caught:
        fetch_packages(usage(usage_data(testdata, "storage", "smb")), dest)

    message = str(caught.value)
    assert "cifs-utils" in message and "apt" in message and "--omit-packages" in message
    assert files_under(dest) == []


def test_apt_false_refuses_debian_packages(testdata: Path, server: StaticServer, dest: Path) -> None:
    data = usage_data(testdata, "storage", "smb")
    data["windows"]["curl"] = [{"url": f"{server.url}{CMCTL}", "destination": "bin\\cmctl.exe"}]

    with pytest.raises(UsageError, match=r"cifs-utils, samba.*--omit-packages"):
        fetch_packages(usage(data), dest, apt=False)

    assert server.requests == []


@pytest.mark.parametrize("name", ["-o=Dir::Cache=/tmp", "../etc", "Samba", "pkg=1.0", "a"])
def test_bad_debian_package_names_are_refused(name: str, testdata: Path, dest: Path) -> None:
    with pytest.raises(UsageError, match=r"offline_usage\.linux\.deb\[1\].*not a Debian package name"):
        fetch_packages(deb_usage(testdata, ["cifs-utils", name]), dest)
