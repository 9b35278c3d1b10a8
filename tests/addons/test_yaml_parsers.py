"""``parse_yaml`` reads with libyaml's scanner first and with ruamel's pure-Python one where libyaml refuses: the two
must never read one text differently, or a document would mean one thing or another by the parser that ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kaddons.addons import _yaml
from kaddons.addons._yaml import parse_yaml
from kaddons.errors import AddonManifestError

REPO = Path(__file__).resolve().parents[2]
CORPUS = [REPO.parent / "shared" / "testdata", REPO / "examples", REPO / "tests"]


def _read(text: str, *, pure: bool) -> tuple[str, Any]:
    try:
        return "ok", _yaml._parse(text, "t", AddonManifestError, True, pure=pure)
    except Exception as err:  # what either parser does with the text is the point
        return "error", type(err).__name__


@pytest.mark.slow  # 1,300 files, each read by both parsers: about 40 s
def test_both_parsers_read_every_yaml_file_of_the_test_data_alike() -> None:
    files = [p for root in CORPUS if root.is_dir() for p in sorted(root.rglob("*.y*ml")) if p.is_file()]
    if len(files) < 100:
        pytest.skip(f"the shared test data is not beside the repository ({REPO.parent / 'shared'})")
    read = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        pure = _read(text, pure=True)
        if pure[0] != "ok":
            continue
        read += 1
        fast = _read(text, pure=False)
        assert fast in (pure, ("error", fast[1])), path  # the same data, or a refusal the pure parser then reads
        if fast[0] == "error":
            assert parse_yaml(text, "t", documents=True) == pure[1], path
    assert read > 100


@pytest.mark.parametrize("text", [
    "a: yes\nb: no\nc: on\nd: 0o10\ne: 010\nf: 1_000\ng: .inf\nh: ~\ni: 2001-12-14\n",
    "s: \"a\\/b\"\nt: \"tab\\there\"\ne: \"\\x41\\u00e9\"\n", "k: 'it''s'\nl: [a, b, {c: d}]\n",
    "m: |\n  line1\n   line2\nn: >-\n  folded\n  text\n", "x: !!str 123\np: a:b\nq: -1.5e+3\nr: 0x1F\n",
])
def test_yaml_1_2_scalars_read_the_same_by_both(text: str) -> None:
    assert _read(text, pure=False) == _read(text, pure=True)


def test_what_libyaml_refuses_is_read_as_yaml_1_2() -> None:
    text = "repository: {url: https://charts.example.com/stable}\n"  # K2s's Go loader reads it
    assert _read(text, pure=False)[0] == "error"
    assert parse_yaml(text, "t") == {"repository": {"url": "https://charts.example.com/stable"}}
    with pytest.raises(AddonManifestError, match=r"t: line 2, column 1: found duplicate key"):
        parse_yaml("a: 1\na: 2\n", "t")
