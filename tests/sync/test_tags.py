"""Tag selection policies: K2s ``Select-AddonTag``, Flux/Masterminds ``semver:EXPR`` and ``tag:T``."""

from __future__ import annotations

import functools
import random

import pytest

from kaddons.errors import NotFoundError, UsageError
from kaddons.sync._semver import parse_constraints, parse_tag_version
from kaddons.sync.tags import (
    REASON_EMPTY,
    REASON_K2S_NOT_SEMVER,
    REASON_NOT_SEMVER,
    TagChoice,
    TagPolicy,
    parse_tag_policy,
    select_tag,
)

REPO = "127.0.0.1:5000/addons/metrics"
K2S = parse_tag_policy("k2s")
ANY = parse_tag_policy("semver:>=0.0.0-0")


def pick(policy: TagPolicy | str, tags: list[str]) -> str:
    if isinstance(policy, str):
        policy = parse_tag_policy(policy)
    return select_tag(policy, tags, repository=REPO).tag


def not_found(policy: TagPolicy | str, tags: list[str]) -> str:
    if isinstance(policy, str):
        policy = parse_tag_policy(policy)
    with pytest.raises(NotFoundError) as info:
        select_tag(policy, tags, repository=REPO)
    message = str(info.value)
    assert "\n" not in message
    assert REPO in message
    assert str(policy) in message
    return message


# --- spec §7.6 "Tag selection table" ------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "k2s", "flux"),
    [
        (["latest", "v2.0.0"], "latest", "v2.0.0"),
        (["v1.10.0", "v1.9.9"], "v1.10.0", "v1.10.0"),
        (["1.2.3", "v1.2.3"], "v1.2.3", "v1.2.3"),
        (["v1.2.3", "1.2.3"], "v1.2.3", "v1.2.3"),
        (["v1.2.3-rc1", "v1.2.2"], "v1.2.2", "v1.2.3-rc1"),
    ],
)
def test_spec_tag_selection_table(tags: list[str], k2s: str, flux: str) -> None:
    assert pick(K2S, tags) == k2s
    assert pick(ANY, tags) == flux


def test_spec_table_lexical_fallback_and_empty() -> None:
    choice = select_tag(K2S, ["foo", "bar"], repository=REPO)
    assert choice == TagChoice("foo", [], "lexical-desc")
    message = not_found(K2S, [""])
    assert f"'': {REASON_EMPTY}" in message


# --- k2s policy ---------------------------------------------------------------------------------


def test_k2s_latest_wins_in_any_case_as_written_first_one() -> None:
    choice = select_tag(K2S, ["v9.0.0", "LATEST", "latest"], repository=REPO)
    assert choice.tag == "LATEST"
    assert choice.rule == "latest"
    assert choice.skipped == []


def test_k2s_trims_tags_and_reports_empty_ones() -> None:
    choice = select_tag(K2S, ["  ", " v1.0.0 ", "\tv0.9.0"], repository=REPO)
    assert choice.tag == "v1.0.0"
    assert choice.skipped == [("  ", REASON_EMPTY)]
    not_found(K2S, ["", " ", "\t"])
    assert "has no tags" in not_found(K2S, [])


def test_k2s_strict_means_three_numbers_only() -> None:
    tags = ["v1.2", "01.2.3", "v1.2.3-rc1", "1.2.3+build", "1.2.3.4", "v0.1.0", "V0.0.9"]
    choice = select_tag(K2S, tags, repository=REPO)
    assert choice.tag == "v0.1.0"
    assert choice.rule == "semver-desc"
    assert choice.skipped == [(tag, REASON_K2S_NOT_SEMVER) for tag in tags[:5]]


def test_k2s_numbers_compare_as_numbers_and_do_not_overflow() -> None:
    assert pick(K2S, ["v1.2.10", "v1.2.9", "v1.10.0", "v1.9.0"]) == "v1.10.0"
    # K2s aborts with an [int] overflow here; kaddons compares (documented difference).
    assert pick(K2S, ["v1.0.0", "v2147483648.0.0"]) == "v2147483648.0.0"


