"""The guest's binlog archiver against a real mariadbd and each store: it
ships the open binlog file within a second, what it stores decrypts back to the
server's own bytes, and it resumes or reports a gap after a restart."""

import os
import shutil
import tempfile
import time
import uuid

import oslo_messaging as messaging
import pytest

from tests.functional.backup.conftest import swift_storage
from tests.functional.guestagent.conftest import SMALL_FLAVOR, new_app
from tests.support.swift_aio import swift_aio  # noqa: F401  (fixture)
from trove_lite.datastores import binlog
from trove_lite.drivers.storage.local import LocalStorage
from trove_lite.guestagent.binlog_archive import BinlogArchiver, read_index
from trove_lite.guestagent.state import GuestState

KEY = binlog.archive_key("tenant-key", "inst-1")


class Conductor:
    """Records what reaches it, as the conductor's rows would."""

    def __init__(self):
        self.segments, self.statuses = [], []

    def update_binlog_archive(self, instance_id, segments, status, sent=None):
        self.segments.extend(segments)
        self.statuses.append(status)

    def record_binlog_segments(self, instance_id, segments, status, sent=None):
        self.update_binlog_archive(instance_id, segments, status, sent)
        return True


class LosingConductor(Conductor):
    """Takes the first ``lose`` segment reports off the bus and loses them, as a
    conductor killed right after oslo.messaging acknowledged them: a cast returns
    as if delivered, a call never gets its answer."""

    def __init__(self, lose):
        super().__init__()
        self.lose = lose

    def _lost(self, segments):
        if segments and self.lose:
            self.lose -= 1
            return True
        return False

    def update_binlog_archive(self, instance_id, segments, status, sent=None):
        if not self._lost(segments):
            super().update_binlog_archive(instance_id, segments, status, sent)

    def record_binlog_segments(self, instance_id, segments, status, sent=None):
        if self._lost(segments):
            raise messaging.MessagingTimeout("no reply to record_binlog_segments")
        return super().record_binlog_segments(instance_id, segments, status, sent)


@pytest.fixture(scope="module")
def app():
    app, root = new_app()
    try:
        app.prepare(SMALL_FLAVOR, server_id=203)
        yield app
    finally:
        app.server.stop(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["local", "swift"])
def archiver(request, app):
    work = tempfile.mkdtemp(prefix="trove-lite-arch-")
    if request.param == "local":
        store = LocalStorage(os.path.join(work, "store"))
    else:
        store = swift_storage(request.getfixturevalue("swift_aio"))
    conductor = Conductor()
    arch = BinlogArchiver("inst-1", GuestState(os.path.join(work, "state.json")),
                          lambda: app.server.datadir, lambda: store, lambda: conductor,
                          "b-" + uuid.uuid4().hex[:10], interval=0.1)
    arch.set_key(binlog.seal(arch.public_key, KEY))
    arch.conductor, arch.store = conductor, store
    yield arch
    arch.stop()
    shutil.rmtree(work, ignore_errors=True)


def run_sql(app, *statements):
    conn = app.server.connect()
    try:
        with conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
        conn.commit()
    finally:
        conn.close()


def drain(arch):
    while not arch.step():
        pass


def stored_bytes(arch, file):
    cipher = binlog.SegmentCipher(KEY)
    out = b""
    for seg in sorted((s for s in arch.conductor.segments
                       if s["kind"] == "data" and s["file"] == file),
                      key=lambda s: s["start"]):
        assert seg["start"] == len(out)
        with arch.store.load(seg["location"]) as r:
            blob = b"".join(iter(lambda: r.read(1 << 20), b""))
        out += cipher.decrypt(blob, seg["name"])
    return out


