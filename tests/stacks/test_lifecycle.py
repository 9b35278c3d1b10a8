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
    assert subjects == ["headlamp annotations", "kaddons: upgrade add-on headlamp from chart version 0.45.0 to "
                        "0.44.0", "the cluster document"]  # the comment on top of the document is not headlamp's
    platform = kaddons("stacks", "history", "platform", "-o", "json", cwd=work)
    assert json.loads(platform.stdout)[0]["subject"] == "headlamp annotations"
    policy = [row["subject"] for row in json.loads(kaddons("stacks", "history", "policy", "-o", "json",
                                                           cwd=work).stdout)]
    assert "headlamp annotations" not in policy and policy[-1] == "the cluster document"
    unknown = kaddons("stacks", "history", "nope", cwd=work)
    assert unknown.returncode == 3 and "stacks: platform, policy" in unknown.stderr

    back = kaddons("addons", "rollback", "headlamp", cwd=work)  # before the newest change: the annotations
    assert back.returncode == 0, back.stderr
    assert "team: edge" not in values.read_text() and _version(work) == "0.44.0"
    upgrade = json.loads(history.stdout)[1]["revision"]
    first = kaddons("addons", "rollback", "headlamp", "--to", f"{upgrade}~1", cwd=work)
    assert first.returncode == 0, first.stderr
    assert _version(work) == "0.45.0"
    log = _log(url, tmp_path)
    assert log[0].startswith("kaddons: roll back add-on headlamp to its state at ")
    listed = {row["name"]: row for row in json.loads(kaddons("addons", "list", "--offline", "-o", "json",
                                                             cwd=work).stdout)}
    assert listed["headlamp"]["rolled_back_to"] == git("rev-parse", f"{upgrade}~1", cwd=work).strip()[:12]
    assert listed["kyverno"]["rolled_back_to"] is None
    table = kaddons("addons", "list", "--offline", cwd=work).stdout.splitlines()
    assert table[0].endswith("ROLLED_BACK_TO")
    assert table[1].startswith("headlamp") and table[1].endswith(listed["headlamp"]["rolled_back_to"])
    assert kaddons("addons", "upgrade", "headlamp", "--set", "replicaCount=2", cwd=work).returncode == 0
    listed = {row["name"]: row for row in json.loads(kaddons("addons", "list", "--offline", "-o", "json",
                                                             cwd=work).stdout)}
    assert listed["headlamp"]["rolled_back_to"] is None  # until the next change
    newest = git("log", "-1", "--format=%cI", cwd=work).strip()  # the upgrade's commit: headlamp's last change
    assert listed["headlamp"]["last_updated"] == newest.replace("+00:00", "Z")
    assert listed["kyverno"]["last_updated"] < listed["headlamp"]["last_updated"]
    log = _log(url, tmp_path)[1:]
    assert len(log) == 7  # every change is one more commit; nothing was rewritten
    assert git("status", "--porcelain", cwd=work) == ""


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["upgrade", "nope", "--chart-version", "1.0.0"], 3,
     "no add-on named 'nope' (add-ons: headlamp, kyverno): see kaddons cluster addons list"),
    (["upgrade", "headlamp", "--chart-version", "9.9.9"], 3, "chart headlamp has no version 9.9.9"),
    (["rollback", "headlamp", "--to", "not-a-revision"], 3, "--to 'not-a-revision' is not a revision"),
    (["install", "podinfo", "--name", "../../../x", "--namespace", "ok", "--stack", "apps", "--source", "headlamp",
      "--chart-version", "6.14.1"], 2, "add-on name '../../../x' is not an RFC 1123 subdomain"),
    (["install", "podinfo", "--namespace", "Team_A", "--stack", "apps", "--source", "headlamp", "--chart-version",
      "6.14.1"], 2, "namespace 'Team_A' is not an RFC 1123 label (lowercase letters, digits and '-', at most 63, "
                    "starting and ending with a letter or digit): give another with --namespace"),
    (["upgrade", "headlamp", "--set", "env[name=LOG].value=debug"], 2,
     "no item of the list has name=LOG (name: none); [0] appends a new item"),
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


