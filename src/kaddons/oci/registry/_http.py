"""The HTTP layer of one registry host: an httpx client, retries, authentication, error translation.

Every request of :class:`~kaddons.oci.registry.Registry` and its repositories goes through
:meth:`HttpClient.request`, which

- authenticates (:mod:`._auth`) up front once the host has challenged, and answers one ``401``;
- retries transport errors, 429 and 500/502/503/504 by the :class:`RetryPolicy` (``Retry-After``
  honoured) when the body can be sent again (``None`` or ``bytes``, not an iterator);
- translates failures into :mod:`kaddons.errors` (see :mod:`._errors`): no httpx exception escapes.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import UTC, datetime

import httpx

from kaddons.errors import UsageError
from kaddons.oci.registry._auth import Authenticator
from kaddons.oci.registry._credentials import Credentials, load_credentials
from kaddons.oci.registry._errors import RETRYABLE_STATUS, is_transient, response_error, transport_error
from kaddons.oci.registry._options import RegistryOptions, RetryPolicy

__all__ = ["Body", "HttpClient", "retry_after_seconds"]

_log = logging.getLogger("kaddons.oci.registry")

#: A request body: nothing, bytes (can be sent again), or an iterator of chunks (sent once).
Body = bytes | Iterator[bytes] | None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` value (delay-seconds or HTTP-date, RFC 9110 §10.2.3) asks to wait."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _ssl_context(options: RegistryOptions) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if options.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(options.ca_file))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or "not a PEM certificate bundle"
            raise UsageError(f"--ca-file {options.ca_file} cannot be used ({reason}): give a PEM CA bundle") from None
    return context


class HttpClient:
    """One ``httpx.Client`` (one connection pool) for one registry host ``HOST[:PORT]``."""

    def __init__(self, host: str, options: RegistryOptions) -> None:
        self.host = host
        self.options = options
        self.policy: RetryPolicy = options.retry
        self.base_url = httpx.URL(f"{'http' if options.insecure else 'https'}://{host}")
        self._client = httpx.Client(
            verify=_ssl_context(options) if not options.insecure else True,
            timeout=httpx.Timeout(options.timeout),
            headers={"User-Agent": options.user_agent},
            follow_redirects=True,
            # a sync checks up to 64 addons at once (kaddons sync/agent --concurrency): keep them all alive
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=64),
        )
        self.auth = Authenticator(host, self._credentials, self._send_plain)

    def _credentials(self) -> Credentials | None:
        if self.options.username is not None:
            return Credentials(self.options.username, self.options.password or "")
        return load_credentials(self.host, self.options.config_path)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path`` (``/v2/...``) on this host."""
        return self.base_url.join(path)

    def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        what: str,
        expect: Collection[int],
        scopes: Iterable[str] = (),
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: Body = None,
        stream: bool = False,
        retry: bool = True,
    ) -> httpx.Response:
        """Send ``method url`` and return the answer if its status is in ``expect``.

        ``what`` names the target in messages (``HOST/REPO manifests/REF``); ``scopes`` are the
        token scopes the request needs. With ``stream=True`` the body is not read: the caller
        closes the response. Any other status raises (see :func:`._errors.response_error`).
        """
        scopes = tuple(scopes)
        replayable = not isinstance(content, Iterator)
        started = time.monotonic()
        authorization = self.auth.header(scopes)
        answered = False
        while True:
            send_headers = dict(headers or {})
            if authorization:
                send_headers["Authorization"] = authorization

            def build(h: dict[str, str] = send_headers) -> httpx.Request:
                return self._client.build_request(method, url, headers=h, params=params, content=content)

            response = self._send(build, method, what, retry=retry and replayable)
            if response.status_code == 401 and not answered and replayable:
                answered = True
                try:
                    authorization = self.auth.answer(response, scopes, f"{method} {what}", sent=authorization,
                                                     since=started)
                finally:
                    response.close()
                continue
            if response.status_code in expect:
                if not stream:
                    self._read(response, method, what)
                return response
            if response.status_code in (401, 403):
                response.close()
                raise self.auth.refused(response, f"{method} {what}")
            raise response_error(method, what, response)

    def _read(self, response: httpx.Response, method: str, what: str) -> None:
        try:
            response.read()
        except httpx.RequestError as exc:
            raise transport_error(exc, method, what, 1) from None
        finally:
            response.close()

    def _send_plain(self, method: str, url: str, headers: dict[str, str],
                    params: dict[str, str | list[str]] | None, data: dict[str, str] | None) -> httpx.Response:
        """A token request: retried and translated, not authenticated, body read."""
        what = str(httpx.URL(url).copy_with(query=None))

        def build() -> httpx.Request:
            return self._client.build_request(method, url, headers=headers, params=params, data=data)

        response = self._send(build, method, what, retry=True)
        self._read(response, method, what)
        return response

    def _send(self, build: Callable[[], httpx.Request], method: str, what: str, *, retry: bool) -> httpx.Response:
        """Send with retries by the policy; a streamed response, or a kaddons error."""
        policy = self.policy
        started = time.monotonic()
        failures = 0
        while True:
            request = build()
            if self.options.on_request is not None:
                self.options.on_request(request.method, self.host)
            try:
                response = self._client.send(request, stream=True)
            except httpx.RequestError as exc:
                failures += 1
                error = transport_error(exc, method, what, failures)
                delay = policy.backoff(failures)
                if not is_transient(exc) or not self._may_retry(retry, failures, started, delay):
                    raise error from None
                _log.debug("retrying %s %s in %.2fs after %s", method, what, delay, type(exc).__name__)
                time.sleep(delay)
                continue
            if response.status_code not in RETRYABLE_STATUS:
                return response
            failures += 1
            asked = retry_after_seconds(response.headers.get("retry-after"))
            delay = asked if asked is not None else policy.backoff(failures)
            if not self._may_retry(retry, failures, started, delay):
                raise response_error(method, what, response, attempts=failures, retry_after=asked)
            _log.debug("retrying %s %s in %.2fs after status %d", method, what, delay, response.status_code)
            response.close()
            time.sleep(delay)

    def _may_retry(self, retry: bool, failures: int, started: float, delay: float) -> bool:
        policy = self.policy
        return (
            retry
            and failures < policy.attempts
            and time.monotonic() - started + delay <= policy.max_elapsed
        )
