"""The packages of an addon implementation for export (spec §2.8, layer 6): curl downloads and Debian packages.

:func:`fetch_packages` fills an empty directory with what ``offline_usage`` asks for; export packs that
directory into ``packages.tar.gz``. The layout is K2s's [COMPAT]::

    linuxpackages/<file>             linux.curl[]: <file> is the last path segment of the URL
    windowspackages/<file>           windows.curl[]
    debianpackages/<pkg>/*.deb       linux.deb[]: the package and its recursive dependencies

Differences from K2s, on purpose:

* Debian packages always land in ``debianpackages/<pkg>/`` (K2s mixes ``_``, ``-`` and the base name,
  §8.12). They are fetched with ``apt-get download`` on this machine, from the closure that
  ``apt-cache depends --recurse`` reports (Depends and PreDepends, every alternative and every
  provider of a virtual package), not from an ``apt-get reinstall`` on the control plane, so the set
  does not depend on what happens to be installed there.
* ``linux.repos[]`` are shell commands; kaddons never runs commands from a manifest. They are
  logged and skipped: apt uses this machine's sources.
* File names taken from URLs are validated (they end up on Windows) and must not collide ignoring
  case; the same URL listed twice in one list is downloaded once.
* Downloads are streamed to a temporary file next to the target and renamed into place; transient
  failures (connect errors, timeouts, 429, 5xx) are retried with backoff. The body is stored as the
  server holds it (``Accept-Encoding: identity``, like ``curl`` without ``--compressed``).

The environment's ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` and ``SSL_CERT_FILE``/``SSL_CERT_DIR`` apply
(httpx reads them); apt uses its own configuration.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from kaddons import __version__
from kaddons.addons.manifest import CurlDownload, OfflineUsage
from kaddons.errors import DownloadError, KaddonsError, NotFoundError, UsageError
from kaddons.oci.registry import RetryPolicy, retry_after_seconds

__all__ = [
    "DEBIAN_PACKAGES_DIR", "LINUX_PACKAGES_DIR", "WINDOWS_PACKAGES_DIR", "PackageFile", "check_file_name",
    "fetch_packages", "package_file_name",
]

LINUX_PACKAGES_DIR = "linuxpackages"
"""Folder of ``linux.curl[]`` downloads in the packages layer (§2.8, §3.8)."""
WINDOWS_PACKAGES_DIR = "windowspackages"
"""Folder of ``windows.curl[]`` downloads in the packages layer."""
DEBIAN_PACKAGES_DIR = "debianpackages"
"""Folder of ``linux.deb[]`` packages in the packages layer, one sub-folder per listed package."""

_OMIT = ", or export with --omit-packages"
_CHUNK = 256 * 1024
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_WINDOWS_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?", re.IGNORECASE)
_WINDOWS_BAD_CHARS = frozenset('<>:"|?*/\\')
_DEB_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
"""A Debian package name (Debian policy §5.6.7); a listed name becomes a folder and an apt argument."""
_APT_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?")
"""A name ``apt-cache depends`` prints for a real package, possibly with an architecture."""
_APT_CACHE_DEPENDS = ("depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                      "--no-breaks", "--no-replaces", "--no-enhances")


@dataclass(frozen=True)
class PackageFile:
    """One file written by :func:`fetch_packages`.

    ``path``: relative POSIX path inside the packages directory (``linuxpackages/cmctl.exe``,
    ``debianpackages/samba/libc6_2.36-9_amd64.deb``); ``source``: the URL it was downloaded from, or
    ``apt:<package>`` (the package the ``.deb`` holds); ``size``: bytes.
    """

    path: str
    source: str
    size: int


def check_file_name(name: str) -> str | None:
    """Why ``name`` cannot be a file name on Linux and Windows alike, or ``None`` when it can.

    Refused: empty, ``.``/``..``, ``/``, ``\\``, NUL and other control characters, ``<>:"|?*``, a
    trailing dot or space, and the Windows device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9, also with
    an extension, any case).
    """
    if not name:
        return "the file name is empty"
    if name in (".", ".."):
        return f"the file name {name!r} is not a file"
    bad = sorted({ch for ch in name if ch in _WINDOWS_BAD_CHARS or ord(ch) < 32})
    if bad:
        return f"the file name {name!r} contains {''.join(bad)!r}"
    if name[-1] in ". ":
        return f"the file name {name!r} ends with a dot or space"
    if _WINDOWS_RESERVED.fullmatch(name):
        return f"the file name {name!r} is a reserved device name on Windows"
    return None


def package_file_name(url: str, where: str = "offline_usage curl url") -> str:
    """The file name a curl entry's download gets: the last segment of the URL's path, as written (§2.8).

    The name is not percent-decoded, and query and fragment are not part of it (the same rule picks
    the file on import). ``where`` names the manifest field in messages. Raises
    :class:`~kaddons.errors.UsageError` for a URL that is not ``http(s)://HOST/...`` or whose name fails
    :func:`check_file_name`.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as err:
        raise UsageError(f"{where}: {url!r} is not a URL ({err}): fix the addon manifest") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{where}: {url!r} is not an http(s):// URL: fix the addon manifest")
    name = parts.path.rsplit("/", 1)[-1]
    problem = check_file_name(name)
    if problem is not None:
        raise UsageError(f"{where}: cannot name the download of {url} ({problem}): fix the addon manifest")
    return name


