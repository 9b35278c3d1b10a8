"""The stacks part of `make demo`: an add-on stack declared in Ankra's cluster document, checked, rendered for
Argo CD and committed to a Git remote, all local and offline.

1. Make a chart with the Helm SDK (``helm create``'s starter chart), package it into a Helm repository
   (``helm package``, ``helm repo index``) served over HTTP on 127.0.0.1.
2. A bare Git repository stands for the GitOps remote; ``gitops/`` is its clone, holding the cluster
   document ``clusters/demo/cluster.yaml``: a Namespace manifest and the add-on, its values in a file with a
   variable.
3. ``kaddons cluster validate``, ``addons list``, ``template`` (the preflight), ``apply --dry-run``, ``apply``:
   one commit on the remote; the rendered tree; ``apply`` again: no commit.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DOCUMENT = """\
apiVersion: v1
kind: ImportCluster
metadata:
  name: demo
  description: The stacks demo of kaddons
spec:
  kaddons:
    engine: argocd
    repo_url: https://git.example.com/platform/gitops.git
  helm_registries:
    - name: local
      url: {charts}
  stacks:
    - name: platform
      deploy_wave: 1
      variables:
        greeting: hello from kaddons
      manifests:
        - name: ns-hello
          manifest: |
            apiVersion: v1
            kind: Namespace
            metadata:
              name: hello
      addons:
        - name: hello
          chart_name: hello
          chart_version: 0.1.0
          registry_name: local
          registry_url: {charts}
          namespace: hello
          parents:
            - manifest: ns-hello
          configuration:
            from_file: values/hello.yaml
"""
VALUES = """\
replicaCount: 2
podAnnotations:
  kaddons.io/greeting: ${{ ankra.greeting }}
"""


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on a free 127.0.0.1 port (the chart repository); its URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def remote_log(bare: Path) -> list[str]:
    """The subjects of the remote's ``main``, newest first."""
    import pygit2

    repo = pygit2.Repository(str(bare))
    try:
        head = repo.references.get("refs/heads/main")
        if head is None:
            return []
        return [commit.message.splitlines()[0] for commit in repo.walk(head.target)]
    finally:
        repo.free()


def run_stacks(demo: Any, expect: Any, heading: Any) -> None:
    """The stacks part of the demo (see the module), on ``demo`` (scripts/demo.py's :class:`Demo`)."""
    import helm_python
    import pygit2

    work: Path = demo.work
    heading("Stacks: a chart made with the Helm SDK, served as a Helm repository on 127.0.0.1")
    (work / "chart-src").mkdir()
    helm_python.Chart.create("hello", work / "chart-src").close()
    (work / "charts").mkdir()
    helm_python.package(str(work / "chart-src" / "hello"), destination=str(work / "charts"))
    with serve(work / "charts") as charts:
        helm_python.repo_index_generate(str(work / "charts"), base_url=charts)
        print(f"Helm repository: {charts} (hello 0.1.0)")

        heading("Stacks: the GitOps repository, its clone and the cluster document")
        bare = work / "remote" / "gitops.git"
        pygit2.init_repository(str(bare), bare=True, initial_head="main").free()
        clone = work / "gitops"
        repo = pygit2.init_repository(str(clone), initial_head="main")
        repo.remotes.create("origin", str(bare))
        repo.free()
        document = clone / "clusters" / "demo" / "cluster.yaml"
        (document.parent / "values").mkdir(parents=True)
        document.write_text(DOCUMENT.format(charts=charts))
        (document.parent / "values" / "hello.yaml").write_text(VALUES)
        demo.shell(f"cat {demo.rel(document)}")
        print(document.read_text(), end="")
        flag = ["-f", demo.rel(document)]

        heading("Stacks: validate, list, preflight (the chart rendered with its values), dry run")
        demo.run("cluster", "validate", *flag)
        demo.run("cluster", "addons", "list", "--offline", *flag)
        demo.run("cluster", "template", *flag)
        demo.run("cluster", "apply", "--dry-run", *flag)
        expect(remote_log(bare) == [], "kaddons cluster apply --dry-run committed something")

        heading("Stacks: apply: render for Argo CD, commit, push")
        demo.run("cluster", "apply", *flag)
        log = remote_log(bare)
        expect(len(log) == 1, f"the remote should hold one commit, it holds {len(log)}")
        tree = sorted(p.relative_to(clone).as_posix() for p in (clone / "clusters" / "demo" / "argocd").rglob("*")
                      if p.is_file())
        print("\nRendered and committed:\n" + "\n".join(f"  {path}" for path in tree))
        print(f"Remote main: {log[0]!r}")

        heading("Stacks: apply again: nothing changed, no commit")
        demo.run("cluster", "apply", *flag)
        expect(len(remote_log(bare)) == 1, "a second apply of the same document made a commit")
        print("\nThe remote still holds one commit. Stacks demo complete.")
