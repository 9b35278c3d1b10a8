"""Client options: where and how to connect, and how long to keep trying."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kaddons import __version__

__all__ = ["RegistryOptions", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and for how long, one request is retried.

    A request is tried at most ``attempts`` times in total. Between tries the client sleeps for an
    exponential backoff with full jitter: a random time in ``[0, min(max_delay, base_delay * 2**n)]``
    seconds after the n-th failure (n from 0). A ``Retry-After`` header (seconds or HTTP-date) of a
    429/503 answer replaces the backoff. No retry starts once ``max_elapsed`` seconds have passed
    since the first try, nor when its sleep would end after that bound.

    Retried: transport errors (connect, read, write, timeouts, protocol), 429 and 500/502/503/504.
    """

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_elapsed: float = 60.0

    def backoff(self, failures: int) -> float:
        """Seconds to sleep after ``failures`` (>= 1) failed tries: full-jitter exponential backoff."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(failures - 1, 0)))
        return random.uniform(0.0, max(ceiling, 0.0))


@dataclass(frozen=True)
class RegistryOptions:
    """How to talk to one registry.

    - ``insecure``: plain HTTP (``http://``) instead of HTTPS.
    - ``ca_file``: a PEM bundle of extra CAs, trusted in addition to the system CAs. TLS is always
      verified when HTTPS is used.
    - ``username``/``password``: explicit credentials; they win over the Docker config.
    - ``config_path``: the Docker ``config.json``; default ``$DOCKER_CONFIG/config.json``, else
      ``~/.docker/config.json``.
    - ``retry``: the :class:`RetryPolicy` of every request.
    - ``timeout``: seconds allowed for each network operation (connect, each read, each write).
    - ``user_agent``: the ``User-Agent`` header.
    - ``on_request``: called with ``(method, host)`` before every HTTP request is sent, retries and
      token requests included (request metrics); it must not raise.
    """

    insecure: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    config_path: Path | None = None
    retry: RetryPolicy = RetryPolicy()
    timeout: float = 60.0
    user_agent: str = f"kaddons/{__version__}"
    on_request: Callable[[str, str], None] | None = field(default=None, repr=False, compare=False)
