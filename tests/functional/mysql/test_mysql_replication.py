"""MySQL replication end to end (Oracle GTIDs, CLONE seeding): python-troveclient ->
API -> taskmanager -> the guests' own mysqld servers (MySQL 9.7 image).

The tests run in file order on one set: two replicas created under a writer
(every row, writes refused, the replication block), a broken replica shows its
error, promote under a writer (0 acknowledged rows lost), detach and the delete
rules. Skipped, with the reason, only when the image cannot be built.
"""

import os
import shutil
import tempfile
import time

import pymysql
import pytest
from troveclient import exceptions as trove_exc

from tests.functional.controlplane.conftest import destroy_everything
from tests.functional.replication.conftest import server_socket
from tests.functional.replication.test_replication import (
    detached_then_delete_rules, wait_until)
from tests.functional.replication.writer import Writer
from tests.support.controlplane import ControlPlane, build_images_or_skip, manage, wait_for_status

pytestmark = pytest.mark.slow
STATE = {}
USER, PASSWORD = "alice", "s3cret-Pw"


@pytest.fixture(scope="module")
def cp():
    build_images_or_skip("mysql-9.7")
    base = tempfile.mkdtemp(prefix="trove-lite-myrepl-")
    plane = ControlPlane(base, heartbeat_interval=1, extra_conf=(
        "\n[replication]\nsource_heartbeat_expiry = 6\nswitchover_timeout = 20\n")
    ).start_aio()
    try:
        assert "registered as datastore mysql version 9.7" in manage(
            plane, "image_fetch", "mysql-9.7")
        yield plane
    finally:
        if os.environ.get("REPLICATION_DEBUG"):
            print(plane.log_tail("aio", 300), plane.diagnose(lines=30))
        destroy_everything(plane)
        shutil.rmtree(base, ignore_errors=True)


def connect(inst, **kw):
    kw.setdefault("connect_timeout", 5)
    return pymysql.connect(host=inst.ip[0], port=3306, user=USER, password=PASSWORD,
                           database="shop", autocommit=True, **kw)


def checksum(inst):
    with connect(inst) as conn, conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE orders")
        return cur.fetchone()[1]


def root_socket(cp, instance_id):
    return server_socket(cp, None, instance_id)[0]


@pytest.fixture(scope="module")
def source(cp):
    trove = cp.client()
    inst = trove.instances.create(
        "msrc", "1", volume={"size": 1}, datastore="mysql", datastore_version="9.7",
        databases=[{"name": "shop"}],
        users=[{"name": USER, "password": PASSWORD, "databases": [{"name": "shop"}]}])
    inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=180)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    with connect(inst) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40))")
        cur.executemany("INSERT INTO orders VALUES (%s, %s)",
                        [(i, "item-%d" % i) for i in range(1, 501)])
    return inst


def _writer_connect(inst):
    return connect(inst, connect_timeout=1)


def test_create_replicas_under_writes(cp, source):
    trove = cp.client()
    started = time.monotonic()
    with Writer([source], _writer_connect, start_id=10000) as writer:
        replica = trove.instances.create("mrep", "1", volume={"size": 1},
                                         replica_of=source.name, replica_count=2)
        replica = wait_for_status(trove, replica.id, {"ACTIVE", "ERROR"}, timeout=240)
        assert replica.status == "ACTIVE", getattr(replica, "fault", None)
        took = time.monotonic() - started
    assert len(writer.acked) > 10, "the source kept serving writes while seeding"
    ids = sorted(r["id"] for r in trove.instances.get(source.id).replicas)
    assert replica.id in ids and len(ids) == 2
    second = wait_for_status(trove, [i for i in ids if i != replica.id][0],
                             {"ACTIVE", "ERROR"}, timeout=240)
    assert second.status == "ACTIVE", getattr(second, "fault", None)
    for rep in (replica, second):
        assert rep.replica_of["id"] == source.id
        wait_until(lambda: checksum(rep) == checksum(source), what="same rows as the source")
        with connect(rep) as conn, conn.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError) as err:
                cur.execute("INSERT INTO orders VALUES (900001, 'on a replica')")
            assert err.value.args[0] in (1290, 1836), err.value   # --super-read-only
        # root on the replica's own socket cannot write either (super_read_only)
        with pymysql.connect(unix_socket=root_socket(cp, rep.id), user="root") as conn, \
                conn.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError) as err:
                cur.execute("INSERT INTO shop.orders VALUES (900001, 'root on a replica')")
            assert err.value.args[0] == 1290
    block = wait_until(lambda: (lambda b: b.get("lag_seconds") is not None and b)(
        trove.instances.get(replica.id).replication), what="a reported lag")
    assert block["role"] == "replica" and block["source_id"] == source.id
    assert block["sql_thread"] == "Yes" and block["io_thread"] == "Yes"
    assert block["strategy"] == "gtid" and block["seed"]["method"] == "clone"
    assert 0 <= block["lag_seconds"] < 10
    src_block = trove.instances.get(source.id).replication
    assert src_block["role"] == "source" and ":" in src_block["gtid_executed"]
    assert block["semisync"]["durability"] == "async"
    print("MySQL: POST -> two replicas ACTIVE in %.1f s (seed %s)" % (took, block["seed"]))
    STATE["replicas"] = [replica, second]


