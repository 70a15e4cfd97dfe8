"""Replication end to end, in both strategies (the ``cp`` fixture's parameter):
python-troveclient -> API -> taskmanager -> the guests' own mariadbd servers.

One source per strategy is shared by the tests of this module, in file order:
create two replicas under a writer, refusals, a broken replica, promote under
a writer, detach, delete rules, eject after killing the source's server.
"""

import os
import signal
import subprocess
import sys
import time

import pymysql
import pytest
import requests
from troveclient import exceptions as trove_exc

from tests.functional.replication.conftest import connect, server_socket
from tests.functional.replication.writer import Writer
from tests.support.controlplane import wait_for_status

pytestmark = pytest.mark.slow
STATE = {}


def checksum(inst):
    with connect(inst) as conn, conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE orders")
        return cur.fetchone()[1]


def cli(cp, *args):
    """``trove-lite`` (our CLI) against this control plane; its Property/Value rows."""
    out = subprocess.run([sys.executable, "-m", "trove_lite.cli.main", *args],
                         env=dict(os.environ, TROVE_LITE_ENDPOINT=cp.endpoint()),
                         capture_output=True, text=True, check=True).stdout
    return {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in out.splitlines() if line.startswith("| ") and "Property" not in line}


def osc(cp, *args):
    """``openstack database ...`` (python-openstackclient) against this control plane."""
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "openstack"),
                           "--os-auth-type", "none", "--os-endpoint", cp.endpoint(),
                           "database", *args], capture_output=True, text=True,
                          check=True).stdout


def wait_until(fn, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:     # noqa: BLE001 -- shown if it never holds
            last = e
        time.sleep(0.3)
    raise AssertionError("%s did not hold within %d s (last: %r)" % (what, timeout, last))


def _writer_connect(inst):
    return connect(inst, connect_timeout=1)


def test_create_replicas_under_writes(cp, source):
    trove = cp.client()
    with Writer([source], _writer_connect, start_id=10000) as writer:
        if cp.strategy == "gtid":
            replica = trove.instances.create("rep", "1", volume={"size": 1},
                                             replica_of=source.name, replica_count=2)
            assert replica.status == "BUILD"
        else:   # openstack database (no flavor, no size: the source's)
            osc(cp, "instance", "create", "rep", "--replica-of", source.name,
                "--replica-count", "2")
            replica = [i for i in trove.instances.list() if i.name == "rep"][0]
        replica = wait_for_status(trove, replica.id, {"ACTIVE", "ERROR"}, timeout=120)
        assert replica.status == "ACTIVE", getattr(replica, "fault", None)
    assert len(writer.acked) > 10, "the source kept serving writes while seeding"
    shown = trove.instances.get(source.id)
    ids = sorted(r["id"] for r in shown.replicas)
    assert replica.id in ids and len(ids) == 2
    second = wait_for_status(trove, [i for i in ids if i != replica.id][0], {"ACTIVE"})
    for rep in (replica, second):
        assert rep.replica_of["id"] == source.id
        wait_until(lambda: checksum(rep) == checksum(source), what="same rows as the source")
        with connect(rep) as conn, conn.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError) as err:
                cur.execute("INSERT INTO orders VALUES (900001, 'on a replica')")
            assert err.value.args[0] == 1290    # --read-only
    block = wait_until(lambda: trove.instances.get(replica.id).replication.get("lag_seconds")
                       is not None and trove.instances.get(replica.id).replication,
                       what="a reported lag")
    assert block["role"] == "replica" and block["source_id"] == source.id
    assert block["sql_thread"] == "Yes" and block["io_thread"] == "Yes"
    assert 0 <= block["lag_seconds"] < 10
    assert block["strategy"] == cp.strategy
    assert trove.instances.get(source.id).replication["role"] == "source"
    if cp.strategy == "binlog":
        assert source.id in osc(cp, "instance", "show", replica.id)
    shown = cli(cp, "show", replica.id)
    assert shown["replica_of"] == source.id and shown["replication_role"] == "replica"
    assert shown["replication_sql_thread"] == "Yes"
    assert sorted(cli(cp, "show", source.id)["replicas"].split(", ")) == ids
    STATE[cp.strategy] = {"replicas": [replica, second]}


