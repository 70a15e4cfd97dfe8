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
