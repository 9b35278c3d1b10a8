"""Health of one object, checked against Argo CD's own expectations:

* core kinds: gitops-engine's fixtures (``tests/cluster/data/gitops-engine``) with the status its
  ``health_test.go`` asserts for each;
* custom resources: every case of every upstream Lua health script in ``testdata/argocd-health/`` (193 scripts,
  their ``health_test.yaml``), status and message, run in kaddons' sandboxed LuaJIT.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from kaddons.addons._yaml import _constructor, parse_yaml
from kaddons.cluster.health import Health, HealthRules, assess
from kaddons.cluster.health.assess import group_kind

GITOPS_ENGINE = Path(__file__).parent / "data" / "gitops-engine"
# health_test.go: fixture -> the status it asserts (None: no built-in health).
CORE = {
    "nginx.yaml": "Healthy", "deployment-progressing.yaml": "Progressing", "deployment-suspended.yaml": "Suspended",
    "deployment-degraded.yaml": "Degraded", "statefulset.yaml": "Healthy", "statefulset-ondelete.yaml": "Healthy",
    "daemonset-ondelete.yaml": "Healthy", "pvc-bound.yaml": "Healthy", "pvc-pending.yaml": "Progressing",
    "svc-clusterip.yaml": "Healthy", "svc-loadbalancer.yaml": "Healthy",
    "svc-loadbalancer-unassigned.yaml": "Progressing", "svc-loadbalancer-nonemptylist.yaml": "Healthy",
    "ingress.yaml": "Healthy", "ingress-unassigned.yaml": "Progressing", "ingress-nonemptylist.yaml": "Healthy",
    "knative-service.yaml": None, "job-running.yaml": "Progressing", "job-failed.yaml": "Degraded",
    "job-succeeded.yaml": "Healthy", "job-suspended.yaml": "Suspended", "hpa-v2-healthy.yaml": "Healthy",
    "hpa-v2-degraded.yaml": "Degraded", "hpa-v2-progressing.yaml": "Progressing",
    "hpa-v2beta2-healthy.yaml": "Healthy", "hpa-v2beta1-healthy-disabled.yaml": "Healthy",
    "hpa-v2beta1-healthy.yaml": "Healthy", "hpa-v1-degraded.yaml": "Degraded", "hpa-v1-healthy.yaml": "Healthy",
    "hpa-v1-healthy-toofew.yaml": "Healthy", "hpa-v1-progressing.yaml": "Progressing",
    "hpa-v1-progressing-with-no-annotations.yaml": "Progressing", "pod-pending.yaml": "Progressing",
    "pod-running-not-ready.yaml": "Progressing", "pod-crashloop.yaml": "Degraded",
    "pod-imagepullbackoff.yaml": "Degraded", "pod-error.yaml": "Degraded", "pod-running-restart-always.yaml": "Healthy",
    "pod-running-restart-never.yaml": "Progressing", "pod-running-restart-onfailure.yaml": "Progressing",
    "pod-failed.yaml": "Degraded", "pod-succeeded.yaml": "Healthy", "pod-deletion.yaml": "Progressing",
    "application-healthy.yaml": None, "application-degraded.yaml": None, "apiservice-v1-true.yaml": "Healthy",
    "apiservice-v1-false.yaml": "Progressing", "apiservice-v1beta1-true.yaml": "Healthy",
    "apiservice-v1beta1-false.yaml": "Progressing",
}


def first_document(path: Path) -> dict[str, Any]:
    """A fixture's first YAML document as Go's YAML reads it for these tests: timestamps kept as strings, and a
    repeated key's last value (``statefulset-ondelete.yaml`` repeats ``updateStrategy``)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _constructor()
    yaml.allow_duplicate_keys = True
    return next(d for d in yaml.load_all(path.read_text(encoding="utf-8")) if d is not None)


@pytest.mark.parametrize("fixture", sorted(CORE))
def test_core_kinds_as_gitops_engine_asserts(fixture: str) -> None:
    health = assess(first_document(GITOPS_ENGINE / fixture))
    expected = CORE[fixture]
    assert (health.status if health is not None else None) == expected


def test_core_messages_are_argos() -> None:
    assert assess(first_document(GITOPS_ENGINE / "job-suspended.yaml")) == Health("Suspended", "")
    deployment = assess(first_document(GITOPS_ENGINE / "deployment-degraded.yaml"))
    assert deployment is not None and deployment.message.endswith("exceeded its progress deadline")
    assert assess(first_document(GITOPS_ENGINE / "pod-deletion.yaml")) == Health("Progressing", "Pending deletion")
    crash = assess(first_document(GITOPS_ENGINE / "pod-crashloop.yaml"))
    assert crash is not None and crash.message.startswith("Back-off 40s restarting failed container=main")
    workflow = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                "status": {"phase": "Running", "message": "This node is running"}}
    assert assess(workflow) == Health("Progressing", "This node is running")


