"""Databases, users, access, root, quotas and limits end to end (no-auth control plane).

python-troveclient, ``openstack database`` (run in-process: the same code as the
binary without paying ~2 s of imports per command) and ``trove-lite`` each
drive the API; every effect is checked ON THE SERVER with PyMySQL: SHOW
DATABASES, SHOW GRANTS, logins as the user.

One control plane for the module and three instances: a burst of 8 concurrent
creates at a quota of 3 makes them; the first serves every other test, the
other two are deleted (which gives their quota back).
"""

import concurrent.futures
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
import uuid

import pytest
import requests
from troveclient import exceptions as trove_exceptions

from tests.functional.admin.conftest import (can_login, connect, start_control_plane,
                                             stop_control_plane)
from tests.support.controlplane import wait_for_status
from trove_lite.cli import main as cli

pytestmark = pytest.mark.slow

ROOT_PW = "Inspect-Root-9"
BAD_NAMES = ["bad`name", "bad'name", 'bad"name', "bad;name", "x" * 100, "café",
             "drop;`x`--"]


def _create_body(name):
    return {"instance": {"name": name, "flavorRef": "1", "volume": {"size": 1},
                         "datastore": {"type": "mariadb", "version": "10.11"}}}


@pytest.fixture(scope="module")
def env():
    # a silent guest costs the API this long (test_silent_guest_is_503)
    cp = start_control_plane("trove-lite-admin-", "[guest]\nrpc_short_timeout = 3\n")
    tenant = uuid.uuid4().hex  # uuid-like: OSC's quota commands take it as a project id
    trove, admin = cp.client(tenant), cp.client("admin")
    try:
        admin.quota.update(tenant, {"instances": 3})
        url = cp.endpoint(tenant) + "/instances"
        barrier = threading.Barrier(8)

        def create(i):
            barrier.wait()
            return requests.post(url, json=_create_body("burst-%d" % i), timeout=60)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            burst = list(pool.map(create, range(8)))
        accepted = [r.json()["instance"]["id"] for r in burst if r.status_code == 200]
        # asked while the first one builds: refused, nothing reaches a guest
        while_building = requests.get("%s/%s/databases" % (url, accepted[0]), timeout=30) \
            if accepted else None
        ready = [wait_for_status(trove, i, {"ACTIVE", "ERROR"}, timeout=150)
                 for i in accepted]
        inst = ready[0]
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        for other in accepted[1:]:
            trove.instances.delete(other)
        trove.root.create_instance_root(inst.id, ROOT_PW)
        yield types.SimpleNamespace(cp=cp, tenant=tenant, trove=trove, admin=admin,
                                    inst=inst, address=inst.ip[0], burst=burst,
                                    accepted=accepted, while_building=while_building)
    finally:
        stop_control_plane(cp, [trove])


# -- helpers ---------------------------------------------------------------------------

def root_conn(env):
    return connect(env.address, "root", ROOT_PW)


def server_databases(env):
    with root_conn(env) as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        return {row[0] for row in cur.fetchall()}


def server_accounts(env):
    with root_conn(env) as conn, conn.cursor() as cur:
        cur.execute("SELECT User, Host FROM mysql.user")
        return {(row[0], row[1]) for row in cur.fetchall()}


def server_grants(env, user, host="%"):
    with root_conn(env) as conn, conn.cursor() as cur:
        cur.execute("SHOW GRANTS FOR %s@%s", (user, host))
        return [row[0] for row in cur.fetchall()]


