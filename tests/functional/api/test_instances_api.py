"""The REST API driven with python-troveclient (and raw HTTP for bodies it never sends).

Each test runs against SQLite and against the machine's MariaDB, with a real
RPC server recording the taskmanager casts.
"""

import logging
import re

import pytest
import requests
from sqlalchemy import update
from troveclient import exceptions as tc_exc

from trove_lite.api import auth, policy
from trove_lite.api import server as api_server
from trove_lite.api import wsgi
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.guestagent.datastore.mariadb import sql
from trove_lite.taskmanager.instance_flows import adopt_claims

pytestmark = pytest.mark.slow

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


def create(env, tenant, name="db1", flavor="1", size=2, **kwargs):
    kwargs.setdefault("datastore", "mariadb")
    return env.client(tenant).instances.create(name, flavor, volume={"size": size}, **kwargs)


def fault(resp, name, code):
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert list(body) == [name], body
    assert body[name]["code"] == code
    return body[name]["message"]


def test_create_returns_build_and_stores_users_and_databases(api_env, tenant):
    users = [{"name": "app", "password": "s3cret!", "databases": [{"name": "shop"}]}]
    inst = create(api_env, tenant, name="shop-db", databases=[{"name": "shop"}], users=users,
                  datastore_version="10.11")
    assert inst.status == "BUILD"
    assert inst.operating_status == "NEW"
    assert inst.datastore == {"type": "mariadb", "version": "10.11", "version_number": "10.11.6"}
    assert inst.volume["size"] == 2 and inst.flavor["id"] == "1"
    cast = api_env.recorder.wait_for("create_instance", inst.id)
    assert "s3cret!" not in repr(cast)   # no password on the bus
    request = api_env.create_request(inst.id)
    assert [d["name"] for d in request["databases"]] == ["shop"]
    assert request["users"] == [{"name": "app", "host": "%", "databases": ["shop"],
                                 "password_hash": sql.native_password_hash("s3cret!")}]

    shown = api_env.client(tenant).instances.get(inst.id)
    assert shown.name == "shop-db" and shown.status == "BUILD"
    assert ISO.match(shown.created) and ISO.match(shown.updated)
    assert ISO.match(shown.service_status_updated)
    rels = {link["rel"]: link["href"] for link in shown.links}
    assert rels["self"] == "%s/v1.0/%s/instances/%s" % (api_env.url, tenant, inst.id)
    assert rels["bookmark"] == "%s/%s/instances/%s" % (api_env.url, tenant, inst.id)
    assert shown.ip == [] and shown.region == "RegionOne"
    assert shown.access == {"is_public": False, "allowed_cidrs": []}

    # the guest came up: ACTIVE, operating_status carries the service status, ip shown
    api_env.make_active(inst.id)
    shown = api_env.client(tenant).instances.get(inst.id)
    assert (shown.status, shown.operating_status) == ("ACTIVE", "HEALTHY")
    assert shown.ip == ["127.77.1.2"]
    assert shown.addresses == [{"address": "127.77.1.2", "type": "private"}]


def test_default_version_and_version_by_id(api_env, tenant):
    inst = create(api_env, tenant)  # datastore only: its default version
    assert inst.datastore["version"] == "10.11"
    inst = api_env.client(tenant).instances.create(
        "by-id", "1", volume={"size": 1}, datastore_version=api_env.ids["10.11"])
    assert inst.datastore["type"] == "mariadb"


def test_list_pages_through_five_instances(api_env, tenant):
    made = {create(api_env, tenant, name="p%d" % i).id for i in range(5)}
    client = api_env.client(tenant)
    seen, pages, marker = [], 0, None
    while True:
        page = client.instances.list(limit=2, marker=marker)
        pages += 1
        assert len(page) <= 2
        seen.extend(i.id for i in page)
        if not page.next:
            break
        marker = page.next
    assert pages == 3
    assert sorted(seen) == sorted(made) and len(seen) == 5
    detailed = client.instances.list(detailed=True)
    assert {i.id for i in detailed} == made
    assert all(ISO.match(i.created) for i in detailed)
    # no limit: one page (the server's max_limit), no next link
    assert len(client.instances.list()) == 5 and client.instances.list().next is None


