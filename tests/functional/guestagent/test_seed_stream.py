"""The seed stream between two real servers (guestagent/.../replication.py):
the source's backup starts when the stream is offered, before the replica
connects; a replica that comes late gets a fresh backup; a wrong token gets
nothing and no backup is left running either way."""

import os
import shutil
import tempfile
import time

import pytest

from trove_lite.guestagent.datastore.mariadb import replication

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(module_app):
    with module_app.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS seedtest")
        cur.execute("CREATE TABLE seedtest.t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO seedtest.t SELECT seq FROM seedtest.seq_1_to_1000")
    return module_app


def _offer(app):
    sender = replication.SeedSender(app.server, app.server.bind_address, "pw-seed-test",
                                    timeout=20)
    return sender, {"host": app.server.bind_address, "port": sender.port,
                    "token": sender.token}


def _receive(app, stream):
    target = tempfile.mkdtemp(prefix="trove-lite-seed-target-")
    try:
        password, coords = replication.receive_seed(stream, app.server.binaries,
                                                    os.path.join(target, "data"))
        tables = os.listdir(os.path.join(target, "data", "seedtest"))
        return password, coords, tables
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _backup_running(sender):
    backup = sender.backup
    return backup is not None and backup.proc.poll() is None


def test_backup_starts_before_the_replica_connects(source):
    sender, stream = _offer(source)
    time.sleep(0.5)
    assert _backup_running(sender), "the backup waits for its replica on the full pipe"
    password, coords, tables = _receive(source, stream)
    assert password == "pw-seed-test"
    assert coords.get("gtid") and "t.ibd" in tables
    sender.thread.join(10)
    assert not _backup_running(sender)


def test_late_replica_gets_a_fresh_backup(source, monkeypatch):
    monkeypatch.setattr(replication.SeedSender, "PRESTART_WINDOW", 0.3)
    sender, stream = _offer(source)
    first = sender.backup.proc
    time.sleep(1.0)                   # a slow boot: the pre-started backup is dropped
    assert first.poll() is not None
    with source.connect() as conn, conn.cursor() as cur:   # written after the drop
        cur.execute("CREATE TABLE seedtest.late (id INT PRIMARY KEY)")
    password, coords, tables = _receive(source, stream)
    assert password == "pw-seed-test" and "late.ibd" in tables
    sender.thread.join(10)
    assert not _backup_running(sender)


def test_wrong_token_gets_nothing_and_stops_the_backup(source):
    sender, stream = _offer(source)
    with pytest.raises(replication.ReplicationError):
        _receive(source, dict(stream, token="0" * 32))
    sender.thread.join(10)
    assert not _backup_running(sender)
    assert not sender.thread.is_alive()
