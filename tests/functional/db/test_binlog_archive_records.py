"""The conductor's records of the binlog archive on the real control DB: segments
are kept whatever the arrival order (a re-shipped one replaces its row), the
archive state only moves forward, and the window reads them back; a deleted
instance's archive is removed whole from the store."""

import io
import os
import shutil
import tempfile

import pytest

from tests.functional.db.test_control_db import _instance
from trove_lite.backup import pitr
from trove_lite.conductor.manager import ConductorManager
from trove_lite.config import make_conf
from trove_lite.datastores import binlog
from trove_lite.db import models
from trove_lite.drivers.storage.local import LocalStorage
from trove_lite.taskmanager.backup_flows import BackupFlows


def segment(start, end, first, last, **kw):
    return dict({"kind": "data", "file": "mysql-bin.000001", "start": start, "end": end,
                 "events": 3, "first_ts": first, "last_ts": last, "location": "loc-%d" % end,
                 "first_gtid": "0-1-%d" % start, "last_gtid": "0-1-%d" % end}, **kw)


def test_segments_are_recorded_whatever_the_order_and_state_moves_forward(control_db):
    iid = _instance(control_db)
    cond = ConductorManager(control_db)
    cond.update_binlog_archive({}, iid, [segment(0, 100, 10.0, 20.0)],
                               {"state": "running", "caught_up_at": 21.0}, sent=2.0)
    # an older message arrives late: its segment counts, its state does not
    cond.update_binlog_archive({}, iid, [segment(100, 150, 20.0, 25.0)],
                               {"state": "needs_key", "public_key": "ab" * 32}, sent=1.0)
    # the same range shipped again after a restart, now longer
    cond.update_binlog_archive({}, iid, [segment(100, 180, 20.0, 26.0)],
                               {"state": "running", "caught_up_at": 27.0}, sent=3.0)
    with control_db.session() as s:
        rows = s.query(models.BinlogSegment).filter_by(instance_id=iid).order_by(
            models.BinlogSegment.start_pos).all()
        assert [(r.start_pos, r.end_pos, r.location) for r in rows] == [
            (0, 100, "loc-100"), (100, 180, "loc-180")]
        archive = s.get(models.BinlogArchive, iid)
        assert (archive.state, archive.caught_up_at) == ("running", 27.0)
        backups, segments, caught = pitr.load(s, iid)
    assert caught == 27.0 and [g.end for g in segments] == [100, 180]


def test_a_segment_sent_again_is_recorded_once_and_each_send_is_answered(control_db):
    """A guest whose answer was lost sends the same report again (issue 19)."""
    iid = _instance(control_db)
    cond = ConductorManager(control_db)
    for sent in (1.0, 2.0, 2.0):      # the last one: the same message delivered twice
        assert cond.record_binlog_segments(
            {}, iid, [segment(0, 100, 10.0, 20.0)],
            {"state": "running", "caught_up_at": 21.0}, sent=sent) == {
            "recorded": 1, "discarded": 0}
    gap = {"kind": "gap", "file": "mysql-bin.000001", "start": 100, "end": 100,
           "events": 0, "detail": "binlog mysql-bin.000001 was removed"}
    cond.record_binlog_segments({}, iid, [gap], {"state": "running"}, sent=3.0)
    with control_db.session() as s:
        rows = [(r.kind, r.start_pos, r.end_pos) for r in s.query(models.BinlogSegment)
                .filter_by(instance_id=iid).order_by(models.BinlogSegment.start_pos)]
        assert rows == [("data", 0, 100), ("gap", 100, 100)]
        assert s.get(models.BinlogArchive, iid).caught_up_at == 21.0
        s.get(models.Instance, iid).deleted = True
    # deleted and no backup left: nothing could restore from it; answered, not kept
    assert cond.record_binlog_segments({}, iid, [segment(100, 200, 20.0, 30.0)], {},
                                       sent=4.0) == {"recorded": 0, "discarded": 1}
    with control_db.session() as s:
        assert s.query(models.BinlogSegment).filter_by(instance_id=iid).count() == 2


def test_the_prune_of_a_deleted_instance_sweeps_segments_no_row_records(control_db):
    """Nothing of a deleted instance's archive is left in the store once no backup
    needs it, not even a segment whose report never became a row (uploaded as
    the instance was deleted, issue 19); another instance's archive and the
    backups' objects stay."""
    iid, other = _instance(control_db), _instance(control_db, register=False)
    state = tempfile.mkdtemp(prefix="trove-lite-prune-")
    conf = make_conf(overrides={"state_dir": state})
    store = LocalStorage(os.path.join(state, "store"))
    container = conf.backup_storage.container

    def put(name):
        return store.save("%s/%s" % (container, name), io.BytesIO(b"x" * 100), {}).location

    cond = ConductorManager(control_db)
    for inst, start in ((iid, 0), (iid, 100), (other, 0)):
        name = binlog.segment_name(inst, "mysql-bin.000001", start, start + 100)
        cond.update_binlog_archive({}, inst, [segment(start, start + 100, 10.0, 20.0,
                                                      location=put(name))],
                                   {"state": "running"}, sent=1.0 + start)
    unrecorded = put(binlog.segment_name(iid, "mysql-bin.000001", 200, 300))
    cut_off = container + "/" + binlog.segment_name(iid, "mysql-bin.000002", 0, 80)
    with pytest.raises(RuntimeError):
        store.save(cut_off, Dying(), {})             # an upload cut off mid-way
    kept = [put(binlog.segment_name(other, "mysql-bin.000001", 100, 200)),
            put("%s.xbstream.zst" % iid), put("backup-1.xbstream.zst")]
    with control_db.session() as s:
        s.get(models.Instance, iid).deleted = True
    try:
        BackupFlows(conf, control_db, None, storage_factory=lambda: store).prune_archive(iid)
        left = [n for n in _names(store) if iid + "/" in n]
        assert left == [], "left behind: %s (unrecorded: %s)" % (left, unrecorded)
        with control_db.session() as s:
            assert s.query(models.BinlogSegment).filter_by(instance_id=iid).count() == 0
            assert s.query(models.BinlogSegment).filter_by(instance_id=other).count() == 1
        for location in kept:
            assert store.exists(location)
    finally:
        shutil.rmtree(state, ignore_errors=True)


class Dying:
    def __init__(self):
        self.sent = 0

    def read(self, n):
        if self.sent:
            raise RuntimeError("agent killed")
        self.sent = 1
        return b"y" * 50


def _names(store):
    return sorted(os.path.relpath(os.path.join(d, f), store.root)
                  for d, _, files in os.walk(store.root) for f in files)