def test_install_then_uninstall(daemon: GitDaemon, tmp_path: Path) -> None:  # noqa: F811
    url, work = _seeded(daemon, tmp_path, "install")
    values = tmp_path / "podinfo-values.yaml"
    values.write_text("replicaCount: 2\n")
    done = kaddons("addons", "install", "podinfo", "--stack", "apps", "--source", "headlamp", "--chart-version",
                   "6.14.1", "--namespace", "headlamp", "--parent", "manifest:ns-headlamp", "--values", str(values),
                   cwd=work)
    assert done.returncode == 0, done.stderr
    assert _log(url, tmp_path)[0] == "kaddons: install add-on podinfo (chart podinfo 6.14.1) in stack apps"
    assert (work / "clusters/edge/values/podinfo.yaml").read_text() == "replicaCount: 2\n"
    assert (work / "clusters/edge/argocd/apps/addon-podinfo.yaml").is_file()
    listed = kaddons("addons", "list", "--offline", "-o", "json", cwd=work)
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "podinfo")
    assert (row["stack"], row["parents"], row["depth"]) == ("apps", "manifest:ns-headlamp", 1)

    again = kaddons("addons", "install", "podinfo", "--stack", "apps", "--source", "headlamp", "--chart-version",
                    "6.14.1", cwd=work)
    assert again.returncode == 2 and "exists already" in again.stderr

    gone = kaddons("addons", "uninstall", "podinfo", cwd=work)
    assert gone.returncode == 0, gone.stderr
    assert _log(url, tmp_path)[0] == "kaddons: uninstall add-on podinfo (definition kept: kaddons cluster addons " \
                                     "restore podinfo)"
    check = tmp_path / "check"
    assert not (check / "clusters/edge/argocd/apps/addon-podinfo.yaml").exists()  # off the cluster
    assert (check / "clusters/edge/values/podinfo.yaml").read_text() == "replicaCount: 2\n"  # kept for a restore
    listed = kaddons("addons", "list", "--offline", "-o", "json", cwd=work)
    assert "podinfo" not in {r["name"] for r in json.loads(listed.stdout)}
    table = kaddons("addons", "list", "--offline", cwd=work)
    assert "uninstalled, definition kept: podinfo (kaddons cluster addons restore NAME)" in table.stderr
    kept = kaddons("addons", "uninstalled", "-o", "json", cwd=work)
    assert json.loads(kept.stdout) == [{"name": "podinfo", "stack": "apps", "chart": "podinfo", "version": "6.14.1",
                                        "namespace": "headlamp"}], kept.stderr
    taken = kaddons("addons", "install", "podinfo", "--stack", "apps", "--source", "headlamp", "--chart-version",
                    "6.14.1", cwd=work)
    assert taken.returncode == 2 and "kaddons cluster addons restore podinfo brings it back" in taken.stderr
    twice = kaddons("addons", "uninstall", "podinfo", cwd=work)
    assert twice.returncode == 2 and "uninstalled already" in twice.stderr

    back = kaddons("addons", "restore", "podinfo", cwd=work)
    assert back.returncode == 0, back.stderr
    assert _log(url, tmp_path)[0] == "kaddons: restore add-on podinfo in stack apps"
    listed = kaddons("addons", "list", "--offline", "-o", "json", cwd=work)
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "podinfo")
    assert (row["stack"], row["parents"], row["version"]) == ("apps", "manifest:ns-headlamp", "6.14.1")
    assert "replicaCount: 2" in (check / "clusters/edge/argocd/values/podinfo.yaml").read_text()
    assert "uninstalled" not in (work / "clusters/edge/cluster.yaml").read_text()

    deleted = kaddons("addons", "uninstall", "podinfo", "--delete", cwd=work)
    assert deleted.returncode == 0, deleted.stderr
    assert _log(url, tmp_path)[0] == "kaddons: uninstall add-on podinfo and delete its definition"
    assert not (check / "clusters/edge/values/podinfo.yaml").exists()
    assert not (check / "clusters/edge/argocd/apps/addon-podinfo.yaml").exists()
    none = kaddons("addons", "restore", "podinfo", cwd=work)
    assert none.returncode == 3 and "no uninstalled add-on named 'podinfo' (kept: none)" in none.stderr
    assert kaddons("addons", "uninstalled", cwd=work).stdout.splitlines() == ["NAME  STACK  CHART  VERSION  NAMESPACE"]
    assert git("status", "--porcelain", cwd=work) == ""


