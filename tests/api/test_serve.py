"""``kaddons serve`` as a user runs it: tokens from the CLI, the server in its own process on 127.0.0.1, a copy of
the example GitOps repository, and the cluster read through kmock's emulator (``tests/helpers/kube.py``: a
documented STAND-IN, no API server runs here) loaded with a real chart's release and engine objects."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from kaddons.addons.export import ExportOptions, export_addons
from kaddons.addons.publish import push_archive
from kaddons.oci.registry import RegistryOptions
from tests.api.conftest import (  # noqa: F401  (daemon: the git daemon fixture)
    ENCRYPTED,
    Server,
    _seeded,
    application,
    daemon,
    remote_log,
)
from tests.api.conftest import kaddons as _kaddons
from tests.helpers.git_remote import GIT_ENV, GitDaemon, git
from tests.helpers.installed import crashing_pod
from tests.helpers.registry import RunningRegistry

API = "/api/v1/clusters/edge"


def test_token_create_prints_the_token_alone_and_stores_only_its_hash(tmp_path: Path) -> None:
    tokens = tmp_path / "config" / "tokens.json"
    done = _kaddons("serve", "token", "create", "--role", "write", "--tokens", str(tokens))
    assert done.returncode == 0, done.stderr
    [token] = done.stdout.splitlines()
    assert token.startswith("kd_") and len(token) == 46
    assert token not in tokens.read_text()
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert json.loads(tokens.read_text())["tokens"][0]["role"] == "write"
    bad = _kaddons("serve", "token", "create", "--role", "admin", "--tokens", str(tokens))
    assert bad.returncode != 0 and "use read or write" in bad.stderr and "Traceback" not in bad.stderr


def test_every_route_needs_a_token(server: Server) -> None:
    assert server.get("/healthz").json() == {"status": "ok"}
    for path in ("/openapi.json", "/api/v1/clusters", f"{API}/stacks", f"{API}/addons", f"{API}/addons/headlamp",
                 f"{API}/stream"):
        for token in (None, "kd_not-a-token"):
            answer = server.get(path, token)
            assert answer.status_code == 401, (path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "kaddons serve token create" in answer.json()["error"]
    assert "access-control-allow-origin" not in server.get("/api/v1/clusters", server.read).headers
    schema = server.get("/openapi.json", server.read).json()
    assert f"{API.replace('edge', '{cluster}')}/addons/{{name}}" in schema["paths"]


def test_addons_with_states_paginated_and_details_with_the_map(server: Server) -> None:
    listed = server.get(f"{API}/addons", server.read, page_size=1)
    assert listed.status_code == 200, listed.text
    data = listed.json()
    assert data["pagination"] == {"page": 1, "page_size": 1, "total_count": 2, "total_pages": 2}
    assert (data["result"][0]["name"], data["result"][0]["state"]) == ("headlamp", "Synced")
    second = server.get(f"{API}/addons", server.read, page=2, page_size=1).json()["result"]
    assert [(r["name"], r["state"]) for r in second] == [("kyverno", "Unknown")]  # not applied
    server.api.update("pods", crashing_pod(server.release, 2))
    deadline = time.monotonic() + 10
    while (details := server.get(f"{API}/addons/headlamp", server.read).json())["state"] != "Degraded":
        assert time.monotonic() < deadline, details
        time.sleep(0.1)
    assert details["reason"].startswith("Deployment/headlamp: ReplicaSet/headlamp-7d9c5b8f6: Pod/")
    deployment = details["resources"][0]
    assert (deployment["kind"], deployment["health"]) == ("Deployment", "Degraded")
    assert deployment["children"][0]["children"][0]["name"] == "headlamp-7d9c5b8f6-p002"  # the failing Pod first
    assert details["values"]["oidc"]["clientSecret"] == "<encrypted>"
    assert details["settings"]["profile"] == "default" and details["settings"]["sync_policy"]["automated"] is True
    assert ENCRYPTED not in json.dumps(details)
    stacks = server.get(f"{API}/stacks", server.read).json()["result"]
    assert ["addon:headlamp", "manifest:ns-headlamp"] in stacks[0]["edges"]


def test_the_add_on_list_is_the_same_answer_on_its_fast_path_and_through_the_route(server: Server) -> None:
    """A plainly valid list request is answered from the serialized list before FastAPI; anything else (here an
    extra parameter, which the route ignores) goes through the route. Both say the same, headers included; bad
    pages are the route's errors; a state change reaches the list."""
    deadline = time.monotonic() + 10
    while True:  # the newest chart versions are read in the background once: the two may fall either side of it
        fast = server.get(f"{API}/addons", server.read, page=2, page_size=1)
        routed = server.get(f"{API}/addons", server.read, page=2, page_size=1, sort="name")
        assert fast.status_code == routed.status_code == 200
        if fast.content == routed.content or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert fast.content == routed.content and fast.json()["result"][0]["name"] == "kyverno"
    for header in ("content-type", "content-security-policy", "x-content-type-options", "referrer-policy"):
        assert fast.headers[header] == routed.headers[header], header
    assert server.get(f"{API}/addons", server.write).json() == server.get(f"{API}/addons", server.read).json()
    for bad in ({"page": 0}, {"page_size": 501}, {"page": "x"}, {"page_size": "²"}):
        assert server.get(f"{API}/addons", server.read, **bad).status_code == 422, bad
    assert server.get(f"{API}/addons", "kd_not-a-token").status_code == 401
    server.api.update("pods", crashing_pod(server.release, 2))
    deadline = time.monotonic() + 10
    while server.get(f"{API}/addons", server.read).json()["result"][0]["state"] != "Degraded":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_manifests_chart_sources_charts_and_recipients(server: Server) -> None:
    """The resources a user looks up before a change: manifests (state, objects, YAML), the chart sources, a chart
    version's default values and README (read from the archive the source serves), the SOPS recipients."""
    manifests = server.get(f"{API}/manifests", server.read).json()
    rows = {row["name"]: row for row in manifests["result"]}
    assert manifests["pagination"]["total_count"] == len(rows) and {"ns-headlamp", "ns-kyverno"} <= set(rows)
    assert rows["ns-headlamp"]["state"] == "Synced" and rows["ns-headlamp"]["kinds"] == ["Namespace/headlamp"]
    one = server.get(f"{API}/manifests/ns-kyverno", server.read).json()
    assert one["stack_name"] == rows["ns-kyverno"]["stack_name"] and "name: kyverno" in one["content"]
    assert server.get(f"{API}/manifests/nope", server.read).json() == {"error": "no manifest 'nope' in cluster edge"}
    sources = server.get(f"{API}/sources", server.read).json()["result"]
    assert any(s["charts"].get("headlamp") == ["headlamp"] for s in sources), sources
    chart = server.get(f"{API}/addons/headlamp/chart", server.read)
    assert chart.status_code == 200, chart.text
    data = chart.json()
    assert (data["chart"], data["version"]) == ("headlamp", "0.45.0") and data["digest"].startswith("sha256:")
    assert "replicaCount:" in data["default_values"] and "#" in data["default_values"]  # as written: comments kept
    assert data["readme"].startswith("# Headlamp") and data["truncated"] == []
    older = server.get(f"{API}/addons/headlamp/chart", server.read, version="0.40.1").json()
    assert older["version"] == "0.40.1" and older["default_values"] != data["default_values"]
    missing = server.get(f"{API}/addons/headlamp/chart", server.read, version="9.9.9")
    assert missing.status_code == 404 and "9.9.9" in missing.json()["error"]
    assert server.get(f"{API}/addons/headlamp/chart", server.read, version="../x").status_code == 422
    assert server.get(f"{API}/sops", server.read).json() == {"config": ".sops.yaml", "recipients": []}
    key = server.repo.parent / "age.key"
    made = _kaddons("sops", "keygen", "--key-file", str(key), "--repo", str(server.repo))
    assert made.returncode == 0, made.stderr
    recipients = server.get(f"{API}/sops", server.read).json()
    assert recipients["recipients"] == [made.stdout.strip()]
    assert "AGE-SECRET-KEY" not in json.dumps(recipients) and "age.key" not in json.dumps(recipients)
    for path in ("manifests", "manifests/ns-kyverno", "sources", "addons/headlamp/chart", "sops"):
        assert server.get(f"{API}/{path}").status_code == 401, path


