"""Media types of the OCI image-spec v1.1 and the Docker v2 schema 2 equivalents.

One definition of each: every module imports these names instead of spelling the strings.
"""

from __future__ import annotations

OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

#: Media types whose content is an image manifest (config + layers).
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
#: Media types whose content is an index (a list of manifests).
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
#: Every media type that the registry keeps under ``/manifests/`` rather than ``/blobs/``.
ALL_MANIFEST_TYPES = MANIFEST_TYPES | INDEX_TYPES

#: The ``Accept`` header for every manifest GET/HEAD. Distribution 2.8 answers 404 for an index
#: unless an index type is listed, even when fetching by digest.
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST])

#: The annotation naming a tag on an ``index.json`` descriptor (image-spec annotations.md).
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_TITLE = "org.opencontainers.image.title"
NAME_ANNOTATIONS = ("vnd.k2s.addon.export-name", "io.containerd.image.name", ANNOTATION_TITLE)
"""Descriptor annotations that name what a manifest is, in order of preference, for messages that list
candidates (an ambiguous tag). The K2s key is the addon format's export name (also defined, with the
other addon keys, in :mod:`kaddons.addons.format`; a test checks that both agree)."""


def is_manifest_type(media_type: str) -> bool:
    """True for manifest and index media types (the content lives under ``/manifests/``)."""
    return media_type in ALL_MANIFEST_TYPES
