"""Addon images for export (spec §2.7): which images an implementation needs, and pulling them.

* :func:`discover_images` (:mod:`.discovery`): steps 1-4, the YAML files, Helm charts and
  ``offline_usage`` of an implementation -> an :class:`ImageSet` of Linux and Windows references.
* :func:`pull_images` (:mod:`.pull`): each image from its registry into ``<dest>/<file>.tar``, an
  OCI archive named by :func:`image_file_name` (step 6), with kaddons' own OCI client.
* :func:`parse_image_reference` (:mod:`.reference`): Docker-style references, normalised.

``kaddons export`` packs the archives into the ``images-linux``/``images-windows`` layers (4, 5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaddons._lazy import lazy_getattr

if TYPE_CHECKING:
    from .discovery import ImageSet, discover_images
    from .pull import CONTAINERD_IMAGE_NAME, SOURCE_DIGEST, PulledImage, pull_images
    from .reference import ImageReference, image_file_name, parse_image_reference

_LAZY = {
    "ImageSet": ".discovery",
    "discover_images": ".discovery",
    "CONTAINERD_IMAGE_NAME": ".pull",
    "SOURCE_DIGEST": ".pull",
    "PulledImage": ".pull",
    "pull_images": ".pull",
    "ImageReference": ".reference",
    "image_file_name": ".reference",
    "parse_image_reference": ".reference",
}
"""Imported on first use (PEP 562): the reference parser is light, the puller is not."""

__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "CONTAINERD_IMAGE_NAME",
    "SOURCE_DIGEST",
    "ImageReference",
    "ImageSet",
    "PulledImage",
    "discover_images",
    "image_file_name",
    "parse_image_reference",
    "pull_images",
]
