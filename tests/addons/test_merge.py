"""Merging an imported manifest into the installed one, over the real ingress and rollout manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaddons.addons import parse_manifest_text
from kaddons.addons.merge import merge_manifest
from kaddons.errors import AddonManifestError
from tests.helpers.k2s_archive import filtered_manifest

HEADER = "# SPDX-FileCopyrightText: © 2026 Siemens Healthineers AG\n#\n# SPDX-License-Identifier: MIT\n"


@pytest.fixture
def ingress(testdata: Path) -> str:
    return (testdata / "ingress" / "addon.manifest.yaml").read_text(encoding="utf-8")


def names(text: str) -> list[str]:
    return [impl.name for impl in parse_manifest_text(text).spec.implementations]


def implementation(text: str, name: str) -> dict[str, object]:
    data = parse_manifest_text(text).to_data()
    return next(impl for impl in data["spec"]["implementations"] if impl["name"] == name)


def test_new_implementation_is_appended_and_header_kept(ingress: str) -> None:
    merged = merge_manifest(filtered_manifest(ingress, "nginx"), filtered_manifest(ingress, "traefik"))
    assert names(merged) == ["nginx", "traefik"]
    assert merged.startswith(HEADER + "\napiVersion: v1\n")
    assert implementation(merged, "traefik") == implementation(ingress, "traefik")
    assert implementation(merged, "nginx") == implementation(ingress, "nginx")


def test_existing_implementation_is_updated_in_place(ingress: str) -> None:
    installed = ingress.replace("kind: AddonManifest\n", "kind: AddonManifest # keep this comment\n")
    changed = filtered_manifest(ingress, "traefik").replace(
        "uses traefik as a reverse proxy", "uses traefik 3").replace(
        "                default: false\n", "                default: false\n              - name: debug\n"
                                          "                default: false\n", 1)
    merged = merge_manifest(installed, changed)
    assert names(merged) == ["nginx", "traefik", "nginx-gw"]  # same position, nothing appended
    traefik = implementation(merged, "traefik")
    assert traefik["description"].endswith("uses traefik 3")  # K2s would have kept the old entry (§8.5)
    assert [f["name"] for f in traefik["commands"]["enable"]["cli"]["flags"]] == ["omitCertMgr", "debug"]
    for other in ("nginx", "nginx-gw"):
        assert implementation(merged, other) == implementation(ingress, other)
    assert "kind: AddonManifest # keep this comment\n" in merged
    assert merged.startswith(HEADER)


def test_only_takes_the_named_implementations(ingress: str) -> None:
    """An artifact carrying the addon's full manifest (§8.9) adds only the implementation it installs."""
    fresh = merge_manifest(None, ingress, only=["traefik"])
    assert names(fresh) == ["traefik"] and fresh.startswith(HEADER)
    merged = merge_manifest(filtered_manifest(ingress, "nginx"), ingress, only=["nginx-gw"])
    assert names(merged) == ["nginx", "nginx-gw"]
    with pytest.raises(AddonManifestError, match=r"no implementation 'contour' .*it has: nginx, traefik, nginx-gw"):
        merge_manifest(None, ingress, only=["contour"])


def test_nothing_installed_keeps_the_imported_text(ingress: str) -> None:
    nginx = filtered_manifest(ingress, "nginx")
    assert merge_manifest(None, nginx, only=["nginx"]) == nginx
    assert merge_manifest(None, "\ufeff" + nginx) == nginx


def test_bom_tolerated_never_written(testdata: Path) -> None:
    rollout = (testdata / "rollout" / "addon.manifest.yaml").read_text(encoding="utf-8")
    assert rollout.startswith("\ufeff")
    argocd = merge_manifest(None, rollout, only=["argocd"])
    merged = merge_manifest(argocd, rollout, only=["fluxcd"])
    assert not merged.startswith("\ufeff") and merged.startswith("# SPDX")
    assert names(merged) == ["argocd", "fluxcd"]


def test_different_addons_are_not_merged(ingress: str, testdata: Path) -> None:
    metrics = (testdata / "metrics" / "addon.manifest.yaml").read_text(encoding="utf-8")
    with pytest.raises(AddonManifestError, match=r"^installed addon.manifest.yaml: metadata.name is 'ingress'"):
        merge_manifest(ingress, metrics)


@pytest.mark.parametrize("broken", ["apiVersion: v1\nkind: [\n", "apiVersion: v2\nkind: AddonManifest\n"])
def test_invalid_manifests_are_named(ingress: str, broken: str) -> None:
    with pytest.raises(AddonManifestError, match=r"^/x/addon.manifest.yaml: "):
        merge_manifest(broken, ingress, existing_source="/x/addon.manifest.yaml")
    with pytest.raises(AddonManifestError, match=r"^artifact manifest: "):
        merge_manifest(ingress, broken, imported_source="artifact manifest")
