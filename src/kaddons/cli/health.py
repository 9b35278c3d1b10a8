"""``kaddons health``: what Argo CD would say about an object's health, without a cluster (issue 13)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from kaddons.errors import UsageError

GRACE_SECONDS = 60
"""An object younger than this with no rule is still Progressing: its controller may not have written status."""


def _objects(sources: list[str]) -> list[tuple[str, dict[str, Any]]]:
    from kaddons.addons._yaml import parse_yaml
    from kaddons.errors import ClusterDocumentError

    found = []
    for source in sources:
        if source == "-":
            text, label = sys.stdin.read(), "-"
        else:
            try:
                text, label = Path(source).read_text(encoding="utf-8"), source
            except (OSError, UnicodeDecodeError) as err:
                raise UsageError(f"{source}: cannot read it ({getattr(err, 'strerror', None) or err})") from None
        documents = [d for d in parse_yaml(text, label, error=ClusterDocumentError, documents=True) if d is not None]
        if not documents or not isinstance(documents[0], dict) or "kind" not in documents[0]:
            raise UsageError(f"{label}: expected a Kubernetes object (apiVersion, kind) as its first YAML document")
        found.append((label, documents[0]))
    return found


def _age_seconds(obj: dict[str, Any]) -> float | None:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not isinstance(created, str):
        return None
    try:
        when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (datetime.now(UTC) - when).total_seconds()


def health_command(
    files: Annotated[list[str], typer.Argument(metavar="FILE|-", help="Objects: YAML files (the first document of "
                                                                      "each), or - for standard input.")],
    rules: Annotated[list[Path] | None, typer.Option(
        "--rules", metavar="DIR", exists=True, file_okay=False, show_default=False,
        help="Lua health rules in Argo CD's resource_customizations/<group>/<Kind>/health.lua layout "
             "(repeatable; later ones win).")] = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="text|json")] = "text",
) -> None:
    """Assess each object's health as Argo CD would: the core kinds by gitops-engine's rules, custom resources by
    Argo-format Lua rules (sandboxed LuaJIT). An object no rule knows is Unknown, naming the missing rule."""
    from kaddons.cluster.health import Health, HealthRules, assess
    from kaddons.cluster.health.assess import group_kind

    if output not in ("text", "json"):
        raise UsageError(f"-o {output!r}: use text or json")
    loaded = HealthRules()
    for folder in rules or []:
        loaded.add_directory(folder)
    rows = []
    for _label, obj in _objects(files):
        health = assess(obj, loaded)
        if health is None:
            group, kind = group_kind(obj)
            age = _age_seconds(obj)
            what = f"{group}/{kind}" if group else kind
            health = (Health("Progressing", f"no health rule for {what} yet: waiting for its status")
                      if age is not None and age < GRACE_SECONDS else
                      Health("Unknown", f"no health rule for {what}: give one with --rules DIR "
                                        f"(<group>/<Kind>/health.lua)"))
        metadata = obj.get("metadata") or {}
        rows.append({"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": metadata.get("name"),
                     "namespace": metadata.get("namespace"), "status": health.status, "message": health.message})
    if output == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for row in rows:
        typer.echo(f"{row['kind']}/{row['name']}  {row['status']}" + (f"  {row['message']}" if row["message"] else ""))
