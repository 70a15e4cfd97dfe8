"""Values that reach the ghost table only through the binlog arrive exactly.

Rows are written while the migration postpones its cut-over, so every one of
them is applied from binlog events (not copied); the old and the new table must
then be identical, value for value."""

import os
import time

import pytest

from tests.functional.osc import support
from trove_lite.osc.context import MigrationRequest, Tunables
from trove_lite.osc.migrator import Migration

pytestmark = pytest.mark.slow

COLUMNS = ("id", "t0", "t1", "t3", "t6", "s", "e", "d", "dt", "ts", "b", "j", "f", "dbl",
           "dec1", "vb", "bl", "txt", "y", "ub")

ROWS = [
    ("-00:00:00", "-00:00:00.1", "-00:00:00.001", "-00:00:00.000099", "", "x", "0000-00-00",
     "2020-00-15 10:00:00", "0000-00-00 00:00:00", 0, '{"a": [1, 2.5, null]}', 1.1, 1e-300,
     "-12345.678", b"\x00\xff", b"\x00\x01\x02\xfe", "h\u00e9llo \U0001F600", 1901, 2 ** 64 - 1),
    ("838:59:59", "-838:59:59.9", "12:34:56.789", "-01:02:03.123456", "a,c", "y", "2020-05-00",
     "2021-02-03 04:05:06.5", "2038-01-19 03:14:07.999999", 21, "[]", -3.4e38, 2.5,
     "0.001", b"", b"", "", 2155, 0),
    ("00:00:01", "00:00:00.0", "-00:00:00.999", "-838:59:59.000001", None, None, None,
     None, "1970-01-01 00:00:01", None, None, None, None, None, None, None, None, None, None),
]


def test_binlog_applied_values_round_trip(mariadb_factory, tmp_path):
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    c = support.connect(kw)
    cur = c.cursor()
    cur.execute("set session sql_mode='NO_ENGINE_SUBSTITUTION', time_zone='+03:00'")
    cur.execute(
        "create table t (id int auto_increment primary key, t0 time, t1 time(1), t3 time(3), "
        "t6 time(6), s set('a','b','c') null, e enum('x','y') null, d date null, "
        "dt datetime(1) null, ts timestamp(6) null default null, b bit(5) null, j json null, "
        "f float null, dbl double null, dec1 decimal(12,3) null, vb varbinary(8) null, "
        "bl blob null, txt varchar(40) charset utf8mb4 null, y year null, "
        "ub bigint unsigned null)")
    cur.execute("insert into t (t0) values ('00:00:00')")
    flag = tmp_path / "postpone"
    flag.write_text("")
    req = MigrationRequest(database="test", table="t", alter="engine=innodb",
                           host=kw["host"], port=kw["port"], user=kw["user"],
                           password=kw["password"], allow_on_master=True,
                           allow_zero_in_date=True)
    m = Migration(req, Tunables({"postpone-cut-over-flag-file": str(flag)}),
                  status_out=open(os.devnull, "w"))
    m.start()
    deadline = time.monotonic() + 30
    while m.status()["state"] != "postponing cut-over" and time.monotonic() < deadline:
        assert not m.wait(0.05), m.error
    marks = ", ".join(["%s"] * (len(COLUMNS) - 1))
    for row in ROWS:
        cur.execute("insert into t (%s) values (%s)" % (", ".join(COLUMNS[1:]), marks), row)
    # updates and a key move go through the same path
    cur.execute("update t set s = '', txt = concat(txt, '!') where id = 2")
    cur.execute("update t set id = 100 where id = 3")
    cur.execute("delete from t where id = 1")
    applied = m.status()["dml_applied"]
    deadline = time.monotonic() + 10
    while m.status()["dml_applied"] < applied + 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    flag.unlink()
    assert m.wait(30) and m.error is None, m.error
    c.close()
    assert support.checksum(kw, "t", COLUMNS) == support.checksum(kw, "_t_del", COLUMNS)
    assert support.checksum(kw, "t", COLUMNS)[0] == 3


DECODED_TABLE = (
    "create table d (id int primary key, ti tinyint, tiu tinyint unsigned, si smallint, "
    "siu smallint unsigned, mi mediumint, miu mediumint unsigned, i int, iu int unsigned, "
    "bi bigint, biu bigint unsigned, c4 char(4) charset latin1, c10 char(10) charset utf8mb4, "
    "bn binary(4), vb varbinary(300), v300 varchar(300) charset utf8mb4, "
    "vl varchar(20) charset latin1, tt tinytext, mt mediumtext charset utf8mb4, lb longblob, "
    "tb tinyblob, e enum('x','y','z'), s set('a','b','c'), j json, b bit(11), "
    "dt datetime(6), t time(2), y year, dec1 decimal(30,10), f float, "
    "gv int as (i + 1) virtual, gs varchar(30) as (concat(vl, '!')) stored)")
