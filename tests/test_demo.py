"""`make demo` as a user runs it: ``scripts/demo.py`` end to end, against the real registry and the layout fallback.

Each run works in its own temporary directory (``--workdir``/``KADDONS_DEMO_DIR``) and drives the
real ``kaddons`` CLI; the tests check its exit code, the lines a user reads and the catalog it leaves.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kaddons.addons import discover
from kaddons.addons.catalog import digest_path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "scripts" / "demo.py"
EXAMPLES = ROOT / "examples" / "addons"
SUMMARY = re.compile(r"Addon sync completed\. Synced: (\d+), Skipped \(unchanged\): (\d+), Failed: (\d+)")


def run_demo(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KADDONS_")}
    return subprocess.run([sys.executable, str(DEMO), *args], cwd=cwd, text=True, capture_output=True, timeout=240,
                          env={**environment, **(env or {})})


def example_names() -> list[str]:
    return sorted(i.export_name for a in discover(EXAMPLES).addons for i in a.implementations)


def assert_demo_ran(proc: subprocess.CompletedProcess[str], work: Path) -> None:
    """Exit 0; the three syncs' summaries; ls lists every addon; the rolled-back catalog equals the source."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Traceback" not in out + proc.stderr
    count = len(example_names())
    summaries = [tuple(int(n) for n in m.groups()) for m in SUMMARY.finditer(out)]
    assert summaries == [(count, 0, 0), (1, count - 1, 0), (0, count, 0)], summaries
    assert "Byte-identical:" in out
    assert "$ kaddons ls --addons-dir catalog" in out
    listings = out.split("$ kaddons ls --addons-dir catalog\n")[1:]
    assert len(listings) == 3
    for listing in listings:  # the table: a header, one row per implementation, then a blank line
        rows = {line.split()[0] for line in listing.split("\n\n")[0].splitlines()[1:]}
        assert {a.name for a in discover(EXAMPLES).addons} <= rows, listing
    assert "$ KADDONS_CHECK_DIGEST='$true' kaddons sync" in out
    assert re.search(r"\$ rm addons-v2/\S+", out) and " is gone from catalog/" in out
    assert "$ kaddons rollback " in out and "Demo complete." in out
    # The stacks part: one commit on the Git remote, and none for the second apply of the same document.
    # 9 rendered files, the record of what built them, the document and its values file
    assert re.search(r"cluster demo: pushed [0-9a-f]{12} to origin/main \(12 file\(s\) changed, argocd\)", out)
    assert "cluster demo: origin/main is up to date (argocd); no commit" in out
    assert "clusters/demo/argocd/apps/addon-hello.yaml" in out and "Stacks demo complete." in out
    catalog = work / "catalog"  # after the rollback: the 1.0.0 content, every source file
    for addon in discover(EXAMPLES).addons:
        for impl in addon.implementations:
            target = catalog / impl.directory.relative_to(EXAMPLES)
            for source in impl.directory.rglob("*"):
                if source.is_file():
                    assert (target / source.relative_to(impl.directory)).read_bytes() == source.read_bytes()
            assert digest_path(catalog, impl.export_name).is_file()


def test_demo_against_the_real_registry(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    proc = run_demo("--workdir", str(work), cwd=tmp_path)
    assert "Store: Debian docker-registry" in proc.stdout, proc.stdout + proc.stderr
    assert "$ kaddons push v1/" in proc.stdout and "--tag v1.0.1" in proc.stdout
    assert_demo_ran(proc, work)


def test_demo_with_the_layout_store_needs_no_registry(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    no_tools = tmp_path / "empty-path"
    no_tools.mkdir()  # docker-registry cannot be found: the layout store must not need it
    proc = run_demo(env={"KADDONS_DEMO_STORE": "layout", "KADDONS_DEMO_DIR": str(work), "PATH": str(no_tools)},
                    cwd=tmp_path)
    assert "Store: embedded OCI image layout oci-layout:store (requested)" in proc.stdout, proc.stdout + proc.stderr
    assert "$ kaddons copy oci-archive:v1/" in proc.stdout and "oci-layout:store:v1.0.1" in proc.stdout
    assert "--registry oci-layout:store" in proc.stdout and "kaddons push" not in proc.stdout
    assert_demo_ran(proc, work)


def test_demo_fails_with_a_nonzero_exit_and_one_line(tmp_path: Path) -> None:
    no_tools = tmp_path / "empty-path"
    no_tools.mkdir()
    proc = run_demo("--store", "registry", "--workdir", str(tmp_path / "demo"), env={"PATH": str(no_tools)},
                    cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "demo failed: docker-registry is not installed: apt-get install -y docker-registry (or: make test)"]


def test_demo_never_empties_a_directory_it_did_not_make(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    proc = run_demo("--store", "layout", "--workdir", str(mine), cwd=tmp_path)
    assert proc.returncode == 1 and "is not empty and not a previous demo's directory" in proc.stderr
    assert (mine / "notes.txt").read_text() == "keep me"
