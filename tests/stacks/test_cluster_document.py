"""Ankra's cluster document read as is: every spelling, includes, files, base64, variables, confinement to the
repository, the dependency graph, and one-line errors naming the file, the YAML path and the way out."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kaddons.errors import ClusterDocumentError
from kaddons.stacks.graph import remove_member
from kaddons.stacks.load import load_cluster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"
NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def _repo(tmp_path: Path, document: str, files: dict[str, str] | None = None) -> Path:
    """A repository with ``clusters/c1/cluster.yaml`` and ``files`` (paths relative to the repository)."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "clusters" / "c1").mkdir(parents=True)
    (root / "clusters" / "c1" / "cluster.yaml").write_text(document)
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "clusters" / "c1" / "cluster.yaml"


def _doc(stacks: str, name: str = "c1", extra: str = "") -> str:
    return f"apiVersion: v1\nkind: ImportCluster\nmetadata:\n  name: {name}\nspec:\n{extra}  stacks:\n{stacks}"


ADDON = """      - name: {name}
        chart_name: podinfo
        chart_version: 6.7.0
        registry_name: podinfo
        registry_url: https://stefanprodan.github.io/podinfo
        namespace: {namespace}
"""


def test_the_example_repository_loads_with_every_scope_of_variables() -> None:
    loaded = load_cluster(EXAMPLE / "clusters" / "edge" / "cluster.yaml", repository=EXAMPLE)
    assert loaded.warnings == []
    stacks = {s.name: s for s in loaded.document.spec.stacks}
    headlamp, kyverno = stacks["platform"].addons[0], stacks["policy"].addons[0]
    # replicas from the stack, domain from the cluster:
    assert headlamp.values == "replicaCount: 2\nconfig:\n  baseURL: https://edge.example.org/headlamp\n"
    assert "replicas: 1" in kyverno.values  # the organisation's, through an include
    assert kyverno.settings.retry_policy.effective_backoff().duration == "10s"  # nested backoff
    assert headlamp.settings.retry_policy.effective_backoff().max_duration == "3m"  # flat backoff
    assert loaded.graph.members[("addon", "kyverno")].parents == (("manifest", "ns-kyverno"),)  # across stacks
    assert loaded.graph.members[("addon", "kyverno")].stack == "policy"
    assert loaded.graph.waves == {"platform": 1, "policy": 2}


def test_every_spelling_of_ankra_is_read(tmp_path: Path) -> None:
    values = base64.b64encode(b"replicaCount: 3\n").decode()
    manifest = base64.b64encode(NS.format(name="apps").encode()).decode()
    stacks = f"""    - name: apps
      manifests:
        - name: ns-apps
          manifest_base64: {manifest}
          namespace: apps
          force: false
          auto_remediate: true
          group: namespaces
      addons:
        - name: legacy
          chart_name: podinfo
          chart_version: 6.7.0
          repository_url: https://stefanprodan.github.io/podinfo
          namespace: apps
          configuration:
            values_base64: {values}
          parents:
            - name: ns-apps
              kind: Manifest
          job_configuration: {{create_job_timeout: 600}}
      applications:
        - name: shop
          platform_application_id: "42"
          parents: [{{addon: legacy}}]
"""
    extra = ("  helm_registries:\n"
             "    - {name: podinfo, url: oci://ghcr.io/stefanprodan/charts, credential_name: ghcr}\n"
             "  prometheus_metrics: {endpoint: https://prom.example.com, flavor: self_hosted}\n")
    loaded = load_cluster(_repo(tmp_path, _doc(stacks, extra=extra)))
    [stack] = loaded.document.spec.stacks
    assert stack.addons[0].values == "replicaCount: 3\n" and stack.addons[0].source_url.startswith("https://")
    assert stack.addons[0].configuration_type == "standalone"  # defaulted
    assert stack.manifests[0].content == NS.format(name="apps")
    assert loaded.graph.members[("addon", "legacy")].depth == 1
    assert stack.applications[0].parents[0].name == "legacy"  # kept so documents round-trip


def test_includes_of_a_folder_and_unresolved_variables(tmp_path: Path) -> None:
    files = {"clusters/c1/manifests/a.yaml": "name: ns-a\nmanifest: |\n  apiVersion: v1\n  kind: Namespace\n"
                                             "  metadata: {name: a}\n",
             "clusters/c1/manifests/more/b.yaml": "- name: cm-b\n  from_file: ../../files/cm.yaml\n"
                                                  "  parents: [{manifest: ns-a}]\n",
             "clusters/c1/files/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"
                                                   "data: {url: 'https://${{ ankra.nowhere }}'}\n"}
    loaded = load_cluster(_repo(tmp_path, _doc("    - name: s\n      manifests:\n        - include: manifests/\n"),
                                files))
    names = [m.name for m in loaded.document.spec.stacks[0].manifests]
    assert names == ["ns-a", "cm-b"]
    [warning] = loaded.warnings
    assert "${{ ankra.nowhere }} is not defined" in warning and "left as written" in warning
    assert "${{ ankra.nowhere }}" in loaded.document.spec.stacks[0].manifests[1].content


