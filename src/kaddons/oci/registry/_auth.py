"""Registry authentication: RFC 7235 challenges, Basic, and the Docker token (Bearer) flow.

distribution-spec §Authentication defers to the Docker Registry token authentication spec
(distribution ``docs/spec/auth/token.md``, ``oauth.md``, ``scope.md``):

1. A request answered ``401`` carries ``WWW-Authenticate`` challenges.
2. ``Basic realm=".."``: the request is repeated with ``Authorization: Basic``.
3. ``Bearer realm="..",service="..",scope=".."``: a token is fetched from ``realm`` (``GET
   ?service=&scope=`` with Basic credentials, or anonymously; or the OAuth2 ``refresh_token``
   grant POST when the credentials are an identity token), cached per set of scopes until
   ``expires_in``, and the request is repeated with ``Authorization: Bearer``.

Once a registry has challenged, later requests authenticate up front. A request is answered at most
once: a second ``401`` raises :class:`AuthenticationError`. No secret is logged or put in a message.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

from kaddons.errors import AuthenticationError, RegistryResponseError
from kaddons.oci.registry._credentials import Credentials
from kaddons.oci.registry._errors import read_error_body

__all__ = ["Authenticator", "Challenge", "merge_scopes", "parse_challenges"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_PARAM = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*=[ \t]*")
_DEFAULT_EXPIRES_IN = 60  # seconds, token.md "expires_in"
_EXPIRY_MARGIN = 5.0  # seconds before expiry when a cached token is no longer used
_CLIENT_ID = "kaddons"

#: Sends a request without authentication (with retries and error translation) and reads the answer.
PlainSender = Callable[[str, str, dict[str, str], dict[str, str | list[str]] | None, dict[str, str] | None],
                       httpx.Response]


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: lower-case scheme and lower-case parameter names."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges (RFC 7235 §4.1, §2.1).

    Handles several challenges in one value, quoted strings with escapes, and token68 credentials
    (kept under the parameter name ``""``). Parsing stops at the first malformed part.

    >>> parse_challenges('Bearer realm="https://a/token",service="r",scope="repository:x:pull"')[0].params["scope"]
    'repository:x:pull'
    """
    challenges: list[Challenge] = []
    pos, end = 0, len(header)
    while pos < end:
        while pos < end and header[pos] in " \t,":
            pos += 1
        scheme = _TOKEN.match(header, pos)
        if not scheme:
            break
        pos = scheme.end()
        params: dict[str, str] = {}
        if pos < end and header[pos] not in " \t,":
            return challenges  # the scheme must be followed by white space, a comma or the end
        while True:
            while pos < end and header[pos] in " \t":
                pos += 1
            param = _PARAM.match(header, pos)
            value_at = param.end() if param else -1
            quoted = _QUOTED.match(header, value_at) if param else None
            token = _TOKEN.match(header, value_at) if param and not quoted else None
            if param and (quoted or token):
                if quoted:
                    value = re.sub(r"\\(.)", r"\1", quoted.group(1))
                    pos = quoted.end()
                else:
                    assert token is not None
                    value, pos = token.group(), token.end()
                params[param.group(1).lower()] = value
                # After a comma, another parameter continues this challenge; a bare token starts the next one.
                look = pos
                while look < end and header[look] in " \t,":
                    look += 1
                if look < end and _PARAM.match(header, look):
                    pos = look
                    continue
                break
            if not params:
                token68 = _TOKEN68.match(header, pos)
                if token68 and token68.end() > pos:
                    params[""] = token68.group()
                    pos = token68.end()
            break
        challenges.append(Challenge(scheme.group().lower(), params))
    return challenges


