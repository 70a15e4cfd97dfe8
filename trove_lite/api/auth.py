"""Authentication for the API: Keystone tokens or the no-auth default.

Pipeline built by :func:`wrap_app` (outermost first)::

    keystone:  keystonemiddleware.auth_token -> AuthContextMiddleware -> app
    noauth:    AuthContextMiddleware -> app

keystonemiddleware runs with ``delay_auth_decision = True``: it validates the
token and sets ``X-Identity-Status`` but never answers itself, so every refusal
is in Trove's fault format and made here, in one place:

* no token, or an invalid or expired one: 401 ``unauthorized`` (with the
  ``WWW-Authenticate: Keystone uri=...`` header clients use to find Keystone);
* a token whose project differs from the ``/v1.0/{tenant}/`` in the path: 404
  ``itemNotFound`` unless the user is admin. Trove answers 403 here; we answer
  exactly what a missing resource gets, so that reaching another project's
  instance through its tenant path and through one's own path (where the
  handler's project-scoped lookup finds nothing) look the same, and a probe
  learns nothing about which tenants or ids exist;
* any path under ``/v1.0/{tenant}/mgmt``: policy ``mgmt:access`` (admin), 403.

The version documents (``/`` and ``/v1.0/``) and the OpenAPI document
(``/v1.0/openapi.json``) need no token.

Timing: with a token keystonemiddleware has not seen, one validation call to
Keystone (measured 8-17 ms here with Keystone's in-memory cache); afterwards the
middleware's in-process token cache answers (``token_cache_time``, 300 s). If
Keystone is unreachable, keystonemiddleware marks the token invalid and the
request gets 401 (after its ``http_connect_timeout``).
"""

import json
import logging
import re
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_policy import opts as policy_opts
from oslo_policy import policy as oslo_policy

from trove_lite.api import context as ctx
from trove_lite.api import policy
from trove_lite.exceptions import fault_body, Forbidden, NotFound, TroveLiteError, Unauthorized
from trove_lite.api.request_id import ENVIRON_KEY as REQUEST_ID_KEY

LOG = logging.getLogger(__name__)

AUTH_OPTS = [
    cfg.StrOpt("auth_strategy", default="noauth",
               choices=[("noauth", "No authentication: the tenant in the URL is the "
                                   "project; anyone who reaches the port can act as "
                                   "any project. For a single-user embedded setup."),
                        ("keystone", "Keystone tokens checked by keystonemiddleware "
                                     "([keystone_authtoken]); the token's project must "
                                     "match the URL tenant.")],
               help="How API requests are authenticated."),
    cfg.ListOpt("noauth_admin_projects", default=["admin"],
                help="No-auth mode only: URL tenants whose requests count as admin "
                     "(may use /mgmt/ and other admin-only actions)."),
    cfg.ListOpt("admin_roles", default=["admin"],
                help="Keystone mode only: roles that make a request admin "
                     "(is_admin in policy checks)."),
]

NOAUTH_WARNING = (
    "Authentication is OFF ([api] auth_strategy = noauth): the tenant in each URL is "
    "trusted as the caller's project and nothing is verified; anyone who can reach "
    "this API can act as any project, and tenants %s are admin. Set [api] "
    "auth_strategy = keystone and [keystone_authtoken] to use Keystone.")

_TENANT_PATH = re.compile(r"^/v1\.0/(?P<tenant>[^/]+)(?P<rest>/.*)?$")
_PUBLIC_PATHS = {"", "/", "/v1.0", "/v1.0/", "/v1.0/openapi.json"}


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Options this module reads: ``[api]`` here, plus keystonemiddleware's and
    oslo.policy's groups so the sample config documents them."""
    return ([("api", list(AUTH_OPTS))] + auth_token.list_opts()
            + policy_opts.list_opts())


def register_opts(conf: cfg.ConfigOpts) -> None:
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)


