"""age keys and the repository's recipients (issue 12; ankra-addons.md §5.1).

* :func:`keygen` makes an X25519 key pair with ``pyrage``. The private key is appended to a key file created
  ``0600`` (default: ``$SOPS_AGE_KEY_FILE``, else sops's own ``$XDG_CONFIG_HOME/sops/age/keys.txt``, so plain
  ``sops`` finds it too); it is never printed nor written into the repository.
* The repository's recipients are the ``age`` list of the creation rule kaddons keeps in ``.sops.yaml`` at the
  repository root, so a person can run plain ``sops`` on the same files. Several recipients are usual (a team
  key and a cluster key): every file is encrypted for all of them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from kaddons._paths import config_home
from kaddons.errors import ClusterDocumentError, UsageError

__all__ = ["RECIPIENT", "SOPS_CONFIG", "default_key_file", "keygen", "parse_recipients", "read_recipients",
           "recipients_text", "sops_config_text", "write_recipients"]

SOPS_CONFIG = ".sops.yaml"
RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
_HEADER = ("# The age recipients of this repository's SOPS-encrypted values and manifests, kept by kaddons\n"
           "# (kaddons sops keygen / rotate). Plain sops uses the same rule: sops encrypt --encrypted-regex ...\n")


def default_key_file() -> Path:
    """``$SOPS_AGE_KEY_FILE``, else ``$XDG_CONFIG_HOME/sops/age/keys.txt`` (default ``~/.config``)."""
    given = os.environ.get("SOPS_AGE_KEY_FILE")
    if given:
        return Path(given)
    return config_home() / "sops" / "age" / "keys.txt"


def keygen(key_file: Path) -> str:
    """A new age key pair: the private key appended to ``key_file`` (created ``0600``, its folder ``0700``);
    returns the public key (``age1…``). Raises :class:`~kaddons.errors.UsageError` when the file cannot be
    written or is readable by others."""
    try:
        import pyrage  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError("making age keys needs pyrage: pip install 'kaddons[secrets]'") from None
    identity = pyrage.x25519.Identity.generate()
    public = str(identity.to_public())
    try:
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if key_file.exists() and key_file.stat().st_mode & 0o077:
            raise UsageError(f"{key_file} is readable by other users: chmod 600 {key_file}, then run keygen again")
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="ascii") as out:
            out.write(f"# public key: {public}\n{identity}\n")
    except OSError as err:
        raise UsageError(f"cannot write the key file {key_file} ({err.strerror or err}): give another with -o FILE"
                         ) from None
    return public


def parse_recipients(text: str, source: str) -> list[str]:
    """The age recipients of a ``.sops.yaml`` text (every creation rule's ``age``), in order, each once."""
    from kaddons.addons._yaml import parse_yaml

    data = parse_yaml(text, source, error=ClusterDocumentError)
    found: list[str] = []
    rules = data.get("creation_rules") if isinstance(data, dict) else None
    for rule in rules if isinstance(rules, list) else []:
        ages = rule.get("age") if isinstance(rule, dict) else None
        items = ages.split(",") if isinstance(ages, str) else ages if isinstance(ages, list) else []
        for item in items:
            value = str(item).strip()
            if value and value not in found:
                if not RECIPIENT.match(value):
                    raise ClusterDocumentError(source, f"{value!r} is not an age recipient (age1…)")
                found.append(value)
    return found


def read_recipients(root: Path) -> list[str]:
    """The age recipients of the repository at ``root`` (its ``.sops.yaml``), in order; none without the file."""
    path = root / SOPS_CONFIG
    if not path.is_file():
        return []
    return parse_recipients(path.read_text(encoding="utf-8"), str(path))


def sops_config_text(recipients: list[str]) -> str:
    """The ``.sops.yaml`` kaddons keeps: one creation rule for every YAML file, for ``recipients``."""
    from kaddons.gitops._yaml import dump_documents

    return _HEADER + dump_documents([{"creation_rules": [{"path_regex": r".*\.ya?ml$",
                                                           "age": ",".join(recipients)}]}])


def recipients_text(old: list[str], new: str) -> str:
    """The record of a rotation under way: the ``old`` recipients and the ``new`` one."""
    from kaddons.gitops._yaml import dump_documents

    return ("# A key rotation is under way (kaddons sops rotate): files open with the old and the new keys.\n"
            "# Finish it with kaddons sops rotate --confirm (drops the old) or --cancel (drops the new).\n"
            + dump_documents([{"old": old, "new": new}]))


def write_recipients(root: Path, recipients: list[str]) -> Path:
    """Write ``.sops.yaml`` at ``root`` (:func:`sops_config_text`), atomically. Returns its path."""
    path = root / SOPS_CONFIG
    temp = path.with_name(f"{SOPS_CONFIG}.kaddons-tmp")
    try:
        temp.write_text(sops_config_text(recipients), encoding="utf-8")
        os.replace(temp, path)
    except OSError as err:
        raise UsageError(f"cannot write {path} ({err.strerror or err}): run it in the GitOps repository, or give "
                         "--repo DIR") from None
    return path
