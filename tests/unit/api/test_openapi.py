"""``GET /v1.0/openapi.json``: every route of the API, with the schemas it validates.

The document is generated from ``wsgi.ROUTES`` and the handlers' own
``req.body(SCHEMA)`` calls; these tests fail when a route or a body schema is
missing from what a client downloads.
"""

import json

import jsonschema
import pytest
import webob

from tests.unit.api.test_schemas import BODY_SCHEMAS
from trove_lite.api import openapi, wsgi
from trove_lite.config import make_conf
from trove_lite.db.session import Database


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi")
    conf = make_conf(overrides={"state_dir": str(tmp)})
    db = Database("sqlite:///%s/control.sqlite" % tmp)
    app = wsgi.make_app(conf, db, taskmanager_api=None)
    response = webob.Request.blank("/v1.0/openapi.json").get_response(app)
    yield response
    db.dispose()


@pytest.fixture(scope="module")
def document(served):
    return json.loads(served.body)


def test_served_without_tenant_as_openapi_31(served, document):
    assert served.status_int == 200
    assert served.content_type == "application/json"
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://localhost"}]


def test_every_route_and_method_is_documented(document):
    for path, methods in wsgi.ROUTES:
        assert path in document["paths"], "route %s missing from the document" % path
        documented = {m.upper() for m in document["paths"][path]}
        assert documented == set(methods), path


def test_every_validated_body_is_documented_with_its_own_schema(document):
    documented = []
    for item in document["paths"].values():
        for op in item.values():
            body = op.get("requestBody")
            if body:
                documented.append(body["content"]["application/json"]["schema"])
    for label, schema in BODY_SCHEMAS.items():
        assert schema in documented, "%s body schema missing from the document" % label


def test_instance_create_documents_the_strict_schema(document):
    op = document["paths"]["/v1.0/{tenant_id}/instances"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert op["requestBody"]["required"] is True
    assert schema["properties"]["instance"]["additionalProperties"] is False
    assert [p["name"] for p in op["parameters"]] == ["tenant_id"]


def test_root_enable_body_is_optional(document):
    op = document["paths"]["/v1.0/{tenant_id}/instances/{instance_id}/root"]["post"]
    assert op["requestBody"]["required"] is False


def test_refusals_are_documented_as_troves_fault(document):
    fault = document["components"]["schemas"]["Fault"]
    jsonschema.validate({"itemNotFound": {"code": 404, "message": "x"}}, fault)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"error": "x"}, fault)
    for item in document["paths"].values():
        for op in item.values():
            assert op["responses"]["4XX"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Fault"}


def test_a_new_route_appears_in_the_document():
    class Controller:
        def make(self, req):
            return 200, {}

        def change(self, req, thing_id):
            req.body({"type": "object", "required": ["x"]})
            return 202, None

    routes = [("/v1.0/{tenant_id}/things", {"POST": ("things", "make")}),
              ("/v1.0/{tenant_id}/things/{thing_id}", {"PUT": ("things", "change")})]
    doc = openapi.build(routes, {"things": Controller()})
    assert set(doc["paths"]) == {path for path, _ in routes}
    assert "requestBody" not in doc["paths"]["/v1.0/{tenant_id}/things"]["post"]
    put = doc["paths"]["/v1.0/{tenant_id}/things/{thing_id}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["required"] == ["x"]
