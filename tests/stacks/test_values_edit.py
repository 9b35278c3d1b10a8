"""Setting values by path (``--set``), as ``helm --set`` and Ankra's CLI address them; comments and order kept."""

from __future__ import annotations

import io

import pytest

from kaddons.addons._yaml import round_trip_yaml
from kaddons.errors import UsageError
from kaddons.stacks.values_edit import Selector, parse_path, set_value

VALUES = """\
# the dashboard
replicaCount: 2  # two for the edge
env:
  - name: LOG_LEVEL
    value: info
  - name: TZ
    value: UTC
args: [--a, --b]
"""


def _edit(text: str, *sets: tuple[str, object]) -> str:
    yaml = round_trip_yaml()
    data = yaml.load(text)
    for path, value in sets:
        data = set_value(data, path, value)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def test_paths() -> None:
    assert parse_path("image.tag") == ["image", "tag"]
    assert parse_path("env[name=LOG_LEVEL].value") == ["env", Selector(("name", "LOG_LEVEL")), "value"]
    assert parse_path("args[1]") == ["args", 1]
    assert parse_path(r"podAnnotations.prometheus\.io/scrape") == ["podAnnotations", "prometheus.io/scrape"]
    for bad in ("", ".a", "a.", "a..b", "a[x]", "a[=1]"):
        with pytest.raises(UsageError, match="value path"):
            parse_path(bad)


def test_set_by_key_selector_and_index_keeps_comments_and_order() -> None:
    edited = _edit(VALUES, ("env[name=LOG_LEVEL].value", "debug"), ("replicaCount", 3), ("args[1]", "--c"),
                   ("image.tag", "1.2.3"), ("env[2].name", "NEW"), ("env[name=NEW].value", "x"))
    assert edited.startswith("# the dashboard\nreplicaCount: 3  # two for the edge\n")
    assert ("  - name: LOG_LEVEL\n    value: debug\n  - name: TZ\n    value: UTC\n  - name: NEW\n    value: x\n"
            in edited)
    assert "args: [--a, --c]" in edited
    assert edited.endswith("image:\n  tag: 1.2.3\n")


def test_shape_mismatches_are_errors_naming_the_path() -> None:
    with pytest.raises(UsageError, match=r"past the end of a list of 2 \(\[2\] appends\)"):
        _edit(VALUES, ("args[5]", "x"))
    assert "args: [--a, --b, --c]" in _edit(VALUES, ("args[2]", "--c"))
    with pytest.raises(UsageError, match="selects in a list"):
        _edit(VALUES, ("replicaCount[name=a]", "x"))
    with pytest.raises(UsageError, match="is a key, but the value there is a list"):
        _edit(VALUES, ("env.name", "x"))
    assert _edit("", ("a.b", 1)) == "a:\n  b: 1\n"


def test_a_selector_matching_nothing_is_an_error_naming_what_the_list_has() -> None:
    """A typo in a selector (``LOG_LEVL``) must not add an item to the list (issue 14, bad input)."""
    with pytest.raises(UsageError, match=r"env\[name=LOG_LEVL\]\.value \(at step 2\): no item of the list has "
                       r"name=LOG_LEVL \(name: LOG_LEVEL, TZ\); \[2\] appends a new item"):
        _edit(VALUES, ("env[name=LOG_LEVL].value", "debug"))
