"""End to end: REST API -> RabbitMQ -> taskmanager -> local drivers -> guest agent
-> its own mariadbd, driven by python-troveclient and `openstack database`."""

import json
import os
import subprocess
import sys
import time

import pymysql
import pytest

from tests.support.controlplane import wait_for_status

pytestmark = pytest.mark.slow


def leftovers(cp, server_id, volume_id, pids):
    """Everything of one instance still on the machine (empty when clean)."""
    left = []
    for pid in pids:
        if pid and os.path.exists("/proc/%d" % pid):
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[-1].split()[0] != "Z":
                    left.append("process %d" % pid)
    with open("/proc/mounts") as f:
        mounts = f.read()
    for ident in (server_id, volume_id):
        if ident and ident in mounts:
            left.append("mount of %s" % ident)
        for sub in ("servers", "volumes"):
            if ident and os.path.exists(os.path.join(cp.state_dir, sub, ident)):
                left.append("directory %s/%s" % (sub, ident))
    losetup = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    if volume_id and volume_id in losetup:
        left.append("loop device of %s" % volume_id)
    return left


def instance_pids(cp, server_id):
    sdir = os.path.join(cp.state_dir, "servers", server_id)
    pids = []
    for path in (os.path.join(sdir, "guest.pid"), os.path.join(sdir, "mysql", "mysqld.pid")):
        try:
            with open(path) as f:
                pids.append(int(f.read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    return pids


def db_row(cp, instance_id):
    """The instance row as the control plane stored it (server/volume ids)."""
    import sqlite3
    conn = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        return conn.execute("SELECT server_id, volume_id, address FROM instances WHERE id=?",
                            (instance_id,)).fetchone()
    finally:
        conn.close()


def test_create_connect_restart_resize_delete(aio):
    trove = aio.client()
    inst = trove.instances.create(
        "lifecycle", "1", volume={"size": 1}, datastore="mariadb",
        datastore_version="10.11",
        databases=[{"name": "shop", "character_set": "utf8mb4"}],
        users=[{"name": "alice", "password": "s3cret-Pw", "databases": [{"name": "shop"}]}])
    assert inst.status == "BUILD"
    inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    assert inst.operating_status == "HEALTHY"
    address = inst.ip[0]
    assert address.startswith("127.204.")

    conn = pymysql.connect(host=address, port=3306, user="alice", password="s3cret-Pw",
                           database="shop", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(20))")
        cur.execute("INSERT INTO orders VALUES (1, 'apple'), (2, 'pear')")
    conn.close()

    trove.instances.restart(inst.id)
    assert trove.instances.get(inst.id).status == "REBOOT"
    inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=90)
    assert inst.status == "ACTIVE"
    conn = pymysql.connect(host=address, port=3306, user="alice", password="s3cret-Pw",
                           database="shop")
    with conn.cursor() as cur:
        cur.execute("SELECT item FROM orders ORDER BY id")
        assert cur.fetchall() == (("apple",), ("pear",))
    conn.close()

    trove.instances.resize_instance(inst.id, "2")
    inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=90)
    assert inst.status == "ACTIVE" and str(inst.flavor["id"]) == "2"
    conn = pymysql.connect(host=address, port=3306, user="alice", password="s3cret-Pw")
    with conn.cursor() as cur:
        # flavor 2 has 1024 MB: the rendered config gives the buffer pool a share of it
        cur.execute("SELECT @@innodb_buffer_pool_size")
        assert cur.fetchone()[0] >= 256 * 1024 * 1024
    conn.close()

    trove.instances.resize_volume(inst.id, 2)
    inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert inst.status == "ACTIVE" and inst.volume["size"] == 2
    conn = pymysql.connect(host=address, port=3306, user="alice", password="s3cret-Pw",
                           database="shop")
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        assert cur.fetchone() == (2,)
    conn.close()

    server_id, volume_id, _ = db_row(aio, inst.id)
    pids = instance_pids(aio, server_id)
    assert len(pids) == 2
    assert leftovers(aio, server_id, volume_id, pids) != []  # the check sees them
    trove.instances.delete(inst.id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if inst.id not in [i.id for i in trove.instances.list()]:
            break
        time.sleep(0.5)
    else:
        pytest.fail("instance still listed after delete")
    assert leftovers(aio, server_id, volume_id, pids) == []


def test_openstack_cli_create_show_delete(aio):
    openstack = os.path.join(os.path.dirname(sys.executable), "openstack")
    base = [openstack, "--os-auth-type", "none", "--os-endpoint", aio.endpoint("osc-demo")]
    out = subprocess.run(base + ["database", "instance", "create", "osc-made", "--flavor", "1",
                                 "--size", "1", "--datastore", "mariadb",
                                 "--datastore-version", "10.11", "--databases", "appdb",
                                 "--users", "bob:Pw-12345", "-f", "json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    trove = aio.client("osc-demo")
    inst = wait_for_status(trove, created["id"], {"ACTIVE", "ERROR"}, timeout=120)
    assert inst.status == "ACTIVE"
    shown = json.loads(subprocess.run(
        base + ["database", "instance", "show", "osc-made", "-f", "json"],
        capture_output=True, text=True, timeout=60, check=True).stdout)
    assert shown["status"] == "ACTIVE" and shown["name"] == "osc-made"
    conn = pymysql.connect(host=inst.ip[0], user="bob", password="Pw-12345", database="appdb")
    conn.close()
    subprocess.run(base + ["database", "instance", "delete", created["id"]], check=True,
                   capture_output=True, timeout=60)
    deadline = time.monotonic() + 60
    while created["id"] in [i.id for i in trove.instances.list()]:
        assert time.monotonic() < deadline, "not deleted"
        time.sleep(0.5)


def test_unknown_flavor_or_datastore_is_refused_and_creates_nothing(aio):
    trove = aio.client("bad-input")
    from troveclient import exceptions as tc_exc
    with pytest.raises(tc_exc.ClientException) as e:
        trove.instances.create("x", "999", volume={"size": 1}, datastore="mariadb")
    assert e.value.http_status == 404 and "999" in str(e.value)
    with pytest.raises(tc_exc.ClientException) as e:
        trove.instances.create("x", "1", volume={"size": 1}, datastore="oracle")
    assert 400 <= e.value.http_status < 500 and "oracle" in str(e.value)
    assert trove.instances.list() == []
