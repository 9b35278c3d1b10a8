"""Add-on lifecycle as commits (issue 14, first part), as a user runs it against a real Git remote
(``git daemon``) and the test charts (a real Helm repository): upgrade, history, rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.git_remote import GitDaemon, git
from tests.stacks.test_apply import _charts, _log, _seeded, daemon, kaddons  # noqa: F401  (fixtures)


def _version(work: Path) -> str:
    text = (work / "clusters/edge/cluster.yaml").read_text()
    return text.split("chart_version: ", 1)[1].split("\n", 1)[0]


def test_upgrade_history_rollback(daemon: GitDaemon, tmp_path: Path) -> None:  # noqa: F811
    url, work = _seeded(daemon, tmp_path, "lifecycle")
    assert kaddons("apply", cwd=work).returncode == 0
    comment = "# the dashboard\n"
    document = work / "clusters/edge/cluster.yaml"
    document.write_text(comment + document.read_text())
    git("commit", "--quiet", "-am", "a comment", cwd=work)

    dry = kaddons("addons", "upgrade", "headlamp", "--chart-version", "0.44.0", "--dry-run", cwd=work)
    assert dry.returncode == 0, dry.stderr
    assert "clusters/edge/argocd/apps/addon-headlamp.yaml" in dry.stdout.splitlines()
    assert _version(work) == "0.45.0"  # the dry run put the document back

    up = kaddons("addons", "upgrade", "headlamp", "--chart-version", "0.44.0", cwd=work)
    assert up.returncode == 0, up.stderr
    assert _log(url, tmp_path)[0] == "kaddons: upgrade add-on headlamp from chart version 0.45.0 to 0.44.0"
    assert _version(work) == "0.44.0" and document.read_text().startswith(comment)  # comments kept
    values = work / "clusters/edge/values/headlamp.yaml"
    values.write_text(values.read_text() + "podAnnotations: {team: edge}\n")
    assert kaddons("apply", "-m", "headlamp annotations", cwd=work).returncode == 0

    history = kaddons("addons", "history", "headlamp", "-o", "json", cwd=work)
    assert history.returncode == 0, history.stderr
    subjects = [row["subject"] for row in json.loads(history.stdout)]
    assert subjects[:3] == ["headlamp annotations", "kaddons: upgrade add-on headlamp from chart version 0.45.0 to "
                            "0.44.0", "a comment"]

    back = kaddons("addons", "rollback", "headlamp", cwd=work)  # before the newest change: the annotations
    assert back.returncode == 0, back.stderr
    assert "team: edge" not in values.read_text() and _version(work) == "0.44.0"
    upgrade = json.loads(history.stdout)[1]["revision"]
    first = kaddons("addons", "rollback", "headlamp", "--to", f"{upgrade}~1", cwd=work)
    assert first.returncode == 0, first.stderr
    assert _version(work) == "0.45.0"
    log = _log(url, tmp_path)
    assert log[0].startswith("kaddons: roll back add-on headlamp to its state at ")
    assert len(log) == 7  # every change is one more commit; nothing was rewritten
    assert git("status", "--porcelain", cwd=work) == ""


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["upgrade", "nope", "--chart-version", "1.0.0"], 3, "no add-on named 'nope'"),
    (["upgrade", "headlamp", "--chart-version", "9.9.9"], 3, "chart headlamp has no version 9.9.9"),
    (["rollback", "headlamp", "--to", "not-a-revision"], 3, "--to 'not-a-revision' is not a revision"),
])
def test_bad_input_commits_nothing_and_leaves_the_working_copy(daemon: GitDaemon, tmp_path: Path,  # noqa: F811
                                                               args: list[str], code: int, needle: str) -> None:
    url, work = _seeded(daemon, tmp_path, f"bad-{args[0]}-{code}-{len(needle)}")
    before = (work / "clusters/edge/cluster.yaml").read_text()
    done = kaddons("addons", *args, cwd=work)
    assert done.returncode == code, done.stderr
    assert needle in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert (work / "clusters/edge/cluster.yaml").read_text() == before
    assert _log(url, tmp_path) == ["the cluster document"]
