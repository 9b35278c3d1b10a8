"""Validate rendered objects against the real CRD schemas of ``../shared/testdata/crds/``, strictly.

A CRD schema alone accepts unknown fields (the API server prunes them); :func:`crd_validator` turns it into a
JSON Schema that refuses them (``additionalProperties: false`` wherever properties are listed and unknown fields
are not kept), so a misspelt field is an error, as ``kubectl --validate=strict`` makes it. ``int-or-string`` and
``nullable`` are translated. CEL rules (``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["crd_validator", "strict_schema"]


def strict_schema(node: Any) -> Any:
    """A JSON Schema (Draft 7) of a CRD's ``openAPIV3Schema`` that refuses unknown fields."""
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict_schema(value) for key, value in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


@functools.cache
def crd_validator(crd_file: Path, version: str) -> jsonschema.Draft7Validator:
    """The strict validator of ``version`` of the CRD in ``crd_file``."""
    crd = yaml.load(crd_file.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft7Validator(strict_schema(served["schema"]["openAPIV3Schema"]))
