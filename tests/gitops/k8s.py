"""Kubernetes checks for rendered objects, with real tools: ``kubectl kustomize``, the Kubernetes 1.32
schemas (kubernetes-validate) and the Flux CRD schemas of ``data/flux/``; and FluxCD's post-build
variable substitution, as kustomize-controller applies it to ``gitops-sync/``."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

KUBERNETES_VERSION = "1.32.0"
FLUX_SCHEMAS = Path(__file__).parent / "data" / "flux"
_FLUX = {
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"): "ocirepository-v1.json",
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): "kustomization-v1.json",
}
_BUILTIN_GROUPS = {"", "apps", "batch", "rbac.authorization.k8s.io", "policy", "networking.k8s.io"}
# drone/envsubst as Flux uses it: ${VAR} and ${VAR:=default}; $${VAR} escapes.
_VARIABLE = re.compile(r"\$(\$?)\{([_a-zA-Z][_a-zA-Z0-9]*)(?::=([^}]*))?\}")


def load_stream(text: str) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML stream (safe, YAML 1.2)."""
    return [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc is not None]


def kustomize_build(directory: Path, variables: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``kubectl kustomize DIRECTORY`` as objects; skips when kubectl is not installed.

    With ``variables``, the built stream goes through :func:`flux_substitute` first, as a Flux
    Kustomization with ``spec.postBuild`` applies it.
    """
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` builds the rendered trees (install kubectl 1.32)")
    done = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"kubectl kustomize {directory} failed: {done.stderr}"
    return load_stream(done.stdout if variables is None else flux_substitute(done.stdout, variables))


@functools.cache
def _flux_validator(file: str) -> jsonschema.protocols.Validator:
    path = FLUX_SCHEMAS / file
    if not path.is_file():
        pytest.fail(f"Flux CRD schema {path} is missing (test data: JSON Schema of the whole object)")
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(obj: dict[str, Any]) -> None:
    """Fail unless ``obj`` is valid: a Flux object against its CRD schema, a built-in kind against the
    Kubernetes 1.32 schema (strict: unknown fields are errors). Any other kind fails."""
    import kubernetes_validate  # 108 MB of schemas: imported by the tests that use it

    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = f"{kind} {(obj.get('metadata') or {}).get('name')}"
    if (api_version, kind) in _FLUX:
        errors = sorted(_flux_validator(_FLUX[(api_version, kind)]).iter_errors(obj), key=str)
        assert not errors, f"{name}: " + "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)
        return
    group = api_version.rpartition("/")[0]
    if group not in _BUILTIN_GROUPS:
        pytest.fail(f"{name}: no schema for {api_version} {kind}")
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        pytest.fail(f"{name}: {'.'.join(map(str, err.path))}: {err.message}")
    except kubernetes_validate.SchemaNotFoundError as err:
        pytest.fail(f"{name}: {err.message}")


def flux_substitute(text: str, variables: dict[str, str]) -> str:
    """FluxCD post-build substitution (``spec.postBuild``) of ``${VAR}`` / ``${VAR:=default}`` in ``text``.

    A variable without a value and without a default becomes empty, as in Flux's non-strict mode.
    """

    def replace(match: re.Match[str]) -> str:
        escaped, name, default = match.group(1), match.group(2), match.group(3)
        if escaped:
            return match.group(0)[1:]
        if name in variables:
            return variables[name]
        return default if default is not None else ""

    return _VARIABLE.sub(replace, text)


def flux_variables(text: str) -> set[str]:
    """The names of the ``${VAR}`` post-build variables ``text`` uses."""
    return {m.group(2) for m in _VARIABLE.finditer(text) if not m.group(1)}


def container_env(container: dict[str, Any], configmaps: dict[str, dict[str, str]]) -> dict[str, str]:
    """The environment Kubernetes gives ``container``: ``value`` and ``configMapKeyRef`` entries resolved
    against ``configmaps`` (name -> data); a missing non-optional reference fails."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["configMapKeyRef"]
        data = configmaps.get(ref["name"])
        if data is None or ref["key"] not in data:
            assert ref.get("optional"), f"env {item['name']}: ConfigMap {ref['name']} key {ref['key']} missing"
            continue
        env[item["name"]] = data[ref["key"]]
    return env


def by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(kind, name): object}``; fails on duplicates."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key not in out, f"{key} twice"
        out[key] = obj
    return out


def canonical(objects: list[dict[str, Any]]) -> list[str]:
    """Objects as sorted canonical JSON strings, to compare lists ignoring order."""
    return sorted(json.dumps(obj, sort_keys=True) for obj in objects)
