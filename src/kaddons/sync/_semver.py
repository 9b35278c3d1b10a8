"""Semantic versions and Masterminds/semver v3.5 constraints, as Flux's ``OCIRepository`` uses them.

Flux source-controller (``getTagBySemver``) parses each tag with ``fluxcd/pkg/version.ParseVersion``
(``StrictNewVersion`` after removing one leading lowercase ``v``) and checks it against a
``github.com/Masterminds/semver/v3`` (v3.5.0) constraint. No Python package has those semantics
(``packaging`` is PEP 440, ``node-semver`` applies npm's same-tuple rule), so this module is a
faithful port of the parts Flux uses; reference: ``/work/shared/reference/flux-argo-oci-sops.md``
§1.3 and Masterminds ``constraints.go``/``version.go``.

Constraint grammar (Masterminds)::

    constraints := group ("||" group)*                      OR; at most 32 groups, 512 characters
    group       := atom ((WS+ | WS* "," WS*) atom)*          AND, by spaces or commas
    atom        := WS* op WS* version                        op: "" = != > < >= => <= =< ~ ~> ^
    version     := ["v"] seg ["." seg ["." seg]] ["-" pre] ["+" build]
    seg         := digits | "x" | "X" | "*"                  missing/wildcard segments make it "dirty"
    range       := version WS+ "-" WS+ version                rewritten to ">= A, <= B" first

Pre-releases (since v3.4.0): a version with a pre-release satisfies an AND group only if some
atom of *that group* names a pre-release; the comparison itself is then plain semver ordering
(no npm "same major.minor.patch" rule), so ``>=0.0.0-0`` admits every release and pre-release.
Build metadata never takes part in ordering.

Deliberate differences from Go: none in results. Limits are Masterminds' own (512 characters,
32 ``||`` groups, numbers up to 2**64-1); pre-release identifiers that are numbers above 2**64-1
compare as alphanumeric, as Go's ``ParseUint`` fallback does.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from kaddons.errors import UsageError

__all__ = [
    "MAX_CONSTRAINT_GROUPS",
    "MAX_CONSTRAINT_LENGTH",
    "ConstraintError",
    "Constraints",
    "Version",
    "compare_prerelease",
    "parse_constraints",
    "parse_tag_version",
]

MAX_CONSTRAINT_LENGTH = 512
MAX_CONSTRAINT_GROUPS = 32
_MAX_VERSION_LENGTH = 256
_MAX_UINT64 = 2**64 - 1

# Go's \s in these (ASCII) patterns is exactly [\t\n\f\r ].
_WS = " \t\n\f\r"
_WS_CLASS = "[ \\t\\n\\f\\r]"

_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
# semver 2.0.0 BNF == Masterminds StrictNewVersion (numbers additionally limited to uint64).
_STRICT = re.compile(
    rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?"
)
# Masterminds NewVersion (CoerceNewVersion): "v" allowed, minor/patch optional, leading zeros allowed.
_LOOSE = re.compile(
    r"v?(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
# cvRegex of constraints.go; its segment class [0-9|x|X|\*] includes "|" (a Go quirk kept on purpose).
_SEG = r"[0-9|xX*]+"
_IDENTS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_CV = rf"v?({_SEG})(\.{_SEG})?(\.{_SEG})?(-({_IDENTS}))?(\+({_IDENTS}))?"
_CV_RE = re.compile(_CV)
# Range "A - B": the two versions are the groups v[1] and v[11] of Go (here _RANGE_B: cv groups differ).
_RANGE_RE = re.compile(rf"{_WS_CLASS}*({_CV}){_WS_CLASS}+-{_WS_CLASS}+({_CV}){_WS_CLASS}*")
_RANGE_B = 2 + _CV_RE.groups
# Operator alternatives in the order of Go's regex alternation ``=||!=|>|<|>=|=>|<=|=<|~|~>|\^``:
# the first one after which a version parses wins.
_OPS = ("=", "", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^")


class ConstraintError(UsageError):
    """A semver constraint expression that Masterminds/semver would refuse to parse."""


@dataclass(frozen=True)
class Version:
    """A parsed semantic version; ``original`` is the text it came from (``v`` prefix included).

    Numbers are non-negative ints up to 2**64-1; ``prerelease``/``build`` exclude the ``-``/``+``.
    """

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    build: str = ""
    original: str = ""

    def compare(self, other: Version) -> int:
        """-1, 0 or 1 by semver 2.0.0 precedence (build metadata ignored), as Masterminds ``Compare``."""
        for mine, theirs in ((self.major, other.major), (self.minor, other.minor), (self.patch, other.patch)):
            if mine != theirs:
                return -1 if mine < theirs else 1
        if self.prerelease == other.prerelease:
            return 0
        if not self.prerelease:
            return 1
        if not other.prerelease:
            return -1
        return compare_prerelease(self.prerelease, other.prerelease)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += f"-{self.prerelease}"
        if self.build:
            text += f"+{self.build}"
        return text


def _uint(text: str) -> int | None:
    """Go ``strconv.ParseUint(text, 10, 64)``: ASCII digits only, at most 2**64-1, else None."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= _MAX_UINT64 else None


