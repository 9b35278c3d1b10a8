"""Bearer tokens for ``kaddons serve`` (issue 15): a tokens file holding only their SHA-256 hashes and a role each.

The file (default ``$XDG_CONFIG_HOME/kaddons/tokens.json``, mode 0600) is JSON::

    {"tokens": [{"id": "3f9a1c2e", "role": "read", "sha256": "<hex>", "created": "2026-12-03T10:00:00Z"}]}

A token is ``kd_`` and 43 URL-safe characters (256 random bits); it is shown once, when created, and never
stored or logged. Checking one hashes it and compares with every stored hash in constant time
(:func:`hmac.compare_digest`), so neither a match nor its position shows in the time taken. Roles: ``read``
(every GET) and ``write`` (also the operations that change the repository or the cluster).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kaddons._paths import config_home
from kaddons.errors import UsageError

__all__ = ["ROLES", "TokenStore", "create_token", "default_tokens_file"]

ROLES = ("read", "write")


def default_tokens_file() -> Path:
    """``$XDG_CONFIG_HOME/kaddons/tokens.json``."""
    return config_home() / "kaddons" / "tokens.json"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _read(path: Path) -> list[dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise UsageError(f"tokens file {path}: cannot read it ({err}): fix it or create tokens with "
                         "kaddons serve token create") from None
    entries = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and e.get("role") in ROLES and isinstance(e.get("sha256"), str) for e in entries):
        raise UsageError(f"tokens file {path}: expected {{\"tokens\": [{{\"role\": \"read|write\", \"sha256\": "
                         "...}]}: fix it or create tokens with kaddons serve token create")
    return entries


def create_token(path: Path, role: str) -> str:
    """A new token with ``role``, its hash added to the tokens file at ``path`` (created 0600, replaced
    atomically). Returns the token: the only time it exists outside the caller's memory. Raises UsageError."""
    if role not in ROLES:
        raise UsageError(f"role {role!r}: use read or write")
    entries = _read(path)
    token = "kd_" + secrets.token_urlsafe(32)
    digest = _hash(token)
    entries.append({"id": digest[:8], "role": role, "sha256": digest,
                    "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".tokens-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"tokens": entries}, handle, indent=2)
            handle.write("\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return token


@dataclass(frozen=True)
class TokenStore:
    """The hashed tokens of a tokens file: :meth:`role_of` a presented token."""

    entries: tuple[tuple[str, str], ...]  # (sha256 hex, role)

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        """The tokens of ``path``; raises UsageError when it holds none (the server would refuse everyone)."""
        entries = _read(path)
        if not entries:
            raise UsageError(f"no tokens in {path}: create one with kaddons serve token create --role read|write "
                             f"--tokens {path}")
        return cls(tuple((str(e["sha256"]), str(e["role"])) for e in entries))

    def role_of(self, token: str) -> str | None:
        """The role of ``token``, or ``None``; every stored hash is compared, in constant time each."""
        presented = _hash(token)
        found: str | None = None
        for digest, role in self.entries:
            if hmac.compare_digest(presented, digest):
                found = role
        return found
