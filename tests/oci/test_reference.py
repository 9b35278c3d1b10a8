"""Reference parsing: the three forms users type, and the one-line errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaddons.errors import InvalidReferenceError, UsageError
from kaddons.oci.reference import ARCHIVE, LAYOUT, REGISTRY, Reference, parse_reference, parse_registry_host

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/addons/dicom:1.0.0", Reference(REGISTRY, "127.0.0.1:5000", "addons/dicom", "1.0.0")),
        ("oci://registry.example.com/addons/ingress-nginx", Reference(REGISTRY, "registry.example.com",
                                                                       "addons/ingress-nginx")),
        (f"localhost:5000/a/b@{DIGEST}", Reference(REGISTRY, "localhost:5000", "a/b", digest=DIGEST)),
        (f"localhost:5000/a/b:v1@{DIGEST}", Reference(REGISTRY, "localhost:5000", "a/b", "v1", DIGEST)),
        ("[::1]:5000/x:latest", Reference(REGISTRY, "[::1]:5000", "x", "latest")),
        ("oci-layout:/tmp/out:v1.2.3", Reference(LAYOUT, "/tmp/out", None, "v1.2.3")),
        ("oci-layout:relative/dir", Reference(LAYOUT, "relative/dir")),
        (f"oci-archive:./K2s-v1.0.0-addons-x.oci.tar@{DIGEST}",
         Reference(ARCHIVE, "./K2s-v1.0.0-addons-x.oci.tar", digest=DIGEST)),
        ("oci-archive:/a:b/c.tar:tag", Reference(ARCHIVE, "/a:b/c.tar", None, "tag")),
    ],
)
def test_valid_references_parse(text: str, expected: Reference) -> None:
    ref = parse_reference(text)
    assert ref == expected
    assert ref.reference == (expected.digest or expected.tag)
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty reference"),
        ("just-a-name", "expected HOST"),
        ("127.0.0.1:5000/", "expected HOST"),
        ("127.0.0.1:5000/Upper:1", "invalid repository name"),
        ("127.0.0.1:5000/a//b", "invalid repository name"),
        ("127.0.0.1:5000/a:-tag", "invalid tag"),
        ("127.0.0.1:5000/a@sha256:123", "malformed sha256"),
        ("127.0.0.1:5000/a@md5:" + "0" * 32, "unsupported digest algorithm 'md5'"),
        ("bad host!/a", "invalid registry"),
        ("oci-layout:", "needs a path"),
        ("oci-layout:/x:" + "t" * 129, "invalid tag"),
    ],
)
def test_invalid_references_raise_one_line(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message) as info:
        parse_reference(text)
    assert "\n" not in str(info.value)


def test_registry_host_accepts_scheme_prefix_and_rejects_paths() -> None:
    assert parse_registry_host("oci://127.0.0.1:5000") == "127.0.0.1:5000"
    assert parse_registry_host("registry.local/") == "registry.local"
    with pytest.raises(InvalidReferenceError):
        parse_registry_host("registry.local/addons")


def test_https_urls_are_accepted_and_http_urls_say_what_to_write() -> None:
    from kaddons.addons.publish import split_registry
    from kaddons.gitops.options import parse_registry_url

    assert parse_registry_host("https://registry.example.com:5000/") == "registry.example.com:5000"
    assert parse_reference("https://registry.example.com/addons/metrics:v1").location == "registry.example.com"
    assert split_registry("HTTPS://registry.example.com/team") == ("registry.example.com", "team/")
    assert parse_registry_url("https://registry.example.com:5000") == "registry.example.com:5000"
    for parse in (parse_registry_host, parse_reference, split_registry):
        with pytest.raises(InvalidReferenceError, match=r"http:// means plain HTTP; write oci://127\.0\.0\.1:5000"):
            parse("http://127.0.0.1:5000/addons/x:1" if parse is parse_reference else "http://127.0.0.1:5000")
    with pytest.raises(UsageError, match="pass --insecure"):
        parse_registry_url("http://127.0.0.1:5000")


def test_cli_http_registry_is_one_line_with_the_way_out(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "kaddons", "sync", "--registry", "http://127.0.0.1:5000",
                           "--addons-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stdout + done.stderr
    assert "write oci://127.0.0.1:5000 and pass --insecure" in done.stderr