def _compare_identifier(mine: str, theirs: str) -> int:
    """Masterminds ``comparePrePart``: numbers by value and below names; names by ASCII; missing lowest."""
    if mine == theirs:
        return 0
    if not mine:
        return -1
    if not theirs:
        return 1
    mine_n, theirs_n = _uint(mine), _uint(theirs)
    if mine_n is None and theirs_n is None:
        return 1 if mine > theirs else -1
    if theirs_n is None:
        return -1  # a number sorts below a name
    if mine_n is None:
        return 1
    return 1 if mine_n > theirs_n else -1


def compare_prerelease(mine: str, theirs: str) -> int:
    """Compare two pre-release strings (without ``-``) field by field, semver 2.0.0 §11."""
    mine_parts, theirs_parts = mine.split("."), theirs.split(".")
    for index in range(max(len(mine_parts), len(theirs_parts))):
        result = _compare_identifier(
            mine_parts[index] if index < len(mine_parts) else "",
            theirs_parts[index] if index < len(theirs_parts) else "",
        )
        if result:
            return result
    return 0


def parse_tag_version(tag: str) -> Version | None:
    """Flux ``version.ParseVersion``: strict semver 2.0.0 after removing ONE leading lowercase ``v``.

    Returns None for anything else (``latest``, ``1.2``, ``01.2.3``, ``1.2.3.4``, ``V1.2.3``,
    ``vv1.2.3``, numbers above 2**64-1). ``Version.original`` is ``tag`` unchanged.
    """
    body = tag.removeprefix("v")
    match = _STRICT.fullmatch(body)
    if match is None:
        return None
    numbers = [_uint(match[name]) for name in ("major", "minor", "patch")]
    if None in numbers:
        return None
    major, minor, patch = numbers
    return Version(major, minor, patch, match["pre"] or "", match["build"] or "", tag)  # type: ignore[arg-type]


def _loose_version(text: str) -> Version | None:
    """Masterminds ``NewVersion`` (used for constraint operands), or None where Go returns an error."""
    if len(text) > _MAX_VERSION_LENGTH:
        return None
    match = _LOOSE.fullmatch(text)
    if match is None:
        return None
    numbers = [_uint(match[name]) if match[name] is not None else 0 for name in ("major", "minor", "patch")]
    if None in numbers:
        return None
    pre = match["pre"] or ""
    for identifier in pre.split(".") if pre else ():
        if identifier.isdigit() and len(identifier) > 1 and identifier[0] == "0":
            return None  # validatePrerelease: "version segment starts with 0"
    major, minor, patch = numbers
    return Version(major, minor, patch, pre, match["build"] or "", text)  # type: ignore[arg-type]


def _is_x(segment: str) -> bool:
    return segment in ("x", "X", "*")


@dataclass(frozen=True)
class _Atom:
    """One comparator: ``op`` applied to ``con``; ``orig`` is the version text as written."""

    op: str
    orig: str
    con: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    def check(self, v: Version, include_pre: bool) -> bool:
        """Masterminds' constraint functions (v3.4+ signature with the group's ``includePre``)."""
        if v.prerelease and not include_pre:
            return False
        op = self.op
        if op in ("", "="):
            return self._tilde(v) if self.dirty else v.compare(self.con) == 0
        if op == "!=":
            return self._not_equal(v)
        if op == ">":
            return self._greater(v)
        if op == "<":
            return v.compare(self.con) < 0
        if op in (">=", "=>"):
            return v.compare(self.con) >= 0
        if op in ("<=", "=<"):
            return self._less_equal(v)
        if op in ("~", "~>"):
            return self._tilde(v)
        return self._caret(v)  # "^"

    def _not_equal(self, v: Version) -> bool:
        con = self.con
        if self.dirty:
            if con.major != v.major:
                return True
            if con.minor != v.minor and not self.minor_dirty:
                return True
            if self.minor_dirty:
                return False
            if con.patch != v.patch and not self.patch_dirty:
                return True
            if self.patch_dirty:
                if v.prerelease or con.prerelease:
                    return compare_prerelease(v.prerelease, con.prerelease) != 0
                return False
        return v.compare(con) != 0

    def _greater(self, v: Version) -> bool:
        con = self.con
        if not self.dirty:
            return v.compare(con) == 1
        if v.major != con.major:
            return v.major > con.major
        if self.minor_dirty:  # >11 needs 12 or higher
            return False
        if self.patch_dirty:  # >11.1 needs 11.2 or higher
            return v.minor > con.minor
        return v.compare(con) == 1

    def _less_equal(self, v: Version) -> bool:
        con = self.con
        if not self.dirty:
            return v.compare(con) <= 0
        if v.major > con.major:
            return False
        return not (v.major == con.major and v.minor > con.minor and not self.minor_dirty)

    def _tilde(self, v: Version) -> bool:
        con = self.con
        if v.compare(con) < 0:
            return False
        if (con.major, con.minor, con.patch) == (0, 0, 0) and not self.minor_dirty and not self.patch_dirty:
            return True  # ~0.0.0 and ~* accept everything
        if v.major != con.major:
            return False
        return v.minor == con.minor or self.minor_dirty

    def _caret(self, v: Version) -> bool:
        con = self.con
        if v.compare(con) < 0:
            return False
        if con.major > 0 or self.minor_dirty:
            return v.major == con.major
        if v.major > 0:
            return False
        if con.minor > 0 or self.patch_dirty:
            return v.minor == con.minor
        if v.minor > 0:
            return False
        return con.patch == v.patch