def test_names_are_validated_and_mistakes_are_one_line(server: Server) -> None:
    assert server.get("/api/v1/clusters/other/addons", server.read).status_code == 404
    assert server.get(f"{API}/addons/nope", server.read).json() == {"error": "no add-on 'nope' in cluster edge"}
    for bad in ("..", "UPPER", "a%2F..%2F..%2Fetc"):
        assert server.get(f"{API}/addons/{bad}", server.read).status_code in (404, 422)
    big = httpx.post(server.url + f"{API}/addons", content=b"x" * (2 << 20),
                     headers={"Authorization": f"Bearer {server.write}"}, timeout=30)
    assert big.status_code == 413


def test_the_stream_sends_state_changes_as_they_happen(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.read}"}
    with httpx.stream("GET", server.url + f"{API}/stream", headers=headers, timeout=30) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        lines = answer.iter_lines()

        def next_states() -> list[dict[str, Any]]:
            for line in lines:
                if line.startswith("data: "):
                    return list(json.loads(line.removeprefix("data: ")))
            raise AssertionError("the stream ended")

        assert {row["name"]: row["state"] for row in next_states()} == {"headlamp": "Synced", "kyverno": "Unknown"}
        server.api.update("applications", application("addon-headlamp", {
            "sync": {"status": "OutOfSync"}, "health": {"status": "Healthy"}}))
        while True:  # other rows may come first (the chart sources' newest versions, read in the background)
            rows = {row["name"]: row["state"] for row in next_states()}
            if rows.get("headlamp") != "Synced":
                assert rows["headlamp"] == "OutOfSync"
                break


