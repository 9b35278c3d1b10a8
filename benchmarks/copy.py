"""Copy benchmark: kaddons against skopeo, in one run, on the same real registry build.

Builds an OCI layout holding an index with two image manifests and 512 MiB of random layers, then
copies it layout -> registry and registry -> layout, once with ``kaddons copy`` and once with
``skopeo copy --all``, each against a fresh registry process so neither finds the other's blobs.
Prints each wall time, the ratio skopeo / kaddons (>= 1.0: kaddons is at least as fast) and the
peak RSS of the kaddons process (goal: below 150 MiB: blobs are streamed, never held in memory).

Run: ``make bench`` (or ``.venv/bin/python benchmarks/copy.py [--mib 512] [--rounds 2]``).
"""

from __future__ import annotations

import os
import sys

# This file is named copy.py: drop its folder from the import path so the standard library's
# ``copy`` module (imported by dataclasses) is not shadowed by it.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import io
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._blobs import push_random_blob  # noqa: E402

from kaddons.oci import mediatypes as mt  # noqa: E402
from kaddons.oci.layout import LayoutStore  # noqa: E402
from kaddons.oci.models import Descriptor, canonical_json  # noqa: E402
from tests.helpers.registry import run_registry  # noqa: E402

LAYER_TYPE = "application/vnd.k2s.addon.images-linux.v1.tar"
CHUNK = 1 << 20


def write_random_blob(store: LayoutStore, size: int) -> Descriptor:
    """Stream ``size`` random bytes into a blob of ``store`` without holding them in memory."""
    return push_random_blob(store, store.root / f".bench-{os.getpid()}", size, LAYER_TYPE)


def push_json(store: LayoutStore, doc: dict[str, object], media_type: str, **fields: object) -> Descriptor:
    data = canonical_json(doc)
    desc = Descriptor.for_bytes(data, media_type, **fields)
    store.push(desc, io.BytesIO(data))
    return desc


def build_artifact(path: Path, total_mib: int) -> None:
    store = LayoutStore(path, create=True)
    per_layer = total_mib * (1 << 20) // 8
    manifests = []
    for variant in ("linux", "windows"):
        config = push_json(store, {"variant": variant}, "application/vnd.k2s.addon.config.v1+json")
        layers = [write_random_blob(store, per_layer) for _ in range(4)]
        manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": "application/vnd.k2s.addon.v1",
                    "config": config.to_json_dict(), "layers": [d.to_json_dict() for d in layers]}
        manifests.append(push_json(store, manifest, mt.OCI_MANIFEST, artifactType="application/vnd.k2s.addon.v1"))
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [d.to_json_dict() for d in manifests]}
    store.tag(push_json(store, index, mt.OCI_INDEX), "1.0.0")


def timed(cmd: list[str]) -> tuple[float, int]:
    """Run ``cmd``; return (wall seconds, peak RSS in KiB of that process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        assert proc.stderr is not None
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss


def kaddons(*args: str) -> list[str]:
    return [sys.executable, "-m", "kaddons", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=512, help="total size of the layers (MiB)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per tool and direction; the best counts")
    args = parser.parse_args()
    if shutil.which("skopeo") is None:
        raise SystemExit("skopeo is not installed: apt-get install -y skopeo (make bench installs it)")
    work = Path(tempfile.mkdtemp(prefix="kaddons-bench-", dir=os.environ.get("TMPDIR")))
    try:
        source = work / "source"
        print(f"Building an artifact of {args.mib} MiB in {source} ...", flush=True)
        build_artifact(source, args.mib)
        results: dict[tuple[str, str], float] = {}
        peak_rss = 0
        for round_ in range(args.rounds):
            for tool in ("kaddons", "skopeo"):
                with run_registry() as registry:
                    ref = f"{registry.host}/bench/artifact:1.0.0"
                    back = work / f"back-{tool}-{round_}"
                    if tool == "kaddons":
                        push_cmd = kaddons("copy", f"oci-layout:{source}:1.0.0", ref, "--insecure")
                        pull_cmd = kaddons("copy", ref, f"oci-layout:{back}:1.0.0", "--insecure")
                    else:
                        push_cmd = ["skopeo", "copy", "--all", "--dest-tls-verify=false",
                                    f"oci:{source}:1.0.0", f"docker://{ref}"]
                        pull_cmd = ["skopeo", "copy", "--all", "--src-tls-verify=false",
                                    f"docker://{ref}", f"oci:{back}:1.0.0"]
                    push_s, push_rss = timed(push_cmd)
                    pull_s, pull_rss = timed(pull_cmd)
                    shutil.rmtree(back, ignore_errors=True)
                for direction, seconds in (("layout -> registry", push_s), ("registry -> layout", pull_s)):
                    key = (tool, direction)
                    results[key] = min(results.get(key, float("inf")), seconds)
                if tool == "kaddons":
                    peak_rss = max(peak_rss, push_rss, pull_rss)
                print(f"  round {round_ + 1}: {tool:8s} push {push_s:6.2f} s  pull {pull_s:6.2f} s", flush=True)
        print(f"\nBest of {args.rounds} rounds, {args.mib} MiB of layers:")
        for direction in ("layout -> registry", "registry -> layout"):
            ours, theirs = results[("kaddons", direction)], results[("skopeo", direction)]
            print(f"  {direction}: kaddons {ours:6.2f} s, skopeo {theirs:6.2f} s, "
                  f"ratio skopeo/kaddons {theirs / ours:4.2f}")
        print(f"  kaddons peak RSS: {peak_rss / 1024:.0f} MiB (goal < 150 MiB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