@pytest.mark.parametrize("case", [
    ("unknown flavor", dict(flavor="99"), 404, "itemNotFound", "Flavor 99"),
    ("unknown datastore", dict(datastore="oracle"), 404, "itemNotFound", "oracle"),
    ("unknown version", dict(datastore_version="9.9"), 404, "itemNotFound", "9.9"),
    ("inactive version", dict(datastore_version="10.5"), 400, "badRequest", "not active"),
    ("flavor not allowed", dict(datastore="mysql"), 400, "badRequest", "not supported"),
    ("zero volume", dict(size=0), 400, "badRequest", "volume/size"),
    ("huge volume", dict(size=10000), 400, "badRequest", "maximum"),
    ("no datastore among two", dict(datastore=None), 400, "badRequest", "specify a datastore"),
], ids=lambda c: c[0])
def test_bad_create_is_4xx_and_creates_nothing(api_env, tenant, case):
    _, overrides, code, name, text = case
    args = dict(name="bad", flavor="1", size=1, datastore="mariadb")
    args.update(overrides)
    client = api_env.client(tenant)
    with pytest.raises(tc_exc.ClientException) as err:
        client.instances.create(args["name"], args["flavor"], volume={"size": args["size"]},
                                datastore=args["datastore"],
                                datastore_version=args.get("datastore_version"))
    assert err.value.http_status == code
    assert text in str(err.value)
    body = {"instance": {"name": "bad", "flavorRef": args["flavor"],
                         "volume": {"size": args["size"]},
                         "datastore": {"type": args["datastore"],
                                       "version": args.get("datastore_version")}}}
    fault(api_env.http("POST", tenant, "/instances", body), name, code)
    assert api_env.count_instances(tenant) == 0
    assert client.instances.list() == []


@pytest.mark.parametrize("case", [
    ("malformed json", '{"instance": {"name": "x",', "malformed JSON"),
    ("empty body", "", "body is required"),
    ("name not a string", {"instance": {"name": 5, "flavorRef": "1",
                                        "volume": {"size": 1}}}, "instance/name"),
    ("size not a number", {"instance": {"name": "x", "flavorRef": "1",
                                        "volume": {"size": "big"}}}, "instance/volume/size"),
    ("users not a list", {"instance": {"name": "x", "flavorRef": "1", "volume": {"size": 1},
                                       "users": "bob"}}, "instance/users"),
    ("user without password", {"instance": {"name": "x", "flavorRef": "1",
                                            "volume": {"size": 1},
                                            "users": [{"name": "bob"}]}}, "password"),
    ("reserved database name", {"instance": {"name": "x", "flavorRef": "1",
                                             "volume": {"size": 1},
                                             "databases": [{"name": "mysql"}]}}, "reserved"),
    ("no volume", {"instance": {"name": "x", "flavorRef": "1"}}, "volume size is required"),
    ("empty name", {"instance": {"name": " ", "flavorRef": "1", "volume": {"size": 1}}},
     "name must be"),
], ids=lambda c: c[0])
def test_malformed_or_mistyped_body_is_400(api_env, tenant, case):
    _, body, text = case
    raw = body if isinstance(body, str) else None
    resp = api_env.http("POST", tenant, "/instances", None if raw is not None else body, raw=raw)
    assert text in fault(resp, "badRequest", 400)
    assert api_env.count_instances(tenant) == 0


def test_other_tenant_sees_404(api_env, tenant):
    inst = create(api_env, tenant)
    api_env.make_active(inst.id)
    other = api_env.client(tenant + "x")
    with pytest.raises(tc_exc.NotFound):
        other.instances.get(inst.id)
    with pytest.raises(tc_exc.NotFound):
        other.instances.delete(inst.id)
    with pytest.raises(tc_exc.NotFound):
        other.instances.restart(inst.id)
    assert other.instances.list() == []
    fault(api_env.http("PUT", tenant + "x", "/instances/" + inst.id,
                       {"instance": {"name": "stolen"}}), "itemNotFound", 404)
    assert api_env.client(tenant).instances.get(inst.id).status == "ACTIVE"


