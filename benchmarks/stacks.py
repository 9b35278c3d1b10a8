"""Stacks benchmark: a generated cluster document of 300 add-ons in 30 stacks over the test charts (issue 11).

Serves the charts (default: ``../shared/testdata/charts/k2s-history``, real upstream releases) as a Helm HTTP
repository on 127.0.0.1, writes the document into a clone of a local bare Git repository, then times, in one
run, each as the user runs it (the ``kaddons`` CLI in a subprocess, start-up included):

* ``validate``, and in-process the load + render + strict validation of the 300-add-on Argo CD and Flux trees
  (goal: render + validate under 2 s);
* ``template`` cold (empty chart cache: downloads and 300 renders), warm (nothing to render), and after one
  add-on's values changed (goal: one render, at least 20x faster than the full preflight);
* ``apply`` first and again (goal: the no-op under 1 s and no commit);
* the peer: the real ``helm template`` binary once per add-on (goal: the preflight's renders at least 3x
  faster). The binary is ``--helm PATH`` or ``.tools/helm`` (``../shared/reference/components.md`` snippet H);
  without it that line is skipped, saying so.

Prints wall times, the ratios and the peak RSS of the kaddons processes.
Run: ``make bench`` (or ``.venv/bin/python benchmarks/stacks.py [--charts DIR] [--helm PATH]``).
"""

from __future__ import annotations

import os
import sys

# benchmarks/copy.py would shadow the standard library's ``copy`` module: drop this folder from the path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from demo_stacks import serve  # noqa: E402

CHARTS = [("headlamp", v) for v in ("0.40.1", "0.41.0", "0.42.0", "0.43.0", "0.44.0", "0.45.0")] + [
    ("podinfo", "6.14.1")]
HEAVY = ("kyverno", "3.9.0")  # seven subcharts: one stack in ten uses it
STACKS, PER_STACK = 30, 10


def document(charts_url: str) -> tuple[str, dict[str, str]]:
    """The cluster document and its values files (repository path -> text)."""
    lines = ["apiVersion: v1", "kind: ImportCluster", "metadata: {name: bench}", "spec:",
             "  kaddons: {repo_url: 'https://git.example.com/gitops.git'}", "  stacks:"]
    values: dict[str, str] = {}
    number = 0
    for s in range(STACKS):
        lines += [f"    - name: stack-{s:02d}", f"      deploy_wave: {s // 10}", "      manifests:",
                  f"        - name: ns-{s:02d}",
                  f"          manifest: '{{apiVersion: v1, kind: Namespace, metadata: {{name: ns-{s:02d}}}}}'",
                  "      addons:"]
        for a in range(PER_STACK):
            chart, version = HEAVY if (s % 10 == 9 and a == 0) else CHARTS[number % len(CHARTS)]
            name = f"a{number:03d}"
            values[f"clusters/bench/values/{name}.yaml"] = f"podAnnotations:\n  bench/index: '{number}'\n"
            lines += [f"        - name: {name}", f"          chart_name: {chart}",
                      f"          chart_version: {version}", f"          registry_url: {charts_url}",
                      f"          namespace: ns-{s:02d}",
                      f"          parents: [{{manifest: ns-{s:02d}}}]",
                      f"          configuration: {{from_file: values/{name}.yaml}}"]
            number += 1
    return "\n".join(lines) + "\n", values


def gitops_repository(work: Path, charts_url: str) -> tuple[Path, Path, Path]:
    """``(bare remote, clone, document)``: a bare repository in ``work`` and a clone of it holding the document
    of :func:`document` and its values files, not yet committed."""
    import pygit2

    bare = work / "remote.git"
    pygit2.init_repository(str(bare), bare=True, initial_head="main").free()
    clone = work / "gitops"
    repo = pygit2.init_repository(str(clone), initial_head="main")
    repo.remotes.create("origin", str(bare))
    repo.config["user.name"] = "bench"
    repo.config["user.email"] = "bench@example.com"
    repo.free()
    text, values = document(charts_url)
    doc = clone / "clusters" / "bench" / "cluster.yaml"
    doc.parent.mkdir(parents=True)
    doc.write_text(text)
    for path, data in values.items():
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text(data)
    return bare, clone, doc


