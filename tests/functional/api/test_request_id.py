"""One request id per API request: the API answers it in one header, takes a
valid one from the client, and the taskmanager cast carries it."""

import uuid

import pytest
import webob

from trove_lite.api import auth, wsgi
from trove_lite.rpc.taskmanager import TaskManagerAPI


def _create(api_env, tenant, headers=None):
    return api_env.http("POST", tenant, "/instances", headers=headers, body={"instance": {
        "name": "rid-" + uuid.uuid4().hex[:6], "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": "mariadb", "version": "10.11"}}})


def _ids(resp):
    return resp.raw.headers.getlist("X-OpenStack-Request-ID")


def test_one_id_in_one_header_and_on_the_cast(api_env, tenant):
    resp = _create(api_env, tenant)
    assert resp.status_code == 200, resp.text
    ids = _ids(resp)
    assert len(ids) == 1 and ids[0].startswith("req-"), ids
    inst = resp.json()["instance"]["id"]
    api_env.recorder.wait_for("create_instance", inst)
    assert [r for m, i, r in api_env.recorder.request_ids if i == inst] == ids


def test_a_valid_client_id_is_kept_an_invalid_one_replaced(api_env, tenant):
    mine = "req-" + str(uuid.uuid4())
    resp = api_env.http("GET", tenant, "/instances", headers={"X-OpenStack-Request-ID": mine})
    assert resp.status_code == 200 and _ids(resp) == [mine]
    resp = api_env.http("GET", tenant, "/instances",
                        headers={"X-OpenStack-Request-ID": "req-\x7f<script>"})
    ids = _ids(resp)
    assert len(ids) == 1 and ids[0] != "req-\x7f<script>" and ids[0].startswith("req-")
    fault = api_env.http("GET", tenant, "/instances/nope")
    assert fault.status_code == 404 and len(_ids(fault)) == 1


@pytest.fixture(scope="module")
def authed_app(api_env):
    """The API as the services build it: the auth middleware in front (no-auth)."""
    return wsgi.make_app(api_env.conf, api_env.db, TaskManagerAPI(api_env.conf),
                         middleware=[lambda inner: auth.wrap_app(inner, api_env.conf)])


def test_behind_the_auth_middleware_too_one_header(authed_app, tenant):
    mine = "req-" + str(uuid.uuid4())
    for path, status in (("/instances", 200), ("/instances/nope", 404)):
        req = webob.Request.blank("/v1.0/%s%s" % (tenant, path),
                                  headers={"X-OpenStack-Request-ID": mine})
        resp = req.get_response(authed_app)
        assert resp.status_int == status
        assert [v for k, v in resp.headerlist
                if k.lower() == "x-openstack-request-id"] == [mine]
