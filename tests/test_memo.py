"""Results kept on disk by the hash of their input (issue 14, performance): the YAML parses of a cluster
document's files and the YAML written for rendered objects. Each CLI command is a new process; these tests clear
the in-process memory to stand for one, and check that what comes back is what the computation gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kaddons import _parsed
from kaddons._memo import DiskMemo
from kaddons.errors import ClusterDocumentError
from kaddons.gitops import _yaml as gitops_yaml

KEY = "ab" * 32


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KADDONS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KADDONS_MEMO", raising=False)
    monkeypatch.setattr(_parsed, "_memory", type(_parsed._memory)())
    return tmp_path / "cache"


def test_a_memo_gives_back_what_was_put_and_a_damaged_file_is_a_miss(_cache: Path) -> None:
    memo = DiskMemo("things", max_files=10, max_bytes=1 << 20)
    assert memo.get(KEY) is None
    memo.put(KEY, b"value")
    assert memo.get(KEY) == b"value"
    kept = _cache / "things" / KEY
    data = bytearray(kept.read_bytes())
    data[-1] ^= 1
    kept.write_bytes(bytes(data))
    assert memo.get(KEY) is None  # checked against the sha256 it was written with
    kept.write_bytes(b"short")
    assert memo.get(KEY) is None
    assert memo.get("../" + KEY[3:]) is None and memo.get(KEY.upper()) is None  # keys are hex, nothing else
    memo.put("../escape" + KEY[9:], b"x")
    assert not (_cache / "escape").exists() and sorted(p.name for p in (_cache / "things").iterdir()) == [KEY]


def test_a_memo_is_bounded_least_recently_used_first(_cache: Path) -> None:
    writer = DiskMemo("bounded", max_files=4, max_bytes=1 << 20)
    keys = [f"{n:064x}" for n in range(6)]
    for number, key in enumerate(keys):
        writer.put(key, b"x")
        os.utime(_cache / "bounded" / key, (1000 + number, 1000 + number))
    os.utime(_cache / "bounded" / keys[0], (2000, 2000))  # read lately: kept
    DiskMemo("bounded", max_files=4, max_bytes=1 << 20).put("f" * 64, b"y")  # the next process's first write
    left = sorted(p.name for p in (_cache / "bounded").iterdir())
    assert left == sorted([keys[0], keys[5], "f" * 64])  # three quarters of 4, the oldest gone


def test_a_memo_that_cannot_be_written_or_is_turned_off_is_no_error(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("KADDONS_CACHE_DIR", str(tmp_path / "file"))
    memo = DiskMemo("things", max_files=10, max_bytes=1 << 20)
    memo.put(KEY, b"value")
    assert memo.get(KEY) is None
    monkeypatch.setenv("KADDONS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KADDONS_MEMO", "off")
    memo.put(KEY, b"value")
    assert memo.get(KEY) is None and not (tmp_path / "cache").exists()


def test_a_parse_comes_back_from_disk_in_a_new_process_as_a_fresh_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "a: 1\nb: [x, {c: true}]\nwhen: 2024-01-01\n"
    first = _parsed.parse(text, "values.yaml")
    assert first == {"a": 1, "b": ["x", {"c": True}], "when": "2024-01-01"}
    first["b"].append("changed by the loader")
    monkeypatch.setattr(_parsed, "_memory", type(_parsed._memory)())  # a new process

    def no_parser(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(_parsed, "parse_yaml", no_parser)
    again = _parsed.parse(text, "values.yaml")
    assert again == {"a": 1, "b": ["x", {"c": True}], "when": "2024-01-01"}
    again["a"] = 2
    assert _parsed.parse(text, "values.yaml")["a"] == 1  # from this process's memory, a copy again


def test_a_damaged_parse_on_disk_is_parsed_again_and_errors_are_never_kept(_cache: Path) -> None:
    text = "a: 1\n"
    _parsed.parse(text, "x.yaml")
    [kept] = (_cache / "parses").iterdir()
    kept.write_bytes(kept.read_bytes()[:-1])
    _parsed._memory.clear()
    assert _parsed.parse(text, "x.yaml") == {"a": 1}
    for _ in range(2):
        with pytest.raises(ClusterDocumentError, match=r"bad\.yaml"):
            _parsed.parse("a: [1\n", "bad.yaml")
    assert len(list((_cache / "parses").iterdir())) == 1


def test_dumped_objects_come_back_from_disk_and_only_plain_objects_are_kept(_cache: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    objects = [{"kind": "Application", "spec": {"on": "yes", "replicas": 1, "flag": True}}]
    text = gitops_yaml.dump_kept(objects)
    assert "'yes'" in text and "flag: true" in text

    def no_dump(_documents: object) -> str:
        raise AssertionError("dumped again")

    monkeypatch.setattr(gitops_yaml, "_dump", no_dump)
    assert gitops_yaml.dump_kept(objects) == text
    with pytest.raises(AssertionError, match="dumped again"):  # 1 and True are different objects
        gitops_yaml.dump_kept([{"kind": "Application", "spec": {"on": "yes", "replicas": True, "flag": True}}])
    monkeypatch.undo()
    monkeypatch.setenv("KADDONS_CACHE_DIR", str(_cache))
    before = len(list((_cache / "dumps").iterdir()))
    dated = gitops_yaml.dump_kept([{"a": datetime.date(2026, 1, 1)}])  # marshal does not carry it: not kept
    assert dated == "a: 2026-01-01\n"
    assert len(list((_cache / "dumps").iterdir())) == before
