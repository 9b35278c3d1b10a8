"""The read-only access kaddons needs in a cluster to read states, resource maps and events (issue 13):
a ServiceAccount, a ClusterRole of get/list/watch only, and its binding. Rendered into the bootstrap of both
engines' trees; applied once by the user (kaddons never writes RBAC into a running cluster itself)."""

from __future__ import annotations

from typing import Any

__all__ = ["READ_RULES", "reader_rbac"]

READ_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods", "services", "endpoints", "events", "configmaps",
                                      "persistentvolumeclaims", "namespaces", "serviceaccounts"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"]},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"]},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"]},
    {"apiGroups": ["apiregistration.k8s.io"], "resources": ["apiservices"]},
    {"apiGroups": ["argoproj.io"], "resources": ["applications"]},
    {"apiGroups": ["helm.toolkit.fluxcd.io"], "resources": ["helmreleases"]},
    {"apiGroups": ["kustomize.toolkit.fluxcd.io"], "resources": ["kustomizations"]},
    {"apiGroups": ["source.toolkit.fluxcd.io"], "resources": ["helmrepositories", "ocirepositories",
                                                              "gitrepositories"]},
]
"""What the reader lists and watches. Secrets are not among them: the reader never needs their contents."""


def reader_rbac(namespace: str) -> list[dict[str, Any]]:
    """The ServiceAccount ``kaddons-reader`` in ``namespace``, the ClusterRole and its ClusterRoleBinding."""
    labels = {"app.kubernetes.io/managed-by": "kaddons"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "kaddons-reader", "namespace": namespace, "labels": labels}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "kaddons-reader", "labels": labels},
         "rules": [{**rule, "verbs": ["get", "list", "watch"]} for rule in READ_RULES]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "kaddons-reader", "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kaddons-reader"},
         "subjects": [{"kind": "ServiceAccount", "name": "kaddons-reader", "namespace": namespace}]},
    ]