def test_uninstall_keeps_an_included_definition_and_delete_forgets_it_later(daemon: GitDaemon,  # noqa: F811
                                                                            tmp_path: Path) -> None:
    """kyverno is declared in its own file (``include: addons/kyverno.yaml``), its values in a file beside it: the
    file declaring it goes, its entry is kept in the document (the values file named from there), and a restore
    puts it into its stack with the same rendered values."""

    def values_beside(seed: Path) -> None:
        declared = seed / "clusters/edge/addons/kyverno.yaml"
        text = declared.read_text()
        values = text.split("  values: |\n", 1)[1].split("settings:", 1)[0]
        (seed / "clusters/edge/addons/kyverno-values.yaml").write_text(
            "".join(line[4:] + "\n" for line in values.splitlines()))
        declared.write_text(text.replace("  values: |\n" + values, "  from_file: kyverno-values.yaml\n"))

    url, work = _seeded(daemon, tmp_path, "kept", values_beside)
    assert kaddons("apply", cwd=work).returncode == 0
    rendered = work / "clusters/edge/argocd/apps/addon-kyverno.yaml"
    before = rendered.read_text()
    assert kaddons("addons", "uninstall", "kyverno", cwd=work).returncode == 0
    assert not rendered.exists() and not (work / "clusters/edge/addons/kyverno.yaml").exists()
    document = (work / "clusters/edge/cluster.yaml").read_text()
    assert "  kaddons:\n    uninstalled:\n      - stack: policy\n        addon:\n          name: kyverno\n" in document
    assert "from_file: addons/kyverno-values.yaml" in document  # relative to the document now
    assert kaddons("addons", "restore", "kyverno", cwd=work).returncode == 0
    assert rendered.read_text() == before  # the same Application as before the uninstall
    assert kaddons("addons", "uninstall", "kyverno", cwd=work).returncode == 0
    forgot = kaddons("addons", "uninstall", "kyverno", "--delete", cwd=work)
    assert forgot.returncode == 0, forgot.stderr
    assert _log(url, tmp_path)[0] == "kaddons: delete the kept definition of add-on kyverno"
    document = (work / "clusters/edge/cluster.yaml").read_text()
    assert "chart_name: kyverno" not in document and "uninstalled" not in document
    assert git("status", "--porcelain", cwd=work) == ""