def _cases(root: Path) -> list[tuple[str, Path, dict[str, Any]]]:
    cases = []
    for test_file in sorted(root.glob("*/*/health_test.yaml")):
        table = parse_yaml(test_file.read_text(encoding="utf-8"), str(test_file))
        for number, case in enumerate(table.get("tests") or []):
            lowered = {str(k).lower(): v for k, v in case.items()}  # Go matches these keys ignoring case
            cases.append((f"{test_file.parent.parent.name}/{test_file.parent.name}#{number}", test_file.parent,
                          lowered))
    return cases


@pytest.fixture(scope="module")
def upstream(testdata: Path) -> tuple[HealthRules, list[tuple[str, Path, dict[str, Any]]]]:
    root = testdata.parent / "argocd-health" / "resource_customizations"
    return HealthRules.from_directory(root), _cases(root)


def test_every_upstream_lua_case(upstream: tuple[HealthRules, list[tuple[str, Path, dict[str, Any]]]]) -> None:
    rules, cases = upstream
    assert len({folder for _label, folder, _case in cases}) == 193 and len(cases) > 900
    failures, absent = [], []
    for label, folder, case in cases:
        if not (folder / case["inputpath"]).is_file():
            absent.append(case["inputpath"])
            continue
        obj = first_document(folder / case["inputpath"])
        group, kind = group_kind(obj)  # the object's own group and kind choose the script, as Argo CD does
        script = rules.script_for(group, kind)
        assert script is not None, label
        got = rules.run(script, obj)
        want = case["healthstatus"]
        expected = Health(str(want.get("status")), str(want.get("message") or ""))
        if got != expected:
            failures.append(f"{label}: {got} != {expected}")
    assert not failures, f"{len(failures)} of {len(cases)} cases differ: " + "; ".join(failures[:5])
    # The shared copy left out fixtures kept in sub-folders of testdata/ (Rollout's bluegreen/, canary/ ...).
    assert all(path.count("/") >= 2 for path in absent), absent
    assert len(absent) < 40, len(absent)


def test_the_sandbox_stops_endless_loops_and_hides_the_host() -> None:
    rules = HealthRules()
    rules.add("example.com", "Loop", "while true do end")
    rules.add("example.com", "Escape", "return {status = 'Healthy', message = tostring(io) .. tostring(python) .. "
                                       "tostring(require) .. tostring(os.execute)}")
    rules.add("example.com", "Odd", "return {status = 'Fine'}")
    loop = rules.run(rules.exact[("example.com", "Loop")], {})
    assert loop == Health("Unknown", "health check timed out")
    escape = rules.run(rules.exact[("example.com", "Escape")], {})
    assert escape == Health("Healthy", "nilnilnilnil")
    assert assess({"apiVersion": "example.com/v1", "kind": "Odd"}, rules) == Health(
        "Unknown", "Lua returned an invalid health status")
    assert assess({"apiVersion": "example.com/v1", "kind": "Other"}, rules) is None


def kaddons_health(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kaddons", "health", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)


def test_cli_as_a_user_runs_it(testdata: Path) -> None:
    rules = testdata.parent / "argocd-health" / "resource_customizations"
    cloneset = rules / "apps.kruise.io" / "CloneSet" / "testdata" / "degraded.yaml"
    done = kaddons_health("-o", "json", "--rules", str(rules), str(GITOPS_ENGINE / "pod-crashloop.yaml"),
                          str(cloneset), str(GITOPS_ENGINE / "knative-service.yaml"))
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["kind"], r["status"]) for r in rows] == [("Pod", "Degraded"), ("CloneSet", "Degraded"),
                                                        ("Service", "Progressing")]
    assert rows[1]["message"] == "Some replicas are not ready or available"
    assert rows[2]["message"] == "Waiting for status update."  # upstream's Lua rule for Knative services
    without = kaddons_health(str(GITOPS_ENGINE / "knative-service.yaml"))
    assert without.stdout.startswith("Service/helloworld  Unknown  no health rule for serving.knative.dev/Service")
    fresh = ("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  creationTimestamp: "
             f"'{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'\n")
    young = kaddons_health("-", stdin=fresh)
    assert young.returncode == 0 and young.stdout.startswith("Widget/w  Progressing  no health rule for "
                                                             "example.com/Widget yet")
    bad = kaddons_health("-", stdin="kind: [")
    assert bad.returncode == 2 and bad.stderr.startswith("error: -: ") and "Traceback" not in bad.stderr
    missing = kaddons_health(str(GITOPS_ENGINE / "nope.yaml"))
    assert missing.returncode == 2 and "nope.yaml: cannot read it" in missing.stderr