def fetch_packages(offline_usage: OfflineUsage | None, dest: Path, *, timeout: float = 60.0, apt: bool = True,
                   log: Callable[[str], None] | None = None, retry: RetryPolicy | None = None) -> list[PackageFile]:
    """Download the packages ``offline_usage`` lists into the empty directory ``dest`` (spec §2.8).

    Everything is checked, and the dependencies of the deb packages resolved, before anything is
    downloaded. Returns the files written: curl downloads in manifest order (Linux, then Windows), then
    the ``.deb`` files by package and name; ``[]`` when ``offline_usage`` is ``None`` or lists nothing.
    ``timeout`` is in seconds per network operation (connect, each read; apt's per-connection timeout);
    ``retry`` bounds the tries of one download (default :class:`RetryPolicy`); ``log`` gets one
    line per skipped ``repos`` list, finished download and resolved virtual package.
    ``apt=False`` refuses ``linux.deb`` entries instead of fetching them.

    Raises :class:`~kaddons.errors.UsageError` for a bad URL, file name, colliding file names, a bad
    package name, deb packages without apt (or with ``apt=False``), a virtual package with several
    providers; :class:`~kaddons.errors.NotFoundError` for a 404 or a package apt does not know;
    :class:`~kaddons.errors.DownloadError` for any other failed download. On error nothing of the
    failing entry is left in ``dest``; earlier entries stay (the caller removes ``dest``).
    """
    if offline_usage is None:
        return []
    say = log or (lambda _line: None)
    linux, windows = offline_usage.linux, offline_usage.windows
    downloads = [*_plan_curl(linux.curl, LINUX_PACKAGES_DIR, "offline_usage.linux.curl"),
                 *_plan_curl(windows.curl, WINDOWS_PACKAGES_DIR, "offline_usage.windows.curl")]
    debs = list(linux.deb)
    for index, package in enumerate(debs):
        if not _DEB_NAME.fullmatch(package):
            raise UsageError(f"offline_usage.linux.deb[{index}]: {package!r} is not a Debian package name: "
                             "fix the addon manifest")
    tools = _apt_tools(debs, apt)
    if linux.repos:
        say(f"offline_usage.linux.repos: {len(linux.repos)} command(s) not run (kaddons never runs commands "
            "from a manifest); apt uses this machine's sources")
    closures: list[tuple[str, str, list[str]]] = []
    if tools is not None:
        for index, package in enumerate(debs):
            where = f"offline_usage.linux.deb[{index}]"
            closures.append((package, where, _closure(tools[0], package, where, say)))
    files: list[PackageFile] = []
    if downloads:
        with _client(timeout) as client:
            for download in downloads:
                files.append(_download(client, download, dest, retry or RetryPolicy(), say))
    if tools is not None:
        for package, where, names in closures:
            files.extend(_fetch_deb(tools[1], package, names, where, dest, timeout, say))
    return files


# --- curl downloads -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Download:
    url: str
    path: str  # "linuxpackages/<name>"
    where: str  # "offline_usage.linux.curl[0]"


def _plan_curl(entries: list[CurlDownload], folder: str, field: str) -> list[_Download]:
    planned: dict[str, _Download] = {}
    for index, entry in enumerate(entries):
        where = f"{field}[{index}]"
        name = package_file_name(entry.url, f"{where}.url")
        other = planned.get(name.lower())
        if other is None:
            planned[name.lower()] = _Download(entry.url, f"{folder}/{name}", where)
        elif other.url != entry.url:
            raise UsageError(f"{where}: {entry.url} and {other.where} ({other.url}) both download to "
                             f"{folder}/{name} (file names are compared ignoring case): fix the addon manifest")
    return list(planned.values())


@contextmanager
def _client(timeout: float) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True, trust_env=True,
                      headers={"User-Agent": f"kaddons/{__version__}", "Accept-Encoding": "identity"}) as client:
        yield client


