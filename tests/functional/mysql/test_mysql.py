"""MySQL as a second datastore, end to end: provision, users, configuration, backups.

A real MySQL 9.7 (Debian sid's packages, built by ``trove-lite-manage image_fetch
mysql-9.7`` from the image cache bootstrap fills), a real control plane and
python-troveclient. The tests run in file order on one instance (and one restored
from its backup). Skipped, with the reason, only when the image cannot be built.
"""

import json
import os
import shutil
import tempfile
import time

import pymysql
import pytest
from troveclient import exceptions as tc_exc

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, build_images_or_skip, manage, wait_for_status

TENANT = "demo"
USER, PASSWORD = "app", "App-pass'1\""
ROWS = 40
STATE = {}


@pytest.fixture(scope="module")
def cp():
    build_images_or_skip("mysql-9.7")
    base = tempfile.mkdtemp(prefix="trove-lite-mysql-")
    plane = ControlPlane(base).start_aio()
    try:
        out = manage(plane, "image_fetch", "mysql-9.7")
        assert "registered as datastore mysql version 9.7" in out
        yield plane
    finally:
        destroy_everything(plane)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def trove(cp):
    return cp.client(TENANT)


def connect(inst, user=USER, password=PASSWORD, database=None):
    return pymysql.connect(host=inst.ip[0], port=3306, user=user, password=password,
                           database=database, autocommit=True, connect_timeout=10)