def keystone_filter(app: WSGIApplication, conf: cfg.ConfigOpts) -> WSGIApplication:
    """keystonemiddleware.auth_token around ``app``, configured from ``conf``.

    Reads ``[keystone_authtoken]`` (www_authenticate_uri, auth_url, auth_type,
    username, password, project_name, user_domain_name, project_domain_name, ...)
    from ``conf``, never from the global CONF. The decision is delayed: see the
    module docstring.
    """
    return auth_token.AuthProtocol(app, {"oslo_config_config": conf,
                                         "delay_auth_decision": True})


def fault_response(exc: TroveLiteError, start_response: StartResponse,
                   headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    status, body = fault_body(exc)
    data = json.dumps(body).encode()
    reason = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
    start_response("%d %s" % (status, reason),
                   [("Content-Type", "application/json"),
                    ("Content-Length", str(len(data)))] + list(headers))
    return [data]


class AuthContextMiddleware:
    """Turns a request into a RequestContext, or refuses it (401/404/403)."""

    def __init__(self, app: WSGIApplication, conf: cfg.ConfigOpts,
                 enforcer: oslo_policy.Enforcer) -> None:
        self.app = app
        self.conf = conf
        self.enforcer = enforcer
        self.keystone = conf.api.auth_strategy == "keystone"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in _PUBLIC_PATHS:
            return self.app(environ, start_response)
        match = _TENANT_PATH.match(path)
        tenant = match.group("tenant") if match else None
        rest = (match.group("rest") or "") if match else ""
        # decided, bound and answered once by api/request_id.py, in front of us
        request_id = environ.get(REQUEST_ID_KEY) or ctx.new_request_id()
        if self.keystone:
            if environ.get("HTTP_X_IDENTITY_STATUS") != "Confirmed":
                return fault_response(Unauthorized(), start_response,
                                      [("WWW-Authenticate", self._authenticate_header())])
            context = ctx.RequestContext.from_keystone_headers(
                _Headers(environ), tenant=tenant, request_id=request_id,
                admin_roles=self.conf.api.admin_roles)
            if tenant is not None and tenant != context.project_id \
                    and not context.is_admin:
                LOG.info("%s: project %s refused on tenant path %s (404)",
                         request_id, context.project_id, tenant)
                return fault_response(NotFound("The resource could not be found."),
                                      start_response)
        else:
            context = ctx.RequestContext.for_noauth(
                tenant, self.conf.api.noauth_admin_projects, request_id)
        if rest == "/mgmt" or rest.startswith("/mgmt/"):
            try:
                policy.enforce(self.enforcer, context, "mgmt:access")
            except Forbidden as exc:
                return fault_response(exc, start_response)
        environ[ctx.CONTEXT_KEY] = context
        return self.app(environ, start_response)

    def _authenticate_header(self) -> str:
        uri = self.conf.keystone_authtoken.www_authenticate_uri
        return "Keystone uri=\"%s\"" % uri if uri else "Keystone"


class _Headers:
    """Read-only, case-insensitive view of the HTTP headers in a WSGI environ."""

    def __init__(self, environ: WSGIEnvironment) -> None:
        self.environ = environ

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"), default)


def wrap_app(app: WSGIApplication, conf: cfg.ConfigOpts,
             enforcer: oslo_policy.Enforcer | None = None,
             log: logging.Logger = LOG) -> WSGIApplication:
    """The authenticated application for ``conf.api.auth_strategy``.

    Logs at start which mode is in force (a WARNING for no-auth). ``enforcer``
    defaults to ``policy.make_enforcer(conf)``.
    """
    enforcer = enforcer or policy.make_enforcer(conf)
    wrapped: WSGIApplication = AuthContextMiddleware(app, conf, enforcer)
    if conf.api.auth_strategy == "keystone":
        wrapped = keystone_filter(wrapped, conf)
        log.info("Authentication: Keystone tokens (%s); the token's project must "
                 "match the tenant in the URL.",
                 conf.keystone_authtoken.www_authenticate_uri)
    else:
        log.warning(NOAUTH_WARNING, ", ".join(conf.api.noauth_admin_projects) or "none")
    return wrapped
