"""Random blobs for the benchmarks: generated into a scratch file, hashed on the way, pushed to a store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from kaddons.oci.models import Descriptor
from kaddons.oci.store import Store

CHUNK = 1 << 20


def push_random_blob(store: Store, scratch: Path, size: int, media_type: str) -> Descriptor:
    """Push ``size`` random (incompressible) bytes to ``store`` via ``scratch``, never holding them in memory."""
    digest = hashlib.sha256()
    with scratch.open("wb") as out:
        left = size
        while left:
            data = os.urandom(min(CHUNK, left))
            digest.update(data)
            out.write(data)
            left -= len(data)
    desc = Descriptor(mediaType=media_type, digest=f"sha256:{digest.hexdigest()}", size=size)
    with scratch.open("rb") as stream:
        store.push(desc, stream)
    scratch.unlink()
    return desc
