"""Docker-style image references (``nginx``, ``host:5000/a/b:tag``, ``repo@sha256:...``) and image file names.

The normalisation of Docker's ``reference.ParseNormalizedNamed`` (distribution/reference), which
``buildah``, ``nerdctl`` and ``ctr`` all share:

* The first ``/``-separated component is a registry when it contains ``.`` or ``:``, is ``localhost``,
  or has an uppercase letter; otherwise the registry is ``docker.io``.
* ``index.docker.io`` is ``docker.io``; a one-component Docker Hub repository gets ``library/``.
* The tag is after the last ``:`` of the last component; ``@sha256:<hex>`` pins a digest.
* No tag and no digest means ``latest``.
* Docker Hub is served from the endpoint ``registry-1.docker.io``.

:func:`image_file_name` is K2s's file naming of exported images (spec §2.7 step 6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kaddons.errors import InvalidReferenceError, UnsupportedDigestError
from kaddons.oci.digest import validate_digest
from kaddons.oci.reference import parse_registry_host, validate_repository, validate_tag

__all__ = [
    "DEFAULT_TAG",
    "DOCKER_HUB",
    "DOCKER_HUB_ENDPOINT",
    "ImageReference",
    "image_file_name",
    "parse_image_reference",
]

DOCKER_HUB = "docker.io"
"""The registry of references that name none."""
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
"""Where Docker Hub's distribution API answers."""
DEFAULT_TAG = "latest"
"""The tag of a reference that names neither a tag nor a digest."""
_DOCKER_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io"})
_MAX_NAME = 255  # distribution's NameTotalLengthMax: registry + "/" + repository


@dataclass(frozen=True)
class ImageReference:
    """A parsed, normalised image reference.

    ``registry`` is the normalised registry name (``docker.io``, ``registry.k8s.io``,
    ``127.0.0.1:5000``); ``repository`` the path in it (``library/nginx``); ``tag`` and ``digest``
    as written (``None`` when absent: a reference may carry both, then the digest is what is pulled).
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def endpoint(self) -> str:
        """The ``HOST[:PORT]`` to talk to: ``registry-1.docker.io`` for Docker Hub, else :attr:`registry`."""
        return DOCKER_HUB_ENDPOINT if self.registry == DOCKER_HUB else self.registry

    @property
    def versioned(self) -> bool:
        """Whether the reference names a tag or a digest (else it means ``latest``)."""
        return self.tag is not None or self.digest is not None

    @property
    def target(self) -> str:
        """What to resolve in the repository: the digest if given, else the tag, else ``latest``."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def name(self) -> str:
        """The full normalised reference, e.g. ``docker.io/library/nginx:latest``,
        ``registry.k8s.io/pause:3.10@sha256:...``, ``127.0.0.1:5000/a/b@sha256:...``."""
        tag = self.tag if self.tag is not None else (None if self.digest else DEFAULT_TAG)
        return f"{self.registry}/{self.repository}" + (f":{tag}" if tag else "") + (
            f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name


def _split_registry(text: str) -> tuple[str, str]:
    first, slash, rest = text.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        registry = parse_registry_host(first)
        return (DOCKER_HUB if registry in _DOCKER_HUB_ALIASES else registry), rest
    return DOCKER_HUB, text


def parse_image_reference(text: str) -> ImageReference:
    """Parse and normalise a Docker-style image reference (see the module docstring).

    >>> parse_image_reference("nginx").name
    'docker.io/library/nginx:latest'

    Raises :class:`~kaddons.errors.InvalidReferenceError` naming ``text`` and what is wrong: an empty
    value, white space, an invalid registry host, an uppercase or malformed repository, a malformed
    tag, a digest other than ``sha256:<64 hex>``, or a name longer than 255 characters.
    """
    try:
        return _parse(text)
    except InvalidReferenceError as err:
        raise InvalidReferenceError(f"invalid image reference {text!r}: {err}") from None
    except UnsupportedDigestError as err:
        raise InvalidReferenceError(f"invalid image reference {text!r}: {err}") from None


def _parse(text: str) -> ImageReference:
    if not text or text != text.strip() or any(c.isspace() for c in text):
        raise InvalidReferenceError("it is empty or contains white space")
    rest, digest = text, None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        validate_digest(digest)
    registry, path = _split_registry(rest)
    tag = None
    head, slash, last = path.rpartition("/")
    if ":" in last:
        last, _, tag = last.rpartition(":")
        validate_tag(tag)
        path = head + slash + last
    if path.lower() != path:
        raise InvalidReferenceError(f"repository {path!r} must be lowercase")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    validate_repository(path)
    if len(registry) + 1 + len(path) > _MAX_NAME:
        raise InvalidReferenceError(f"the name is longer than {_MAX_NAME} characters")
    return ImageReference(registry, path, tag, digest)


_SEPARATORS = re.compile(r"[:/]")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def image_file_name(reference: str, *, windows: bool) -> str:
    """The file an image is exported to (spec §2.7 step 6): ``:`` and ``/`` become ``_``, every other
    character outside ``[a-zA-Z0-9_.-]`` is dropped, ``.tar`` is appended; Windows images get the
    prefix ``windows_``.

    >>> image_file_name("registry.k8s.io/metrics-server/metrics-server:v0.7.2", windows=False)
    'registry.k8s.io_metrics-server_metrics-server_v0.7.2.tar'

    ``reference`` is used as written (not normalised), as K2s does. The result never contains a path
    separator.
    """
    name = _UNSAFE.sub("", _SEPARATORS.sub("_", reference)) + ".tar"
    return f"windows_{name}" if windows else name
