"""Image discovery of an addon implementation (spec §2.7 steps 1-4), on the real K2s addons and small ones."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from kaddons.addons.catalog import Implementation, discover
from kaddons.addons.images import ImageSet, discover_images
from kaddons.errors import AddonManifestError, ContentError, UsageError
from tests.helpers.content import tgz

PAUSE_WIN = "shsk2s.azurecr.io/pause-win:v1.8.0"
HEADLAMP = "ghcr.io/headlamp-k8s/headlamp:v0.45.0"


def images_of(addons_dir: Path, addon: str, implementation: str | None = None) -> ImageSet:
    catalog = discover(addons_dir)
    assert not catalog.problems, catalog.problems
    found = catalog.find(addon)
    impl = catalog.find(addon, implementation or addon)
    return discover_images(impl, found.directory)


def needs_helm() -> None:
    pytest.importorskip("helm_python", reason="helm-python-sdk is not installed (pip install 'kaddons[helm]')")


# --- the real K2s addons -------------------------------------------------------------------------------------

def test_dashboard_renders_its_chart_and_adds_offline_images(testdata: Path) -> None:
    needs_helm()
    assert images_of(testdata, "dashboard") == ImageSet(linux=[
        HEADLAMP,
        "shsk2s.azurecr.io/headlamp-plugin-flux:0.7.0",
        "shsk2s.azurecr.io/headlamp-plugin-cert-manager:0.1.1",
        "shsk2s.azurecr.io/headlamp-plugin-prometheus:0.9.1",
        "shsk2s.azurecr.io/headlamp-plugin-keda:0.1.2",
    ], windows=[])


def test_dashboard_chart_alone_yields_headlamp(addons_dir: Path) -> None:
    """The chart is really rendered: without the headlamp.yaml the image still comes from the chart."""
    needs_helm()
    (addons_dir / "dashboard" / "manifests" / "headlamp" / "headlamp.yaml").unlink()
    manifest = addons_dir / "dashboard" / "addon.manifest.yaml"
    text = manifest.read_text()
    manifest.write_text(text.replace("additionalImagesFiles:\n            - manifests/headlamp/headlamp.yaml",
                                     "additionalImagesFiles: []"))
    assert images_of(addons_dir, "dashboard").linux[0] == HEADLAMP


def test_metrics_windows_image_comes_from_common(testdata: Path) -> None:
    # windows.additionalImages has the untagged windows-exporter, dropped for the tagged one of
    # ../common/manifests/windows-exporter/daemonset.yaml
    assert images_of(testdata, "metrics") == ImageSet(
        linux=["registry.k8s.io/metrics-server/metrics-server:v0.9.0"],
        windows=["shsk2s.azurecr.io/prometheus-community/windows-exporter:0.31.8-hp"],
    )


def test_ingress_nginx_names_its_missing_additional_images_file(testdata: Path) -> None:
    with pytest.raises(AddonManifestError) as err:
        images_of(testdata, "ingress", "nginx")
    message = str(err.value)
    assert message.startswith(f"{testdata / 'ingress' / 'addon.manifest.yaml'}: implementation 'nginx': ")
    assert "offline_usage.linux.additionalImagesFiles[0]: file '../../common/manifests/external-dns/deployment.yaml'" \
        " not found" in message
    assert "\n" not in message


def test_ingress_nginx_with_its_common_files(addons_dir: Path) -> None:
    common = addons_dir / "common" / "manifests"
    (common / "external-dns").mkdir()
    (common / "external-dns" / "deployment.yaml").write_text(textwrap.dedent("""\
        kind: Deployment
        spec:
          template:
            spec:
              containers:
                - name: external-dns
                  image: registry.k8s.io/external-dns/external-dns:v0.15.1
        """))
    (common / "certmanager").mkdir()
    (common / "certmanager" / "cert-manager.yaml").write_text(textwrap.dedent("""\
        containers:
          - name: cert-manager-cainjector
            image: "quay.io/jetstack/cert-manager-cainjector:v1.17.2"
          - name: cert-manager-controller
            image: "quay.io/jetstack/cert-manager-controller:v1.17.2"
            args:
            - --v=2
            - --acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.17.2
            - --leader-election-namespace=kube-system/leader:1
          - name: cert-manager-webhook
            image: "quay.io/jetstack/cert-manager-webhook:v1.17.2"
        """))
    assert images_of(addons_dir, "ingress", "nginx") == ImageSet(linux=[
        "registry.k8s.io/ingress-nginx/controller:v1.15.1",
        "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9",
        "registry.k8s.io/external-dns/external-dns:v0.15.1",
        "quay.io/jetstack/cert-manager-cainjector:v1.17.2",
        "quay.io/jetstack/cert-manager-controller:v1.17.2",
        "quay.io/jetstack/cert-manager-acmesolver:v1.17.2",
        "quay.io/jetstack/cert-manager-webhook:v1.17.2",
    ], windows=[])


@pytest.mark.parametrize("marked", [True, False])
def test_synced_gitops_job_is_excluded_by_its_marker(addons_dir: Path, testdata: Path, marked: bool) -> None:
    job = (testdata / "common" / "manifests" / "addon-sync" / "gitops-sync" / "sync-job.yaml").read_text()
    assert "## exclude-from-export" in job and PAUSE_WIN in job
    if not marked:
        job = job.replace("## exclude-from-export", "")
    target = addons_dir / "metrics" / "manifests" / "gitops-sync" / "sync-job.yaml"  # where a sync puts it
    target.parent.mkdir()
    target.write_text(job)
    assert (PAUSE_WIN in images_of(addons_dir, "metrics").linux) is not marked


# --- rules, on small addons ----------------------------------------------------------------------------------

MANIFEST = """\
apiVersion: v1
kind: AddonManifest
metadata: {{name: demo, description: Demo addon}}
spec:
  implementations:
    - name: demo
{offline}      commands:
        enable: {{script: {{subPath: Enable.ps1}}}}
        disable: {{script: {{subPath: Disable.ps1}}}}
