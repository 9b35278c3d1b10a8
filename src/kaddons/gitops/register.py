"""``kaddons gitops register``: the per-addon FluxCD ``OCIRepository`` and ``Kustomization`` (spec §5.2).

They replace the manual placeholder substitution of K2s's ``fluxcd/per-addon/*-template.yaml``: the
objects are K2s's templates (``templates/k2s/fluxcd/per-addon/``) with the addon name, registry host,
``insecure``, interval and semver constraint set as YAML data. The ``layerSelector`` media type comes
from :mod:`kaddons.addons.format`. The ``kaddons`` flavor also sets, on the Kustomization:

* ``serviceAccountName: addon-sync-reconciler`` (rendered by ``kaddons gitops render --engine fluxcd``):
  the artifact's ``gitops-sync/`` is applied with a Role limited to Jobs in ``k2s-addon-sync``, not with
  kustomize-controller's cluster-admin identity (§8.17);
* ``postBuild.substituteFrom`` the ConfigMap ``addon-sync-config`` (addons directory, image, user of the
  Job) and ``postBuild.substitute.SEMVER``, so the Job syncs the tag the OCIRepository selects (§8.7).

Labels follow K2s's templates (``app.kubernetes.io/part-of`` names the flavor).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from kaddons import __version__
from kaddons.addons.format import LayerKind, layer_spec
from kaddons.addons.names import NAME_PATTERN

from ._templates import template_bytes
from ._yaml import dump_documents, dump_rt, load_documents
from .options import (
    DEFAULT_INTERVAL,
    DEFAULT_SEMVER,
    Flavor,
    check_addon_name,
    check_interval,
    check_semver,
    check_service_account,
    parse_flavor,
    parse_registry_url,
)
from .output import WriteResult, owned_files, write_tree
from .render import CONFIGMAP

__all__ = [
    "RECONCILER",
    "REGISTRY_SECRET",
    "RegisterOptions",
    "register_documents",
    "register_files",
    "register_into",
    "register_options",
    "register_stream",
    "registered_names",
]

RECONCILER = "addon-sync-reconciler"
"""The ServiceAccount the kaddons flavor's Kustomizations apply ``gitops-sync/`` with (``fluxcd/rbac.yaml``)."""
REGISTRY_SECRET = "addon-sync-registry"
"""The ``kubernetes.io/dockerconfigjson`` Secret with registry credentials (created by the user)."""
_TEMPLATES = ("fluxcd/per-addon/ocirepository-template.yaml", "fluxcd/per-addon/kustomization-template.yaml")
_HEADER = "# addon-sync registration of "
_NAME, _HOST, _INSECURE = "ADDON_NAME_PLACEHOLDER", "REGISTRY_HOST_PLACEHOLDER", "INSECURE_PLACEHOLDER"


@dataclass(frozen=True)
class RegisterOptions:
    """Validated registration settings; build them with :func:`register_options`.

    ``registry`` is ``HOST[:PORT][/PREFIX]`` (a prefix for the kaddons flavor only); ``service_account``
    the Kustomization's ``serviceAccountName``
    (``None``: none, K2s's behaviour); ``registry_secret`` makes the OCIRepository pull with the Secret
    :data:`REGISTRY_SECRET`.
    """

    registry: str
    flavor: Flavor = Flavor.kaddons
    insecure: bool = False
    interval: str = DEFAULT_INTERVAL
    semver: str = DEFAULT_SEMVER
    service_account: str | None = RECONCILER
    registry_secret: bool = False


def register_options(registry: str, *, flavor: str | Flavor = Flavor.kaddons, insecure: bool = False,
                     interval: str = DEFAULT_INTERVAL, semver: str = DEFAULT_SEMVER,
                     service_account: str | None = None, registry_secret: bool = False) -> RegisterOptions:
    """Check every input; raises :class:`~kaddons.errors.UsageError` (one line) for an unknown flavor, a
    registry URL that is not ``oci://HOST[:PORT][/PREFIX]`` (no prefix for k2s), an interval that is not a
    Flux duration, a semver constraint Flux would not parse, or an invalid ServiceAccount name.

    ``service_account`` ``None`` means the flavor's default: :data:`RECONCILER` for ``kaddons``, none
    for ``k2s`` (K2s renders no such account; pass one to use an account of your own).
    """
    flavor = parse_flavor(flavor)
    host = parse_registry_url(registry, allow_prefix=flavor is Flavor.kaddons)
    if service_account is None:
        account = RECONCILER if flavor is Flavor.kaddons else None
    else:
        account = check_service_account(service_account)
    return RegisterOptions(host, flavor, insecure, check_interval(interval), check_semver(semver), account,
                           registry_secret)


def _replace(value: Any, values: dict[str, Any]) -> Any:
    """Fill the placeholders of parsed template data: whole values take their typed value, parts of strings text."""
    if isinstance(value, dict):
        return {key: _replace(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, values) for item in value]
    if isinstance(value, str):
        if value in values:
            return values[value]
        for placeholder, replacement in values.items():
            value = value.replace(placeholder, str(replacement))
    return value


