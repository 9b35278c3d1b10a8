"""Chart sources and the preflight (``kaddons cluster template``), run as a user runs them, against real
sources: the charts of ``testdata/charts/k2s-history/`` served as a Helm HTTP repository (static files over
HTTP, as GitHub Pages serves one) and pushed to the real OCI registry with the Helm SDK; rendered by the Helm
SDK in-process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.http_server import StaticServer
from tests.helpers.registry import RunningRegistry
from tests.stacks.conftest import HEADLAMP, KYVERNO

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"


@pytest.fixture(scope="module")
def oci_charts(testdata: Path, registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """headlamp 0.44.0 and 0.45.0 pushed to the real registry by the Helm SDK (as `helm push` does)."""
    import helm_python

    home = tmp_path_factory.mktemp("helm-home")
    os.environ.setdefault("HELM_CONFIG_HOME", str(home))
    target = f"oci://{registry.host}/charts-{home.name}"
    for version in ("0.44.0", "0.45.0"):
        helm_python.push(str(testdata.parent / "charts" / "k2s-history" / f"headlamp-{version}.tgz"), target,
                         plain_http=True)
    return target


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    copy = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, copy)
    (copy / ".git").mkdir()
    return copy


def kaddons(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "HOME": str(cwd.parent), "KADDONS_CACHE_DIR": str(cwd.parent / "cache"), "NO_COLOR": "1",
            "KADDONS_MIRRORS_FILE": str(cwd.parent / "no-mirrors.yaml")}
    return subprocess.run([sys.executable, "-m", "kaddons", "cluster", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=300, check=False)


def mirrors(server: StaticServer) -> list[str]:
    return ["--mirror", f"{HEADLAMP}={server.url}/", "--mirror", f"{KYVERNO}={server.url}/"]


def test_template_renders_every_addon_once_and_then_from_the_cache(repo: Path, chart_repo: StaticServer) -> None:
    first = kaddons("template", *mirrors(chart_repo), "-o", "json", cwd=repo)
    assert first.returncode == 0, first.stderr
    import json

    rows = {row["name"]: row for row in json.loads(first.stdout)}
    assert set(rows) == {"headlamp", "kyverno"}
    index = (chart_repo.root / "index.yaml").read_text()
    headlamp_digest = re.search(r"digest: (\w+)\n(?:.*\n)*?.*- headlamp-0.45.0.tgz", index)
    assert headlamp_digest is not None and rows["headlamp"]["digest"] == f"sha256:{headlamp_digest.group(1)}"
    assert rows["headlamp"]["objects"] >= 4 and rows["kyverno"]["objects"] > 20  # kyverno's subcharts rendered
    assert not rows["headlamp"]["cached"]
    assert "2 chart(s) rendered" in first.stderr
    # The archives are in the cache by digest: a second run downloads nothing and renders nothing.
    cached = sorted(p.name for p in (repo.parent / "cache" / "charts" / "sha256").iterdir())
    assert f"{headlamp_digest.group(1)}.tgz" in cached
    shutil.rmtree(chart_repo.root / "nothing", ignore_errors=True)
    second = kaddons("template", *mirrors(chart_repo), "-o", "json", cwd=repo)
    assert second.returncode == 0 and "0 chart(s) rendered" in second.stderr
    assert all(row["cached"] for row in json.loads(second.stdout))
    # One add-on's values change: only that chart is rendered again.
    values = repo / "clusters/edge/values/headlamp.yaml"
    values.write_text(values.read_text() + "podAnnotations: {team: edge}\n")
    third = kaddons("template", *mirrors(chart_repo), "-o", "json", cwd=repo)
    assert third.returncode == 0 and "1 chart(s) rendered" in third.stderr


def test_a_version_the_source_lacks_is_exit_3_listing_what_it_has(repo: Path, chart_repo: StaticServer) -> None:
    document = repo / "clusters/edge/cluster.yaml"
    document.write_text(document.read_text().replace("chart_version: 0.45.0", "chart_version: 0.46.0"))
    done = kaddons("template", *mirrors(chart_repo), cwd=repo)
    assert done.returncode == 3
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {document}: spec.stacks[0].addons[0].chart_version: chart headlamp has no "
                           f"version 0.46.0 in {HEADLAMP} (mirror {chart_repo.url}/): it has 0.45.0, 0.44.0, "
                           "0.43.0, 0.42.0, 0.41.0, 0.40.1 (newest first)")


def test_an_unreachable_source_is_exit_5(repo: Path) -> None:
    done = kaddons("template", "--mirror", f"{HEADLAMP}=http://127.0.0.1:1/", cwd=repo)
    assert done.returncode == 5
    assert "cannot reach the chart repository" in done.stderr and "Traceback" not in done.stderr


def test_values_that_break_the_charts_schema_are_exit_2(repo: Path, chart_repo: StaticServer) -> None:
    values = repo / "clusters/edge/values/headlamp.yaml"
    values.write_text(values.read_text().replace("replicaCount: ${{ ankra.replicas }}", "replicaCount: two"))
    done = kaddons("template", *mirrors(chart_repo), cwd=repo)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "spec.stacks[0].addons[0]: the values break chart headlamp 0.45.0's values.schema.json" in line
    assert "replicaCount" in line


def test_warnings_and_strict(repo: Path, chart_repo: StaticServer) -> None:
    values = repo / "clusters/edge/values/headlamp.yaml"
    values.write_text(values.read_text() + "replicaCout: 3\n")
    document = repo / "clusters/edge/cluster.yaml"
    document.write_text(document.read_text().replace(
        "          parents:\n            - manifest: ns-headlamp\n", "").replace(
        "sync_options: [CreateNamespace=true, ServerSideApply=true]", "sync_options: [ServerSideApply=true]"))
    done = kaddons("template", *mirrors(chart_repo), cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "values key 'replicaCout' is not in chart headlamp 0.45.0's values.yaml (a typo?)" in done.stderr
    assert "spec.stacks[0].addons[0].namespace: namespace 'headlamp' is created by no parent manifest" in done.stderr
    strict = kaddons("template", *mirrors(chart_repo), "--strict", cwd=repo)
    assert strict.returncode == 2 and "(--strict: warnings are errors)" in strict.stderr


def test_a_tampered_archive_is_refused_and_not_cached(repo: Path, chart_repo: StaticServer, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(chart_repo.root, tampered)
    archive = tampered / "headlamp-0.45.0.tgz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with StaticServer(tampered) as server:
        done = kaddons("template", *mirrors(server), cwd=repo)
    assert done.returncode == 4
    assert "digest mismatch" in done.stderr
    assert not list((repo.parent / "cache" / "charts" / "sha256").glob("*.tgz"))


def test_mirrors_from_the_mirrors_file(repo: Path, chart_repo: StaticServer) -> None:
    file = repo.parent / "mirrors.yaml"
    file.write_text(f"{HEADLAMP}: {chart_repo.url}/\n{KYVERNO}: {chart_repo.url}/\n")
    done = kaddons("template", cwd=repo, env={"KADDONS_MIRRORS_FILE": str(file)})
    assert done.returncode == 0, done.stderr
    bad = kaddons("template", "--mirror", "not-a-pair", cwd=repo)
    assert bad.returncode == 2 and "--mirror 'not-a-pair': write it as FROM=TO" in bad.stderr


def test_an_oci_source(repo: Path, oci_charts: str, chart_repo: StaticServer, registry: RunningRegistry) -> None:
    document = repo / "clusters/edge/cluster.yaml"
    document.write_text(document.read_text().replace(f"registry_url: {HEADLAMP}", f"registry_url: {oci_charts}")
                        .replace(f"url: {HEADLAMP}", f"url: {oci_charts}"))
    done = kaddons("template", "--insecure", "--mirror", f"{KYVERNO}={chart_repo.url}/", "-o", "json", cwd=repo)
    assert done.returncode == 0, done.stderr
    import json

    [headlamp] = [row for row in json.loads(done.stdout) if row["name"] == "headlamp"]
    assert headlamp["objects"] >= 4 and headlamp["digest"].startswith("sha256:")
    document.write_text(document.read_text().replace("chart_version: 0.45.0", "chart_version: 0.40.1"))
    missing = kaddons("template", "--insecure", "--mirror", f"{KYVERNO}={chart_repo.url}/", cwd=repo)
    assert missing.returncode == 3
    assert "chart headlamp has no version 0.40.1 in oci://" in missing.stderr
    assert "it has 0.45.0, 0.44.0 (newest first)" in missing.stderr


def test_a_chart_whose_render_fails_is_exit_2(tmp_path: Path) -> None:
    """A chart made with the Helm SDK (`helm create` + a template that `required`s a value), packaged and
    indexed as `helm package` and `helm repo index` do."""
    import helm_python

    charts = tmp_path / "broken-charts"
    charts.mkdir()
    (tmp_path / "src").mkdir()
    chart = helm_python.Chart.create("needy", tmp_path / "src")
    chart.close()
    (tmp_path / "src" / "needy" / "templates" / "needs.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: needs}\ndata: {x: {{ required "set mustSet" '
        '.Values.mustSet | quote }}}\n')
    helm_python.package(str(tmp_path / "src" / "needy"), destination=str(charts))
    with StaticServer(charts) as server:
        helm_python.repo_index_generate(str(charts), base_url=server.url)
        repo = tmp_path / "gitops"
        (repo / ".git").mkdir(parents=True)
        (repo / "cluster.yaml").write_text(
            "apiVersion: v1\nkind: ImportCluster\nmetadata: {name: c1}\nspec:\n  stacks:\n    - name: s\n"
            f"      addons:\n        - {{name: needy, chart_name: needy, chart_version: 0.1.0, registry_url: "
            f"'{server.url}', namespace: needy, configuration: {{values: 'replicaCount: 1'}}}}\n")
        done = kaddons("template", "-f", "cluster.yaml", cwd=repo)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: cluster.yaml: spec.stacks[0].addons[0]: chart needy 0.1.0 does not "
                           "render with the add-on's values: execution error at (needy/templates/needs.yaml")
    assert "set mustSet" in line


def test_an_oci_source_behind_tls_and_a_login_from_helm_registry_login(repo: Path, chart_repo: StaticServer,
                                                                       testdata: Path, tmp_path: Path) -> None:
    """The real registry with TLS and htpasswd; the credentials only in Helm's registry config (the file
    `helm registry login` writes), none in the Docker config."""
    import base64
    import json

    from kaddons.oci.registry import RegistryOptions
    from tests.helpers.secure_registry import make_tls, run_tls_registry

    tls = make_tls()  # in a folder the registry's user (nobody) can read
    with run_tls_registry(tls, htpasswd={"charts": "s3cret"}) as secure:
        auth = base64.b64encode(b"charts:s3cret").decode()
        login = tmp_path / "helm-registry.json"
        login.write_text(json.dumps({"auths": {secure.host: {"auth": auth}}}))
        _push_helm_chart(testdata.parent / "charts" / "k2s-history" / "headlamp-0.45.0.tgz", secure.host,
                         "charts/headlamp", "0.45.0", RegistryOptions(ca_file=tls.ca_file, username="charts",
                                                                      password="s3cret"))
        document = repo / "clusters/edge/cluster.yaml"
        document.write_text(document.read_text().replace(HEADLAMP, f"oci://{secure.host}/charts"))
        args = ["template", "--ca-file", str(tls.ca_file), "--mirror", f"{KYVERNO}={chart_repo.url}/"]
        anonymous = kaddons(*args, cwd=repo)
        assert anonymous.returncode == 5, anonymous.stderr  # the registry wants credentials
        helm_config = repo.parent / ".config" / "helm" / "registry" / "config.json"
        helm_config.parent.mkdir(parents=True)
        shutil.copy(login, helm_config)
        done = kaddons(*args, cwd=repo)
        assert done.returncode == 0, done.stderr
        assert "2 add-on(s) checked" in done.stderr


def _push_helm_chart(archive: Path, host: str, repository: str, tag: str, options: Any) -> None:
    """Push a chart archive in Helm's OCI layout (config media type, chart layer, manifest tagged by version) with
    kaddons' own registry client (it takes the test CA; the Helm SDK's client here cannot)."""
    import io
    import json

    from kaddons.oci.digest import digest_of
    from kaddons.oci.models import Descriptor
    from kaddons.oci.registry import Registry

    chart = archive.read_bytes()
    config = json.dumps({"name": repository.rsplit("/", 1)[-1], "version": tag, "apiVersion": "v2"}).encode()
    layer = Descriptor(mediaType="application/vnd.cncf.helm.chart.content.v1.tar+gzip", digest=digest_of(chart),
                       size=len(chart))
    config_desc = Descriptor(mediaType="application/vnd.cncf.helm.config.v1+json", digest=digest_of(config),
                             size=len(config))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config_desc.model_dump(by_alias=True, exclude_none=True),
                           "layers": [layer.model_dump(by_alias=True, exclude_none=True)]}).encode()
    manifest_desc = Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json", digest=digest_of(manifest),
                               size=len(manifest))
    with Registry(host, options) as registry:
        target = registry.repository(repository)
        target.push(config_desc, io.BytesIO(config))
        target.push(layer, io.BytesIO(chart))
        target.push(manifest_desc, io.BytesIO(manifest))
        target.tag(manifest_desc, tag)
