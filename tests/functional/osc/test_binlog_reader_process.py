"""The binlog reader runs in a child process of the engine (streamer_process.py).

What a user would notice if that went wrong: an engine killed with SIGKILL
leaving a process behind that keeps a binlog dump connection open on their
server, or a reader that dies and leaves the migration hanging forever.
"""

import os
import signal
import time

import pytest

from tests.functional.osc import support

pytestmark = pytest.mark.slow

ALTER = "add column extra varchar(10) default 'x'"


@pytest.fixture
def env(mariadb_factory, tmp_path):
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    support.create_table(kw, "t", 3000)
    yield kw, tmp_path


def _reader_pids(engine_pid):
    """PIDs of the engine's binlog reader children."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read()
        except OSError:  # the process ended while we looked
            continue
        if ppid == engine_pid and b"trove_lite.osc.streamer_process" in cmdline:
            found.append(int(entry))
    return found


def _dump_sessions(kw):
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("select id from information_schema.processlist where user = %s and "
                    "command like 'Binlog Dump%%'", (kw["user"],))
        out = [r[0] for r in cur.fetchall()]
    c.close()
    return out


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_postponed(kw, tmp):
    flag = tmp / "postpone.flag"
    flag.write_text("")
    log = str(tmp / "engine.log")
    proc = support.start_engine(support.engine_cmd(
        kw, "t", ALTER, "--postpone-cut-over-flag-file=%s" % flag), log)
    support.wait_log(log, "postponing cut-over", proc, timeout=60)
    return proc, log


def test_sigkill_of_engine_ends_its_binlog_reader(env):
    kw, tmp = env
    before = support.checksum(kw, "t")
    proc, _log = _start_postponed(kw, tmp)
    try:
        readers = _reader_pids(proc.pid)
        assert len(readers) == 1
        deadline = time.monotonic() + 10
        while not _dump_sessions(kw) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _dump_sessions(kw), "the reader should hold a binlog dump session"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while (_alive(readers[0]) or _dump_sessions(kw)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(readers[0]), "binlog reader outlived the engine"
        assert not _dump_sessions(kw), "binlog dump session left open on the server"
    finally:
        if proc.poll() is None:
            proc.kill()
    assert support.checksum(kw, "t") == before


def test_reader_death_fails_the_migration_cleanly(env):
    kw, tmp = env
    writer = support.Writer(kw, "t", rate=100)
    writer.start()
    proc, log = _start_postponed(kw, tmp)
    try:
        (reader,) = _reader_pids(proc.pid)
        os.kill(reader, signal.SIGKILL)
        assert proc.wait(30) == 1
    finally:
        writer.stop()
        if proc.poll() is None:
            proc.kill()
    text = open(log).read()
    assert "binlog reader process exited" in text, text[-2000:]
    # the original is still the table, without the new column, and nothing was lost
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("select column_name from information_schema.columns where "
                    "table_schema = 'test' and table_name = 't'")
        assert "extra" not in {r[0] for r in cur.fetchall()}
        cur.execute("select id from t")
        assert writer.surviving() <= {r[0] for r in cur.fetchall()}
    c.close()
    assert not writer.errors