def _commented(value: Any) -> Any:
    if isinstance(value, dict):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _commented(item)
        return out
    if isinstance(value, list):
        return CommentedSeq(_commented(item) for item in value)
    return value


def register_documents(name: str, options: RegisterOptions) -> list[dict[str, Any]]:
    """``[OCIRepository, Kustomization]`` of the addon ``name`` (its export name, repository ``addons/<name>``).

    Raises :class:`~kaddons.errors.UsageError` for a name that is not a DNS label of at most 52 characters.
    """
    check_addon_name(name)
    values = {_NAME: name, _HOST: options.registry, _INSECURE: options.insecure}
    source, kustomization = (_replace(load_documents(template_bytes(Flavor.k2s, path).decode("utf-8"))[0], values)
                             for path in _TEMPLATES)
    for obj in (source, kustomization):
        obj["metadata"]["labels"]["app.kubernetes.io/part-of"] = options.flavor.value
        obj["spec"]["interval"] = options.interval
    source["spec"]["ref"]["semver"] = options.semver
    source["spec"]["layerSelector"]["mediaType"] = layer_spec(LayerKind.MANIFESTS).media_type
    if options.registry_secret:
        source["spec"]["secretRef"] = {"name": REGISTRY_SECRET}
    spec = kustomization["spec"]
    if options.service_account is not None:
        spec["serviceAccountName"] = options.service_account
    if options.flavor is Flavor.kaddons:
        spec["postBuild"] = {"substitute": {"SEMVER": options.semver},
                             "substituteFrom": [{"kind": "ConfigMap", "name": CONFIGMAP}]}
    return [source, kustomization]


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _file(name: str, options: RegisterOptions) -> str:
    """One addon's two objects as YAML; the semver constraint double-quoted as in K2s's template."""
    docs = [_commented(doc) for doc in register_documents(name, options)]
    docs[0]["spec"]["ref"]["semver"] = DoubleQuotedScalarString(options.semver)
    header = (f"{_HEADER}{name} ({options.flavor} flavor), generated by kaddons {__version__} "
              "(kaddons gitops register).\n")
    return header + "---\n".join(dump_rt(doc) for doc in docs)


def register_stream(names: list[str], options: RegisterOptions) -> str:
    """Every addon's objects as one YAML stream for ``kubectl apply -f -``. Names are checked first."""
    names = [check_addon_name(name) for name in _unique(names)]
    return "---\n".join(_file(name, options) for name in names)


def _kustomization(names: list[str]) -> bytes:
    return dump_documents([{
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [f"{name}.yaml" for name in names],
    }]).encode("utf-8")


def register_files(names: list[str], options: RegisterOptions) -> dict[str, bytes]:
    """``{"<name>.yaml": ..., "kustomization.yaml": ...}`` for ``-o DIR`` (``kubectl apply -k DIR``)."""
    names = [check_addon_name(name) for name in _unique(names)]
    files = {f"{name}.yaml": _file(name, options).encode("utf-8") for name in names}
    files["kustomization.yaml"] = _kustomization(names)
    return files


def registered_names(directory: str | Path) -> list[str]:
    """The addons registered in ``directory``: the ``<name>.yaml`` entries of its ``kustomization.yaml``
    whose file is a registration kaddons wrote (recorded in the directory's record of kaddons' files, or
    carrying kaddons' header). ``[]`` when there is none. Raises :class:`~kaddons.errors.UsageError` for
    a damaged record."""
    directory = Path(directory)
    owned = owned_files(directory) if directory.is_dir() else {}
    try:
        documents = load_documents((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    resources = documents[0].get("resources") if documents and isinstance(documents[0], dict) else None
    names = []
    for entry in resources if isinstance(resources, list) else []:
        name = entry[:-len(".yaml")] if isinstance(entry, str) and entry.endswith(".yaml") else ""
        path = directory / entry if NAME_PATTERN.fullmatch(name) else None
        if path is None or path.is_symlink() or not path.is_file():
            continue
        with open(path, "rb") as handle:
            header = handle.read(200)
        if entry in owned or header.startswith(_HEADER.encode("utf-8")):
            names.append(name)
    return names


def register_into(directory: str | Path, names: list[str], options: RegisterOptions, *,
                  force: bool = False) -> tuple[WriteResult, list[str]]:
    """Add (or update) the registrations of ``names`` in ``directory``, keeping the addons registered there.

    ``kustomization.yaml`` lists every registration, earlier ones first in their order, then the new
    names; each ``<name>.yaml`` of ``names`` is written anew, the others are left as they are. Only
    kaddons' files are changed (:mod:`.output`). Returns what was written and every registered name.
    Raises :class:`~kaddons.errors.UsageError` for an invalid name, conflicts, a damaged record;
    ``OSError``.
    """
    names = [check_addon_name(name) for name in _unique(names)]
    every = _unique([*registered_names(directory), *names])
    files = {f"{name}.yaml": _file(name, options).encode("utf-8") for name in names}
    files["kustomization.yaml"] = _kustomization(every)
    return write_tree(files, directory, force=force, prune=False), every
