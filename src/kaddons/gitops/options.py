"""Validated inputs of ``kaddons gitops render`` / ``register`` and of export's ``gitops-sync/`` (spec §5).

Every check raises :class:`~kaddons.errors.UsageError` with one line naming the value and the way out,
before anything is written. Values that end up in YAML are restricted to what Kubernetes and Flux
accept, and to characters that survive FluxCD's textual post-build substitution into
``gitops-sync/sync-job.yaml`` unchanged (addons directory, image, semver constraint).
"""

from __future__ import annotations

import re
from pathlib import Path

from kaddons import __version__
from kaddons.addons.images.reference import parse_image_reference
from kaddons.addons.names import NAME_PATTERN
from kaddons.errors import InvalidReferenceError, UsageError
from kaddons.oci.reference import parse_registry_host, strip_scheme, validate_repository
from kaddons.sync._semver import ConstraintError, parse_constraints

from ._choices import Engine, Flavor, parse_engine, parse_flavor

__all__ = [
    "DEFAULT_ADDONS_DIR",
    "DEFAULT_IMAGE",
    "DEFAULT_INTERVAL",
    "DEFAULT_RUN_AS_USER",
    "DEFAULT_SEMVER",
    "MAX_ADDON_NAME",
    "Engine",
    "Flavor",
    "check_addon_name",
    "check_addons_dir",
    "check_image",
    "check_interval",
    "check_k2s_install_dir",
    "check_run_as_user",
    "check_semver",
    "check_service_account",
    "parse_engine",
    "parse_flavor",
    "parse_registry_url",
    "read_ca_file",
    "read_sync_script",
]

DEFAULT_IMAGE = f"ghcr.io/kaddons/kaddons:{__version__}"
"""The image the sync pods run unless ``--image`` says otherwise: this kaddons version."""
DEFAULT_ADDONS_DIR = "/var/lib/kaddons/addons"
"""Where the kaddons flavor keeps the addon catalog on a Linux node (hostPath)."""
DEFAULT_RUN_AS_USER = 65532
"""User and group id of the kaddons flavor's sync pods (the distroless ``nonroot`` id)."""
DEFAULT_INTERVAL = "1m"
DEFAULT_SEMVER = ">=0.0.0-0"
"""The OCIRepository ``ref.semver`` of K2s's template (§5.2): every release and pre-release."""
MAX_ADDON_NAME = 52
"""``addon-sync-<name>`` names a Job, whose name is also a pod label value: at most 63 characters."""
_MAX_UID = 2**31 - 1
_MAX_CA_BYTES = 512 * 1024
_MAX_SCRIPT_BYTES = 900 * 1024  # a ConfigMap holds at most 1 MiB
_FLUX_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_SAFE_PATH = re.compile(r"^(/[A-Za-z0-9._-]+)+$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


def _is_host(text: str) -> bool:
    try:
        parse_registry_host(text)
    except InvalidReferenceError:
        return False
    return True


def parse_registry_url(text: str, *, allow_prefix: bool = False) -> str:
    """``oci://HOST[:PORT][/PREFIX]`` -> ``HOST[:PORT][/PREFIX]`` (``https://`` is taken as ``oci://``).

    ``allow_prefix``: a repository path prefix is allowed (the kaddons flavor: addons are read from
    ``PREFIX/addons/<name>``, as ``kaddons push`` and ``sync`` do); without it, or when the prefix ends in
    ``addons`` (repositories would be ``…/addons/addons/<name>``), a path is an error saying why.
    Raises :class:`UsageError` for a value without ``oci://``, a tag or a digest, or an invalid host or port.
    """
    example = "oci://HOST[:PORT][/PREFIX]" if allow_prefix else "oci://HOST[:PORT]"
    way_out = f"give only {example}, e.g. --registry oci://registry.local:5000"
    if text.lower().startswith(("http://", "https://")):
        try:
            text = "oci://" + strip_scheme(text)
        except InvalidReferenceError as err:
            raise UsageError(f"registry URL {err}") from None
    if not text.startswith("oci://"):
        raise UsageError(f"registry URL {text!r} does not start with oci://: {way_out}")
    rest = text.removeprefix("oci://").rstrip("/")
    if "@" in rest:
        raise UsageError(f"registry URL {text!r} names a digest: {way_out}")
    host, slash, path = rest.partition("/")
    after_brackets = host.rpartition("]")[2]  # an IPv6 address [::1] has colons of its own
    port = after_brackets.partition(":")[2]
    if ":" in path.rpartition("/")[2] or ":" in port or (port and not port.isdigit()):
        raise UsageError(f"registry URL {text!r} names a tag: {way_out}")
    if slash and not allow_prefix:
        raise UsageError(f"registry URL {text!r} has a path (/{path}): {way_out}; the k2s flavor reads addons "
                         "from HOST/addons/<name> only (K2s's Sync-Addons.ps1 knows no prefix)")
    if slash and path.rpartition("/")[2] == "addons":
        raise UsageError(f"registry URL {text!r} ends in /addons: addons are read from PREFIX/addons/<name>, so "
                         f"drop the trailing /addons (the registry path has a path /{path} too many)")
    if ":" in after_brackets and not (port and 0 < int(port) < 65536):
        raise UsageError(f"registry URL {text!r} has an invalid port {port!r}: {way_out}")
    try:
        host = parse_registry_host(host)
        if slash:
            validate_repository(path)
    except InvalidReferenceError:
        what = "prefix" if slash and _is_host(host) else "host"
        raise UsageError(f"registry URL {text!r} has no valid {what}: {way_out}") from None
    return f"{host}/{path}" if slash else host


def check_addon_name(name: str) -> str:
    """Return ``name`` if it is an export name usable in ``addon-sync-<name>``: a DNS-1123 label of at
    most :data:`MAX_ADDON_NAME` characters; else raise :class:`UsageError`."""
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"addon name {name!r} is not a DNS label (lowercase letters, digits and '-', starting "
                         "and ending with a letter or digit): pass the export name, e.g. metrics or ingress-nginx")
    if len(name) > MAX_ADDON_NAME:
        raise UsageError(f"addon name {name!r} has {len(name)} characters: at most {MAX_ADDON_NAME}, so that the "
                         "Job name addon-sync-<name> stays within 63")
    return name


