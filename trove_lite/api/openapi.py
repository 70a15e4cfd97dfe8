"""The OpenAPI 3.1 document of the v1.0 API, served at ``GET /v1.0/openapi.json``.

It is generated, never written by hand, so it cannot drift from what the API
does:

- every path and method comes from ``wsgi.ROUTES`` (the one routing table);
- every request body schema is the very object the handler validates with:
  the handler's source is read for its ``req.body(SCHEMA)`` call and
  ``SCHEMA`` is evaluated in the handler's module (so a handler that starts
  validating a new schema documents it at once);
- every refusal is Trove's fault document, ``{"<name>": {"code", "message"}}``
  (``exceptions.fault_body``), documented as ``4XX`` on every operation.

Success bodies are documented as JSON objects (their shapes are Trove's, in
docs/trove-api.md); an operation answering 202/204 may have no body.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING
import ast
import copy
import functools
import inspect
import re
import textwrap
from collections.abc import Callable, Sequence

from trove_lite.api import schemas
from trove_lite.exceptions import FAULT_NAMES
from trove_lite.api.views import Result

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest

OPENAPI_VERSION = "3.1.0"
PATH_PARAM = re.compile(r"{([^}]+)}")
FAULT_SCHEMA = {
    "type": "object", "minProperties": 1, "maxProperties": 1,
    "propertyNames": {"enum": sorted(set(FAULT_NAMES.values()))},
    "additionalProperties": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "integer", "minimum": 400, "maximum": 599},
                       "message": {"type": "string"}}},
}
TENANT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 64,
                 "pattern": schemas.NO_CONTROL}


def body_schema(handler: Callable[..., Any]) -> tuple[dict | None, bool]:
    """(schema, required) of the body ``handler`` validates, or (None, False).

    The schema is the object named in the handler's ``req.body(...)`` call; a
    call inside an ``if`` (root enable without a password) is optional.
    """
    func = inspect.unwrap(handler)
    func = getattr(func, "__func__", func)
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child._parent = node  # type: ignore[attr-defined]  # for the optional check
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "body" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "req"):
            if not node.args:
                return {"type": "object"}, True
            expr = ast.Expression(node.args[0])
            schema = eval(compile(expr, "<schema>", "eval"), func.__globals__)  # noqa: S307
            return schema, not _inside_if(node)
    return None, False


def _inside_if(node: ast.AST) -> bool:
    while hasattr(node, "_parent"):
        node = node._parent  # noqa: SLF001
        if isinstance(node, ast.If):
            return True
    return False


def _jsonschema_2020(schema: dict[str, Any]) -> dict[str, Any]:
    """Our draft-7 schemas read the same in OpenAPI 3.1 (JSON Schema 2020-12);
    a deep copy so the document never aliases a live schema."""
    return copy.deepcopy(schema)


def _operation(path: str, method: str, controller: str, name: str,
               handler: Callable[..., Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": "%s.%s" % (controller, name),
        "tags": [controller],
        "responses": {
            "2XX": {"description": "Success (Trove's shapes; 202/204 may carry no body)",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "4XX": {"description": "Refused: Trove's fault document",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Fault"}}}},
        },
    }
    doc = inspect.getdoc(handler)
    if doc:
        op["description"] = doc
    params = []
    for param in PATH_PARAM.findall(path):
        param_schema = (TENANT_SCHEMA if param == "tenant_id"
                        else {"type": "string", "minLength": 1})
        params.append({"name": param, "in": "path", "required": True,
                       "schema": param_schema})
    if params:
        op["parameters"] = params
    schema, required = body_schema(handler)
    if schema is not None:
        op["requestBody"] = {"required": required, "content": {
            "application/json": {"schema": _jsonschema_2020(schema)}}}
    return op


def build(routes: Sequence[tuple[str, dict[str, tuple[str, str]]]],
          controllers: dict[str, Any]) -> dict:
    """The document for ``routes`` (``wsgi.ROUTES``) served by ``controllers``."""
    paths: dict = {}
    for path, methods in routes:
        item = paths.setdefault(path, {})
        for method, (controller, name) in sorted(methods.items()):
            handler = getattr(controllers[controller], name)
            item[method.lower()] = _operation(path, method, controller, name, handler)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "trove-lite Database service API", "version": "1.0",
                 "description": "OpenStack Trove's v1.0 API as trove-lite serves it."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": {"Fault": FAULT_SCHEMA}},
    }


class OpenApiController:
    """``GET /v1.0/openapi.json`` (no tenant, no token: like the version documents)."""

    def __init__(self, routes: Sequence[tuple[str, dict[str, tuple[str, str]]]],
                 controllers: dict[str, Any]) -> None:
        self._routes = routes
        self._controllers = controllers

    @functools.cached_property
    def document(self) -> dict:
        return build(self._routes, self._controllers)

    def show(self, req: ApiRequest) -> Result:
        doc = dict(self.document)
        doc["servers"] = [{"url": req.webob.host_url}]
        return 200, doc
