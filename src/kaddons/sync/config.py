"""What a sync run needs to know: :class:`SyncConfig`, and the parsing of its textual inputs.

The CLI builds a :class:`SyncConfig` from flags and ``KADDONS_*`` variables; the agent and tests
build one directly. Registries are named ``oci://HOST[:PORT][/PREFIX]`` (``oci://`` optional, as K2s
strips it, §4.1) or ``oci-layout:DIR`` (an OCI image layout whose index entries are the addons).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kaddons.addons.extract import ExtractLimits
from kaddons.addons.names import check_name
from kaddons.addons.repository import ADDONS_NAMESPACE, split_registry
from kaddons.errors import UsageError
from kaddons.oci.registry import RegistryOptions

from .tags import TagPolicy, parse_tag_policy

__all__ = ["DEFAULT_CONCURRENCY", "FALSE_WORDS", "LAYOUT_PREFIX", "MAX_CONCURRENCY", "TRUE_WORDS", "RegistrySpec",
           "SyncConfig", "parse_bool", "parse_concurrency", "parse_registry", "parse_repositories", "read_repos_file",
           "repository_name"]

LAYOUT_PREFIX = "oci-layout:"
_SEPARATORS = re.compile(r"[\s,]+")
#: Spellings of a boolean, compared case-insensitively after stripping white space. ``$true``/``$false``
#: are PowerShell's, which K2s writes into its ConfigMaps and environment (§5.1).
TRUE_WORDS = frozenset({"$true", "true", "1", "yes", "y", "on", "t"})
FALSE_WORDS = frozenset({"$false", "false", "0", "no", "n", "off", "f", ""})
#: The default of ``kaddons sync --concurrency`` (addons checked at once), and the most allowed.
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 64


def parse_bool(value: str | bool, what: str = "value") -> bool:
    """A boolean from an environment variable or ConfigMap value.

    True: ``$true``, ``true``, ``1``, ``yes``, ``y``, ``on``, ``t``; false: ``$false``, ``false``, ``0``,
    ``no``, ``n``, ``off``, ``f`` and the empty string; any case, surrounding white space ignored. A
    ``bool`` is returned as it is. ``what`` names the setting in the message (``KADDONS_INSECURE``).

    Raises :class:`UsageError` for any other text.
    """
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UsageError(f"{what} {value!r} is not a boolean: use true or false ($true/$false, yes/no, 1/0 work too)")


def parse_concurrency(value: str | int, what: str = "concurrency") -> int:
    """How many addons to sync at once: a whole number from 1 to :data:`MAX_CONCURRENCY`.

    ``value`` is text (``--concurrency``, ``KADDONS_CONCURRENCY``; surrounding white space ignored)
    or an ``int``; ``what`` names the setting in the message. Raises :class:`UsageError` otherwise.
    """
    if isinstance(value, bool):  # bool is an int: refuse True/False rather than read them as 1/0
        number = None
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        number = int(text) if text.isascii() and text.isdigit() else None
    if number is None or not 1 <= number <= MAX_CONCURRENCY:
        raise UsageError(f"{what} {value!r} is not allowed: give the number of addons to sync at once, "
                         f"a whole number from 1 to {MAX_CONCURRENCY} (default {DEFAULT_CONCURRENCY})")
    return number


@dataclass(frozen=True)
class RegistrySpec:
    """A parsed ``--registry``: ``kind`` ``registry`` (``host``, ``prefix`` ``""`` or ``PATH/``) or
    ``layout`` (``path``)."""

    kind: str
    host: str = ""
    prefix: str = ""
    path: Path | None = None

    def __str__(self) -> str:
        if self.kind == "layout":
            return f"{LAYOUT_PREFIX}{self.path}"
        return f"oci://{self.host}{('/' + self.prefix.rstrip('/')) if self.prefix else ''}"


def parse_registry(text: str) -> RegistrySpec:
    """``oci://HOST[:PORT][/PREFIX]``, ``HOST[:PORT][/PREFIX]`` or ``oci-layout:DIR``.

    Raises :class:`~kaddons.errors.InvalidReferenceError` (a :class:`UsageError`) when it does not parse.
    """
    stripped = text.strip()
    if stripped.startswith(LAYOUT_PREFIX):
        location = stripped[len(LAYOUT_PREFIX):]
        if not location:
            raise UsageError(f"registry {text!r}: give the layout directory, e.g. oci-layout:/srv/addons")
        return RegistrySpec("layout", path=Path(location))
    if not stripped:
        raise UsageError("no registry given: pass --registry oci://HOST[:PORT] or set KADDONS_REGISTRY")
    host, prefix = split_registry(stripped)
    return RegistrySpec("registry", host=host, prefix=prefix)


def repository_name(text: str, prefix: str = "") -> str:
    """The export name a repository entry names: ``metrics``, ``addons/metrics``, ``PREFIX/addons/metrics``.

    Raises :class:`UsageError` when what is left is not a valid export name.
    """
    name = text.strip().strip("/")
    for head in (f"{prefix}{ADDONS_NAMESPACE}/", f"{ADDONS_NAMESPACE}/"):
        if name.startswith(head):
            name = name[len(head):]
            break
    problem = check_name(name, "addon repository name")
    if problem:
        raise UsageError(f"repository {text!r}: {problem}; name addon repositories as NAME or "
                         f"{ADDONS_NAMESPACE}/NAME")
    return name


def parse_repositories(text: str, prefix: str = "") -> list[str]:
    """Repository names separated by commas or white space (``KADDONS_REPOS``), each as :func:`repository_name`,
    in order, each once."""
    names = [repository_name(part, prefix) for part in _SEPARATORS.split(text) if part]
    return list(dict.fromkeys(names))


def read_repos_file(path: Path, prefix: str = "") -> list[str]:
    """The repositories of a ``--repos-file``: one per line; blank lines and ``#`` comments ignored.

    Raises :class:`UsageError` when the file cannot be read or an entry is invalid.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--repos-file {path} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return list(dict.fromkeys(repository_name(line, prefix) for line in lines if line))


