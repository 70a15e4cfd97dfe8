"""Pure decisions of point-in-time restore: event groups and the exact stop, the
restorable window with gaps, and which backup and segments a restore uses."""

import struct

import pytest

from trove_lite.backup import pitr
from trove_lite.datastores import binlog

T0 = 1_800_000_000


def event(ts, etype, body=b"", server_id=7):
    length = binlog.HEADER_LEN + len(body) + 4          # + CRC32
    return binlog.HEADER.pack(ts, etype, server_id, length, 0, 0) + body + b"\0\0\0\0"


def gtid(ts, seq, domain=0):
    return event(ts, binlog.GTID_EVENT, struct.pack("<QIB", seq, domain, 0) + b"\0" * 6)


def file_bytes(*events):
    return binlog.MAGIC + b"".join(events)


def test_events_and_groups_are_parsed_and_a_partial_tail_is_left():
    data = file_bytes(event(T0, binlog.FORMAT_DESCRIPTION_EVENT, b"x" * 40),
                      gtid(T0 + 1, 1), event(T0 + 1, 2, b"q"), event(T0 + 2, 16, b"x"),
                      gtid(T0 + 5, 2), event(T0 + 5, 2, b"q"))
    events = binlog.parse_events(data + b"\x01\x02", 0)
    assert [e.gtid for e in events if e.gtid] == ["0-7-1", "0-7-2"]
    assert events[-1].end == len(data)
    summary = binlog.summarize(events)
    assert (summary.events, summary.first_gtid, summary.last_gtid) == (6, "0-7-1", "0-7-2")
    # a transaction whose newest event is at T0+2 is kept at T0+2, dropped at T0+1
    second_group = events[4].start
    assert binlog.stop_position(events, T0 + 2) == second_group
    assert binlog.stop_position(events, T0 + 1) == events[1].start
    assert binlog.stop_position(events, T0 + 5) is None
    # continuing mid-file from an event boundary
    tail = binlog.parse_events(data[second_group:], second_group)
    assert tail[0].gtid == "0-7-2" and tail[0].start == second_group


def test_archive_keys_differ_per_instance_and_segments_are_bound_to_their_name():
    k1, k2 = binlog.archive_key("k", "a"), binlog.archive_key("k", "b")
    assert k1 != k2 and len(bytes.fromhex(k1)) == 32
    blob = binlog.SegmentCipher(k1).encrypt(b"events", "a/binlog/x")
    assert binlog.SegmentCipher(k1).decrypt(blob, "a/binlog/x") == b"events"
    with pytest.raises(Exception):
        binlog.SegmentCipher(k1).decrypt(blob, "a/binlog/y")
    with pytest.raises(Exception):
        binlog.SegmentCipher(k2).decrypt(blob, "a/binlog/x")


def test_the_archive_key_travels_sealed_to_the_archivers_public_key():
    key = binlog.archive_key("k", "a")
    opener, other = binlog.KeyOpener(), binlog.KeyOpener()
    sealed = binlog.seal(opener.public_hex, key)
    assert key not in sealed and opener.open(sealed) == key
    with pytest.raises(Exception):
        other.open(sealed)


def seg(seq, start, end, first, last, kind="data", detail=None):
    return pitr.Segment(kind, "mysql-bin.%06d" % seq, seq, start, end, first, last, 3,
                        "loc", detail)


SEGMENTS = [seg(1, 0, 100, T0, T0 + 10), seg(1, 100, 200, T0 + 10, T0 + 20),
            seg(1, 200, 300, T0 + 21, T0 + 30),
            seg(1, 300, 300, None, None, kind="gap", detail="binlog purged"),
            seg(3, 0, 100, T0 + 60, T0 + 70), seg(3, 100, 150, T0 + 71, T0 + 80)]
B1 = pitr.BackupPoint("b1", T0 + 12.5, 1, "mysql-bin.000001", 150)
B2 = pitr.BackupPoint("b2", T0 + 65.0, 3, "mysql-bin.000003", 40)


def test_window_spans_backups_and_states_the_gap():
    covers, view = pitr.window([B1, B2], SEGMENTS, caught_up_at=T0 + 90.7)
    assert view["earliest"] == pitr.iso(T0 + 12.5)
    assert view["latest"] == pitr.iso(T0 + 89)
    assert view["gaps"] == [{"from": pitr.iso(T0 + 30), "to": pitr.iso(T0 + 65),
                             "reason": "binlog purged"}]
    assert [c.backup.id for c in covers] == ["b2", "b1"]


def test_plan_picks_the_newest_backup_before_the_time_and_refuses_outside():
    covers, view = pitr.window([B1, B2], SEGMENTS, caught_up_at=T0 + 90.7)
    now = T0 + 95
    p = pitr.plan(covers, view, T0 + 15.9, now)
    assert p["backup_id"] == "b1" and p["stop_ts"] == T0 + 15
    assert p["start"] == {"file": "mysql-bin.000001", "pos": 150}
    # from the file's start (mariadb-binlog needs its header) to the segment holding
    # the stop; none later
    assert [(s["file_seq"], s["start"]) for s in p["segments"]] == [(1, 0), (1, 100)]
    assert pitr.plan(covers, view, T0 + 75, now)["backup_id"] == "b2"
    for when, words in ((T0 + 40, "outside"), (T0 + 5, "outside"), (T0 + 30, "outside"),
                        (T0 + 200, "future"), (T0 + 89.99, None)):
        if words is None:
            assert pitr.plan(covers, view, when, T0 + 300)["backup_id"] == "b2"
            continue
        with pytest.raises(pitr.OutsideWindow) as err:
            pitr.plan(covers, view, when, now if words != "future" else T0 + 100)
        assert words in err.value.message and view["earliest"] in err.value.message
        assert "binlog purged" in err.value.message


def test_no_window_without_a_backup_the_archive_reaches():
    assert pitr.window([], SEGMENTS, T0 + 90)[1] is None
    late = pitr.BackupPoint("b0", T0 + 1, 2, "mysql-bin.000002", 4)   # never archived
    assert pitr.window([late], SEGMENTS, T0 + 90)[1] is None
    with pytest.raises(pitr.OutsideWindow) as err:
        pitr.plan([], None, T0, T0 + 10)
    assert "no restorable window" in err.value.message


@pytest.mark.parametrize("text", ["2026-01-31T12:00:00", "2026-01-31 12:00:00Z", "",
                                  "2026-02-30T00:00:00Z", 5])
def test_restore_time_format_is_checked(text):
    with pytest.raises(pitr.BadRequest):
        pitr.parse_time(text)
    assert pitr.parse_time("2026-01-31T12:00:00.250000Z") % 1 == pytest.approx(0.25)


def test_archive_retention_follows_the_backups():
    assert pitr.archive_floor([B1, B2]) == (False, 1)
    assert pitr.archive_floor([B2]) == (False, 3)
    assert pitr.archive_floor([]) == (False, None)          # nothing needed any more
    unknown = pitr.BackupPoint("b3", T0, None, None, None)
    assert pitr.archive_floor([B2, unknown]) == (True, None)
