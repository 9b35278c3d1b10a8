"""The one exception hierarchy of kaddons.

Every error raised by the library derives from :class:`KaddonsError`; third-party exceptions
(httpx, pydantic, OS errors) are translated where they enter. Each carries a one-line, user-facing
message naming the thing at fault and, where there is one, the way out. The CLI prints the message
and exits with :attr:`KaddonsError.exit_code`::

    KaddonsError                      exit 1
    ├── UsageError                    exit 2   bad command-line input
    │   └── InvalidReferenceError              a reference that does not parse
    ├── NotFoundError                 exit 3   a tag, manifest, blob or repository that does not exist
    ├── ContentError                  exit 4   content that is not what it claims to be
    │   ├── DigestError
    │   │   ├── UnsupportedDigestError         an algorithm other than sha256, or a malformed digest
    │   │   └── DigestMismatchError            bytes whose digest or size differs from the descriptor
    │   ├── InvalidManifestError               a manifest or index that is not valid JSON / not OCI
    │   ├── LayoutError                        an OCI image layout or .oci.tar that breaks the spec
    │   ├── AddonManifestError                 an addon.manifest.yaml that is not YAML or breaks its schema
    │   └── UnsafeContentError                 an artifact that would write outside its directory or is too big
    └── RegistryError                 exit 5   talking to a registry failed
        ├── RegistryUnavailableError           connection refused, timeouts, 5xx/429 after retries
        ├── TLSVerificationError               the server certificate does not verify
        ├── AuthenticationError                401/403: missing or wrong credentials
        ├── RegistryResponseError              any other unexpected status, with the registry's error code
        └── DownloadError                      an HTTP(S) download (package, file) or apt download failed
    ClusterError                      exit 5   the Kubernetes API cannot be read (no config, unreachable, refused)
    GitError                          exit 1   the GitOps working copy cannot be used as it is
    └── GitRemoteError                exit 5   fetching from or pushing to the Git remote failed
        └── PushRejectedError                  the remote refused the push (someone pushed first, a hook)
"""

from __future__ import annotations

__all__ = [
    "AddonManifestError",
    "AuthenticationError",
    "ClusterError",
    "ContentError",
    "DigestError",
    "DigestMismatchError",
    "DownloadError",
    "GitError",
    "GitRemoteError",
    "InvalidManifestError",
    "InvalidReferenceError",
    "KaddonsError",
    "LayoutError",
    "NotFoundError",
    "PushRejectedError",
    "RegistryError",
    "RegistryResponseError",
    "RegistryUnavailableError",
    "TLSVerificationError",
    "UnsafeContentError",
    "UnsupportedDigestError",
    "UsageError",
    "known",
]

KNOWN_LISTED = 10
"""How many names :func:`known` lists in full; beyond that, the nearest few and the count."""


def known(noun: str, names: list[str], wanted: str) -> str:
    """What a "no such …" message says of the ``names`` there are, for ``wanted`` (``noun``: their plural, as
    ``"add-ons"``): ``"add-ons: a, b"`` (``"none"`` when empty); beyond :data:`KNOWN_LISTED` names, the three
    nearest to ``wanted`` and the count (``"300 add-ons; nearest: a001, a010"``), so the message stays one line
    a person reads. Nearest: names that start with ``wanted`` first, then by similarity (difflib's ratio, at
    least 0.5), ties in name order; case is ignored."""
    if len(names) <= KNOWN_LISTED:
        return f"{noun}: {', '.join(names) or 'none'}"
    from difflib import SequenceMatcher

    matcher = SequenceMatcher(b=wanted.lower())
    scored = []
    for name in names:
        matcher.set_seq1(name.lower())
        starts = name.lower().startswith(wanted.lower())
        if starts or matcher.ratio() >= 0.5:  # ties go to the name that sorts first
            scored.append((not starts, -matcher.ratio(), name))
    nearest = [name for *_, name in sorted(scored)[:3]]
    return f"{len(names)} {noun}" + (f"; nearest: {', '.join(nearest)}" if nearest else "")


class KaddonsError(Exception):
    """Base of every kaddons error; ``str(err)`` is the one-line message for the user."""

    exit_code = 1


