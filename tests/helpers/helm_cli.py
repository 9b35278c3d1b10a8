"""STAND-IN for the ``helm`` binary, which these machines do not have (no Go toolchain, no packaged build): the two
commands the kaddons-helm-sops plugin script runs in Argo CD's repo server, done by the real Helm Go SDK through
``helm-python-sdk``. Run as ``python -m tests.helpers.helm_cli ARGS`` (tests put a ``helm`` wrapper on ``PATH``).

* ``helm pull CHART --repo URL --version V --destination DIR`` and ``helm pull oci://REF/CHART --version V
  --destination DIR``: the archive into DIR.
* ``helm template RELEASE CHART.tgz --namespace NS --values FILE|-``: the rendered manifests on standard output,
  each after a ``# Source:`` line, as Helm prints them (hooks and NOTES.txt left out).

Anything else exits 64 naming what it does not do, so a change of the script that needs more fails loudly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    import helm_python
    from ruamel.yaml import YAML

    if not argv or argv[0] not in ("pull", "template"):
        print(f"helm stand-in: no command {argv[:1]}", file=sys.stderr)
        return 64
    parser = argparse.ArgumentParser(prog=f"helm {argv[0]}")
    parser.add_argument("args", nargs="+")
    parser.add_argument("--version")
    parser.add_argument("--repo")
    parser.add_argument("--destination")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--values")
    given = parser.parse_args(argv[1:])
    if argv[0] == "pull":
        [chart] = given.args
        helm_python.pull(chart, repo_url=given.repo, version=given.version, destination=given.destination)
        return 0
    release, archive = given.args
    text = sys.stdin.read() if given.values == "-" else Path(given.values).read_text(encoding="utf-8")
    values = YAML(typ="safe").load(text) or {}
    with helm_python.Chart.load(archive) as chart:
        rendered = chart.render(values, name=release, namespace=given.namespace)
    for name, manifest in sorted(rendered.items()):
        if name.endswith("NOTES.txt") or not manifest.strip():
            continue
        sys.stdout.write(f"---\n# Source: {name}\n{manifest.rstrip()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