def test_refusals(cp, source):
    trove = cp.client()
    rep = STATE[cp.strategy]["replicas"][0]
    with pytest.raises(trove_exc.BadRequest, match="replica of a replica"):
        trove.instances.create("rr", "1", volume={"size": 1}, replica_of=rep.id)
    with pytest.raises(trove_exc.BadRequest, match="datastore version"):
        trove.instances.create("rv", "1", volume={"size": 1}, replica_of=source.id,
                               datastore="mariadb", datastore_version="9.9")
    with pytest.raises(trove_exc.NotFound):
        trove.instances.create("rn", "1", volume={"size": 1}, replica_of="no-such")
    with pytest.raises(trove_exc.BadRequest, match="healthy"):
        trove.instances.eject_replica_source(rep.id)
    with pytest.raises(trove_exc.BadRequest, match="not a replica"):
        trove.instances.promote_to_replica_source(source.id)
    with pytest.raises(trove_exc.BadRequest, match="replication source"):
        trove.instances.delete(source.id)
    for body, why in (({"replica_count": 2}, "replica_count needs replica_of"),
                      ({"replica_of": source.id, "replica_count": 11}, "replica_count must be"),
                      ({"replica_of": source.id, "replica_count": "2"}, "replica_count"),
                      ({"replica_of": source.id, "restorePoint": {"backupRef": "b"}},
                       "restorePoint")):
        resp = requests.post(cp.endpoint() + "/instances", json={"instance": dict(
            {"name": "bad", "flavorRef": "1", "volume": {"size": 1}}, **body)})
        assert resp.status_code == 400 and why in resp.json()["badRequest"]["message"], \
            resp.text
    with pytest.raises(trove_exc.BadRequest, match="read-only replica"):
        trove.users.create(rep.id, [{"name": "bob", "password": "B0b-secret"}])
    with pytest.raises(trove_exc.BadRequest, match="read-only replica"):
        trove.databases.create(rep.id, [{"name": "more"}])
    assert "alice" in [u.name for u in trove.users.list(rep.id)]   # reads are served
    assert trove.instances.get(source.id).status == "ACTIVE"
    assert len(trove.instances.list()) == 3


def test_replication_password_stays_secret(cp, source):
    """The set's replication password is in no API answer, log, argv or binlog."""
    trove = cp.client()
    rep = STATE[cp.strategy]["replicas"][0]
    _, server_id = server_socket(cp, trove, rep.id)
    with open(os.path.join(cp.state_dir, "servers", server_id, "state",
                           "replication.secret")) as f:
        password = f.read().strip()
    assert len(password) >= 24
    needle = password.encode()
    sock, _ = server_socket(cp, trove, source.id)
    with pymysql.connect(unix_socket=sock, user="root") as conn, conn.cursor() as cur:
        cur.execute("SELECT @@datadir")
        datadir = cur.fetchone()[0]
    binlogs = [os.path.join(datadir, n) for n in os.listdir(datadir)
               if n.startswith("mysql-bin.0")]
    assert binlogs
    places = binlogs + [os.path.join(cp.base_dir, "aio.log")]
    for root, _dirs, files in os.walk(os.path.join(cp.state_dir, "servers")):
        # logs, the agents' state and injected files (the 0600 secret file aside)
        places += [os.path.join(root, n) for n in files if n.endswith((".log", ".json"))
                   or "etc" in root.split(os.sep)]
    for path in places:
        with open(path, "rb") as f:
            assert needle not in f.read(), "replication password in clear in %s" % path
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    assert needle not in f.read(), "password in the argv of %s" % pid
            except OSError:
                pass
    for inst in (source, rep):
        assert password not in str(trove.instances.get(inst.id)._info)


