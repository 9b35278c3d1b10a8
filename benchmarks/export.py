"""Export benchmark: ``kaddons export`` of an addon with 1 GiB of images, against ``tar | sha256sum``.

Pushes four images of random layers (1 GiB in all by default) to a real local registry, makes an
addon (the bundled ``metrics`` example plus a manifest naming the four images), and pulls them once
into an image cache (``kaddons export --image-cache``). Then, in the same run and on the same files:

* ``kaddons export metrics -d OUT --image-cache CACHE``: reads the addon and the cached image
  archives, tars, hashes and writes the K2s ``.oci.tar`` (the cache costs one HEAD per image);
* the baseline ``tar -cf - ADDON CACHE | sha256sum``: read, tar and hash, without writing anything.

Prints the best of ``--rounds`` wall times, the ratio kaddons / baseline (goal: at most 1.3) and the
peak RSS of the kaddons process (goal: below 150 MiB; image archives are copied by the kernel).

Run: ``make bench`` (or ``.venv/bin/python benchmarks/export.py [--mib 1024] [--rounds 3]``).
"""

from __future__ import annotations

import os
import sys

# benchmarks/copy.py would shadow the standard library's ``copy`` module: drop this folder from the path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import io
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._blobs import push_random_blob  # noqa: E402

from kaddons.oci import mediatypes as mt  # noqa: E402
from kaddons.oci.models import Descriptor, canonical_json  # noqa: E402
from kaddons.oci.registry import Registry, RegistryOptions  # noqa: E402
from tests.helpers.registry import run_registry  # noqa: E402

CHUNK = 1 << 20
IMAGES = 4


def push_random_image(client: Registry, repository: str, size: int, scratch: Path) -> None:
    """Push an image with one random layer of ``size`` bytes, streamed from a scratch file."""
    repo = client.repository(repository)
    layer = push_random_blob(repo, scratch, size, mt.OCI_LAYER)
    config = canonical_json({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [layer.digest]}})
    config_desc = Descriptor.for_bytes(config, mt.OCI_CONFIG)
    repo.push(config_desc, io.BytesIO(config))
    manifest = canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config_desc.to_json_dict(),
                               "layers": [layer.to_json_dict()]})
    manifest_desc = Descriptor.for_bytes(manifest, mt.OCI_MANIFEST)
    repo.push(manifest_desc, io.BytesIO(manifest))
    repo.tag(manifest_desc, "1.0")


def timed(command: list[str], **kwargs: object) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          **kwargs)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024, help="total image size in MiB (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per tool; the best is kept")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kaddons-bench-export-"))
    work.chmod(0o755)  # the registry runs as nobody when started as root
    try:
        (work / "registry").mkdir()
        with run_registry(workdir=work / "registry") as registry:
            host = registry.host
            print(f"Pushing {IMAGES} images, {args.mib} MiB in all, to {host} ...", flush=True)
            with Registry(host, RegistryOptions(insecure=True)) as client:
                for i in range(IMAGES):
                    push_random_image(client, f"bench/image{i}", args.mib * CHUNK // IMAGES, work / "scratch")
            addons = work / "addons"
            addon = shutil.copytree(ROOT / "examples/addons/metrics", addons / "metrics")
            # Only the benchmark's images: no public registry is reachable from here.
            (addon / "manifests/metrics-server.yaml").unlink()
            manifest = addon / "addon.manifest.yaml"
            text = manifest.read_text()
            for line in ("            - shsk2s.azurecr.io/prometheus-community/windows-exporter\n",
                         "            - ../common/manifests/windows-exporter/daemonset.yaml\n"):
                text = text.replace(line, "")
            manifest.write_text(text.replace("additionalImages:\n", "additionalImages: []\n")
                                .replace("additionalImagesFiles:\n", "additionalImagesFiles: []\n"))
            lines = "".join(f"        image: {host}/bench/image{i}:1.0\n" for i in range(IMAGES))
            (addon / "manifests/bench-images.yaml").write_text(f"spec:\n  containers:\n{lines}")
            cache = work / "cache"
            out = work / "out"
            out.mkdir()
            export = [sys.executable, "-m", "kaddons", "export", "metrics", "--addons-dir", str(addons),
                      "-d", str(out), "--omit-packages", "--image-cache", str(cache),
                      "--insecure-registry", host, "--k2s-version", "1.0.0"]
            env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}
            print("Filling the image cache (first export) ...", flush=True)
            timed(export, env=env)
            archive = next(out.iterdir())
            baseline = ["bash", "-c", f"tar -cf - -C {work} addons cache | sha256sum"]
            kaddons_times, tar_times = [], []
            for _ in range(args.rounds):
                archive.unlink()
                kaddons_times.append(timed(export, env=env))
                tar_times.append(timed(baseline))
            rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            size_mib = archive.stat().st_size / CHUNK
            best_k, best_t = min(kaddons_times), min(tar_times)
            print(f"\nexport of {size_mib:.0f} MiB ({IMAGES} image archives cached), best of {args.rounds}:")
            print(f"  kaddons export               {best_k:6.2f} s")
            print(f"  tar -cf - | sha256sum        {best_t:6.2f} s")
            print(f"  ratio kaddons / baseline     {best_k / best_t:6.2f}  (goal <= 1.3)")
            print(f"  peak RSS of kaddons          {rss_mib:6.0f} MiB (goal < 150)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