def test_k2s_equal_versions_prefer_the_prefixed_lowercase_tag() -> None:
    for tags in (["1.2.3", "V1.2.3", "v1.2.3"], ["v1.2.3", "V1.2.3", "1.2.3"]):
        assert pick(K2S, tags) == "v1.2.3"
    assert pick(K2S, ["V1.2.3", "1.2.3"]) == "V1.2.3"


def test_k2s_lexical_fallback_is_case_insensitive_and_not_numeric() -> None:
    # Ordinal order would pick "alpha" (lowercase sorts after uppercase); K2s compares ignoring case.
    assert pick(K2S, ["alpha", "Zeta"]) == "Zeta"
    # Character by character, not by number: "1.9" > "1.10" as text.
    assert pick(K2S, ["1.10", "1.9"]) == "1.9"
    # Letters sort after digits.
    assert pick(K2S, ["2024.01", "main"]) == "main"
    assert select_tag(K2S, ["main", "v1.2"], repository=REPO).rule == "lexical-desc"


# --- semver policy: tags and ordering -----------------------------------------------------------


def test_semver_keeps_the_v_and_returns_the_original_tag() -> None:
    assert pick("semver:>=1.0.0", ["1.0.0", "v1.1.0", "1.0.5"]) == "v1.1.0"
    assert pick("semver:~1.0", ["v1.0.0+build.7", "v0.9.0"]) == "v1.0.0+build.7"


@pytest.mark.parametrize("tag", ["latest", "1.2", "v1.2", "01.2.3", "1.02.3", "1.2.3.4", "vv1.2.3", "v", "1.2.3-01",
                                 "1.2.3-", "1.2.3+", "1.2.3-rc..1", " 1.2.3", "18446744073709551616.0.0", "x.y.z"])
def test_non_semver_tags_are_skipped_with_a_reason(tag: str) -> None:
    assert parse_tag_version(tag) is None
    choice = select_tag(ANY, [tag, "v0.0.1"], repository=REPO)
    assert choice.tag == "v0.0.1"
    assert choice.skipped == [(tag, REASON_NOT_SEMVER)]


def test_uppercase_v_is_not_semver_for_flux_with_a_hint() -> None:
    message = not_found("semver:*", ["V1.2.3", "latest"])
    assert "V1.2.3: not semver (only a lowercase v prefix is allowed)" in message
    assert "latest: not semver" in message


def test_largest_uint64_numbers_still_parse() -> None:
    big = f"{2**64 - 1}.0.0"
    assert pick("semver:*", [big, "1.0.0"]) == big


def test_equal_versions_pick_deterministically() -> None:
    for tags in (["1.2.3", "v1.2.3"], ["v1.2.3", "1.2.3"]):
        assert pick(ANY, tags) == "v1.2.3"
    # Build metadata does not order versions; the greater tag text breaks the tie.
    assert pick(ANY, ["v1.0.0+b", "v1.0.0+a"]) == "v1.0.0+b"
    assert pick(ANY, ["v1.0.0+zzz", "v1.0.1"]) == "v1.0.1"


def test_prerelease_precedence_follows_semver_2() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1-0", "1.0.1-9", "1.0.1-10", "1.0.1-A", "1.0.1-a"]
    shuffled = ordered[:]
    random.Random(7).shuffle(shuffled)
    versions = [parse_tag_version(tag) for tag in shuffled]
    by_precedence = sorted(versions, key=functools.cmp_to_key(lambda a, b: a.compare(b)))  # type: ignore[union-attr]
    assert [v.original for v in by_precedence] == ordered  # type: ignore[union-attr]
    assert pick(ANY, shuffled) == "1.0.1-a"