def test_seed_killed_on_the_source(cp, source):
    """The hot backup feeding a new replica is killed on the source: the replica
    ends in ERROR with a fault, the source serves on, nothing is left running."""
    trove = cp.client()
    _, src_server = server_socket(cp, trove, source.id)
    with connect(source) as conn, conn.cursor() as cur:   # a few seconds of stream
        cur.execute("CREATE TABLE IF NOT EXISTS bulk (id INT PRIMARY KEY, b LONGBLOB)")
        cur.execute("REPLACE INTO bulk SELECT seq, REPEAT('x', 1048576) "
                    "FROM seq_1_to_60")
    cfg = os.path.join(cp.state_dir, "servers", src_server, "mysql", "my.cnf")
    failed = trove.instances.create("seedfail", "1", volume={"size": 1},
                                    replica_of=source.id)
    deadline = time.monotonic() + 60
    pid = _backup_pid(cfg)
    while pid is None:      # the stream lasts about a second: look often
        assert time.monotonic() < deadline, "the seed backup never ran"
        time.sleep(0.01)
        pid = _backup_pid(cfg)
    os.kill(pid, signal.SIGKILL)
    failed = wait_for_status(trove, failed.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert failed.status == "ERROR"
    assert "the source's backup failed or was cut off" in failed.fault["message"]
    assert trove.instances.get(source.id).status == "ACTIVE"
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (900010, 'source serves on')")
        cur.execute("DROP TABLE bulk")
    assert _backup_pid(cfg) is None
    listening = subprocess.run(["ss", "-ltnH", "src", source.ip[0]], capture_output=True,
                               text=True).stdout.split()
    assert [a for a in listening if a.startswith(source.ip[0] + ":")] == \
        [source.ip[0] + ":3306"], "no seed listener is left open on the source"
    trove.instances.delete(failed.id)
    wait_until(lambda: failed.id not in [i.id for i in trove.instances.list()],
               what="the failed replica deleted")
    assert sorted(r["id"] for r in trove.instances.get(source.id).replicas) == sorted(
        r.id for r in STATE[cp.strategy]["replicas"])


def _backup_pid(cfg):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"mariadb-backup") and \
                ("--defaults-file=%s" % cfg).encode() in argv:
            return int(pid)
    return None


def test_broken_replica_shows_error(cp, source):
    trove = cp.client()
    rep = STATE[cp.strategy]["replicas"][1]
    sock, _ = server_socket(cp, trove, rep.id)
    local = pymysql.connect(unix_socket=sock, user="root", autocommit=True, database="shop")
    with local.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("INSERT INTO orders VALUES (777777, 'local')")
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (777777, 'from the source')")
    shown = wait_until(lambda: (lambda i: i.operating_status == "BLOCKED" and i)(
        trove.instances.get(rep.id)), what="the replica reported broken")
    assert "1062" in shown.replication["last_error"]
    assert shown.replication["sql_thread"] == "No"
    with local.cursor() as cur:      # the operator repairs it
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("DELETE FROM orders WHERE id = 777777")
        cur.execute("START SLAVE")
    local.close()
    wait_until(lambda: trove.instances.get(rep.id).operating_status == "HEALTHY",
               what="the repaired replica healthy")
    wait_until(lambda: checksum(rep) == checksum(source), what="caught up")


