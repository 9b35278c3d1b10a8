"""Translation of HTTP answers and httpx exceptions into the kaddons error hierarchy.

distribution-spec §Error Codes: an error answer's body is ``{"errors": [{"code", "message",
"detail"}]}``. It is read with a cap (:data:`ERROR_BODY_LIMIT`) and its first code becomes
:attr:`RegistryResponseError.code`. Every message is one line: the operation, the thing, the status
and code, and where there is one, the way out. No httpx exception leaves this package.
"""

from __future__ import annotations

import json
import ssl

import httpx

from kaddons.errors import (
    AuthenticationError,
    KaddonsError,
    NotFoundError,
    RegistryError,
    RegistryResponseError,
    RegistryUnavailableError,
    TLSVerificationError,
)

__all__ = [
    "ERROR_BODY_LIMIT",
    "RETRYABLE_STATUS",
    "ErrorBody",
    "is_transient",
    "one_line",
    "read_error_body",
    "response_error",
    "transport_error",
]

#: Bytes of an error answer's body that are read (oras-go reads 8 KiB too).
ERROR_BODY_LIMIT = 8 * 1024
#: Statuses after which a request is retried (distribution-spec clients: 429 and transient 5xx).
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
INSECURE_HINT = "check the address, or use --insecure if the registry serves plain HTTP"


def one_line(text: str, limit: int = 200) -> str:
    """``text`` with white space runs collapsed to one space, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ErrorBody:
    """The first ``code`` and ``message`` of a distribution-spec error body (``None`` when absent)."""

    def __init__(self, code: str | None = None, message: str | None = None) -> None:
        self.code = code
        self.message = message

    def describe(self, status: int, reason: str) -> str:
        """``400 MANIFEST_INVALID (manifest invalid)``; without a code ``400 Bad Request (text)``."""
        words = f"{status} {self.code or reason}".rstrip()
        return words + (f" ({one_line(self.message)})" if self.message else "")


def read_error_body(response: httpx.Response) -> ErrorBody:
    """Read at most :data:`ERROR_BODY_LIMIT` bytes of ``response`` (then close it) and parse them."""
    data = b""
    try:
        if response.is_stream_consumed:
            data = response.content[:ERROR_BODY_LIMIT]
        else:
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) >= ERROR_BODY_LIMIT:
                    break
    except httpx.HTTPError:
        pass
    finally:
        response.close()
    try:
        errors = json.loads(data[:ERROR_BODY_LIMIT]).get("errors")
        first = errors[0]
        code, message = first.get("code"), first.get("message")
        return ErrorBody(code if isinstance(code, str) else None, message if isinstance(message, str) else None)
    except (ValueError, AttributeError, TypeError, IndexError, KeyError):
        pass
    text = data[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    content_type = response.headers.get("content-type", "text/plain")  # Go's TLS server sends no headers
    is_text = content_type.startswith("text/plain") and text.strip()
    return ErrorBody(message=one_line(text, 120) if is_text else None)


def response_error(method: str, what: str, response: httpx.Response, *, attempts: int = 1,
                   retry_after: float | None = None) -> KaddonsError:
    """The error for an answer nobody expected: ``METHOD WHAT: STATUS CODE (message)``.

    404 gives :class:`NotFoundError`, 401/403 :class:`AuthenticationError`, 429 and 5xx
    :class:`RegistryUnavailableError` (carrying ``retry_after``, the seconds of the answer's
    ``Retry-After``), any other status :class:`RegistryResponseError`.
    """
    status = response.status_code
    body = read_error_body(response)
    detail = body.describe(status, response.reason_phrase)
    text = f"{method} {what}: {detail}"
    if status == 400 and body.message and "HTTP request to an HTTPS server" in body.message:
        return RegistryResponseError(f"{text}: the registry serves HTTPS, drop --insecure", status=status)
    if status == 404:
        return NotFoundError(text)
    if status in (401, 403):
        return AuthenticationError(f"{text}: check the credentials (--username/--password or docker login)")
    if status in RETRYABLE_STATUS:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        asked = f" (it asked to wait {retry_after:.0f}s)" if retry_after is not None else ""
        return RegistryUnavailableError(f"{text}{tries}: the registry is unavailable or overloaded, retry later{asked}",
                                        retry_after=retry_after)
    return RegistryResponseError(text, status=status, code=body.code)


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _reason(exc: BaseException) -> str:
    """The innermost readable reason of ``exc`` (``[Errno 111] Connection refused``...)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    reason = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if str(current):
            reason = str(current)
        current = current.__cause__ or current.__context__
    return one_line(reason or type(exc).__name__, 120)


def is_transient(exc: httpx.RequestError) -> bool:
    """Whether trying again may help: transport errors, but not TLS set-up or URL scheme problems."""
    if not isinstance(exc, httpx.TransportError) or isinstance(exc, httpx.UnsupportedProtocol):
        return False
    cause = _ssl_cause(exc)
    return cause is None or isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError)


def transport_error(exc: httpx.RequestError, method: str, what: str, attempts: int) -> RegistryError:
    """The error for an httpx request failure of ``METHOD WHAT`` after ``attempts`` tries.

    Certificate failures give :class:`TLSVerificationError` (suggesting ``--ca-file``); everything
    else :class:`RegistryUnavailableError` naming the host.
    """
    try:
        host = exc.request.url.netloc.decode("ascii")
    except RuntimeError:
        host = what.split("/", 1)[0]
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    cause = _ssl_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        reason = one_line(getattr(cause, "verify_message", None) or _reason(exc), 120)
        return TLSVerificationError(
            f"TLS certificate of {host} did not verify ({reason}): pass --ca-file with the CA that signed it"
        )
    if cause is not None:
        return RegistryUnavailableError(
            f"TLS handshake with {host} failed ({_reason(exc)}){tries}: {INSECURE_HINT}"
        )
    if isinstance(exc, httpx.ConnectError):
        try:
            plain = exc.request.url.scheme == "http"
        except RuntimeError:
            plain = False
        hint = "check the address and that the registry is running" if plain else INSECURE_HINT
        return RegistryUnavailableError(f"cannot connect to registry {host} ({_reason(exc)}){tries}: {hint}")
    if isinstance(exc, httpx.TooManyRedirects):
        return RegistryUnavailableError(f"{method} {what}: too many redirects: check the registry address")
    if isinstance(exc, httpx.TimeoutException):
        return RegistryUnavailableError(
            f"{method} {what} timed out ({type(exc).__name__}){tries}: retry later or raise the timeout"
        )
    return RegistryUnavailableError(f"{method} {what} failed ({_reason(exc)}){tries}: retry later")