class _Transient(Exception):
    """A failure worth another try; ``error(tries)`` is what to raise when the tries are used up.

    ``tries`` is ``""`` or `` after N attempts``; ``delay`` a server-requested wait (``Retry-After``).
    """

    def __init__(self, error: Callable[[str], KaddonsError], delay: float | None = None) -> None:
        super().__init__(str(error("")))
        self.error = error
        self.delay = delay


def _download(client: httpx.Client, download: _Download, dest: Path, policy: RetryPolicy,
              say: Callable[[str], None]) -> PackageFile:
    """Download with retries by ``policy``; the final error names the number of tries."""
    started = time.monotonic()
    failures = 0
    while True:
        try:
            size = _download_once(client, download, dest)
        except _Transient as transient:
            failures += 1
            delay = transient.delay if transient.delay is not None else policy.backoff(failures)
            if failures >= policy.attempts or time.monotonic() - started + delay > policy.max_elapsed:
                raise transient.error(f" after {failures} attempts" if failures > 1 else "") from None
            time.sleep(delay)
            continue
        say(f"downloaded {download.url} to {download.path} ({size} bytes)")
        return PackageFile(download.path, download.url, size)


def _download_once(client: httpx.Client, download: _Download, dest: Path) -> int:
    """One GET of ``download.url`` streamed to a temporary file renamed to ``dest/download.path``; the size."""
    url, where = download.url, download.where
    target = dest / download.path
    try:
        with client.stream("GET", url) as response:
            status = response.status_code
            if status == 404:
                raise NotFoundError(f"{url} ({where}) does not exist (HTTP 404): fix the URL in the addon manifest"
                                    f"{_OMIT}")
            if status != 200:
                reason = response.reason_phrase
                hint = "retry later" if status in _RETRYABLE_STATUS else "check the URL and the server"

                def error(tries: str) -> KaddonsError:
                    return DownloadError(f"downloading {url} ({where}) failed: HTTP {status} {reason}{tries}: "
                                         f"{hint}{_OMIT}")

                if status in _RETRYABLE_STATUS:
                    raise _Transient(error, _retry_after(response.headers.get("retry-after")))
                raise error("")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                return _store(response, target)
            except OSError as err:
                raise _write_error(target, err) from None
    except httpx.HTTPError as exc:
        raise _transport_error(exc, url, where) from None


def _write_error(path: Path, err: OSError) -> KaddonsError:
    return KaddonsError(f"cannot write {path} ({err.strerror or err}): check the export directory")


