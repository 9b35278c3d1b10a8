"""The naming rules of addons, defined once (spec §0 and §8.18).

* An addon name (``metadata.name``) or implementation name is a DNS-label-like string:
  ``^[a-z0-9]([a-z0-9-]*[a-z0-9])?$``. K2s does not check names; kaddons does, because names become
  directory names and registry repository paths (§8.18: ``..\\lib`` as a name escapes the addons tree).
* The *export name* (§0; Export.ps1 ``addonFolderName``, Go ``ExportDirectoryName``) is
  ``metadata.name`` for a single-implementation addon (implementation name equal to the addon name)
  and ``metadata.name + "-" + impl.name`` otherwise, whitespace runs becoming ``-``. By convention
  it is also the registry repository name (``addons/<export name>:<tag>``) and the name of the
  digest file under ``.addon-sync-digests`` (§4.4).
"""

from __future__ import annotations

import re

__all__ = ["NAME_PATTERN", "check_name", "export_name", "is_single_implementation", "is_valid_name"]

NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is a valid addon or implementation name (:data:`NAME_PATTERN`)."""
    return NAME_PATTERN.fullmatch(name) is not None


def check_name(name: str, what: str = "addon name") -> str | None:
    """Return ``None`` if ``name`` is valid, else a one-line reason such as
    ``"'Foo' is not a valid addon name (lowercase letters, ...)"``."""
    if is_valid_name(name):
        return None
    return f"{name!r} is not a valid {what} ({_RULE})"


def is_single_implementation(addon: str, implementation: str | None) -> bool:
    """Whether an implementation is the addon's only, in-place one (§0: ``impl.name == metadata.name``).

    ``None`` (no implementation named) counts as single. The comparison is exact, as in the Go CLI;
    names that pass :func:`is_valid_name` are lowercase, so case never matters for them.
    """
    return implementation is None or implementation == addon


def export_name(addon: str, implementation: str | None = None) -> str:
    """The export name (§0, §2.3): ``metrics`` -> ``metrics``; ``ingress``, ``nginx-gw`` -> ``ingress-nginx-gw``.

    ``implementation`` equal to ``addon`` (or ``None``) means single-implementation. As Export.ps1
    does, the addon name and the implementation name are joined by a space and every whitespace run
    becomes one ``-``.
    """
    joined = addon if is_single_implementation(addon, implementation) else f"{addon} {implementation}"
    return "-".join(joined.split())
