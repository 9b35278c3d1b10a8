"""Typed descriptors, image manifests and image indexes (image-spec v1.1).

Models keep unknown fields (``extra="allow"``) so that nothing the spec lets producers add is
dropped when a document is re-serialised. kaddons never re-serialises content it copies, though:
stores move the original bytes, and these models are only used to *read* them and to *write* new
documents with :func:`canonical_json`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kaddons.errors import InvalidManifestError
from kaddons.oci import mediatypes as mt
from kaddons.oci.digest import digest_of, validate_digest

__all__ = [
    "MAX_MANIFEST_BYTES",
    "Descriptor",
    "ImageIndex",
    "ImageManifest",
    "Platform",
    "canonical_json",
    "parse_index",
    "parse_manifest",
    "successors",
]

#: Upper bound for a manifest or index read into memory (distribution's own limit is 4 MiB).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


class _Model(BaseModel):
    # schemas are built on first validation, not at import: a no-op sync never validates one
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, defer_build=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object of this model: spec field names, ``None`` fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Platform(_Model):
    """image-index.md ``platform``."""

    architecture: str
    os: str
    os_version: str | None = Field(default=None, alias="os.version")
    os_features: list[str] | None = Field(default=None, alias="os.features")
    variant: str | None = None


class Descriptor(_Model):
    """A content descriptor (descriptor.md): media type, sha256 digest and size in bytes."""

    media_type: str = Field(alias="mediaType")
    digest: str
    size: int = Field(ge=0)
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    data: str | None = None
    artifact_type: str | None = Field(default=None, alias="artifactType")
    platform: Platform | None = None

    @field_validator("digest")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        return validate_digest(value)

    @classmethod
    def for_bytes(cls, data: bytes, media_type: str, **fields: Any) -> Descriptor:
        """Describe in-memory bytes: their digest and size plus the given fields."""
        return cls(mediaType=media_type, digest=digest_of(data), size=len(data), **fields)

    @property
    def ref_name(self) -> str | None:
        """The ``org.opencontainers.image.ref.name`` annotation (a tag inside a layout), if any."""
        return (self.annotations or {}).get(mt.ANNOTATION_REF_NAME)

    @property
    def is_manifest(self) -> bool:
        """True when the content is a manifest or index (stored under ``/manifests/``)."""
        return mt.is_manifest_type(self.media_type)

    def short(self) -> str:
        """``mediaType digest`` for messages."""
        return f"{self.media_type} {self.digest}"


class ImageManifest(_Model):
    """An image manifest (manifest.md) or Docker v2 schema 2 manifest."""

    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    config: Descriptor
    layers: list[Descriptor] = Field(default_factory=list)
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class ImageIndex(_Model):
    """An image index (image-index.md) or Docker manifest list; also the layout's ``index.json``."""

    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    manifests: list[Descriptor] = Field(default_factory=list)
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


def canonical_json(obj: Any) -> bytes:
    """Serialise a JSON document deterministically: sorted keys, no insignificant white space, UTF-8.

    Same input, same bytes, same digest. Models are converted with :meth:`_Model.to_json_dict`.
    """
    if isinstance(obj, _Model):
        obj = obj.to_json_dict()
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object hook refusing a key given twice: readers disagree on which one counts (a parser differential)."""
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise _DuplicateKey(key)
        doc[key] = value
    return doc


def _load(raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise InvalidManifestError(f"{what} has the key {str(exc)!r} twice: refusing it (readers would disagree "
                                   "on its content)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidManifestError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidManifestError(f"{what} is not a JSON object")
    return doc


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(document)"
    return f"{where}: {err['msg']}"


def parse_manifest(raw: bytes, *, what: str = "manifest") -> ImageManifest:
    """Parse an image manifest; raises :class:`InvalidManifestError` naming ``what`` and the field (a key
    given twice in one object included)."""
    doc = _load(raw, what)
    try:
        return ImageManifest.model_validate(doc)
    except ValidationError as exc:
        raise InvalidManifestError(f"{what} is not a valid image manifest: {_first_error(exc)}") from None


def parse_index(raw: bytes, *, what: str = "index") -> ImageIndex:
    """Parse an image index; raises :class:`InvalidManifestError` naming ``what`` and the field (a key given
    twice in one object included)."""
    doc = _load(raw, what)
    try:
        return ImageIndex.model_validate(doc)
    except ValidationError as exc:
        raise InvalidManifestError(f"{what} is not a valid image index: {_first_error(exc)}") from None


def successors(desc: Descriptor, raw: bytes) -> list[Descriptor]:
    """The descriptors a manifest or index references, in document order.

    For a manifest: its ``subject`` (if any), config and layers; for an index: its ``subject`` and
    manifests; for any other media type: nothing. Non-distributable layers with ``urls`` are kept:
    kaddons copies them like any other blob (the registry of the artifact has them).
    """
    what = f"{desc.media_type} {desc.digest}"
    document: ImageManifest | ImageIndex
    if desc.media_type in mt.MANIFEST_TYPES:
        document = parse_manifest(raw, what=what)
        nodes = [document.config, *document.layers]
    elif desc.media_type in mt.INDEX_TYPES:
        document = parse_index(raw, what=what)
        nodes = list(document.manifests)
    else:
        return []
    return [document.subject, *nodes] if document.subject is not None else nodes
