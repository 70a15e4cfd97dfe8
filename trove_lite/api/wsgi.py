"""The API application: one routing table, one place mapping errors to faults.

``make_app(conf, db, taskmanager_api, middleware=(), authorize=None)`` returns
a WSGI callable. Request flow:

1. ``middleware`` (e.g. the Keystone auth filter) wraps the app; a middleware
   that authenticates puts a ``RequestContext`` in ``environ[ENVIRON_CONTEXT]``.
   Without one (no-auth mode) the tenant comes from the URL path alone.
2. The path is matched against ``ROUTES`` (path -> {method: handler name});
   an unknown path is 404 itemNotFound, a known path with another method is
   405 badMethod.
3. The handler gets an ``ApiRequest`` (tenant, context, ``can(action,
   target)`` for policy, ``body(schema)`` for validated JSON, ``links``) plus
   the path parameters, and returns ``(status, body)``.
4. Every ``TroveLiteError`` becomes Trove's fault document via
   ``exceptions.fault_body``; anything else is logged once as a BUG and
   answered 500 instanceFault with no traceback.
"""

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, NoReturn
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import routes
import webob
from oslo_config import cfg

from trove_lite.api import (backup_schedules, backups, datastores, flavors, instances,
                            schemas, versions)
from trove_lite.api import opts as api_opts
from trove_lite.api import configurations, databases, logs, quotas, schema_migrations, server
from trove_lite.api import console, events, health, metrics
from trove_lite.api import openapi
from trove_lite.api import request_id
from trove_lite.api.views import JsonBody, Links
from trove_lite.exceptions import BadRequest, NotFound, TroveLiteError, fault_body
from trove_lite.instance.service import InstanceService
from trove_lite.api.context import new_request_id
from trove_lite.rpc.context import RequestContext
from trove_lite.db.session import Database
from trove_lite.rpc.taskmanager import TaskManagerAPI
from trove_lite.api import context as api_context

LOG = logging.getLogger(__name__)

ENVIRON_CONTEXT = "trove_lite.context"
ENVIRON_ROUTE = "trove_lite.route"  # the matched route template, for metrics
ENVIRON_REQUEST_CONTEXT = "trove_lite.request_context"  # the context a handler got
TENANT_MAX = 64
BUG_LINE = "Unexpected exception raised, please report it as a BUG"

# who asks: the auth middleware's context, or (no middleware) one for the URL tenant
Context = api_context.RequestContext | RequestContext
# the policy hook ``authorize(ctx, action, target)``: raises Forbidden to refuse (what
# it returns is not used)
Authorize = Callable[[Context, str, dict[str, Any]], object]

