"""Scale-out from the store and fencing, in both strategies (the ``cp`` parameter).

In file order on one source: a first replica (streamed seed); a backup OF that
replica (--slave-info --safe-slave-backup) restores into a new instance with
every row; a second replica is seeded from that backup plus the source's binlog
(the source runs no backup); the source's server reboots and takes writes again
once confirmed; then it is killed, ejected, and when its server comes back it
is fenced: read-only from its first second, shown as such, out of the set.
"""

import os
import signal
import time

import pymysql
import pytest

from tests.functional.replication.conftest import connect, server_socket
from tests.functional.replication.test_replication import checksum, wait_until
from tests.support.controlplane import wait_for_status

pytestmark = pytest.mark.slow
STATE = {}


def _seed_streams(cp, trove, source_id):
    """Hot-backup streams the source's agent served (data-less ones aside)."""
    _, server_id = server_socket(cp, trove, source_id)
    with open(os.path.join(cp.state_dir, "servers", server_id, "guest.log")) as f:
        return sum(1 for line in f if "seed stream to" in line and "finished" in line
                   and "no data" not in line)


def _stored_meta(cp, backup_id):
    import json
    import sqlite3
    db = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        return json.loads(db.execute("SELECT meta FROM backups WHERE id=?",
                                     (backup_id,)).fetchone()[0])
    finally:
        db.close()


def _compute(cp):
    from trove_lite.cmd import aio as aio_cmd
    from trove_lite.drivers import factory
    return factory.build_drivers(aio_cmd.make_aio_conf(
        cp.state_dir, config_files=[cp.conf_file])).compute