def test_backup_of_a_replica_restores(cp, source):
    """Backups offloaded to a replica restore like any other."""
    if cp.strategy != "gtid":
        pytest.skip("the backup path does not depend on the strategy")
    from tests.functional.backups_api.conftest import wait_backup
    trove = cp.client()
    rep = STATE[cp.strategy]["replicas"][0]
    wait_until(lambda: checksum(rep) == checksum(source), what="the replica caught up")
    backup = wait_backup(trove, trove.backups.create("of-a-replica", rep.id).id)
    assert backup.status == "COMPLETED" and backup.instance_id == rep.id
    restored = trove.instances.create("from-replica", "1", volume={"size": 1},
                                      restorePoint={"backupRef": backup.id})
    restored = wait_for_status(trove, restored.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert restored.status == "ACTIVE", getattr(restored, "fault", None)
    assert checksum(restored) == checksum(source)
    assert not getattr(restored, "replica_of", None)
    sock, _ = server_socket(cp, trove, restored.id)
    with pymysql.connect(unix_socket=sock, user="root") as conn, conn.cursor() as cur:
        cur.execute("SHOW SLAVE STATUS")
        assert cur.fetchone() is None, "a restored copy must not replicate"
    with connect(restored) as conn, conn.cursor() as cur:   # a standalone copy
        cur.execute("INSERT INTO orders VALUES (900030, 'restored copy')")
    trove.instances.delete(restored.id)
    trove.backups.delete(backup.id)
    wait_until(lambda: restored.id not in [i.id for i in trove.instances.list()],
               what="the restored copy deleted")


def test_restarted_replica_resumes_without_reseed(cp, source):
    trove = cp.client()
    rep = STATE[cp.strategy]["replicas"][0]
    trove.instances.restart(rep.id)
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (900020, 'while the replica restarts')")
    wait_for_status(trove, rep.id, {"ACTIVE"}, timeout=90)
    wait_until(lambda: checksum(rep) == checksum(source), what="the replica caught up")
    _, server_id = server_socket(cp, trove, rep.id)
    with open(os.path.join(cp.state_dir, "servers", server_id, "guest.log")) as f:
        assert f.read().count("seeded ") == 1, "the restart did not seed again"
    trove.instances.resize_instance(rep.id, "3")    # 2 vCPUs: 4 apply threads
    wait_until(lambda: str(trove.instances.get(rep.id).flavor["id"]) == "3"
               and trove.instances.get(rep.id).status == "ACTIVE", timeout=90,
               what="the replica resized")
    sock, _ = server_socket(cp, trove, rep.id)
    with pymysql.connect(unix_socket=sock, user="root") as conn, conn.cursor() as cur:
        cur.execute("SELECT @@slave_parallel_threads, @@read_only")
        assert cur.fetchone() == (4, 1)
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (900021, 'after the resize')")
    wait_until(lambda: checksum(rep) == checksum(source), what="replicating after resize")
    # the source's whole server reboots (agent and database): its agent resumes the
    # heartbeat writer, the replica reconnects
    _, src_server = server_socket(cp, trove, source.id)
    from trove_lite.cmd import aio as aio_cmd
    from trove_lite.drivers import factory
    compute = factory.build_drivers(aio_cmd.make_aio_conf(
        cp.state_dir, config_files=[cp.conf_file])).compute
    compute.reboot_server(src_server)
    wait_for_status(trove, source.id, {"ACTIVE"}, timeout=90)
    time.sleep(4)   # without a heartbeat writer the lag would now be over 4 s
    wait_until(lambda: (lambda b: b.get("io_thread") == "Yes" and b.get(
        "lag_seconds") is not None and b["lag_seconds"] < 3)(
        trove.instances.get(rep.id).replication),
        timeout=60, what="the heartbeat flowing again after the source rebooted")
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (900022, 'after the reboot')")
    wait_until(lambda: checksum(rep) == checksum(source), what="replicating after reboot")


def test_promote_under_writer(cp, source):
    trove = cp.client()
    new, sibling = STATE[cp.strategy]["replicas"]
    with Writer([source, new], _writer_connect, start_id=20000) as writer:
        time.sleep(1)
        started = time.monotonic()
        if cp.strategy == "gtid":
            trove.instances.promote_to_replica_source(new.id)
        else:
            cli(cp, "promote-to-replica-source", new.id)
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
    shown = trove.instances.get(new.id)
    assert sorted(r["id"] for r in shown.replicas) == sorted([source.id, sibling.id])
    for member in (source, sibling):
        assert trove.instances.get(member.id).replica_of["id"] == new.id
        wait_until(lambda: checksum(member) == checksum(new), what="followers in sync")
        with connect(member) as conn, conn.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError):
                cur.execute("INSERT INTO orders VALUES (900002, 'old source')")
    print("promote took %.2f s, %d rows acknowledged, 0 lost" % (took, len(writer.acked)))
    STATE[cp.strategy].update(source=new, followers=[source, sibling])


