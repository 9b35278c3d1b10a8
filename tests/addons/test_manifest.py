"""``addon.manifest.yaml``: every real K2s manifest loads; what the K2s schema rejects, the model rejects."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from kaddons.addons import AddonManifest, load_manifest, parse_manifest_bytes, parse_manifest_text
from kaddons.addons.manifest import MAX_MANIFEST_SIZE, RangeConstraint, ValidationSetConstraint
from kaddons.errors import AddonManifestError, ContentError
from tests.addons.conftest import ADDON_NAMES


def raw(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_bytes().decode("utf-8-sig"))


def dump(data: Any) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, stream)
    return stream.getvalue()


def error_of(text: str, source: str = "m.yaml") -> str:
    with pytest.raises(AddonManifestError) as info:
        parse_manifest_text(text, source)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{source}: ")
    assert info.value.source == source and message == f"{source}: {info.value.detail}"
    return info.value.detail


@pytest.fixture(scope="module")
def schema(testdata: Path) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((testdata / "addon.manifest.schema.json").read_text()))


@pytest.mark.parametrize("name", ADDON_NAMES)
def test_every_real_manifest_loads_and_round_trips(testdata: Path, schema: jsonschema.Validator, name: str) -> None:
    path = testdata / name / "addon.manifest.yaml"
    manifest = load_manifest(path)
    assert manifest.metadata.name == name
    assert manifest.to_data() == raw(path)  # nothing lost, nothing added
    schema.validate(raw(path))  # the baseline: K2s's schema accepts them too


def test_rollout_manifest_with_bom_loads(testdata: Path) -> None:
    data = (testdata / "rollout" / "addon.manifest.yaml").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    for manifest in (load_manifest(testdata / "rollout" / "addon.manifest.yaml"), parse_manifest_bytes(data),
                     parse_manifest_text(data.decode("utf-8"))):
        assert [impl.name for impl in manifest.spec.implementations] == ["argocd", "fluxcd"]
    fluxcd = manifest.spec.implementations[1]
    assert fluxcd.offline_usage is not None
    assert fluxcd.offline_usage.windows.curl[0].destination == "bin\\flux.exe"


def test_ingress_multi_implementation_in_order(testdata: Path) -> None:
    manifest = load_manifest(testdata / "ingress" / "addon.manifest.yaml")
    assert manifest.api_version == "v1" and manifest.kind == "AddonManifest"
    assert [impl.name for impl in manifest.spec.implementations] == ["nginx", "traefik", "nginx-gw"]
    nginx = manifest.spec.implementations[0]
    enable = nginx.commands.enable
    assert enable.script.sub_path == "nginx/Enable.ps1"
    assert [(m.cli_flag_name, m.script_parameter_name) for m in enable.script.parameter_mappings] == [
        ("omitCertMgr", "OmitCertMgr")]
    assert enable.cli is not None
    flag = enable.cli.flags[0]
    assert flag.name == "omitCertMgr" and flag.default is False and flag.constraints is None
    assert nginx.commands.disable.script.sub_path == "nginx/Disable.ps1"
    assert nginx.version is None
    assert nginx.offline_usage is not None
    assert nginx.offline_usage.linux.additional_images_files[0] == "../../common/manifests/external-dns/deployment.yaml"


def test_constraints_and_flag_types(testdata: Path) -> None:
    dashboard = load_manifest(testdata / "dashboard" / "addon.manifest.yaml").spec.implementations[0]
    assert dashboard.commands.enable.cli is not None
    ingress, metrics = dashboard.commands.enable.cli.flags
    assert isinstance(ingress.constraints, ValidationSetConstraint)
    assert ingress.constraints.validation_set == ["none", "nginx", "nginx-gw", "traefik"]
    assert ingress.default == "none" and metrics.default is False
    storage = load_manifest(testdata / "storage" / "addon.manifest.yaml").spec.implementations[0]
    assert storage.commands.disable.cli is not None
    force, keep = storage.commands.disable.cli.flags
    assert (force.shorthand, force.exclusion_group, keep.exclusion_group) == ("f", "data-retention", "data-retention")
    # No shipped addon of the test data has a range; this is K2s's `viewer` flag (spec §1.4).
    data = raw(testdata / "metrics" / "addon.manifest.yaml")
    data["spec"]["implementations"][0]["commands"]["enable"]["cli"]["flags"] = [
        {"name": "nodeport", "shorthand": "n", "default": 0,
         "constraints": {"kind": "range", "range": {"min": 30000, "max": 32767}}},
        {"name": "ratio", "default": 0.5, "constraints": {"kind": "range", "range": {"min": 0, "max": 1.5}}}]
    flags = parse_manifest_text(dump(data)).spec.implementations[0].commands.enable.cli.flags  # type: ignore[union-attr]
    assert isinstance(flags[0].constraints, RangeConstraint)
    assert (flags[0].constraints.range.min, flags[0].constraints.range.max) == (30000, 32767)
    assert type(flags[0].default) is int and type(flags[1].default) is float


def test_unknown_keys_are_kept(testdata: Path) -> None:
    data = raw(testdata / "dicom" / "addon.manifest.yaml")
    assert data["metadata"]["annotations"]  # a real unknown key
    impl = data["spec"]["implementations"][0]
    data["x-top"] = {"nested": [1, 2]}
    impl["version"] = "2.1.0"
    impl["maintainer"] = "someone"
    impl["commands"]["enable"]["cli"]["flags"][0]["type"] = "string"  # as monitoring's `type: boolean`
    impl["commands"]["update"] = {"script": {"subPath": "Update.ps1"}, "note": True}
    manifest = parse_manifest_text(dump(data))
    assert manifest.to_data() == data
    assert manifest.model_extra == {"x-top": {"nested": [1, 2]}}
    parsed = manifest.spec.implementations[0]
    assert parsed.version == "2.1.0"
    assert list(parsed.commands.all()) == ["enable", "disable", "update"]
    assert parsed.commands.all()["update"].script.sub_path == "Update.ps1"
    assert AddonManifest.model_validate(manifest.to_data()).to_data() == data


def test_windows_images_outside_the_schema_are_read(testdata: Path) -> None:
    metrics = load_manifest(testdata / "metrics" / "addon.manifest.yaml").spec.implementations[0]
    assert metrics.offline_usage is not None
    windows = metrics.offline_usage.windows
    assert windows.additional_images == ["shsk2s.azurecr.io/prometheus-community/windows-exporter"]
    assert windows.additional_images_files == ["../common/manifests/windows-exporter/daemonset.yaml"]


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a copy of ``data`` with ``path`` (``a.b.0.c``) set to ``value``, or deleted for ``...``."""
    data = copy.deepcopy(data)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = data
    for step in parents:
        node = node[step]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


