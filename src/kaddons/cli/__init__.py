"""The ``kaddons`` command line (:mod:`.app`).

Ctrl-C while the command is still starting (importing) ends it at once with ``error: interrupted``
and exit code 130, never a traceback: nothing has been done yet. :func:`.app.main` takes over once
the command runs.

Start-up counts (every FluxCD Job and Argo CD poll is a new ``kaddons sync``): :func:`.app.main` imports only the
command the command line names, and httpx's own command line is never imported.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _interrupted_while_starting(_signum: int, _frame: FrameType | None) -> None:
    sys.stderr.write("error: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_while_starting)

# httpx imports its own command line (click, rich, pygments: ~90 ms) whenever it is imported, and falls back to a
# stub when that import fails. kaddons never runs it: a None entry in sys.modules makes the import fail (documented).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None is what sys.modules documents
