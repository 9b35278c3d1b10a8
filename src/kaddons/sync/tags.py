"""Tag selection policies for addon sync: which tag of ``addons/<name>`` to pull (``--tag-policy``).

Three policies, parsed once from the flag/env text by :func:`parse_tag_policy`:

``k2s``
    K2s ``Sync-Addons.ps1`` ``Select-AddonTag`` (spec ``k2s-addon-delivery.md`` §4.3, §7.6):
    trim tags and drop empty ones; a tag equal to ``latest`` ignoring case wins (the first one, as
    written); else the highest *K2s-strict* semver ``[vV]MAJOR.MINOR.PATCH`` (no pre-release, no
    build, no leading zeros, no partial versions), ties broken by the tag text descending; else
    the lexically greatest tag (PowerShell ``Sort-Object -Descending``: culture-aware,
    case-insensitive). Deliberate differences from the script, none of which changes a choice
    K2s makes without failing: numbers above 2**31-1 are compared instead of aborting the whole
    run (``[int]`` overflow), ``\\d`` means ASCII digits only, and the .NET culture comparison is
    approximated by :func:`_culture_key` (case-insensitive; ``-``/``'`` ignored first;
    punctuation < digits < letters) with the ordinal text as final tie-break, so equal-looking
    tags (``V1.2.3``/``v1.2.3``, which K2s orders arbitrarily) resolve deterministically to the
    greater ordinal (``v1.2.3``).
``semver:EXPR``
    Flux ``OCIRepository`` ``ref.semver`` (``getTagBySemver``; reference §1.3): every tag is parsed
    as strict semver after removing one leading lowercase ``v`` (``latest``, ``1.2``, ``01.2.3``,
    ``1.2.3.4``, ``V1.2.3`` are skipped), checked against a Masterminds/semver v3.5 constraint
    (:mod:`kaddons.sync._semver`; ``>=0.0.0-0`` admits every release and pre-release), and the
    highest precedence wins; the ORIGINAL tag (with its ``v``) is returned. Flux leaves the order
    of equal versions (``v1.2.3`` vs ``1.2.3``, or differing only in build metadata) unspecified;
    here the greater tag text wins, so ``v1.2.3`` beats ``1.2.3`` as in the ``k2s`` policy.
``tag:T``
    Exactly the tag ``T`` (validated as an OCI tag); no ``tags/list`` request is needed, the
    caller resolves it with one HEAD.

:func:`select_tag` returns a :class:`TagChoice` with the tags it rejected and why, or raises
:class:`~kaddons.errors.NotFoundError` naming every tag seen and why it was skipped.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from kaddons.errors import InvalidReferenceError, NotFoundError, UsageError
from kaddons.oci.reference import validate_tag
from kaddons.sync._semver import ConstraintError, Version, parse_constraints, parse_tag_version

__all__ = [
    "REASON_EMPTY",
    "REASON_K2S_NOT_SEMVER",
    "REASON_NOT_SEMVER",
    "TagChoice",
    "TagPolicy",
    "parse_tag_policy",
    "select_tag",
]

PolicyKind = Literal["k2s", "semver", "tag"]
_KINDS = ("k2s", "semver", "tag")
_POLICY_FORMS = "expected k2s, semver:EXPR (e.g. semver:>=0.0.0-0) or tag:TAG"

REASON_EMPTY = "empty tag"
REASON_NOT_SEMVER = "not semver"
REASON_K2S_NOT_SEMVER = "not semver for k2s ([v]MAJOR.MINOR.PATCH only)"
_MAX_LISTED = 20

# Select-AddonTag / Get-SemVerTag: ^[vV]?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$ (ASCII digits here).
_K2S_SEMVER = re.compile(r"[vV]?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


@dataclass(frozen=True)
class TagPolicy:
    """How to choose the tag of an addon repository; build it with :func:`parse_tag_policy`.

    ``kind`` is ``k2s``, ``semver`` or ``tag``; ``value`` is None for ``k2s``, the constraint
    expression for ``semver``, the fixed tag for ``tag``. Construction validates both and raises
    :class:`~kaddons.errors.UsageError` (one line) on bad input.
    """

    kind: PolicyKind
    value: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise UsageError(f"invalid tag policy kind {self.kind!r}: {_POLICY_FORMS}")
        if self.kind == "k2s":
            if self.value is not None:
                raise UsageError(f"tag policy k2s takes no value (got {self.value!r}): {_POLICY_FORMS}")
            return
        if not isinstance(self.value, str):
            raise UsageError(f"tag policy {self.kind} needs a value: {_POLICY_FORMS}")
        if self.kind == "semver":
            try:
                parse_constraints(self.value)
            except ConstraintError as exc:
                raise UsageError(
                    f"invalid tag policy {str(self)!r}: {exc}; use Masterminds/semver syntax as Flux does, "
                    "e.g. semver:>=1.0.0 <2.0.0, semver:~1.2, semver:1.x || 2.x, semver:>=0.0.0-0"
                ) from None
        else:
            try:
                validate_tag(self.value)
            except InvalidReferenceError as exc:
                raise UsageError(f"invalid tag policy {str(self)!r}: {exc}") from None

    def __str__(self) -> str:
        """The policy as written on the command line: ``k2s``, ``semver:>=0.0.0-0``, ``tag:v1.0.0``."""
        return self.kind if self.value is None else f"{self.kind}:{self.value}"

    @property
    def needs_tag_list(self) -> bool:
        """False for ``tag:T``: no ``tags/list`` request at all; True for ``k2s`` and ``semver``."""
        return self.kind != "tag"


def parse_tag_policy(text: str) -> TagPolicy:
    """Parse ``k2s`` | ``semver:EXPR`` | ``tag:T`` (surrounding whitespace ignored).

    Raises :class:`~kaddons.errors.UsageError` with a one-line message for an unknown form, an
    empty value, a constraint Masterminds/semver would not parse, or an invalid OCI tag.
    """
    raw = text.strip()
    if raw == "k2s":
        return TagPolicy("k2s")
    kind, colon, value = raw.partition(":")
    if colon and kind in ("semver", "tag"):
        if not value:
            raise UsageError(f"invalid tag policy {text!r}: {kind}: needs a value; {_POLICY_FORMS}")
        return TagPolicy(kind, value)  # type: ignore[arg-type]
    raise UsageError(f"invalid tag policy {text!r}: {_POLICY_FORMS}")


@dataclass(frozen=True)
class TagChoice:
    """The chosen tag and the tags that were rejected on the way.

    ``skipped`` lists ``(tag, reason)`` in input order for every tag the policy REJECTED (empty,
    not semver, pre-release excluded, constraint not satisfied); tags that were acceptable but
    merely lower are not listed. ``rule`` says how the tag was chosen, for logs: ``latest``,
    ``semver-desc`` or ``lexical-desc`` (the three K2s ``[TagSelect]`` variants), ``semver`` or ``tag``.
    """

    tag: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    rule: str = ""


def select_tag(policy: TagPolicy, tags: Sequence[str], *, repository: str) -> TagChoice:
    """Choose the tag of ``repository`` (used in messages only) from its listed ``tags``.

    ``tags`` is ignored for ``tag:T``. Raises :class:`~kaddons.errors.NotFoundError` (one line)
    when no tag qualifies; the message names the repository, the policy and each tag seen with
    why it was skipped (at most 20, then ``… N more``).
    """
    if policy.kind == "tag":
        return TagChoice(policy.value or "", [], "tag")
    if policy.kind == "k2s":
        choice, skipped = _select_k2s(tags)
    else:
        choice, skipped = _select_semver(policy.value or "", tags)
    if choice is None:
        raise NotFoundError(_no_match_message(repository, policy, tags, skipped))
    return choice


def _select_k2s(tags: Sequence[str]) -> tuple[TagChoice | None, list[tuple[str, str]]]:
    """``Select-AddonTag`` (§4.3): latest, else highest K2s-strict semver, else lexical-desc."""
    empty = [(tag, REASON_EMPTY) for tag in tags if not tag.strip()]
    normalized = [tag.strip() for tag in tags if tag.strip()]
    if not normalized:
        return None, empty
    for tag in normalized:
        if tag.isascii() and tag.lower() == "latest":
            return TagChoice(tag, empty, "latest"), empty
    candidates: list[tuple[int, int, int, tuple[tuple[int, ...], ...], int, str]] = []
    for tag in normalized:
        match = _K2S_SEMVER.fullmatch(tag)
        if match is not None:
            major, minor, patch = (int(part) for part in match.groups())
            candidates.append((major, minor, patch, *_culture_key(tag), tag))
    if candidates:
        skipped = [
            (tag, REASON_EMPTY if not tag.strip() else REASON_K2S_NOT_SEMVER)
            for tag in tags
            if not _K2S_SEMVER.fullmatch(tag.strip())
        ]
        return TagChoice(max(candidates)[-1], skipped, "semver-desc"), skipped
    lexical = max(normalized, key=lambda tag: (*_culture_key(tag), tag))
    return TagChoice(lexical, empty, "lexical-desc"), empty


def _culture_key(text: str) -> tuple[tuple[tuple[int, ...], ...], int]:
    """An approximation of .NET (NLS) culture-aware, case-insensitive string order.

    Primary: characters without ``-`` and ``'`` (word sort), each as (class, weight) with
    punctuation/symbols < digits < letters and letters case-folded. Secondary: the number of
    ignored characters (``coop`` before ``co-op``). Callers add the ordinal text as last key.
    """
    primary: list[tuple[int, ...]] = []
    ignored = 0
    for char in text:
        if char in "-'":
            ignored += 1
        elif char.isdigit():
            primary.append((1, unicodedata.digit(char, 0)))
        elif char.isalpha():
            primary.append((2, *(ord(c) for c in char.casefold())))
        else:
            primary.append((0, 0 if char == "_" else ord(char)))
    return tuple(primary), ignored


def _select_semver(expression: str, tags: Sequence[str]) -> tuple[TagChoice | None, list[tuple[str, str]]]:
    """Flux ``getTagBySemver`` with a Masterminds constraint; highest version, then greater tag text."""
    constraints = parse_constraints(expression)
    shown = expression.strip()
    skipped: list[tuple[str, str]] = []
    matching: list[Version] = []
    for tag in tags:
        version = parse_tag_version(tag)
        if version is None:
            skipped.append((tag, _not_semver_reason(tag)))
        elif constraints.check(version):
            matching.append(version)
        elif version.prerelease and not constraints.admits_prereleases:
            skipped.append((tag, f"pre-release excluded by {shown}"))
        else:
            skipped.append((tag, f"does not satisfy {shown}"))
    if not matching:
        return None, skipped
    best = max(matching, key=functools.cmp_to_key(_compare_for_choice))
    return TagChoice(best.original, skipped, "semver"), skipped


def _compare_for_choice(mine: Version, theirs: Version) -> int:
    """Semver precedence, then the tag text (ordinal) so equal versions resolve deterministically."""
    result = mine.compare(theirs)
    if result:
        return result
    return (mine.original > theirs.original) - (mine.original < theirs.original)


def _not_semver_reason(tag: str) -> str:
    """Why Flux's ParseVersion refuses ``tag``, with a hint for the common near misses."""
    if not tag.strip():
        return REASON_EMPTY
    if tag[:1] == "V" and parse_tag_version("v" + tag[1:]) is not None:
        return f"{REASON_NOT_SEMVER} (only a lowercase v prefix is allowed)"
    return REASON_NOT_SEMVER


def _show(tag: str) -> str:
    """A tag as it appears in a one-line message: quoted when empty or not plainly printable."""
    if tag and tag.isprintable() and not any(char.isspace() for char in tag):
        return tag
    return repr(tag)


def _no_match_message(
    repository: str, policy: TagPolicy, tags: Sequence[str], skipped: list[tuple[str, str]]
) -> str:
    """One line: repository, policy, each tag seen with its reason (capped), and the way out."""
    head = f"no tag of {repository} matches tag policy {str(policy)!r}"
    way_out = "push a matching tag or choose another --tag-policy"
    if not tags:
        return f"{head}: the repository has no tags; {way_out}"
    entries = [f"{_show(tag)}: {reason}" for tag, reason in skipped[:_MAX_LISTED]]
    if len(skipped) > _MAX_LISTED:
        entries.append(f"… {len(skipped) - _MAX_LISTED} more")
    count = f"{len(tags)} tag{'s' if len(tags) != 1 else ''} seen"
    return f"{head} ({count}: {'; '.join(entries)}); {way_out}"
