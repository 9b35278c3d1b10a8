"""Booleans from the environment (K2s ConfigMaps write PowerShell's ``$true``/``$false``), through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kaddons.errors import UsageError
from kaddons.oci.layout import LayoutStore
from kaddons.sync.config import parse_bool
from tests.helpers.registry import RunningRegistry

TRUE = ["$true", "$TRUE", "$True", "true", "True", "TRUE", "1", "yes", "YES", "y", "on", "t", " $true "]
FALSE = ["$false", "$FALSE", "false", "False", "0", "no", "n", "off", "f", ""]


@pytest.mark.parametrize("text", TRUE)
def test_true_spellings(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", FALSE)
def test_false_spellings(text: str) -> None:
    assert parse_bool(text) is False


def test_other_text_is_a_usage_error_naming_the_setting() -> None:
    assert parse_bool(True) is True and parse_bool(False) is False
    for text in ("maybe", "$yes", "2", "truee"):
        with pytest.raises(UsageError) as err:
            parse_bool(text, "KADDONS_X")
        assert str(err.value).startswith(f"KADDONS_X '{text}' is not a boolean: use true or false")


def kaddons(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KADDONS_")}
    return subprocess.run([sys.executable, "-m", "kaddons", *args], text=True, capture_output=True, timeout=120,
                          env={**environment, **env})


@pytest.fixture
def empty_layout(tmp_path: Path) -> tuple[Path, Path]:
    """An empty OCI layout to sync from and an empty catalog: a sync that needs no network."""
    LayoutStore(tmp_path / "layout", create=True)
    (tmp_path / "catalog").mkdir()
    return tmp_path / "layout", tmp_path / "catalog"


@pytest.mark.parametrize(("value", "enabled"), [("$true", True), ("$false", False), ("True", True), ("0", False),
                                                ("yes", True)])
def test_check_digest_from_the_environment(empty_layout: tuple[Path, Path], value: str, enabled: bool) -> None:
    layout, catalog = empty_layout
    proc = kaddons("sync", env={"KADDONS_REGISTRY": f"oci-layout:{layout}", "KADDONS_ADDONS_DIR": str(catalog),
                                "KADDONS_CHECK_DIGEST": value})
    assert proc.returncode == 0, proc.stderr
    assert ("Digest check enabled" in proc.stdout) is enabled, proc.stdout
    assert "Synced: 0, Skipped (unchanged): 0, Failed: 0" in proc.stdout


def test_a_bad_boolean_is_one_line_naming_the_variable(empty_layout: tuple[Path, Path]) -> None:
    layout, catalog = empty_layout
    proc = kaddons("sync", "--registry", f"oci-layout:{layout}", "--addons-dir", str(catalog),
                   env={"KADDONS_CHECK_DIGEST": "maybe"})
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: KADDONS_CHECK_DIGEST 'maybe' is not a boolean: use true or false ($true/$false, yes/no, 1/0 work too)"]
    assert proc.stdout == ""
    flag = kaddons("sync", "--registry", f"oci-layout:{layout}", "--addons-dir", str(catalog), "--check-digest",
                   env={"KADDONS_CHECK_DIGEST": "maybe"})  # the flag wins: the variable is not read
    assert flag.returncode == 0 and "Digest check enabled" in flag.stdout, flag.stderr


def test_insecure_from_the_environment(registry: RunningRegistry) -> None:
    plain = kaddons("repo", "ls", registry.host, env={"KADDONS_INSECURE": "$true"})
    assert plain.returncode == 0, plain.stderr  # plain HTTP, as the registry serves
    tls = kaddons("repo", "ls", registry.host, env={"KADDONS_INSECURE": "$false"})
    assert tls.returncode == 5 and "--insecure" in tls.stderr  # HTTPS against a plain-HTTP registry
    bad = kaddons("repo", "ls", registry.host, env={"KADDONS_INSECURE": "sure"})
    assert bad.returncode == 2 and bad.stderr.startswith("error: KADDONS_INSECURE 'sure' is not a boolean")