class UsageError(KaddonsError):
    """The caller gave input that cannot be used (a flag, a path, a combination of options)."""

    exit_code = 2


class InvalidReferenceError(UsageError):
    """A reference (``HOST/REPO:TAG``, ``oci-layout:PATH``, ...) that does not parse."""


class AmbiguousReferenceError(UsageError):
    """A tag names several different manifests (a layout or archive holding several addons): name one by digest.

    ``candidates`` are ``(digest, label)`` pairs, ``label`` the name an annotation gives (or ``None``)."""

    def __init__(self, message: str, candidates: list[tuple[str, str | None]] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []


class TagConflictError(UsageError):
    """A tag already names other content where moving it silently would lose it (a layout, a version tag)."""


class ClusterDocumentError(UsageError):
    """A cluster document (or a file it names) that kaddons cannot use: ``source`` (the file) and
    ``detail`` (``<YAML path>: <what was expected>``), one line."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source}: {detail}")
        self.source = source
        self.detail = detail


class NotFoundError(KaddonsError):
    """A tag, manifest, blob or repository that does not exist where it was looked for."""

    exit_code = 3


class ContentError(KaddonsError):
    """Content that is not what its descriptor or the spec says it must be."""

    exit_code = 4


class DigestError(ContentError):
    """A digest problem."""


class UnsupportedDigestError(DigestError):
    """A digest that is malformed or uses an algorithm other than sha256."""


class DigestMismatchError(DigestError):
    """Bytes whose sha256 digest or size differs from what the descriptor promised."""


class InvalidManifestError(ContentError):
    """A manifest or index that is not JSON or not a valid OCI document."""


class LayoutError(ContentError):
    """An OCI image layout directory or ``.oci.tar`` archive that breaks the image-layout spec."""


class AddonManifestError(ContentError):
    """An ``addon.manifest.yaml`` that is not YAML, or breaks the addon manifest schema.

    ``source`` names the file (or the in-memory origin), ``detail`` is the message without it:
    ``str(err) == f"{source}: {detail}"``.
    """

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source}: {detail}")
        self.source = source
        self.detail = detail


class UnsafeContentError(ContentError):
    """An artifact that would escape its directory (absolute or ``..`` member names, links, devices,
    names colliding ignoring case, invalid addon names) or exceed a size limit (decompression bomb)."""


class RegistryError(KaddonsError):
    """Talking to a registry failed."""

    exit_code = 5


class RegistryUnavailableError(RegistryError):
    """The registry could not be reached, or kept failing (5xx, 429) after the bounded retries.

    ``retry_after``: seconds the registry asked to wait before the next try (the ``Retry-After``
    header of its last 429/503 answer, delay-seconds or HTTP-date, RFC 9110 §10.2.3), or ``None``
    when it did not say. Callers that try again later (the sync agent) wait at least that long.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TLSVerificationError(RegistryError):
    """The registry's TLS certificate did not verify against the system or ``--ca-file`` CAs."""


class AuthenticationError(RegistryError):
    """The registry refused the request (401/403): credentials are missing or wrong."""


class RegistryResponseError(RegistryError):
    """The registry answered with an unexpected status.

    ``status`` is the HTTP status code, ``code`` the first distribution-spec error code of the
    body (``MANIFEST_INVALID``, ``BLOB_UNKNOWN`` ...), or ``None``.
    """

    def __init__(self, message: str, *, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class DownloadError(RegistryError):
    """Downloading a file over HTTP(S) (``offline_usage`` curl entries) or with ``apt-get`` failed."""


class GitError(KaddonsError):
    """The GitOps working copy cannot be used as it is (not a repository, a detached HEAD, no remote, local
    changes in the way)."""


class GitRemoteError(GitError):
    """Fetching from or pushing to the Git remote failed (unreachable, authentication, a refused push)."""

    exit_code = 5


class PushRejectedError(GitRemoteError):
    """The remote refused the push: it holds commits the local branch does not have, or a hook declined it."""


class ClusterError(KaddonsError):
    """The Kubernetes API cannot be read: no kubeconfig or context, the API server unreachable, access refused."""

    exit_code = 5