def test_uninstalling_a_parent_needs_force_and_reattaches_children(daemon: GitDaemon,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    url, work = _seeded(daemon, tmp_path, "reattach")
    document = work / "clusters/edge/cluster.yaml"
    parent = "            - manifest: ns-headlamp\n"
    document.write_text(document.read_text().replace(parent, parent + "            - addon: extra\n")
                        .replace("      addons:\n        - name: headlamp", "      addons:\n        - name: extra\n"
                                 "          chart_name: headlamp\n          chart_version: 0.44.0\n"
                                 "          registry_name: headlamp\n"
                                 "          registry_url: https://kubernetes-sigs.github.io/headlamp/\n"
                                 "          namespace: headlamp\n          parents: [{manifest: ns-kyverno}]\n"
                                 "        - name: headlamp", 1))
    assert kaddons("apply", cwd=work).returncode == 0, "seed with a parent add-on"
    refused = kaddons("addons", "uninstall", "extra", cwd=work)
    assert refused.returncode == 2
    assert "add-on 'extra' is the parent of addon headlamp: --force re-attaches them" in refused.stderr
    done = kaddons("addons", "uninstall", "extra", "--force", cwd=work)
    assert done.returncode == 0, done.stderr
    listed = kaddons("addons", "list", "--offline", "-o", "json", cwd=work)
    headlamp = next(r for r in json.loads(listed.stdout) if r["name"] == "headlamp")
    assert headlamp["parents"] == "manifest:ns-headlamp,manifest:ns-kyverno"
    assert _log(url, tmp_path)[0] == ("kaddons: uninstall add-on extra (definition kept: kaddons cluster addons "
                                      "restore extra)")


def test_upgrade_sets_values_in_the_values_file_keeping_it_as_written(daemon: GitDaemon,  # noqa: F811
                                                                      tmp_path: Path) -> None:
    url, work = _seeded(daemon, tmp_path, "set-values")
    values = work / "clusters/edge/values/headlamp.yaml"
    before = values.read_text()
    done = kaddons("addons", "upgrade", "headlamp", "--set", "config.pluginsDir=/plugins", "--set",
                   "replicaCount=3", "--set-string", "podAnnotations.team=007", cwd=work)
    assert done.returncode == 0, done.stderr
    text = values.read_text()
    assert text.startswith("replicaCount: 3\nconfig:\n  baseURL: https://${{ ankra.domain }}/headlamp\n")
    assert "  pluginsDir: /plugins\n" in text and "podAnnotations:\n  team: '007'\n" in text
    assert _log(url, tmp_path)[0] == ("kaddons: upgrade add-on headlamp: values config.pluginsDir, replicaCount, "
                                      "podAnnotations.team")
    assert _version(work) == "0.45.0" and before != text
    listed = kaddons("addons", "upgrade", "headlamp", "--set", "env[0].name=LOG", "--set",
                     "env[name=LOG].value=debug", cwd=work)  # a selector's own '=' is not the assignment's
    assert listed.returncode == 0, listed.stderr
    assert values.read_text().endswith("env:\n  - name: LOG\n    value: debug\n")
    bad = kaddons("addons", "upgrade", "headlamp", "--set", "config.baseURL[0]=x", cwd=work)
    assert bad.returncode == 2 and "indexes a list" in bad.stderr and "Traceback" not in bad.stderr
    nothing = kaddons("addons", "upgrade", "headlamp", cwd=work)
    assert nothing.returncode == 2 and "give --chart-version, --set, --values-from-file" in nothing.stderr


def test_upgrade_dry_run_previews_values_manifests_and_crds(daemon: GitDaemon, tmp_path: Path) -> None:  # noqa: F811
    url, work = _seeded(daemon, tmp_path, "preview")
    dry = kaddons("addons", "upgrade", "kyverno", "--chart-version", "3.9.0", "--set",
                  "admissionController.replicas=3", "--dry-run", cwd=work)
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout
    assert "--- values (3.7.1)\n+++ values (3.9.0)\n" in out
    assert "-  replicas: 1\n+  replicas: 3\n" in out  # the stack variable as substituted, then the new value
    assert "--- kyverno 3.7.1: templates/admission-controller/deployment.yaml\n" in out
    assert "-    helm.sh/chart: kyverno-3.7.1\n" in out and "+    helm.sh/chart: kyverno-3.9.0\n" in out
    crds = [line for line in dry.stderr.splitlines() if line.startswith("warning: CRD ")]
    assert crds and all("3.9.0's templates: the upgrade applies it" in line for line in crds)
    assert any("clusterpolicies.kyverno.io" in line for line in crds)
    assert _log(url, tmp_path) == ["the cluster document"]
    assert "chart_version: 3.7.1" in (work / "clusters/edge/addons/kyverno.yaml").read_text()
    values_only = kaddons("addons", "upgrade", "headlamp", "--set", "replicaCount=4", "--dry-run", cwd=work)
    assert values_only.returncode == 0, values_only.stderr
    assert "-  replicas: 2\n+  replicas: 4\n" in values_only.stdout  # the Deployment as Helm renders it


def test_upgrade_replaces_values_edits_parents_and_moves_namespace_only_when_confirmed(
        daemon: GitDaemon, tmp_path: Path) -> None:  # noqa: F811
    url, work = _seeded(daemon, tmp_path, "upgrade-more")
    new_values = tmp_path / "kyverno-values.yaml"
    new_values.write_text("admissionController:\n  replicas: 2\n")
    replaced = kaddons("addons", "upgrade", "kyverno", "--values-from-file", str(new_values), cwd=work)
    assert replaced.returncode == 0, replaced.stderr
    kyverno = (work / "clusters/edge/addons/kyverno.yaml").read_text()
    assert "  values: |\n    admissionController:\n      replicas: 2\n" in kyverno  # inline, as it was
    assert _log(url, tmp_path)[0] == "kaddons: upgrade add-on kyverno: values replaced"
    both = kaddons("addons", "upgrade", "kyverno", "--values-from-file", str(new_values), "--set", "a=1", cwd=work)
    assert both.returncode == 2 and "not both" in both.stderr
    parents = kaddons("addons", "upgrade", "kyverno", "--add-parent", "addon:headlamp", cwd=work)
    assert parents.returncode == 0, parents.stderr
    assert _log(url, tmp_path)[0] == ("kaddons: upgrade add-on kyverno: parents manifest:ns-kyverno, "
                                      "addon:headlamp")
    missing = kaddons("addons", "upgrade", "kyverno", "--remove-parent", "manifest:nope", cwd=work)
    assert missing.returncode == 2 and "(its parents: manifest:ns-kyverno, addon:headlamp)" in missing.stderr
    unknown = kaddons("addons", "upgrade", "kyverno", "--set-parent", "addon:nope", cwd=work)
    assert unknown.returncode == 3 and "no addon named 'nope'" in unknown.stderr
    commits = len(_log(url, tmp_path))
    moved = kaddons("addons", "upgrade", "kyverno", "--namespace", "policies", cwd=work)
    assert moved.returncode == 2 and "--confirm-destructive" in moved.stderr
    assert "namespace: kyverno\n" in (work / "clusters/edge/addons/kyverno.yaml").read_text()  # put back
    assert len(_log(url, tmp_path)) == commits
    confirmed = kaddons("addons", "upgrade", "kyverno", "--namespace", "policies", "--confirm-destructive", cwd=work)
    assert confirmed.returncode == 0, confirmed.stderr
    assert _log(url, tmp_path)[0] == "kaddons: upgrade add-on kyverno: namespace kyverno -> policies"
    assert git("status", "--porcelain", cwd=work) == ""


def test_settings_profiles_and_a_settings_file(daemon: GitDaemon, tmp_path: Path) -> None:  # noqa: F811
    url, work = _seeded(daemon, tmp_path, "settings")
    shown = kaddons("addons", "settings", "headlamp", "-o", "json", cwd=work)
    assert json.loads(shown.stdout)["profile"] == "default"
    done = kaddons("addons", "update", "headlamp", "--profile", "production-critical", cwd=work)
    assert done.returncode == 0, done.stderr
    assert _log(url, tmp_path)[0] == "kaddons: update add-on headlamp: settings profile production-critical"
    settings = json.loads(kaddons("addons", "settings", "headlamp", "-o", "json", cwd=work).stdout)
    assert settings["profile"] == "production-critical" and settings["sync_policy"]["automated"] is False
    assert settings["retry_policy"]["limit"] == 5  # what the profile does not fix stays
    app = (work / "clusters/edge/argocd/apps/addon-headlamp.yaml").read_text()
    assert "automated" not in app and "revisionHistoryLimit: 20" in app
    printed = kaddons("addons", "settings", "headlamp", cwd=work).stdout  # YAML, as a user would save it
    edited = tmp_path / "settings.yaml"
    edited.write_text(printed.replace("revision_history_limit: 20", "revision_history_limit: 7"))
    replaced = kaddons("addons", "update", "headlamp", "--settings", str(edited), cwd=work)
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(kaddons("addons", "settings", "headlamp", "-o", "json", cwd=work).stdout)["profile"] == "custom"
    edited.write_text("sync_policy:\n  automatd: true\n")
    bad = kaddons("addons", "update", "headlamp", "--settings", str(edited), cwd=work)
    assert bad.returncode == 2 and "automatd" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    unknown = kaddons("addons", "update", "headlamp", "--profile", "fast", cwd=work)
    assert unknown.returncode == 2 and "default, development, production-critical, stateful" in unknown.stderr
    assert git("status", "--porcelain", cwd=work) == ""


def test_history_and_the_rolled_back_mark_follow_the_entry_not_the_whole_document(daemon: GitDaemon,  # noqa: F811
                                                                                tmp_path: Path) -> None:
    """One document declares both add-ons: an upgrade of one is not a change of the other, and a chart version
    change (an edit of the document only) ends the "rolled back" mark as any change does."""
    url, work = _seeded(daemon, tmp_path, "precise")
    document = work / "clusters/edge/cluster.yaml"
    document.write_text(document.read_text().replace("      addons:\n        - name: headlamp", (
        "      addons:\n        - name: extra\n          chart_name: headlamp\n          chart_version: 0.44.0\n"
        "          registry_name: headlamp\n          registry_url: https://kubernetes-sigs.github.io/headlamp/\n"
        "          namespace: extra\n        - name: headlamp"), 1))
    git("commit", "--quiet", "-am", "an extra dashboard", cwd=work)

    def marks() -> dict[str, str | None]:
        rows = json.loads(kaddons("addons", "list", "--offline", "-o", "json", cwd=work).stdout)
        return {row["name"]: row["rolled_back_to"] for row in rows}

    def subjects(name: str) -> list[str]:
        done = kaddons("addons", "history", name, "-o", "json", cwd=work)
        assert done.returncode == 0, done.stderr
        return [row["subject"] for row in json.loads(done.stdout)]

    for args in (["upgrade", "extra", "--chart-version", "0.43.0"], ["rollback", "extra"],
                 ["upgrade", "headlamp", "--chart-version", "0.44.0"]):
        done = kaddons("addons", *args, cwd=work)
        assert done.returncode == 0, done.stderr
    assert marks()["extra"] is not None and marks()["headlamp"] is None
    assert subjects("extra")[1:] == ["kaddons: upgrade add-on extra from chart version 0.44.0 to 0.43.0",
                                     "an extra dashboard"]
    assert subjects("extra")[0].startswith("kaddons: roll back add-on extra")
    assert subjects("headlamp") == ["kaddons: upgrade add-on headlamp from chart version 0.45.0 to 0.44.0",
                                    "the cluster document"]
    assert kaddons("addons", "upgrade", "extra", "--chart-version", "0.43.0", cwd=work).returncode == 0
    assert marks()["extra"] is None  # the next change, in the document alone, ends the mark
    assert len(_log(url, tmp_path)) == 6


def test_history_reads_only_the_commits_made_since_the_last_walk_and_never_trusts_a_rewritten_branch(
        daemon: GitDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """``history`` keeps its walk (the memo ``history``): the next one stops at the head the kept one started at.
    Shown by a kept walk altered on purpose: what it says is taken as is when its head is met, and left alone once
    the branch no longer holds that head (a reset and a new commit)."""
    from kaddons.operations import history

    _url, work = _seeded(daemon, tmp_path, "memo")
    document = work / "clusters/edge/cluster.yaml"
    values = work / "clusters/edge/values/headlamp.yaml"

    def commit(text: str, message: str) -> None:
        values.write_text(values.read_text() + text)
        git("commit", "--quiet", "-am", message, cwd=work)

    def subjects() -> list[str]:
        return [c.subject for c in history.addon_history(document, "headlamp")]

    commit("a: 1\n", "first")
    assert subjects() == ["first", "the cluster document"]
    kept_head = git("rev-parse", "HEAD", cwd=work).strip()
    key = next(p.name for p in (tmp_path / "cache" / "history").iterdir() if not p.name.startswith("."))
    kept = json.loads(history.HISTORY.get(key) or b"null")
    assert kept["head"] == kept_head and kept["complete"] is True
    kept["changes"][1][3] = "as the kept walk says"  # what a walk that stops at kept_head takes from the memo
    history.HISTORY.put(key, json.dumps(kept).encode())
    commit("b: 1\n", "second")
    assert subjects() == ["second", "first", "as the kept walk says"]

    git("reset", "--quiet", "--hard", "HEAD~2", cwd=work)  # the branch rewritten: kept_head is on it no more
    commit("c: 1\n", "other")
    assert subjects() == ["other", "the cluster document"]
    monkeypatch.setenv("KADDONS_MEMO", "off")
    assert subjects() == ["other", "the cluster document"]
