"""Chart mirrors for air-gapped clusters: a source URL rewritten for kaddons' own reads (issue 11).

A mirror is ``FROM=TO``: a source URL that starts with ``FROM`` is read from ``TO`` plus the rest of it
(``https://charts.example.com=http://mirror.local:8080/charts``; ``oci://ghcr.io/org=oci://registry.local/org``).
The longest matching ``FROM`` wins. Mirrors come from ``--mirror FROM=TO`` (repeatable) and from the mirrors
file: ``$KADDONS_MIRRORS_FILE``, else ``$XDG_CONFIG_HOME/kaddons/mirrors.yaml`` (``~/.config/...``), a mapping
``FROM: TO``; a flag wins over the file for the same ``FROM``. Rendered objects keep the document's URL: the
engine in the cluster reads its own mirror configuration.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from kaddons._paths import config_home
from kaddons.errors import ClusterDocumentError, UsageError

__all__ = ["Mirrors", "default_mirrors_file", "load_mirrors"]

_SCHEMES = ("http://", "https://", "oci://")


class Mirrors:
    """An ordered set of ``FROM -> TO`` rewrites (see the module)."""

    def __init__(self, pairs: Mapping[str, str] | None = None) -> None:
        self.pairs = dict(pairs or {})

    def rewrite(self, url: str) -> str:
        """``url`` as kaddons reads it: the longest matching mirror applied, else unchanged."""
        for source in sorted(self.pairs, key=len, reverse=True):
            if url == source or url.startswith(source.rstrip("/") + "/"):
                return self.pairs[source].rstrip("/") + url[len(source.rstrip("/")):]
        return url


def _check(source: str, target: str, where: str) -> None:
    for url in (source, target):
        if not url.startswith(_SCHEMES):
            raise UsageError(f"{where}: {url!r} is not a chart source URL (http://, https:// or oci://): write the "
                             "mirror as FROM=TO")
    if source.startswith("oci://") != target.startswith("oci://"):
        raise UsageError(f"{where}: {source} and {target} are not the same kind of source (both oci://, or both "
                         "http(s)://)")


def default_mirrors_file() -> Path:
    """``$KADDONS_MIRRORS_FILE``, else ``$XDG_CONFIG_HOME/kaddons/mirrors.yaml`` (default ``~/.config``)."""
    given = os.environ.get("KADDONS_MIRRORS_FILE")
    if given:
        return Path(given)
    return config_home() / "kaddons" / "mirrors.yaml"


def load_mirrors(flags: Iterable[str] = (), file: Path | None = None) -> Mirrors:
    """The mirrors of the mirrors ``file`` (default :func:`default_mirrors_file`; absent is fine) and of the
    ``--mirror FROM=TO`` ``flags``. Raises :class:`~kaddons.errors.UsageError` naming a bad entry."""
    from kaddons.addons._yaml import parse_yaml

    pairs: dict[str, str] = {}
    path = file if file is not None else default_mirrors_file()
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"mirrors file {path}: cannot read it ({err})") from None
        data = parse_yaml(text, str(path), error=ClusterDocumentError) if text.strip() else {}
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise UsageError(f"mirrors file {path}: expected a mapping of source URL to mirror URL (FROM: TO)")
        for source, target in data.items():
            _check(source, target, f"mirrors file {path}")
            pairs[source] = target
    for flag in flags:
        source, sep, target = flag.partition("=")
        if not sep or not source or not target:
            raise UsageError(f"--mirror {flag!r}: write it as FROM=TO (two URLs)")
        _check(source, target, f"--mirror {flag!r}")
        pairs[source] = target
    return Mirrors(pairs)