T = "/v1.0/{tenant_id}"
# path -> {HTTP method: (controller, handler name)}; order matters where
# a literal segment and a parameter compete (``instances/detail``).
ROUTES = [
    ("/", {"GET": ("versions", "index")}),
    ("/v1.0", {"GET": ("versions", "show")}),
    ("/v1.0/openapi.json", {"GET": ("openapi", "show")}),
    (T + "/instances", {"GET": ("instances", "index"), "POST": ("instances", "create")}),
    (T + "/instances/detail", {"GET": ("instances", "detail")}),
    (T + "/instances/{instance_id}", {"GET": ("instances", "show"),
                                      "PUT": ("instances", "update"),
                                      "PATCH": ("instances", "edit"),
                                      "DELETE": ("instances", "delete")}),
    (T + "/instances/{instance_id}/action", {"POST": ("instances", "action")}),
    (T + "/flavors", {"GET": ("flavors", "index")}),
    (T + "/flavors/{flavor_id}", {"GET": ("flavors", "show")}),
    (T + "/datastores", {"GET": ("datastores", "index")}),
    (T + "/datastores/versions/{version_id}", {"GET": ("datastores", "version_by_id")}),
    (T + "/datastores/{datastore}", {"GET": ("datastores", "show")}),
    (T + "/datastores/{datastore}/versions", {"GET": ("datastores", "versions")}),
    (T + "/datastores/{datastore}/versions/{version}", {"GET": ("datastores",
                                                                "version_show")}),
    (T + "/datastores/{datastore}/versions/{version}/flavors", {"GET": ("flavors",
                                                                        "for_version")}),
    # -- databases, users, root --
    (T + "/instances/{instance_id}/databases", {"GET": ("databases", "index"),
                                                "POST": ("databases", "create")}),
    (T + "/instances/{instance_id}/databases/{database}", {"DELETE": ("databases",
                                                                      "delete")}),
    (T + "/instances/{instance_id}/users", {"GET": ("users", "index"),
                                            "POST": ("users", "create"),
                                            "PUT": ("users", "update_all")}),
    (T + "/instances/{instance_id}/users/{user}", {"GET": ("users", "show"),
                                                   "PUT": ("users", "update"),
                                                   "DELETE": ("users", "delete")}),
    (T + "/instances/{instance_id}/users/{user}/databases", {
        "GET": ("users", "access_index"), "PUT": ("users", "access_grant")}),
    (T + "/instances/{instance_id}/users/{user}/databases/{database}", {
        "DELETE": ("users", "access_revoke")}),
    (T + "/instances/{instance_id}/root", {"GET": ("root", "index"),
                                           "POST": ("root", "create"),
                                           "DELETE": ("root", "delete")}),
    # -- configuration groups and parameters --
    (T + "/configurations", {"GET": ("configurations", "index"),
                             "POST": ("configurations", "create")}),
    (T + "/configurations/{configuration_id}", {"GET": ("configurations", "show"),
                                                "PATCH": ("configurations", "edit"),
                                                "PUT": ("configurations", "update"),
                                                "DELETE": ("configurations", "delete")}),
    (T + "/configurations/{configuration_id}/instances", {"GET": ("configurations",
                                                                  "instances")}),
    (T + "/datastores/versions/{version_id}/parameters", {
        "GET": ("configurations", "parameters_by_version")}),
    (T + "/datastores/versions/{version_id}/parameters/{name}", {
        "GET": ("configurations", "parameter_by_version")}),
    (T + "/datastores/{datastore}/versions/{version}/parameters", {
        "GET": ("configurations", "parameters")}),
    (T + "/datastores/{datastore}/versions/{version}/parameters/{name}", {
        "GET": ("configurations", "parameter")}),
    (T + "/instances/{instance_id}/configuration", {"GET": ("configurations",
                                                            "effective")}),
    # -- quotas, limits, mgmt --
    (T + "/limits", {"GET": ("limits", "index")}),
    (T + "/mgmt/quotas/{tenant}", {"GET": ("mgmt", "quota_show"),
                                   "PUT": ("mgmt", "quota_update")}),
    (T + "/mgmt/instances", {"GET": ("mgmt", "instance_index")}),
    (T + "/mgmt/instances/{instance_id}", {"GET": ("mgmt", "instance_show")}),
    (T + "/mgmt/instances/{instance_id}/action", {"POST": ("mgmt", "instance_action")}),
    (T + "/mgmt/instances/{instance_id}/rpc_ping", {"GET": ("mgmt", "rpc_ping")}),
    (T + "/mgmt/instances/{instance_id}/root", {"GET": ("mgmt", "root_history")}),
    # -- backups and backup strategies --
    (T + "/backups", {"GET": ("backups", "index"), "POST": ("backups", "create")}),
    (T + "/backups/{backup_id}", {"GET": ("backups", "show"),
                                  "DELETE": ("backups", "delete")}),
    (T + "/instances/{instance_id}/backups", {"GET": ("backups", "for_instance")}),
    (T + "/backup_strategies", {"GET": ("backups", "strategy_index"),
                                "POST": ("backups", "strategy_create"),
                                "DELETE": ("backups", "strategy_delete")}),
    # -- backup schedules --
    (T + "/backup_schedules", {"GET": ("backup_schedules", "index"),
                               "POST": ("backup_schedules", "create")}),
    (T + "/backup_schedules/{schedule_id}", {"GET": ("backup_schedules", "show"),
                                             "PATCH": ("backup_schedules", "update"),
                                             "DELETE": ("backup_schedules", "delete")}),
    # -- datastore logs --
    (T + "/instances/{instance_id}/log", {"GET": ("logs", "index"),
                                          "POST": ("logs", "action")}),
    (T + "/instances/{instance_id}/log/{log_name}", {"GET": ("logs", "show")}),
    # -- instance events (issue 20) --
    (T + "/instances/{instance_id}/events", {"GET": ("events", "index")}),
    (T + "/instances/{instance_id}/log/{log_name}/objects", {"GET": ("logs", "objects")}),
    (T + "/instances/{instance_id}/log/{log_name}/objects/{number}", {
        "GET": ("logs", "object_show")}),
    # -- online schema migrations --
    (T + "/instances/{instance_id}/schema_migrations", {
        "GET": ("schema_migrations", "index"), "POST": ("schema_migrations", "create")}),
    (T + "/instances/{instance_id}/schema_migrations/{migration_id}", {
        "GET": ("schema_migrations", "show")}),
    (T + "/instances/{instance_id}/schema_migrations/{migration_id}/action", {
        "POST": ("schema_migrations", "action")}),
]


