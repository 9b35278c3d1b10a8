"""The GitOps repository: the working copy kaddons renders into, commits in and pushes from (phase 2)."""

from .working_copy import Upstream, WorkingCopy

__all__ = ["Upstream", "WorkingCopy"]