IMPL = "spec.implementations.1"
ENABLE = f"{IMPL}.commands.enable"
FLAG = f"{ENABLE}.cli.flags.0"
# (path in the ingress manifest, new value or ... to delete, expected detail) -- K2s's schema rejects each.
SCHEMA_VIOLATIONS = [
    (f"{IMPL}.commands.disable", ..., "spec.implementations[1].commands: 'disable' is required"),
    (f"{ENABLE}.script.subPath", 7,
     "spec.implementations[1].commands.enable.script.subPath: expected a string, got a number"),
    (f"{ENABLE}.script", ..., "spec.implementations[1].commands.enable: 'script' is required"),
    ("kind", "Manifest", "kind: expected 'AddonManifest', got 'Manifest'"),
    ("metadata.description", ..., "metadata: 'description' is required"),
    ("metadata", ["x"], "metadata: expected a mapping, got a list"),
    ("spec.implementations", {"name": "x"}, "spec.implementations: expected a list, got a mapping"),
    (f"{IMPL}.name", ..., "spec.implementations[1]: 'name' is required"),
    (f"{IMPL}.description", None, "spec.implementations[1].description: expected a value, got null"),
    (f"{FLAG}.default", [1], "default: expected a string, number or boolean, got a list"),
    (f"{FLAG}.default", None, "default: expected a string, number or boolean, got null"),
    (f"{FLAG}.default", ..., "spec.implementations[1].commands.enable.cli.flags[0]: 'default' is required"),
    (f"{FLAG}.constraints", {"kind": "set"}, "constraints.kind: expected one of 'validation-set', 'range'"),
    (f"{FLAG}.constraints", {"validationSet": ["a"]}, "flags[0].constraints: 'kind' is required"),
    (f"{FLAG}.constraints", {"kind": "validation-set"}, "constraints: 'validationSet' is required"),
    (f"{FLAG}.constraints", {"kind": "validation-set", "validationSet": []}, "validationSet: expected at least 1"),
    (f"{FLAG}.constraints", {"kind": "validation-set", "validationSet": ["a", "a"]}, "duplicate item 'a'"),
    (f"{FLAG}.constraints", {"kind": "range"}, "flags[0].constraints: 'range' is required"),
    (f"{FLAG}.constraints", {"kind": "range", "range": {"min": 1, "max": "9"}},
     "constraints.range.max: expected a number, got a string"),
    (f"{ENABLE}.cli.examples.0.cmd", ..., "cli.examples[0]: 'cmd' is required"),
    (f"{ENABLE}.script.parameterMappings.0.scriptParameterName", ..., "'scriptParameterName' is required"),
    (f"{IMPL}.offline_usage.windows", ..., "spec.implementations[1].offline_usage: 'windows' is required"),
    (f"{IMPL}.offline_usage.linux.deb", ..., "offline_usage.linux: 'deb' is required"),
    (f"{IMPL}.offline_usage.linux.additionalImages", ["a", "a"], "linux.additionalImages: duplicate item 'a'"),
    (f"{IMPL}.offline_usage.windows.curl.0.url", ..., "offline_usage.windows.curl[0]: 'url' is required"),
]
# kaddons is stricter than the schema where the Go CLI fails anyway, or where names must stay unique.
STRICTER = [
    ("apiVersion", "v2", "apiVersion: expected 'v1', got 'v2'"),
    ("spec.implementations", [], "spec.implementations: expected at least 1 item(s), got none"),
    (f"{IMPL}.name", "nginx", "spec.implementations: duplicate implementation name 'nginx'"),
]


