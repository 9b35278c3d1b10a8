"""`make demo`: export an addon, publish it to a real local OCI registry, and import it elsewhere.

1. Start Debian's docker-registry on a free 127.0.0.1 port (storage under .demo/).
2. ``kaddons export`` the bundled example addons (``examples/addons``) into a K2s-compatible
   ``.oci.tar``: deterministic, so exporting twice gives the same bytes. Images and packages are
   left out (``--omit-images --omit-packages``): this machine reaches no public registry.
3. ``kaddons push`` every addon of the archive to ``addons/<export name>:<tag>``; list the
   repositories and tags; copy the artifact back from the registry into an ``.oci.tar``.
4. ``kaddons import`` that archive into an empty addons directory (a node's catalog) and
   ``kaddons ls`` it; check the digests and files are the same everywhere.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the registry runner is shared with the tests

from tests.helpers.registry import run_registry  # noqa: E402

DEMO = ROOT / ".demo"
ADDONS = ROOT / "examples" / "addons"


def run(*args: str) -> str:
    """Run kaddons, echo the command and its output (JSON output is parsed by the caller, not echoed)."""
    print(f"$ kaddons {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "kaddons", *args], text=True, capture_output=True)
    if "json" not in args:
        sys.stdout.write(proc.stdout)
    sys.stdout.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(proc.returncode)
    return proc.stdout


def fail(message: str) -> None:
    print(f"demo failed: {message}", file=sys.stderr)
    raise SystemExit(1)


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    for folder in ("out", "again", "registry", "catalog"):
        (DEMO / folder).mkdir(parents=True)
    common = ["--addons-dir", str(ADDONS), "--omit-images", "--omit-packages", "--k2s-version", "1.0.0"]
    exported = json.loads(run("export", *common, "-d", str(DEMO / "out"), "-o", "json"))
    again = json.loads(run("export", *common, "-d", str(DEMO / "again"), "-o", "json"))
    archive = Path(exported["path"])
    if archive.read_bytes() != Path(again["path"]).read_bytes():
        fail("two exports of the same addons differ")
    print(f"Exported twice, byte-identical: {archive.relative_to(ROOT)}\n")
    with run_registry(workdir=DEMO / "registry") as registry:
        host = registry.host
        print(f"Registry running at {host}\n")
        pushed = json.loads(run("push", str(archive), host, "--insecure", "-o", "json"))
        run("repo", "ls", host, "--insecure")
        first = pushed[0]
        run("repo", "tags", first["reference"].rsplit(":", 1)[0], "--insecure")
        back = DEMO / "from-registry.oci.tar"
        run("copy", first["reference"], f"oci-archive:{back}", "--insecure")
    run("import", str(back), "--addons-dir", str(DEMO / "catalog"))
    run("ls", "--addons-dir", str(DEMO / "catalog"))
    digests = {e["digest"] for e in exported["implementations"]} | {p["digest"] for p in pushed}
    name = first["exportName"]
    source, target = ADDONS / name, DEMO / "catalog" / name
    diff = filecmp.dircmp(source / "manifests", target / "manifests")
    if len(digests) != len(exported["implementations"]) or diff.left_only or diff.diff_files:
        fail("digests or files differ between the export, the registry and the catalog")
    print(f"\nDigest in the archive, the registry and the catalog: {first['digest']} (equal); "
          f"{target.relative_to(ROOT)} holds the addon's manifests.")


if __name__ == "__main__":
    main()