def test_detach_and_delete_rules(cp, source):
    trove = cp.client()
    st = STATE[cp.strategy]
    new, (old, sibling) = st["source"], st["followers"]
    if cp.strategy == "gtid":
        trove.instances.update(sibling.id, detach_replica_source=True)
    else:
        cli(cp, "detach-replica", sibling.id)
    detached_then_delete_rules(trove, connect, new, old, sibling)


def detached_then_delete_rules(trove, connect, new, old, sibling):
    """``sibling`` was detached: it stands alone and takes writes, the source
    lists only ``old``, a source with a replica cannot be deleted, the detached
    instance can (shared by the MySQL replication tests)."""
    wait_until(lambda: trove.instances.get(sibling.id).status == "ACTIVE"
               and not getattr(trove.instances.get(sibling.id), "replica_of", None),
               what="detached")
    with connect(sibling) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (900003, 'standalone now')")
    assert [r["id"] for r in trove.instances.get(new.id).replicas] == [old.id]
    with pytest.raises(trove_exc.BadRequest):
        trove.instances.delete(new.id)
    trove.instances.delete(sibling.id)
    wait_until(lambda: sibling.id not in [i.id for i in trove.instances.list()],
               what="the detached instance deleted")


def test_eject_after_source_server_killed(cp, source):
    """kill -9 of the source's whole server; a replica that had received less
    than the others gets the rest from the elected source."""
    trove = cp.client()
    st = STATE[cp.strategy]
    dead, follower = st["source"], st["followers"][0]
    lagging = trove.instances.create("lagging", "1", replica_of=dead.id)
    lagging = wait_for_status(trove, lagging.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert lagging.status == "ACTIVE", getattr(lagging, "fault", None)
    sock, _ = server_socket(cp, trove, lagging.id)
    with pymysql.connect(unix_socket=sock, user="root") as conn, conn.cursor() as cur:
        cur.execute("STOP SLAVE IO_THREAD")
    with connect(dead) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, 'before the crash')",
                        [(i,) for i in range(950000, 950050)])
    wait_until(lambda: checksum(follower) == checksum(dead), what="the follower has all")
    _, server_id = server_socket(cp, trove, dead.id)
    sdir = os.path.join(cp.state_dir, "servers", server_id)
    pids = []
    for name in ("guest.pid", os.path.join("mysql", "mysqld.pid")):
        with open(os.path.join(sdir, name)) as f:
            pids.append(int(f.read().split()[0]))
    for pid in pids:     # the whole server: its agent and its database
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: _eject(cp, trove, lagging.id), timeout=40,
               what="eject accepted once the source is silent")
    wait_until(lambda: trove.instances.get(lagging.id).status == "ACTIVE"
               and trove.instances.get(lagging.id).replica_of["id"] == follower.id,
               timeout=60, what="eject finished: the most advanced replica elected")
    assert not getattr(trove.instances.get(lagging.id), "fault", None)
    assert not getattr(trove.instances.get(follower.id), "replica_of", None)
    assert [r["id"] for r in trove.instances.get(follower.id).replicas] == [lagging.id]
    assert not getattr(trove.instances.get(dead.id), "replica_of", None)
    with connect(follower) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (900004, 'new source')")
    wait_until(lambda: checksum(lagging) == checksum(follower),
               what="the lagging replica got what only the others had received")
    assert trove.instances.get(lagging.id).replication["sql_thread"] == "Yes"


def _eject(cp, trove, instance_id):
    try:
        if cp.strategy == "gtid":
            trove.instances.eject_replica_source(instance_id)
        else:
            cli(cp, "eject-replica-source", instance_id)
        return True
    except (trove_exc.BadRequest, subprocess.CalledProcessError):
        return False
