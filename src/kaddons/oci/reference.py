"""References: where content is and which tag or digest names it.

Three forms, as ORAS users write them::

    [oci://]HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]     a repository of a registry
    oci-layout:PATH[:TAG|@DIGEST]                    an OCI image layout directory
    oci-archive:FILE[:TAG|@DIGEST]                   an .oci.tar archive of a layout

Grammar of repository names and tags: distribution-spec §Pulling manifests ("<name>" and
"<reference>"). A malformed reference raises :class:`~kaddons.errors.InvalidReferenceError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from kaddons.errors import InvalidReferenceError, UnsupportedDigestError
from kaddons.oci.digest import validate_digest

__all__ = [
    "ARCHIVE",
    "LAYOUT",
    "REGISTRY",
    "Reference",
    "parse_reference",
    "parse_registry_host",
    "validate_repository",
    "validate_tag",
]

REGISTRY: Final = "registry"
LAYOUT: Final = "oci-layout"
ARCHIVE: Final = "oci-archive"
Kind = Literal["registry", "oci-layout", "oci-archive"]

_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_HOST = re.compile(
    r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$"
)
_EXAMPLES = "HOST[:PORT]/REPO[:TAG|@DIGEST], oci-layout:PATH[:TAG] or oci-archive:FILE[:TAG]"


def validate_repository(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise InvalidReferenceError."""
    if len(name) > 255 or not _REPOSITORY.match(name):
        raise InvalidReferenceError(
            f"invalid repository name {name!r}: lowercase letters, digits and separators . _ __ - /"
        )
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it matches ``[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}``, else raise."""
    if not _TAG.match(tag):
        raise InvalidReferenceError(f"invalid tag {tag!r}: up to 128 of letters, digits, _ . - (not first . or -)")
    return tag


def strip_scheme(text: str) -> str:
    """``text`` without its ``oci://`` or ``https://`` (the same registry: TLS is the default); raises
    :class:`InvalidReferenceError` for ``http://``, saying what to write instead (plain HTTP is a
    registry option, ``--insecure``, not part of the name)."""
    lowered = text[:8].lower()
    if lowered.startswith("http://"):
        rest = text[len("http://"):]
        raise InvalidReferenceError(f"{text!r}: http:// means plain HTTP; write oci://{rest} and pass --insecure")
    for scheme in ("oci://", "https://"):
        if lowered.startswith(scheme):
            return text[len(scheme):]
    return text


def parse_registry_host(text: str) -> str:
    """``[oci://|https://]HOST[:PORT]`` -> ``HOST[:PORT]``; raises InvalidReferenceError otherwise."""
    host = strip_scheme(text).rstrip("/")
    if not host or not _HOST.match(host):
        raise InvalidReferenceError(f"invalid registry {text!r}: expected HOST[:PORT], e.g. 127.0.0.1:5000")
    return host


@dataclass(frozen=True)
class Reference:
    """A parsed reference. ``location`` is ``HOST[:PORT]`` for a registry, else a file-system path.

    ``repository`` is set for registries only. When both ``tag`` and ``digest`` are given
    (``repo:tag@digest``), the digest is what is resolved and the tag is informational.
    """

    kind: Kind
    location: str
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str | None:
        """The digest if given, else the tag, else ``None``: what a store's ``resolve`` takes."""
        return self.digest or self.tag

    def with_reference(self, reference: str | None) -> Reference:
        """The same location and repository with another tag or digest (``None``: neither)."""
        if reference is None:
            return Reference(self.kind, self.location, self.repository)
        if reference.startswith("sha256:") or ":" in reference:
            return Reference(self.kind, self.location, self.repository, digest=validate_digest(reference))
        return Reference(self.kind, self.location, self.repository, tag=validate_tag(reference))

    def __str__(self) -> str:
        suffix = (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")
        if self.kind == REGISTRY:
            return f"{self.location}/{self.repository}{suffix}"
        return f"{self.kind}:{self.location}{suffix}"


def _split_reference(text: str, rest: str) -> tuple[str, str | None, str | None]:
    """Split ``rest`` into (location, tag, digest); the tag sits after the last ':' of the last '/' part."""
    digest = None
    if "@" in rest:
        rest, _, digest = rest.rpartition("@")
        try:
            validate_digest(digest)
        except UnsupportedDigestError as exc:
            raise InvalidReferenceError(f"invalid reference {text!r}: {exc}") from None
    tag = None
    head, slash, last = rest.rpartition("/")
    if ":" in last:
        last, _, tag = last.rpartition(":")
        validate_tag(tag)
        rest = head + slash + last
    return rest, tag, digest


def parse_reference(text: str) -> Reference:
    """Parse any of the three reference forms; raises :class:`InvalidReferenceError`.

    >>> parse_reference("oci://127.0.0.1:5000/addons/dicom:1.0.0")
    Reference(kind='registry', location='127.0.0.1:5000', repository='addons/dicom', tag='1.0.0', digest=None)
    """
    if not text:
        raise InvalidReferenceError(f"empty reference: expected {_EXAMPLES}")
    for kind in (LAYOUT, ARCHIVE):
        if text.startswith(kind + ":"):
            path, tag, digest = _split_reference(text, text[len(kind) + 1 :])
            if not path:
                raise InvalidReferenceError(f"invalid reference {text!r}: {kind}: needs a path")
            return Reference(LAYOUT if kind == LAYOUT else ARCHIVE, path, None, tag, digest)
    body = strip_scheme(text)
    host, slash, path = body.partition("/")
    if not slash or not path:
        raise InvalidReferenceError(f"invalid reference {text!r}: expected {_EXAMPLES}")
    host = parse_registry_host(host)
    repository, tag, digest = _split_reference(text, path)
    validate_repository(repository)
    return Reference(REGISTRY, host, repository, tag, digest)
