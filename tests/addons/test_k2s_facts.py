"""kaddons' one definition of the K2s format (:mod:`kaddons.addons.format`, :mod:`kaddons.addons.contents`)
against the facts the tests copied from the reference (:mod:`tests.helpers.k2s_facts`): a wrong key, media
type or routing rule in kaddons fails here, whatever the round-trip tests (which use the facts) say."""

from __future__ import annotations

from pathlib import Path

from kaddons.addons import format as kaddons_format
from kaddons.addons.contents import CONFIG_ROOT_PATTERNS, layer_entries
from kaddons.addons.format import LayerKind, layer_spec
from tests.helpers.k2s_facts import ANN, FORMAT, LAYERS, catalog_files


def test_the_layer_table_is_k2s_s() -> None:
    ours = [(spec.number, spec.kind.value, spec.title, spec.media_type, spec.gzip) for spec in kaddons_format.LAYERS]
    assert ours == [(row.number, row.kind, row.title, row.media_type, row.gzip) for row in LAYERS]


def test_annotation_keys_and_constants_are_k2s_s() -> None:
    for name in dir(FORMAT):
        if name.isupper() and name != "LAYERS":
            assert getattr(kaddons_format, name) == getattr(FORMAT, name), name
    assert len([n for n in dir(FORMAT) if n.startswith("ANN_")]) == len(ANN)
    assert CONFIG_ROOT_PATTERNS == ("values.yaml", "values-*.yaml", "settings.json", "*.config.json",
                                    "*.config.yaml")


def test_kaddons_routes_every_test_data_file_as_k2s_does(testdata: Path) -> None:
    checked = 0
    for manifest in sorted(testdata.glob("*/addon.manifest.yaml")):
        addon = manifest.parent
        impl_dirs = [d for d in sorted(addon.iterdir()) if (d / "manifests").is_dir()] or [addon]
        for impl_dir in impl_dirs:
            layers = layer_entries(impl_dir, addon.name, manifest=None)
            places = {LayerKind.MANIFESTS: "manifests/", LayerKind.CHARTS: "manifests/chart/",
                      LayerKind.SCRIPTS: "", LayerKind.CONFIG: ""}
            ours = {places[kind] + entry.name: entry.source.read_bytes()  # type: ignore[union-attr]
                    for kind, entries in layers.items() for entry in entries}
            assert ours == catalog_files(impl_dir, addon.name), impl_dir
            assert layer_spec(LayerKind.MANIFESTS).gzip
            checked += 1
    assert checked >= 8
