"""``kaddons gitops render``: the cluster side of addon-sync as a kustomize tree or a YAML stream (spec §5.1-5.4).

The tree is ``base/`` (namespace ``k2s-addon-sync``, the ServiceAccount ``addon-sync-processor``, the
ConfigMap ``addon-sync-config``), one engine overlay (``fluxcd/`` or ``argocd/``) and a top
``kustomization.yaml`` listing the overlay, so ``kubectl apply -k DIR`` applies everything. Flavors:

* ``kaddons`` (Linux): ``argocd/`` adds the ``addon-sync-poller`` CronJob (``kaddons sync
  --check-digest`` every 5 minutes); ``fluxcd/`` adds the ServiceAccount/Role/RoleBinding
  ``addon-sync-reconciler`` that per-addon Kustomizations apply with (Jobs in ``k2s-addon-sync`` only,
  against §8.17). Pods run non-root with a read-only root filesystem, no token, no capabilities.
* ``k2s``: K2s's own files byte for byte (Windows HostProcess pods running ``Sync-Addons.ps1``), with
  ``REGISTRY_URL``, ``INSECURE`` and ``K2S_INSTALL_DIR`` set. K2s's script is not part of kaddons:
  ``sync_script`` supplies it.

Without ``-o`` the same files are built in Python (:mod:`._kustomize`) into the stream ``kubectl
kustomize DIR`` would print. Secrets are never rendered: registry credentials are the
``kubernetes.io/dockerconfigjson`` Secret ``addon-sync-registry`` the user creates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from kaddons import __version__
from kaddons.errors import UsageError

from . import _kustomize
from ._templates import template_bytes, template_tree
from ._yaml import dump_documents, dump_rt, load_rt
from .options import (
    DEFAULT_ADDONS_DIR,
    DEFAULT_IMAGE,
    DEFAULT_RUN_AS_USER,
    Engine,
    Flavor,
    check_addons_dir,
    check_image,
    check_k2s_install_dir,
    check_run_as_user,
    parse_engine,
    parse_flavor,
    parse_registry_url,
    read_ca_file,
    read_sync_script,
)
from .output import WriteResult, write_tree

__all__ = [
    "CA_CONFIGMAP",
    "CA_MOUNT",
    "CONFIGMAP",
    "DEFAULT_IMAGE",
    "DEFAULT_K2S_INSTALL_DIR",
    "NAMESPACE",
    "RenderOptions",
    "render_objects",
    "render_options",
    "render_stream",
    "render_tree",
    "write_rendered",
]

NAMESPACE = "k2s-addon-sync"
CONFIGMAP = "addon-sync-config"
CA_CONFIGMAP = "addon-sync-ca"
CA_MOUNT = "/etc/kaddons/ca"
DEFAULT_K2S_INSTALL_DIR = "C:\\k"
_SCRIPT = "base/scripts/Sync-Addons.ps1"
_SCRIPT_STUB_MARKER = "Placeholder for Sync-Addons.ps1"
_CONTAINER = "addon-sync"
_ADDONS_VOLUME = "addons"
_KUSTOMIZATION = "kustomization.yaml"
_LABELS = {"app.kubernetes.io/name": "addon-sync", "app.kubernetes.io/part-of": "kaddons"}


@dataclass(frozen=True)
class RenderOptions:
    """Validated render settings; build them with :func:`render_options`.

    ``registry`` is ``HOST[:PORT][/PREFIX]`` (a prefix for the kaddons flavor only); ``addons_dir``,
    ``image``, ``run_as_user`` and ``ca_pem`` are for
    the ``kaddons`` flavor, ``k2s_install_dir`` and ``sync_script`` (the text of ``Sync-Addons.ps1``)
    for the ``k2s`` flavor.
    """

    engine: Engine
    registry: str
    flavor: Flavor = Flavor.kaddons
    insecure: bool = False
    addons_dir: str = DEFAULT_ADDONS_DIR
    image: str = DEFAULT_IMAGE
    run_as_user: int = DEFAULT_RUN_AS_USER
    ca_pem: str | None = None
    k2s_install_dir: str = DEFAULT_K2S_INSTALL_DIR
    sync_script: str | None = None


def render_options(engine: str | Engine, registry: str, *, flavor: str | Flavor = Flavor.kaddons,
                   insecure: bool = False, addons_dir: str | None = None, image: str | None = None,
                   run_as_user: int | str | None = None, ca_file: Path | None = None,
                   k2s_install_dir: str | None = None, sync_script: Path | None = None) -> RenderOptions:
    """Check every input and read the files named (``ca_file``, ``sync_script``) before anything is written.

    Raises :class:`~kaddons.errors.UsageError` (one line) for an unknown engine or flavor, a registry
    URL that is not ``oci://HOST[:PORT]``, an option of the other flavor (``--addons-dir``,
    ``--image``, ``--run-as-user``, ``--ca-file`` are ``kaddons`` only; ``--k2s-install-dir``,
    ``--sync-script`` ``k2s`` only), a bad value, and for the ``k2s`` flavor without ``sync_script``
    while kaddons ships only a stand-in for K2s's script.
    """
    engine, flavor = parse_engine(engine), parse_flavor(flavor)
    host = parse_registry_url(registry, allow_prefix=flavor is Flavor.kaddons)
    given = {"--addons-dir": addons_dir, "--image": image, "--run-as-user": run_as_user, "--ca-file": ca_file,
             "--k2s-install-dir": k2s_install_dir, "--sync-script": sync_script}
    other = ("--k2s-install-dir", "--sync-script") if flavor is Flavor.kaddons else (
        "--addons-dir", "--image", "--run-as-user", "--ca-file")
    for flag in other:
        if given[flag] is not None:
            raise UsageError(f"{flag} does not apply to the {flavor} flavor: drop it, or render --flavor "
                             f"{Flavor.k2s if flavor is Flavor.kaddons else Flavor.kaddons}")
    if flavor is Flavor.k2s:
        script = read_sync_script(sync_script) if sync_script is not None else None
        if script is None and _SCRIPT_STUB_MARKER in template_bytes(flavor, _SCRIPT).decode("utf-8"):
            raise UsageError("the k2s flavor needs K2s's Sync-Addons.ps1, which kaddons does not ship: pass "
                             "--sync-script <K2s install dir>\\addons\\common\\manifests\\addon-sync\\base\\scripts"
                             "\\Sync-Addons.ps1")
        return RenderOptions(engine, host, flavor, insecure,
                             k2s_install_dir=check_k2s_install_dir(k2s_install_dir or DEFAULT_K2S_INSTALL_DIR),
                             sync_script=script)
    return RenderOptions(
        engine, host, flavor, insecure,
        addons_dir=check_addons_dir(addons_dir) if addons_dir is not None else DEFAULT_ADDONS_DIR,
        image=check_image(image) if image is not None else DEFAULT_IMAGE,
        run_as_user=check_run_as_user(run_as_user) if run_as_user is not None else DEFAULT_RUN_AS_USER,
        ca_pem=read_ca_file(ca_file) if ca_file is not None else None,
    )


def _quoted(value: str) -> DoubleQuotedScalarString:
    quoted: DoubleQuotedScalarString = DoubleQuotedScalarString(value)
    return quoted


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _edit(files: dict[str, bytes], path: str, change: Any) -> None:
    doc = load_rt(files[path].decode("utf-8"))
    change(doc)
    files[path] = dump_rt(doc).encode("utf-8")


def _named(items: list[Any], name: str) -> Any:
    return next(item for item in items if item.get("name") == name)


def _config_data(options: RenderOptions) -> dict[str, str]:
    if options.flavor is Flavor.k2s:
        return {"REGISTRY_URL": f"oci://{options.registry}", "K2S_INSTALL_DIR": options.k2s_install_dir,
                "INSECURE": _bool(options.insecure)}
    data = {"REGISTRY_URL": f"oci://{options.registry}", "INSECURE": _bool(options.insecure),
            "ADDONS_DIR": options.addons_dir, "SYNC_IMAGE": options.image, "RUN_AS_USER": str(options.run_as_user),
            "RUN_AS_NON_ROOT": _bool(options.run_as_user != 0)}
    if options.ca_pem is not None:
        data["CA_FILE"] = f"{CA_MOUNT}/ca.crt"
    return data


def _set_config(options: RenderOptions) -> Any:
    def change(doc: Any) -> None:
        for key, value in _config_data(options).items():
            doc["data"][key] = _quoted(value)

    return change


def _add_ca_generator(doc: Any) -> None:
    doc["configMapGenerator"] = [{"name": CA_CONFIGMAP, "files": ["ca.crt"], "options": {"labels": dict(_LABELS)}}]


def _set_poller(options: RenderOptions) -> Any:
    def change(doc: Any) -> None:
        pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        security = pod["securityContext"]
        security["runAsNonRoot"] = options.run_as_user != 0
        security["runAsUser"] = security["runAsGroup"] = options.run_as_user
        container = _named(pod["containers"], _CONTAINER)
        container["image"] = _quoted(options.image)
        command = container["command"]
        command[command.index("--addons-dir") + 1] = _quoted(options.addons_dir)
        _named(container["volumeMounts"], _ADDONS_VOLUME)["mountPath"] = _quoted(options.addons_dir)
        _named(pod["volumes"], _ADDONS_VOLUME)["hostPath"]["path"] = _quoted(options.addons_dir)

    return change


def _root_kustomization(options: RenderOptions) -> bytes:
    header = (f"# addon-sync for {options.engine} ({options.flavor} flavor), rendered by kaddons {__version__} "
              f"(kaddons gitops render).\n# Apply with: kubectl apply -k <this directory>\n")
    body = dump_documents([{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                            "resources": [options.engine.value]}])
    return (header + body).encode("utf-8")


def render_tree(options: RenderOptions) -> dict[str, bytes]:
    """The rendered tree as ``{POSIX relative path: bytes}``: ``kustomization.yaml``, ``base/...``,
    ``<engine>/...``. Pure: reads only package data."""
    flavor, engine = options.flavor, options.engine.value
    exclude = (f"{engine}/per-addon",)  # K2s's manual per-addon templates: `kaddons gitops register` replaces them
    files = {**template_tree(flavor, "base"), **template_tree(flavor, engine, exclude=exclude)}
    _edit(files, "base/configmap.yaml", _set_config(options))
    if flavor is Flavor.k2s:
        if options.sync_script is not None:
            files[_SCRIPT] = options.sync_script.encode("utf-8")
    else:
        if options.ca_pem is not None:
            files["base/ca.crt"] = options.ca_pem.encode("ascii")
            _edit(files, f"base/{_KUSTOMIZATION}", _add_ca_generator)
        if options.engine is Engine.argocd:
            _edit(files, "argocd/addon-sync-poller.yaml", _set_poller(options))
    files[_KUSTOMIZATION] = _root_kustomization(options)
    return files


def render_objects(options: RenderOptions) -> list[dict[str, Any]]:
    """The objects of the rendered tree, as ``kubectl kustomize`` builds them (namespace set, kustomize order)."""
    return _kustomize.build(render_tree(options))


def render_stream(options: RenderOptions) -> str:
    """The rendered objects as one YAML stream for ``kubectl apply -f -`` (the Namespace first)."""
    return dump_documents(render_objects(options))


def write_rendered(files: Mapping[str, bytes], directory: str | Path, *, force: bool = False) -> WriteResult:
    """Write a tree of :func:`render_tree` into ``directory``: kaddons' files of an earlier render are replaced
    or removed, nothing else is touched (see :mod:`.output`). Raises :class:`~kaddons.errors.UsageError`
    for conflicts, ``OSError``."""
    return write_tree(files, directory, force=force, prune=True)
