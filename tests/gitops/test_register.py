"""``kaddons gitops register``: per-addon FluxCD OCIRepository + Kustomization (spec §5.2, §7.1), checked with
``kubectl kustomize``, the Flux CRD schemas, and K2s's per-addon templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kaddons.addons.format import LayerKind, layer_spec
from kaddons.gitops.register import register_documents, register_files, register_options
from kaddons.gitops.render import render_objects, render_options, write_rendered
from tests.gitops.conftest import CliRun, assert_one_line_error
from tests.gitops.k8s import by_kind, canonical, kustomize_build, load_stream, validate

REGISTRY = "oci://k2s.registry.local:30500"
NAMES = ["metrics", "ingress-nginx"]
MANIFESTS_MEDIA_TYPE = layer_spec(LayerKind.MANIFESTS).media_type


def _write(tmp_path: Path, flavor: str, **kwargs: Any) -> Path:
    options = register_options(kwargs.pop("registry", REGISTRY), flavor=flavor, **kwargs)
    return write_rendered(register_files(NAMES, options), tmp_path / "registered").directory


@pytest.mark.parametrize("flavor", ["kaddons", "k2s"])
def test_registered_objects_build_and_validate(tmp_path: Path, flavor: str) -> None:
    out = _write(tmp_path, flavor, insecure=True)
    assert sorted(p.name for p in out.iterdir()) == [".kaddons-owned", "ingress-nginx.yaml", "kustomization.yaml",
                                                     "metrics.yaml"]
    objects = kustomize_build(out)
    assert len(objects) == 4
    for obj in objects:
        validate(obj)
    found = by_kind(objects)
    for name in NAMES:
        source, kustomization = found[("OCIRepository", f"addon-sync-{name}")], found[("Kustomization",
                                                                                       f"addon-sync-{name}")]
        assert source["spec"]["url"] == f"oci://k2s.registry.local:30500/addons/{name}"
        assert source["spec"]["insecure"] is True
        assert kustomization["spec"]["sourceRef"] == {"kind": "OCIRepository", "name": f"addon-sync-{name}"}
        assert source["metadata"]["labels"]["app.kubernetes.io/part-of"] == flavor


@pytest.mark.parametrize("flavor", ["kaddons", "k2s"])
def test_the_printed_stream_is_the_build_of_the_written_directory(kaddons: CliRun, tmp_path: Path,
                                                                  flavor: str) -> None:
    args = ["gitops", "register", *NAMES, "--registry", REGISTRY, "--flavor", flavor, "--semver", ">=1.0.0 <2.0.0"]
    printed = kaddons(*args)
    assert printed.returncode == 0, printed.stderr
    written = kaddons(*args, "--output-dir", tmp_path / "out")
    assert written.returncode == 0, written.stderr
    assert canonical(load_stream(printed.stdout)) == canonical(kustomize_build(tmp_path / "out"))


def test_k2s_flavor_is_k2s_templates_after_placeholder_substitution(tmp_path: Path, k2s_addon_sync: Path) -> None:
    out = _write(tmp_path, "k2s", registry="oci://10.1.2.3:5000", insecure=True)
    objects = by_kind(kustomize_build(out))
    for name in NAMES:
        for kind, template in (("OCIRepository", "ocirepository-template.yaml"),
                               ("Kustomization", "kustomization-template.yaml")):
            # What K2s's documentation asks the user to do: plain-text substitution, then kubectl apply.
            text = (k2s_addon_sync / "fluxcd" / "per-addon" / template).read_text(encoding="utf-8")
            for placeholder, value in (("ADDON_NAME_PLACEHOLDER", name), ("REGISTRY_HOST_PLACEHOLDER", "10.1.2.3:5000"),
                                       ("INSECURE_PLACEHOLDER", "true")):
                text = text.replace(placeholder, value)
            [expected] = load_stream(text)
            assert objects[(kind, f"addon-sync-{name}")] == expected
            assert "serviceAccountName" not in objects[(kind, f"addon-sync-{name}")]["spec"]


@pytest.mark.parametrize("flavor", ["kaddons", "k2s"])
def test_written_files_meet_the_e2e_expectations(tmp_path: Path, flavor: str) -> None:
    out = _write(tmp_path, flavor)
    text = (out / "metrics.yaml").read_text(encoding="utf-8")
    # §7.1 checks the template text itself.
    assert 'semver: ">=0.0.0-0"' in text
    assert f"mediaType: {MANIFESTS_MEDIA_TYPE}\n" in text and "operation: extract\n" in text
    assert "path: ./gitops-sync\n" in text and "force: true\n" in text and "wait: true\n" in text
    found = by_kind(load_stream(text))
    source, kustomization = found[("OCIRepository", "addon-sync-metrics")], found[("Kustomization",
                                                                                  "addon-sync-metrics")]
    assert source["spec"]["layerSelector"] == {"mediaType": MANIFESTS_MEDIA_TYPE, "operation": "extract"}
    assert source["spec"]["ref"] == {"semver": ">=0.0.0-0"} and source["spec"]["interval"] == "1m"
    spec = kustomization["spec"]
    assert (spec["path"], spec["prune"], spec["wait"], spec["force"]) == ("./gitops-sync", True, True, True)
    assert (spec["timeout"], spec["targetNamespace"]) == ("10m", "k2s-addon-sync")


def test_kaddons_flavor_applies_with_the_rendered_reconciler_and_configmap(tmp_path: Path) -> None:
    spec = register_documents("metrics", register_options(REGISTRY))[1]["spec"]
    tree = by_kind(render_objects(render_options("fluxcd", REGISTRY)))
    account = spec["serviceAccountName"]
    assert ("ServiceAccount", account) in tree
    binding = next(o for o in tree.values() if o["kind"] == "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "k2s-addon-sync"}]
    assert tree[("Role", binding["roleRef"]["name"])]["rules"][0]["resources"] == ["jobs"]
    [source] = spec["postBuild"]["substituteFrom"]
    assert source == {"kind": "ConfigMap", "name": "addon-sync-config"} and ("ConfigMap", source["name"]) in tree
    assert spec["postBuild"]["substitute"] == {"SEMVER": ">=0.0.0-0"}


def test_options_reach_the_objects(tmp_path: Path) -> None:
    options = register_options("oci://[::1]:5000", interval="90s", semver="~1.2", service_account="my-applier",
                               registry_secret=True)
    source, kustomization = register_documents("metrics", options)
    for obj in (source, kustomization):
        validate(obj)
        assert obj["spec"]["interval"] == "90s"
    assert source["spec"]["url"] == "oci://[::1]:5000/addons/metrics" and source["spec"]["insecure"] is False
    assert source["spec"]["ref"] == {"semver": "~1.2"}
    assert source["spec"]["secretRef"] == {"name": "addon-sync-registry"}
    assert kustomization["spec"]["serviceAccountName"] == "my-applier"
    assert kustomization["spec"]["postBuild"]["substitute"] == {"SEMVER": "~1.2"}
    k2s = register_documents("metrics", register_options(REGISTRY, flavor="k2s", service_account="mine"))
    assert k2s[1]["spec"]["serviceAccountName"] == "mine" and "postBuild" not in k2s[1]["spec"]


def test_names_given_twice_are_registered_once(tmp_path: Path) -> None:
    files = register_files(["metrics", "metrics"], register_options(REGISTRY))
    assert sorted(files) == ["kustomization.yaml", "metrics.yaml"]
    assert load_stream(files["kustomization.yaml"].decode())[0]["resources"] == ["metrics.yaml"]


BAD_REGISTER = [
    (["Metrics"], {}, ["addon name 'Metrics' is not a DNS label", "export name"]),
    (["ingress_nginx"], {}, ["'ingress_nginx'"]),
    (["metrics", "bad-"], {}, ["'bad-'"]),
    (["a" * 53], {}, ["has 53 characters", "at most 52"]),
    (["metrics"], {"--interval": "5 minutes"}, ["interval '5 minutes' is not a Flux duration", "1m"]),
    (["metrics"], {"--interval": "1d"}, ["interval '1d'"]),
    (["metrics"], {"--semver": ">>1.0"}, ["semver constraint '>>1.0' does not parse", ">=0.0.0-0"]),
    (["metrics"], {"--semver": ">=1.0.0\t<2.0.0"}, ["white space"]),
    (["metrics"], {"--registry": "oci://r.local/addons"}, ["ends in /addons"]),
    (["metrics"], {"--registry": "oci://r.local/team", "--flavor": "k2s"}, ["has a path", "knows no prefix"]),
    (["metrics"], {"--registry": "oci://r.local:5000:v1"}, ["names a tag"]),
    (["metrics"], {"--registry": "http://r.local"}, ["http:// means plain HTTP", "oci://r.local", "--insecure"]),
    (["metrics"], {"--registry": "r.local"}, ["does not start with oci://"]),
    (["metrics"], {"--flavor": "flux"}, ["unknown flavor 'flux'"]),
    (["metrics"], {"--service-account": "Bad_Name"}, ["--service-account 'Bad_Name'"]),
]


@pytest.mark.parametrize(("names", "change", "needles"), BAD_REGISTER,
                         ids=[str(i) for i in range(len(BAD_REGISTER))])
def test_bad_input_is_one_line_and_writes_nothing(kaddons: CliRun, tmp_path: Path, names: list[str],
                                                  change: dict[str, str], needles: list[str]) -> None:
    flags = {"--registry": REGISTRY, **change}
    args = [x for item in flags.items() for x in item]
    out = tmp_path / "out"
    assert_one_line_error(kaddons("gitops", "register", *names, *args, "--output-dir", out), *needles)
    assert not out.exists()
    assert_one_line_error(kaddons("gitops", "register", *names, *args), *needles)  # nothing printed either


def test_registering_one_at_a_time_keeps_earlier_registrations(kaddons: CliRun, tmp_path: Path) -> None:
    """Flux prunes what leaves a Kustomization: a second `register -o DIR` must not unregister the first addon."""
    out = tmp_path / "clusters" / "edge" / "addon-sync"
    base = ["gitops", "register", "--registry", REGISTRY, "--output-dir", out]
    first = kaddons(*base[:2], "metrics", *base[2:])
    assert first.returncode == 0, first.stderr
    (out / "README.md").write_text("registrations of the edge cluster\n")  # the user's own file
    second = kaddons(*base[:2], "ingress-nginx", *base[2:])
    assert second.returncode == 0, second.stderr
    assert "registers 2 addon(s)" in second.stderr
    objects = by_kind(kustomize_build(out))
    assert {name for kind, name in objects if kind == "OCIRepository"} == {"addon-sync-metrics",
                                                                          "addon-sync-ingress-nginx"}
    assert (out / "README.md").read_text() == "registrations of the edge cluster\n"
    metrics = (out / "metrics.yaml").read_bytes()
    again = kaddons(*base[:2], "ingress-nginx", "metrics", *base[2:], "--semver", ">=2.0.0")  # updates both in place
    assert again.returncode == 0, again.stderr
    assert (out / "metrics.yaml").read_bytes() != metrics
    sources = [obj for obj in kustomize_build(out) if obj["kind"] == "OCIRepository"]
    assert len(sources) == 2 and {obj["spec"]["ref"]["semver"] for obj in sources} == {">=2.0.0"}


def test_register_never_overwrites_a_file_that_is_not_kaddons(kaddons: CliRun, tmp_path: Path) -> None:
    out = tmp_path / "overlay"
    out.mkdir()
    (out / "kustomization.yaml").write_text("resources: [metrics.yaml]\n")
    (out / "metrics.yaml").write_text("kind: MyOwnMetrics\n")
    done = kaddons("gitops", "register", "metrics", "--registry", REGISTRY, "--output-dir", out, "--force")
    assert_one_line_error(done, "kustomization.yaml, metrics.yaml would be overwritten", "not kaddons'")
    assert (out / "metrics.yaml").read_text() == "kind: MyOwnMetrics\n"
    assert sorted(p.name for p in out.iterdir()) == ["kustomization.yaml", "metrics.yaml"]


def test_a_registry_prefix_reaches_every_object(kaddons: CliRun, tmp_path: Path) -> None:
    """push and sync publish to PREFIX/addons/<name>: the cluster side must read the same repositories."""
    registry = "oci://ghcr.io/example-org/platform"
    register = kaddons("gitops", "register", "metrics", "--registry", registry,
                       "--output-dir", tmp_path / "registered")
    assert register.returncode == 0, register.stderr
    render = kaddons("gitops", "render", "--engine", "argocd", "--registry", registry,
                     "--output-dir", tmp_path / "tree")
    assert render.returncode == 0, render.stderr
    found = by_kind(kustomize_build(tmp_path / "registered"))
    assert found[("OCIRepository", "addon-sync-metrics")]["spec"]["url"] == \
        "oci://ghcr.io/example-org/platform/addons/metrics"
    for obj in found.values():
        validate(obj)
    config = by_kind(kustomize_build(tmp_path / "tree"))[("ConfigMap", "addon-sync-config")]
    assert config["data"]["REGISTRY_URL"] == registry  # what the poller and the Jobs pass to kaddons sync
