"""The catalog over a copy of the real K2s addons: discovery, export names, problems, sync records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kaddons.addons import (
    Catalog,
    check_name,
    digest_path,
    discover,
    export_name,
    is_valid_name,
    sidecar_path,
    sync_record,
)
from kaddons.errors import NotFoundError
from tests.addons.conftest import ADDON_NAMES

DIGEST = "sha256:" + "ab12" * 16
EXPECTED = [  # (addon, implementation, export name, single, directory relative to the addons dir)
    ("dashboard", "dashboard", "dashboard", True, "dashboard"),
    ("dicom", "dicom", "dicom", True, "dicom"),
    ("ingress", "nginx", "ingress-nginx", False, "ingress/nginx"),
    ("ingress", "traefik", "ingress-traefik", False, "ingress/traefik"),
    ("ingress", "nginx-gw", "ingress-nginx-gw", False, "ingress/nginx-gw"),
    ("metrics", "metrics", "metrics", True, "metrics"),
    ("rollout", "argocd", "rollout-argocd", False, "rollout/argocd"),
    ("rollout", "fluxcd", "rollout-fluxcd", False, "rollout/fluxcd"),
    ("storage", "smb", "storage-smb", False, "storage/smb"),
]


def rows(catalog: Catalog) -> list[tuple[str, str, str, bool, str]]:
    return [(i.addon, i.name, i.export_name, i.single, i.directory.relative_to(catalog.addons_dir).as_posix())
            for a in catalog.addons for i in a.implementations]


def test_discover_real_addons(addons_dir: Path) -> None:
    catalog = discover(addons_dir)
    assert catalog.problems == []
    assert [a.name for a in catalog.addons] == ADDON_NAMES  # not common, sorted by name
    assert rows(catalog) == EXPECTED
    for addon in catalog.addons:
        assert addon.directory == addons_dir / addon.name
        assert addon.manifest_path == addon.directory / "addon.manifest.yaml"
        assert addon.description == addon.manifest.metadata.description
        for impl in addon.implementations:
            assert impl.version == "1.0.0" and impl.directory.is_dir()
            assert impl.description == impl.spec.description
    assert catalog.find("ingress").implementations[2].description.endswith("NGINX Gateway Fabric")


def test_version_from_manifest_and_description_fallback(addons_dir: Path) -> None:
    path = addons_dir / "storage" / "addon.manifest.yaml"
    text = path.read_text().replace("      description: StorageClass provisioning based on SMB share between K8s "
                                    "nodes (Windows/Linux)\n", "      version: 2.3.4\n")
    path.write_text(text)
    smb = discover(addons_dir).find("storage", "smb")
    assert smb.version == "2.3.4"
    assert smb.description == "Persistent storage solutions"  # the addon's, as the implementation has none


def test_not_addons_are_skipped_silently(addons_dir: Path) -> None:
    metrics = addons_dir / "metrics" / "addon.manifest.yaml"
    for folder in ("common", ".staging-metrics", ".addon-sync-digests"):
        (addons_dir / folder).mkdir(exist_ok=True)
        shutil.copyfile(metrics, addons_dir / folder / "addon.manifest.yaml")
    shutil.copyfile(metrics, addons_dir / "ingress" / "nginx" / "addon.manifest.yaml")  # depth 2: stray
    shutil.copyfile(metrics, addons_dir / "addon.manifest.yaml")  # depth 0
    (addons_dir / "hooks").mkdir()
    (addons_dir / "README.md").write_text("not an addon\n")
    catalog = discover(addons_dir)
    assert catalog.problems == []
    assert rows(catalog) == EXPECTED


ROLLOUT_DISABLE = ("        {}:\n          cli:\n            examples:\n"
                   "              - cmd: k2s addons disable rollout argocd\n")
BREAKAGES = {  # addon -> (old text, new text, expected message)
    "ingress": ("          script:\n            subPath: traefik/Disable.ps1\n", "",
                "spec.implementations[1].commands.disable: 'script' is required"),
    "metrics": ("apiVersion: v1", "apiVersion: v2", "apiVersion: expected 'v1', got 'v2'"),
    "dicom": ("kind: AddonManifest", "kind: [AddonManifest", "line 7, column 9: expected ',' or ']', but got ':'"),
    "storage": ("  name: storage\n", "  name: storage\n  name: storage\n",
                'line 9, column 3: found duplicate key "name"'),
    "rollout": (ROLLOUT_DISABLE.format("disable"), ROLLOUT_DISABLE.format("stop"),
                "spec.implementations[0].commands: 'disable' is required"),
}


def _break(addons_dir: Path, addon: str) -> Path:
    old, new, _ = BREAKAGES[addon]
    path = addons_dir / addon / "addon.manifest.yaml"
    text = path.read_bytes().decode("utf-8-sig")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("addon", sorted(BREAKAGES))
def test_one_invalid_manifest_hides_nothing_else(addons_dir: Path, addon: str) -> None:
    path = _break(addons_dir, addon)
    catalog = discover(addons_dir)
    assert [(p.file, p.message[:len(BREAKAGES[addon][2])]) for p in catalog.problems] == [(path, BREAKAGES[addon][2])]
    assert str(catalog.problems[0]).startswith(f"{path}: ")
    assert [a.name for a in catalog.addons] == [n for n in ADDON_NAMES if n != addon]


def test_several_invalid_manifests(addons_dir: Path) -> None:
    broken = [_break(addons_dir, addon) for addon in ("dicom", "ingress", "metrics", "storage")]
    catalog = discover(addons_dir)
    assert [p.file for p in catalog.problems] == broken
    assert [a.name for a in catalog.addons] == ["dashboard", "rollout"]


def test_names_read_from_disk_are_checked(addons_dir: Path) -> None:
    dicom = addons_dir / "dicom" / "addon.manifest.yaml"
    dicom.write_text(dicom.read_text().replace("name: dicom", "name: Dicom_X"))
    ingress = addons_dir / "ingress" / "addon.manifest.yaml"
    ingress.write_text(ingress.read_text().replace("    - name: traefik", "    - name: ../lib"))
    shutil.copytree(addons_dir / "metrics", addons_dir / "metrics-copy")
    catalog = discover(addons_dir)
    assert [str(p) for p in catalog.problems] == [
        f"{dicom}: metadata.name: 'Dicom_X' is not a valid addon name "
        "(lowercase letters, digits and '-', starting and ending with a letter or digit)",
        f"{ingress}: spec.implementations[1].name: '../lib' is not a valid implementation name "
        "(lowercase letters, digits and '-', starting and ending with a letter or digit)",
        f"{addons_dir / 'metrics-copy' / 'addon.manifest.yaml'}: duplicate addon name 'metrics', "
        f"already defined by {addons_dir / 'metrics' / 'addon.manifest.yaml'}",
    ]
    assert [a.name for a in catalog.addons] == ["dashboard", "metrics", "rollout", "storage"]
    assert catalog.find("metrics").directory == addons_dir / "metrics"


def test_unreadable_manifest_is_a_problem(addons_dir: Path) -> None:
    path = addons_dir / "metrics" / "addon.manifest.yaml"
    path.unlink()
    path.mkdir()
    catalog = discover(addons_dir)
    assert [p.file for p in catalog.problems] == [path]
    assert catalog.problems[0].message.startswith("cannot read: ")


def test_find(testdata: Path) -> None:
    catalog = discover(testdata)
    assert catalog.find("Ingress").name == "ingress"
    assert catalog.find("ingress", "nginx-gw").export_name == "ingress-nginx-gw"
    assert catalog.find("metrics", "metrics").directory == testdata / "metrics"
    with pytest.raises(NotFoundError, match=r"no addon 'monitoring' in .* \(known addons: dashboard, dicom, ingress, "):
        catalog.find("monitoring")
    with pytest.raises(NotFoundError, match=r"addon 'ingress' has no implementation 'haproxy' "
                                            r"\(known implementations: nginx, traefik, nginx-gw\)"):
        catalog.find("ingress", "haproxy")


def test_missing_addons_dir(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"addons directory .*nope does not exist"):
        discover(tmp_path / "nope")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotFoundError):
        discover(tmp_path / "file")
    assert discover(tmp_path).addons == []


def test_sync_record_reads_k2s_digest_files(tmp_path: Path) -> None:
    assert sync_record(tmp_path, "metrics") is None
    (tmp_path / ".addon-sync-digests").mkdir()
    assert digest_path(tmp_path, "metrics") == tmp_path / ".addon-sync-digests" / "metrics"
    # As PS 5.1 `Set-Content -Encoding UTF8` writes it: BOM, no newline (spec §4.4).
    digest_path(tmp_path, "metrics").write_bytes(b"\xef\xbb\xbf" + DIGEST.encode())
    record = sync_record(tmp_path, "metrics")
    assert record is not None and (record.digest, record.reference) == (DIGEST, None)
    digest_path(tmp_path, "ingress-nginx").write_text(f"  {DIGEST.upper().replace('SHA256', 'sha256')}\r\n")
    assert sync_record(tmp_path, "ingress-nginx").digest == DIGEST  # type: ignore[union-attr]
    for bad in (b"sha256:abc", b"\xff\xfe", b"md5:" + b"0" * 64):
        digest_path(tmp_path, "dicom").write_bytes(bad)
        assert sync_record(tmp_path, "dicom") is None
    digest_path(tmp_path, "storage-smb").mkdir()
    assert sync_record(tmp_path, "storage-smb") is None
    assert sync_record(tmp_path, "../.addon-sync-digests/metrics") is None


def test_sync_record_reference_from_a_matching_sidecar(tmp_path: Path) -> None:
    (tmp_path / ".addon-sync-digests").mkdir()
    digest_path(tmp_path, "metrics").write_text(DIGEST)
    sidecar = sidecar_path(tmp_path, "metrics")
    assert sidecar == tmp_path / ".addon-sync-digests" / "metrics.kaddons.json"
    sidecar.write_text(json.dumps({"digest": DIGEST, "reference": "reg.local:5000/addons/metrics:v1.0.0"}))
    assert sync_record(tmp_path, "metrics").reference == "reg.local:5000/addons/metrics:v1.0.0"  # type: ignore[union-attr]
    sidecar.write_text(json.dumps({"digest": "sha256:" + "0" * 64, "reference": "reg.local:5000/addons/metrics:v0"}))
    assert sync_record(tmp_path, "metrics").reference is None  # type: ignore[union-attr]  # stale: K2s re-synced
    sidecar.write_text("{not json")
    assert sync_record(tmp_path, "metrics").reference is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "valid"), [
    ("metrics", True), ("nginx-gw", True), ("a", True), ("0", True), ("k2s", True),
    ("", False), ("-a", False), ("a-", False), ("Ingress", False), ("a_b", False), ("a b", False), ("..", False),
    ("a/b", False), ("a.b", False), ("metrics\n", False),
])
def test_name_rule(name: str, valid: bool) -> None:
    assert is_valid_name(name) is valid
    assert (check_name(name) is None) is valid


def test_export_name() -> None:
    assert export_name("metrics") == "metrics"
    assert export_name("metrics", "metrics") == "metrics"
    assert export_name("ingress", "nginx") == "ingress-nginx"
    assert export_name("ingress", "nginx-gw") == "ingress-nginx-gw"
    assert export_name("my addon", " x  y ") == "my-addon-x-y"  # whitespace runs become '-' (Export.ps1)
