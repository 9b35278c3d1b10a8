"""Ankra's ``ImportCluster`` v1 document as typed models (ankra-addons.md §1.2-1.11), read as is.

Every field Ankra documents is accepted in each of its spellings (``registry_name``/``registry_url`` and
the legacy ``repository_url``; ``values``, ``values_base64`` or ``from_file``; ``manifest``,
``manifest_base64`` or ``from_file``; parents as ``- addon: NAME`` or ``- {name: NAME, kind: addon}``;
retry backoff flat or nested). Unknown keys are refused, as Ankra refuses them (§1.5).

kaddons' own settings live in one block Ankra does not define, ``spec.kaddons`` (the GitOps engine), so
they can never collide with a field Ankra adds. The models hold what the file says; :mod:`.load` fills
``from_file``/``include``/base64 content in before validation, :mod:`.graph` checks the edges.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Addon", "AddonSettings", "Application", "CatalogAddon", "ClusterMetadata", "ClusterSpec", "Configuration",
    "GitRepository",
    "HelmRegistry", "ImportCluster", "KaddonsSettings", "Manifest", "Parent", "Stack",
]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""RFC 1123 label: an add-on's namespace (§1.8)."""
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
"""``metadata.name``: letters, digits and hyphens (§1.2)."""


MEMBER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
"""An add-on's or a manifest's ``name``: an RFC 1123 subdomain, as the objects named after it need (the
Application, HelmRelease or Kustomization ``addon-<name>`` / ``manifest-<name>``, and Helm's release name); the
files named after it (``values/<name>.yaml``, ``apps/addon-<name>.yaml``) then stay in their folder."""
MEMBER_NAME_MAX = {"add-on": 53, "manifest": 244}
"""An add-on's name is its Helm release's (at most 53 characters); ``manifest-<name>`` is at most 253."""
STACK_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
"""A Kubernetes label value. Ankra sets no rule for a stack's ``name``; one that is a label value labels the objects
rendered for its members (``kaddons.io/stack``, :func:`stack_labels`), one that is not is left out of the labels."""


def stack_labels(stack: str) -> dict[str, str]:
    """``{"kaddons.io/stack": stack}`` when ``stack`` is a label value (:data:`STACK_LABEL`), else ``{}``."""
    return {"kaddons.io/stack": stack} if STACK_LABEL.fullmatch(stack) else {}


def check_member_name(kind: str, value: str) -> str:
    """``value`` if it is a valid name of a ``kind`` (``"add-on"`` or ``"manifest"``), else ValueError saying
    what one is."""
    limit = MEMBER_NAME_MAX[kind]
    if len(value) > limit or not MEMBER_NAME.fullmatch(value):
        raise ValueError(f"{kind} name {value!r} is not an RFC 1123 subdomain of at most {limit} characters "
                         "(lowercase letters, digits, '-' and '.', starting and ending with a letter or digit), as the "
                         "engine's objects and the files named after it need")
    return value


