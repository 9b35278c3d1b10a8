"""The REST API of ``kaddons serve`` (issue 15; Ankra's shapes, ankra-addons.md §6.2), a FastAPI app over
:class:`~kaddons.api.service.ClusterService`.

The web UI is ``/`` and ``/ui/*``: static files that hold no data (the page asks for a token, keeps it for the
tab, and reads the API with it), served with a Content-Security-Policy of ``'self'`` only. Every other route
but ``/healthz`` needs ``Authorization: Bearer <token>`` (:mod:`kaddons.api.tokens`): none or an
unknown one is 401, a ``read`` token on a write is 403. Lists are paginated (``page`` from 1, ``page_size`` up to
500) in Ankra's envelope ``{result, pagination: {page, page_size, total_count, total_pages}}``. Errors are
``{"error": "<one line>"}``: 404 for a name that is not there, 422 for a malformed one or a document that does not
validate, 502 when the cluster or a chart source cannot be read. Request bodies over 1 MiB are refused (413). No
CORS headers: a page of another origin cannot read the API. Encrypted values are masked in every response.

Reads (``GET``, a ``read`` token): ``/healthz``; ``/openapi.json``; ``/api/v1/clusters``;
``/api/v1/clusters/{cluster}/stacks``; ``…/stacks/{stack}/history``; ``…/addons``; ``…/addons/{name}``;
``…/addons/{name}/history``; ``…/addons/{name}/versions`` (the chart's versions in its source);
``…/addons/{name}/chart`` (``?version=``: its default values and README); ``…/sources`` (chart sources);
``…/manifests``; ``…/manifests/{name}`` (its YAML, encrypted values masked); ``…/sops`` (age recipients);
``…/uninstalled`` (add-ons uninstalled with their definition kept); ``…/operations``;
``…/operations/{id}`` (``?wait=S`` waits for it to end); ``…/stream`` (server-sent events:
``event: states`` with the add-ons whose state changed, ``event: operation`` with an operation whose status
changed, as JSON, and a comment every 15 s to keep the connection).

Writes (a ``write`` token) are operations (:mod:`kaddons.api.operations`), answered 202 with the operation:
``POST …/addons/{name}/upgrade`` ``{chart_version, dry_run}``, ``POST …/addons/{name}/rollback``
``{to, dry_run}``, ``DELETE …/addons/{name}`` (``?delete=`` forgets the definition too, ``?dry_run=``),
``POST …/addons/{name}/restore`` ``{stack, dry_run}``, ``POST …/addons`` (install: ``{chart, chart_version,
source, stack, name, namespace, parents, values, dry_run}``), ``PUT …/addons/{name}/settings`` (``{profile}`` or
``{settings}``), ``POST …/catalog`` (enable a catalog addon: ``{addon, implementation, stack, registry, tag, paths,
namespace, parents, insecure, dry_run}``), ``DELETE …/catalog/{name}``, ``POST …/addons/{name}/sync`` (asks the
engine to reconcile now: the one write to the cluster API), ``POST …/operations/{id}/cancel``.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from kaddons import __version__
from kaddons.errors import (
    ClusterDocumentError,
    ClusterError,
    ContentError,
    KaddonsError,
    NotFoundError,
    RegistryError,
    UsageError,
)

from .operations import Operations, recorded
from .service import ClusterService
from .tokens import TokenStore

__all__ = ["MAX_BODY", "create_app"]

MAX_BODY = 1 << 20
UI = pathlib.Path(__file__).parent / "ui"
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
CLUSTER_NAME = r"^[A-Za-z0-9-]{1,63}$"
MEMBER_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"


Cluster = Annotated[str, Path(pattern=CLUSTER_NAME, description="The cluster document's metadata.name.")]
Member = Annotated[str, Path(pattern=MEMBER_NAME, description="An add-on's or manifest's name.")]
Page = Annotated[int, Query(ge=1, le=1_000_000, description="The page, from 1.")]
PageSize = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Cap = Annotated[int, Query(ge=1, le=10_000, description="Group more same-kind leaves than this.")]


REVISION = r"^[0-9a-f]{4,40}$"
CHART_VERSION = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$"


class ValueSet(BaseModel):
    path: Annotated[str, Field(min_length=1, max_length=512,
                               description="Where: image.tag, args[0], env[name=LOG_LEVEL].value.")]
    value: Annotated[str | int | float | bool | None, Field(description="The value (a scalar).")]


class UpgradeRequest(BaseModel):
    chart_version: Annotated[str | None, Field(default=None, pattern=CHART_VERSION,
                                               description="The chart version to move to [default: keep it].")]
    values: Annotated[list[ValueSet], Field(default_factory=list, max_length=100,
                                            description="Values to set, in order.")]
    dry_run: bool = Field(default=False, description="Compute the change and its diff; commit nothing.")


PARENT = r"^(manifest|addon|catalog):[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
Parent = Annotated[str, Field(pattern=PARENT, description="kind:name, kind manifest, addon or catalog.")]


class InstallRequest(BaseModel):
    chart: Annotated[str, Field(pattern=MEMBER_NAME, description="The chart's name in its source.")]
    chart_version: Annotated[str, Field(pattern=CHART_VERSION, description="The exact version.")]
    source: Annotated[str, Field(min_length=1, max_length=2048,
                                 description="A registry of spec.helm_registries, or the source's URL.")]
    stack: Annotated[str, Field(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$",
                                description="The stack (created when new).")]
    name: Annotated[str | None, Field(default=None, pattern=MEMBER_NAME,
                                      description="The add-on [default: the chart's name].")]
    namespace: Annotated[str | None, Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
                                           description="Where it installs [default: its name].")]
    parents: Annotated[list[Parent], Field(default_factory=list, max_length=100)]
    values: Annotated[str | None, Field(default=None, max_length=512 * 1024,
                                        description="The values as YAML text, kept as values/<name>.yaml.")]
    dry_run: bool = False


class SettingsRequest(BaseModel):
    profile: Annotated[str | None, Field(default=None, description="default, development, production-critical "
                                                                   "or stateful: its five settings are set.")]
    settings: Annotated[dict[str, Any] | None, Field(default=None, description="The settings as a whole (as the "
                                                                               "details' settings show them).")]
    dry_run: bool = False


class EnableRequest(BaseModel):
    addon: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
    implementation: Annotated[str | None, Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                                                max_length=63)]
    stack: Annotated[str, Field(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")]
    registry: Annotated[str, Field(pattern=r"^oci://[^\s]{1,1024}$", description="oci://HOST[:PORT][/PREFIX]")]
    tag: Annotated[str | None, Field(default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")]
    paths: Annotated[list[str] | None, Field(default=None, max_length=50,
                                             description="Folders of its manifests/ [default: see the CLI].")]
    namespace: Annotated[str | None, Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    parents: Annotated[list[Parent], Field(default_factory=list, max_length=100)]
    insecure: bool = Field(default=False, description="The registry talks plain HTTP.")
    dry_run: bool = False


class RollbackRequest(BaseModel):
    to: Annotated[str | None, Field(default=None, pattern=REVISION,
                                    description="The revision to restore [default: before the last change].")]
    dry_run: bool = False


class RestoreRequest(BaseModel):
    stack: Annotated[str | None, Field(default=None, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$",
                                       description="The stack [default: the one it was uninstalled from].")]
    dry_run: bool = False


class OperationOut(BaseModel):
    id: str
    kind: str
    target: str
    parameters: dict[str, Any]
    status: str
    created: str
    started: str | None
    finished: str | None
    result: dict[str, Any] | None
    error: str | None


class Pagination(BaseModel):
    page: int
    page_size: int
    total_count: int
    total_pages: int


class AddonRow(BaseModel):
    name: str
    kind: Literal["addon", "catalog"] = Field(
        default="addon", description="'addon': a Helm chart add-on; 'catalog': a catalog addon (kaddons cluster addons "
                                     "enable), its artifact addons/<name> as chart_name, its tag as chart_version and "
                                     "its registry as registry_url.")
    stack_name: str
    chart_name: str
    chart_version: str
    registry_url: str
    namespace: str
    parents: list[str]
    state: str | None
    reason: str | None
    latest_chart_version: str | None
    last_updated: str | None = Field(default=None, description="When the commit that last changed the add-on was "
                                                               "made (ISO 8601, UTC).")
    rolled_back_to: str | None = None


class AddonList(BaseModel):
    result: list[AddonRow]
    pagination: Pagination


class StackRow(BaseModel):
    name: str
    description: str | None
    deploy_wave: int | None
    """``None``: the stack has no ``deploy_wave`` and takes no part in the ordering of stacks (Ankra §1.10)."""
    addons: list[str]
    manifests: list[str]
    catalog: list[str]
    """The catalog addons enabled in the stack (their export names)."""
    edges: list[list[str]]
    """``[child, parent]`` pairs, each ``kind:name``."""


class StackList(BaseModel):
    result: list[StackRow]
    pagination: Pagination


class ClusterRow(BaseModel):
    name: str
    description: str | None
    engine: str
    stacks: int
    addons: int
    cluster_read: bool


class ClusterList(BaseModel):
    result: list[ClusterRow]
    pagination: Pagination


def _page(items: list[Any], page: int, page_size: int) -> dict[str, Any]:
    total = len(items)
    return {"result": items[(page - 1) * page_size: page * page_size],
            "pagination": {"page": page, "page_size": page_size, "total_count": total,
                           "total_pages": (total + page_size - 1) // page_size}}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


_HEADERS = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]


class _Guard:
    """Plain ASGI middleware (Starlette's ``BaseHTTPMiddleware`` costs more than the list itself): a request
    body announced over :data:`MAX_BODY` is 413, and every response gets :data:`SECURITY_HEADERS`. A request
    ``answer`` returns bytes for is answered with them (200, JSON) without going further."""

    def __init__(self, app: Any, answer: Callable[[Any], bytes | None] | None = None) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await JSONResponse({"error": f"request body over {MAX_BODY} bytes"}, status_code=413,
                               headers=SECURITY_HEADERS)(scope, receive, send)
            return
        body = self.answer(scope) if self.answer is not None else None
        if body is not None:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"), *_HEADERS]})
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


_ADDON_LIST = re.compile(r"/api/v1/clusters/([A-Za-z0-9-]{1,63})/addons")
_LIST_DEFAULTS = {"page": 1, "page_size": 50}
_LIST_BOUNDS = {"page": 1_000_000, "page_size": 500}


def plain_addon_list(service: ClusterService, tokens: TokenStore) -> Callable[[Any], bytes | None]:
    """The add-on list's answer to a request that is plainly valid: ``GET …/clusters/{this cluster}/addons`` with a
    known token and nothing but ``page`` and ``page_size`` in the route's bounds, straight from the serialized list
    (:meth:`ClusterService.addon_page`). FastAPI's routing and dependency machinery costs ten times the slice; the
    list is what every open page polls. Anything else (``None``) goes on to the route, which answers the errors."""

    def answer(scope: Any) -> bytes | None:
        matched = _ADDON_LIST.fullmatch(scope["path"])
        if matched is None or scope["method"] != "GET":
            return None
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or tokens.role_of(token.strip()) is None:
            return None
        values = dict(_LIST_DEFAULTS)
        seen: set[str] = set()
        for key, value in urllib.parse.parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
            if key not in values or key in seen or not (value.isascii() and value.isdigit()):
                return None
            seen.add(key)
            values[key] = int(value)
        if not all(1 <= values[key] <= bound for key, bound in _LIST_BOUNDS.items()):
            return None
        try:
            loaded = service.loaded_now()  # the event loop never reads the document: the route's thread does
            if loaded is None or matched.group(1) != loaded.document.metadata.name:
                return None
            return service.current_addon_page(values["page"], values["page_size"])
        except KaddonsError:
            return None

    return answer


def create_app(service: ClusterService, tokens: TokenStore, operations: Operations | None = None) -> FastAPI:
    """The API over ``service``, admitting ``tokens``, running writes through ``operations`` (see the
    module)."""
    queue = operations or Operations()
    app = FastAPI(title="kaddons", version=__version__, openapi_url=None, docs_url=None, redoc_url=None,
                  description="Add-on stacks delivered through GitOps: the cluster document in Git, the cluster's "
                              "view of each add-on.")

    def role(needed: str) -> Callable[[Request], Awaitable[str]]:
        async def check(request: Request) -> str:  # async: no thread hop for a hash and a compare
            token = _bearer(request)
            found = tokens.role_of(token) if token is not None else None
            if found is None:
                raise HTTPException(401, "a valid token is needed: Authorization: Bearer <token> (kaddons serve "
                                         "token create)", headers={"WWW-Authenticate": "Bearer"})
            if needed == "write" and found != "write":
                raise HTTPException(403, "this token may only read: use a write token")
            return found

        return check

    reader = Depends(role("read"))
    writer = Depends(role("write"))

    app.add_middleware(_Guard, answer=plain_addon_list(service, tokens))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse({"error": err.detail}, status_code=err.status_code, headers=err.headers)

    @app.exception_handler(KaddonsError)
    async def kaddons_error(_request: Request, err: KaddonsError) -> JSONResponse:
        status = 404 if isinstance(err, NotFoundError) else \
            502 if isinstance(err, (ClusterError, RegistryError, ContentError)) else \
            422 if isinstance(err, ClusterDocumentError) else 400  # a source or its archive failing is a bad gateway
        return JSONResponse({"error": str(err)}, status_code=status)

    def cluster_named(cluster: str) -> None:
        name = service.loaded().document.metadata.name
        if cluster != name:
            raise NotFoundError(f"no cluster {cluster!r}: this server holds {name!r}")

    async def cluster_named_async(cluster: str) -> None:
        """:func:`cluster_named` for a route on the event loop: changed files are read in a worker thread."""
        if service.loaded_now() is None:
            await asyncio.to_thread(service.loaded)
        cluster_named(cluster)

    app.mount("/ui", StaticFiles(directory=UI), name="ui")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        """The web UI (static files, no data: the page asks for a token and reads the API with it)."""
        return FileResponse(UI / "index.html")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False, dependencies=[reader])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/api/v1/clusters", response_model=ClusterList, dependencies=[reader])
    def clusters(page: Page = 1, page_size: PageSize = 50) -> dict[str, Any]:
        """The clusters this server holds (one: its cluster document)."""
        document = service.loaded().document
        row = {"name": document.metadata.name, "description": document.metadata.description,
               "engine": service.engine, "stacks": len(document.spec.stacks),
               "addons": sum(len(s.addons) for s in document.spec.stacks), "cluster_read": service.live() is not None}
        return _page([row], page, page_size)

    @app.get("/api/v1/clusters/{cluster}/uninstalled", dependencies=[reader])
    def uninstalled(cluster: Cluster, page: Page = 1, page_size: PageSize = 50) -> dict[str, Any]:
        """The add-ons uninstalled with their definition kept (``spec.kaddons.uninstalled``): ``name``, the
        ``stack_name`` a restore puts them back into, ``chart_name``, ``chart_version``, ``namespace``."""
        cluster_named(cluster)
        rows = [{"name": kept.addon.name, "stack_name": kept.stack, "chart_name": kept.addon.chart_name,
                 "chart_version": kept.addon.chart_version, "namespace": kept.addon.namespace}
                for kept in service.loaded().document.spec.kaddons.uninstalled]
        return _page(rows, page, page_size)

    @app.get("/api/v1/clusters/{cluster}/stacks", response_model=StackList, dependencies=[reader])
    def stacks(cluster: Cluster, page: Page = 1, page_size: PageSize = 50) -> dict[str, Any]:
        """The stacks: their add-ons, manifests and catalog addons, deploy wave, and the dependency edges inside
        them."""
        cluster_named(cluster)
        loaded = service.loaded()
        rows = []
        for stack in loaded.document.spec.stacks:
            catalog = [e.name for e in loaded.document.spec.kaddons.catalog if e.stack == stack.name]
            keys = ([("manifest", m.name) for m in stack.manifests] + [("addon", a.name) for a in stack.addons]
                    + [("catalog", name) for name in catalog])
            edges = [[f"{k}:{n}", f"{pk}:{pn}"] for k, n in keys for pk, pn in loaded.graph.members[(k, n)].parents]
            rows.append({"name": stack.name, "description": stack.description, "deploy_wave": stack.deploy_wave,
                         "addons": [a.name for a in stack.addons], "manifests": [m.name for m in stack.manifests],
                         "catalog": catalog, "edges": edges})
        return _page(rows, page, page_size)

    @app.get("/api/v1/clusters/{cluster}/stacks/{stack}/history", dependencies=[reader])
    def stack_history(cluster: Cluster, stack: Annotated[str, Path(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")],
                      page: Page = 1, page_size: PageSize = 50) -> dict[str, Any]:
        """The commits that changed the stack (its members' entries, values and manifest files), newest first."""
        cluster_named(cluster)
        return _page(service.stack_history(stack), page, page_size)

    @app.get("/api/v1/clusters/{cluster}/addons", response_model=AddonList, dependencies=[reader])
    async def addons(cluster: Cluster, page: Page = 1, page_size: PageSize = 50) -> Response:
        """The add-ons with their state in the cluster (``null`` when the server reads no cluster). Served from
        the serialized list kept until something changes (a plainly valid request never reaches this route:
        :func:`plain_addon_list`); when the list is being built again, a worker thread waits for it."""
        await cluster_named_async(cluster)
        body = service.current_addon_page(page, page_size)
        if body is None:
            body = await asyncio.to_thread(service.addon_page, page, page_size)
        return Response(body, media_type="application/json")

    @app.get("/api/v1/clusters/{cluster}/addons/{name}", dependencies=[reader])
    def addon(cluster: Cluster, name: Member, expand: bool = False, cap: Cap = 50) -> dict[str, Any]:
        """One add-on: overview, state, its engine object, the resource map (``resources``: trees of ``kind``,
        ``name``, ``namespace``, ``health``, ``message``, ``children``; groups carry ``group``, ``count`` and,
        with ``expand``, ``members``), values with encrypted values masked, and its objects' events."""
        cluster_named(cluster)
        return service.addon(name, expand=expand, cap=cap)

    @app.get("/api/v1/clusters/{cluster}/addons/{name}/history", dependencies=[reader])
    def history(cluster: Cluster, name: Member, page: Page = 1, page_size: PageSize = 50) -> dict[str, Any]:
        """The commits that changed the add-on or catalog addon (revision, time, author, subject), newest first."""
        cluster_named(cluster)
        return _page(service.history(name), page, page_size)

    @app.get("/api/v1/clusters/{cluster}/addons/{name}/versions", dependencies=[reader])
    def versions(cluster: Cluster, name: Member, page: Page = 1, page_size: PageSize = 500) -> dict[str, Any]:
        """The versions of the add-on's chart in its source, newest first, the current one marked."""
        cluster_named(cluster)
        return _page(service.chart_versions(name), page, page_size)

    @app.get("/api/v1/clusters/{cluster}/addons/{name}/chart", dependencies=[reader])
    def chart(cluster: Cluster, name: Member,
              version: Annotated[str | None, Query(pattern=CHART_VERSION, description="A chart version [default: "
                                                                                      "the add-on's].")] = None
              ) -> dict[str, Any]:
        """The add-on's chart at a version, from its source: ``chart``, ``version``, ``source``, ``digest``,
        ``description``, ``app_version``, ``default_values`` (``values.yaml`` as written), ``readme``
        (``README.md``), ``truncated`` (documents cut at 1 MiB). A version the source lacks is 404."""
        cluster_named(cluster)
        return service.chart(name, version)

    @app.get("/api/v1/clusters/{cluster}/sources", dependencies=[reader])
    def sources(cluster: Cluster, page: Page = 1, page_size: PageSize = 50) -> dict[str, Any]:
        """The chart sources the add-ons install from: ``url``, ``registry`` (the ``spec.helm_registries`` name),
        ``charts`` (chart name -> the add-ons using it). Versions: ``…/addons/{name}/versions``."""
        cluster_named(cluster)
        return _page(service.sources(), page, page_size)

    @app.get("/api/v1/clusters/{cluster}/manifests", dependencies=[reader])
    def manifests(cluster: Cluster, page: Page = 1, page_size: PageSize = 50) -> dict[str, Any]:
        """The manifest members: ``name``, ``stack_name``, ``namespace``, ``parents``, ``encrypted``, ``kinds``
        (``Kind/name`` of their objects), ``state`` and ``reason`` (``null`` without a cluster)."""
        cluster_named(cluster)
        return _page(service.manifests(), page, page_size)

    @app.get("/api/v1/clusters/{cluster}/manifests/{name}", dependencies=[reader])
    def manifest(cluster: Cluster, name: Member) -> dict[str, Any]:
        """One manifest member: its row and its ``content`` (YAML), encrypted values masked."""
        cluster_named(cluster)
        return service.manifest(name)

    @app.get("/api/v1/clusters/{cluster}/sops", dependencies=[reader])
    def sops(cluster: Cluster) -> dict[str, Any]:
        """The SOPS age recipients of the repository (``config``: ``.sops.yaml``; ``recipients``: public keys).
        The private key is never served."""
        cluster_named(cluster)
        return service.recipients()

    def queued(kind: str, name: str, parameters: dict[str, Any], work: Callable[[], dict[str, Any]]) -> JSONResponse:
        def run() -> dict[str, Any]:
            with service.writing():  # reads meanwhile see the document as before; after it, what it wrote
                return work()

        operation = queue.submit(kind, f"addon/{name}", recorded(parameters), run)
        return JSONResponse(operation.to_dict(), status_code=202,
                            headers={"Location": f"/api/v1/clusters/{service.loaded().document.metadata.name}"
                                                 f"/operations/{operation.id}"})

    @app.post("/api/v1/clusters/{cluster}/addons/{name}/upgrade", status_code=202, response_model=OperationOut,
              dependencies=[writer])
    def upgrade(cluster: Cluster, name: Member, body: UpgradeRequest) -> JSONResponse:
        """Queue an upgrade to another chart version and/or values set by path: the document and values are
        edited, the chart rendered, and one commit pushed (a dry run: the diff only). Returns the operation."""
        cluster_named(cluster)
        service.known(name)  # 404 now rather than a failed operation later (the document only)
        sets = tuple((item.path, item.value) for item in body.values)
        return queued("upgrade", name, body.model_dump(),
                      lambda: service.upgrade(name, body.chart_version, dry_run=body.dry_run, sets=sets))

    @app.post("/api/v1/clusters/{cluster}/addons/{name}/rollback", status_code=202, response_model=OperationOut,
              dependencies=[writer])
    def rollback(cluster: Cluster, name: Member, body: RollbackRequest) -> JSONResponse:
        """Queue a rollback: a new commit restoring the add-on (or catalog addon) as it was at a revision of its
        history."""
        cluster_named(cluster)
        service.member(name)
        return queued("rollback", name, body.model_dump(), lambda: service.rollback(name, body.to,
                                                                                  dry_run=body.dry_run))

    @app.delete("/api/v1/clusters/{cluster}/addons/{name}", status_code=202, response_model=OperationOut,
                dependencies=[writer])
    def uninstall(cluster: Cluster, name: Member, delete: bool = False, dry_run: bool = False) -> JSONResponse:
        """Queue an uninstall: the add-on leaves its stack (its children are re-attached to its parents), its
        definition kept for a restore; ``delete=true`` forgets the definition too (also of one uninstalled
        before), as Ankra's ``delete_permanently``."""
        cluster_named(cluster)
        if service.kept(name) and not delete:
            raise UsageError(f"add-on {name!r} is uninstalled already, its definition kept: restore it (POST "
                             f"…/addons/{name}/restore) or forget it (delete=true)")
        if not (delete and service.kept(name)):
            service.known(name)
        return queued("uninstall", name, {"delete": delete, "dry_run": dry_run},
                      lambda: service.uninstall(name, delete=delete, dry_run=dry_run))

    @app.post("/api/v1/clusters/{cluster}/addons/{name}/restore", status_code=202, response_model=OperationOut,
              dependencies=[writer])
    def restore(cluster: Cluster, name: Member, body: RestoreRequest) -> JSONResponse:
        """Queue a restore: an add-on uninstalled with its definition kept joins its stack again."""
        cluster_named(cluster)
        if not service.kept(name):
            raise NotFoundError(f"no uninstalled add-on {name!r} kept in cluster {cluster}")
        return queued("restore", name, body.model_dump(), lambda: service.restore(name, body.stack,
                                                                                dry_run=body.dry_run))

    @app.post("/api/v1/clusters/{cluster}/addons", status_code=202, response_model=OperationOut,
              dependencies=[writer])
    def install(cluster: Cluster, body: InstallRequest) -> JSONResponse:
        """Queue an install: a chart add-on joins a stack (created when new), its values kept in Git."""
        cluster_named(cluster)
        name = body.name or body.chart
        return queued("install", name, body.model_dump(), lambda: service.install(body.model_dump()))

    @app.put("/api/v1/clusters/{cluster}/addons/{name}/settings", status_code=202, response_model=OperationOut,
             dependencies=[writer])
    def settings(cluster: Cluster, name: Member, body: SettingsRequest) -> JSONResponse:
        """Queue a settings change: a profile's five settings, or the settings as a whole."""
        cluster_named(cluster)
        service.known(name)
        return queued("settings", name, body.model_dump(),
                      lambda: service.settings(name, profile=body.profile, settings=body.settings,
                                               dry_run=body.dry_run))

    @app.post("/api/v1/clusters/{cluster}/catalog", status_code=202, response_model=OperationOut,
              dependencies=[writer])
    def enable(cluster: Cluster, body: EnableRequest) -> JSONResponse:
        """Queue an enable: a catalog addon (a K2s-format artifact of an OCI registry) joins a stack, pinned to
        its digest."""
        cluster_named(cluster)
        return queued("enable", body.addon, body.model_dump(), lambda: service.enable(body.model_dump()))

    @app.delete("/api/v1/clusters/{cluster}/catalog/{name}", status_code=202, response_model=OperationOut,
                dependencies=[writer])
    def disable(cluster: Cluster, name: Member, dry_run: bool = False) -> JSONResponse:
        """Queue a disable: the catalog addon leaves the cluster document and its folder the repository."""
        cluster_named(cluster)
        return queued("disable", name, {"dry_run": dry_run}, lambda: service.disable(name, dry_run=dry_run))

    @app.post("/api/v1/clusters/{cluster}/addons/{name}/sync", status_code=202, response_model=OperationOut,
              dependencies=[writer])
    def sync(cluster: Cluster, name: Member) -> JSONResponse:
        """Queue a sync: the engine is asked to reconcile the add-on (or catalog addon) now (the one write to the
        cluster API: an Argo CD operation, or Flux's reconcile.fluxcd.io/requestedAt annotation)."""

        cluster_named(cluster)
        service.member(name)
        return queued("sync", name, {}, lambda: service.sync(name))

    @app.get("/api/v1/clusters/{cluster}/operations", dependencies=[reader])
    def operations_list(cluster: Cluster, page: Page = 1, page_size: PageSize = 50) -> dict[str, Any]:
        """The operations of this server, newest first: the last 1,000, across restarts of ``kaddons serve``
        (values a request carried are not recorded; the commits are the lasting record)."""
        cluster_named(cluster)
        return _page([o.to_dict() for o in queue.all()], page, page_size)

    @app.get("/api/v1/clusters/{cluster}/operations/{operation}", response_model=OperationOut,
             dependencies=[reader])
    def operation_get(cluster: Cluster, operation: Annotated[str, Path(pattern=r"^op-[0-9]{6}$")],
                      wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for it to end.")] = 0
                      ) -> dict[str, Any]:
        """One operation: pending, running, success (``result.commit``), failed (``error``) or cancelled."""
        cluster_named(cluster)
        return (queue.wait(operation, wait) if wait else queue.get(operation)).to_dict()

    @app.post("/api/v1/clusters/{cluster}/operations/{operation}/cancel", response_model=OperationOut,
              dependencies=[writer])
    def operation_cancel(cluster: Cluster, operation: Annotated[str, Path(pattern=r"^op-[0-9]{6}$")]
                         ) -> dict[str, Any]:
        """Cancel a pending operation (409 once it has started)."""
        cluster_named(cluster)
        try:
            return queue.cancel(operation).to_dict()
        except UsageError as err:
            raise HTTPException(409, str(err)) from None

    @app.get("/api/v1/clusters/{cluster}/stream", dependencies=[reader],
             response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
    async def stream(cluster: Cluster) -> StreamingResponse:
        """Server-sent events: ``event: states``, ``data:`` the add-on rows whose state changed (all of them
        first)."""
        await cluster_named_async(cluster)
        return StreamingResponse(_states(service, queue), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    return app


async def _states(service: ClusterService, queue: Operations) -> AsyncIterator[str]:
    shown: dict[str, tuple[Any, Any, Any]] = {}
    seen: dict[str, str] = {o.id: o.status for o in queue.all()}
    quiet = 0.0
    revision = -1
    while True:
        live = await asyncio.to_thread(service.live)
        if live is not None:
            revision = live.cache.revision
        rows = await asyncio.to_thread(service.addon_rows)
        changed = [row for row in rows if shown.get(row["name"]) != (row["state"], row["reason"],
                                                                    row["latest_chart_version"])]
        for row in changed:
            shown[row["name"]] = (row["state"], row["reason"], row["latest_chart_version"])
        moved = [o.to_dict() for o in queue.all() if seen.get(o.id) != o.status]
        for operation in moved:
            seen[operation["id"]] = operation["status"]
        if changed:
            yield f"event: states\ndata: {json.dumps(changed)}\n\n"
        for operation in reversed(moved):
            yield f"event: operation\ndata: {json.dumps(operation)}\n\n"
        if changed or moved or quiet >= 15:
            quiet = 0.0
            if not (changed or moved):
                yield ": keep-alive\n\n"
        if live is None:
            await asyncio.sleep(1)
        else:
            await asyncio.to_thread(live.cache.wait, revision, 1.0)
        quiet += 1.0
