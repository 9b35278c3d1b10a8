"""`make demo`: move an addon artifact through a real local OCI registry and show it arrived intact.

1. Start Debian's docker-registry on a free 127.0.0.1 port (storage under .demo/).
2. Pack the bundled example addon ``examples/addons/metrics`` into an OCI image layout: an index
   with one image manifest, its manifests and scripts as two gzip layers (a preview of
   ``kaddons export``, which the addon-format issue brings).
3. ``kaddons copy`` it to ``addons/metrics:<version>``, list repositories and tags, fetch the
   manifest, copy it back into an ``.oci.tar`` and then a layout, and check every digest is equal.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the registry runner is shared with the tests

from kaddons.oci import mediatypes as mt  # noqa: E402
from kaddons.oci.layout import LayoutStore  # noqa: E402
from kaddons.oci.models import Descriptor, canonical_json  # noqa: E402
from tests.helpers.registry import run_registry  # noqa: E402

DEMO = ROOT / ".demo"
ADDON = ROOT / "examples" / "addons" / "metrics"
ARTIFACT_TYPE = "application/vnd.k2s.addon.v1"


def run(*args: str) -> str:
    print(f"$ kaddons {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "kaddons", *args], text=True, capture_output=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    return proc.stdout


def targz(files: list[Path], base: Path) -> bytes:
    """A deterministic tar+gzip of ``files`` (sorted, mtime 0, root-owned, no gzip name/time)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path.relative_to(base).as_posix())
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def push(store: LayoutStore, data: bytes, media_type: str, **fields: object) -> Descriptor:
    desc = Descriptor.for_bytes(data, media_type, **fields)
    store.push(desc, io.BytesIO(data))
    return desc


def pack(layout_dir: Path, version: str) -> Descriptor:
    store = LayoutStore(layout_dir, create=True)
    config = push(store, canonical_json({"name": "metrics", "version": version}),
                  "application/vnd.k2s.addon.config.v1+json")
    layers = [
        push(store, targz(sorted((ADDON / "manifests").rglob("*.yaml")), ADDON),
             "application/vnd.k2s.addon.manifests.v1.tar+gzip",
             annotations={mt.ANNOTATION_TITLE: "manifests.tar.gz"}),
        push(store, targz(sorted(ADDON.glob("*.ps*1")), ADDON),
             "application/vnd.k2s.addon.scripts.v1.tar+gzip",
             annotations={mt.ANNOTATION_TITLE: "scripts.tar.gz"}),
    ]
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
                "config": config.to_json_dict(), "layers": [d.to_json_dict() for d in layers],
                "annotations": {"vnd.k2s.addon.name": "metrics", "org.opencontainers.image.version": version}}
    m = push(store, canonical_json(manifest), mt.OCI_MANIFEST, artifactType=ARTIFACT_TYPE)
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [m.to_json_dict()]}
    root = push(store, canonical_json(index), mt.OCI_INDEX)
    store.tag(root, version)
    return root


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    version = "0.1.0"
    print(f"Packing {ADDON.relative_to(ROOT)} into an OCI layout...")
    root = pack(DEMO / "layout", version)
    (DEMO / "registry").mkdir()
    with run_registry(workdir=DEMO / "registry") as registry:
        host = registry.host
        print(f"Registry running at {host}\n")
        run("copy", f"oci-layout:{DEMO / 'layout'}:{version}", f"{host}/addons/metrics:{version}", "--insecure")
        run("repo", "ls", host, "--insecure")
        run("repo", "tags", f"{host}/addons/metrics", "--insecure")
        manifest = json.loads(
            run("manifest", "fetch", f"{host}/addons/metrics:{version}", "--insecure", "--descriptor"))
        run("copy", f"{host}/addons/metrics:{version}", f"oci-archive:{DEMO / 'metrics.oci.tar'}", "--insecure")
        run("copy", f"oci-archive:{DEMO / 'metrics.oci.tar'}:{version}", f"oci-layout:{DEMO / 'back'}")
        back = LayoutStore(DEMO / "back")
        back.validate(deep=True)
        same = manifest["digest"] == root.digest == back.resolve(version).digest
        print(f"\nDigest in the layout, the registry and back again: {root.digest} "
              f"({'equal' if same else 'DIFFERENT'})")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
