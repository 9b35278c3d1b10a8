"""Which container images an addon implementation needs (spec §2.7 steps 1-4).

K2s's rules, read from ``Export.ps1``, with the deliberate differences noted:

1. Every ``*.yaml`` file under the implementation directory (recursively, exact and case-insensitive
   suffix ``.yaml``: no 8.3 short-name quirks, §8.30; visited in sorted path order, symbolic links to
   directories not followed). A file containing ``## exclude-from-export`` is skipped. A line that
   contains ``image:`` (any case) and is not a comment gives the text after ``image:`` and before any
   ``#``, quotes and spaces trimmed; a value without ``:`` is skipped (a nested ``image:`` mapping,
   an untagged name); a line containing ``#windows_image`` is a Windows image.
2. Each ``manifests/chart/*.tgz`` is rendered with the Helm SDK (``values.yaml`` next to it when
   present) and every rendered template but ``NOTES.txt`` is scanned as in 1. K2s scans only the
   rendered files named ``*.yaml``; kaddons scans every template ``helm template`` outputs.
3. ``offline_usage``: ``additionalImages`` of ``linux`` and ``windows``, and their
   ``additionalImagesFiles`` (relative to the implementation directory, may lead outside it, e.g.
   ``../common/...``). In those files a line ``image: <value>`` gives the value before ``#``, quotes
   trimmed (kaddons also accepts the list-item form ``- image: <value>``, which K2s's
   ``^\\s*image:`` misses), and ``--<flag>=<registry>/<repo>:<tag>`` gives ``<registry>/<repo>:<tag>``
   (the registry must look like one: contain ``.`` or ``:``, or be ``localhost``). Files listed here
   are read even when they contain ``## exclude-from-export``, as K2s does.
4. Per operating system: quotes and spaces trimmed, empty values dropped, de-duplicated in
   first-seen order, and an unversioned name (no tag, no digest) dropped when the same image also
   appears with a tag or digest (names compared after Docker normalisation, so ``nginx`` and
   ``docker.io/library/nginx:1.27`` are the same name). An unversioned image without a versioned
   variant is **kept** and will be pulled as ``:latest``, as ``docker pull`` would: K2s matches it
   against the node's images by name instead, which an exporter without a cluster cannot do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from kaddons.addons.catalog import Implementation
from kaddons.addons.manifest import MANIFEST_FILE
from kaddons.errors import AddonManifestError, ContentError, InvalidReferenceError, NotFoundError

from ._helm import NOTES_FILE, render_chart
from .reference import parse_image_reference

__all__ = ["EXCLUDE_MARKER", "WINDOWS_MARKER", "ImageSet", "discover_images", "scan_lines"]

EXCLUDE_MARKER = "## exclude-from-export"
"""A YAML file containing this literal is not scanned for images (§1.3, §7.5 item 11)."""
WINDOWS_MARKER = "#windows_image"
"""A line containing this (any case) names a Windows image."""
_IMAGE_KEY = "image:"
_CHART_DIR = Path("manifests", "chart")
_VALUES_FILE = "values.yaml"
_FILE_IMAGE_LINE = re.compile(r"^\s*(?:-\s+)?image:\s*(.+)$", re.IGNORECASE)
_FLAG_IMAGE = re.compile(
    r"--[A-Za-z0-9][A-Za-z0-9_.-]*=[\"']?"
    r"((?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::[0-9]+)?|[A-Za-z0-9-]+:[0-9]+|localhost)"
    r"/[a-z0-9._/-]+:[A-Za-z0-9_][A-Za-z0-9_.-]*)"
)
_QUOTES_AND_SPACES = " \t\r\n'\""
_T = TypeVar("_T")


@dataclass(frozen=True)
class ImageSet:
    """Image references of an implementation, de-duplicated, in first-seen order, as written."""

    linux: list[str] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.linux or self.windows)


def _clean(value: str) -> str:
    return value.strip(_QUOTES_AND_SPACES)


def scan_lines(lines: Iterable[str]) -> Iterator[tuple[str, bool]]:
    """Step 1's line rule: ``(image, windows)`` for each image line of a YAML text.

    The exclude marker is not checked here (it applies to whole files).
    """
    for line in lines:
        lowered = line.lower()
        at = lowered.find(_IMAGE_KEY)
        if at < 0 or line.lstrip().startswith("#"):
            continue
        value = _clean(line[at + len(_IMAGE_KEY):].split("#", 1)[0])
        if ":" in value:
            yield value, WINDOWS_MARKER in lowered


def _scan_text(lines: Iterable[str]) -> list[tuple[str, bool]]:
    """Step 1 for one file: its images, or nothing when it carries the exclude marker."""
    found: list[tuple[str, bool]] = []
    for line in lines:
        if EXCLUDE_MARKER in line:
            return []
        found.extend(scan_lines((line,)))
    return found


def _read(path: Path, scan: Callable[[Iterable[str]], list[_T]]) -> list[_T]:
    """``scan`` over the lines of the text file ``path`` (UTF-8, BOM tolerated, bad bytes replaced)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as text:
            return scan(text)
    except OSError as err:
        raise ContentError(f"{path}: cannot read: {err.strerror or err}") from None


