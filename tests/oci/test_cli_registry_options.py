"""The registry options as a user gives them, through the CLI, against the real registry over TLS with
htpasswd (Basic) auth: flags, KADDONS_* variables and the Docker config, and their documented precedence
(command line > environment > Docker config)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from kaddons.oci.archive import ArchiveStore
from kaddons.oci.registry import Registry, RegistryOptions
from tests.helpers.images import push_image
from tests.oci.conftest import SecureRegistry


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KADDONS_") and k != "DOCKER_CONFIG"}
    return subprocess.run([sys.executable, "-m", "kaddons", *args], capture_output=True, text=True, timeout=120,
                          env={**clean, "HOME": str(cwd), **env}, cwd=cwd)


def _docker_config(path: Path, host: str, user: str, password: str) -> Path:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


def test_flags_environment_and_docker_config_in_their_order(basic_registry: SecureRegistry, tmp_path: Path) -> None:
    host, ca = basic_registry.host, str(basic_registry.tls.ca_file)
    right, wrong = basic_registry.users["alice"], "not-the-password"
    good_config = _docker_config(tmp_path / "good.json", host, "alice", right)
    bad_config = _docker_config(tmp_path / "bad.json", host, "alice", wrong)

    def repo_ls(*flags: str, **env: str) -> subprocess.CompletedProcess[str]:
        return _run("repo", "ls", host, *flags, env=env, cwd=tmp_path)

    assert repo_ls("--ca-file", ca, "-u", "alice", "-p", right).returncode == 0  # flags
    assert repo_ls(KADDONS_CA_FILE=ca, KADDONS_USERNAME="alice", KADDONS_PASSWORD=right).returncode == 0  # env
    assert repo_ls("--ca-file", ca, "--registry-config", str(good_config)).returncode == 0  # Docker config
    assert repo_ls(KADDONS_CA_FILE=ca, KADDONS_REGISTRY_CONFIG=str(good_config)).returncode == 0
    # Precedence: the command line wins over the environment, which wins over the Docker config.
    assert repo_ls("-p", right, KADDONS_CA_FILE=ca, KADDONS_USERNAME="alice", KADDONS_PASSWORD=wrong).returncode == 0
    refused = repo_ls("-p", wrong, KADDONS_CA_FILE=ca, KADDONS_USERNAME="alice", KADDONS_PASSWORD=right)
    assert refused.returncode == 5 and refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr
    assert repo_ls(KADDONS_CA_FILE=ca, KADDONS_USERNAME="alice", KADDONS_PASSWORD=right,
                   KADDONS_REGISTRY_CONFIG=str(bad_config)).returncode == 0
    assert repo_ls(KADDONS_CA_FILE=ca, KADDONS_USERNAME="alice", KADDONS_PASSWORD=wrong,
                   KADDONS_REGISTRY_CONFIG=str(good_config)).returncode == 5
    # TLS is verified: without the CA the certificate does not verify, and the error says how to trust it.
    untrusted = repo_ls("-u", "alice", "-p", right)
    assert untrusted.returncode == 5 and "--ca-file" in untrusted.stderr


def test_export_pulls_images_from_a_registry_that_needs_credentials_and_tls(basic_registry: SecureRegistry,
                                                                           tmp_path: Path) -> None:
    host, ca = basic_registry.host, basic_registry.tls.ca_file
    options = RegistryOptions(ca_file=ca, username="alice", password=basic_registry.users["alice"])
    with Registry(host, options) as client:
        push_image(client.repository("private/app"), "1.0", salt="private")
    addon = tmp_path / "addons" / "private"
    (addon / "manifests").mkdir(parents=True)
    (addon / "addon.manifest.yaml").write_text(
        "apiVersion: v1\nkind: AddonManifest\nmetadata:\n"
        "  name: private\n  description: an addon whose image needs a login\nspec:\n  implementations:\n"
        "    - name: private\n      commands:\n        enable:\n          script:\n            subPath: Enable.ps1\n"
        "        disable:\n          script:\n            subPath: Disable.ps1\n")
    (addon / "Enable.ps1").write_text("# enable\n")
    (addon / "Disable.ps1").write_text("# disable\n")
    (addon / "manifests" / "app.yaml").write_text(f"image: {host}/private/app:1.0\n")
    config = _docker_config(tmp_path / "config.json", host, "alice", basic_registry.users["alice"])
    args = ("export", "private", "--addons-dir", str(tmp_path / "addons"), "--omit-packages", "--ca-file", str(ca))
    anonymous = _run(*args, "-d", str(tmp_path / "anon"), env={}, cwd=tmp_path)
    assert anonymous.returncode == 5 and "Traceback" not in anonymous.stderr, anonymous.stderr
    done = _run(*args, "-d", str(tmp_path / "out"), "--registry-config", str(config), env={}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [archive] = (tmp_path / "out").glob("*.oci.tar")
    with ArchiveStore(archive) as store:
        [desc] = store.index().manifests
        with store.fetch(desc) as stream:
            manifest = json.loads(stream.read())
    titles = [layer["annotations"]["org.opencontainers.image.title"] for layer in manifest["layers"]]
    assert "images-linux.tar" in titles
