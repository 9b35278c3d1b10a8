"""Where per-user files live, by the XDG base directory rules: ``$XDG_CONFIG_HOME`` (default ``~/.config``)
and ``$XDG_CACHE_HOME`` (default ``~/.cache``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_home", "config_home"]


def config_home() -> Path:
    """``$XDG_CONFIG_HOME``, else ``~/.config``."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def cache_home() -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
