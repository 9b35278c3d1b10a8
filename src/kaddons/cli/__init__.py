"""The ``kaddons`` command line (:mod:`.app`).

Ctrl-C while the command is still starting (importing) ends it at once with ``error: interrupted``
and exit code 130, never a traceback: nothing has been done yet. :func:`.app.main` takes over once
the command runs.
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
