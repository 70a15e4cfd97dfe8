"""Configuration groups end to end: python-troveclient, ``openstack database
configuration`` and ``trove-lite configuration-*`` against the real control plane,
checked with ``SELECT @@global.<name>`` on the instances' own mariadbd.

One control plane and two instances (tiny flavor: template max_connections 100,
innodb_log_buffer_size 16M). The tests run in file order and share the group
``shared``: instance A is created with it, B gets it attached later.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pymysql
import pytest
import requests
from troveclient import exceptions as tc_exc

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status

pytestmark = pytest.mark.slow

TENANT = "demo"
USER, PASSWORD = "cfg", "Cfg-pass-1"
MB = 1024 * 1024
OPENSTACK = os.path.join(os.path.dirname(sys.executable), "openstack")


PLANE = {}  # the module's control plane, for glob()'s diagnostics


@pytest.fixture(scope="module")
def cp():
    base = tempfile.mkdtemp(prefix="trove-lite-cfg-")
    # a guest that does not answer fails an apply within 5 s (15 s by default)
    plane = ControlPlane(base, extra_conf="[guest]\nrpc_short_timeout = 5\n").start_aio()
    PLANE["cp"] = plane
    yield plane
    destroy_everything(plane)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def trove(cp):
    return cp.client(TENANT)


@pytest.fixture(scope="module")
def shared(trove):
    """The group instance A is created with (tx_isolation is written as its cnf name)."""
    return trove.configurations.create(
        "shared", json.dumps({"max_connections": 123, "tx_isolation": "READ-COMMITTED"}),
        description="made by the test", datastore="mariadb", datastore_version="10.11")


@pytest.fixture(scope="module")
def pair(cp, trove, shared):
    """Instances A (created with ``shared``) and B (no group), both ACTIVE."""
    user = [{"name": USER, "password": PASSWORD, "databases": []}]
    a = trove.instances.create("cfg-a", "1", volume={"size": 1}, datastore="mariadb",
                               datastore_version="10.11", users=user,
                               configuration=shared.id)
    b = trove.instances.create("cfg-b", "1", volume={"size": 1}, datastore="mariadb",
                               datastore_version="10.11", users=user)
    out = []
    for inst in (a, b):
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        out.append(inst)
    return out


def glob(inst, name):
    """``SELECT @@global.<name>`` on the instance's server, as a customer would."""
    try:
        conn = pymysql.connect(host=inst.ip[0], port=3306, user=USER, password=PASSWORD,
                               connect_timeout=5)
    except pymysql.OperationalError as exc:
        raise AssertionError("cannot connect to %s (%s) at %s:3306: %s\n%s" % (
            inst.name, inst.id, inst.ip[0], exc, PLANE["cp"].diagnose(inst.ip[0]))) from exc
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@global.%s" % name)
            return cur.fetchone()[0]
    finally:
        conn.close()


def osc(cp, *argv, ok=True):
    out = subprocess.run([OPENSTACK, "--os-auth-type", "none", "--os-endpoint",
                          cp.endpoint(TENANT), "database", "configuration", *argv],
                         capture_output=True, text=True, timeout=60)
    if ok:
        assert out.returncode == 0, out.stderr
    return out


def cli(cp, *argv):
    return subprocess.run([sys.executable, "-m", "trove_lite.cli.main", "--endpoint",
                           cp.endpoint(TENANT), *argv],
                          capture_output=True, text=True, timeout=60)


def wait_status(trove, inst, wanted, timeout=30):
    inst = wait_for_status(trove, inst.id, {wanted, "ERROR"}, timeout=timeout)
    assert inst.status == wanted
    return inst


def wait_applied(trove, inst, timeout=30):
    """Wait until the instance shows its group applied, as a user of the 202 would."""
    deadline = time.monotonic() + timeout
    while True:
        apply = trove.instances.get(inst.id).configuration["apply"]
        if apply["state"] == "applied" or time.monotonic() >= deadline:
            assert apply["state"] == "applied", (apply, PLANE["cp"].log_tail("aio"))
            return
        time.sleep(0.5)


def wait_apply_state(trove, inst, state, timeout=30):
    """The instance's ``configuration`` block once its apply shows ``state``."""
    deadline = time.monotonic() + timeout
    while True:
        shown = getattr(trove.instances.get(inst.id), "configuration", None)
        if (shown or {}).get("apply", {}).get("state") == state:
            return shown
        assert time.monotonic() < deadline, (shown, PLANE["cp"].log_tail("aio"))
        time.sleep(0.5)


