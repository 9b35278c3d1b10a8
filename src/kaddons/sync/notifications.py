"""Registry push notifications: which addons a CNCF distribution event envelope says were pushed.

The registry's ``notifications`` endpoints receive ``POST`` requests whose body is an envelope
(``Content-Type: application/vnd.docker.distribution.events.v1+json``)::

    {"events": [{"action": "push", "target": {"mediaType": "...manifest...", "repository": "addons/metrics",
                 "digest": "sha256:...", "tag": "v1.0.0", ...}, ...}, ...]}

(distribution ``notifications/event.go``). Only tagged manifest pushes to ``<prefix>addons/<name>``
matter; blob pushes, pulls, deletes and other repositories are ignored. So is a manifest pushed by
digest (no ``tag``): clients such as ``kaddons push`` put the manifest by digest and then tag it, and
the first event arrives while the tag does not resolve yet; the tag's own event follows. An untagged
manifest cannot change what a tag policy selects.
"""

from __future__ import annotations

import json
from typing import Any

from kaddons.addons.names import is_valid_name
from kaddons.errors import ContentError
from kaddons.oci.mediatypes import ALL_MANIFEST_TYPES

__all__ = ["EVENTS_MEDIA_TYPE", "MAX_ENVELOPE_BYTES", "pushed_addons"]

EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
MAX_ENVELOPE_BYTES = 1 << 20
"""Envelopes larger than this (1 MiB) are refused; the registry sends a few KiB per batch."""


def _pushed(event: Any, namespace: str) -> str | None:
    if not isinstance(event, dict) or event.get("action") != "push":
        return None
    target = event.get("target")
    if not isinstance(target, dict) or target.get("mediaType") not in ALL_MANIFEST_TYPES:
        return None
    if not isinstance(target.get("tag"), str) or not target["tag"]:
        return None  # pushed by digest: the tag's own event follows
    repository = target.get("repository")
    if not isinstance(repository, str) or not repository.startswith(namespace):
        return None
    name = repository[len(namespace):]
    return name if is_valid_name(name) else None


def pushed_addons(body: bytes, *, prefix: str = "") -> list[str]:
    """The export names of the addons whose tagged manifests ``body`` (an event envelope) reports pushed.

    ``prefix`` is the repository prefix of the registry setting (``""`` or ``"team/"``): repositories
    ``<prefix>addons/<name>``. Names are de-duplicated in first-seen order; names that break the addon
    name rule are ignored. Raises :class:`ContentError` when ``body`` is not a JSON envelope.
    """
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContentError(f"notification body is not JSON: {exc}") from None
    events = envelope.get("events") if isinstance(envelope, dict) else None
    if not isinstance(events, list):
        raise ContentError("notification body has no 'events' list: not a registry event envelope")
    names: list[str] = []
    for event in events:
        name = _pushed(event, f"{prefix}addons/")
        if name is not None and name not in names:
            names.append(name)
    return names
