"""The conductor's records of the binlog archive on the real control DB: segments
are kept whatever the arrival order (a re-shipped one replaces its row), the
archive state only moves forward, and the window reads them back."""

from tests.functional.db.test_control_db import _instance
from trove_lite.backup import pitr
from trove_lite.conductor.manager import ConductorManager
from trove_lite.db import models


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