def test_open_binlog_is_archived_exactly_and_gtids_recorded(app, archiver):
    run_sql(app, "CREATE DATABASE IF NOT EXISTS a",
            "CREATE TABLE IF NOT EXISTS a.t (i INT PRIMARY KEY)",
            "INSERT IGNORE INTO a.t VALUES (1), (2)")
    drain(archiver)
    current = read_index(app.server.datadir)[-1]
    with open(os.path.join(app.server.datadir, current), "rb") as f:
        on_disk = f.read()
    assert stored_bytes(archiver, current) == on_disk
    last = archiver.conductor.segments[-1]
    assert last["last_gtid"] and last["events"] > 0 and last["last_ts"] >= time.time() - 60
    assert archiver.conductor.statuses[-1]["caught_up_at"]
    # nothing new: no new segment, a caught-up status
    before = len(archiver.conductor.segments)
    assert archiver.step() is True
    assert len(archiver.conductor.segments) == before


def test_rotation_is_followed_and_a_purged_file_is_reported_as_a_gap(app, archiver):
    run_sql(app, "CREATE DATABASE IF NOT EXISTS b", "CREATE TABLE IF NOT EXISTS b.t (i INT)",
            "INSERT INTO b.t VALUES (1)")
    drain(archiver)
    first = read_index(app.server.datadir)[-1]
    run_sql(app, "FLUSH BINARY LOGS", "INSERT INTO b.t VALUES (2)")
    drain(archiver)
    second = read_index(app.server.datadir)[-1]
    assert second != first
    assert {s["file"] for s in archiver.conductor.segments} >= {first, second}
    # the agent "stops"; meanwhile the file it stood in is purged
    run_sql(app, "INSERT INTO b.t VALUES (3)", "FLUSH BINARY LOGS",
            "INSERT INTO b.t VALUES (4)")
    third = read_index(app.server.datadir)[-1]
    run_sql(app, "PURGE BINARY LOGS TO '%s'" % third)
    drain(archiver)
    gaps = [s for s in archiver.conductor.segments if s["kind"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["file"] == second and "removed" in gaps[0]["detail"]
    assert stored_bytes(archiver, third) == open(
        os.path.join(app.server.datadir, third), "rb").read()


def test_a_segment_report_lost_with_the_conductor_is_sent_again(app, archiver):
    """The restorable window has no silent hole and the store holds no segment the
    control plane does not know (issue 19): the archiver counts a segment as
    archived only once the conductor confirmed it."""
    conductor = LosingConductor(lose=2)
    archiver.conductor_fn = lambda: conductor
    archiver.conductor = conductor
    run_sql(app, "CREATE DATABASE IF NOT EXISTS lost",
            "CREATE TABLE IF NOT EXISTS lost.t (i INT PRIMARY KEY)")
    drain(archiver)
    run_sql(app, "INSERT IGNORE INTO lost.t VALUES (1), (2)")
    drain(archiver)
    assert conductor.lose == 0                 # both reports were lost on the way
    current = read_index(app.server.datadir)[-1]
    with open(os.path.join(app.server.datadir, current), "rb") as f:
        on_disk = f.read()
    recorded = [s for s in conductor.segments if s["kind"] == "data"]
    # contiguous from the file's start (stored_bytes asserts it), and whole
    assert stored_bytes(archiver, current) == on_disk
    stored = set(archiver.store.list_objects(archiver.container + "/inst-1/binlog/"))
    assert stored and stored <= {s["location"] for s in recorded}, "stored, never recorded"


class DeletedConductor(Conductor):
    """The instance is deleted and no backup of it is left: the conductor answers
    and records nothing, as its ``_record_segments`` does then."""

    def record_binlog_segments(self, instance_id, segments, status, sent=None):
        self.statuses.append(status)
        return {"recorded": 0, "discarded": len(segments)}


def test_a_segment_the_conductor_discards_is_removed_from_the_store(app, archiver):
    """A segment shipped after its instance was deleted (and its archive swept) is
    recorded by no row, so no prune would ever remove it: the archiver does."""
    conductor = DeletedConductor()
    archiver.conductor_fn = lambda: conductor
    archiver.conductor = conductor
    run_sql(app, "CREATE DATABASE IF NOT EXISTS gone",
            "CREATE TABLE IF NOT EXISTS gone.t (i INT PRIMARY KEY)",
            "INSERT IGNORE INTO gone.t VALUES (1)")
    drain(archiver)
    assert conductor.statuses, "nothing was shipped"
    assert archiver.store.list_objects(archiver.container + "/inst-1/binlog/") == []


class KillingConductor(Conductor):
    """Never answers; the agent is killed while it waits (``arch`` stops)."""

    arch = None

    def record_binlog_segments(self, instance_id, segments, status, sent=None):
        self.arch.stop()
        raise messaging.MessagingTimeout("no reply to record_binlog_segments")


def test_a_segment_cut_off_before_its_report_is_replaced_not_left_behind(app, archiver):
    """An agent killed between a segment's upload and its confirmation ships it
    again, longer, after its restart; the first upload does not stay in the store."""
    drain(archiver)
    killing = KillingConductor()
    killing.arch = archiver
    archiver.conductor_fn = lambda: killing
    run_sql(app, "CREATE DATABASE IF NOT EXISTS cut",
            "CREATE TABLE IF NOT EXISTS cut.t (i INT AUTO_INCREMENT PRIMARY KEY)",
            "INSERT INTO cut.t VALUES (NULL)")
    with pytest.raises(RuntimeError, match="stopped before"):
        archiver.step()
    prefix = archiver.container + "/inst-1/binlog/"
    cut_off = set(archiver.store.list_objects(prefix)) - {
        s["location"] for s in archiver.conductor.segments}
    assert len(cut_off) == 1                        # stored, never confirmed
    run_sql(app, "INSERT INTO cut.t VALUES (NULL)")   # the file grows meanwhile
    restarted = BinlogArchiver("inst-1", archiver.state, archiver.datadir_fn,
                               archiver.storage_fn, lambda: archiver.conductor,
                               archiver.container, interval=0.1)
    restarted.set_key(binlog.seal(restarted.public_key, KEY))
    restarted.conductor, restarted.store = archiver.conductor, archiver.store
    drain(restarted)
    current = read_index(app.server.datadir)[-1]
    with open(os.path.join(app.server.datadir, current), "rb") as f:
        assert stored_bytes(restarted, current) == f.read()
    stored = set(archiver.store.list_objects(prefix))
    assert not stored & cut_off, "the cut-off upload was left behind"
    assert stored <= {s["location"] for s in archiver.conductor.segments}


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_held_archiver_ships_nothing_until_released(app, archiver):
    # an agent upgrading its database holds the archiver (cmd/guestagent.py)
    archiver.hold()
    archiver.start()
    run_sql(app, "CREATE DATABASE IF NOT EXISTS h", "CREATE TABLE IF NOT EXISTS h.t (i INT)",
            "INSERT INTO h.t VALUES (1)")
    time.sleep(1)       # 10 of its passes
    assert archiver.conductor.segments == []
    archiver.release()
    current = read_index(app.server.datadir)[-1]
    assert wait_until(lambda: any(s["file"] == current for s in archiver.conductor.segments))


def test_a_held_archiver_still_reports_the_key_it_needs(app):
    conductor = Conductor()
    work = tempfile.mkdtemp(prefix="trove-lite-arch-")
    arch = BinlogArchiver("inst-2", GuestState(os.path.join(work, "state.json")),
                          lambda: app.server.datadir,
                          lambda: LocalStorage(os.path.join(work, "store")),
                          lambda: conductor, "backups", interval=0.1)
    try:
        arch.hold()
        arch.start()
        # the control plane seals the archive key to this public key: a new agent
        # must send it even while held, else it gets its predecessor's
        assert wait_until(lambda: conductor.statuses)
        assert conductor.statuses[0] == {"state": "needs_key",
                                         "public_key": arch.public_key}
    finally:
        arch.stop()
        shutil.rmtree(work, ignore_errors=True)