def check_namespace(value: str) -> str:
    """``value`` if it is an RFC 1123 label, else ValueError saying what one is."""
    if not DNS_LABEL.fullmatch(value):
        raise ValueError(f"namespace {value!r} is not an RFC 1123 label (lowercase letters, digits and '-', "
                         "at most 63, starting and ending with a letter or digit)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Parent(_Strict):
    """One dependency edge, ``kind`` ``manifest`` or ``addon`` (§1.10), or ``catalog`` (a catalog addon of
    ``spec.kaddons.catalog``, kaddons' own): either spelling becomes this."""

    kind: Literal["manifest", "addon", "catalog"]
    name: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and len(data) == 1:
            ((kind, name),) = data.items()
            return {"kind": kind, "name": name}
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            return {**data, "kind": data["kind"].lower()}
        return data


class Manifest(_Strict):
    """``spec.stacks[].manifests[]`` (§1.7). ``content`` is the YAML text the loader resolved from
    ``manifest``, ``manifest_base64`` or ``from_file`` (exactly one of them)."""

    name: str = Field(min_length=1)
    from_file: str | None = None
    manifest: str | None = None
    manifest_base64: str | None = None
    namespace: str | None = None
    parents: list[Parent] = Field(default_factory=list)
    encrypted_paths: list[str] = Field(default_factory=list)
    force: bool = False
    auto_remediate: bool = False
    group: str | None = Field(default=None, max_length=63)
    agents_md: str | None = None
    agents_md_from_file: str | None = None
    dependencies_override: Any = None
    content: str = Field(default="", exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_member_name("manifest", value)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return check_namespace(value) if value is not None else None


class Configuration(_Strict):
    """``configuration`` of an add-on: one of ``values``, ``values_base64``, ``from_file`` (§1.8)."""

    values: str | None = None
    values_base64: str | None = None
    from_file: str | None = None
    encrypted_paths: list[str] = Field(default_factory=list)


class SyncPolicy(_Strict):
    automated: bool = True
    auto_prune: bool = True
    self_heal: bool = True
    sync_options: list[str] = Field(default_factory=lambda: ["CreateNamespace=true", "ServerSideApply=true"])


class Backoff(_Strict):
    duration: str = "5s"
    factor: int = 2
    max_duration: str = "3m"


class RetryPolicy(_Strict):
    """Retries; the backoff flat (``backoff_duration``…, the reference page) or nested (``backoff``, the API)."""

    limit: int = 5
    backoff_duration: str | None = None
    backoff_factor: int | None = None
    backoff_max: str | None = None
    backoff: Backoff | None = None

    def effective_backoff(self) -> Backoff:
        """The backoff whichever way it was written; the nested object wins for the keys it sets."""
        flat = Backoff(duration=self.backoff_duration or "5s", factor=self.backoff_factor or 2,
                       max_duration=self.backoff_max or "3m")
        if self.backoff is None:
            return flat
        given = self.backoff.model_dump(exclude_unset=True)
        return flat.model_copy(update=given)


class SyncWindow(_Strict):
    enabled: bool = False
    schedule: str | None = None
    duration: str | None = None
    timezone: str = "UTC"


class IgnoreDifference(_Strict):
    group: str | None = None
    kind: str
    name: str | None = None
    namespace: str | None = None
    json_pointers: list[str] = Field(default_factory=list)
    jq_path_expressions: list[str] = Field(default_factory=list)
    managed_fields_managers: list[str] = Field(default_factory=list)


class AddonSettings(_Strict):
    """An add-on's sync behaviour (§1.8, Argo CD semantics, §3.3); the defaults are Ankra's."""

    sync_policy: SyncPolicy = Field(default_factory=SyncPolicy)
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    sync_window: SyncWindow | None = None
    ignore_differences: list[IgnoreDifference] = Field(default_factory=list)
    revision_history_limit: int = 10
    strict_health_check: bool = False


class JobConfiguration(_Strict):
    create_job_timeout: int = 420
    read_job_timeout: int = 30
    update_job_timeout: int = 420
    delete_job_timeout: int = 300


class Addon(_Strict):
    """``spec.stacks[].addons[]``: a Helm release (§1.8). ``values`` is the values YAML text the loader
    resolved from ``configuration`` (empty when there is none)."""

    name: str = Field(min_length=1)
    chart_name: str = Field(min_length=1)
    chart_version: str = Field(min_length=1)
    registry_name: str | None = None
    registry_url: str | None = None
    repository_url: str | None = None
    namespace: str
    registry_credential_name: str | None = None
    configuration_type: Literal["standalone", "profile"] = "standalone"
    configuration: Configuration | None = None
    parents: list[Parent] = Field(default_factory=list)
    settings: AddonSettings = Field(default_factory=AddonSettings)
    namespace_migration_strategy: str | None = None
    job_configuration: JobConfiguration = Field(default_factory=JobConfiguration)
    group: str | None = Field(default=None, max_length=63)
    agents_md: str | None = None
    agents_md_from_file: str | None = None
    values: str = Field(default="", exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_member_name("add-on", value)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_namespace(value)

    @model_validator(mode="after")
    def _source(self) -> Addon:
        if not (self.registry_url or self.repository_url):
            raise ValueError("registry_url (or the legacy repository_url) is required: the chart source")
        return self

    @property
    def source_url(self) -> str:
        """The chart source: ``registry_url``, else the legacy ``repository_url``."""
        return self.registry_url or self.repository_url or ""


class Application(_Strict):
    """``spec.stacks[].applications[]`` (§1.9): kept so documents round-trip; not deployed by kaddons."""

    name: str = Field(min_length=1)
    platform_application_id: str | None = None
    platform_application_version: str | None = None
    namespace: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    parents: list[Parent] = Field(default_factory=list)
    group: str | None = None


class Stack(_Strict):
    """``spec.stacks[]`` (§1.6)."""

    name: str = Field(min_length=1)
    description: str | None = None
    description_from_file: str | None = None
    deploy_wave: int | None = Field(default=None, ge=0)
    variables: dict[str, str] = Field(default_factory=dict)
    manifests: list[Manifest] = Field(default_factory=list)
    addons: list[Addon] = Field(default_factory=list)
    applications: list[Application] = Field(default_factory=list)

    @field_validator("variables", mode="before")
    @classmethod
    def _variables(cls, value: Any) -> Any:
        return check_variables(value)


class GitRepository(_Strict):
    provider: str
    credential_name: str
    repository: str
    branch: str


class HelmRegistry(_Strict):
    """``spec.helm_registries[]`` (§1.4)."""

    name: str = Field(min_length=1)
    url: str
    credential_name: str | None = None
    exclude_charts: list[str] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://", "oci://")):
            raise ValueError(f"url {value!r} is neither https:// (a Helm repository) nor oci:// (an OCI registry)")
        return value


class PrometheusMetrics(_Strict):
    endpoint: str
    credential_name: str | None = None
    flavor: Literal["self_hosted", "grafana_cloud", "victoria_metrics"] | None = None
    verify_ssl: bool | None = None


class LogSource(_Strict):
    provider: Literal["loki", "elasticsearch", "opensearch"]
    endpoint: str
    credential_name: str | None = None
    tenant_id: str | None = None
    index_pattern: str | None = None
    field_mappings: dict[str, Any] | None = None
    verify_ssl: bool | None = None


ADDON_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
"""An addon, implementation or export name (the rule of :mod:`kaddons.addons.names`)."""
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
CATALOG_PATH = re.compile(r"^(\.|[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)$")


class CatalogAddon(_Strict):
    """``spec.kaddons.catalog[]``: a catalog addon (the K2s-format artifact of phase 1) as a stack member, what
    ``kaddons cluster addons enable`` writes. ``name``: the member (the export name: ``metrics``,
    ``ingress-nginx``); ``addon`` and ``implementation``: as annotated on the artifact; ``stack``: a stack of
    ``spec.stacks``; ``registry``: ``oci://HOST[:PORT][/PREFIX]``, the artifact being
    ``PREFIX/addons/<name>``; ``tag`` as chosen and ``digest``, the implementation's manifest it is pinned to;
    ``insecure``: the registry talks plain HTTP; ``paths``: the folders of its ``manifests/`` to apply (``.``
    is the folder itself); ``namespace``: where its chart, if any, is installed; ``parents``: as a member's."""

    name: str = Field(min_length=1)
    addon: str = Field(min_length=1)
    implementation: str = Field(min_length=1)
    stack: str = Field(min_length=1)
    registry: str
    tag: str = Field(min_length=1)
    digest: str
    insecure: bool = False
    paths: list[str] = Field(default_factory=list)
    namespace: str
    parents: list[Parent] = Field(default_factory=list)

    def enable_command(self) -> str:
        """The ``kaddons cluster addons enable`` command line that (re)creates this entry."""
        words = ["kaddons cluster addons enable", self.addon]
        if self.implementation != self.addon:
            words.append(self.implementation)
        words += ["--stack", self.stack, "--registry", self.registry, "--tag", self.tag, "--namespace",
                  self.namespace]
        words += [f"--path {path}" for path in self.paths]
        if self.insecure:
            words.append("--insecure")
        return " ".join(words)

    @field_validator("name", "addon", "implementation")
    @classmethod
    def _names(cls, value: str) -> str:
        if not ADDON_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an addon name (lowercase letters, digits and '-', starting and "
                             "ending with a letter or digit)")
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        if not value.startswith("oci://") or len(value) <= len("oci://"):
            raise ValueError(f"registry {value!r} must be oci://HOST[:PORT][/PREFIX]")
        return value.rstrip("/")

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not DIGEST.fullmatch(value):
            raise ValueError(f"digest {value!r} is not sha256:<64 lowercase hex digits>")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not CATALOG_PATH.fullmatch(path) or ".." in path.split("/"):
                raise ValueError(f"path {path!r} must be a relative folder of the addon's manifests/ (no '..')")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_namespace(value)


class UninstalledAddon(_Strict):
    """``spec.kaddons.uninstalled[]``: an add-on taken off the cluster with its definition kept (``kaddons cluster
    addons uninstall`` without ``--delete``, Ankra's ``delete_permanently: false``): the ``stack`` it was in and the
    ``addon`` entry as it was written; ``restore`` puts it back. Not a member: nothing of it is rendered."""

    stack: str = Field(min_length=1)
    addon: Addon


class KaddonsSettings(_Strict):
    """``spec.kaddons``: kaddons' own settings, in a block Ankra does not define. ``engine``: the GitOps
    engine the rendered tree is for (``--engine`` wins). ``repo_url``: the GitOps repository as the engine in
    the cluster clones it (``--git-url`` wins; default: ``git_repository``'s GitHub URL, else the URL of the
    working copy's remote). ``catalog``: the catalog addons enabled on the cluster (:class:`CatalogAddon`).
    ``uninstalled``: the definitions of add-ons uninstalled without ``--delete`` (:class:`UninstalledAddon`).
    ``sops_image``: the image of Argo CD's repo-server sidecar that renders add-ons with encrypted values
    (``HOST/REPOSITORY:TAG`` or ``…@sha256:…``, pinned: not ``latest``; default
    :data:`~kaddons.stacks.render_argocd.SOPS_IMAGE`)."""

    engine: Literal["argocd", "flux"] = "argocd"
    repo_url: str | None = Field(default=None, min_length=1)
    catalog: list[CatalogAddon] = Field(default_factory=list)
    uninstalled: list[UninstalledAddon] = Field(default_factory=list)
    sops_image: str | None = Field(default=None, min_length=1)

    @field_validator("sops_image")
    @classmethod
    def _pinned_image(cls, value: str | None) -> str | None:
        from kaddons.errors import InvalidReferenceError
        from kaddons.oci.reference import REGISTRY, parse_reference

        if value is None:
            return value
        try:
            reference = parse_reference(value)
        except InvalidReferenceError:
            reference = None
        if reference is None or reference.kind != REGISTRY or value.startswith(("oci://", "http")):
            raise ValueError(f"{value!r} is not an image reference: write HOST/REPOSITORY:TAG (e.g. "
                             "ghcr.io/helmfile/helmfile:v1.7.4) or HOST/REPOSITORY@sha256:DIGEST")
        if reference.digest is None and reference.tag in (None, "latest"):
            raise ValueError(f"{value!r} is not pinned: give a version tag or a digest, so every repo server runs "
                             "the image you checked")
        return value


class ClusterSpec(_Strict):
    git_repository: GitRepository | None = None
    helm_registries: list[HelmRegistry] = Field(default_factory=list)
    stacks: list[Stack] = Field(default_factory=list)
    prometheus_metrics: PrometheusMetrics | None = None
    log_source: LogSource | None = None
    kaddons: KaddonsSettings = Field(default_factory=KaddonsSettings)


class ClusterMetadata(_Strict):
    name: str
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not CLUSTER_NAME.fullmatch(value):
            raise ValueError(f"cluster name {value!r} may hold only letters, digits and '-' (it names the cluster's "
                             "folder)")
        return value


class ImportCluster(_Strict):
    """The whole document (§1.2)."""

    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["ImportCluster"]
    metadata: ClusterMetadata
    spec: ClusterSpec


VARIABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_variables(value: Any) -> Any:
    """Variables as strings (§1.11): integers and booleans become their literal text; a float, a map or a list
    is refused ("quote it"); names start with a letter and hold letters, digits and ``_``."""
    if not isinstance(value, dict):
        return value
    checked: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"variable name {name!r} must start with a letter and hold letters, digits and '_'")
        if isinstance(item, bool):
            checked[name] = "true" if item else "false"
        elif isinstance(item, int):
            checked[name] = str(item)
        elif isinstance(item, str):
            checked[name] = item
        else:
            raise ValueError(f"variable {name!r} is {type(item).__name__}: values are strings; quote it")
    return checked
