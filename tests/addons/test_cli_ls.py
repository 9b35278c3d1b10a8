"""``kaddons ls`` as a user runs it: a real process over a copy of the real K2s addons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.addons.conftest import writable_copy

DIGEST = "sha256:" + "0123456789abcdef" * 4
ROWS = [  # (NAME, IMPLEMENTATION or None, export name)
    ("dashboard", None, "dashboard"), ("dicom", None, "dicom"), ("ingress", "nginx", "ingress-nginx"),
    ("ingress", "traefik", "ingress-traefik"), ("ingress", "nginx-gw", "ingress-nginx-gw"),
    ("metrics", None, "metrics"), ("rollout", "argocd", "rollout-argocd"), ("rollout", "fluxcd", "rollout-fluxcd"),
    ("storage", "smb", "storage-smb"),
]
KEYS = {"name", "implementation", "description", "version", "exportName", "directory", "source", "digest"}


def kaddons(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "KADDONS_ADDONS_DIR"} | (env or {})
    return subprocess.run([sys.executable, "-m", "kaddons", "ls", *args], capture_output=True, text=True,
                          cwd=cwd, env=environ, timeout=60)


def table(proc: subprocess.CompletedProcess[str]) -> list[list[str]]:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and all(line == line.rstrip() for line in lines)
    return [line.split() for line in lines]


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_table_lists_every_implementation(addons_dir: Path) -> None:
    proc = kaddons("--addons-dir", str(addons_dir))
    header, *rows = table(proc)
    assert header == ["NAME", "IMPLEMENTATION", "VERSION", "DESCRIPTION"]
    assert proc.stderr == ""
    assert [(r[0], r[1]) if r[1] != "1.0.0" else (r[0], None) for r in rows] == [(n, i) for n, i, _ in ROWS]
    assert rows[2][:4] == ["ingress", "nginx", "1.0.0", "Ingress"]
    assert " ".join(rows[5]) == "metrics 1.0.0 Kubernetes metrics server for API Access to service metrics"
    assert "common" not in proc.stdout


def test_json_output(addons_dir: Path) -> None:
    proc = kaddons("--addons-dir", str(addons_dir), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [(d["name"], d["implementation"], d["exportName"]) for d in data] == ROWS
    assert all(set(d) == KEYS and d["version"] == "1.0.0" and d["digest"] is None for d in data)
    assert data[4]["directory"] == str(addons_dir / "ingress" / "nginx-gw")
    assert data[4]["description"] == "Ingress Controller for external access that uses NGINX Gateway Fabric"


def test_where_the_addons_dir_comes_from(addons_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    names = [[d["name"] for d in json.loads(p.stdout)] for p in (
        kaddons("-o", "json", cwd=tmp_path),  # ./addons
        kaddons("-o", "json", cwd=elsewhere, env={"KADDONS_ADDONS_DIR": str(addons_dir)}),
        kaddons("-o", "json", "--k2s-install-dir", str(tmp_path), cwd=elsewhere),
        # the flag wins over the environment
        kaddons("-o", "json", "--k2s-install-dir", str(tmp_path), cwd=elsewhere, env={"KADDONS_ADDONS_DIR": "x"}),
    )]
    assert names == [[n for n, _, _ in ROWS]] * 4
    both = kaddons("--addons-dir", str(addons_dir), "--k2s-install-dir", str(tmp_path))
    assert one_line_error(both) == "error: give --addons-dir or --k2s-install-dir, not both"
    assert both.returncode == 2


def test_missing_addons_dir(tmp_path: Path) -> None:
    proc = kaddons(cwd=tmp_path)
    assert one_line_error(proc) == (
        "error: no addons directory given and ./addons does not exist: pass --addons-dir DIR, "
        "--k2s-install-dir DIR or set KADDONS_ADDONS_DIR")
    assert proc.returncode == 3
    proc = kaddons("--k2s-install-dir", str(tmp_path / "k"))
    assert f"addons directory {tmp_path / 'k' / 'addons'} (--k2s-install-dir) does not exist" in one_line_error(proc)
    proc = kaddons(env={"KADDONS_ADDONS_DIR": str(tmp_path / "x")})
    assert one_line_error(proc) == (f"error: addons directory {tmp_path / 'x'} (KADDONS_ADDONS_DIR) does not exist: "
                                    f"create it (mkdir -p {tmp_path / 'x'}) or fix KADDONS_ADDONS_DIR")
    proc = kaddons("--addons-dir", str(tmp_path / "y"))  # it was set: never "set it"
    line = one_line_error(proc)
    assert "(--addons-dir) does not exist: create it (mkdir -p" in line and "set it" not in line
    (tmp_path / "file").write_text("x")
    proc = kaddons("--addons-dir", str(tmp_path / "file"))
    assert "(--addons-dir) is a file, not a directory" in one_line_error(proc) and proc.returncode == 2


def test_synced_addon_shows_digest_and_source(addons_dir: Path) -> None:
    digests = addons_dir / ".addon-sync-digests"
    digests.mkdir()
    (digests / "ingress-traefik").write_bytes(b"\xef\xbb\xbf" + DIGEST.encode())  # as K2s writes it
    (digests / "metrics").write_text(DIGEST + "\n")
    reference = "registry.local:5000/addons/metrics:v1.0.0"
    (digests / "metrics.kaddons.json").write_text(json.dumps({"digest": DIGEST, "reference": reference}))
    header, *rows = table(kaddons("--addons-dir", str(addons_dir)))
    assert header == ["NAME", "IMPLEMENTATION", "VERSION", "SOURCE", "DIGEST", "DESCRIPTION"]
    assert rows[3][:4] == ["ingress", "traefik", "1.0.0", DIGEST[:19]]
    assert rows[5][:4] == ["metrics", "1.0.0", reference, DIGEST[:19]]
    assert rows[0][:2] == ["dashboard", "1.0.0"] and rows[0][2] == "Headlamp"
    data = json.loads(kaddons("--addons-dir", str(addons_dir), "-o", "json").stdout)
    assert [(d["exportName"], d["source"], d["digest"]) for d in data if d["digest"]] == [
        ("ingress-traefik", None, DIGEST), ("metrics", reference, DIGEST)]


def test_broken_manifest_is_a_warning(addons_dir: Path) -> None:
    path = addons_dir / "ingress" / "addon.manifest.yaml"
    path.write_text(path.read_text().replace("subPath: nginx-gw/Enable.ps1", "subPath: [nginx-gw/Enable.ps1]"))
    proc = kaddons("--addons-dir", str(addons_dir))
    assert proc.stderr.splitlines() == [
        f"warning: {path}: spec.implementations[2].commands.enable.script.subPath: expected a string, got a list"]
    assert [r[0] for r in table(proc)[1:]] == ["dashboard", "dicom", "metrics", "rollout", "rollout", "storage"]
    strict = kaddons("--addons-dir", str(addons_dir), "--strict", "-o", "json")
    assert strict.returncode == 1
    assert strict.stderr.splitlines()[1:] == [f"error: 1 invalid addon manifest(s) in {addons_dir}"]
    assert len(json.loads(strict.stdout)) == 6


def test_empty_addons_dir(tmp_path: Path) -> None:
    proc = kaddons("--addons-dir", str(tmp_path))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", f"no addons in {tmp_path}\n")
    assert json.loads(kaddons("--addons-dir", str(tmp_path), "-o", "json").stdout) == []


@pytest.fixture
def markup_addon(testdata: Path, tmp_path: Path) -> Path:
    root = tmp_path / "addons"
    writable_copy(testdata / "metrics", root / "metrics")
    path = root / "metrics" / "addon.manifest.yaml"
    path.write_text(path.read_text().replace("description: Kubernetes metrics server for API Access to service metrics",
                                             "description: '[bold]not markup[/bold] :smile:'"))
    return root


def test_descriptions_are_printed_verbatim(markup_addon: Path) -> None:
    rows = table(kaddons("--addons-dir", str(markup_addon), "-o", "table"))[1:]
    assert rows == [["metrics", "1.0.0", "[bold]not", "markup[/bold]", ":smile:"]]
