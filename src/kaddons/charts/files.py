"""The documents a user reads before choosing a chart version: ``Chart.yaml``, the default ``values.yaml`` (as
written, comments kept) and ``README.md``, read from a chart archive (a gzipped tar whose members all sit in
one top folder, the chart's name; Helm's ``helm package`` layout).

The archive is read in order, only regular files named exactly ``<top>/Chart.yaml``, ``<top>/values.yaml``
and ``<top>/README.md`` are read, each up to :data:`MAX_DOCUMENT` bytes, and nothing is written.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

from kaddons.errors import ContentError

__all__ = ["MAX_DOCUMENT", "ChartDocuments", "chart_documents"]

MAX_DOCUMENT = 1 << 20
"""Bytes of one document read (1 MiB); a longer one is cut there and marked ``truncated``."""

_NAMES = {"Chart.yaml": "chart_yaml", "values.yaml": "values", "README.md": "readme"}


@dataclass(frozen=True)
class ChartDocuments:
    """``chart_yaml``, ``values`` and ``readme`` as text (``None``: not in the archive); ``truncated`` names the
    ones cut at :data:`MAX_DOCUMENT`."""

    chart_yaml: str | None
    values: str | None
    readme: str | None
    truncated: tuple[str, ...] = ()


def chart_documents(archive: Path, what: str) -> ChartDocuments:
    """The documents of chart archive ``archive`` (``what`` names it in errors). Raises ContentError when it is
    not a gzipped tar of one top folder."""
    found: dict[str, str] = {}
    truncated: list[str] = []
    top: str | None = None
    try:
        with tarfile.open(archive, mode="r:gz") as tar:  # not "r|gz": it refuses the gzip header Helm writes
            for member in tar:
                first, _, rest = member.name.lstrip("./").partition("/")
                top = top or first
                if first != top:
                    raise ContentError(f"{what}: not a chart archive (members outside its folder {top!r})")
                field = _NAMES.get(rest)
                if field is None or field in found or not member.isfile():
                    continue
                stream = tar.extractfile(member)
                if stream is None:
                    continue
                data = stream.read(MAX_DOCUMENT + 1)
                if len(data) > MAX_DOCUMENT:
                    data = data[:MAX_DOCUMENT]
                    truncated.append(rest)
                found[field] = data.decode("utf-8", errors="replace")
                if len(found) == len(_NAMES):
                    break
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ContentError(f"{what}: not a readable chart archive ({' '.join(str(err).split())})") from None
    return ChartDocuments(found.get("chart_yaml"), found.get("values"), found.get("readme"), tuple(truncated))
