"""Add-on stacks: Ankra's cluster document, read as is, validated, and its dependency graph (phase 2).

* :mod:`.document`: the ``ImportCluster`` v1 models (ankra-addons.md §1).
* :mod:`.load`: reading a document from a GitOps repository: includes, ``from_file``, base64, variables,
  paths confined to the repository.
* :mod:`.graph`: unique members, parents, cycles, depth, deploy waves; removing a member.
* :mod:`.render_argocd`: the Argo CD tree (app of apps, an Application per add-on and per manifest).
"""