def server_charset(env, database):
    with root_conn(env) as conn, conn.cursor() as cur:
        cur.execute("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM "
                    "information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
        return cur.fetchone()


def api(env, method, path, body=None, tenant=None, raw=None):
    headers = {"Content-Type": "application/json"}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return requests.request(method, env.cp.endpoint(tenant or env.tenant) + path,
                            data=data, headers=headers, timeout=30)


def osc(env, *args, tenant=None):
    """``openstack database ...`` in this process: (exit code, stdout, stderr)."""
    from openstackclient import shell
    from osc_lib.clientmanager import ClientCache, ClientManager
    # plugin clients are cached on the ClientManager *class* (ClientCache
    # descriptors): forget them, or every call reuses the first endpoint
    for attr in vars(ClientManager).values():
        if isinstance(attr, ClientCache):
            attr._handle = None
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = shell.main(["--os-auth-type", "none", "--os-endpoint",
                         env.cp.endpoint(tenant or env.tenant), "database", *args])
    return rc, out.getvalue(), err.getvalue()


def osc_json(env, *args, tenant=None):
    rc, out, err = osc(env, *args, "-f", "json", tenant=tenant)
    assert rc == 0, err
    return json.loads(out)


def trove_lite(env, *args, tenant=None, capsys=None):
    rc = cli.main(["--endpoint", env.cp.endpoint(tenant or env.tenant), "--json", *args])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(captured.out) if captured.out.strip() else None


def assert_fault(resp, status, name="badRequest"):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert list(body) == [name] and body[name]["code"] == status, body
    assert body[name]["message"]
    return body[name]["message"]


# -- quotas -----------------------------------------------------------------------------

def test_concurrent_creates_at_quota_3_accept_exactly_3(env):
    statuses = sorted(r.status_code for r in env.burst)
    assert statuses == [200] * 3 + [413] * 5
    for resp in env.burst:
        if resp.status_code == 413:
            assert resp.json() == {"overLimit": {
                "code": 413, "message": "Quota exceeded for resources: ['instances']"}}


def test_guest_calls_refused_while_building(env):
    message = assert_fault(env.while_building, 409, "conflict")
    assert "not available" in message and "BUILD" in message


def test_quota_show_and_release_on_delete(env):
    deadline = time.monotonic() + 60
    while len(env.trove.instances.list()) > 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    quotas = {q.resource: q for q in env.admin.quota.show(env.tenant)}
    assert set(quotas) == {"instances", "volumes", "backups", "ram"}
    assert (quotas["instances"].in_use, quotas["instances"].limit,
            quotas["instances"].reserved) == (1, 3, 0)
    assert quotas["volumes"].in_use == 1 and quotas["ram"].in_use == 512


def test_quota_update_and_limits_with_every_client(env, capsys):
    assert env.admin.quota.update(env.tenant, {"backups": 7}) == {"backups": 7}
    rows = osc_json(env, "quota", "show", env.tenant, tenant="admin")
    assert {"Resource": "backups", "In Use": 0, "Reserved": 0, "Limit": 7} in rows
    updated = osc_json(env, "quota", "update", env.tenant, "volumes", "40", tenant="admin")
    assert updated == {"volumes": 40}
    shown = trove_lite(env, "quota-update", env.tenant, "ram", "4096", tenant="admin",
                       capsys=capsys)
    assert shown == {"ram": 4096}
    shown = trove_lite(env, "quota-show", env.tenant, tenant="admin", capsys=capsys)
    assert {"resource": "ram", "in_use": 512, "reserved": 0, "limit": 4096} in shown

    (absolute,) = env.trove.limits.list()
    assert absolute._info == {"verb": "ABSOLUTE", "max_instances": 3, "max_volumes": 40,
                              "max_backups": 7, "max_ram": 4096}
    rc, out, err = osc(env, "limit", "list")
    assert rc == 0, err
    assert "max_instances" in out and "40" in out
    assert trove_lite(env, "limit-list", capsys=capsys) == [absolute._info]


def test_quota_api_is_admin_only_and_validated(env):
    resp = api(env, "GET", "/mgmt/quotas/%s" % env.tenant)  # a member's own tenant
    assert_fault(resp, 403, "forbidden")
    for body in ({"quotas": {"instances": "9"}}, {"quotas": {"cows": 1}},
                 {"quotas": {"instances": -5}}, {"quotas": []}, {"instances": 9}):
        resp = api(env, "PUT", "/mgmt/quotas/%s" % env.tenant, body, tenant="admin")
        assert_fault(resp, 400)
    assert {q.resource: q.limit for q in env.admin.quota.show(env.tenant)}["instances"] == 3


def test_resize_is_quota_checked(env):
    env.admin.quota.update(env.tenant, {"volumes": 1})
    resp = api(env, "POST", "/instances/%s/action" % env.inst.id,
               {"resize": {"volume": {"size": 2}}})
    assert resp.status_code == 413
    assert resp.json()["overLimit"]["message"] == \
        "Quota exceeded for resources: ['volumes']"
    env.admin.quota.update(env.tenant, {"ram": 1000})
    resp = api(env, "POST", "/instances/%s/action" % env.inst.id,
               {"resize": {"flavorRef": "2"}})  # 512 -> 1024 MB
    assert resp.json() == {"overLimit": {
        "code": 413, "message": "Quota exceeded for resources: ['ram']"}}
    assert env.trove.instances.get(env.inst.id).status == "ACTIVE"
    quotas = {q.resource: q.in_use for q in env.admin.quota.show(env.tenant)}
    assert (quotas["volumes"], quotas["ram"]) == (1, 512)
    env.admin.quota.update(env.tenant, {"volumes": 40, "ram": 4096})


# -- databases --------------------------------------------------------------------------

def test_databases_with_troveclient(env):
    env.trove.databases.create(env.inst.id, [
        {"name": "shop", "character_set": "utf8mb4", "collate": "utf8mb4_bin"},
        {"name": "logs"}])
    assert {"shop", "logs"} <= server_databases(env)
    assert server_charset(env, "shop") == ("utf8mb4", "utf8mb4_bin")
    page = env.trove.databases.list(env.inst.id, limit=1)
    assert [d.name for d in page] == ["logs"] and page.next == "logs"
    assert [d.name for d in env.trove.databases.list(env.inst.id, marker=page.next)] == \
        ["shop"]
    env.trove.databases.delete(env.inst.id, "logs")
    assert "logs" not in server_databases(env)
    resp = api(env, "DELETE", "/instances/%s/databases/logs" % env.inst.id)
    assert_fault(resp, 404, "itemNotFound")
    resp = api(env, "POST", "/instances/%s/databases" % env.inst.id,
               {"databases": [{"name": "shop"}]})
    assert_fault(resp, 409, "conflict")


def test_databases_with_osc_and_cli(env, capsys):
    rc, _, err = osc(env, "db", "create", env.inst.id, "osc_db", "--character_set", "latin1")
    assert rc == 0, err
    assert server_charset(env, "osc_db")[0] == "latin1"
    assert {"Name": "osc_db"} in osc_json(env, "db", "list", env.inst.id)
    assert osc(env, "db", "delete", env.inst.id, "osc_db")[0] == 0
    assert "osc_db" not in server_databases(env)

    # once through the installed binary too (the rest run its code in-process)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "openstack"),
                           "--os-auth-type", "none", "--os-endpoint",
                           env.cp.endpoint(env.tenant), "database", "db", "list",
                           env.inst.id, "-f", "json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert {"Name": "shop"} in json.loads(proc.stdout)

    trove_lite(env, "database-create", env.inst.name, "cli_db", "--collate",
               "utf8mb4_unicode_ci", capsys=capsys)
    assert server_charset(env, "cli_db") == ("utf8mb4", "utf8mb4_unicode_ci")
    assert {"name": "cli_db"} in trove_lite(env, "database-list", env.inst.id,
                                            capsys=capsys)
    trove_lite(env, "database-delete", env.inst.id, "cli_db", capsys=capsys)
    assert "cli_db" not in server_databases(env)


# -- users and access -------------------------------------------------------------------

def test_users_with_troveclient(env):
    trove, inst = env.trove, env.inst.id
    trove.databases.create(inst, [{"name": "app"}])
    trove.users.create(inst, [{"name": "alice", "password": "pw'with\"quotes",
                               "databases": [{"name": "app"}]},
                              {"name": "bob", "password": "bob-pw-1", "host": "127.%"}])
    assert {("alice", "%"), ("bob", "127.%")} <= server_accounts(env)
    assert can_login(env.address, "alice", "pw'with\"quotes", "app")
    assert any("ON `app`.* TO `alice`@`%`" in g for g in server_grants(env, "alice"))

    users = {(u.name, u.host): u.databases for u in trove.users.list(inst)}
    assert users[("alice", "%")] == [{"name": "app"}] and users[("bob", "127.%")] == []
    page = trove.users.list(inst, limit=1)
    assert [u.name for u in page] == ["alice"] and page.next == "alice@%"
    assert [(u.name, u.host) for u in trove.users.list(inst, marker=page.next)] == \
        [("bob", "127.%")]
    bob = trove.users.get(inst, "bob", "127.%")  # path bob%40127%2e%25
    assert (bob.name, bob.host, bob.databases) == ("bob", "127.%", [])

    trove.users.grant(inst, "bob", ["app", "shop"], hostname="127.%")
    assert {d.name for d in trove.users.list_access(inst, "bob", hostname="127.%")} == \
        {"app", "shop"}
    assert can_login(env.address, "bob", "bob-pw-1", "shop")
    trove.users.revoke(inst, "bob", "shop", hostname="127.%")
    assert not any("`shop`" in g for g in server_grants(env, "bob", "127.%"))
    assert not can_login(env.address, "bob", "bob-pw-1", "shop")

    trove.users.change_passwords(inst, [{"name": "alice", "password": "alice-new-2"}])
    assert can_login(env.address, "alice", "alice-new-2")
    assert not can_login(env.address, "alice", "pw'with\"quotes")

    trove.users.update_attributes(inst, "bob", {"name": "robert", "password": "rob-pw-3"},
                                  hostname="127.%")
    assert ("robert", "127.%") in server_accounts(env)
    assert ("bob", "127.%") not in server_accounts(env)
    assert can_login(env.address, "robert", "rob-pw-3", "app")  # grants moved along
    assert not can_login(env.address, "robert", "bob-pw-1")

    trove.users.delete(inst, "robert", hostname="127.%")
    assert ("robert", "127.%") not in server_accounts(env)
    assert not can_login(env.address, "robert", "rob-pw-3")
    assert_fault(api(env, "GET", "/instances/%s/users/robert%%40127%%2e%%25" % inst), 404,
                 "itemNotFound")


def test_users_with_osc(env):
    inst = env.inst.id
    rc, _, err = osc(env, "user", "create", inst, "carol", "carol-pw-1",
                     "--databases", "app")
    assert rc == 0, err
    assert can_login(env.address, "carol", "carol-pw-1", "app")
    listed = osc_json(env, "user", "list", inst)
    assert any(u["Name"] == "carol" and u["Host"] == "%" for u in listed)
    shown = osc_json(env, "user", "show", inst, "carol")
    assert shown["name"] == "carol" and shown["host"] == "%"
    assert osc(env, "user", "grant", "access", inst, "carol", "shop")[0] == 0
    assert {r["Name"] for r in osc_json(env, "user", "show", "access", inst, "carol")} == \
        {"app", "shop"}
    assert any("ON `shop`.*" in g for g in server_grants(env, "carol"))
    assert osc(env, "user", "revoke", "access", inst, "carol", "app")[0] == 0
    assert not any("`app`" in g for g in server_grants(env, "carol"))
    assert osc(env, "user", "update", "attributes", inst, "carol",
               "--new_password", "carol-pw-2")[0] == 0
    assert can_login(env.address, "carol", "carol-pw-2")
    assert not can_login(env.address, "carol", "carol-pw-1")
    assert osc(env, "user", "delete", inst, "carol")[0] == 0
    assert ("carol", "%") not in server_accounts(env)


def test_users_with_cli(env, capsys):
    inst = env.inst.name
    trove_lite(env, "user-create", inst, "dave", "dave-pw-1", "--host", "127.0.0.1",
               "--databases", "app", capsys=capsys)
    assert ("dave", "127.0.0.1") in server_accounts(env)
    assert {"name": "dave", "host": "127.0.0.1", "databases": [{"name": "app"}]} in \
        trove_lite(env, "user-list", inst, capsys=capsys)
    assert trove_lite(env, "user-show", inst, "dave", "--host", "127.0.0.1",
                      capsys=capsys)["databases"] == [{"name": "app"}]
    trove_lite(env, "user-grant-access", inst, "dave", "shop", "--host", "127.0.0.1",
               capsys=capsys)
    assert trove_lite(env, "user-show-access", inst, "dave", "--host", "127.0.0.1",
                      capsys=capsys) == [{"name": "app"}, {"name": "shop"}]
    trove_lite(env, "user-revoke-access", inst, "dave", "app", "--host", "127.0.0.1",
               capsys=capsys)
    assert not any("`app`" in g for g in server_grants(env, "dave", "127.0.0.1"))
    trove_lite(env, "user-update-attributes", inst, "dave", "--host", "127.0.0.1",
               "--new_host", "%", capsys=capsys)
    assert ("dave", "%") in server_accounts(env)
    trove_lite(env, "user-delete", inst, "dave", capsys=capsys)
    assert not any(u == "dave" for u, _ in server_accounts(env))


# -- bad input ------------------------------------------------------------------------

def test_bad_names_are_400_and_change_nothing(env):
    inst = env.inst.id
    databases, accounts = server_databases(env), server_accounts(env)
    for name in BAD_NAMES + ["mysql", "information_schema"]:
        resp = api(env, "POST", "/instances/%s/databases" % inst, {"databases": [
            {"name": "fine_db"}, {"name": name}]})
        assert_fault(resp, 400)
    for name in BAD_NAMES + ["root", "os_admin", "a@b"]:
        resp = api(env, "POST", "/instances/%s/users" % inst, {"users": [
            {"name": "fine_user", "password": "pw-1"}, {"name": name, "password": "pw-1"}]})
        assert_fault(resp, 400)
    for host in ("local`host", "10.0.0.1;", "localhost", "h" * 100):
        resp = api(env, "POST", "/instances/%s/users" % inst, {"users": [
            {"name": "fine_user", "password": "pw-1", "host": host}]})
        assert_fault(resp, 400)
    for name in ("bad`db", "x" * 100, "mysql"):
        assert_fault(api(env, "DELETE", "/instances/%s/databases/%s" % (inst, name)), 400)
        resp = api(env, "PUT", "/instances/%s/users/alice/databases" % inst,
                   {"databases": [{"name": name}]})
        assert_fault(resp, 400)
    # troveclient quotes the unicode user name into the path; refused, not 404
    with pytest.raises(trove_exceptions.BadRequest, match="only ASCII"):
        env.trove.users.get(inst, "café")
    resp = api(env, "PUT", "/instances/%s/users/alice" % inst, {"user": {"name": "a;b"}})
    assert_fault(resp, 400)
    resp = api(env, "PUT", "/instances/%s/users" % inst,
               {"users": [{"name": "alice", "password": "ok-pw"},
                          {"name": "alice`", "password": "x"}]})
    assert_fault(resp, 400)
    assert can_login(env.address, "alice", "alice-new-2")  # first entry not applied
    assert server_databases(env) == databases
    assert server_accounts(env) == accounts


@pytest.mark.parametrize("path,method,body", [
    ("/databases", "POST", {"databases": "shop"}),
    ("/databases", "POST", {"databases": [{"name": 5}]}),
    ("/databases", "POST", {"databases": [{"name": "x", "character_set": 8}]}),
    ("/databases", "POST", {"databases": []}),
    ("/users", "POST", {"users": [{"name": "u", "password": 5}]}),
    ("/users", "POST", {"users": [{"name": "u", "password": "p", "databases": "app"}]}),
    ("/users", "POST", {"user": {"name": "u", "password": "p"}}),
    ("/users", "PUT", {"users": {"name": "alice", "password": "p"}}),
    ("/users/alice", "PUT", {"user": {"name": 7}}),
    ("/users/alice", "PUT", {"user": {"nickname": "al"}}),
    ("/users/alice", "PUT", {"user": {}}),
    ("/users/alice/databases", "PUT", {"databases": ["app"]}),
    ("/root", "POST", {"password": 12345}),
    ("/root", "POST", "not json"),
])
def test_wrong_json_types_are_400(env, path, method, body):
    raw = body if isinstance(body, str) else None
    resp = api(env, method, "/instances/%s%s" % (env.inst.id, path),
               body=None if raw else body, raw=raw)
    assert_fault(resp, 400)


def test_other_tenants_instance_is_404(env):
    for method, path in (("GET", "/databases"), ("POST", "/databases"), ("GET", "/users"),
                         ("GET", "/users/alice"), ("DELETE", "/users/alice"),
                         ("GET", "/root"), ("POST", "/root"), ("DELETE", "/root")):
        body = {"databases": [{"name": "sneaky"}]} if method == "POST" and \
            path == "/databases" else None
        resp = api(env, method, "/instances/%s%s" % (env.inst.id, path), body,
                   tenant="someone-else")
        assert_fault(resp, 404, "itemNotFound")
    assert "sneaky" not in server_databases(env)
    assert can_login(env.address, "root", ROOT_PW)


# -- root -------------------------------------------------------------------------------

def test_root_with_every_client(env, capsys):
    trove, inst = env.trove, env.inst.id
    assert trove.root.is_instance_root_enabled(inst).rootEnabled is True
    history = env.admin.mgmt_instances.root_enabled_history(inst)
    assert history.id == inst and history.user == "root"
    assert history.enabled.startswith(time.strftime("%Y-"))
    assert_fault(api(env, "GET", "/mgmt/instances/%s/root" % inst), 403, "forbidden")

    trove.root.delete(inst)
    assert not can_login(env.address, "root", ROOT_PW)
    assert_fault(api(env, "DELETE", "/instances/%s/root" % inst), 404, "itemNotFound")
    # Trove's rootEnabled means "was ever enabled"
    assert trove.root.is_instance_root_enabled(inst).rootEnabled is True

    name, password = trove.root.create(inst)  # generated password
    assert name == "root" and len(password) >= 16
    assert can_login(env.address, "root", password)

    shown = osc_json(env, "root", "enable", inst, "--root_password", "Osc-Root-1")
    assert shown == {"name": "root", "password": "Osc-Root-1"}
    assert can_login(env.address, "root", "Osc-Root-1")
    assert not can_login(env.address, "root", password)
    assert osc_json(env, "root", "show", inst) == {"is_root_enabled": True}
    assert osc(env, "root", "disable", inst)[0] == 0
    assert not can_login(env.address, "root", "Osc-Root-1")

    shown = trove_lite(env, "root-enable", inst, "--root_password", ROOT_PW, capsys=capsys)
    assert shown == {"name": "root", "password": ROOT_PW}
    assert can_login(env.address, "root", ROOT_PW)
    assert trove_lite(env, "root-show", inst, capsys=capsys) == {"rootEnabled": True}
    trove_lite(env, "root-disable", inst, capsys=capsys)
    assert not can_login(env.address, "root", ROOT_PW)
    trove.root.create_instance_root(inst, ROOT_PW)  # the other tests inspect with it


def test_mgmt_instances(env):
    mgmt = env.admin.mgmt_instances
    listed = {i.id: i for i in mgmt.list()}
    assert env.inst.id in listed
    assert listed[env.inst.id].tenant_id == env.tenant
    shown = mgmt.show(env.inst.id)
    assert shown.server_id and shown.volume_id and shown.service_status == "HEALTHY"
    deleted = {i.id for i in mgmt.list(deleted=True)}
    assert set(env.accepted[1:]) <= deleted and env.inst.id not in deleted
    resp = api(env, "GET", "/mgmt/instances/%s/rpc_ping" % env.inst.id, tenant="admin")
    assert resp.status_code == 204
    assert_fault(api(env, "GET", "/mgmt/instances"), 403, "forbidden")
    assert_fault(api(env, "GET", "/mgmt/instances/%s/rpc_ping" % env.accepted[1],
                     tenant="admin"), 404, "itemNotFound")


def test_silent_guest_is_503_within_the_short_timeout(env):
    """A guest agent that stops answering (SIGSTOP) costs one short timeout, not a hang."""
    server_id = env.admin.mgmt_instances.show(env.inst.id).server_id
    # guest.pid: the group leader of the guest agent's processes (local compute driver)
    with open(os.path.join(env.cp.state_dir, "servers", server_id, "guest.pid")) as f:
        pgid = int(f.read().split()[0])
    os.killpg(pgid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        resp = api(env, "GET", "/instances/%s/databases" % env.inst.id)
        elapsed = time.monotonic() - start
    finally:
        os.killpg(pgid, signal.SIGCONT)
    message = assert_fault(resp, 503, "serviceUnavailable")
    assert "did not answer list_databases within 3 s" in message
    assert 3 <= elapsed < 6
    assert "shop" in [d.name for d in env.trove.databases.list(env.inst.id)]