class BadMediaType(TroveLiteError):
    http_status = 415
    code = "bad_media_type"
    message_format = "Unsupported Content-Type %(content_type)s; send application/json."


class BadMethod(TroveLiteError):
    http_status = 405
    code = "bad_method"
    message_format = "Method %(method)s is not allowed on %(path)s."


class RequestTooLarge(TroveLiteError):
    http_status = 413
    code = "request_too_large"
    message_format = "The request body is larger than the limit of %(limit)d bytes."


class BodyNotReceived(BadRequest):
    code = "body_not_received"
    message_format = "The request body was not received in full: %(reason)s"


class PathNotFound(NotFound):
    code = "path_not_found"
    message_format = "The resource %(path)s could not be found."


def allow_all(ctx: Context, action: str, target: dict[str, Any] | None) -> None:
    """The default policy hook: allow everything (no-auth mode)."""
    return None


class ApiRequest:
    """What a handler sees of one request."""

    def __init__(self, webob_request: webob.Request, tenant_id: str | None, ctx: Context,
                 authorize: Authorize, limits: dict[str, int]) -> None:
        self.webob = webob_request
        self._limits = limits
        # '' on the routes without a tenant (versions, openapi), which use neither
        # ``can`` nor ``links``
        self.tenant_id: str = tenant_id or ""
        self.ctx = ctx
        self._authorize = authorize
        try:
            self.params = dict(webob_request.GET)
        except UnicodeDecodeError:
            raise BadRequest(reason="the query string is not valid UTF-8") from None
        self.links = Links(webob_request.host_url, self.tenant_id)

    def can(self, action: str, target: dict[str, Any] | None = None) -> None:
        """Policy check; the hook raises Forbidden (403) when refused."""
        target = dict(target or {})
        target.setdefault("project_id", self.tenant_id)
        self._authorize(self.ctx, action, target)

    def body(self, schema: dict[str, Any] | None = None) -> Any:
        """The JSON body (validated against ``schema``): 400 if malformed, 415 if not JSON."""
        ctype = self.webob.content_type or ""
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            raise BadMediaType(content_type=ctype)
        raw = read_body(self.webob.environ, self._limits["max_request_body_size"])
        if not raw.strip():
            raise BadRequest(reason="a JSON request body is required")
        body = parse_json(raw, self._limits["max_json_depth"])
        if schema is not None:
            schemas.validate(schema, body)
        return body


def read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """At most ``limit`` bytes of the request body: 413 beyond, 400 if it stops coming.

    A Content-Length over the limit was refused before routing; a chunked body
    is read up to limit + 1 bytes.
    """
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    try:
        if length:
            raw = stream.read(int(length))
        else:
            raw = stream.read(limit + 1) if environ.get("HTTP_TRANSFER_ENCODING") else b""
    except (OSError, ValueError) as exc:  # socket timeout, reset, bad chunk framing
        raise BodyNotReceived(reason=str(exc) or type(exc).__name__) from None
    body_read = environ.get(server.ENVIRON_BODY_READ)
    if body_read is not None:
        body_read()  # the server's request deadline no longer applies
    if len(raw) > limit:
        raise RequestTooLarge(limit=limit)
    if length and len(raw) < int(length):
        raise BodyNotReceived(reason="%d of %s bytes" % (len(raw), length))
    return raw


def parse_json(raw: bytes, max_depth: int) -> Any:
    """Decoded JSON, no deeper than ``max_depth`` and with every string storable."""
    _check_depth(raw, max_depth)
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise BadRequest(reason="malformed JSON in request body: %s" % e) from None
    _check_strings(body)
    return body


