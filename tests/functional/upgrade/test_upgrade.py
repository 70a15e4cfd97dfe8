"""Datastore-version upgrades end to end: MariaDB 10.5 -> 10.11 -> 11.8 on one instance.

Real images (Debian bullseye's 10.5 and trixie's 11.8, built by ``trove-lite-manage
image_fetch`` from the cache bootstrap fills), a real control plane, python-
troveclient's ``instances.upgrade`` (PATCH /instances/{id}). The instance holds a
table, a view, a procedure, a trigger, a user with a grant, root enabled and an
attached configuration group; all are checked on the instance's own mariadbd
after every hop. The tests run in file order on that one instance: provision on
10.5, refused requests (nothing changes), hop to 10.11, an injected post_upgrade
failure that rolls back to 10.11, hop to 11.8.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pymysql
import pytest
from troveclient import exceptions as tc_exc

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import (ControlPlane, build_images_or_skip, manage,
                                        wait_for_status)

pytestmark = pytest.mark.slow

TENANT = "demo"
APP_USER, APP_PASSWORD = "app", "App-pass-1"
GROUP = {"max_connections": 123, "innodb_lock_wait_timeout": 77}
ROWS = 50
STATE = {}


@pytest.fixture(scope="module")
def cp():
    build_images_or_skip("mariadb-10.5", "mariadb-11.8")
    base = tempfile.mkdtemp(prefix="trove-lite-upg-")
    plane = ControlPlane(base).start_aio()
    try:
        manage(plane, "image_fetch", "mariadb-10.5", "mariadb-11.8")
        # for the refusals: a version of another datastore, an inactive newer one
        manage(plane, "datastore_update", "othersql", "")
        manage(plane, "datastore_version_update", "othersql", "12.0", "mariadb",
               "mariadb-11.8", "", "1")
        manage(plane, "datastore_version_update", "mariadb", "12.0", "mariadb",
               "mariadb-11.8", "", "0")
        yield plane
    finally:
        destroy_everything(plane)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def trove(cp):
    return cp.client(TENANT)


def server_dir(cp, instance_id):
    for path in glob.glob(os.path.join(cp.state_dir, "servers", "*", "server.json")):
        with open(path) as f:
            if json.load(f)["name"] == "trove-" + instance_id:
                return os.path.dirname(path)
    raise AssertionError("no server for instance %s" % instance_id)


def volume_dir(cp, instance_id):
    with open(os.path.join(server_dir(cp, instance_id), "state", "guest.json")) as f:
        return json.load(f)["mount_point"]


def connect(trove, instance_id, user, password, database=None):
    address = trove.instances.get(instance_id).ip[0]
    return pymysql.connect(host=address, port=3306, user=user, password=password,
                           database=database, autocommit=True, connect_timeout=10)


def query(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def check_everything(trove, instance_id, version):
    """What a user would look at after an upgrade; returns SELECT VERSION()."""
    inst = trove.instances.get(instance_id)
    assert inst.status == "ACTIVE"
    assert inst.datastore["version"] == version
    assert trove.root.is_root_enabled(instance_id).rootEnabled is True
    root = connect(trove, instance_id, "root", STATE["root_password"])
    try:
        server_version = query(root, "SELECT VERSION()")[0][0]
        assert server_version.startswith(version + "."), server_version
        # the configuration group is applied by the new server
        assert query(root, "SELECT @@global.max_connections, "
                           "@@global.innodb_lock_wait_timeout") == ((123, 77),)
        # relaxed while mariadb-upgrade ran, durable again once the upgrade is done
        assert query(root, "SELECT @@global.sync_binlog, "
                           "@@global.innodb_flush_log_at_trx_commit") == ((1, 1),)
    finally:
        root.close()
    app = connect(trove, instance_id, APP_USER, APP_PASSWORD, "shop")
    try:
        assert query(app, "SELECT COUNT(*), SUM(qty) FROM items")[0] == (
            ROWS, sum(range(ROWS)))
        assert query(app, "SELECT n FROM big_items ORDER BY n LIMIT 1") == ((41,),)
        assert query(app, "SELECT COUNT(*) FROM audit")[0][0] == ROWS
        with app.cursor() as cur:
            cur.execute("CALL count_items(@n)")
            cur.execute("SELECT @n")
            assert cur.fetchone() == (ROWS,)
            # the trigger still fires
            cur.execute("INSERT INTO items (n, qty) VALUES (%s, 0)" % (1000 + len(version)))
            cur.execute("DELETE FROM items WHERE n >= 1000")
            cur.execute("DELETE FROM audit WHERE n >= 1000")
    finally:
        app.close()
    return server_version


def upgrade_and_wait(trove, instance_id, version):
    trove.instances.upgrade(instance_id, version)
    assert trove.instances.get(instance_id).status == "UPGRADE"
    return wait_for_status(trove, instance_id, ("ACTIVE", "ERROR"), timeout=240)


def test_images_are_registered_with_their_own_rules(trove):
    versions = {v.name: v for v in trove.datastore_versions.list("mariadb")}
    assert {"10.5", "10.11", "11.8"} <= set(versions)
    names = {}
    for name in ("10.5", "11.8"):
        names[name] = {p.name for p in trove.configuration_parameters.parameters(
            "mariadb", versions[name].id)}
    # read from each server: 11.x removed the change buffer, 10.5 has no
    # binlog_expire_logs_seconds yet
    assert "innodb_change_buffering" in names["10.5"]
    assert "innodb_change_buffering" not in names["11.8"]
    assert "binlog_expire_logs_seconds" not in names["10.5"]
    assert "binlog_expire_logs_seconds" in names["11.8"]
    # fetched with a private apt configuration: the system's lists know no other suite
    system_lists = " ".join(os.listdir("/var/lib/apt/lists"))
    assert "bullseye" not in system_lists and "trixie" not in system_lists


def test_provision_on_11_8_with_a_value_only_11_8_accepts(trove):
    values = {"max_connections": 77, "log_slow_verbosity": "engine"}
    with pytest.raises(tc_exc.BadRequest) as info:   # 10.5's rules: no 'engine'
        trove.configurations.create("old", json.dumps(values), datastore="mariadb",
                                    datastore_version="10.5")
    assert "log_slow_verbosity" in str(info.value)
    group = trove.configurations.create("new", json.dumps(values), datastore="mariadb",
                                        datastore_version="11.8")
    inst = trove.instances.create(
        "on-11-8", "1", volume={"size": 1}, datastore="mariadb", datastore_version="11.8",
        databases=[{"name": "shop"}],
        users=[{"name": APP_USER, "password": APP_PASSWORD, "databases": [{"name": "shop"}]}],
        configuration=group.id)
    inst = wait_for_status(trove, inst.id, ("ACTIVE", "ERROR"), timeout=180)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    app = connect(trove, inst.id, APP_USER, APP_PASSWORD, "shop")
    try:
        assert query(app, "SELECT VERSION()")[0][0].startswith("11.8.")
        assert query(app, "SELECT @@global.max_connections, @@global.log_slow_verbosity"
                     ) == ((77, "engine"),)
        query(app, "CREATE TABLE t (a INT)")
    finally:
        app.close()
    trove.instances.delete(inst.id)


def test_provision_on_10_5_with_group_user_and_objects(trove):
    group = trove.configurations.create("upg", json.dumps(GROUP), datastore="mariadb",
                                        datastore_version="10.5")
    inst = trove.instances.create(
        "upg", "1", volume={"size": 1}, datastore="mariadb", datastore_version="10.5",
        databases=[{"name": "shop"}],
        users=[{"name": APP_USER, "password": APP_PASSWORD, "databases": [{"name": "shop"}]}],
        configuration=group.id)
    STATE.update(id=inst.id, group=group.id)
    wait_for_status(trove, inst.id, ("ACTIVE",), timeout=180)
    STATE["root_password"] = trove.root.create(inst.id)[1]
    root = connect(trove, inst.id, "root", STATE["root_password"], "shop")
    try:
        for sql in (
                "CREATE TABLE items (n INT PRIMARY KEY, qty INT) ENGINE=InnoDB",
                "CREATE TABLE audit (n INT, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
                "CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW "
                "INSERT INTO audit (n) VALUES (NEW.n)",
                "INSERT INTO items SELECT seq, seq FROM seq_0_to_%d" % (ROWS - 1),
                "CREATE VIEW big_items AS SELECT n FROM items WHERE qty > 40",
                "CREATE PROCEDURE count_items(OUT c INT) SELECT COUNT(*) INTO c FROM items"):
            query(root, sql)
        query(root, "GRANT EXECUTE ON shop.* TO '%s'@'%%'" % APP_USER)
    finally:
        root.close()
    assert check_everything(trove, inst.id, "10.5").startswith("10.5.23")


def wait_backup(trove, backup_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backup = trove.backups.get(backup_id)
        if backup.status in ("COMPLETED", "FAILED"):
            return backup
        time.sleep(0.3)
    raise AssertionError("backup %s stayed %s" % (backup_id, backup.status))


def test_backup_on_10_5_uses_the_image_s_own_mariabackup(trove):
    # the system's 10.11 mariadb-backup refuses a 10.5 server
    backup = wait_backup(trove, trove.backups.create("before", STATE["id"]).id)
    assert backup.status == "COMPLETED", backup
    STATE["backup"] = backup.id


def test_refused_upgrades_change_nothing(cp, trove):
    iid = STATE["id"]
    # the group would not start on 11.8: its innodb_lock_wait_timeout max is 10^8
    trove.configurations.edit(STATE["group"], json.dumps({"innodb_lock_wait_timeout":
                                                          200000000}))
    with pytest.raises(tc_exc.BadRequest) as info:
        trove.instances.upgrade(iid, "11.8")
    assert "innodb_lock_wait_timeout" in str(info.value)
    trove.configurations.edit(STATE["group"], json.dumps({"innodb_lock_wait_timeout": 77}))
    deadline = time.monotonic() + 30     # the taskmanager applies edits (202)
    while (trove.instances.get(iid).configuration["apply"]["state"] != "applied"
           and time.monotonic() < deadline):
        time.sleep(0.5)
    others = {v.name: v.id for v in trove.datastore_versions.list("othersql")}
    for ref, words in (("10.5", "already runs"),
                       (others["12.0"], "another datastore"),
                       ("12.0", "not active")):
        with pytest.raises(tc_exc.BadRequest) as info:
            trove.instances.upgrade(iid, ref)
        assert words in str(info.value)
    with pytest.raises(tc_exc.NotFound):
        trove.instances.upgrade(iid, "9.9")
    check_everything(trove, iid, "10.5")


def test_no_room_for_the_rollback_copy_stops_nothing(cp, trove):
    iid = STATE["id"]
    volume = volume_dir(cp, iid)
    filler = os.path.join(volume, "filler")
    subprocess.run(["fallocate", "-l", str(shutil.disk_usage(volume).free - 2 ** 20),
                    filler], check=True)
    try:
        inst = upgrade_and_wait(trove, iid, "10.11")
    finally:
        os.unlink(filler)
    assert inst.status == "ACTIVE"
    assert "resize the volume first" in inst.fault["message"]
    check_everything(trove, iid, "10.5")


def operating_statuses(trove, instance_id):
    """Every operating_status the API shows until the task ends, in order."""
    seen = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        inst = trove.instances.get(instance_id)
        if not seen or seen[-1] != inst.operating_status:
            seen.append(inst.operating_status)
        if inst.status in ("ACTIVE", "ERROR"):
            return seen
        time.sleep(0.05)
    raise AssertionError("still %s after 240 s: %s" % (inst.status, seen))


def test_hop_10_5_to_10_11_keeps_everything(trove):
    iid = STATE["id"]
    trove.instances.upgrade(iid, "10.11")
    assert trove.instances.get(iid).status == "UPGRADE"
    # an instance that is not ACTIVE is refused
    with pytest.raises(tc_exc.Conflict):
        trove.instances.upgrade(iid, "11.8")
    statuses = operating_statuses(trove, iid)
    # the database is down on purpose until the new version serves: shown as shut
    # down, never as crashed, and serving once the upgrade is done
    assert "SHUTDOWN" in statuses and "CRASHED" not in statuses, statuses
    assert statuses[-1] == "HEALTHY", statuses
    check_everything(trove, iid, "10.11")
    # a downgrade is refused
    with pytest.raises(tc_exc.BadRequest) as info:
        trove.instances.upgrade(iid, "10.5")
    assert "downgrades are not supported" in str(info.value)


def test_failed_post_upgrade_rolls_back_to_10_11(cp, trove):
    iid = STATE["id"]
    hook = os.path.join(volume_dir(cp, iid), ".fail-post-upgrade")
    with open(hook, "w") as f:
        f.write("injected by the test: post_upgrade refused")
    inst = upgrade_and_wait(trove, iid, "11.8")
    assert inst.status == "ACTIVE"
    assert "injected by the test" in inst.fault["message"]
    assert "rolled back" in inst.fault["message"]
    # the old version runs on the datadir it left, although 11.8 had upgraded it
    check_everything(trove, iid, "10.11")
    assert not os.path.exists(hook)


def cli(cp, *argv, timeout=60):
    return subprocess.run([sys.executable, "-m", "trove_lite.cli.main", "--endpoint",
                           cp.endpoint(TENANT), *argv],
                          capture_output=True, text=True, timeout=timeout)


def test_hop_10_11_to_11_8_keeps_everything(cp, trove):
    iid = STATE["id"]
    refused = cli(cp, "upgrade", "upg", "10.5")          # our CLI, by instance name
    assert refused.returncode != 0 and "downgrades are not supported" in refused.stderr
    done = cli(cp, "upgrade", "upg", "11.8", "--wait", timeout=400)  # until it ends
    assert done.returncode == 0, done.stderr
    assert "100%  ACTIVE" in done.stderr and "UPGRADE" in done.stderr, done.stderr
    inst = trove.instances.get(iid)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    assert check_everything(trove, iid, "11.8").startswith("11.8.")
    # the group moved with its only instance: edits are checked against 11.8's rules
    group = trove.configurations.get(STATE["group"])
    assert group.datastore_version_name == "11.8"
    with pytest.raises(tc_exc.BadRequest) as info:
        trove.configurations.edit(STATE["group"], json.dumps(
            {"innodb_lock_wait_timeout": 200000000}))
    assert "innodb_lock_wait_timeout" in str(info.value)


def test_backup_from_before_the_upgrade_restores_into_its_own_version(trove):
    inst = trove.instances.create("restored", "1", volume={"size": 1}, datastore="mariadb",
                                  datastore_version="10.5",
                                  restorePoint={"backupRef": STATE["backup"]})
    inst = wait_for_status(trove, inst.id, ("ACTIVE", "ERROR"), timeout=180)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    root = connect(trove, inst.id, "root", STATE["root_password"], "shop")
    try:
        assert query(root, "SELECT VERSION()")[0][0].startswith("10.5.")
        assert query(root, "SELECT COUNT(*) FROM items")[0][0] == ROWS
    finally:
        root.close()