def test_delete_refused_while_building_then_accepted(api_env, tenant):
    client = api_env.client(tenant)
    inst = create(api_env, tenant)
    resp = api_env.http("DELETE", tenant, "/instances/" + inst.id)
    assert "BUILDING" in fault(resp, "conflict", 409)
    api_env.make_active(inst.id)
    resp = api_env.http("DELETE", tenant, "/instances/" + inst.id)
    assert resp.status_code == 202 and resp.text == ""
    assert api_env.recorder.wait_for("delete_instance", inst.id) == {"instance_id": inst.id}
    assert client.instances.get(inst.id).status == "SHUTDOWN"
    with pytest.raises(tc_exc.ClientException) as err:
        client.instances.delete(inst.id)
    assert err.value.http_status == 409


def test_force_delete_of_a_stuck_build(api_env, tenant):
    """reset_status clears the task at once, so troveclient's force_delete works."""
    client = api_env.client(tenant)
    inst = create(api_env, tenant)
    client.instances.force_delete(inst.id)
    api_env.recorder.wait_for("reset_status", inst.id)
    api_env.recorder.wait_for("delete_instance", inst.id)


def test_resize_and_restart(api_env, tenant):
    client = api_env.client(tenant)
    inst = create(api_env, tenant, size=3)
    api_env.make_active(inst.id)
    for size in (2, 3):
        with pytest.raises(tc_exc.BadRequest) as err:
            client.instances.resize_volume(inst.id, size)
        assert "must be larger" in str(err.value)
    with pytest.raises(tc_exc.BadRequest):
        client.instances.resize_instance(inst.id, "1")  # same flavor
    with pytest.raises(tc_exc.NotFound):
        client.instances.resize_instance(inst.id, "99")
    assert api_env.recorder.methods_for(inst.id) == ["create_instance"]

    client.instances.resize_volume(inst.id, 5)
    assert api_env.recorder.wait_for("resize_volume", inst.id)["new_size"] == 5
    assert client.instances.get(inst.id).status == "RESIZE"
    # a second action while the resize runs
    resp = api_env.http("POST", tenant, "/instances/%s/action" % inst.id, {"restart": {}})
    assert "RESIZING" in fault(resp, "conflict", 409)

    api_env.make_active(inst.id)
    client.instances.resize_instance(inst.id, "2")
    cast = api_env.recorder.wait_for("resize_flavor", inst.id)
    assert (cast["old_flavor_id"], cast["new_flavor_id"]) == ("1", "2")

    api_env.make_active(inst.id)
    client.instances.restart(inst.id)
    api_env.recorder.wait_for("restart_instance", inst.id)
    assert client.instances.get(inst.id).status == "REBOOT"

    resp = api_env.http("POST", tenant, "/instances/%s/action" % inst.id,
                        {"resize": {"volume": {"size": "x"}}})
    assert "resize/volume/size" in fault(resp, "badRequest", 400)
    resp = api_env.http("POST", tenant, "/instances/%s/action" % inst.id, {"reboot": {}})
    fault(resp, "badRequest", 400)


def test_an_action_is_a_claim_the_taskmanager_adopts(api_env, tenant):
    """The API claims the task: shown at once, a second action gets 409, and the
    task column stays the taskmanager's until its flow (or reconciler) adopts it."""
    client = api_env.client(tenant)
    inst = create(api_env, tenant)
    api_env.make_active(inst.id)
    client.instances.restart(inst.id)
    assert client.instances.get(inst.id).status == "REBOOT"

    def task_columns():
        with api_env.db.session() as s:
            row = s.get(models.Instance, inst.id)
            return row.task_status, row.claimed_task, row.task
    assert task_columns() == ("NONE", "REBOOTING", "REBOOTING")
    assert (adopt_claims(api_env.db, inst.id), adopt_claims(api_env.db, inst.id)) == (1, 0)
    assert task_columns() == ("REBOOTING", "REBOOTING", "REBOOTING")
    resp = api_env.http("POST", tenant, "/instances/%s/action" % inst.id, {"restart": {}})
    assert "REBOOTING" in fault(resp, "conflict", 409)
    # the flow ends: the taskmanager clears its task and the instance takes actions again
    api_env.make_active(inst.id)
    assert client.instances.get(inst.id).status == "ACTIVE"
    client.instances.restart(inst.id)
    assert task_columns() == ("NONE", "REBOOTING", "REBOOTING")


