"""Safe extraction of layer tars: what lands where, and every hostile tar refused without a write outside."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from kaddons.addons.extract import ExtractLimits, extract_tar, format_size, parse_size
from kaddons.errors import ContentError, DigestMismatchError, UnsafeContentError, UsageError
from kaddons.oci.digest import VerifyingReader
from tests.helpers.k2s_archive import MTIME, digest, k2s_tar, raw_tar, snapshot

LIMITS = ExtractLimits()
WHAT = "metrics: manifests layer"


def member(name: str, data: bytes | None = None, *, kind: bytes = tarfile.REGTYPE, link: str = "",
           mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, mode, MTIME
    info.size = len(data) if data is not None else 0
    return info, data


def extract(data: bytes, dest: Path, *, gzip: bool = True, limits: ExtractLimits = LIMITS) -> list[str]:
    return extract_tar(io.BytesIO(data), dest, gzip=gzip, limits=limits, what=WHAT)


def test_k2s_layer_extracts_with_prefixes_modes_and_mtimes(tmp_path: Path) -> None:
    files = {"metrics-server.yaml": b"kind: Deployment\n", "gitops-sync/sync-job.yaml": b"kind: Job\n",
             "gitops-sync/kustomization.yaml": b"resources: [sync-job.yaml]\n"}
    dest = tmp_path / "dest"
    written = extract(k2s_tar(files), dest)
    assert sorted(written) == sorted(files)
    assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == files
    assert stat.S_IMODE((dest / "metrics-server.yaml").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "gitops-sync").stat().st_mode) == 0o755
    assert (dest / "metrics-server.yaml").stat().st_mtime == MTIME
    assert (dest / "gitops-sync").stat().st_mtime == MTIME


def test_exec_bit_gives_0755_and_plain_tars_work(tmp_path: Path) -> None:
    data = raw_tar([member("run.sh", b"#!/bin/sh\n", mode=0o700), member("x.tar", b"x", mode=0o600)], gzip=False)
    extract(data, tmp_path / "d", gzip=False)
    assert stat.S_IMODE((tmp_path / "d" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "d" / "x.tar").stat().st_mode) == 0o644


def test_same_name_replaces_a_file_already_in_dest(tmp_path: Path) -> None:
    dest = tmp_path / "manifests"
    extract(k2s_tar({"chart/values.yaml": b"old"}), dest)
    assert extract(k2s_tar({"values.yaml": b"new"}), dest / "chart") == ["values.yaml"]
    assert (dest / "chart" / "values.yaml").read_bytes() == b"new"


HOSTILE = {
    "absolute": [member("/etc/evil", b"x")],
    "dot-dot": [member("./a/../../evil", b"x")],
    "dot-dot-dir": [member("../", kind=tarfile.DIRTYPE)],
    "drive": [member("C:/evil", b"x")],
    "backslash": [member("..\\evil", b"x")],
    "symlink": [member("link", kind=tarfile.SYMTYPE, link="/etc/passwd")],
    "symlink-then-write": [member("dir", kind=tarfile.SYMTYPE, link=".."), member("dir/evil", b"x")],
    "hardlink": [member("target", b"x"), member("hard", kind=tarfile.LNKTYPE, link="/etc/passwd")],
    "char-device": [member("dev", kind=tarfile.CHRTYPE)],
    "block-device": [member("blk", kind=tarfile.BLKTYPE)],
    "fifo": [member("fifo", kind=tarfile.FIFOTYPE)],
    "case-collision": [member("Enable.ps1", b"a"), member("enable.ps1", b"b")],
    "case-collision-dir": [member("manifests/a.yaml", b"a"), member("Manifests/b.yaml", b"b")],
    "file-then-dir": [member("a", b"file"), member("a/b", b"x")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_are_refused(tmp_path: Path, case: str) -> None:
    dest = tmp_path / "staging" / "impl"
    dest.parent.mkdir()
    outside = snapshot(tmp_path)
    with pytest.raises(UnsafeContentError) as caught:
        extract(raw_tar(HOSTILE[case]), dest)
    message = str(caught.value)
    assert message.startswith(WHAT) and "\n" not in message and "refusing" in message
    names = [repr(info.name.rstrip("/")) for info, _data in HOSTILE[case]]
    assert any(name in message for name in names)
    after = snapshot(tmp_path)
    assert {path for path in after if not path.startswith("staging/")} == \
           {path for path in outside if not path.startswith("staging/")}
    assert not any(p.is_symlink() for p in tmp_path.rglob("*"))
    assert not (tmp_path / "evil").exists() and not (tmp_path / "staging" / "evil").exists()


def test_case_collision_with_a_file_already_in_dest(tmp_path: Path) -> None:
    dest = tmp_path / "impl"
    extract(k2s_tar({"README.md": b"readme"}), dest)
    with pytest.raises(UnsafeContentError, match=r"'./readme.md' collides with 'README.md'"):
        extract(k2s_tar({"readme.md": b"other"}), dest)
    assert (dest / "README.md").read_bytes() == b"readme"


def test_expanded_size_limit_stops_a_bomb(tmp_path: Path) -> None:
    bomb = raw_tar([member(f"f{i}", bytes(300_000)) for i in range(20)])  # 6 MB of zeros, a few KiB gzipped
    assert len(bomb) < 50_000
    dest = tmp_path / "d"
    with pytest.raises(UnsafeContentError, match=r"expands to more than 1 MiB.*--max-expanded-size"):
        extract(bomb, dest, limits=ExtractLimits(max_bytes=1024**2))
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= 1024**2


def test_one_member_bigger_than_the_limit_is_not_written_at_all(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with pytest.raises(UnsafeContentError, match=r"expands to more than"):
        extract(raw_tar([member("big", bytes(5_000_000))]), dest, limits=ExtractLimits(max_bytes=1_000_000))
    assert not (dest / "big").exists()


def test_member_count_limit(tmp_path: Path) -> None:
    many = raw_tar([member(f"f{i}", b"") for i in range(11)])
    assert len(extract(many, tmp_path / "ok", limits=ExtractLimits(max_members=11))) == 11
    with pytest.raises(UnsafeContentError, match=r"more than 10 members"):
        extract(many, tmp_path / "d", limits=ExtractLimits(max_members=10))


@pytest.mark.parametrize(("data", "gzip"), [(b"not a tar at all" * 100, True), (b"\x1f\x8b" + bytes(100), True),
                                            (k2s_tar({"a": b"a"}), False), (k2s_tar({"a": b"a"})[:-40], True)])
def test_bytes_that_are_no_tar_are_a_content_error(tmp_path: Path, data: bytes, gzip: bool) -> None:
    with pytest.raises(ContentError) as caught:
        extract(data, tmp_path / "d", gzip=gzip)
    assert not isinstance(caught.value, UnsafeContentError)
    assert str(caught.value).startswith(WHAT)


def verifying(content: bytes, *, of: bytes | None = None, size: int | None = None) -> VerifyingReader:
    """A reader over ``content`` expecting the digest of ``of`` (default: ``content``) and ``size``."""
    expected = content if of is None else of
    return VerifyingReader(io.BytesIO(content), digest(expected), len(expected) if size is None else size)


def test_blob_is_read_to_its_end_after_the_tar(tmp_path: Path) -> None:
    padded = k2s_tar({"a.yaml": b"a"}) + bytes(256 * 1024)  # the tar ends long before the blob does
    stream = verifying(padded)
    extract_tar(stream, tmp_path / "d", gzip=True, limits=LIMITS, what=WHAT)
    assert stream.bytes_read == len(padded)


def test_corruption_after_the_end_of_the_tar_is_detected(tmp_path: Path) -> None:
    good = k2s_tar({"a.yaml": b"a"}) + bytes(256 * 1024)
    tampered = good[:-1] + b"\x01"
    with pytest.raises(DigestMismatchError, match=r"digest mismatch"):
        extract_tar(verifying(tampered, of=good), tmp_path / "d", gzip=True, limits=LIMITS, what=WHAT)


def test_content_longer_than_its_descriptor_is_detected(tmp_path: Path) -> None:
    layer = k2s_tar({"a.yaml": b"a"})
    with pytest.raises(DigestMismatchError, match=r"larger than"):
        extract_tar(verifying(layer + b"trailing", of=layer), tmp_path / "d", gzip=True, limits=LIMITS, what=WHAT)


def test_content_shorter_than_its_descriptor_is_detected(tmp_path: Path) -> None:
    layer = k2s_tar({"a.yaml": b"a"})
    stream = VerifyingReader(io.BytesIO(layer), digest(layer + bytes(10)), len(layer) + 10)
    with pytest.raises(DigestMismatchError, match=r"ended after"):
        extract_tar(stream, tmp_path / "d", gzip=True, limits=LIMITS, what=WHAT)


@pytest.mark.parametrize(("text", "value"), [("512MiB", 512 * 1024**2), ("4GiB", 4 * 1024**3), ("2G", 2 * 10**9),
                                             ("100kb", 100_000), ("1048576", 1048576), (" 1.5 MiB ", 1572864)])
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "lots", "12 parsecs", "-1", "0", "0.1B"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UsageError, match=r"size"):
        parse_size(text)


def test_format_size_and_limits() -> None:
    assert format_size(4 * 1024**3) == "4 GiB" and format_size(1000) == "1000 bytes"
    with pytest.raises(UsageError):
        ExtractLimits(max_bytes=0)


def test_dest_outside_stays_untouched_by_a_valid_extract(tmp_path: Path) -> None:
    (tmp_path / "sibling").write_text("keep")
    before = os.stat(tmp_path / "sibling").st_mtime_ns
    extract(k2s_tar({"x/y.yaml": b"y"}), tmp_path / "d")
    assert os.stat(tmp_path / "sibling").st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "sibling"]
