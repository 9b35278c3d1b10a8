"""Lifecycle benchmark: one add-on's upgrade, values change and rollback on the 300-add-on document of
``benchmarks/stacks.py``, and ``history`` over 1,000 commits (issue 14).

Serves the test charts as a Helm HTTP repository on 127.0.0.1, writes the document into a clone of a local bare
Git repository and applies it once (the full apply: 300 renders, the peer of this benchmark). Then times, as
the user runs them (the ``kaddons`` CLI in a subprocess, start-up included), each committed and pushed:

* ``addons upgrade a001 --chart-version …`` (goal under 1 s; the ratio to the full apply printed; each row is
  the median of three different changes);
* ``addons upgrade a001 --set replicaCount=3`` (a values change; same goal);
* ``addons rollback a001`` (same goal);
* ``addons history a001`` after 1,000 more commits on the branch, each changing another add-on's values file
  (goal under 0.5 s), in the CLI and in-process; the peer is ``git log --first-parent -- FILES`` of the add-on's
  files, the same walk in C (the ratio printed). The CLI runs it twice: the second reads no commit, the walk
  being kept (the memo ``history``); the in-process row walks again, that memo removed first.

The three changes are also timed in-process (the library call ``kaddons serve`` makes, after one warm-up call):
what is left when a command's start-up (Python, typer, pydantic, httpx, pygit2, the Helm SDK: about 0.6 s on a
2-CPU machine) is not paid.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/lifecycle.py [--charts DIR]``).
"""

from __future__ import annotations

import os
import sys

# benchmarks/copy.py would shadow the standard library's ``copy`` module: drop this folder from the path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.append(str(ROOT / "benchmarks"))

from demo_stacks import serve  # noqa: E402

from stacks import gitops_repository  # noqa: E402

COMMITS = 1000
ROUNDS = 3
"""Runs of each timed change (each a different change, each a commit); the median is printed."""


