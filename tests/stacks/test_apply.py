"""``kaddons cluster apply|diff`` against a real Git remote (``git daemon --enable=receive-pack`` on 127.0.0.1),
run as a user runs them (the CLI in a subprocess, inside a clone made by the git CLI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.git_remote import GIT_ENV, GitDaemon, git, run_git_daemon
from tests.helpers.http_server import StaticServer
from tests.stacks.conftest import mirrors_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitDaemon]:
    with run_git_daemon(tmp_path_factory.mktemp("remotes")) as running:
        yield running


def _seeded(daemon: GitDaemon, tmp_path: Path, name: str,
            prepare: Callable[[Path], None] | None = None) -> tuple[str, Path]:
    """A remote holding the example repository (one commit by someone else; ``prepare`` may change the copy
    first), and a user's clone of it."""
    url = daemon.create(name)
    seed = tmp_path / "seed"
    shutil.copytree(EXAMPLE, seed)
    if prepare is not None:
        prepare(seed)
    git("init", "--quiet", "-b", "main", cwd=seed)
    git("add", "-A", cwd=seed)
    git("commit", "--quiet", "-m", "the cluster document", cwd=seed)
    git("push", "--quiet", url, "main", cwd=seed)
    work = tmp_path / "work"
    git("clone", "--quiet", url, str(work))
    return url, work


@pytest.fixture(autouse=True)
def _charts(chart_repo: StaticServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's chart sources, mirrored to the test charts; a chart cache per test."""
    monkeypatch.setenv("KADDONS_MIRRORS_FILE", str(mirrors_file(chart_repo, tmp_path)))
    monkeypatch.setenv("KADDONS_CACHE_DIR", str(tmp_path / "cache"))


def kaddons(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd.parent), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "kaddons", "cluster", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _log(url: str, tmp_path: Path) -> list[str]:
    check = tmp_path / "check"
    shutil.rmtree(check, ignore_errors=True)
    git("clone", "--quiet", url, str(check))
    return git("log", "--format=%s", cwd=check).splitlines()


def test_apply_commits_once_and_a_second_apply_makes_no_commit(daemon: GitDaemon, tmp_path: Path) -> None:
    url, work = _seeded(daemon, tmp_path, "once")
    edited = work / "clusters/edge/values/headlamp.yaml"
    edited.write_text(edited.read_text() + "extra: true\n")

    diff = kaddons("diff", cwd=work)
    assert diff.returncode == 0, diff.stderr
    assert "+++ b/clusters/edge/argocd/apps/addon-headlamp.yaml" in diff.stdout
    assert "+extra: true" in diff.stdout  # the user's values edit and its rendered copy
    assert _log(url, tmp_path) == ["the cluster document"]  # diff writes nothing

    first = kaddons("apply", cwd=work)
    assert first.returncode == 0, first.stderr
    assert "pushed" in first.stderr
    assert _log(url, tmp_path) == ["kaddons: apply cluster edge (argocd)", "the cluster document"]
    check = tmp_path / "check"
    assert (check / "clusters/edge/argocd/root.yaml").is_file()
    assert "extra: true" in (check / "clusters/edge/values/headlamp.yaml").read_text()  # the input went along
    assert "extra: true" in (check / "clusters/edge/argocd/values/headlamp.yaml").read_text()
    assert "repoURL: https://github.com/example/gitops.git" in (check / "clusters/edge/argocd/root.yaml").read_text()
    # The user's clone is where the remote is, and clean.
    assert git("status", "--porcelain", cwd=work) == ""
    assert git("rev-parse", "HEAD", cwd=work) == git("rev-parse", "origin/main", cwd=work)

    second = kaddons("apply", cwd=work)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stderr and "no commit" in second.stderr
    assert len(_log(url, tmp_path)) == 2
    assert kaddons("diff", cwd=work).stdout == ""


def test_a_push_refused_because_someone_pushed_first_is_rendered_again_on_top(daemon: GitDaemon,
                                                                               tmp_path: Path) -> None:
    url, work = _seeded(daemon, tmp_path, "race")
    other = tmp_path / "other"
    git("clone", "--quiet", url, str(other))
    # Someone else changes another input (the kyverno add-on) and pushes, after this clone was made.
    kyverno = other / "clusters/edge/addons/kyverno.yaml"
    kyverno.write_text(kyverno.read_text().replace("namespace: kyverno", "namespace: kyverno\n  # reviewed"))
    git("commit", "--quiet", "-am", "kyverno reviewed", cwd=other)
    git("push", "--quiet", "origin", "main", cwd=other)
    values = work / "clusters/edge/values/headlamp.yaml"
    values.write_text(values.read_text() + "mine: 1\n")

    done = kaddons("apply", cwd=work)
    assert done.returncode == 0, done.stderr
    assert _log(url, tmp_path) == ["kaddons: apply cluster edge (argocd)", "kyverno reviewed", "the cluster document"]
    check = tmp_path / "check"
    assert "mine: 1" in (check / "clusters/edge/argocd/values/headlamp.yaml").read_text()
    assert "# reviewed" in (check / "clusters/edge/addons/kyverno.yaml").read_text()
    assert git("status", "--porcelain", cwd=work) == ""
    assert "# reviewed" in (work / "clusters/edge/addons/kyverno.yaml").read_text()  # the clone came along


def test_the_same_file_changed_here_and_on_the_remote_is_a_conflict(daemon: GitDaemon, tmp_path: Path) -> None:
    url, work = _seeded(daemon, tmp_path, "conflict")
    other = tmp_path / "other"
    git("clone", "--quiet", url, str(other))
    for clone, text in ((other, "theirs: 1\n"), (work, "mine: 1\n")):
        values = clone / "clusters/edge/values/headlamp.yaml"
        values.write_text(values.read_text() + text)
    git("commit", "--quiet", "-am", "theirs", cwd=other)
    git("push", "--quiet", "origin", "main", cwd=other)

    done = kaddons("apply", cwd=work)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: clusters/edge/values/headlamp.yaml changed both here and on origin/main: commit your change, "
        "git pull --rebase, then apply again")
    assert _log(url, tmp_path) == ["theirs", "the cluster document"]
    assert "mine: 1" in (work / "clusters/edge/values/headlamp.yaml").read_text()  # nothing of the user's lost