def wait_detached(trove, inst, timeout=30):
    """Wait until a detach reached the server: the instance shows no configuration."""
    deadline = time.monotonic() + timeout
    while getattr(trove.instances.get(inst.id), "configuration", None):
        assert time.monotonic() < deadline, trove.instances.get(inst.id).configuration
        time.sleep(0.5)


def guest_agent_pid(cp, trove, inst):
    """The guest agent's PID: the child of the wrapper named in guest.pid (local driver)."""
    server_id = cp.client("admin").mgmt_instances.show(inst.id).server_id
    with open(os.path.join(cp.state_dir, "servers", server_id, "guest.pid")) as f:
        leader = int(f.read().split()[0])
    with open("/proc/%d/task/%d/children" % (leader, leader)) as f:
        children = [int(p) for p in f.read().split()]
    assert len(children) == 1, children
    return children[0]


def raw(cp, method, path, body):
    """A request with a body troveclient would never send (wrong JSON types)."""
    resp = requests.request(method, cp.endpoint(TENANT) + path, json=body, timeout=10)
    return resp.status_code, resp.json() if resp.content else None


# -- parameters ------------------------------------------------------------------
def test_parameters_by_name_and_version_id(cp, trove):
    params = trove.configuration_parameters.parameters("mariadb", "10.11")
    by_name = {p.name: p for p in params}
    assert len(by_name) >= 60
    mc = by_name["max_connections"]
    assert (mc.type, mc.min, mc.max, mc.restart_required) == ("integer", 10, 100000, False)
    assert by_name["performance_schema"].restart_required is True
    version_id = mc.datastore_version_id
    again = trove.configuration_parameters.parameters_by_version(version_id)
    assert {p.name for p in again} == set(by_name)
    one = trove.configuration_parameters.get_parameter_by_version(version_id, "max_connections")
    assert one.max == 100000
    with pytest.raises(tc_exc.NotFound):
        trove.configuration_parameters.get_parameter("mariadb", "10.11", "no_such_thing")
    listed = json.loads(osc(cp, "parameter", "list", "10.11", "--datastore", "mariadb",
                            "-f", "json").stdout)
    row = [r for r in listed if r["Name"] == "max_connections"][0]
    assert (row["Min Size"], row["Max Size"], row["Restart Required"]) == (10, 100000, False)


# -- create with a group ----------------------------------------------------------
def test_instance_created_with_group_runs_its_values(cp, trove, shared, pair):
    a, b = pair
    assert glob(a, "max_connections") == 123
    assert glob(a, "tx_isolation") == "READ-COMMITTED"
    assert glob(b, "max_connections") == 100
    effective = trove.instances.configuration(a.id).configuration
    assert effective["max_connections"] == 123
    assert effective["innodb_log_buffer_size"] == 16 * MB
    assert [i.id for i in trove.configurations.instances(shared.id)] == [a.id]
    assert trove.instances.get(a.id).configuration["id"] == shared.id
    assert not hasattr(trove.instances.get(b.id), "configuration")
    assert trove.configurations.get(shared.id).instance_count == 1


# -- bad input: 400 naming the parameter, nothing changed --------------------------
def test_bad_values_are_refused_and_change_nothing(cp, trove, shared, pair):
    a, _ = pair
    before = trove.configurations.get(shared.id).values
    groups_before = len(trove.configurations.list())

    with pytest.raises(tc_exc.BadRequest) as err:
        trove.configurations.edit(shared.id, json.dumps({"max_connections": 5}))
    assert "max_connections" in str(err.value) and "min 10" in str(err.value) \
        and "max 100000" in str(err.value)
    with pytest.raises(tc_exc.BadRequest) as err:
        trove.configurations.edit(shared.id, json.dumps({"max_connections": 150,
                                                         "no_such_knob": 1}))
    assert "no_such_knob" in str(err.value)
    with pytest.raises(tc_exc.BadRequest) as err:
        trove.configurations.create("bad", json.dumps({"max_connections": 100001}),
                                    datastore="mariadb", datastore_version="10.11")
    assert "max_connections" in str(err.value) and "max 100000" in str(err.value)

    with pytest.raises(tc_exc.BadRequest) as err:  # a pattern from the rules' cnf_extra
        trove.configurations.edit(shared.id, json.dumps({"time_zone": "Mars/Olympus"}))
    assert "time_zone" in str(err.value)
    with pytest.raises(tc_exc.BadRequest) as err:  # mariadbd would not start
        trove.configurations.edit(shared.id, json.dumps({"character_set_server": "latin1"}))
    assert "collation_server" in str(err.value)

    for method, path, body, needle in (
            ("PATCH", "/configurations/%s" % shared.id,
             {"configuration": {"values": {"max_connections": "lots"}}}, "max_connections"),
            ("PATCH", "/configurations/%s" % shared.id,
             {"configuration": {"values": {"max_connections": True}}}, "max_connections"),
            ("PUT", "/configurations/%s" % shared.id,
             {"configuration": {"values": [["max_connections", 150]]}}, "values"),
            ("POST", "/configurations",
             {"configuration": {"name": 7, "values": {}}}, "name"),
            ("PUT", "/instances/%s" % a.id, {"instance": {"configuration": 5}},
             "configuration")):
        status, body = raw(cp, method, path, body)
        assert status == 400, body
        assert needle in body["badRequest"]["message"]

    assert trove.configurations.get(shared.id).values == before
    assert len(trove.configurations.list()) == groups_before
    assert glob(a, "max_connections") == 123