def query(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def wait_active(trove, inst_id, timeout=180):
    inst = wait_for_status(trove, inst_id, {"ACTIVE", "ERROR"}, timeout=timeout)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    return inst


@pytest.fixture(scope="module")
def inst(trove):
    created = trove.instances.create(
        "my1", "1", volume={"size": 1}, datastore="mysql", datastore_version="9.7",
        databases=[{"name": "shop"}],
        users=[{"name": USER, "password": PASSWORD, "databases": [{"name": "shop"}]}])
    return wait_active(trove, created.id)


def test_provision_gives_a_mysql_the_user_can_use(trove, inst):
    assert (inst.datastore["type"], inst.datastore["version"]) == ("mysql", "9.7")
    conn = connect(inst, database="shop")
    try:
        version, gtid_mode, enforce = query(
            conn, "SELECT VERSION(), @@gtid_mode, @@enforce_gtid_consistency")[0]
        assert version.startswith("9.7."), version
        assert (gtid_mode, enforce) == ("ON", "ON")       # Oracle GTIDs
        query(conn, "CREATE TABLE items (n INT PRIMARY KEY, qty INT, note TEXT)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO items VALUES (%s, %s, %s)",
                            [(i, i * 2, "row %d" % i) for i in range(ROWS)])
        assert query(conn, "SELECT COUNT(*), SUM(qty) FROM items")[0] == (
            ROWS, sum(i * 2 for i in range(ROWS)))
        # the user can reach only its own database
        with pytest.raises(pymysql.MySQLError):
            query(conn, "SELECT * FROM mysql.user")
    finally:
        conn.close()
    # the X protocol port is not open, and root cannot log in over TCP
    with pytest.raises(pymysql.MySQLError):
        connect(inst, "root", "")


def test_users_databases_and_root(trove, inst):
    trove.databases.create(inst.id, [{"name": "reports"}])
    trove.users.create(inst.id, [{"name": "reader", "password": "Reader-1",
                                  "databases": [{"name": "reports"}]}])
    names = sorted(u.name for u in trove.users.list(inst.id))
    assert names == ["app", "reader"]        # no root, mysql.sys, mysql.session...
    assert sorted(d.name for d in trove.databases.list(inst.id)) == ["reports", "shop"]
    trove.users.change_passwords(inst.id, [{"name": "reader", "password": "Reader-2"}])
    conn = connect(inst, "reader", "Reader-2", "reports")
    conn.close()
    with pytest.raises(pymysql.err.OperationalError):
        connect(inst, "reader", "Reader-1")
    # a name longer than MySQL's 32 characters is a 400 from the guest's own rules
    with pytest.raises(tc_exc.BadRequest):
        trove.users.create(inst.id, [{"name": "u" * 33, "password": "Pw-123456"}])
    root_user, root_password = trove.root.create(inst.id)
    STATE["root_password"] = root_password
    root = connect(inst, "root", root_password)
    try:
        plugins = dict(query(root, "SELECT User, plugin FROM mysql.user WHERE Host = '%'"))
        assert plugins == {"app": "caching_sha2_password", "reader": "caching_sha2_password",
                           "root": "caching_sha2_password"}
        # accounts were made from their hash: no password in the binary log
        logs = [r[0] for r in query(root, "SHOW BINARY LOGS")]
        events = []
        for log in logs:
            events += [r[5] for r in query(root, "SHOW BINLOG EVENTS IN %s", (log,))]
        text = "\n".join(str(e) for e in events)
        assert "CREATE USER" in text
        for secret in (PASSWORD, "Reader-1", "Reader-2", root_password):
            assert secret not in text
    finally:
        root.close()
    trove.users.delete(inst.id, "reader")
    trove.databases.delete(inst.id, "reports")
    assert [u.name for u in trove.users.list(inst.id)] == ["app"]


def test_configuration_group_validated_by_mysql_rules_and_applied(trove, inst):
    params = {p.name: p for p in trove.configuration_parameters.parameters("mysql", "9.7")}
    assert "transaction_isolation" in params and "aria_pagecache_buffer_size" not in params
    assert params["max_connections"].max == 100000    # the server's own limit
    for bad in ({"max_connections": 0}, {"aria_pagecache_buffer_size": 1 << 20},
                {"transaction_isolation": "SOMETIMES"}, {"sql_mode": "NO_SUCH_MODE"}):
        with pytest.raises(tc_exc.BadRequest):
            trove.configurations.create("bad", json.dumps(bad), datastore="mysql",
                                        datastore_version="9.7")
    group = trove.configurations.create(
        "mygroup", json.dumps({"max_connections": 77,
                               "transaction_isolation": "READ-COMMITTED",
                               "sql_mode": "STRICT_ALL_TABLES,NO_ZERO_DATE"}),
        datastore="mysql", datastore_version="9.7")
    STATE["group"] = group.id
    trove.instances.update(inst.id, configuration=group.id)    # 202: the taskmanager applies
    wait_configuration(trove, inst.id, lambda shown: (shown or {}).get("apply", {}).get(
        "state") == "applied")
    conn = connect(inst)
    try:
        assert query(conn, "SELECT @@global.max_connections, @@global.transaction_isolation, "
                           "@@global.sql_mode") == (
            (77, "READ-COMMITTED", "STRICT_ALL_TABLES,NO_ZERO_DATE"),)
    finally:
        conn.close()
    assert wait_active(trove, inst.id).status == "ACTIVE"    # nothing needed a restart
    # detached: the template's values again, once the detach reached the server
    trove.instances.update(inst.id, remove_configuration=True)
    wait_configuration(trove, inst.id, lambda shown: not shown)
    conn = connect(inst)
    try:
        assert query(conn, "SELECT @@global.max_connections, "
                           "@@global.transaction_isolation") == ((100, "REPEATABLE-READ"),)
    finally:
        conn.close()


def wait_configuration(trove, inst_id, done, timeout=30):
    """Wait until the instance's ``configuration`` block satisfies ``done``
    (attach and detach answer 202; the instance shows the apply's state)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = getattr(trove.instances.get(inst_id), "configuration", None)
        if done(shown):
            return shown
        assert (shown or {}).get("apply", {}).get("state") != "failed", shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.3)


def test_backup_and_restore_with_rows(trove, inst):
    backup = trove.backups.create("my-full", inst.id)
    done = wait_for_backup(trove, backup.id)
    assert done.status == "COMPLETED", getattr(done, "fail_reason", None)
    STATE["backup"] = backup.id
    # a logical dump cannot be the parent of an incremental
    with pytest.raises(tc_exc.BadRequest):
        trove.backups.create("my-inc", inst.id, incremental=True)
    restored = trove.instances.create("my1-restored", "1", volume={"size": 1},
                                      datastore="mysql", datastore_version="9.7",
                                      restorePoint={"backupRef": backup.id})
    restored = wait_active(trove, restored.id)
    conn = connect(restored, database="shop")
    try:
        assert query(conn, "SELECT COUNT(*), SUM(qty), MAX(note) FROM items")[0] == (
            ROWS, sum(i * 2 for i in range(ROWS)), "row 9")
        assert query(conn, "SELECT VERSION()")[0][0].startswith("9.7.")
    finally:
        conn.close()
    assert [u.name for u in trove.users.list(restored.id)] == ["app"]


def test_no_binlog_archive_and_no_point_in_time_restore(cp, trove, inst):
    """A dump records no binlog position to replay from: the guest ships no binlog
    to the user's backup store, and a point-in-time restore is a clear 400."""
    with pytest.raises(tc_exc.BadRequest) as err:
        trove.instances.create("x-pitr", "1", volume={"size": 1}, datastore="mysql",
                               datastore_version="9.7",
                               restorePoint={"instanceRef": inst.id, "restoreTime": time.strftime(
                                   "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))})
    assert "point-in-time" in str(err.value) and "mysql" in str(err.value)
    assert not os.path.exists(os.path.join(cp.state_dir, "backups", "database_backups",
                                           inst.id, "binlog"))


def wait_for_backup(trove, backup_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = trove.backups.get(backup_id)
        if b.status in ("COMPLETED", "FAILED"):
            return b
        time.sleep(0.3)
    raise AssertionError("backup %s did not finish" % backup_id)


def test_mismatched_datastore_and_version_are_4xx(trove, inst):
    with pytest.raises((tc_exc.BadRequest, tc_exc.NotFound)):
        trove.instances.create("x", "1", volume={"size": 1}, datastore="mysql",
                               datastore_version="10.11")
    with pytest.raises((tc_exc.BadRequest, tc_exc.NotFound)):
        trove.instances.create("x", "1", volume={"size": 1}, datastore="mariadb",
                               datastore_version="9.7")
    # a MySQL dump does not restore into MariaDB
    with pytest.raises(tc_exc.BadRequest):
        trove.instances.create("x", "1", volume={"size": 1}, datastore="mariadb",
                               datastore_version="10.11",
                               restorePoint={"backupRef": STATE["backup"]})
    # a MariaDB group is not attached to a MySQL instance
    maria = trove.configurations.create("maria", json.dumps({"max_connections": 50}),
                                        datastore="mariadb", datastore_version="10.11")
    with pytest.raises((tc_exc.BadRequest, tc_exc.Conflict)):
        trove.instances.update(inst.id, configuration=maria.id)
    # nor is a MySQL instance upgraded to a MariaDB version
    with pytest.raises((tc_exc.BadRequest, tc_exc.NotFound)):
        trove.instances.upgrade(inst.id, "10.11")
    assert trove.instances.get(inst.id).datastore["version"] == "9.7"
    # a replica of a MySQL instance runs MySQL (replication: test_mysql_replication.py)
    with pytest.raises(tc_exc.BadRequest, match="datastore"):
        trove.instances.create("x-replica", "1", volume={"size": 1}, replica_of=inst.id,
                               datastore="mariadb", datastore_version="10.11")
    assert not [i for i in trove.instances.list() if i.name.startswith("x")]