def test_a_bad_output_format_is_refused_before_any_chart_source_is_asked(daemon: GitDaemon, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _url, work = _seeded(daemon, tmp_path, "format")
    monkeypatch.setenv("KADDONS_MIRRORS_FILE", str(tmp_path / "none.yaml"))  # the example's sources: unreachable
    done = kaddons("template", "-o", "xml", cwd=work)
    assert (done.returncode, done.stderr) == (2, "error: -o 'xml': use table, json or yaml\n")


def test_an_invalid_document_commits_nothing(daemon: GitDaemon, tmp_path: Path) -> None:
    url, work = _seeded(daemon, tmp_path, "invalid")
    document = work / "clusters/edge/cluster.yaml"
    document.write_text(document.read_text().replace("- manifest: ns-headlamp", "- manifest: ns-missing"))
    done = kaddons("apply", cwd=work)
    assert done.returncode == 2
    assert "ns-missing" in done.stderr and "Traceback" not in done.stderr
    assert _log(url, tmp_path) == ["the cluster document"]
    assert not (work / "clusters/edge/argocd").exists()


def test_a_remote_hook_that_declines_the_push_is_reported(daemon: GitDaemon, tmp_path: Path) -> None:
    url, work = _seeded(daemon, tmp_path, "hook")
    hook = daemon.path("hook") / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    done = kaddons("apply", cwd=work)
    assert done.returncode == 5, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "refused the push to main: pre-receive hook declined (protected branch)" in done.stderr
    assert git("rev-parse", "HEAD", cwd=work) == git("rev-parse", "origin/main", cwd=work)  # no local commit moved
    assert _log(url, tmp_path) == ["the cluster document"]


def test_an_unreachable_remote_is_exit_5(daemon: GitDaemon, tmp_path: Path) -> None:
    _url, work = _seeded(daemon, tmp_path, "gone")
    git("remote", "set-url", "origin", "git://127.0.0.1:1/gone.git", cwd=work)
    done = kaddons("apply", cwd=work)
    assert done.returncode == 5
    assert "cannot fetch main from git://127.0.0.1:1/gone.git" in done.stderr
    assert "Traceback" not in done.stderr


def test_dry_run_and_a_first_push_to_an_empty_remote(daemon: GitDaemon, tmp_path: Path) -> None:
    url = daemon.create("empty")
    work = tmp_path / "work"
    git("clone", "--quiet", url, str(work))
    shutil.copytree(EXAMPLE, work, dirs_exist_ok=True)
    dry = kaddons("apply", "--dry-run", "--engine", "argocd", cwd=work)
    assert dry.returncode == 0, dry.stderr
    assert "clusters/edge/cluster.yaml" in dry.stdout.splitlines()
    assert "dry run" in dry.stderr
    assert git("ls-remote", url) == ""
    done = kaddons("apply", "-m", "first cluster", cwd=work)
    assert done.returncode == 0, done.stderr
    assert _log(url, tmp_path) == ["first cluster"]
    # The document's files and the rendered tree are committed; a file the document does not read is not.
    assert git("status", "--porcelain", cwd=work) == "?? README.md\n"


def test_apply_for_flux_commits_the_flux_tree(daemon: GitDaemon, tmp_path: Path) -> None:
    url, work = _seeded(daemon, tmp_path, "flux")
    done = kaddons("apply", "--engine", "flux", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "changed, flux)" in done.stderr
    assert _log(url, tmp_path)[0] == "kaddons: apply cluster edge (flux)"
    check = tmp_path / "check"
    assert (check / "clusters/edge/flux/members/addon-headlamp/helmrelease.yaml").is_file()
    assert not (check / "clusters/edge/argocd").exists()
    again = kaddons("apply", "--engine", "flux", "-o", "json", cwd=work)
    assert json.loads(again.stdout) == {"cluster": "edge", "engine": "flux", "upstream": "origin/main", "commit": None,
                                        "changed": [], "dryRun": False, "keptLocalChanges": []}


def test_an_unchanged_document_is_known_up_to_date_without_asking_any_chart_source(
        daemon: GitDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, work = _seeded(daemon, tmp_path, "record")
    document = work / "clusters/edge/cluster.yaml"
    document.write_text(document.read_text().replace("- include: addons/kyverno.yaml", "- include: addons"))
    assert kaddons("apply", cwd=work).returncode == 0
    _log(url, tmp_path)
    record = json.loads((tmp_path / "check/clusters/edge/argocd/.kaddons-inputs.json").read_text())
    assert record["document"] == "clusters/edge/cluster.yaml" and record["engine"] == "argocd"
    assert "clusters/edge/values/headlamp.yaml" in record["inputs"]
    assert record["folders"] == {"clusters/edge/addons": ["kyverno.yaml"]}
    # With the chart sources unreachable, an apply with nothing to do still answers: it asks none of them.
    unreachable = tmp_path / "unreachable.yaml"
    unreachable.write_text("https://kubernetes-sigs.github.io/headlamp/: http://127.0.0.1:1/\n"
                           "https://kyverno.github.io/kyverno/: http://127.0.0.1:1/\n")
    monkeypatch.setenv("KADDONS_MIRRORS_FILE", str(unreachable))
    again = kaddons("apply", cwd=work)
    assert again.returncode == 0 and "no commit" in again.stderr
    # A file added to an included folder is a change: the full apply runs (and needs the sources).
    (work / "clusters/edge/addons/extra.yaml").write_text(
        (work / "clusters/edge/addons/kyverno.yaml").read_text().replace("name: kyverno", "name: kyverno-two", 1))
    assert kaddons("apply", cwd=work).returncode == 5
    assert len(_log(url, tmp_path)) == 2


@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_moving_an_addon_to_another_namespace_needs_confirm_destructive(daemon: GitDaemon, tmp_path: Path,
                                                                       engine: str) -> None:
    url, work = _seeded(daemon, tmp_path, f"move-{engine}")
    assert kaddons("apply", "--engine", engine, cwd=work).returncode == 0
    document = work / "clusters/edge/cluster.yaml"
    document.write_text(document.read_text().replace("namespace: headlamp\n", "namespace: dashboard\n", 1))
    commits = len(_log(url, tmp_path))
    refused = kaddons("apply", "--engine", engine, cwd=work)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1] == (
        "error: add-on headlamp: namespace headlamp -> dashboard: a new namespace is a new install there and a delete "
        "of everything in the old one, its volumes' data too; apply with --confirm-destructive to go ahead")
    assert len(_log(url, tmp_path)) == commits
    preview = kaddons("apply", "--engine", engine, "--dry-run", cwd=work)
    assert preview.returncode == 0 and "add-on headlamp: namespace headlamp -> dashboard: destructive" in preview.stderr
    done = kaddons("apply", "--engine", engine, "--confirm-destructive", cwd=work)
    assert done.returncode == 0, done.stderr
    assert len(_log(url, tmp_path)) == commits + 1