# -- attach, patch to two instances, restart required, restart, resize -----------------
def test_attach_applies_dynamic_values_at_once(cp, trove, shared, pair):
    _, b = pair
    osc(cp, "attach", b.id, shared.id)
    wait_applied(trove, b)
    assert glob(b, "max_connections") == 123
    assert glob(b, "tx_isolation") == "READ-COMMITTED"
    assert wait_status(trove, b, "ACTIVE").status == "ACTIVE"
    with pytest.raises(tc_exc.Conflict):
        trove.instances.update(b.id, configuration=shared.id)
    ids = {r["ID"] for r in json.loads(osc(cp, "instances", shared.id, "-f", "json").stdout)}
    assert ids == {i.id for i in pair}


def test_patch_reaches_every_instance_and_restart_applies_the_rest(cp, trove, shared, pair):
    a, b = pair
    trove.configurations.edit(shared.id, json.dumps(
        {"max_connections": 250, "innodb_log_buffer_size": "32M"}))
    for inst in pair:
        wait_applied(trove, inst)
        assert glob(inst, "max_connections") == 250
        assert glob(inst, "innodb_log_buffer_size") == 16 * MB  # needs a restart
        wait_status(trove, inst, "RESTART_REQUIRED")
    assert trove.configurations.get(shared.id).values == {
        "max_connections": 250, "innodb_log_buffer_size": 32 * MB,
        "tx_isolation": "READ-COMMITTED"}

    trove.instances.restart(b.id)
    wait_status(trove, b, "ACTIVE", timeout=60)
    assert glob(b, "innodb_log_buffer_size") == 32 * MB
    assert glob(b, "max_connections") == 250
    assert glob(b, "tx_isolation") == "READ-COMMITTED"

    trove.instances.resize_instance(a.id, "2")
    deadline = time.monotonic() + 60
    while trove.instances.get(a.id).flavor["id"] != "2" and time.monotonic() < deadline:
        time.sleep(0.5)
    a = wait_status(trove, a, "ACTIVE", timeout=60)
    assert a.flavor["id"] == "2"
    assert glob(a, "innodb_log_buffer_size") == 32 * MB
    assert glob(a, "max_connections") == 250
    # the new flavor's template took effect too (1 GB: half for the buffer pool)
    assert glob(a, "innodb_buffer_pool_size") == 512 * MB


def test_delete_while_attached_is_refused(cp, trove, shared, pair):
    with pytest.raises(tc_exc.Conflict) as err:
        trove.configurations.delete(shared.id)
    assert "detach it first" in str(err.value)
    out = osc(cp, "delete", shared.id, ok=False)
    assert out.returncode != 0
    assert trove.configurations.get(shared.id).instance_count == 2


def test_put_replaces_and_dropped_values_return_to_defaults(cp, trove, shared, pair):
    trove.configurations.update(shared.id, json.dumps({"max_connections": 300}),
                                description="replaced")
    group = trove.configurations.get(shared.id)
    assert (group.values, group.description) == ({"max_connections": 300}, "replaced")
    for inst in pair:
        wait_applied(trove, inst)
        assert glob(inst, "max_connections") == 300
        assert glob(inst, "tx_isolation") == "REPEATABLE-READ"  # compiled-in default
        # innodb_log_buffer_size is back to the template's at the next restart
        wait_status(trove, inst, "RESTART_REQUIRED")


