"""A working copy of a GitOps repository given by URL, kept by kaddons (``kaddons serve --repo URL``).

:func:`working_copy_of` clones the URL once into ``$KADDONS_CACHE_DIR/repos/<sha256 of URL and branch>/`` (default
``~/.cache/kaddons/repos/…``), and on later starts fetches the branch and moves the copy to the remote's commit:
the folder is kaddons' own, so nothing of a person's is ever reset. Credentials as for pushes (ssh-agent, or
``KADDONS_GIT_USERNAME``/``KADDONS_GIT_PASSWORD``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pygit2

from kaddons._paths import cache_home
from kaddons.errors import GitRemoteError

from .working_copy import _Callbacks

__all__ = ["is_url", "working_copy_of"]


def is_url(text: str) -> bool:
    """Whether ``text`` names a remote repository (``scheme://…`` or ``user@host:path``) rather than a folder."""
    return "://" in text or ("@" in text.split("/", 1)[0] and ":" in text)


def _folder(url: str, branch: str) -> Path:
    given = os.environ.get("KADDONS_CACHE_DIR")
    base = Path(given) if given else cache_home() / "kaddons"
    return base / "repos" / hashlib.sha256(f"{url}\n{branch}".encode()).hexdigest()[:32]


def working_copy_of(url: str, branch: str = "main") -> Path:
    """The folder of kaddons' working copy of ``url`` at ``branch``, cloned or brought to the remote's commit.
    Raises :class:`~kaddons.errors.GitRemoteError` (exit 5) when the remote cannot be read or has no such branch."""
    folder = _folder(url, branch)
    try:
        if (folder / ".git").is_dir():
            repo = pygit2.Repository(str(folder))
            remote = repo.remotes["origin"]
            remote.fetch([f"+refs/heads/{branch}:refs/remotes/origin/{branch}"], callbacks=_Callbacks())
            target = repo.references[f"refs/remotes/origin/{branch}"].target
            repo.references.create(f"refs/heads/{branch}", target, force=True)
            repo.set_head(f"refs/heads/{branch}")
            repo.reset(target, pygit2.enums.ResetMode.HARD)
            repo.free()
            return folder
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        pygit2.clone_repository(url, str(partial), checkout_branch=branch, callbacks=_Callbacks()).free()
        partial.replace(folder)
        return folder
    except (pygit2.GitError, KeyError) as err:
        raise GitRemoteError(f"cannot read {url} (branch {branch}): {' '.join(str(err).split()) or 'no such branch'}"
                             ": check the URL, the branch and the credentials") from None
