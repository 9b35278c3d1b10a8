"""`make demo`: the main job end to end, on the bundled example addons, through the real ``kaddons`` CLI.

1. ``kaddons export`` the example addons (``examples/addons``) into a K2s-compatible ``.oci.tar``,
   twice: byte-identical. Images and packages are left out (this machine may reach no registry).
2. Publish every addon to a local store as ``addons/<export name>:v<version>``: Debian's ``docker-registry``
   when installed (``kaddons push``), else an OCI image layout directory (``kaddons copy`` of each
   addon into ``oci-layout:store``, which ``kaddons sync --registry`` accepts as well).
3. ``kaddons sync`` into an empty catalog and ``kaddons ls`` it: every addon, the source's files.
4. Remove a file from one addon, publish it as the next patch version, sync: only that addon is synced,
   the file is gone.
5. Sync again, with ``KADDONS_CHECK_DIGEST=$true`` as a K2s ConfigMap sets it: nothing is downloaded.
6. ``kaddons rollback`` that addon: the previous version, file included, is back.
7. Stacks (``scripts/demo_stacks.py``): a cluster document with a Namespace manifest and an add-on (a chart made
   with the Helm SDK, in a Helm repository on 127.0.0.1) is validated, preflighted, applied to a local Git
   remote (one commit, the Argo CD tree), and applied again (no commit).

Every command is echoed as a user would type it, run in the working directory, and its output shown.
Any failure exits non-zero. Options (or environment): ``--store auto|registry|layout``
(``KADDONS_DEMO_STORE``; ``auto``: the registry when ``docker-registry`` is installed) and ``--workdir DIR``
(``KADDONS_DEMO_DIR``; default ``.demo`` in the repository; emptied first, if a demo made it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the registry runner is shared with the tests

from scripts.demo_stacks import run_stacks  # noqa: E402

from tests.helpers.registry import run_registry  # noqa: E402

ADDONS = ROOT / "examples" / "addons"
EXPORT_FLAGS = ("--omit-images", "--omit-packages")
K2S_VERSION = "1.0.0"  # vnd.k2s.version and the archive name; each addon's tag is v<its version>
MARKER = ".kaddons-demo"  # marks a working directory this demo may empty again
SUMMARY = re.compile(r"Synced: (\d+), Skipped \(unchanged\): (\d+), Failed: (\d+)")


class DemoError(Exception):
    """A step did not give what the demo expects."""


def kaddons_command() -> list[str]:
    """The installed ``kaddons`` console script next to this Python (``.venv/bin/kaddons``), else ``-m kaddons``."""
    script = Path(sys.executable).with_name("kaddons")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "kaddons"]


@dataclass
class Demo:
    """The working directory, where every command runs, and how to publish and sync (``store``)."""

    work: Path
    store: str  # "registry" or "layout"
    why: str = ""  # why this store: "requested", or why not the registry
    source: str = ""  # what kaddons sync --registry gets
    host: str = ""  # the registry's HOST:PORT

    def rel(self, path: Path) -> str:
        """``path`` as the commands name it: relative to the working directory, or absolute when far from it."""
        relative = os.path.relpath(self.work / path, self.work)
        return str((self.work / path).resolve()) if relative.startswith(f"..{os.sep}..") else relative

    def run(self, *args: str, env: dict[str, str] | None = None, quiet: bool = False) -> str:
        """Echo ``kaddons ARGS``, run it in the working directory, show its output; its stdout.

        ``quiet``: the output is data for the demo (JSON), not shown. Exits with the command's code on failure.
        """
        shown = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        print(f"\n$ {shown + ' ' if shown else ''}kaddons {shlex.join(args)}", flush=True)
        proc = subprocess.run([*kaddons_command(), *args], cwd=self.work, text=True, capture_output=True,
                              env={**os.environ, **(env or {})})
        if not quiet or proc.returncode != 0:
            sys.stdout.write(proc.stdout)
        sys.stdout.write(proc.stderr)
        sys.stdout.flush()
        if proc.returncode != 0:
            print(f"demo failed: kaddons {args[0]} exited with {proc.returncode}", file=sys.stderr)
            raise SystemExit(proc.returncode)
        return proc.stdout

    def shell(self, text: str) -> None:
        """Echo a shell step the demo does itself (copy, remove)."""
        print(f"\n$ {text}", flush=True)

    def export(self, addons_dir: Path, out: str, *names: str) -> dict[str, Any]:
        """``kaddons export`` of ``names`` (none: all) into ``out`` (created); the parsed ``-o json`` answer."""
        (self.work / out).mkdir()
        text = self.run("export", *names, "--addons-dir", self.rel(addons_dir), *EXPORT_FLAGS, "--k2s-version",
                        K2S_VERSION, "-d", out, "-o", "json", quiet=True)
        exported: dict[str, Any] = json.loads(text)
        exported["path"] = str(self.work / exported["path"])  # printed relative to the working directory
        for impl in exported["implementations"]:
            print(f"  {impl['exportName']} {impl['tag']} {impl['digest']} layers: {', '.join(impl['layers'])}")
        return exported

    def publish(self, exported: dict[str, Any], tag: str | None = None) -> None:
        """Every addon of an export into the store, as ``addons/<export name>:<tag>`` (default ``v<version>``)."""
        archive = self.rel(Path(exported["path"]))
        if self.store == "registry":
            self.run("push", archive, self.host, "--insecure", *(["--tag", tag] if tag else []))
            return
        for impl in exported["implementations"]:
            # By digest: the addons of an archive share their tag, and a layout's tags are global. Untagged,
            # an entry's tag is v<version> (its annotation); a given tag must belong to this addon alone.
            self.run("copy", f"oci-archive:{archive}@{impl['digest']}", f"oci-layout:store{':' + tag if tag else ''}")

    def sync(self, *, env: dict[str, str] | None = None) -> tuple[int, int, int]:
        """``kaddons sync`` from the store into ``catalog`` with digest checking; (synced, skipped, failed)."""
        flags = [] if env and "KADDONS_CHECK_DIGEST" in env else ["--check-digest"]
        insecure = ["--insecure"] if self.store == "registry" else []
        out = self.run("sync", "--registry", self.source, "--addons-dir", "catalog", *flags, *insecure, env=env)
        found = SUMMARY.search(out)
        if found is None:
            raise DemoError("kaddons sync printed no summary line")
        synced, skipped, failed = (int(n) for n in found.groups())
        return synced, skipped, failed

    def listing(self, impls: list[dict[str, Any]]) -> None:
        """``kaddons ls`` of the catalog; every addon of ``impls`` must be listed."""
        out = self.run("ls", "--addons-dir", "catalog")
        listed = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
        missing = sorted({impl["addon"] for impl in impls} - listed)
        expect(not missing, f"kaddons ls does not list {', '.join(missing)}")


def expect(condition: bool, message: str) -> None:
    """Fail the demo with ``message`` unless ``condition``."""
    if not condition:
        raise DemoError(message)


def files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder``: relative POSIX path -> content."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def folder_of(addons_dir: Path, impl: dict[str, Any]) -> Path:
    """Where an implementation lives in an addons directory: ``NAME`` (single implementation) or ``NAME/IMPL``."""
    folder = addons_dir / impl["addon"]
    return folder if impl["implementation"] == impl["addon"] else folder / impl["implementation"]


def check_catalog(impls: list[dict[str, Any]], addons_dir: Path, catalog: Path) -> None:
    """Every implementation of ``impls`` is in ``catalog`` with each file of its folder in ``addons_dir``."""
    for impl in impls:
        source, present = files(folder_of(addons_dir, impl)), files(folder_of(catalog, impl))
        expect(bool(present), f"{impl['exportName']} is missing from the catalog")
        differ = sorted(path for path, data in source.items() if present.get(path) != data)
        expect(not differ, f"{impl['exportName']}: catalog files differ from the source: {', '.join(differ)}")


@contextlib.contextmanager
def store(demo: Demo) -> Iterator[None]:
    """Start the store the demo publishes to; say which."""
    if demo.store == "registry":
        with run_registry() as registry:  # storage in a temporary directory the registry's user can reach
            demo.host, demo.source = registry.host, f"oci://{registry.host}"
            print(f"\nStore: Debian docker-registry (CNCF distribution) at {registry.host}")
            yield
        return
    demo.source = "oci-layout:store"
    print(f"\nStore: embedded OCI image layout {demo.source} ({demo.why}); kaddons sync reads it as --registry")
    yield


def next_tag(version: str) -> str:
    """The tag of the next patch version (``1.0.0`` -> ``v1.0.1``), which the k2s tag policy prefers;
    ``latest`` (preferred over any version) when ``version`` is not ``X.Y.Z``."""
    found = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    return f"v{found[1]}.{found[2]}.{int(found[3]) + 1}" if found else "latest"


def heading(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the main job against a local store and print the catalog.")
    parser.add_argument("--store", choices=("auto", "registry", "layout"),
                        default=os.environ.get("KADDONS_DEMO_STORE", "auto"),
                        help="registry: Debian docker-registry; layout: an OCI layout directory; auto: registry "
                             "when installed (env KADDONS_DEMO_STORE)")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("KADDONS_DEMO_DIR", ROOT / ".demo")),
                        help="working directory, emptied first (env KADDONS_DEMO_DIR; default .demo)")
    args = parser.parse_args(argv)
    kind, why = args.store, "requested"
    if kind == "auto":
        kind, why = ("registry", "installed") if shutil.which("docker-registry") else (
            "layout", "docker-registry is not installed")
    work = args.workdir.resolve()
    ours = work == ROOT / ".demo" or (work / MARKER).is_file()
    if work.is_dir() and any(work.iterdir()) and not ours:
        print(f"demo failed: {work} is not empty and not a previous demo's directory: pass a new --workdir",
              file=sys.stderr)
        raise SystemExit(1)
    shutil.rmtree(work, ignore_errors=True)
    (work / "catalog").mkdir(parents=True)
    (work / MARKER).touch()
    demo = Demo(work, kind, why)
    print(f"Working directory: {work} (every command runs there)")
    try:
        run_demo(demo)
    except (DemoError, RuntimeError, TimeoutError, OSError) as err:
        first, *details = str(err).strip().splitlines() or [type(err).__name__]
        print(f"demo failed: {first}", *(f"  {line}" for line in details), sep="\n", file=sys.stderr)
        raise SystemExit(1) from None


def run_demo(demo: Demo) -> None:
    heading("Export the example addons, twice: the same bytes")
    v1 = demo.export(ADDONS, "v1")
    again = demo.export(ADDONS, "v1-again")
    archive = Path(v1["path"])
    expect(archive.read_bytes() == Path(again["path"]).read_bytes(), "two exports of the same addons differ")
    print(f"Byte-identical: {demo.rel(archive)} and {demo.rel(Path(again['path']))}")
    impls: list[dict[str, Any]] = v1["implementations"]
    count = len(impls)
    catalog = demo.work / "catalog"

    with store(demo):
        heading(f"Publish every addon as addons/<name>:{impls[0]['tag']}")
        demo.publish(v1)

        heading("Sync into an empty catalog")
        counts = demo.sync()
        expect(counts == (count, 0, 0), f"first sync: expected Synced: {count}, got {counts}")
        demo.listing(impls)
        check_catalog(impls, ADDONS, catalog)
        print(f"\nCatalog check: {count} addon(s), each with every file of its source folder")

        changed = min(impls, key=lambda impl: impl["exportName"])
        name, folder = changed["exportName"], folder_of(ADDONS, changed)
        scripts = sorted(p.name for p in folder.glob("*.ps1") if p.name not in ("Enable.ps1", "Disable.ps1"))
        victim = scripts[0] if scripts else sorted(files(folder))[0]
        old_tag, new_tag = changed["tag"], next_tag(changed["version"])
        heading(f"Publish {name}:{new_tag} without {victim} and sync: only {name} is synced")
        v2_addons = demo.work / "addons-v2"
        demo.shell(f"cp -r {shlex.quote(demo.rel(ADDONS))} addons-v2")
        shutil.copytree(ADDONS, v2_addons)
        removed = folder_of(v2_addons, changed) / victim
        demo.shell(f"rm {shlex.quote(demo.rel(removed))}")
        removed.unlink()
        selection = [changed["addon"]] + ([changed["implementation"]] if folder != ADDONS / changed["addon"] else [])
        demo.publish(demo.export(v2_addons, "v2", *selection), tag=new_tag)
        counts = demo.sync()
        expect(counts == (1, count - 1, 0), f"second sync: expected only {name} synced, got {counts}")
        installed = folder_of(catalog, changed)
        expect(not (installed / victim).exists(), f"{victim} is still in {demo.rel(installed)}")
        demo.listing(impls)
        check_catalog(impls, v2_addons, catalog)
        others = f"; the other {count - 1} addon(s) were skipped (unchanged)" if count > 1 else ""
        print(f"\n{victim} is gone from {demo.rel(installed)}{others}")

        heading("Sync again with nothing new, KADDONS_CHECK_DIGEST from the environment as K2s sets it")
        counts = demo.sync(env={"KADDONS_CHECK_DIGEST": "$true"})
        expect(counts == (0, count, 0), f"third sync: expected every addon skipped, got {counts}")
        print(f"\nSynced: 0, Skipped (unchanged): {count}: every digest is the recorded one, no blob downloaded")

    heading(f"Roll {name} back to the version the sync replaced")
    demo.run("rollback", name, "--addons-dir", "catalog")
    demo.listing(impls)
    check_catalog(impls, ADDONS, catalog)
    expect((installed / victim).is_file(), f"{victim} is not back after the rollback")
    print(f"\n{victim} is back in {demo.rel(installed)}: the catalog holds {old_tag} again (the next sync would "
          f"bring {new_tag} back). Demo complete.")

    run_stacks(demo, expect, heading)


if __name__ == "__main__":
    main()