def test_removing_a_member_reattaches_its_children_to_its_parents(tmp_path: Path) -> None:
    stacks = ("    - name: s\n      manifests:\n"
              "        - {name: ns, manifest: 'apiVersion: v1\n\n          kind: Namespace'}\n"
              "        - {name: crds, manifest: 'apiVersion: v1\n\n          kind: ConfigMap',\n"
              "           parents: [{manifest: ns}]}\n"
              "      addons:\n" + ADDON.format(name="app", namespace="ns") +
              "        parents: [{manifest: crds}]\n")
    graph = load_cluster(_repo(tmp_path, _doc(stacks))).graph
    assert graph.members[("addon", "app")].depth == 2
    after = remove_member(graph, ("manifest", "crds"))
    assert after.members[("addon", "app")].parents == (("manifest", "ns"),)
    assert after.members[("addon", "app")].depth == 1 and ("manifest", "crds") not in after.members


BAD = {
    "cycle": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x")
              + "        parents: [{addon: b}]\n" + ADDON.format(name="b", namespace="x")
              + "        parents: [{addon: a}]\n",
              {}, 'dependency cycle: addon "a" -> addon "b" -> addon "a"'),
    "missing parent": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x")
                       + "        parents: [{manifest: ns-x}]\n", {}, "no manifest named 'ns-x' in the document"),
    "duplicate": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x") + "    - name: t\n"
                  "      addons:\n" + ADDON.format(name="a", namespace="y"), {}, 'addon "a" is declared twice'),
    "application as parent": ("    - name: s\n      applications: [{name: shop}]\n      addons:\n"
                              + ADDON.format(name="a", namespace="x") + "        parents: [{kind: application, "
                              "name: shop}]\n", {}, "parents[0].kind"),
    "unknown key": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x")
                    + "        chart_verison: 1\n", {}, "spec.stacks[0].addons[0].chart_verison: unknown key"),
    "misspelt settings key": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x")
                              + "        settings: {sync_policy: {selfheal: true}}\n", {},
                              "settings.sync_policy.selfheal: unknown key"),
    "add-on name leading out of its folder": ("    - name: s\n      addons:\n"
                                              + ADDON.format(name="../../../pwn", namespace="x"), {},
                                              "spec.stacks[0].addons[0].name: value error, add-on name '../../../pwn' "
                                              "is not an RFC 1123 subdomain of at most 53 characters"),
    "add-on name longer than a Helm release's": ("    - name: s\n      addons:\n"
                                                 + ADDON.format(name="a" * 54, namespace="x"), {},
                                                 "is not an RFC 1123 subdomain of at most 53 characters"),
    "manifest name with a slash": ("    - name: s\n      manifests:\n"
                                   "        - {name: a/b, manifest: '{apiVersion: v1, kind: Namespace}'}\n", {},
                                   "spec.stacks[0].manifests[0].name: value error, manifest name 'a/b' is not"),
    "manifest namespace not a label": ("    - name: s\n      manifests:\n        - {name: m, namespace: Team_A, "
                                       "manifest: '{apiVersion: v1, kind: ConfigMap}'}\n", {},
                                       "spec.stacks[0].manifests[0].namespace: value error, namespace 'Team_A' is not"),
    "namespace not a label": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="Team_A"), {},
                              "is not an RFC 1123 label"),
    "values and from_file": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x")
                             + "        configuration: {values: 'a: 1', from_file: v.yaml}\n", {},
                             "give one of values, values_base64, from_file, not values and from_file"),
    "invalid base64": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x")
                       + "        configuration: {values_base64: '***'}\n", {}, "not valid base64"),
    "values not YAML": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x")
                        + "        configuration: {values: 'a: [1'}\n", {}, "configuration"),
    "values not a mapping": ("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x")
                             + "        configuration: {values: '- a'}\n", {},
                             "addons[0].configuration: values must be a YAML mapping, got list"),
    "variable holding a float": ("    - name: s\n      variables: {ratio: 0.5}\n", {}, "quote it"),
    "variable holding a map": ("    - name: s\n      variables: {nested: {a: 1}}\n", {}, "quote it"),
    "from_file with ..": ("    - name: s\n      manifests: [{name: m, from_file: ../../../etc/passwd}]\n", {},
                          "leads outside the repository"),
    "absolute from_file": ("    - name: s\n      manifests: [{name: m, from_file: /etc/passwd}]\n", {},
                           "must be a relative path"),
    "include of a non-YAML file": ("    - name: s\n      addons: [{include: notes.txt}]\n",
                                   {"clusters/c1/notes.txt": "x"}, "is not a YAML file"),
    "registry without a URL": ("    - name: s\n      addons:\n        - {name: a, chart_name: c, chart_version: '1', "
                               "registry_name: r, namespace: x}\n", {}, "registry_url (or the legacy repository_url)"),
    "registry name and URL disagreeing": (
        "    - name: s\n      addons:\n        - {name: a, chart_name: c, chart_version: '1', registry_name: r, "
        "registry_url: 'https://other.example.org/', namespace: x}\n"
        "  helm_registries:\n    - {name: r, url: 'https://charts.example.org/'}\n", {},
        "registry_url: https://other.example.org/ is not the URL spec.helm_registries gives registry 'r'"),
    "empty manifest": ("    - name: s\n      manifests: [{name: m, manifest: ''}]\n", {}, "the manifest is empty"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_documents_are_one_line_naming_file_and_path(tmp_path: Path, case: str) -> None:
    stacks, files, needle = BAD[case]
    path = _repo(tmp_path, _doc(stacks), files)
    with pytest.raises(ClusterDocumentError) as caught:
        load_cluster(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and needle in message and "\n" not in message, message


def test_metadata_name_and_symlinks_out_of_the_repository(tmp_path: Path) -> None:
    with pytest.raises(ClusterDocumentError, match="cluster name 'my_cluster' may hold only letters"):
        load_cluster(_repo(tmp_path / "a", _doc("    - name: s\n", name="my_cluster")))
    outside = tmp_path / "secret.yaml"
    outside.write_text(NS.format(name="x"))
    path = _repo(tmp_path / "b", _doc("    - name: s\n      manifests: [{name: m, from_file: link.yaml}]\n"))
    (path.parent / "link.yaml").symlink_to(outside)
    with pytest.raises(ClusterDocumentError, match="leads outside the repository"):
        load_cluster(path)


def test_values_files_are_checked_as_a_set_and_a_bad_one_is_never_remembered(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The values files' check is remembered for the whole set (one memo entry): a file turned into a list is
    still refused on the next load, every time, naming that file."""
    monkeypatch.setenv("KADDONS_CACHE_DIR", str(tmp_path / "cache"))
    addons = "".join(ADDON.format(name=f"a{n}", namespace="x") + f"        configuration: {{from_file: v/a{n}.yaml}}\n"
                     for n in range(3))
    path = _repo(tmp_path, _doc("    - name: s\n      addons:\n" + addons),
                 {f"clusters/c1/v/a{n}.yaml": f"replicaCount: {n}\n" for n in range(3)})
    assert [a.values for a in load_cluster(path).document.spec.stacks[0].addons] == [
        f"replicaCount: {n}\n" for n in range(3)]
    assert load_cluster(path).document.spec.stacks[0].addons[2].values == "replicaCount: 2\n"  # remembered
    (path.parent / "v" / "a1.yaml").write_text("- replicaCount: 1\n")
    for _again in range(2):
        with pytest.raises(ClusterDocumentError, match=r"v/a1\.yaml: spec\.stacks\[0\]\.addons\[1\]\.configuration: "
                                                       "values must be a YAML mapping, got list"):
            load_cluster(path)
    (path.parent / "v" / "a1.yaml").write_text("replicaCount: [1\n")
    with pytest.raises(ClusterDocumentError, match=r"v/a1\.yaml: "):
        load_cluster(path)


def test_a_values_folder_linked_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.yaml").write_text("replicaCount: 1\n")
    path = _repo(tmp_path, _doc("    - name: s\n      addons:\n" + ADDON.format(name="a", namespace="x")
                                + "        configuration: {from_file: v/a.yaml}\n"))
    (path.parent / "v").symlink_to(outside)
    with pytest.raises(ClusterDocumentError, match=r"'v/a\.yaml' leads outside the repository"):
        load_cluster(path)


def test_cli_validate_and_list_as_a_user_runs_them(tmp_path: Path) -> None:
    repo = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, repo)
    (repo / ".git").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KADDONS_")}

    def kaddons(*args: str, cwd: Path = repo) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kaddons", "cluster", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=60)

    valid = kaddons("validate")  # the one clusters/*/cluster.yaml of the working copy
    assert valid.returncode == 0 and "cluster edge is valid: 2 stack(s), 2 add-on(s), 2 manifest(s)" in valid.stdout
    rows = json.loads(kaddons("addons", "list", "-o", "json").stdout)
    assert [(r["name"], r["stack"], r["version"], r["depth"]) for r in rows] == [
        ("headlamp", "platform", "0.45.0", 1), ("kyverno", "policy", "3.7.1", 1)]
    (repo / "clusters" / "second").mkdir()
    (repo / "clusters" / "second" / "cluster.yaml").write_text("x: 1\n")
    several = kaddons("validate")
    assert several.returncode == 2 and "several cluster documents" in several.stderr and "-f FILE" in several.stderr
    broken = repo / "clusters" / "edge" / "cluster.yaml"
    broken.write_text(broken.read_text().replace("chart_version: 0.45.0", "chart_version: 0.45.0\n          typo: 1"))
    bad = kaddons("validate", "-f", str(broken))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "addons[0].typo: unknown key" in bad.stderr