def test_all_prereleases_admitted_by_zero_dash_zero() -> None:
    assert pick(ANY, ["v0.1.0-alpha", "v2.0.0-rc.1", "v1.9.9"]) == "v2.0.0-rc.1"
    assert pick("semver:>=1.0.0", ["v0.1.0-alpha", "v2.0.0-rc.1", "v1.9.9"]) == "v1.9.9"


# --- semver policy: Masterminds constraint semantics --------------------------------------------

CONSTRAINT_CASES = [
    # = and the bare operator (partials are tilde ranges)
    ("=2.0.0", "1.2.3", False), ("=2.0.0", "2.0.0", True), ("= 2.0", "2.0.1", True), ("2.0", "2.1.0", False),
    ("v1.2.3", "1.2.3", True), ("1.2.3+build", "1.2.3", True),
    # !=
    ("!=4.1.0", "4.1.0", False), ("!=4.1.0", "4.1.1", True), ("!=4.1", "4.1.1", False), ("!=4.1", "5.1.0", True),
    ("!=4.x", "4.1.0", False), ("!=4.x", "5.1.0", True), ("!=1.2.x", "1.3.0", True), ("!=1.2.x", "1.2.7", False),
    # > and partials (">1.1" means ">=1.2.0")
    (">1.1", "1.1.9", False), (">1.1", "1.2.0", True), (">11", "11.9.0", False), (">11", "12.0.0", True),
    (">0", "0.0.1", False), (">1.2.3", "1.2.4", True), (">1.2.3", "1.2.3", False),
    # <, <=, =<
    ("<1.1", "1.0.9", True), ("<1.1", "1.1.0", False), ("<1.x", "0.9.0", True), ("<1.x", "1.0.1", False),
    ("<=1.1", "1.1.9", True), ("<=1.1", "1.2.0", False), ("<=11", "11.9.9", True), ("<=11", "12.0.0", False),
    ("=<1.1.0", "1.1.0", True), ("=<1.1.0", "1.1.1", False),
    # >=, =>
    (">=1.1", "1.1.0", True), (">=1.1", "1.0.9", False), ("=> 1.2", "1.2.0", True), (">= 01.2.3", "1.2.3", True),
    # ~ and ~>
    ("~1.2.3", "1.2.9", True), ("~1.2.3", "1.3.0", False), ("~1.2.3", "1.2.2", False), ("~1", "1.9.0", True),
    ("~1", "2.0.0", False), ("~>1.2", "1.2.7", True), ("~>1.2", "1.3.0", False), ("~0.0.0", "5.0.0", True),
    ("~*", "2.1.1", True), ("~1.x", "1.3.5", True),
    # ^
    ("^1.2.3", "1.9.9", True), ("^1.2.3", "2.0.0", False), ("^1.2.3", "1.2.2", False), ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False), ("^0.0.3", "0.0.3", True), ("^0.0.3", "0.0.4", False), ("^0", "0.9.0", True),
    ("^0", "1.0.0", False), ("^0.0", "0.0.9", True), ("^0.0", "0.1.0", False), ("^1.x", "1.5.0", True),
    ("^1.x", "2.0.0", False), ("^0.0.0", "1.2.3", False),
    # wildcards and partial versions
    ("1.2.x", "1.2.9", True), ("1.2.x", "1.3.0", False), ("1.x", "1.9.0", True), ("1.X", "2.0.0", False),
    ("1.2.*", "1.2.0", True), ("*", "4.5.6", True), ("x", "0.0.1", True), ("1", "1.7.0", True), ("1", "2.0.0", False),
    # AND by spaces and commas, OR by ||
    (">=1.1, <2, !=1.2.3", "1.2.3", False), (">=1.1 <2 !=1.2.3", "1.2.4", True), (">1.1    <3", "4.3.2", False),
    ("> 1.1, <     2", "1.2.1", True), (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", True),
    (">=1.1, <2, !=1.2.3 || > 3", "3.0.0", False), (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", True),
    ("<1 || >=3 <4 || 5.x", "5.2.0", True), ("<1 || >=3 <4 || 5.x", "4.0.0", False),
    # hyphen ranges ("<= 2" covers 2.x, as in Masterminds)
    ("1.2 - 1.4.5", "1.2.0", True), ("1.2 - 1.4.5", "1.4.5", True), ("1.2 - 1.4.5", "1.4.6", False),
    ("1.2 - 1.4.5", "1.1.9", False), ("1.1 - 2", "2.9.9", True), ("1.1 - 2", "3.0.0", False),
    ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", True), ("2 - 3 || 5", "5.1.0", True), ("1.1-3", "4.3.2", False),
    # pre-releases: admitted per AND group when one comparator of that group names one
    ("*", "1.2.3-alpha.1", False), ("*-0", "1.2.3-alpha.1", True), (">=0.0.0", "0.0.1-alpha", False),
    (">=0.0.0-0", "0.0.0-alpha", True), (">=0.0.0-0", "3.4.5-beta.1", True), (">=0.0.0-0", "1.2.3", True),
    (">=1.0.0-0 <2.0.0", "1.5.0-rc.1", True), ("<2.0.0 >=1.0.0-0", "1.5.0-rc.1", True),
    ("<2.0.0, >=1.0.0-0", "2.0.0-rc.1", True), (">=1.0.0 <2.0.0", "1.5.0-rc.1", False),
    ("~1.0.0-0 || >=3.0.0", "3.1.0-rc.1", False), ("~1.0.0-0 || >=3.0.0-0", "3.1.0-rc.1", True),
    (">= 6.1.x-0", "6.1.0-rc.1", True), (">= 6.1.x-0", "7.0.0-rc.1", True), (">= 6.1.x-0", "6.0.9", False),
    ("1.0.x-0", "1.0.5-rc.1", True), ("1.0.x-0", "1.1.0-rc.1", False),
    ("^1.2.0", "1.2.1-alpha.1", False), ("^1.2.0-alpha.0", "1.2.1-alpha.1", True),
    ("^1.2.0-alpha.2", "1.2.0-alpha.1", False), ("~1.2.3-beta.2", "1.2.4-beta.2", True),
    ("~1.2.3-beta.2", "1.3.4-beta.2", False), (">1.2.3-alpha.1", "1.2.3-alpha.2", True),
    (">=1.2.3-BETA", "1.2.3-alpha", True), ("<0-z", "0.0.0-alpha", True),
    ("!=4.1-alpha", "4.1.0", True), ("!=4.1-alpha", "4.1.1-alpha", False), ("!=4.1-alpha", "4.1.0-alpha", False),
]


@pytest.mark.parametrize(("expression", "version", "expected"), CONSTRAINT_CASES)
def test_masterminds_constraint(expression: str, version: str, expected: bool) -> None:
    parsed = parse_tag_version(version)
    assert parsed is not None
    assert parse_constraints(expression).check(parsed) is expected
    if expected:
        assert pick(f"semver:{expression}", [version]) == version
    else:
        not_found(f"semver:{expression}", [version])


def test_highest_matching_tag_wins_and_rejections_are_listed() -> None:
    tags = ["v2.1.0", "v1.3.0", "latest", "v1.4.0-rc.1", "v1.2.9", "v0.9.0"]
    choice = select_tag(parse_tag_policy("semver:>=1.0.0 <2.0.0"), tags, repository=REPO)
    assert choice.tag == "v1.3.0"
    assert choice.rule == "semver"
    assert choice.skipped == [
        ("v2.1.0", "does not satisfy >=1.0.0 <2.0.0"),
        ("latest", REASON_NOT_SEMVER),
        ("v1.4.0-rc.1", "pre-release excluded by >=1.0.0 <2.0.0"),
        ("v0.9.0", "does not satisfy >=1.0.0 <2.0.0"),
    ]  # v1.2.9 matched but is lower: not rejected


def test_no_match_error_names_each_tag_and_why() -> None:
    message = not_found("semver:>=1.0.0", ["latest", "v1.2.3-rc1", "v0.9.0", ""])
    assert "4 tags seen" in message
    assert "latest: not semver" in message
    assert "v1.2.3-rc1: pre-release excluded by >=1.0.0" in message
    assert "v0.9.0: does not satisfy >=1.0.0" in message
    assert f"'': {REASON_EMPTY}" in message
    assert "--tag-policy" in message


def test_no_match_error_caps_the_list() -> None:
    tags = [f"build-{n:02d}" for n in range(25)]
    message = not_found("semver:>=1.0.0", tags)
    assert "build-19: not semver" in message
    assert "build-20" not in message
    assert "… 5 more" in message


# --- tag policy and parsing ---------------------------------------------------------------------


def test_fixed_tag_needs_no_list() -> None:
    policy = parse_tag_policy("tag:v1.0.0")
    assert not policy.needs_tag_list
    assert K2S.needs_tag_list and ANY.needs_tag_list
    assert select_tag(policy, [], repository=REPO) == TagChoice("v1.0.0", [], "tag")
    assert pick(policy, ["v2.0.0", "latest"]) == "v1.0.0"


@pytest.mark.parametrize(
    ("text", "kind", "value", "shown"),
    [
        ("k2s", "k2s", None, "k2s"),
        ("  k2s\n", "k2s", None, "k2s"),
        ("semver:>=0.0.0-0", "semver", ">=0.0.0-0", "semver:>=0.0.0-0"),
        ("semver:>= 1.2, < 2 || ^3", "semver", ">= 1.2, < 2 || ^3", "semver:>= 1.2, < 2 || ^3"),
        ("tag:v1.0.0", "tag", "v1.0.0", "tag:v1.0.0"),
        ("tag:latest", "tag", "latest", "tag:latest"),
    ],
)
def test_parse_tag_policy(text: str, kind: str, value: str | None, shown: str) -> None:
    policy = parse_tag_policy(text)
    assert (policy.kind, policy.value) == (kind, value)
    assert str(policy) == shown
    assert parse_tag_policy(str(policy)) == policy


@pytest.mark.parametrize(
    "text",
    ["", "   ", "K2S", "k2s:x", "latest", "semver", "semver:", "tag:", "tag:-bad", "tag:a b", "tag:" + "x" * 129,
     "Semver:>=1.0.0", "digest:sha256:00"],
)
def test_bad_policies_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_tag_policy(text)
    assert "\n" not in str(info.value)
    assert "policy" in str(info.value)


@pytest.mark.parametrize(
    "expression",
    [" ", ">=", "foo", ">= bar", "BAR >= 1.2.3", "1.2.3.4", "12.3.34~ 1.2.3", "1 ||", "|| 1", "1,,2", "1,", ">1<2",
     ">=1.0.0-01", "1.2.3-", "==1.2.3", "1.2 -", "1x.2.3", "1|2", ">=18446744073709551616",
     "1 " * 300, " || ".join(["1"] * 33)],
)
def test_bad_constraints_are_usage_errors(expression: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_tag_policy(f"semver:{expression}")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("invalid tag policy 'semver:")


@pytest.mark.parametrize("expression", ["12.3.34 ~1.2.3", "3 - 4 || => 3.0, < 4", "v2.3.5-20161202202307-sha.e8fc5e5",
                                        " || ".join(["1"] * 32), "*", ">=0.0.0-0", "~> 1.2", "1.x.1x"])
def test_edge_constraints_that_masterminds_accepts(expression: str) -> None:
    assert parse_tag_policy(f"semver:{expression}").value == expression


def test_direct_construction_is_validated() -> None:
    with pytest.raises(UsageError):
        TagPolicy("k2s", "x")
    with pytest.raises(UsageError):
        TagPolicy("semver", "1.2.3.4")
    with pytest.raises(UsageError):
        TagPolicy("tag", None)
    with pytest.raises(UsageError):
        TagPolicy("digest", "x")  # type: ignore[arg-type]