def test_a_changed_document_is_read_again(server: Server) -> None:
    document = server.repo / "clusters" / "edge" / "cluster.yaml"
    document.write_text(document.read_text().replace("chart_version: 0.45.0", "chart_version: 0.44.0"))
    deadline = time.monotonic() + 3  # the server looks at the document's files twice a second at most
    while (rows := server.get(f"{API}/addons", server.read).json()["result"])[0]["chart_version"] != "0.44.0":
        assert time.monotonic() < deadline, rows[0]
        time.sleep(0.1)


def _post(server: Server, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _put(server: Server, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.put(server.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _finished(server: Server, operation: dict[str, Any]) -> dict[str, Any]:
    answer = server.get(f"{API}/operations/{operation['id']}", server.read, wait=60)
    assert answer.status_code == 200, answer.text  # read while the operation writes: never half its files
    done = answer.json()
    assert done["status"] not in ("pending", "running"), done
    return dict(done)


def test_a_read_token_cannot_write(server: Server) -> None:
    answer = _post(server, f"{API}/addons/headlamp/upgrade", server.read, {"chart_version": "0.44.0"})
    assert answer.status_code == 403 and "only read" in answer.json()["error"]
    removed = httpx.delete(server.url + f"{API}/addons/headlamp", headers={"Authorization": f"Bearer {server.read}"})
    assert removed.status_code == 403
    assert _post(server, f"{API}/addons/headlamp/upgrade", "kd_nope", {"chart_version": "0.44.0"}).status_code == 401


def test_an_upgrade_is_a_reviewed_diff_then_exactly_one_commit(server: Server, tmp_path: Path) -> None:
    before = remote_log(server.remote, tmp_path)
    dry = _post(server, f"{API}/addons/headlamp/upgrade", server.write, {"chart_version": "0.44.0", "dry_run": True})
    assert dry.status_code == 202, dry.text
    assert dry.headers["location"] == f"{API}/operations/{dry.json()['id']}"
    preview = _finished(server, dry.json())
    assert preview["status"] == "success", preview
    assert preview["result"]["commit"] is None
    assert "-          chart_version: 0.45.0" in preview["result"]["diff"]
    assert "+          chart_version: 0.44.0" in preview["result"]["diff"]
    assert remote_log(server.remote, tmp_path) == before
    real = _finished(server, _post(server, f"{API}/addons/headlamp/upgrade", server.write,
                                   {"chart_version": "0.44.0"}).json())
    assert real["status"] == "success", real
    after = remote_log(server.remote, tmp_path)
    assert after[1:] == before
    assert after[0] == "kaddons: upgrade add-on headlamp from chart version 0.45.0 to 0.44.0"
    assert len(real["result"]["commit"]) == 40
    rows = {r["name"]: r for r in server.get(f"{API}/addons", server.read).json()["result"]}
    assert rows["headlamp"]["chart_version"] == "0.44.0"
    history = server.get(f"{API}/addons/headlamp/history", server.read).json()["result"]
    assert history[0]["revision"] == real["result"]["commit"] and history[0]["subject"] == after[0]
    listed = server.get(f"{API}/operations", server.read).json()["result"]
    assert [o["id"] for o in listed[:2]] == [real["id"], preview["id"]]  # newest first
    back = _finished(server, _post(server, f"{API}/addons/headlamp/rollback", server.write, {}).json())
    assert back["status"] == "success", back
    rows = {r["name"]: r for r in server.get(f"{API}/addons", server.read).json()["result"]}
    assert rows["headlamp"]["chart_version"] == "0.45.0"
    assert rows["headlamp"]["rolled_back_to"] == history[1]["revision"][:12]  # shown until the next change
    assert rows["kyverno"]["rolled_back_to"] is None


def test_a_failed_operation_says_why_and_changes_nothing(server: Server, tmp_path: Path) -> None:
    before = remote_log(server.remote, tmp_path)
    failed = _finished(server, _post(server, f"{API}/addons/headlamp/upgrade", server.write,
                                     {"chart_version": "9.9.9"}).json())
    assert failed["status"] == "failed" and failed["result"] is None
    assert "9.9.9" in failed["error"] and "0.45.0" in failed["error"]  # names the versions the source has
    assert remote_log(server.remote, tmp_path) == before
    assert _post(server, f"{API}/addons/nope/upgrade", server.write, {"chart_version": "1.0.0"}).status_code == 404
    assert _post(server, f"{API}/addons/headlamp/upgrade", server.write,
                 {"chart_version": "../../etc"}).status_code == 422


def test_values_sent_with_an_operation_are_not_recorded_in_the_list_nor_the_journal(server: Server) -> None:
    """Operations are read with any read token and kept across restarts: a value an upgrade sends by path (one
    refused because its key must stay encrypted, say) is recorded neither in the list nor in the journal."""
    failed = _finished(server, _post(server, f"{API}/addons/headlamp/upgrade", server.write,
                                     {"chart_version": "9.9.9",
                                      "values": [{"path": "oidc.clientSecret", "value": "hunter2"}]}).json())
    assert failed["status"] == "failed" and "9.9.9" in failed["error"]
    assert failed["parameters"]["values"] == [{"path": "oidc.clientSecret", "value": "<not recorded>"}]
    listed = server.get(f"{API}/operations", server.read)
    assert failed["id"] in listed.text and "hunter2" not in listed.text
    journal = server.repo / ".git" / "kaddons" / "operations.jsonl"  # what the next start of the server reads
    assert failed["id"] in journal.read_text() and "hunter2" not in journal.read_text()


def test_a_pending_operation_can_be_cancelled_a_finished_one_not(server: Server) -> None:
    first = _post(server, f"{API}/addons/headlamp/upgrade", server.write, {"chart_version": "0.43.0"}).json()
    second = _post(server, f"{API}/addons/headlamp/upgrade", server.write, {"chart_version": "0.42.0"}).json()
    cancelled = _post(server, f"{API}/operations/{second['id']}/cancel", server.write, {})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _finished(server, first)["status"] == "success"
    again = _post(server, f"{API}/operations/{first['id']}/cancel", server.write, {})
    assert again.status_code == 409 and "success" in again.json()["error"]
    assert server.get(f"{API}/addons/headlamp", server.read).json()["chart_version"] == "0.43.0"


def test_sync_through_the_api_is_an_operation_that_patches_the_application(server: Server) -> None:
    queued = _post(server, f"{API}/addons/headlamp/sync", server.write, {})
    assert queued.status_code == 202, queued.text
    done = _finished(server, queued.json())
    assert done["status"] == "success", done
    assert done["result"]["object"] == "Application argocd/addon-headlamp"
    [(key, patch)] = server.api.emulator.patches
    assert key[2] == "addon-headlamp" and "sync" in patch["operation"]
    assert _post(server, f"{API}/addons/headlamp/sync", server.read, {}).status_code == 403


def test_values_set_through_the_api_are_one_commit_to_the_values_file(server: Server, tmp_path: Path) -> None:
    before = remote_log(server.remote, tmp_path)
    body = {"values": [{"path": "env[0].name", "value": "LOG_LEVEL"}, {"path": "env[name=LOG_LEVEL].value",
                                                                      "value": "debug"},
                       {"path": "replicaCount", "value": 3}]}
    preview = _finished(server, _post(server, f"{API}/addons/headlamp/upgrade", server.write,
                                      {**body, "dry_run": True}).json())
    assert preview["status"] == "success", preview
    assert "+replicaCount: 3" in preview["result"]["diff"] and "+    value: debug" in preview["result"]["diff"]
    assert "ENC[AES256_GCM" not in preview["result"]["diff"]  # the values file's ciphertext is masked
    done = _finished(server, _post(server, f"{API}/addons/headlamp/upgrade", server.write, body).json())
    assert done["status"] == "success", done
    assert "clusters/edge/values/headlamp.yaml" in done["result"]["changed"]
    after = remote_log(server.remote, tmp_path)
    assert after[1:] == before and after[0].endswith("values env[0].name, env[name=LOG_LEVEL].value, replicaCount")
    refused = _finished(server, _post(server, f"{API}/addons/headlamp/upgrade", server.write,
                                      {"values": [{"path": "replicaCount[0]", "value": 1}]}).json())
    assert refused["status"] == "failed" and "indexes a list" in refused["error"]
    typo = _finished(server, _post(server, f"{API}/addons/headlamp/upgrade", server.write,
                                   {"values": [{"path": "env[name=LOG_LEVL].value", "value": "x"}]}).json())
    assert typo["status"] == "failed" and "no item of the list has name=LOG_LEVL (name: LOG_LEVEL)" in typo["error"]


def test_install_settings_enable_and_disable_through_the_api_are_commits(
        server: Server, tmp_path: Path, testdata: Path, registry: RunningRegistry) -> None:
    before = remote_log(server.remote, tmp_path)
    body = {"chart": "podinfo", "chart_version": "6.14.1", "source": "headlamp", "stack": "apps",
            "parents": ["addon:headlamp"], "values": "replicaCount: 2\n"}
    preview = _finished(server, _post(server, f"{API}/addons", server.write, {**body, "dry_run": True}).json())
    assert preview["status"] == "success", preview
    assert "+replicaCount: 2" in preview["result"]["diff"] and remote_log(server.remote, tmp_path) == before
    done = _finished(server, _post(server, f"{API}/addons", server.write, body).json())
    assert done["status"] == "success", done
    assert remote_log(server.remote, tmp_path)[0] == ("kaddons: install add-on podinfo (chart podinfo 6.14.1) in "
                                                      "stack apps")
    rows = {r["name"]: r for r in server.get(f"{API}/addons", server.read).json()["result"]}
    assert rows["podinfo"]["parents"] == ["addon:headlamp"] and rows["podinfo"]["stack_name"] == "apps"
    profile = _finished(server, _put(server, f"{API}/addons/podinfo/settings", server.write,
                                     {"profile": "stateful"}).json())
    assert profile["status"] == "success", profile
    assert remote_log(server.remote, tmp_path)[0] == "kaddons: update add-on podinfo: settings profile stateful"
    bad = _finished(server, _put(server, f"{API}/addons/podinfo/settings", server.write, {"profile": "fast"}).json())
    assert bad["status"] == "failed" and "production-critical" in bad["error"]
    assert _put(server, f"{API}/addons/podinfo/settings", server.read, {"profile": "stateful"}).status_code == 403

    def delete(path: str) -> dict[str, Any]:
        answer = httpx.delete(f"{server.url}{API}{path}", timeout=30,
                              headers={"Authorization": f"Bearer {server.write}"})
        assert answer.status_code == 202, answer.text
        return _finished(server, answer.json())

    assert delete("/addons/podinfo")["status"] == "success"  # Ankra's default: the definition is kept
    assert remote_log(server.remote, tmp_path)[0].startswith("kaddons: uninstall add-on podinfo (definition kept")
    assert "podinfo" not in {r["name"] for r in server.get(f"{API}/addons", server.read).json()["result"]}
    again = httpx.delete(f"{server.url}{API}/addons/podinfo", headers={"Authorization": f"Bearer {server.write}"},
                         timeout=30)
    assert again.status_code == 400 and "uninstalled already" in again.json()["error"]
    assert "delete=true" in again.json()["error"]
    kept = server.get(f"{API}/uninstalled", server.read).json()["result"]
    assert kept == [{"name": "podinfo", "stack_name": "apps", "chart_name": "podinfo", "chart_version": "6.14.1",
                     "namespace": "podinfo"}]
    restored = _finished(server, _post(server, f"{API}/addons/podinfo/restore", server.write, {}).json())
    assert restored["status"] == "success", restored
    assert remote_log(server.remote, tmp_path)[0] == "kaddons: restore add-on podinfo in stack apps"
    assert server.get(f"{API}/addons/podinfo", server.read).json()["chart_version"] == "6.14.1"
    assert delete("/addons/podinfo?delete=true")["status"] == "success"
    assert remote_log(server.remote, tmp_path)[0] == "kaddons: uninstall add-on podinfo and delete its definition"
    assert _post(server, f"{API}/addons/podinfo/restore", server.write, {}).status_code == 404

    source = tmp_path / "addons"
    shutil.copytree(testdata / "metrics", source / "metrics")
    out = tmp_path / "out"
    out.mkdir()
    archive = export_addons(source, ["metrics"], out, ExportOptions(omit_images=True, omit_packages=True)).path
    prefix = f"api-{tmp_path.name[-8:]}"
    push_archive(archive, f"{registry.host}/{prefix}", RegistryOptions(insecure=True))
    enable = {"addon": "metrics", "stack": "apps", "registry": f"oci://{registry.host}/{prefix}", "insecure": True}
    enabled = _finished(server, _post(server, f"{API}/catalog", server.write, enable).json())
    assert enabled["status"] == "success", enabled
    assert enabled["result"]["tag"] == "v1.0.0" and enabled["result"]["paths"] == ["."]
    details = server.get(f"{API}/addons/metrics", server.read).json()
    assert (details["kind"], details["tag"], details["paths"], details["stack_name"]) == ("catalog", "v1.0.0", ["."],
                                                                                         "apps")
    listed = {r["name"]: r for r in server.get(f"{API}/addons", server.read).json()["result"]}
    assert {k: listed["metrics"][k] for k in ("kind", "stack_name", "chart_name", "chart_version", "registry_url",
                                             "latest_chart_version")} == {
        "kind": "catalog", "stack_name": "apps", "chart_name": "addons/metrics", "chart_version": "v1.0.0",
        "registry_url": f"oci://{registry.host}/{prefix}", "latest_chart_version": None}
    assert listed["metrics"]["last_updated"] is not None and listed["headlamp"]["kind"] == "addon"
    stacks = {row["name"]: row for row in server.get(f"{API}/stacks", server.read).json()["result"]}
    assert stacks["apps"]["catalog"] == ["metrics"] and "catalog:metrics" not in str(stacks["platform"]["edges"])
    history = server.get(f"{API}/addons/metrics/history", server.read).json()["result"]
    assert [c["subject"].split(" (")[0] for c in history] == ["kaddons: enable catalog addon metrics"]
    assert remote_log(server.remote, tmp_path)[0].startswith("kaddons: enable catalog addon metrics (")
    wrong = _finished(server, _post(server, f"{API}/catalog", server.write, {**enable, "addon": "nosuch"}).json())
    assert wrong["status"] == "failed" and "addons/nosuch" in wrong["error"]
    assert _post(server, f"{API}/catalog", server.write, {**enable, "registry": "http://x"}).status_code == 422
    gone = _finished(server, httpx.delete(f"{server.url}{API}/catalog/metrics", timeout=30,
                                          headers={"Authorization": f"Bearer {server.write}"}).json())
    assert gone["status"] == "success", gone
    assert remote_log(server.remote, tmp_path)[0] == "kaddons: disable catalog addon metrics"
    assert "metrics" not in {r["name"] for r in server.get(f"{API}/addons", server.read).json()["result"]}


def test_serve_keeps_its_own_clone_of_a_repository_url(tmp_path: Path, daemon: GitDaemon) -> None:  # noqa: F811
    url, work = _seeded(daemon, tmp_path, "serve-url")
    tokens = tmp_path / "tokens.json"
    token = _kaddons("serve", "token", "create", "--role", "read", "--tokens", str(tokens)).stdout.strip()
    env = {**os.environ, **GIT_ENV, "KADDONS_CACHE_DIR": str(tmp_path / "cache")}

    def description() -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        process = subprocess.Popen([sys.executable, "-m", "kaddons", "serve", "--repo", url, "--offline",
                                    "--tokens", str(tokens), "--listen", f"127.0.0.1:{port}"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/clusters", timeout=1,
                                       headers={"Authorization": f"Bearer {token}"})
                    return str(answer.json()["result"][0]["description"])
                except httpx.TransportError:
                    assert process.poll() is None, process.communicate()[1]
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.1)
        finally:
            process.terminate()
            process.communicate(timeout=10)

    assert description() == "An edge cluster with a dashboard and policies"
    document = work / "clusters/edge/cluster.yaml"
    document.write_text(document.read_text().replace("with a dashboard and policies", "renamed"))
    git("commit", "--quiet", "-am", "describe", cwd=work)
    git("push", "--quiet", cwd=work)
    assert description() == "An edge cluster renamed"  # the kept clone was brought to the remote's commit
    clones = list((tmp_path / "cache" / "repos").iterdir())
    assert len(clones) == 1 and (clones[0] / ".git").is_dir()
    bad = _kaddons("serve", "--repo", "git://127.0.0.1:1/nope.git", "--offline", "--tokens", str(tokens))
    assert bad.returncode == 5 and "cannot read git://127.0.0.1:1/nope.git" in bad.stderr
    assert "Traceback" not in bad.stderr