def run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--charts", type=Path, default=None,
                        help="a Helm repository folder (index.yaml and archives) [default: the shared test charts]")
    parser.add_argument("--helm", type=Path, default=ROOT / ".tools" / "helm")
    options = parser.parse_args()
    if options.charts is None:
        options.charts = ROOT.parent / "shared" / "testdata" / "charts" / "k2s-history"
        if not (options.charts / "index.yaml").is_file():
            print(f"stacks benchmark skipped: no test charts at {options.charts} (give --charts DIR)")
            return
    if not (options.charts / "index.yaml").is_file():
        raise SystemExit(f"no Helm repository at {options.charts}: give --charts DIR (the test charts)")
    import pygit2

    from kaddons.stacks.load import load_cluster
    from kaddons.stacks.render_argocd import ArgoOptions, render_argocd
    from kaddons.stacks.render_flux import FluxOptions, render_flux

    work = Path(tempfile.mkdtemp(prefix="kaddons-bench-stacks-"))
    try:
        shutil.copytree(options.charts, work / "charts")
        with serve(work / "charts") as url:
            bare, clone, doc = gitops_repository(work, url)
            env = {**os.environ, "KADDONS_CACHE_DIR": str(work / "cache"), "HOME": str(work),
                   "KADDONS_MIRRORS_FILE": str(work / "none.yaml")}
            kaddons = [sys.executable, "-m", "kaddons", "cluster"]
            flag = ["-f", str(doc)]

            print(f"Document: {STACKS * PER_STACK} add-ons in {STACKS} stacks, charts from {url}")
            t_validate, _ = run([*kaddons, "validate", *flag], clone, env)
            started = time.perf_counter()
            loaded = load_cluster(doc)
            argo = render_argocd(loaded, ArgoOptions(repo_url="https://git.example.com/gitops.git"))
            flux = render_flux(loaded, FluxOptions(repo_url="https://git.example.com/gitops.git"))
            t_flux = time.perf_counter() - started
            started = time.perf_counter()
            loaded = load_cluster(doc)
            argo = render_argocd(loaded, ArgoOptions(repo_url="https://git.example.com/gitops.git"))
            t_argo = time.perf_counter() - started
            print(f"validate (CLI)                        {t_validate:7.2f} s")
            print(f"load + render, Argo CD (in-process)   {t_argo:7.2f} s  ({len(argo)} files; goal < 2 s)")
            print(f"load + render, both engines           {t_flux:7.2f} s  ({len(argo)} + {len(flux)} files)")
            t_cold, _ = run([*kaddons, "template", *flag], clone, env)
            t_warm, _ = run([*kaddons, "template", *flag], clone, env)
            print(f"template (CLI), cold: downloads + 300 renders {t_cold:6.2f} s")
            print(f"template (CLI), nothing changed       {t_warm:7.2f} s")
            # The preflight itself, in-process (the document loaded once): all renders, then one add-on changed.
            from kaddons.charts.cache import ChartCache
            from kaddons.charts.preflight import preflight
            from kaddons.charts.sources import SourceOptions

            sources = SourceOptions(cache=ChartCache(work / "cache" / "charts"))
            shutil.rmtree(work / "cache" / "charts" / "rendered")
            started = time.perf_counter()
            full = preflight(loaded, sources)
            t_renders = time.perf_counter() - started
            changed = clone / "clusters" / "bench" / "values" / "a000.yaml"
            changed.write_text(changed.read_text() + "replicaCount: 2\n")
            again = load_cluster(doc)
            started = time.perf_counter()
            one = preflight(again, sources)
            t_one = time.perf_counter() - started
            print(f"preflight, 300 renders (in-process)   {t_renders:7.2f} s  ({full.rendered} rendered)")
            print(f"preflight, one add-on changed         {t_one:7.2f} s  ({one.rendered} rendered; full / one = "
                  f"{t_renders / t_one:.1f}x, goal >= 20x)")
            t_cli_one, _ = run([*kaddons, "template", *flag], clone, env)
            print(f"template (CLI), one add-on changed    {t_cli_one:7.2f} s  (start-up and loading included)")
            t_apply, _ = run([*kaddons, "apply", *flag], clone, env)
            t_noop, out = run([*kaddons, "apply", *flag], clone, env)
            commits = sum(1 for _ in pygit2.Repository(str(bare)).walk(
                pygit2.Repository(str(bare)).references["refs/heads/main"].target))
            print(f"apply, first                          {t_apply:7.2f} s")
            print(f"apply, no-op                          {t_noop:7.2f} s  ({out.strip()}; commits on the remote: "
                  f"{commits}; goal < 1 s, no commit)")
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"peak RSS of a kaddons process         {peak:7.0f} MiB")
            if not options.helm.is_file():
                print(f"helm template x 300: skipped, no helm binary at {options.helm} (--helm PATH; "
                      "components.md snippet H)")
                return
            helm_env = {**env, "HELM_CACHE_HOME": str(work / "h1"), "HELM_CONFIG_HOME": str(work / "h2"),
                        "HELM_DATA_HOME": str(work / "h3")}
            started = time.perf_counter()
            for stack in loaded.document.spec.stacks:
                for addon in stack.addons:
                    archive = work / "charts" / f"{addon.chart_name}-{addon.chart_version}.tgz"
                    file = clone / "clusters" / "bench" / "values" / f"{addon.name}.yaml"
                    subprocess.run([str(options.helm), "template", addon.name, str(archive), "-n", addon.namespace,
                                    "-f", str(file)], env=helm_env, capture_output=True, check=True)
            t_helm = time.perf_counter() - started
            print(f"helm template x 300 (peer)            {t_helm:7.2f} s  (preflight renders / helm = "
                  f"{t_renders / t_helm:.2f}, goal <= 0.33; helm renders one chart per process)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
