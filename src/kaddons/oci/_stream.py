"""A base for read-only streams that hand on chunks instead of filling caller buffers."""

from __future__ import annotations

import io

CHUNK = 1 << 20


class ChunkStream(io.RawIOBase):
    """A raw stream defined by ``read(size)``, which returns at most ``size`` bytes without copying.

    Subclasses implement :meth:`read`; ``readall`` and ``readinto`` are derived from it, so the
    io machinery (``with``, ``shutil.copyfileobj``, ``BufferedReader``) works unchanged.
    """

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def readall(self) -> bytes:
        chunks = []
        while data := self.read(CHUNK):
            chunks.append(data)
        return b"".join(chunks)

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)
