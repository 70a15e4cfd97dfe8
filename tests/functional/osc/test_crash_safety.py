"""Crash safety of the OSC engine on a real mariadbd under write load.

- SIGKILL of the engine during row copy: the original table is untouched and
  complete; ``--resume`` finishes the migration with identical checksums.
- KILL CONNECTION of the lock-holding session, and separately of the rename
  session, during cut-over: writers unblock, the original table stays the
  table (complete), the engine retries and finishes with identical checksums.
"""

import os
import re
import signal
import time

import pytest

from tests.functional.osc import support

pytestmark = pytest.mark.slow

ALTER = "add column extra varchar(10) default 'x', engine=innodb"


@pytest.fixture
def env(mariadb_factory, tmp_path):
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    yield server, kw, tmp_path


def _columns(kw, table):
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("select column_name from information_schema.columns where "
                    "table_schema='test' and table_name=%s", (table,))
        out = {r[0] for r in cur.fetchall()}
    c.close()
    return out


def _ids(kw, table):
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("select id from %s" % table)
        out = {r[0] for r in cur.fetchall()}
    c.close()
    return out


def _finish_postponed(proc, log, flag, writer):
    support.wait_log(log, "postponing cut-over", proc, timeout=90)
    writer.stop()
    os.unlink(flag)
    assert proc.wait(60) == 0, open(log).read()[-3000:]


def test_sigkill_during_row_copy_then_resume(env):
    server, kw, tmp = env
    support.create_table(kw, "t", 20000)
    before = support.checksum(kw, "t")
    cmd = support.engine_cmd(kw, "t", ALTER, "--chunk-size=200", "--checkpoint",
                             "--checkpoint-seconds=1")
    log1 = str(tmp / "run1.log")
    proc = support.start_engine(cmd, log1, env={"TROVE_LITE_OSC_TEST_PAUSE": "row-copy:0.05"})
    try:
        support.wait_log(log1, "checkpoint success at coords=", proc)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Row copy complete" not in open(log1).read()
    # the original is untouched: same content, same schema
    assert support.checksum(kw, "t") == before
    assert "extra" not in _columns(kw, "t")

    writer = support.Writer(kw, "t", rate=150)
    writer.start()
    flag = tmp / "postpone.flag"
    flag.write_text("")
    log2 = str(tmp / "run2.log")
    proc = support.start_engine(cmd + ["--resume", "--postpone-cut-over-flag-file=%s" % flag],
                                log2)
    try:
        support.wait_log(log2, "Resuming from checkpoint", proc)
        _finish_postponed(proc, log2, str(flag), writer)
    finally:
        writer.stop()
        if proc.poll() is None:
            proc.kill()
    assert not writer.errors
    assert "extra" in _columns(kw, "t")
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")
    assert writer.surviving() <= _ids(kw, "t")


def _kill_session_during_cut_over(kw, tmp, which):
    support.create_table(kw, "t", 3000)
    writer = support.Writer(kw, "t", rate=200)
    writer.start()
    throttle = tmp / "throttle.flag"
    log = str(tmp / "engine.log")
    proc = support.start_engine(
        support.engine_cmd(kw, "t", ALTER, "--chunk-size=500",
                           "--throttle-flag-file=%s" % throttle),
        log, env={"TROVE_LITE_OSC_TEST_PAUSE": "cut-over-rename-blocked:3"})
    try:
        support.wait_log(log, "Found atomic RENAME to be blocking", proc)
        text = open(log).read()
        lock_id = int(re.search(r"Session locking original & magic tables is (\d+)", text)[1])
        rename_id = int(re.search(r"Session renaming tables is (\d+)", text)[1])
        blocked_ops = writer.ops
        time.sleep(0.3)
        assert writer.ops <= blocked_ops + 1, "writes should wait on the cut-over lock"
        throttle.write_text("")          # hold the engine's retry until we have looked
        root = support.connect(kw)
        with root.cursor() as cur:
            cur.execute("kill connection %d" % (lock_id if which == "lock" else rename_id))
        root.close()
        support.wait_log(log, "cut-over attempt 1/3 failed", proc, timeout=20)
        ops = writer.ops
        deadline = time.monotonic() + 5
        while writer.ops < ops + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.ops >= ops + 5, "writers stay blocked after the session died"
        writer.stop()
        # the original table is still the table, complete, and no sentry is left
        assert "extra" not in _columns(kw, "t")
        assert writer.surviving() <= _ids(kw, "t")
        assert not _columns(kw, "_t_del")
        os.unlink(throttle)
        assert proc.wait(60) == 0, open(log).read()[-3000:]
    finally:
        writer.stop()
        if proc.poll() is None:
            proc.kill()
    assert "extra" in _columns(kw, "t")
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")
    assert writer.surviving() <= _ids(kw, "t")


def test_lock_session_killed_during_cut_over(env):
    _server, kw, tmp = env
    _kill_session_during_cut_over(kw, tmp, "lock")


def test_rename_session_killed_during_cut_over(env):
    _server, kw, tmp = env
    _kill_session_during_cut_over(kw, tmp, "rename")