@dataclass(frozen=True)
class SyncConfig:
    """One sync run (``kaddons sync``) or the agent's settings.

    - ``registry``: ``oci://HOST[:PORT][/PREFIX]`` or ``oci-layout:DIR`` (:func:`parse_registry`).
    - ``addons_dir``: the addons directory (K2s ``<install dir>/addons``); it must exist.
    - ``addons``: sync only these export names (``--addon``; repository ``addons/NAME``), no discovery.
    - ``repositories``: the explicit repository list (``--repos-file``, ``KADDONS_REPOS``) for registries
      without ``/v2/_catalog``; ``None``: discover through the catalog API (a layout: its index).
    - ``check_digest``: skip an addon whose manifest digest equals the recorded one and that is present
      on disk (K2s ``-CheckDigest``); without it every addon is extracted again (K2s behaviour).
    - ``tag_policy``: ``k2s`` (default), ``semver:EXPR`` or ``tag:T`` (text or a parsed :class:`TagPolicy`).
    - ``options``: registry access (TLS, credentials, retries, timeouts).
    - ``limits``: extraction bounds per layer; ``attempts``: tries of one addon's download when the
      registry fails or sends bytes that do not verify; ``lock_timeout``: seconds to wait for the catalog lock.
    - ``concurrency``: addons a one-shot sync (:func:`~kaddons.sync.sync_addons`) checks at once, 1 to
      :data:`MAX_CONCURRENCY`; default 1, one after another (``kaddons sync`` passes its ``--concurrency``,
      default :data:`DEFAULT_CONCURRENCY`). Downloads and installs still happen one at a time, in order.

    Raises :class:`UsageError` for an invalid policy, name or bound.
    """

    registry: str
    addons_dir: Path
    addons: tuple[str, ...] = ()
    repositories: tuple[str, ...] | None = None
    check_digest: bool = False
    tag_policy: TagPolicy | str = "k2s"
    options: RegistryOptions = field(default_factory=RegistryOptions)
    limits: ExtractLimits = field(default_factory=ExtractLimits)
    attempts: int = 3
    lock_timeout: float = 600.0
    concurrency: int = 1

    def __post_init__(self) -> None:
        spec = parse_registry(self.registry)
        object.__setattr__(self, "addons_dir", Path(self.addons_dir))
        if isinstance(self.tag_policy, str):
            object.__setattr__(self, "tag_policy", parse_tag_policy(self.tag_policy))
        object.__setattr__(self, "addons", tuple(repository_name(n, spec.prefix) for n in self.addons))
        if self.repositories is not None:
            names = tuple(repository_name(n, spec.prefix) for n in self.repositories)
            object.__setattr__(self, "repositories", tuple(dict.fromkeys(names)))
        if self.attempts < 1:
            raise UsageError(f"attempts must be at least 1, got {self.attempts}")
        object.__setattr__(self, "concurrency", parse_concurrency(self.concurrency))

    @property
    def spec(self) -> RegistrySpec:
        """The parsed :attr:`registry`."""
        return parse_registry(self.registry)

    @property
    def policy(self) -> TagPolicy:
        """The parsed :attr:`tag_policy`."""
        assert isinstance(self.tag_policy, TagPolicy)
        return self.tag_policy