def test_refusals(cp, source):
    trove = cp.client()
    rep = STATE["replicas"][0]
    with pytest.raises(trove_exc.BadRequest, match="replica of a replica"):
        trove.instances.create("rr", "1", volume={"size": 1}, replica_of=rep.id)
    with pytest.raises(trove_exc.BadRequest, match="datastore"):
        trove.instances.create("rv", "1", volume={"size": 1}, replica_of=source.id,
                               datastore="mariadb", datastore_version="10.11")
    with pytest.raises(trove_exc.BadRequest, match="healthy"):
        trove.instances.eject_replica_source(rep.id)
    with pytest.raises(trove_exc.BadRequest, match="replication source"):
        trove.instances.delete(source.id)
    with pytest.raises(trove_exc.BadRequest, match="read-only replica"):
        trove.users.create(rep.id, [{"name": "bob", "password": "B0b-secret"}])
    assert USER in [u.name for u in trove.users.list(rep.id)]   # reads are served


def test_broken_replica_shows_error(cp, source):
    trove = cp.client()
    rep = STATE["replicas"][1]
    local = pymysql.connect(unix_socket=root_socket(cp, rep.id), user="root",
                            autocommit=True, database="shop")
    with local.cursor() as cur:
        cur.execute("SET GLOBAL super_read_only = OFF")
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("INSERT INTO orders VALUES (777777, 'local')")
        cur.execute("SET GLOBAL super_read_only = ON")
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (777777, 'from the source')")
    shown = wait_until(lambda: (lambda i: i.operating_status == "BLOCKED" and i)(
        trove.instances.get(rep.id)), what="the replica reported broken")
    assert "1062" in shown.replication["last_error"] or \
        "Duplicate" in shown.replication["last_error"], shown.replication
    assert shown.replication["sql_thread"] == "No"
    with local.cursor() as cur:      # the operator repairs it
        cur.execute("SET GLOBAL super_read_only = OFF")
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("DELETE FROM orders WHERE id = 777777")
        cur.execute("SET GLOBAL super_read_only = ON")
        cur.execute("START REPLICA")
    local.close()
    wait_until(lambda: trove.instances.get(rep.id).operating_status == "HEALTHY",
               what="the repaired replica healthy")
    wait_until(lambda: checksum(rep) == checksum(source), what="caught up")


def test_promote_under_writer(cp, source):
    trove = cp.client()
    new, sibling = STATE["replicas"]
    with Writer([source, new], _writer_connect, start_id=20000) as writer:
        time.sleep(1)
        started = time.monotonic()
        trove.instances.promote_to_replica_source(new.id)
        wait_until(lambda: trove.instances.get(new.id).status == "ACTIVE"
                   and not getattr(trove.instances.get(new.id), "replica_of", None),
                   timeout=60, what="promote finished")
        took = time.monotonic() - started
        time.sleep(1.5)
    assert not getattr(trove.instances.get(new.id), "fault", None)
    assert writer.acked, "the writer committed"
    with connect(new) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM orders WHERE id >= 20000")
        have = {r[0] for r in cur.fetchall()}
    lost = sorted(set(writer.acked) - have)
    assert lost == [], "acknowledged rows lost by the switchover"
    assert max(have) > max(writer.acked[:1] or [0]), "writes went on on the new source"
    shown = trove.instances.get(new.id)
    assert sorted(r["id"] for r in shown.replicas) == sorted([source.id, sibling.id])
    for member in (source, sibling):
        assert trove.instances.get(member.id).replica_of["id"] == new.id
        wait_until(lambda: checksum(member) == checksum(new), what="followers in sync")
        with connect(member) as conn, conn.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError):
                cur.execute("INSERT INTO orders VALUES (900002, 'old source')")
    wait_until(lambda: trove.instances.get(source.id).replication.get("sql_thread") == "Yes",
               what="the old source replicating from the new one")
    print("MySQL promote took %.2f s, %d rows acknowledged, 0 lost" % (took,
                                                                      len(writer.acked)))
    STATE.update(source=new, followers=[source, sibling])


def test_detach_and_delete_rules(cp, source):
    trove = cp.client()
    new, (old, sibling) = STATE["source"], STATE["followers"]
    trove.instances.update(sibling.id, detach_replica_source=True)
    detached_then_delete_rules(trove, connect, new, old, sibling)


def test_eject_after_source_server_killed(cp, source):
    """kill -9 of the source's whole server (agent and mysqld): eject elects the
    replica, which takes writes with every row it had."""
    import signal
    trove = cp.client()
    dead, (follower, _) = STATE["source"], STATE["followers"]
    with connect(dead) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, 'before the crash')",
                        [(i,) for i in range(950000, 950050)])
    wait_until(lambda: checksum(follower) == checksum(dead), what="the follower has all")
    expected = checksum(dead)
    _, server_id = server_socket(cp, None, dead.id)
    sdir = os.path.join(cp.state_dir, "servers", server_id)
    pids = []
    for name in ("guest.pid", os.path.join("mysql", "mysqld.pid")):
        with open(os.path.join(sdir, name)) as f:
            pids.append(int(f.read().split()[0]))
    for pid in pids:
        os.kill(pid, signal.SIGKILL)

    def eject():
        try:
            trove.instances.eject_replica_source(follower.id)
            return True
        except trove_exc.BadRequest:
            return False
    wait_until(eject, timeout=40, what="eject accepted once the source is silent")
    wait_until(lambda: trove.instances.get(follower.id).status == "ACTIVE"
               and not getattr(trove.instances.get(follower.id), "replica_of", None),
               timeout=60, what="eject finished: the replica is the source")
    assert not getattr(trove.instances.get(follower.id), "fault", None)
    assert checksum(follower) == expected
    with connect(follower) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (900004, 'new source')")
    assert trove.instances.get(follower.id).replication["role"] == "source"