DECODED_COLUMNS = ("id", "ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "c4",
                   "c10", "bn", "vb", "v300", "vl", "tt", "mt", "lb", "tb", "e", "s", "j", "b",
                   "dt", "t", "y", "dec1", "f")
DECODED_ROWS = [
    (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
     -2 ** 63, 2 ** 64 - 1, "\u00e9t\u00e9", "\U0001F680 na\u00efve", b"\x00\x01", b"\xff" * 300,
     "\u00e9" * 300, "caf\u00e9 \u00fc", "tiny", "\U0001F600" * 100, b"\x00" * 70000,
     b"\x80\x81", "z", "a,c", '{"k": [1, "\u00e9", null]}', 2047,
     "2024-02-29 23:59:59.999999", "-838:59:59.99", 2155, "-12345678901234567890.0123456789",
     -1.5),
    (2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", "", b"", b"", "", "", "", "", b"", b"", "x", "", "[]",
     0, "1000-01-01 00:00:00", "00:00:00", 1901, "0", 0.0),
    (3,) + (None,) * (len(DECODED_COLUMNS) - 1),
]


def _decoded_changes(kw, start_gtid, events, decoder, monkeypatch):
    """Every change of table d as the reader queues it, decoded with ``decoder``."""
    import logging
    import queue as queue_mod

    from trove_lite.osc import streamer as streamer_mod
    from trove_lite.osc.conn import ConnectionConfig
    with monkeypatch.context() as patch:
        patch.setattr(streamer_mod, "_read_column_data", decoder)
        reader = streamer_mod.Streamer(
            ConnectionConfig(kw["host"], kw["port"], kw["user"], kw["password"]), "test", "d",
            "_d_ghc", start_gtid, 4242 + id(decoder) % 100000, logging.getLogger("test"))
        reader.start()
        try:
            changes = []
            deadline = time.monotonic() + 30
            while len(changes) < events and time.monotonic() < deadline:
                try:
                    changes.extend(reader.queue.get(timeout=0.2).changes)
                except queue_mod.Empty:
                    assert reader.error is None, reader.error
        finally:
            reader.stop()
    return changes


def test_the_reader_decodes_every_type_as_the_library_does(mariadb_factory, monkeypatch):
    """streamer._read_column_data decodes integers and strings itself: every value, its
    type included, must be what the library's own decoder gives for the same binlog."""
    from trove_lite.osc import streamer as streamer_mod
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    c = support.connect(kw)
    cur = c.cursor()
    cur.execute(DECODED_TABLE)
    cur.execute("select @@gtid_binlog_pos")
    start = cur.fetchone()[0]
    marks = ", ".join(["%s"] * len(DECODED_COLUMNS))
    for row in DECODED_ROWS:
        cur.execute("insert into d (%s) values (%s)" % (", ".join(DECODED_COLUMNS), marks), row)
    cur.execute("update d set vl = 'x\u00e9', s = '', j = '{}', bn = 'ab' where id = 1")
    cur.execute("update d set ti = null, v300 = repeat('\u00fc', 200) where id = 2")
    cur.execute("delete from d where id in (1, 3)")
    c.close()
    events = 3 + 2 + 2
    ours = _decoded_changes(kw, start, events, streamer_mod._read_column_data, monkeypatch)
    library = _decoded_changes(kw, start, events, streamer_mod._LIBRARY_READ_COLUMN_DATA,
                               monkeypatch)
    assert len(ours) == events

    def typed(changes):
        return [(kind, None if b is None else {k: (type(v), v) for k, v in b.items()},
                 None if a is None else {k: (type(v), v) for k, v in a.items()})
                for kind, b, a in changes]
    for mine, theirs in zip(typed(ours), typed(library)):
        for image in (1, 2):
            if mine[image] != theirs[image]:
                assert {k: v for k, v in mine[image].items() if theirs[image][k] != v} == \
                    {k: v for k, v in theirs[image].items() if mine[image][k] != v}
    assert typed(ours) == typed(library)
    inserted = ours[0][2]
    assert inserted["tiu"] == 255 and inserted["bi"] == -2 ** 63 and inserted["gs"] == \
        "caf\u00e9 \u00fc!" and inserted["lb"] == b"\x00" * 70000