def _no_constant(name: str) -> NoReturn:
    """NaN and Infinity are not JSON (Python's parser takes them by default)."""
    raise ValueError("%s is not a JSON number" % name)


def _check_depth(raw: bytes, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` before parsing (the parser would
    recurse); brackets inside strings are skipped."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return  # cannot be deeper; skips the byte loop for nearly every body
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                raise BadRequest(reason="the JSON body is nested too deep (more than %d "
                                        "levels)" % max_depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1


def _check_strings(value: Any) -> None:
    """Lone surrogates (``"\\ud800"``) decode but can be neither stored nor encoded."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest(reason="a string in the body holds a lone UTF-16 "
                                        "surrogate") from None


class App:
    """The routed WSGI application (use ``make_app``)."""

    def __init__(self, conf: cfg.ConfigOpts, controllers: dict[str, Any],
                 authorize: Authorize | None = None,
                 metrics_: metrics.Metrics | None = None) -> None:
        api_opts.register(conf)
        self.metrics = metrics_
        self.conf = conf
        self.limits = {"max_request_body_size": conf.api.max_request_body_size,
                       "max_json_depth": conf.api.max_json_depth}
        self.controllers = controllers
        self.authorize = authorize or allow_all
        self.mapper = routes.Mapper()
        self.table = {}
        for path, methods in ROUTES:
            self.mapper.connect(path, path)
            self.table[path] = methods

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = webob.Request(environ)
        started = time.monotonic()
        try:
            status, body, headers = self._dispatch(request)
        except TroveLiteError as exc:
            status, body = fault_body(exc)
            headers = _fault_headers(exc)
        except Exception:
            LOG.exception(BUG_LINE)
            status, body = fault_body(TroveLiteError())
            headers = []
        response = webob.Response(status=status, headerlist=list(headers))
        if body is not None:
            response.content_type = "application/json"
            response.charset = "utf-8"
            response.body = json.dumps(body).encode("utf-8")
        elapsed = time.monotonic() - started
        LOG.info("%s %s -> %d (%.1f ms)", request.method, _loggable_path(environ), status,
                 elapsed * 1000)
        if self.metrics is not None:
            self.metrics.observe(request.method, environ.get(ENVIRON_ROUTE), status, elapsed)
        return response(environ, start_response)

    def _dispatch(self,
                  request: webob.Request) -> tuple[int, JsonBody | None, list[tuple[str, str]]]:
        length = request.environ.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > self.limits["max_request_body_size"]:
            raise RequestTooLarge(limit=self.limits["max_request_body_size"])
        try:
            path = request.path_info.rstrip("/") or "/"
        except UnicodeDecodeError:
            raise BadRequest(reason="the request path is not valid UTF-8") from None
        match = self.mapper.routematch(path)
        if match is None:
            raise PathNotFound(path=path)
        params, route = match
        request.environ[ENVIRON_ROUTE] = route.routepath
        methods = self.table[route.routepath]
        if request.method not in methods:
            raise BadMethod(method=request.method, path=path, allow=sorted(methods))
        controller, name = methods[request.method]
        tenant_id = params.pop("tenant_id", None)
        if tenant_id is not None:
            validate_tenant(tenant_id)
        ctx = self._context(request.environ, tenant_id)
        request.environ[ENVIRON_REQUEST_CONTEXT] = ctx
        api_request = ApiRequest(request, tenant_id, ctx, self.authorize, self.limits)
        result = getattr(self.controllers[controller], name)(api_request, **params)
        status, body = result[0], result[1]
        return status, body, (result[2] if len(result) > 2 else [])

    @staticmethod
    def _context(environ: WSGIEnvironment, tenant_id: str | None) -> Context:
        ctx = environ.get(ENVIRON_CONTEXT)
        if ctx is None:  # no auth middleware: the id api/request_id.py decided
            return RequestContext(project_id=tenant_id, request_id=environ.get(
                request_id.ENVIRON_KEY) or new_request_id())
        if tenant_id is not None and ctx.project_id != tenant_id and not ctx.is_admin:
            # the auth middleware refuses this first; answer as it does (404), so
            # another project's tenant path looks like a missing resource
            raise PathNotFound(path="/v1.0/%s" % tenant_id)
        return ctx


def validate_tenant(tenant_id: str) -> None:
    """A path's tenant must fit the tenant columns (64) and hold no control characters."""
    if len(tenant_id) > TENANT_MAX or any(ord(c) < 32 or ord(c) == 127 for c in tenant_id):
        raise BadRequest(reason="the tenant in the path must be at most %d printable "
                                "characters" % TENANT_MAX)


def _fault_headers(exc: TroveLiteError) -> list[tuple[str, str]]:
    if isinstance(exc, BadMethod):
        return [("Allow", ", ".join(exc.kwargs["allow"]))]
    if isinstance(exc, (RequestTooLarge, BodyNotReceived)):
        # the rest of the body is not read: this connection cannot carry another request
        return [("Connection", "close")]
    return []


def _loggable_path(environ: WSGIEnvironment) -> str:
    """The raw path for the log line (webob's path_qs fails on undecodable bytes)."""
    path = environ.get("PATH_INFO", "")
    qs = environ.get("QUERY_STRING")
    return (path + "?" + qs if qs else path).encode("latin-1", "replace").decode(
        "utf-8", "replace")


class OpsApp:
    """``/healthz``, ``/readyz``, ``/metrics`` and the console's static files in front
    of everything else, unauthenticated (outside the auth middleware) and outside /v1.0."""

    def __init__(self, app: WSGIApplication, readiness: health.Readiness,
                 metrics_: metrics.Metrics) -> None:
        self.app = app
        self.readiness = readiness
        self.metrics = metrics_
        self.console = console.Console()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if console.Console.handles(path):
            return self.console(environ, start_response)
        if path not in ("/healthz", "/readyz", "/metrics"):
            return self.app(environ, start_response)
        response = webob.Response()
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, body = fault_body(BadMethod(method=environ.get("REQUEST_METHOD"),
                                                path=path, allow=["GET", "HEAD"]))
            response.headerlist = [("Allow", "GET, HEAD")]
        elif path == "/metrics":
            response.content_type, response.body = self.metrics.exposition()
            return response(environ, start_response)
        elif path == "/healthz":
            status, body = 200, {"status": "ok"}
        else:
            try:
                self.readiness.check()
                status, body = 200, {"status": "ready"}
            except TroveLiteError as exc:
                status, body = fault_body(exc)
        response.status = status
        response.content_type = "application/json"
        response.charset = "utf-8"
        response.body = json.dumps(body).encode("utf-8")
        return response(environ, start_response)


def make_app(conf: cfg.ConfigOpts, db: Database, taskmanager_api: TaskManagerAPI,
             middleware: Iterable[Callable[[WSGIApplication], WSGIApplication]] = (),
             authorize: Authorize | None = None) -> OpsApp:
    """The WSGI app. ``middleware``: callables ``app -> app``, first is outermost.

    ``authorize(ctx, action, target)`` is the policy hook (raise Forbidden to
    refuse); None allows everything.
    """
    service = InstanceService(conf, db, taskmanager_api)
    controllers = {
        "versions": versions.VersionsController(),
        "instances": instances.InstancesController(conf, service),
        "flavors": flavors.FlavorsController(db),
        "datastores": datastores.DatastoresController(db, conf),
        # -- databases, users, root --
        **databases.make_controllers(conf, db, service),
        # -- configuration groups and parameters --
        "configurations": configurations.ConfigurationsController(conf, db),
        # -- quotas, limits, mgmt --
        **quotas.make_controllers(conf, db, service),
        # -- backups and backup strategies --
        "backups": backups.BackupsController(conf, db, taskmanager_api),
        "backup_schedules": backup_schedules.BackupSchedulesController(conf, db),
        # -- datastore logs --
        **logs.make_controllers(conf, db, service),
        # -- online schema migrations --
        **schema_migrations.make_controllers(conf, db, service),
        # -- instance events --
        "events": events.EventsController(conf, db, service),
    }
    controllers["openapi"] = openapi.OpenApiController(ROUTES, controllers)
    app_metrics = metrics.Metrics(db)
    app: WSGIApplication = App(conf, controllers, authorize, app_metrics)
    for mw in reversed(list(middleware)):
        app = mw(app)
    app = request_id.RequestIdMiddleware(app)  # outside auth: its refusals carry the id too
    return OpsApp(app, health.Readiness(conf, db), app_metrics)