def test_error_shows_newest_fault(api_env, tenant):
    inst = create(api_env, tenant)
    with api_env.db.session() as s:
        s.execute(update(models.Instance).where(models.Instance.id == inst.id).values(
            task_status="BUILDING_ERROR_SERVER", task_seq=models.Instance.claim_seq))
        s.add(models.InstanceFault(instance_id=inst.id, message="old",
                                   created=models.utcnow().replace(year=2020)))
        s.add(models.InstanceFault(instance_id=inst.id, message="server failed to boot",
                                   details="no space left"))
    shown = api_env.client(tenant).instances.get(inst.id)
    assert shown.status == "ERROR"
    assert shown.fault["message"] == "server failed to boot"
    assert shown.fault["details"] == "no space left" and ISO.match(shown.fault["created"])
    # an errored instance may be deleted straight away
    api_env.client(tenant).instances.delete(inst.id)
    api_env.recorder.wait_for("delete_instance", inst.id)


def test_rename_and_not_implemented_updates(api_env, tenant):
    client = api_env.client(tenant)
    inst = create(api_env, tenant)
    client.instances.update(inst.id, name="renamed")
    assert client.instances.get(inst.id).name == "renamed"
    resp = api_env.http("PUT", tenant, "/instances/" + inst.id,
                        {"instance": {"configuration": "cfg-1"}})
    assert "cfg-1" in fault(resp, "itemNotFound", 404)  # no such configuration group
    resp = api_env.http("PUT", tenant, "/instances/" + inst.id, {"instance": {"replica_of": None}})
    assert "not a replica" in fault(resp, "badRequest", 400)  # detach of a lone instance
    resp = api_env.http("PATCH", tenant, "/instances/" + inst.id,
                        {"instance": {"datastore_version": "10.11"}})
    assert "already runs version 10.11" in fault(resp, "badRequest", 400)
    resp = api_env.http("PUT", tenant, "/instances/" + inst.id, {"instance": {"name": 7}})
    assert "instance/name" in fault(resp, "badRequest", 400)
    assert client.instances.get(inst.id).name == "renamed"