def merge_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Union of scopes (``type:name:action,action``) with the actions of one resource merged, sorted."""
    merged: dict[str, set[str]] = {}
    for scope in scopes:
        for part in scope.split():
            resource, sep, actions = part.rpartition(":")
            if not sep or not resource:
                continue
            merged.setdefault(resource, set()).update(a for a in actions.split(",") if a)
    return tuple(sorted(f"{resource}:{','.join(sorted(actions))}" for resource, actions in merged.items()))


def _basic(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Authenticator:
    """The authentication state of one registry host (thread-safe).

    ``credentials`` is called at most once, on the first challenge (so a credential helper only runs
    for registries that ask); ``send`` performs token requests.
    """

    def __init__(self, host: str, credentials: Callable[[], Credentials | None], send: PlainSender) -> None:
        self.host = host
        self._load_credentials = credentials
        self._send = send
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._loaded = False
        self._scheme: str | None = None
        self._bearer: Challenge | None = None
        # (realm, service, *scopes) -> (token, fetched at, usable until), time.monotonic() seconds
        self._tokens: dict[tuple[str, ...], tuple[str, float, float]] = {}

    def credentials(self) -> Credentials | None:
        """The credentials for this host (explicit or from the Docker config), loaded once."""
        with self._lock:
            if not self._loaded:
                self._credentials = self._load_credentials()
                self._loaded = True
            return self._credentials

    def header(self, scopes: Iterable[str]) -> str | None:
        """The ``Authorization`` value to send up front, once the registry has challenged, else None."""
        if self._scheme == "basic":
            creds = self.credentials()
            return _basic(creds) if creds else None
        if self._scheme == "bearer" and self._bearer is not None:
            return "Bearer " + self._token(self._bearer, merge_scopes(scopes), refused=None, since=None, what="")
        return None

    def answer(self, response: httpx.Response, scopes: Iterable[str], what: str, *, sent: str | None,
               since: float) -> str:
        """The ``Authorization`` value answering the ``401`` ``response``; raises AuthenticationError.

        ``sent`` is the ``Authorization`` the refused request carried, ``since`` when that request
        started (``time.monotonic()``). A cached token other than the one sent is used as it is
        (another thread got it). The token sent is fetched again (it may have been revoked), unless
        it was fetched after ``since``: then it was just refused, and so is the request.
        """
        challenges = parse_challenges(", ".join(response.headers.get_list("www-authenticate")))
        if not challenges:
            raise self.denied(what, 401)
        by_scheme = {c.scheme: c for c in challenges}
        if "bearer" in by_scheme and "realm" in by_scheme["bearer"].params:
            challenge = by_scheme["bearer"]
            wanted = merge_scopes([*scopes, challenge.params.get("scope", "")])
            refused = sent.removeprefix("Bearer ") if sent and sent.startswith("Bearer ") else None
            token = self._token(challenge, wanted, refused=refused, since=since, what=what)
            with self._lock:
                self._scheme, self._bearer = "bearer", challenge
            return "Bearer " + token
        if "basic" in by_scheme:
            creds = self.credentials()
            if creds is None:
                raise self.denied(what, 401)
            with self._lock:
                self._scheme = "basic"
            return _basic(creds)
        schemes = ", ".join(sorted(by_scheme)) or "none"
        raise AuthenticationError(f"registry {self.host} asks for an unsupported authentication scheme ({schemes})")

    def refused(self, response: httpx.Response, what: str) -> AuthenticationError:
        """The error for a ``401``/``403`` that stays after authenticating (see :meth:`denied`).

        A ``401`` whose challenge says ``error="insufficient_scope"`` counts as ``403``: the
        credentials are good, the rights are missing.
        """
        status = response.status_code
        if status == 401:
            for challenge in parse_challenges(", ".join(response.headers.get_list("www-authenticate"))):
                if challenge.params.get("error") == "insufficient_scope" and self.credentials() is not None:
                    status = 403
        return self.denied(what, status)

    def denied(self, what: str, status: int) -> AuthenticationError:
        """The error for a refused request: what was refused and how to give (other) credentials.

        Without credentials: "requires authentication". With credentials, 401: "rejected the
        credentials"; 403: "denied access" (the user lacks the rights).
        """
        creds = self.credentials() if status in (401, 403) else None
        if creds is None:
            return AuthenticationError(
                f"registry {self.host} requires authentication for {what} ({status}): "
                "pass --username/--password or log in with docker login"
            )
        user = "an identity token" if creds.identity_token else f"user {creds.username!r}"
        if status == 401:
            return AuthenticationError(
                f"registry {self.host} rejected the credentials of {user} for {what} (401): "
                "check --username/--password or the Docker config credentials"
            )
        return AuthenticationError(
            f"registry {self.host} denied {user} access for {what} ({status}): "
            "ask for the rights on this repository, or use other credentials"
        )

    def _token(self, challenge: Challenge, scopes: tuple[str, ...], *, refused: str | None, since: float | None,
               what: str) -> str:
        """A token for ``scopes``: cached, or fetched. ``since`` set: a request was refused (see answer)."""
        key = (challenge.params["realm"], challenge.params.get("service", ""), *scopes)
        now = time.monotonic()
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None:
            token, fetched, usable_until = cached
            if since is not None and token == refused and fetched >= since:
                # A token fetched for this very request was refused: its scope was not granted.
                insufficient = challenge.params.get("error") == "insufficient_scope"
                raise self.denied(what, 403 if insufficient else 401)
            if token != refused and usable_until > now:
                return token
        token, expires_in = self._fetch_token(challenge, scopes)
        with self._lock:
            self._tokens[key] = (token, now, now + max(expires_in - _EXPIRY_MARGIN, 0.0))
        return token

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> tuple[str, float]:
        realm, service = challenge.params["realm"], challenge.params.get("service")
        if not realm.startswith(("https://", "http://")):
            raise AuthenticationError(f"registry {self.host} names a token realm that is not an http(s) URL")
        creds = self.credentials()
        what = f"token from {httpx.URL(realm).netloc.decode()} for {' '.join(scopes) or 'registry access'}"
        response: httpx.Response | None = None
        if creds is not None and creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token, "client_id": _CLIENT_ID}
            if service:
                form["service"] = service
            if scopes:
                form["scope"] = " ".join(scopes)
            response = self._send("POST", realm, {}, None, form)
            if response.status_code in (404, 405):  # no OAuth2 endpoint: fall back to GET (containerd does)
                response = None
        if response is None:
            params: dict[str, str | list[str]] = {"scope": list(scopes)}
            if service:
                params["service"] = service
            if creds is not None:
                params["account"] = creds.username
            headers = {"Authorization": _basic(creds)} if creds is not None else {}
            response = self._send("GET", realm, headers, params, None)
        if response.status_code in (401, 403):
            read_error_body(response)
            raise self.denied(what, response.status_code)
        if response.status_code != 200:
            body = read_error_body(response)
            raise RegistryResponseError(f"GET {what}: {body.describe(response.status_code, response.reason_phrase)}",
                                        status=response.status_code, code=body.code)
        try:
            answer = response.json()
            token = answer.get("token") or answer.get("access_token")
            expires_in = float(answer.get("expires_in") or _DEFAULT_EXPIRES_IN)
        except (ValueError, AttributeError, TypeError):
            token, expires_in = None, 0.0
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"the token server of {self.host} gave no token for {what}")
        return token, expires_in