def test_change_while_a_guest_is_down_lands_when_it_returns(cp, trove, shared, pair):
    """The API records the change (Trove's 200) without waiting on the dead guest; the
    instance shows the failed apply, and the value lands after the guest is back."""
    a, b = pair
    trove.instances.restart(b.id)      # clears RESTART_REQUIRED left by the PUT above
    wait_status(trove, b, "ACTIVE", timeout=60)
    os.kill(guest_agent_pid(cp, trove, b), signal.SIGKILL)
    start = time.monotonic()
    status, _ = raw(cp, "PATCH", "/configurations/%s" % shared.id,
                    {"configuration": {"values": {"max_connections": 310}}})
    assert status == 200
    assert time.monotonic() - start < 3       # no wait on a guest
    assert trove.configurations.get(shared.id).values["max_connections"] == 310
    wait_applied(trove, a)
    assert glob(a, "max_connections") == 310
    deadline = time.monotonic() + 30
    while True:
        shown = trove.instances.get(b.id).configuration
        if shown["apply"]["state"] == "failed" or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    assert (shown["id"], shown["name"]) == (shared.id, "shared")
    assert shown["apply"]["state"] == "failed", shown
    assert "apply_configuration" in shown["apply"]["reason"], shown
    assert glob(b, "max_connections") == 300          # its database ran on, unchanged

    cp.client("admin").mgmt_instances.reboot(b.id)    # the server (and its guest) again
    wait_applied(trove, b, timeout=90)
    assert glob(b, "max_connections") == 310
    wait_status(trove, b, "ACTIVE", timeout=60)


def test_one_request_id_from_the_api_through_the_taskmanager_to_the_guest(
        cp, trove, shared, pair):
    """The id the API answers with is on the API's, the taskmanager's and the
    guest's log lines of that change, so one grep follows it end to end."""
    a, _ = pair
    resp = requests.patch(cp.endpoint(TENANT) + "/configurations/%s" % shared.id,
                          json={"configuration": {"values": {"max_connections": 320}}},
                          timeout=10)
    assert resp.status_code == 200
    request_id = resp.headers["X-Openstack-Request-Id"]
    assert request_id.startswith("req-")
    wait_applied(trove, a)
    assert glob(a, "max_connections") == 320
    with open(os.path.join(cp.base_dir, "aio.log"), errors="replace") as f:
        ours = [line for line in f if "[%s]" % request_id in line]
    assert any("trove_lite.configuration.service" in line for line in ours), ours
    assert any("trove_lite.configuration.apply" in line and "applied" in line
               for line in ours), ours
    server_id = cp.client("admin").mgmt_instances.show(a.id).server_id
    with open(os.path.join(cp.state_dir, "servers", server_id, "guest.log"),
              errors="replace") as f:
        guest = [line for line in f if "[%s]" % request_id in line]
    assert any("configuration group applied" in line for line in guest), guest


def test_detach_restores_template_values(cp, trove, shared, pair):
    a, b = pair
    trove.instances.update(b.id, remove_configuration=True)
    osc(cp, "detach", a.id)
    for inst in pair:
        wait_detached(trove, inst)
    assert glob(b, "max_connections") == 100  # tiny flavor's template value
    assert glob(a, "max_connections") == 200  # small flavor's (A was resized)
    for inst in pair:
        trove.instances.restart(inst.id)
    for inst in pair:
        wait_status(trove, inst, "ACTIVE", timeout=60)
        assert glob(inst, "innodb_log_buffer_size") == 16 * MB
        assert glob(inst, "max_connections") in (100, 200)
    assert list(trove.configurations.instances(shared.id)) == []
    with pytest.raises(tc_exc.BadRequest):
        trove.instances.update(a.id, remove_configuration=True)
    trove.configurations.delete(shared.id)
    with pytest.raises(tc_exc.NotFound):
        trove.configurations.get(shared.id)


def test_attach_to_a_stopped_guest_lands_when_it_returns_and_reboot_applies_the_rest(
        cp, trove, pair):
    """Attach records the group and answers 202 without waiting on the guest (its
    agent is stopped); the instance shows the failed apply; the group lands once the
    agent runs again. A mgmt reboot of the RESTART_REQUIRED instance then ends ACTIVE
    with the restart-only value, well before the reboot flow's 180 s wait."""
    _, b = pair
    group = trove.configurations.create(
        "late", json.dumps({"max_connections": 140, "innodb_log_buffer_size": "32M"}),
        datastore="mariadb", datastore_version="10.11")
    pid = guest_agent_pid(cp, trove, b)
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        status, _ = raw(cp, "PUT", "/instances/%s" % b.id,
                        {"instance": {"configuration": group.id}})
        assert status == 202
        assert time.monotonic() - start < 3       # no wait on a guest
        assert trove.instances.get(b.id).configuration["id"] == group.id
        shown = wait_apply_state(trove, b, "failed")
        assert "apply_configuration" in shown["apply"]["reason"], shown
        assert glob(b, "max_connections") == 100  # the database runs on, unchanged
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_applied(trove, b, timeout=30)
    assert glob(b, "max_connections") == 140
    wait_status(trove, b, "RESTART_REQUIRED")

    start = time.monotonic()
    cp.client("admin").mgmt_instances.reboot(b.id)
    wait_status(trove, b, "ACTIVE", timeout=90)
    assert time.monotonic() - start < 90
    assert glob(b, "innodb_log_buffer_size") == 32 * MB
    assert glob(b, "max_connections") == 140
    assert not getattr(trove.instances.get(b.id), "fault", None)

    trove.instances.update(b.id, remove_configuration=True)
    wait_detached(trove, b)
    assert glob(b, "max_connections") == 100
    trove.configurations.delete(group.id)


