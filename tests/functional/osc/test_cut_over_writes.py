"""Writes waiting on the table at cut-over must land in the migrated table.

Each write is mirrored, in the same transaction, into a twin table the migration never
touches (see twin_writes.py); after the cut-over the two must hold the same rows.
"""

import threading
import time

import pytest

from tests.functional.osc import support, twin_writes

pytestmark = pytest.mark.slow


def _wait_rename_waiting(kw, timeout=60):
    c = support.connect(kw)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with c.cursor() as cur:
                cur.execute("select count(*) from information_schema.processlist where "
                            "info like 'rename /* gh-ost */%%' and state like '%%metadata lock%%'")
                if cur.fetchone()[0]:
                    return
            time.sleep(0.01)
    finally:
        c.close()
    raise AssertionError("the cut-over's RENAME never waited")


def test_a_write_queued_behind_the_cut_over_lock_is_kept(mariadb_factory, tmp_path):
    """The RENAME is slow to queue on the table (another session holds the ghost table
    a moment, as a backup or a monitoring query may): a write waiting on the table
    must still go to the new table, after the swap, not to the old one before it."""
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    twin_writes.create_tables(kw, 2000)
    log = str(tmp_path / "engine.log")
    proc = support.start_engine(support.engine_cmd(
        kw, "t", "add column extra int not null default 7, add key k_extra (k, extra)",
        "--cut-over-lock-timeout-seconds=8"), log,
        env={"TROVE_LITE_OSC_TEST_PAUSE": "cut-over-rename-blocked:1"})
    holder = support.connect(kw)
    writer = support.connect(kw)
    outcome = []

    def write():
        try:
            with writer.cursor() as cur:
                cur.execute("begin")
                cur.execute("insert into t (k, c, pad, n) values (1, 'queued', 'w', 1)")
                new_id = cur.lastrowid
                cur.execute("insert into t_twin (id, k, c, pad, n) values "
                            "(%s, 1, 'queued', 'w', 1)", (new_id,))
                cur.execute("commit")
            outcome.append(new_id)
        except Exception as exc:  # reported by the assertion below
            outcome.append(exc)

    try:
        _wait_rename_waiting(kw)
        with holder.cursor() as cur:
            cur.execute("lock tables _t_gho read")
        t = threading.Thread(target=write, daemon=True)
        t.start()
        time.sleep(2.5)          # past the 1 s pause: the engine has dropped its sentry
        with holder.cursor() as cur:
            cur.execute("unlock tables")
        t.join(30)
        assert proc.wait(60) == 0, open(log).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        holder.close()
        writer.close()
    assert len(outcome) == 1 and isinstance(outcome[0], int), outcome
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("select c, extra from t where id = %s", (outcome[0],))
        assert cur.fetchone() == ("queued", 7), "the acknowledged insert is not in t"
    c.close()
    assert twin_writes.differences(kw) == []


def test_no_write_lost_over_repeated_cut_overs_under_load(mariadb_factory, tmp_path):
    """The issue's write pattern (600 transactions/s over 4 connections), a few migrations;
    tests/functional/osc/twin_writes.py runs the long series."""
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    twin_writes.create_tables(kw, 10000)
    writers = twin_writes.TwinWriters(kw, rate=600, connections=4)
    writers.start(10000)
    try:
        done, diff = twin_writes.run_series(kw, writers, 2, str(tmp_path))
    finally:
        writers.stop()
    assert writers.commits > 200
    assert diff == [], "writes lost after migration %d: %s" % (done, diff)