def test_backup_of_a_replica_seeds_a_new_replica(cp, source):
    from tests.functional.backups_api.conftest import wait_backup
    trove = cp.client()
    first = trove.instances.create("r1", "1", volume={"size": 1}, replica_of=source.id)
    first = wait_for_status(trove, first.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert first.status == "ACTIVE", getattr(first, "fault", None)
    assert first.replication["seed"]["method"] == "stream"    # no backup yet
    wait_until(lambda: checksum(first) == checksum(source), what="r1 caught up")
    at_backup = checksum(source)
    backup = wait_backup(trove, trove.backups.create("of-r1", first.id).id)
    assert backup.status == "COMPLETED" and backup.instance_id == first.id
    label = backup.replication         # recorded as a backup of the set
    assert label["role"] == "replica" and label["source_id"] == source.id
    assert label["gtid"] and int(label["gtid"].split("-")[-1]) > 0
    slave_info = _stored_meta(cp, backup.id)["metadata"]["slave_info"]
    if cp.strategy == "gtid":           # what --slave-info printed is the seed point
        assert slave_info == {"gtid": label["gtid"]}
    else:                               # the source's file/position in binlog mode
        assert slave_info.get("binlog_file", "").startswith("mysql-bin."), slave_info
    with connect(first) as conn, conn.cursor() as cur:      # SQL thread restarted
        cur.execute("SELECT 1")
    assert wait_until(lambda: trove.instances.get(first.id).replication.get("sql_thread")
                      == "Yes", what="r1 replicating after its backup")
    with connect(source) as conn, conn.cursor() as cur:     # after the backup
        cur.executemany("INSERT INTO orders VALUES (%s, %s)",
                        [(i, "late-%d" % i) for i in range(5001, 5201)])
    streams = _seed_streams(cp, trove, source.id)

    second = trove.instances.create("r2", "1", volume={"size": 1}, replica_of=source.id)
    second = wait_for_status(trove, second.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert second.status == "ACTIVE", getattr(second, "fault", None)
    assert second.replication["seed"] == dict(second.replication["seed"], method="backup",
                                              backup_id=backup.id)
    assert _seed_streams(cp, trove, source.id) == streams, "the source streamed a backup"
    wait_until(lambda: checksum(second) == checksum(source),
               what="r2 has every row, those written after the backup too")
    with connect(second) as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.OperationalError) as err:
            cur.execute("INSERT INTO orders VALUES (900001, 'on a replica')")
        assert err.value.args[0] == 1290
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (5300, 'replicated to r2')")
    wait_until(lambda: checksum(second) == checksum(source), what="r2 replicating")

    restored = trove.instances.create("from-r1", "1", volume={"size": 1},
                                      restorePoint={"backupRef": backup.id})
    restored = wait_for_status(trove, restored.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert restored.status == "ACTIVE", getattr(restored, "fault", None)
    assert checksum(restored) == at_backup, "the restored copy has every backed-up row"
    assert not getattr(restored, "replica_of", None)
    trove.instances.delete(restored.id)
    STATE[cp.strategy] = {"replicas": [first, second]}


def test_replication_password_files_are_private(cp, source):
    """master.info holds the password in clear (MariaDB's design): owner-only."""
    trove = cp.client()
    rep = STATE[cp.strategy]["replicas"][1]
    _, server_id = server_socket(cp, trove, rep.id)
    sdir = os.path.join(cp.state_dir, "servers", server_id)
    with open(os.path.join(sdir, "state", "replication.secret")) as f:
        password = f.read().strip()
    sock, _ = server_socket(cp, trove, rep.id)
    with pymysql.connect(unix_socket=sock, user="root") as conn, conn.cursor() as cur:
        cur.execute("SELECT @@datadir")
        datadir = cur.fetchone()[0].rstrip("/")
    assert os.stat(datadir).st_mode & 0o777 == 0o700
    for name in ("master.info", "relay-log.info"):
        assert os.stat(os.path.join(datadir, name)).st_mode & 0o077 == 0, name
    with open(os.path.join(datadir, "master.info")) as f:
        assert password in f.read()        # why the mode matters
    for path in (os.path.join(cp.base_dir, "aio.log"), os.path.join(sdir, "guest.log")):
        with open(path) as f:
            assert password not in f.read(), path


def test_source_reboot_holds_writes_until_confirmed(cp, source):
    trove = cp.client()
    _, src_server = server_socket(cp, trove, source.id)
    _compute(cp).reboot_server(src_server)
    wait_for_status(trove, source.id, {"ACTIVE"}, timeout=90)

    def writable():
        with connect(source, connect_timeout=1) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO orders VALUES (6000, 'after the reboot')")
        return True
    wait_until(writable, timeout=30, what="the confirmed source writable again")
    block = wait_until(lambda: (lambda b: not b.get("writes_held") and b)(
        trove.instances.get(source.id).replication), what="writes no longer held")
    assert block["role"] == "source" and not block["read_only"]
    for rep in STATE[cp.strategy]["replicas"]:
        wait_until(lambda: checksum(rep) == checksum(source), what="replicas follow")


def test_ejected_source_comes_back_fenced(cp, source):
    trove = cp.client()
    first, second = STATE[cp.strategy]["replicas"]
    wait_until(lambda: checksum(first) == checksum(source) == checksum(second),
               what="in sync before the crash")
    _, server_id = server_socket(cp, trove, source.id)
    sdir = os.path.join(cp.state_dir, "servers", server_id)
    for name in ("guest.pid", os.path.join("mysql", "mysqld.pid")):
        with open(os.path.join(sdir, name)) as f:
            os.kill(int(f.read().split()[0]), signal.SIGKILL)

    def eject():
        trove.instances.eject_replica_source(first.id)
        return True
    wait_until(eject, timeout=40, what="eject accepted once the source is silent")
    wait_until(lambda: _new_source(trove, first, second), timeout=60,
               what="eject finished")
    new = _new_source(trove, first, second)
    shown = trove.instances.get(source.id)
    assert shown.replication["role"] == "fenced" and shown.replication["fenced_by"] == new.id

    _compute(cp).reboot_server(server_id)      # the old source comes back
    accepted = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:         # from its first second on
        try:
            with connect(source, connect_timeout=1) as conn, conn.cursor() as cur:
                try:
                    cur.execute("INSERT INTO orders VALUES (7000, 'split brain')")
                    accepted.append(time.monotonic())
                except pymysql.err.OperationalError as e:
                    assert e.args[0] == 1290
            shown = trove.instances.get(source.id)
            if shown.status == "BLOCKED" and (shown.replication or {}).get(
                    "read_only") and not accepted:
                break
        except pymysql.err.OperationalError:
            pass                               # not up yet
        time.sleep(0.1)
    assert not accepted, "the ejected source accepted a write"
    assert shown.status == "BLOCKED", shown.status
    assert "fenced" in shown.replication["role"]
    assert not getattr(shown, "replicas", None) and not getattr(shown, "replica_of", None)
    assert source.id not in [r["id"] for r in trove.instances.get(new.id).replicas or []]
    with connect(new) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (7001, 'the one source')")
    others = [m for m in (first, second) if m.id != new.id]
    for rep in others:
        wait_until(lambda: checksum(rep) == checksum(new), what="the set goes on")


def _new_source(trove, first, second):
    for inst in (first, second):
        shown = trove.instances.get(inst.id)
        if shown.status == "ACTIVE" and not getattr(shown, "replica_of", None) and \
                getattr(shown, "replicas", None):
            return shown
    return None


def test_fenced_instance_released_by_detach(cp, source):
    """The operator's way out: detach makes the fenced instance a writable standalone."""
    trove = cp.client()
    trove.instances.update(source.id, detach_replica_source=True)
    wait_until(lambda: (lambda i: i.status == "ACTIVE" and (getattr(
        i, "replication", None) or {}).get("role") != "fenced")(
        trove.instances.get(source.id)), timeout=60, what="released")
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (7002, 'standalone now')")