@pytest.mark.parametrize(("path", "value", "expected"), SCHEMA_VIOLATIONS + STRICTER)
def test_invalid_manifest_one_line_with_yaml_path(
        testdata: Path, schema: jsonschema.Validator, path: str, value: Any, expected: str) -> None:
    data = _set(raw(testdata / "ingress" / "addon.manifest.yaml"), path, value)
    assert schema.is_valid(data) is ((path, value, expected) in STRICTER)
    assert expected in error_of(dump(data))


def test_not_yaml_names_line_and_column() -> None:
    assert error_of("apiVersion: v1\nkind: [AddonManifest\nmetadata: {}\n").startswith("line 3, column 9: ")
    detail = error_of("apiVersion: v1\nkind: AddonManifest\napiVersion: v2\n")
    assert detail.startswith("line 3, column 1: found duplicate key \"apiVersion\"")
    assert error_of("") == "empty document, expected an AddonManifest"
    assert error_of("- a\n") == "expected a mapping, got a list"
    assert error_of("a: 1\n---\nb: 2\n").startswith("line 2, column 1: ")


def test_not_utf8_unreadable_too_large(tmp_path: Path) -> None:
    with pytest.raises(AddonManifestError, match=r"^x: not UTF-8 text \(byte 0xff at offset 0\)$"):
        parse_manifest_bytes("apiVersion: v1".encode("utf-16"), "x")
    missing = tmp_path / "nope" / "addon.manifest.yaml"
    with pytest.raises(AddonManifestError, match=r"cannot read: No such file or directory") as info:
        load_manifest(missing)
    assert info.value.source == str(missing)
    assert isinstance(info.value, ContentError) and info.value.exit_code == 4
    big = tmp_path / "addon.manifest.yaml"
    big.write_bytes(b"#" * (MAX_MANIFEST_SIZE + 1))
    with pytest.raises(AddonManifestError, match="larger than"):
        load_manifest(big)


def test_timestamps_stay_strings(testdata: Path) -> None:
    data = raw(testdata / "metrics" / "addon.manifest.yaml")
    data["metadata"]["description"] = "DATE"
    text = dump(data).replace("DATE", "2024-01-01")
    assert "description: 2024-01-01" in text
    assert parse_manifest_text(text).metadata.description == "2024-01-01"
