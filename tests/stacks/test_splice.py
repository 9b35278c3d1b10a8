"""Editing one entry of a cluster document in place (issue 14, performance): only the entry's lines are written
again; whatever cannot be cut out exactly falls back to the round trip of the whole file, with the same data."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from kaddons._parsed import parse
from kaddons.operations import splice
from kaddons.operations.splice import EntryEditor, locate

DOCUMENT = """\
# the edge cluster
apiVersion: v1
kind: ImportCluster
metadata: {name: edge}   # flow style elsewhere is left as written
spec:
  stacks:
    - name: platform
      addons:
        - name: first
          chart_name: first
          chart_version: 1.0.0   # pinned for the edge
          namespace: first
          registry_url: https://charts.example.com/
          configuration:
            values: |
              - name: looks-like-an-entry
                chart_version: 9.9.9
        - name: second
          chart_name: second
          chart_version: 2.0.0
          namespace: second
          registry_url: https://charts.example.com/
    - name: policy
      addons:
        - {name: third, chart_name: third, chart_version: 3.0.0, namespace: third, registry_url: https://x.example/}
"""
FIRST = ("spec", "stacks", 0, "addons", 0)
SECOND = ("spec", "stacks", 0, "addons", 1)
THIRD = ("spec", "stacks", 1, "addons", 0)


def _changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_an_edit_writes_only_the_entry_and_keeps_every_other_byte() -> None:
    assert locate(DOCUMENT, FIRST) == (8, 16, 10)  # to the end of its values block, not into the next entry
    editor = EntryEditor(DOCUMENT, FIRST, "cluster.yaml")
    assert editor.span is not None
    editor.entry["chart_version"] = "1.1.0"
    new = editor.text()
    assert _changed_lines(DOCUMENT, new) == ["-          chart_version: 1.0.0   # pinned for the edge",
                                             "+          chart_version: 1.1.0   # pinned for the edge"]
    second = EntryEditor(new, SECOND, "cluster.yaml")
    second.entry["parents"] = [{"addon": "first"}]
    after = second.text()
    assert _changed_lines(new, after) == ["+          parents:", "+            - addon: first"]
    assert parse(after, "x")["spec"]["stacks"][0]["addons"][1]["parents"] == [{"addon": "first"}]


@pytest.mark.parametrize(("text", "path"), [
    (DOCUMENT, THIRD),  # a flow mapping
    (DOCUMENT.replace("        - name: second", "        - &second\n          name: second"), SECOND),  # an anchor
    (DOCUMENT.replace("\n", "\r\n"), FIRST),  # CR line ends
    (DOCUMENT.replace("          namespace: second", "    # a comment left of the entry\n          namespace: second"),
     SECOND),
])
def test_what_cannot_be_cut_exactly_is_edited_through_the_whole_file(text: str, path: tuple[str | int, ...]) -> None:
    assert locate(text, path) is None
    editor = EntryEditor(text, path, "cluster.yaml")
    editor.entry["chart_version"] = "4.0.0"
    new = editor.text()
    expected = parse(text, "x")
    expected["spec"]["stacks"][path[2]]["addons"][path[4]]["chart_version"] = "4.0.0"
    assert parse(new, "x") == expected
    assert "# the edge cluster" in new


def test_a_cut_that_does_not_read_back_as_the_edit_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks are what make the cut safe: a span one line short would leave half an entry behind."""
    monkeypatch.setattr(splice, "locate", lambda _text, _path: (8, 15, 10))
    editor = EntryEditor(DOCUMENT, FIRST, "cluster.yaml")
    assert editor.span is None
    editor.entry["chart_version"] = "1.1.0"
    new = editor.text()
    expected = parse(DOCUMENT, "x")
    expected["spec"]["stacks"][0]["addons"][0]["chart_version"] = "1.1.0"
    assert parse(new, "x") == expected


def test_an_included_file_holding_one_entry_is_edited_whole(tmp_path: Path) -> None:
    file = tmp_path / "kyverno.yaml"
    file.write_text("name: kyverno  # the policy engine\nchart_version: 3.7.1\n")
    editor = EntryEditor.of(file, ())
    editor.entry["chart_version"] = "3.7.2"
    assert editor.text() == "name: kyverno  # the policy engine\nchart_version: 3.7.2\n"


def test_an_edit_that_does_not_read_back_as_written_goes_through_the_whole_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EntryEditor, "_checked", lambda _self, _new, _snippet: False)
    editor = EntryEditor(DOCUMENT, SECOND, "cluster.yaml")
    assert editor.span is not None
    editor.entry["chart_version"] = "2.1.0"
    expected = parse(DOCUMENT, "x")
    expected["spec"]["stacks"][0]["addons"][1]["chart_version"] = "2.1.0"
    assert parse(editor.text(), "x") == expected