def check_interval(value: str) -> str:
    """Return ``value`` if it is a Flux duration (``^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$``), else raise."""
    if not _FLUX_DURATION.fullmatch(value):
        raise UsageError(f"interval {value!r} is not a Flux duration: use e.g. 30s, 1m or 1h30m")
    return value


def check_semver(value: str) -> str:
    """Return ``value`` if Masterminds/semver (as Flux) parses it; spaces are the only white space allowed."""
    if any(c.isspace() and c != " " for c in value) or not value.strip():
        raise UsageError(f"semver constraint {value!r} is empty or has white space other than spaces: "
                         "use e.g. >=0.0.0-0 or \">=1.0.0 <2.0.0\"")
    try:
        parse_constraints(value)
    except ConstraintError as err:
        raise UsageError(f"semver constraint {value!r} does not parse ({err}): use Masterminds syntax as Flux "
                         "does, e.g. >=0.0.0-0, ~1.2 or \">=1.0.0 <2.0.0\"") from None
    return value


def check_addons_dir(value: str) -> str:
    """Return the normalised absolute node path (no trailing ``/``) of the addons directory, else raise.

    Only letters, digits, ``.``, ``_``, ``-`` and ``/``; no ``.``/``..`` components; not ``/`` itself.
    """
    path = value.rstrip("/") if value != "/" else value
    if not _SAFE_PATH.fullmatch(path) or any(part in (".", "..") for part in path.split("/")):
        raise UsageError(f"--addons-dir {value!r} is not a plain absolute path on the node: use letters, digits, "
                         f". _ - and /, e.g. {DEFAULT_ADDONS_DIR}")
    return path


def check_image(value: str) -> str:
    """Return ``value`` if it is an image reference (``REPO[:TAG][@sha256:...]``), else raise."""
    try:
        parse_image_reference(value)
    except InvalidReferenceError as err:
        raise UsageError(f"--image: {err}: pass e.g. ghcr.io/kaddons/kaddons:0.1.0") from None
    return value


def check_k2s_install_dir(value: str) -> str:
    """Return ``value`` if it is an absolute Windows path (``C:\\k``), K2s's install directory; else raise."""
    if not (len(value) >= 3 and value[0].isascii() and value[0].isalpha() and value[1:3] == ":\\"
            and not any(c in value for c in '\0\r\n\t"*?<>|')):
        raise UsageError(f"--k2s-install-dir {value!r} is not an absolute Windows path: pass e.g. C:\\k")
    return value


def check_run_as_user(value: int | str) -> int:
    """The user id as an int in 0..2**31-1 (0 allows root: then ``runAsNonRoot`` is false), else raise."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_UID:
        raise UsageError(f"--run-as-user {value!r} is not a user id: pass a number from 0 to {_MAX_UID}, "
                         f"e.g. {DEFAULT_RUN_AS_USER}")
    return int(text)


def check_service_account(value: str) -> str:
    """Return ``value`` if it is a valid ServiceAccount name (DNS subdomain), else raise."""
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        raise UsageError(f"--service-account {value!r} is not a ServiceAccount name: use lowercase letters, "
                         "digits, '-' and '.', e.g. addon-sync-reconciler")
    return value


def _read_small(path: Path, flag: str, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as err:
        raise UsageError(f"{flag} {path}: {err.strerror or err}: pass a readable file") from None
    if len(data) > limit:
        raise UsageError(f"{flag} {path} is larger than {limit // 1024} KiB: a ConfigMap cannot hold it")
    return data


def read_ca_file(path: Path) -> str:
    """The PEM text of ``--ca-file``: ASCII, at most 512 KiB, at least one certificate; else raise."""
    data = _read_small(path, "--ca-file", _MAX_CA_BYTES)
    text = data.decode("ascii", errors="replace")
    if not data.isascii() or _PEM_CERTIFICATE not in text:
        raise UsageError(f"--ca-file {path} is not a PEM certificate bundle: pass a file with "
                         f"'{_PEM_CERTIFICATE}' blocks")
    return text


def read_sync_script(path: Path) -> str:
    """The text of K2s's ``Sync-Addons.ps1`` (``--sync-script``): UTF-8, at most 900 KiB; else raise."""
    data = _read_small(path, "--sync-script", _MAX_SCRIPT_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--sync-script {path} is not UTF-8 text: pass K2s's Sync-Addons.ps1") from None
