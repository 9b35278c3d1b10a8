"""The engines and flavors of the addon-sync resources (no dependencies: export imports it too)."""

from __future__ import annotations

import enum

from kaddons.errors import UsageError

__all__ = ["Engine", "Flavor", "parse_engine", "parse_flavor"]


class Engine(enum.StrEnum):
    """The GitOps engine a tree is rendered for: FluxCD (per-addon Jobs, §5.2) or Argo CD (a poller, §5.4)."""

    fluxcd = "fluxcd"
    argocd = "argocd"


class Flavor(enum.StrEnum):
    """``kaddons``: Linux pods running ``kaddons sync``; ``k2s``: K2s's Windows HostProcess pods (§5)."""

    kaddons = "kaddons"
    k2s = "k2s"


def _choice(kind: type[enum.StrEnum], value: str | enum.StrEnum, flag: str) -> enum.StrEnum:
    try:
        return kind(value)
    except ValueError:
        names = " or ".join(f"{flag} {member.value}" for member in kind)
        raise UsageError(f"unknown {flag.removeprefix('--').replace('-', ' ')} {str(value)!r}: use {names}") from None


def parse_engine(value: str | Engine) -> Engine:
    """``fluxcd``/``argocd`` as :class:`Engine`; anything else raises :class:`UsageError`."""
    return _choice(Engine, value, "--engine")  # type: ignore[return-value]


def parse_flavor(value: str | Flavor, flag: str = "--flavor") -> Flavor:
    """``kaddons``/``k2s`` as :class:`Flavor`; anything else raises :class:`UsageError` naming ``flag``."""
    return _choice(Flavor, value, flag)  # type: ignore[return-value]