def test_trove_lite_cli_configuration_commands(cp, trove, pair):
    made = cli(cp, "--json", "configuration-create", "cli-group",
               '{"long_query_time": 2.5, "sql_mode": "strict_trans_tables,ansi_quotes"}',
               "--datastore", "mariadb", "--datastore_version", "10.11")
    assert made.returncode == 0, made.stderr
    group = json.loads(made.stdout)
    assert group["values"] == {"long_query_time": 2.5,
                               "sql_mode": "STRICT_TRANS_TABLES,ANSI_QUOTES"}
    listed = json.loads(cli(cp, "--json", "configuration-list").stdout)
    assert group["id"] in {g["id"] for g in listed}
    _, b = pair
    assert cli(cp, "configuration-attach", b.id, "cli-group").returncode == 0
    assert float(glob(b, "long_query_time")) == 2.5
    assert glob(b, "sql_mode") == "ANSI_QUOTES,STRICT_TRANS_TABLES"
    bad = cli(cp, "configuration-patch", "cli-group", '{"long_query_time": -1}')
    assert bad.returncode == 1 and "long_query_time" in bad.stderr
    effective = json.loads(cli(cp, "--json", "configuration-default", b.id).stdout)
    assert float(effective["configuration"]["long_query_time"]) == 2.5
    param = json.loads(cli(cp, "--json", "configuration-parameter-show", "10.11",
                           "max_connections", "--datastore", "mariadb").stdout)
    assert (param["min"], param["max"]) == (10, 100000)
    assert cli(cp, "configuration-detach", b.id).returncode == 0
    assert float(glob(b, "long_query_time")) == 10.0  # the template's value
    assert cli(cp, "configuration-delete", "cli-group").returncode == 0
    # create --configuration with a group that does not exist: refused, nothing made
    bad = cli(cp, "create", "never", "1", "--size", "1", "--configuration", "no-such-group")
    assert bad.returncode == 1 and "no-such-group" in bad.stderr
    assert "never" not in {i.name for i in trove.instances.list()}


def test_openstack_cli_create_list_show_default_delete(cp, trove, pair):
    made = json.loads(osc(cp, "create", "osc-group", '{"time_zone": "+02:00"}',
                          "--datastore", "mariadb", "--datastore-version", "10.11",
                          "--description", "from osc", "-f", "json").stdout)
    assert json.loads(made["values"]) == {"time_zone": "+02:00"}
    listed = json.loads(osc(cp, "list", "-f", "json").stdout)
    row = [r for r in listed if r["ID"] == made["id"]][0]
    assert (row["Name"], row["Datastore Name"], row["Datastore Version Name"]) == (
        "osc-group", "mariadb", "10.11")
    shown = json.loads(osc(cp, "show", "osc-group", "-f", "json").stdout)
    assert (shown["description"], shown["instance_count"]) == ("from osc", 0)
    a, _ = pair
    trove.instances.update(a.id, configuration=made["id"])
    wait_applied(trove, a)
    assert glob(a, "time_zone") == "+02:00"
    default = json.loads(osc(cp, "default", a.id, "-f", "json").stdout)
    assert default["time_zone"] == "+02:00" and default["max_connections"] == 200
    trove.instances.restart(a.id)  # written as default_time_zone, which mariadbd reads
    wait_status(trove, a, "ACTIVE", timeout=60)
    assert glob(a, "time_zone") == "+02:00"
    trove.instances.update(a.id, remove_configuration=True)
    wait_detached(trove, a)
    assert glob(a, "time_zone") == "SYSTEM"
    osc(cp, "delete", "osc-group")
    assert made["id"] not in {c.id for c in trove.configurations.list()}