def run(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def _more_commits(clone: Path, count: int) -> None:
    """``count`` commits on the local branch, each changing one add-on's values file (not a001's), pushed."""
    import pygit2

    repo = pygit2.Repository(str(clone))
    signature = pygit2.Signature("bench", "bench@example.com")
    parent = repo.head.target
    for number in range(count):
        name = f"a{2 + number % 298:03d}"
        path = f"clusters/bench/values/{name}.yaml"
        tree = repo[parent].peel(pygit2.Tree)
        blob = repo.create_blob(f"podAnnotations:\n  bench/index: '{number}'\n".encode())
        index = pygit2.Index()
        index.read_tree(tree)
        index.add(pygit2.IndexEntry(path, blob, pygit2.enums.FileMode.BLOB))
        parent = repo.create_commit(None, signature, signature, f"values of {name} ({number})",
                                    index.write_tree(repo), [parent])
    repo.references["refs/heads/main"].set_target(parent)
    repo.checkout_head(strategy=pygit2.enums.CheckoutStrategy.FORCE)
    subprocess.run(["git", "push", "--quiet", "origin", "main"], cwd=clone, check=True, capture_output=True)


def _in_process(doc: Path, clone: Path) -> None:
    """The three changes as library calls (as ``kaddons serve`` runs them), the median of ROUNDS after a warm-up."""
    from kaddons.charts.mirrors import load_mirrors
    from kaddons.charts.preflight import preflight
    from kaddons.charts.sources import SourceOptions
    from kaddons.operations.apply import ApplyOptions
    from kaddons.operations.lifecycle import rollback_addon, upgrade_addon
    from kaddons.stacks.load import LoadedCluster

    sources = SourceOptions(mirrors=load_mirrors([]))

    def checked(loaded: LoadedCluster) -> None:
        preflight(loaded, sources)

    def timed(call: Callable[[], object]) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    cwd = os.getcwd()
    os.chdir(clone)
    try:
        upgrade_addon(doc, "a001", None, options=ApplyOptions(), preflight=checked, sets=(("replicaCount", 2),))
        rows = [
            ("upgrade a001 --chart-version", [lambda v=v: upgrade_addon(doc, "a001", v, options=ApplyOptions(),
                                                                        preflight=checked)
                                              for v in ("0.44.0", "0.43.0", "0.42.0")]),
            ("upgrade a001 --set (values)", [lambda n=n: upgrade_addon(doc, "a001", None, options=ApplyOptions(),
                                                                       preflight=checked, sets=(("replicaCount", n),))
                                             for n in range(10, 10 + ROUNDS)]),
            ("rollback a001", [lambda: rollback_addon(doc, "a001", options=ApplyOptions(), preflight=checked)]
             * ROUNDS),
        ]
        for label, calls in rows:
            elapsed = statistics.median(timed(call) for call in calls)
            print(f"{label + ', in-process':<40} {elapsed:7.2f} s  (median of {len(calls)})")
    finally:
        os.chdir(cwd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--charts", type=Path, default=ROOT.parent / "shared" / "testdata" / "charts" / "k2s-history")
    options = parser.parse_args()
    if not (options.charts / "index.yaml").is_file():
        print(f"lifecycle benchmark skipped: no test charts at {options.charts} (give --charts DIR)")
        return
    from kaddons.operations.history import addon_history

    # As pip install does: a source tree run with PYTHONDONTWRITEBYTECODE compiles every module on every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "kaddons")], check=True,
                   capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="kaddons-bench-lifecycle-"))
    try:
        shutil.copytree(options.charts, work / "charts")
        with serve(work / "charts") as url:
            _bare, clone, doc = gitops_repository(work, url)
            text = doc.read_text()
            env = {**os.environ, "KADDONS_CACHE_DIR": str(work / "cache"), "HOME": str(work),
                   "KADDONS_MIRRORS_FILE": str(work / "none.yaml"), "GIT_AUTHOR_NAME": "bench",
                   "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "bench",
                   "GIT_COMMITTER_EMAIL": "bench@example.com"}
            cluster = [sys.executable, "-m", "kaddons", "cluster"]
            flag = ["-f", str(doc)]
            print("Document: 300 add-ons in 30 stacks (benchmarks/stacks.py), one Git remote on disk")
            t_full = run([*cluster, "apply", *flag], clone, env)
            print(f"apply, full (300 renders, the peer)      {t_full:7.2f} s")
            current = text.split("name: a001", 1)[1][:200]
            versions = [v for v in ("0.44.0", "0.43.0", "0.42.0", "0.41.0") if f"chart_version: {v}" not in current]
            rows = [  # each run a different change (every one is a commit): the median of ROUNDS counts
                ("upgrade a001 --chart-version", [[*cluster, "addons", "upgrade", "a001", "--chart-version", v, *flag]
                                                  for v in versions[:ROUNDS]]),
                ("upgrade a001 --set (values)", [[*cluster, "addons", "upgrade", "a001", "--set", f"replicaCount={n}",
                                                  *flag] for n in range(3, 3 + ROUNDS)]),
                ("rollback a001", [[*cluster, "addons", "rollback", "a001", *flag]] * ROUNDS),
            ]
            for label, runs in rows:
                elapsed = statistics.median(run(args, clone, env) for args in runs)
                print(f"{label:<40} {elapsed:7.2f} s  (median of {len(runs)}; goal < 1 s; full apply / this = "
                      f"{t_full / elapsed:5.1f}x)")
            _in_process(doc, clone)
            _more_commits(clone, COMMITS)
            t_history = run([*cluster, "addons", "history", "a001", "-o", "json", *flag], clone, env)
            t_again = run([*cluster, "addons", "history", "a001", "-o", "json", *flag], clone, env)
            os.environ["KADDONS_CACHE_DIR"] = env["KADDONS_CACHE_DIR"]  # the CLI's cache, as the CLI runs had it
            shutil.rmtree(work / "cache" / "history")  # the kept walks: the in-process row walks the branch again
            started = time.perf_counter()
            changes = addon_history(doc, "a001")
            t_inproc = time.perf_counter() - started
            # The peer: git's own path-limited log of the same files (it cannot tell one entry of the document
            # from another, so it lists every commit touching cluster.yaml; the walk is the same).
            files = [str(doc.relative_to(clone)), str((doc.parent / "values" / "a001.yaml").relative_to(clone))]
            git_log = ["git", "log", "--first-parent", "--format=%H", "--", *files]
            t_git = min(run(git_log, clone, env) for _ in range(3))  # the peer's best of three
            print(f"history a001 over {COMMITS} more commits (CLI) {t_history:5.2f} s  (goal < 0.5 s; "
                  f"{len(changes)} changes found)")
            print(f"history a001 again (CLI), the walk kept  {t_again:7.2f} s")
            print(f"history a001, in-process                 {t_inproc:7.2f} s  (git log -- its files: {t_git:.2f} s; "
                  f"git / this = {t_git / t_inproc:.1f}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