def test_routing_faults_and_version_document(api_env, tenant):
    resp = api_env.http("PUT", tenant, "/flavors", {})
    assert "PUT" in fault(resp, "badMethod", 405)
    assert resp.headers["Allow"] == "GET"
    fault(api_env.http("GET", tenant, "/no/such/thing"), "itemNotFound", 404)
    resp = api_env.http("POST", tenant, "/instances", raw="name=x",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    fault(resp, "badMediaType", 415)
    doc = requests.get(api_env.url + "/", timeout=10).json()
    assert doc["versions"][0]["id"] == "v1.0" and doc["versions"][0]["status"] == "CURRENT"
    assert doc["versions"][0]["links"][0]["href"] == api_env.url + "/v1.0/"


def test_flavors_and_datastores(api_env, tenant):
    client = api_env.client(tenant)
    flavors = {f.str_id: f for f in client.flavors.list()}
    assert set(flavors) == {"1", "2", "tiny-x"}
    assert flavors["1"].id == 1 and flavors["1"].ram == 512 and flavors["1"].vcpus == 1
    assert flavors["tiny-x"].id == "tiny-x"
    assert client.flavors.get("2").name == "m1.medium"
    with pytest.raises(tc_exc.NotFound):
        client.flavors.get("nope")
    allowed = client.flavors.list_datastore_version_associated_flavors("mysql", "8.0")
    assert [f.str_id for f in allowed] == ["2"]
    assert len(client.flavors.list_datastore_version_associated_flavors("mariadb", "10.11")) == 3

    stores = {d.name: d for d in client.datastores.list()}
    assert set(stores) == {"mariadb", "mysql"}
    # inactive versions are hidden from lists
    assert [v["name"] for v in stores["mariadb"].versions] == ["10.11"]
    assert stores["mariadb"].default_version == api_env.ids["10.11"]
    assert client.datastores.get("mariadb").id == api_env.ids["mariadb"]
    assert client.datastores.get(api_env.ids["mysql"]).name == "mysql"
    assert [v.name for v in client.datastore_versions.list("mariadb")] == ["10.11"]
    version = client.datastore_versions.get("mariadb", "10.11")
    assert (version.id, version.datastore, version.image) == (
        api_env.ids["10.11"], api_env.ids["mariadb"], "img-1011")
    assert client.datastore_versions.get_by_uuid(api_env.ids["8.0"]).name == "8.0"
    with pytest.raises(tc_exc.NotFound):
        client.datastores.get("oracle")


def test_unexpected_error_is_500_without_traceback(api_env, tenant, tmp_path, caplog):
    """A database without schema makes every query fail in a way no handler expects."""
    broken = Database("sqlite:///" + str(tmp_path / "empty.sqlite"))
    server = api_server.serve(api_env.conf, wsgi.make_app(api_env.conf, broken, None),
                              "127.0.0.1", 0)
    try:
        with caplog.at_level(logging.ERROR, logger="trove_lite.api.wsgi"):
            resp = requests.get("%s/v1.0/%s/instances" % (server.url, tenant), timeout=10)
        assert resp.status_code == 500
        assert resp.json() == {"instanceFault": {"code": 500,
                                                 "message": "An unexpected error occurred."}}
        assert "Traceback" not in resp.text and "sqlite" not in resp.text.lower()
        assert wsgi.BUG_LINE in caplog.text
    finally:
        server.shutdown()
        broken.dispose()


def test_policy_hook_with_the_auth_middleware(api_env, tenant):
    """The app behind the no-auth middleware with the policy defaults: every action
    name the handlers check is registered, and reset_status is admin-only."""
    enforcer = policy.make_enforcer(api_env.conf)
    app = wsgi.make_app(
        api_env.conf, api_env.db, None,
        middleware=[lambda inner: auth.wrap_app(inner, api_env.conf, enforcer)],
        authorize=lambda ctx, action, target: policy.enforce(enforcer, ctx, action, target))
    server = api_server.serve(api_env.conf, app, "127.0.0.1", 0)
    try:
        base = "%s/v1.0/%s" % (server.url, tenant)
        for path in ("/instances", "/instances/detail", "/flavors", "/flavors/1",
                     "/datastores", "/datastores/mariadb", "/datastores/mariadb/versions",
                     "/datastores/mariadb/versions/10.11",
                     "/datastores/mariadb/versions/10.11/flavors",
                     "/datastores/versions/" + api_env.ids["10.11"]):
            assert requests.get(base + path, timeout=10).status_code == 200, path
        inst = create(api_env, tenant)  # through the fixture's app: same database
        resp = requests.post("%s/instances/%s/action" % (base, inst.id),
                             json={"reset_status": {}}, timeout=10)
        assert fault(resp, "forbidden", 403)
        assert api_env.client(tenant).instances.get(inst.id).status == "BUILD"
    finally:
        server.shutdown()


def test_concurrent_actions_one_wins(api_env, tenant):
    """Two restarts racing on an ACTIVE instance: exactly one starts, the other gets 409."""
    import concurrent.futures
    inst = create(api_env, tenant)
    for _ in range(3):
        api_env.make_active(inst.id)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            codes = sorted(pool.map(
                lambda _: api_env.http("POST", tenant, "/instances/%s/action" % inst.id,
                                       {"restart": {}}).status_code, range(4)))
        assert codes == [202, 409, 409, 409]
