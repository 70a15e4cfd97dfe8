"""Policy defaults, the request context, and the no-auth middleware (no Keystone)."""

import importlib.metadata
import json
import logging
import os
import subprocess
import sys

import pytest
import webob

from trove_lite import config
from trove_lite.api import auth, policy
from trove_lite.api.context import CONTEXT_KEY, RequestContext
from trove_lite.exceptions import Forbidden

REPO = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir)
SAMPLE = os.path.join(REPO, "etc", "policy.yaml.sample")


@pytest.fixture
def conf(tmp_path):
    return config.make_conf(overrides={"oslo_policy.policy_file":
                                       str(tmp_path / "policy.yaml")})


@pytest.fixture
def enforcer(conf):
    return policy.make_enforcer(conf)


def member(project="p1"):
    return RequestContext(project_id=project, user_id="u1", roles=("member",))


def admin(project="adminproj"):
    return RequestContext(project_id=project, user_id="a1", roles=("admin",),
                          is_admin=True)


# -- policy ------------------------------------------------------------------------
def test_every_rule_has_a_documented_default_and_the_families_are_there():
    names = {r.name for r in policy.list_rules()}
    for prefix in ("instance:", "database:", "user:", "root:", "configuration:",
                   "backup:", "backup_strategy:", "flavor:", "datastore:", "limits:",
                   "quota:", "mgmt:"):
        assert any(n.startswith(prefix) for n in names), prefix
    assert {"instance:create", "instance:index", "instance:show", "instance:delete",
            "instance:update", "instance:action:restart"} <= names


def test_owner_may_act_on_own_project_not_on_another(enforcer):
    assert policy.enforce(enforcer, member(), "instance:delete", {"project_id": "p1"})
    with pytest.raises(Forbidden) as info:
        policy.enforce(enforcer, member(), "instance:delete", {"project_id": "p2"})
    assert info.value.http_status == 403
    assert info.value.message == "Policy does not allow instance:delete."


def test_default_target_is_the_url_tenant(enforcer):
    ctx = RequestContext(project_id="p1", user_id="u", roles=("member",), tenant="p1")
    assert policy.enforce(enforcer, ctx, "instance:index")


def test_admin_only_actions(enforcer):
    for action in ("mgmt:access", "mgmt:instance:index", "quota:update", "quota:show",
                   "instance:action:reset_status"):
        with pytest.raises(Forbidden):
            policy.enforce(enforcer, member(), action, {"project_id": "p1"})
        assert policy.enforce(enforcer, admin(), action, {"project_id": "p1"})


def test_admin_role_without_is_admin_flag_is_admin(enforcer):
    ctx = RequestContext(project_id="x", user_id="u", roles=("admin",))
    assert policy.enforce(enforcer, ctx, "mgmt:access")
    assert policy.enforce(enforcer, admin(), "instance:show", {"project_id": "other"})


def test_policy_file_overrides_a_default(conf, tmp_path):
    (tmp_path / "policy.yaml").write_text('"instance:create": "role:creator"\n')
    enforcer = policy.make_enforcer(conf)
    with pytest.raises(Forbidden):
        policy.enforce(enforcer, member(), "instance:create", {"project_id": "p1"})
    creator = RequestContext(project_id="p1", user_id="u", roles=("creator",))
    assert policy.enforce(enforcer, creator, "instance:create", {"project_id": "p1"})


def test_committed_policy_sample_is_current():
    with open(SAMPLE) as f:
        assert f.read() == policy.sample_text(), \
            "regenerate: .venv/bin/python -m trove_lite.api.policy etc/policy.yaml.sample"


def test_policy_sample_generator_entry_point_when_installed():
    eps = importlib.metadata.entry_points(group="oslo.policy.policies")
    if not any(ep.name == "trove_lite" for ep in eps):
        pytest.skip("entry point oslo.policy.policies trove_lite not installed yet")
    tool = os.path.join(os.path.dirname(sys.executable), "oslopolicy-sample-generator")
    out = subprocess.run([tool, "--namespace", "trove_lite"], capture_output=True,
                         text=True, check=True).stdout
    with open(SAMPLE) as f:
        assert out == f.read()


# -- context -----------------------------------------------------------------------
def test_context_from_keystone_headers():
    headers = {"X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": "reader, member",
               "X-Auth-Token": "tok", "X-Project-Name": "alpha"}
    ctx = RequestContext.from_keystone_headers(headers, tenant="p1", request_id="req-1")
    assert (ctx.project_id, ctx.user_id, ctx.roles, ctx.is_admin, ctx.tenant) == \
        ("p1", "u1", ("reader", "member"), False, "p1")
    assert "tok" not in repr(ctx)
    admin_ctx = RequestContext.from_keystone_headers({"X-Roles": "Admin"})
    assert admin_ctx.is_admin


def test_context_round_trips_for_rpc_without_token():
    ctx = RequestContext.from_keystone_headers(
        {"X-Project-Id": "p", "X-User-Id": "u", "X-Roles": "member", "X-Auth-Token": "t"})
    data = json.loads(json.dumps(ctx.to_dict()))
    assert "auth_token" not in data
    assert RequestContext.from_dict(data) == RequestContext(**{**data, "roles": ("member",)})


def test_noauth_context():
    assert RequestContext.for_noauth("demo", ["admin"]).is_admin is False
    ctx = RequestContext.for_noauth("admin", ["admin"])
    assert ctx.is_admin and ctx.project_id == ctx.tenant == "admin"


# -- no-auth middleware --------------------------------------------------------------
def echo_app(environ, start_response):
    ctx = environ.get(CONTEXT_KEY)
    body = json.dumps(ctx.to_dict() if ctx else None).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def test_noauth_takes_tenant_from_url_and_ignores_identity_headers(conf, enforcer):
    app = auth.wrap_app(echo_app, conf, enforcer)
    resp = webob.Request.blank("/v1.0/demo/instances", headers={
        "X-Project-Id": "someone-else", "X-Roles": "admin",
        "X-Auth-Token": "notused"}).get_response(app)
    assert resp.status_int == 200
    assert resp.json["project_id"] == "demo" and resp.json["is_admin"] is False


def test_noauth_mgmt_needs_an_admin_tenant(conf, enforcer):
    app = auth.wrap_app(echo_app, conf, enforcer)
    resp = webob.Request.blank("/v1.0/demo/mgmt/instances").get_response(app)
    assert resp.status_int == 403
    assert resp.json == {"forbidden": {"code": 403,
                                       "message": "Policy does not allow mgmt:access."}}
    assert webob.Request.blank("/v1.0/admin/mgmt/instances").get_response(app).json[
        "is_admin"] is True


def test_version_documents_pass_without_context(conf, enforcer):
    app = auth.wrap_app(echo_app, conf, enforcer)
    assert webob.Request.blank("/").get_response(app).json is None


def test_noauth_is_logged_clearly_at_start(conf, enforcer, caplog):
    with caplog.at_level(logging.WARNING, logger="trove_lite.api.auth"):
        auth.wrap_app(echo_app, conf, enforcer)
    assert "Authentication is OFF" in caplog.text and "admin" in caplog.text


def test_list_opts_registers_on_a_private_conf():
    conf = config.make_conf()
    assert conf.api.auth_strategy == "noauth"
    assert conf.keystone_authtoken.delay_auth_decision is False
    with pytest.raises(ValueError):
        conf.set_override("auth_strategy", "ldap", group="api")