def _skip_ws(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WS:
        index += 1
    return index


def _scan_atom(group: str, start: int) -> tuple[int, str, re.Match[str]] | None:
    """The atom at ``group[start:]`` (leading whitespace allowed): (end, op, version match) or None."""
    index = _skip_ws(group, start)
    for op in _OPS:
        if not group.startswith(op, index):
            continue
        match = _CV_RE.match(group, _skip_ws(group, index + len(op)))
        if match is not None:
            return match.end(), op, match
    return None


def _split_group(group: str) -> list[tuple[str, re.Match[str]]] | None:
    """Validate one ``||`` group and split it into atoms (Masterminds validConstraintRegex + find)."""
    first = _scan_atom(group, 0)
    if first is None:
        return None
    end, op, match = first
    atoms = [(op, match)]
    while end < len(group):
        after = _skip_ws(group, end)
        if after == len(group):
            break  # trailing whitespace
        if group[after] == ",":
            found = _scan_atom(group, after + 1)
        elif after == end:
            return None  # two atoms with nothing between them
        else:
            found = _scan_atom(group, after)
        if found is None:
            return None
        end, op, match = found
        atoms.append((op, match))
    return atoms


def _make_atom(op: str, match: re.Match[str]) -> _Atom | None:
    """Masterminds ``parseConstraint``: wildcards/missing segments become a dirty 0-filled version."""
    orig = match[0]
    major, minor, patch, pre = match[1], match[2] or "", match[3] or "", match[4] or ""
    minor_dirty = patch_dirty = dirty = False
    text = orig
    if _is_x(major):
        text, dirty = f"0.0.0{pre}", True
    elif not minor or _is_x(minor[1:]):
        text, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif not patch or _is_x(patch[1:]):
        text, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
    con = _loose_version(text)
    if con is None:
        return None
    return _Atom(op, orig, con, dirty, minor_dirty, patch_dirty)


def _rewrite_ranges(text: str) -> str:
    """``A - B`` -> ``>= A, <= B `` for every range, exactly as Masterminds ``rewriteRange``."""
    out = text
    for match in _RANGE_RE.finditer(text):
        out = out.replace(match[0], f">= {match[1]}, <= {match[_RANGE_B]} ", 1)
    return out


@dataclass(frozen=True)
class Constraints:
    """A parsed constraint expression: OR of AND groups of comparators. Build with :func:`parse_constraints`."""

    text: str
    groups: tuple[tuple[_Atom, ...], ...]

    def _group_admits_pre(self, group: tuple[_Atom, ...]) -> bool:
        return any(atom.con.prerelease for atom in group)

    @property
    def admits_prereleases(self) -> bool:
        """True if some AND group names a pre-release, i.e. a pre-release version can match at all."""
        return any(self._group_admits_pre(group) for group in self.groups)

    def check(self, version: Version) -> bool:
        """Masterminds ``Constraints.Check`` (``IncludePrerelease`` false, as Flux leaves it)."""
        return any(
            all(atom.check(version, self._group_admits_pre(group)) for atom in group) for group in self.groups
        )


def _clip(text: str, limit: int = 60) -> str:
    """``text`` shortened to ``limit`` characters for an error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.lru_cache(maxsize=64)
def parse_constraints(text: str) -> Constraints:
    """Masterminds ``NewConstraint``; raises :class:`ConstraintError` (one line) where Go returns an error."""
    if len(text) > MAX_CONSTRAINT_LENGTH:
        raise ConstraintError(f"constraint is too long ({len(text)} characters, at most {MAX_CONSTRAINT_LENGTH})")
    ors = _rewrite_ranges(text).split("||")
    if len(ors) > MAX_CONSTRAINT_GROUPS:
        raise ConstraintError(f"too many '||' groups in constraint ({len(ors)}, at most {MAX_CONSTRAINT_GROUPS})")
    groups = []
    for group in ors:
        atoms = _split_group(group)
        if atoms is None:
            raise ConstraintError(f"improper constraint {_clip(group.strip())!r}")
        parsed = []
        for op, match in atoms:
            atom = _make_atom(op, match)
            if atom is None:
                raise ConstraintError(f"improper version {_clip(match[0])!r} in constraint")
            parsed.append(atom)
        groups.append(tuple(parsed))
    return Constraints(text, tuple(groups))
