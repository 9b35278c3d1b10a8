"""Registry credentials: explicit ones, or those ``docker login`` left in the Docker ``config.json``.

Lookup for a registry ``HOST[:PORT]`` (docker/cli ``configfile`` semantics):

1. ``credHelpers[HOST]`` names a helper: run ``docker-credential-<name> get``.
2. ``auths[KEY]`` where KEY normalises to HOST (``HOST``, ``https://HOST``, ``http://HOST/v2/``...):
   ``auth`` (base64 ``user:password``), or ``username``/``password``, or ``identitytoken``.
3. ``credsStore`` names a default helper for every registry: run it.

An ``identitytoken`` (or a helper answering the user ``<token>``) is an OAuth2 refresh token. It
is kept as ``Credentials(username="<token>", password=<token>, identity_token=<token>)``: a Bearer
token server gets it through the OAuth2 ``refresh_token`` grant (a POST), a Basic-auth registry
gets ``<token>:<token>`` as docker sends it. Secrets never appear in ``repr`` or messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaddons.errors import AuthenticationError, UsageError

__all__ = ["IDENTITY_TOKEN_USER", "Credentials", "default_config_path", "load_credentials", "normalize_server",
           "read_config"]

#: The user name docker uses to say "the secret is an identity (refresh) token".
IDENTITY_TOKEN_USER = "<token>"
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_HELPER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    """A user name and a secret (password or token); ``identity_token`` for the OAuth2 refresh flow."""

    username: str
    password: str = field(repr=False)
    identity_token: str | None = field(default=None, repr=False)


def default_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json`` if ``DOCKER_CONFIG`` is set, else ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def normalize_server(key: str) -> str:
    """The ``HOST[:PORT]`` of an ``auths`` key: drops a scheme, a path (``/v2/``) and trailing slashes.

    Docker Hub's aliases (``index.docker.io``, ``registry-1.docker.io``) become ``docker.io``.
    """
    text = key.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].lower()
    return "docker.io" if text in _DOCKER_HUB_ALIASES else text


def read_config(path: Path, *, required: bool = False) -> dict[str, Any] | None:
    """The Docker config at ``path`` as a JSON object; ``None`` when it does not exist and not ``required``.

    Raises :class:`UsageError` naming the file when it is required and missing (a ``--registry-config``
    given on purpose), unreadable, not JSON, or not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise UsageError(f"registry config {path} does not exist: fix --registry-config (a Docker config.json) "
                             "or drop it") from None
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot read Docker config {path}: {reason}: fix its permissions or pass --username") \
            from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"Docker config {path} is not valid JSON (line {exc.lineno}): fix or remove it") from None
    if not isinstance(config, dict):
        raise UsageError(f"Docker config {path} is not a JSON object: fix or remove it")
    return config


def load_credentials(host: str, config_path: Path | None = None) -> Credentials | None:
    """The credentials the Docker config holds for ``host``, or ``None`` (anonymous).

    A missing default config file means anonymous; a missing ``config_path`` (given on purpose) is an
    error. Raises :class:`UsageError` for a config that is not
    JSON, and :class:`AuthenticationError` when a configured helper cannot be run or fails.
    """
    path = config_path or default_config_path()
    config = read_config(path, required=config_path is not None)
    if config is None:
        return None
    wanted = normalize_server(host)
    helpers = config.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for key, helper in helpers.items():
            if normalize_server(key) == wanted and isinstance(helper, str) and helper:
                return run_helper(helper, host, path)
    auths = config.get("auths") or {}
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if normalize_server(key) == wanted and isinstance(entry, dict):
                found = _from_auth_entry(entry, key, path)
                if found is not None:
                    return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return run_helper(store, host, path)
    return None


def _from_auth_entry(entry: dict[str, Any], key: str, path: Path) -> Credentials | None:
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials(IDENTITY_TOKEN_USER, token, identity_token=token)
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise UsageError(f"Docker config {path}: auths[{key!r}].auth is not base64 of user:password") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise UsageError(f"Docker config {path}: auths[{key!r}].auth is not base64 of user:password")
        return Credentials(user, password)
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and name and isinstance(secret, str):
        return Credentials(name, secret)
    return None


def run_helper(name: str, host: str, config_path: Path) -> Credentials | None:
    """Run ``docker-credential-<name> get`` with ``host`` on stdin (docker-credential-helpers protocol).

    The helper prints ``{"ServerURL": .., "Username": .., "Secret": ..}``. A non-zero exit (the
    helpers' "credentials not found") means anonymous: ``None``. A helper missing from ``PATH`` or
    printing something else raises :class:`AuthenticationError`.
    """
    exe_name = f"docker-credential-{name}"
    exe = shutil.which(exe_name)
    if exe is None:
        raise AuthenticationError(
            f"Docker config {config_path} names credential helper {exe_name} for {host}, which is not on PATH: "
            "install it, or pass --username/--password"
        )
    try:
        done = subprocess.run([exe, "get"], input=host.encode(), capture_output=True, timeout=_HELPER_TIMEOUT,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AuthenticationError(f"credential helper {exe_name} failed for {host}: {type(exc).__name__}") from None
    if done.returncode != 0:
        return None
    try:
        answer = json.loads(done.stdout)
        user, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise AuthenticationError(
            f"credential helper {exe_name} gave an answer for {host} that is not its JSON: check the helper"
        ) from None
    if not isinstance(user, str) or not isinstance(secret, str):
        raise AuthenticationError(f"credential helper {exe_name} gave non-string credentials for {host}")
    if user == IDENTITY_TOKEN_USER:
        return Credentials(user, secret, identity_token=secret)
    return Credentials(user, secret)
