"""A catalog addon's implementation as plain files for a GitOps repository ("enable", issue 14).

:func:`hydrate` reads one implementation manifest from an OCI store by digest, unpacks its layers 0-2 (the
config layer for the manifest check; manifests; charts) through :func:`~kaddons.addons.unpack.stage_entry`
(every blob verified against its digest, extraction confined and bounded), and returns the files that
``clusters/<cluster>/catalog/<name>/`` holds:

* ``manifests/…``: the text files of the implementation's ``manifests/`` folder, without ``gitops-sync/``
  (K2s's node-side sync Job, §2.5) and ``chart/`` (rendered instead);
* ``chart.yaml``: each chart of ``manifests/chart/*.tgz`` rendered by the Helm SDK with
  ``manifests/chart/values.yaml`` (the release named as K2s names it: the archive's name without its last
  ``-`` part, §2.7), CRDs first; ``NOTES.txt`` and Helm test hooks left out; namespaced objects without a
  namespace put in the addon's namespace, since no Helm client applies them;
* ``namespace.yaml``: that namespace, when a chart is rendered and no manifest creates it;
* ``kustomization.yaml``: what ``kubectl kustomize`` (and Argo CD) build: each chosen path (its
  ``kustomization.yaml``, or else every Kubernetes object file below it), the namespace and the chart;
* ``artifact.json``: where it came from (reference by digest, tag, paths, namespace).

The PowerShell scripts (layer 3) are K2s's Windows host steps: they are not fetched and not run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kaddons.errors import AddonManifestError, ContentError, NotFoundError, UsageError
from kaddons.oci.models import Descriptor
from kaddons.oci.store import ReadOnlyStore

from ._yaml import parse_yaml
from .artifact import read_entry
from .format import LayerKind
from .names import export_name
from .unpack import IMPL_FOLDER, stage_entry

__all__ = ["CHART_FILE", "Hydrated", "hydrate", "manifest_paths"]

CHART_FILE = "chart.yaml"
NAMESPACE_FILE = "namespace.yaml"
SKIPPED_FOLDERS = ("gitops-sync", "chart")
"""Folders of ``manifests/`` never delivered: K2s's sync Job, and the chart folder (rendered instead)."""
MAX_TEXT_FILE = 4 * 1024 * 1024
_KINDS = frozenset({LayerKind.CONFIG, LayerKind.MANIFESTS, LayerKind.CHARTS})
_CLUSTER_SCOPED = frozenset({
    "APIService", "CSIDriver", "CSINode", "ClusterIssuer", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "GatewayClass", "IngressClass", "MutatingWebhookConfiguration", "Namespace", "Node",
    "PersistentVolume", "PriorityClass", "RuntimeClass", "StorageClass", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration", "VolumeAttachment"})
"""Kinds that take no namespace (core, and the cluster-scoped kinds K2s addons ship)."""

Warn = Callable[[str], None]


@dataclass
class Hydrated:
    """What :func:`hydrate` returns: the ``files`` (POSIX path in the catalog folder -> bytes), the ``paths``
    delivered (folders of ``manifests/``, ``.`` for itself), the ``charts`` rendered (archive names), the
    implementation manifest's ``digest`` and the ``left_out`` files (path, why)."""

    files: dict[str, bytes]
    paths: list[str]
    charts: list[str]
    digest: str
    left_out: list[tuple[str, str]] = field(default_factory=list)


def _dump(documents: Sequence[Any]) -> bytes:
    from kaddons.gitops._yaml import dump_documents

    return dump_documents(documents).encode("utf-8")


def _is_object(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)


def _objects(text: str, where: str) -> list[dict[str, Any]]:
    try:
        docs = parse_yaml(text, where, documents=True)
    except AddonManifestError:  # not YAML: not a file of objects (kustomize says why if it is named)
        return []
    return [doc for doc in docs if _is_object(doc)]


def manifest_paths(manifests: Path) -> tuple[list[str], list[str]]:
    """``(default, candidates)`` for an unpacked ``manifests/`` folder: the paths delivered when none is
    chosen (``["."]`` when the folder has a ``kustomization.yaml`` or Kubernetes objects of its own, else
    none) and every folder below it with a ``kustomization.yaml`` (what ``--path`` can choose)."""
    candidates = sorted(p.parent.relative_to(manifests).as_posix() for p in manifests.rglob("kustomization.y*ml")
                        if p.parent != manifests and p.parent.relative_to(manifests).parts[0] not in SKIPPED_FOLDERS)
    own = (manifests / "kustomization.yaml").is_file() or (manifests / "kustomization.yml").is_file() or any(
        _objects(p.read_text(encoding="utf-8", errors="replace"), str(p))
        for p in sorted(manifests.glob("*.y*ml")) if p.is_file())
    return (["."] if own else []), candidates


def _text_files(manifests: Path) -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    files: dict[str, bytes] = {}
    left: list[tuple[str, str]] = []
    for path in sorted(manifests.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(manifests)
        if rel.parts[0] in SKIPPED_FOLDERS:
            continue
        data = path.read_bytes()
        if len(data) > MAX_TEXT_FILE:
            left.append((f"manifests/{rel.as_posix()}", f"larger than {MAX_TEXT_FILE} bytes"))
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            left.append((f"manifests/{rel.as_posix()}", "not UTF-8 text"))
            continue
        files[f"manifests/{rel.as_posix()}"] = data
    return files, left


def _resources(manifests: Path, path: str) -> list[str]:
    folder = manifests if path == "." else manifests / PurePosixPath(path)
    if (folder / "kustomization.yaml").is_file() or (folder / "kustomization.yml").is_file():
        return ["manifests" if path == "." else f"manifests/{path}"]
    found = []
    for file in sorted(folder.rglob("*.y*ml")):
        rel = file.relative_to(manifests)
        if rel.parts[0] in SKIPPED_FOLDERS or not file.is_file():
            continue
        if _objects(file.read_text(encoding="utf-8", errors="replace"), str(file)):
            found.append(f"manifests/{rel.as_posix()}")
    return found


def _release(archive: str) -> str:
    stem = archive.removesuffix(".tgz")
    return stem.rsplit("-", 1)[0] if "-" in stem else stem


def _render_charts(chart_dir: Path, namespace: str, where: str) -> tuple[list[dict[str, Any]], list[str]]:
    from kaddons.charts.preflight import helm_sdk

    helm = helm_sdk()
    values_file = chart_dir / "values.yaml"
    values: Any = {}
    if values_file.is_file():
        values = parse_yaml(values_file.read_text(encoding="utf-8"), f"{where}: chart/values.yaml") or {}
        if not isinstance(values, dict):
            raise ContentError(f"{where}: chart/values.yaml is not a mapping")
    objects: list[dict[str, Any]] = []
    charts = []
    for archive in sorted(chart_dir.glob("*.tgz")):
        charts.append(archive.name)
        try:
            with helm.Chart.load(archive) as chart:
                crds = [doc for crd in chart.crds or [] for doc in _objects(str(crd.get("data", "")), where)]
                rendered = chart.render(values, name=_release(archive.name), namespace=namespace, is_install=True)
        except helm.HelmError as err:
            raise ContentError(f"{where}: chart {archive.name} does not render with its values.yaml: "
                               f"{' '.join(str(err).split())}") from None
        objects.extend(crds)
        for template in sorted(rendered):
            if template.endswith("NOTES.txt"):
                continue
            for doc in _objects(rendered[template], f"{where}: {template}"):
                hook = str((doc.get("metadata") or {}).get("annotations", {}).get("helm.sh/hook", ""))
                if "test" in hook.split(","):
                    continue
                metadata = doc.setdefault("metadata", {})
                if doc["kind"] not in _CLUSTER_SCOPED and not metadata.get("namespace"):
                    metadata["namespace"] = namespace
                objects.append(doc)
    return objects, charts


def hydrate(store: ReadOnlyStore, descriptor: Descriptor, *, addon: str, implementation: str, reference: str,
            tag: str, namespace: str, paths: Sequence[str] | None = None, warn: Warn | None = None) -> Hydrated:
    """The catalog folder's files for the implementation manifest ``descriptor`` of ``store`` (see the module).

    ``reference``: the repository as the record names it (``HOST/PREFIX/addons/NAME``); ``paths``: folders of
    ``manifests/`` to deliver (``None``: the default of :func:`manifest_paths`); ``namespace``: the chart's.
    Raises :class:`~kaddons.errors.NotFoundError` when the manifest is no addon, another addon's or another
    implementation's, or a path does not exist; :class:`~kaddons.errors.UsageError` when nothing would be
    delivered or the default is ambiguous (the candidates named); what unpacking raises (digest mismatch,
    unsafe content) and :class:`~kaddons.errors.ContentError` for a chart that does not render.
    """
    where = f"{reference}@{descriptor.digest}"
    entry = read_entry(store, descriptor, where=where)
    if entry is None:
        raise NotFoundError(f"{where} is not an addon (no {export_name(addon, implementation)} annotations): "
                            "publish it with kaddons addons publish")
    if entry.addon != addon or entry.implementation != implementation:
        raise NotFoundError(f"{where} holds addon {entry.addon!r} implementation {entry.implementation!r}, not "
                            f"{addon!r} implementation {implementation!r}: check the registry's addons/ repositories")
    with tempfile.TemporaryDirectory(prefix="kaddons-enable-") as temp:
        staging = Path(temp)
        stage_entry(store, entry, staging, where=where, kinds=_KINDS, warn=warn)
        manifests = staging / IMPL_FOLDER / "manifests"
        manifests.mkdir(parents=True, exist_ok=True)
        chart_dir = manifests / "chart"
        has_chart = chart_dir.is_dir() and any(chart_dir.glob("*.tgz"))
        default, candidates = manifest_paths(manifests)
        if paths is None:
            if not default and not has_chart:
                choices = ", ".join(candidates) or "none"
                raise UsageError(f"{entry.cli_name}: its manifests/ has no kustomization.yaml or objects of its own "
                                 f"and no chart: choose what to deliver with --path (folders: {choices})")
            chosen = list(default)
        else:
            chosen = list(dict.fromkeys(paths))
            for path in chosen:
                folder = manifests if path == "." else manifests / PurePosixPath(path)
                top = PurePosixPath(path).parts[0] if path != "." else ""
                if top in SKIPPED_FOLDERS or not folder.is_dir():
                    raise NotFoundError(f"{entry.cli_name}: --path {path} is not a folder of its manifests/ "
                                        f"(folders with a kustomization.yaml: {', '.join(candidates) or 'none'})")
        files, left = _text_files(manifests)
        resources = [r for path in chosen for r in _resources(manifests, path)]
        objects: list[dict[str, Any]] = []
        charts: list[str] = []
        if has_chart:
            objects, charts = _render_charts(chart_dir, namespace, where)
            delivered = [obj for r in resources if r.endswith((".yaml", ".yml"))
                         for obj in _objects(files[r].decode("utf-8"), r)]
            creates = any(o["kind"] == "Namespace" and (o.get("metadata") or {}).get("name") == namespace
                          for o in [*objects, *delivered])
            if not creates:
                files[NAMESPACE_FILE] = _dump([{"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": namespace}}])
                resources.insert(0, NAMESPACE_FILE)
            files[CHART_FILE] = _dump(objects)
            resources.append(CHART_FILE)
        if not resources:
            raise UsageError(f"{entry.cli_name}: the paths {', '.join(chosen) or '(none)'} hold no Kubernetes object "
                             "to deliver")
    files["kustomization.yaml"] = _dump([{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                          "resources": resources}])
    record = {"reference": f"{reference}@{descriptor.digest}", "digest": descriptor.digest, "tag": tag,
              "addon": addon, "implementation": implementation, "paths": chosen, "namespace": namespace,
              "charts": charts, "left_out": [f"{p}: {why}" for p, why in left]}
    files["artifact.json"] = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return Hydrated(dict(sorted(files.items())), chosen, charts, descriptor.digest, left)