def _yaml_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found.extend(Path(folder, name) for name in files if name.lower().endswith(".yaml"))
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def _charts(impl_dir: Path) -> list[Path]:
    chart_dir = impl_dir / _CHART_DIR
    if not chart_dir.is_dir():
        return []
    return sorted(p for p in chart_dir.iterdir() if p.name.lower().endswith(".tgz") and p.is_file())


def _from_charts(impl_dir: Path) -> list[tuple[str, bool]]:
    charts = _charts(impl_dir)
    values = impl_dir / _CHART_DIR / _VALUES_FILE
    found: list[tuple[str, bool]] = []
    for chart in charts:
        rendered = render_chart(chart, values if values.is_file() else None)
        for template in sorted(rendered):
            if template.rsplit("/", 1)[-1] != NOTES_FILE:
                found.extend(_scan_text(rendered[template].splitlines()))
    return found


def _file_images(lines: Iterable[str]) -> list[str]:
    """Step 3's rule for the lines of one ``additionalImagesFiles`` entry."""
    found = []
    for line in lines:
        match = _FILE_IMAGE_LINE.match(line.rstrip("\r\n"))
        if match:
            found.append(_clean(match.group(1).split("#", 1)[0]))
        found.extend(flag.group(1) for flag in _FLAG_IMAGE.finditer(line))
    return found


def _additional(impl: Implementation, manifest: Path, os_name: str, images: list[str], files: list[str]
                ) -> list[str]:
    found = list(images)
    for index, entry in enumerate(files):
        path = impl.directory / entry
        if not path.is_file():
            raise AddonManifestError(
                str(manifest), f"implementation {impl.name!r}: offline_usage.{os_name}.additionalImagesFiles"
                f"[{index}]: file {entry!r} not found (looked for {path.resolve()})")
        found.extend(_read(path, _file_images))
    return found


def _name_key(image: str) -> tuple[str, bool]:
    """``(name without tag or digest, versioned)``, normalised when the reference parses."""
    try:
        ref = parse_image_reference(image)
    except InvalidReferenceError:
        rest = image.partition("@")[0]
        head, slash, last = rest.rpartition("/")
        return head + slash + last.partition(":")[0], rest != image or ":" in last
    return f"{ref.registry}/{ref.repository}", ref.versioned


def _finish(values: Iterable[str]) -> list[str]:
    """Step 4: trim, drop empty, de-duplicate, drop unversioned names that also come versioned."""
    unique = list(dict.fromkeys(v for v in (_clean(value) for value in values) if v))
    keys = {image: _name_key(image) for image in unique}
    versioned = {name for name, is_versioned in keys.values() if is_versioned}
    return [image for image in unique if keys[image][1] or keys[image][0] not in versioned]


def discover_images(impl: Implementation, addon_dir: Path) -> ImageSet:
    """The images of ``impl`` (spec §2.7 steps 1-4; rules and differences from K2s in the module docstring).

    ``impl.directory`` is the implementation directory (K2s's ``dirPath``); ``addon_dir`` is the
    addon's base directory, whose ``addon.manifest.yaml`` is named in errors. Returns an
    :class:`ImageSet` of references as written (not normalised).

    Raises :class:`~kaddons.errors.NotFoundError` when ``impl.directory`` does not exist,
    :class:`~kaddons.errors.AddonManifestError` naming the manifest and the entry when an
    ``additionalImagesFiles`` file is missing, :class:`~kaddons.errors.ContentError` for a file that
    cannot be read or a chart that does not render, :class:`~kaddons.errors.UsageError` when a chart
    must be rendered and ``helm-python-sdk`` is not installed (``pip install 'kaddons[helm]'`` or
    ``--omit-images``).
    """
    root = impl.directory
    if not root.is_dir():
        raise NotFoundError(f"implementation directory {root} of addon {impl.addon!r} does not exist")
    linux: list[str] = []
    windows: list[str] = []
    found: list[tuple[str, bool]] = []
    for path in _yaml_files(root):
        found.extend(_read(path, _scan_text))
    found.extend(_from_charts(root))
    for image, is_windows in found:
        (windows if is_windows else linux).append(image)
    usage = impl.spec.offline_usage
    if usage is not None:
        manifest = Path(addon_dir) / MANIFEST_FILE
        linux += _additional(impl, manifest, "linux", usage.linux.additional_images,
                             usage.linux.additional_images_files)
        windows += _additional(impl, manifest, "windows", usage.windows.additional_images,
                               usage.windows.additional_images_files)
    return ImageSet(linux=_finish(linux), windows=_finish(windows))