"""


def make_addon(root: Path, files: dict[str, str | bytes], offline: str = "") -> Implementation:
    """An addons dir at ``root`` with the single-implementation addon ``demo`` holding ``files``."""
    addon = root / "demo"
    addon.mkdir(parents=True)
    offline_block = textwrap.indent(textwrap.dedent(offline), " " * 6) if offline else ""
    (addon / "addon.manifest.yaml").write_text(MANIFEST.format(offline=offline_block))
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return discover(root).find("demo", "demo")


def discover_demo(root: Path) -> ImageSet:
    return discover_images(discover(root).find("demo", "demo"), root / "demo")


def test_line_rules(tmp_path: Path) -> None:
    make_addon(tmp_path, {
        "demo/manifests/app.yaml": textwrap.dedent("""\
            # image: example.com/commented:1
            spec:
              containers:
                  # image: example.com/indented-comment:1
                - name: a
                  image: example.com/a:1.0   # the main one
                - name: b
                  Image: "example.com/b:2.0"
                - image: 'example.com/c:3.0'
                - image: nginx
                - image: example.com/win:1 #windows_image
                - image: example.com/win2:1 # pinned #Windows_Image
              image:
                repository: example.com/nested
              initImage: example.com/init:4
            """),
        "demo/deep/nested/UPPER.YAML": "image: example.com/upper:1\n",
        "demo/other.yml": "image: example.com/yml:1\n",
        "demo/app.yaml.bak": "image: example.com/bak:1\n",
        "demo/bom.yaml": "\ufeffimage: example.com/bom:1\r\n",
        "demo/a.yaml": "image: example.com/a:1.0\nimage: example.com/first:1\n",
    })
    assert discover_demo(tmp_path) == ImageSet(
        linux=["example.com/a:1.0", "example.com/first:1", "example.com/bom:1", "example.com/upper:1",
               "example.com/b:2.0", "example.com/c:3.0", "example.com/init:4"],
        windows=["example.com/win:1", "example.com/win2:1"],
    )


def test_offline_usage_images_and_files(tmp_path: Path) -> None:
    make_addon(tmp_path, {
        "demo/manifests/app.yaml": "image: docker.io/library/nginx:1.27\n",
        "shared/images.yaml": textwrap.dedent("""\
            spec:
              - image: example.com/listitem:1
                args: ["--image=quay.io/team/helper:v1", "--publish-service=ns/svc:80"]
            image: "example.com/quoted:2"   # comment
            image:
            command: [run, --flag=localhost:5000/local/tool:3, --url=http://example.com/x:1]
            """),
        "shared/windows.yaml": "  image: example.com/win-from-file:1.0\n",
    }, offline="""\
        offline_usage:
          linux:
            repos: []
            deb: []
            curl: []
            additionalImages: [" 'example.com/tool' ", example.com/solo, "", nginx, example.com/tool:2.1,
                               '"example.com/quoted:2"']
            additionalImagesFiles: [../shared/images.yaml]
          windows:
            curl: []
            additionalImages: [example.com/win-from-file]
            additionalImagesFiles: [../shared/windows.yaml]
        """)
    assert discover_demo(tmp_path) == ImageSet(
        linux=["docker.io/library/nginx:1.27", "example.com/solo", "example.com/tool:2.1", "example.com/quoted:2",
               "example.com/listitem:1", "quay.io/team/helper:v1", "localhost:5000/local/tool:3"],
        windows=["example.com/win-from-file:1.0"],
    )


def test_missing_windows_file_is_named(tmp_path: Path) -> None:
    make_addon(tmp_path, {}, offline="""\
        offline_usage:
          linux: {repos: [], deb: [], curl: [], additionalImages: []}
          windows: {curl: [], additionalImagesFiles: [exists.yaml, nope/missing.yaml]}
        """)
    (tmp_path / "demo" / "exists.yaml").write_text("image: example.com/x:1\n")
    with pytest.raises(AddonManifestError,
                       match=r"offline_usage\.windows\.additionalImagesFiles\[1\]: file 'nope/missing.yaml' not found"):
        discover_demo(tmp_path)


def test_no_offline_usage_and_no_images(tmp_path: Path) -> None:
    make_addon(tmp_path, {"demo/manifests/cm.yaml": "kind: ConfigMap\n"})
    images = discover_demo(tmp_path)
    assert images == ImageSet(linux=[], windows=[]) and not images


# --- Helm charts ---------------------------------------------------------------------------------------------

CHART_FILES = {
    "mychart/Chart.yaml": b"apiVersion: v2\nname: mychart\nversion: 1.2.3\n",
    "mychart/values.yaml": b"tag: '1.0'\nwinTag: '9'\n",
    "mychart/templates/deploy.yaml": (
        b"kind: Deployment\nspec:\n  containers:\n"
        b"    - image: \"example.com/{{ .Release.Name }}:{{ .Values.tag }}\"\n"
        b"    - image: example.com/win:{{ .Values.winTag }} #windows_image\n"
    ),
    "mychart/templates/NOTES.txt": b"image: example.com/notes:{{ .Values.tag }}\n",
}


def test_chart_is_rendered_with_release_name_and_values(tmp_path: Path) -> None:
    needs_helm()
    make_addon(tmp_path, {
        "demo/manifests/chart/mychart-1.2.3.tgz": tgz(CHART_FILES),
        "demo/manifests/chart/values.yaml": "tag: '2.0'\n",
    })
    assert discover_demo(tmp_path) == ImageSet(linux=["example.com/mychart:2.0"], windows=["example.com/win:9"])


def test_chart_without_values_file_uses_its_defaults(tmp_path: Path) -> None:
    needs_helm()
    make_addon(tmp_path, {"demo/manifests/chart/mychart-1.2.3.tgz": tgz(CHART_FILES)})
    assert discover_demo(tmp_path).linux == ["example.com/mychart:1.0"]


def test_chart_that_fails_to_render_is_named(tmp_path: Path) -> None:
    needs_helm()
    broken = {**CHART_FILES, "mychart/templates/fail.yaml": b'{{ fail "boom: missing setting" }}\n'}
    make_addon(tmp_path, {"demo/manifests/chart/mychart-1.2.3.tgz": tgz(broken)})
    chart = tmp_path / "demo" / "manifests" / "chart" / "mychart-1.2.3.tgz"
    with pytest.raises(ContentError) as err:
        discover_demo(tmp_path)
    assert str(err.value).startswith(f"Helm chart {chart} does not render")
    assert "boom: missing setting" in str(err.value) and "\n" not in str(err.value)


def test_file_that_is_not_a_chart_is_named(tmp_path: Path) -> None:
    needs_helm()
    make_addon(tmp_path, {"demo/manifests/chart/junk-1.0.tgz": tgz({"readme.txt": b"not a chart"})})
    with pytest.raises(ContentError, match=r"Helm chart .*junk-1\.0\.tgz does not render"):
        discover_demo(tmp_path)


def test_invalid_values_file_is_named(tmp_path: Path) -> None:
    needs_helm()
    make_addon(tmp_path, {
        "demo/manifests/chart/mychart-1.2.3.tgz": tgz(CHART_FILES),
        "demo/manifests/chart/values.yaml": "- just\n- a list\n",
    })
    with pytest.raises(ContentError, match=r"values\.yaml: Helm values must be a mapping"):
        discover_demo(tmp_path)


def test_missing_helm_sdk_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_addon(tmp_path, {"demo/manifests/chart/mychart-1.2.3.tgz": tgz(CHART_FILES),
                          "demo/manifests/app.yaml": "image: example.com/plain:1\n"})
    monkeypatch.setitem(sys.modules, "helm_python", None)  # as if the optional dependency were not installed
    with pytest.raises(UsageError) as err:
        discover_demo(tmp_path)
    assert "pip install 'kaddons[helm]'" in str(err.value) and "--omit-images" in str(err.value)
    (tmp_path / "demo" / "manifests" / "chart" / "mychart-1.2.3.tgz").unlink()
    assert discover_demo(tmp_path).linux == ["example.com/plain:1"]  # no chart: Helm is not needed