def _store(response: httpx.Response, target: Path) -> int:
    """Stream the body to a temporary file beside ``target``, then rename it; nothing is left on failure."""
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    size = 0
    try:
        with os.fdopen(fd, "wb") as file:
            for chunk in response.iter_raw(_CHUNK):
                file.write(chunk)
                size += len(chunk)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return size


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` asks to wait (delay-seconds or HTTP-date), capped at 30; ``None``: backoff."""
    seconds = retry_after_seconds(value)
    return None if seconds is None else min(seconds, 30.0)


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    current: BaseException | None = exc
    for _ in range(10):
        if current is None or isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _reason(exc: BaseException) -> str:
    current: BaseException | None = exc
    reason = type(exc).__name__
    for _ in range(10):
        if current is None:
            break
        if str(current):
            reason = str(current)
        current = current.__cause__ or current.__context__
    return " ".join(reason.split())[:160]


def _transport_error(exc: httpx.HTTPError, url: str, where: str) -> KaddonsError | _Transient:
    """The error for a failed request: TLS and URL problems at once, the rest transient (retried)."""
    cause = _ssl_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        host = urllib.parse.urlsplit(url).hostname
        return DownloadError(f"downloading {url} ({where}): the TLS certificate of {host} did not verify "
                             f"({_reason(exc)}): set SSL_CERT_FILE to a CA bundle that trusts it{_OMIT}")
    if isinstance(exc, httpx.TooManyRedirects | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return DownloadError(f"downloading {url} ({where}) failed ({_reason(exc)}): fix the URL in the addon "
                             f"manifest{_OMIT}")
    if isinstance(exc, httpx.TimeoutException):
        what = f"timed out ({type(exc).__name__})"
    elif isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        what = f"could not connect ({_reason(exc)})"
    else:
        what = f"failed ({_reason(exc)})"
    return _Transient(lambda tries: DownloadError(f"downloading {url} ({where}) {what}{tries}: check the network "
                                                  f"and HTTP(S)_PROXY{_OMIT}"))


# --- Debian packages ------------------------------------------------------------------------------------------

def _apt_tools(debs: list[str], apt: bool) -> tuple[str, str] | None:
    """``(apt-cache, apt-get)`` found on ``PATH`` when ``debs`` is not empty, else ``None``."""
    if not debs:
        return None
    listed = ", ".join(debs)
    if not apt:
        raise UsageError(f"offline_usage.linux.deb lists {listed} but Debian packages are not fetched here: "
                         "export with --omit-packages")
    apt_cache, apt_get = shutil.which("apt-cache"), shutil.which("apt-get")
    if apt_cache is None or apt_get is None:
        raise UsageError(f"offline_usage.linux.deb lists {listed}: Debian packages need apt (apt-get, apt-cache) "
                         "on this machine; export on a Debian/Ubuntu host or with --omit-packages")
    return apt_cache, apt_get


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "LANGUAGE": "C"}
    try:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", check=False)
    except OSError as err:
        raise DownloadError(f"cannot run {args[0]} ({err.strerror or err}){_OMIT}") from None


def _last_error(stderr: str) -> str:
    """The last ``E:`` line of apt's stderr, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E:")]
    return (errors or lines or ["no message"])[-1][:200]


def _closure(apt_cache: str, package: str, where: str, say: Callable[[str], None], *, follow: bool = True
             ) -> list[str]:
    """``package`` and its recursive dependencies, real packages only; a virtual one is resolved to its provider."""
    done = _run([apt_cache, *_APT_CACHE_DEPENDS, package])
    if done.returncode != 0:
        message = _last_error(done.stderr)
        if "No packages found" in done.stderr or "Unable to locate" in done.stderr:
            raise NotFoundError(f"{where}: apt does not know the package {package!r}: check the name or run "
                                f"apt-get update{_OMIT}")
        raise DownloadError(f"{where}: apt-cache depends {package} failed ({message}){_OMIT}")
    names: list[str] = []
    for line in done.stdout.splitlines():
        name = line.strip()
        if not name or line[0].isspace() or name.startswith("<") or name in names:
            continue
        if not _APT_NAME.fullmatch(name):
            raise DownloadError(f"{where}: apt-cache depends {package} printed an unexpected line {name!r}")
        names.append(name)
    if names:
        return names
    providers = _providers(apt_cache, package)
    if len(providers) == 1 and follow:
        say(f"{where}: {package} is a virtual package, fetching its provider {providers[0]}")
        return _closure(apt_cache, providers[0], where, say, follow=False)
    if not providers:
        raise NotFoundError(f"{where}: {package!r} is a virtual package that no available package provides: "
                            f"fix the addon manifest{_OMIT}")
    raise UsageError(f"{where}: {package!r} is a virtual package provided by {', '.join(providers)}: list one of "
                     "them in offline_usage.linux.deb")


def _providers(apt_cache: str, package: str) -> list[str]:
    """The packages of ``apt-cache showpkg``'s ``Reverse Provides:`` section."""
    done = _run([apt_cache, "showpkg", package])
    lines = done.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Reverse Provides:")), len(lines))
    providers: list[str] = []
    for line in lines[start + 1:]:
        name = line.split(" ", 1)[0]
        if _APT_NAME.fullmatch(name) and name not in providers:
            providers.append(name)
    return providers


def _fetch_deb(apt_get: str, package: str, names: list[str], where: str, dest: Path, timeout: float,
               say: Callable[[str], None]) -> list[PackageFile]:
    """``apt-get download`` ``names`` (the closure of ``package``) into ``dest/debianpackages/<package>/``."""
    root = dest / DEBIAN_PACKAGES_DIR
    target = root / package
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{package}.", suffix=".part", dir=root))
    except OSError as err:
        raise _write_error(root, err) from None
    try:
        seconds = max(int(timeout), 1)
        done = _run([apt_get, "download", "-q", "-o", f"Acquire::http::Timeout={seconds}",
                     "-o", f"Acquire::https::Timeout={seconds}", "-o", "Acquire::Retries=3", *names], cwd=staging)
        if done.returncode != 0:
            raise DownloadError(f"{where}: apt-get download of {package} and its {len(names) - 1} dependencies "
                                f"failed ({_last_error(done.stderr)}): check apt's sources and the network{_OMIT}")
        debs = sorted(path for path in staging.iterdir() if path.is_file() and path.name.endswith(".deb"))
        for path in debs:
            problem = check_file_name(path.name)
            if problem is not None:
                raise DownloadError(f"{where}: apt-get download wrote {path.name!r}, unusable: {problem}")
        for path in staging.iterdir():
            if path in debs:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        staging.rename(target)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise _write_error(target, err) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say(f"downloaded {package} and {len(debs) - 1} dependencies to {DEBIAN_PACKAGES_DIR}/{package}/")
    return [PackageFile(f"{DEBIAN_PACKAGES_DIR}/{package}/{path.name}", f"apt:{path.name.split('_', 1)[0]}",
                        (target / path.name).stat().st_size) for path in debs]
