"""End-to-end: a migration under write load on a real mariadbd, the way the scenario
runner drives it (postpone flag, stop writes, remove flag, compare checksums)."""

import os
import re
import subprocess
import time

import pymysql
import pytest

from tests.functional.osc import support

pytestmark = pytest.mark.slow


def test_migration_under_load_keeps_every_row(mariadb_factory, tmp_path):
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    support.create_table(kw, "t", 5000)
    writer = support.Writer(kw, "t", rate=200)
    writer.start()
    flag = tmp_path / "postpone.flag"
    flag.write_text("")
    sock = str(tmp_path / "osc.sock")
    log = str(tmp_path / "engine.log")
    proc = support.start_engine(support.engine_cmd(
        kw, "t", "add column extra varchar(10) default 'x', engine=innodb",
        "--chunk-size=500", "--postpone-cut-over-flag-file=%s" % flag,
        "--serve-socket-file=%s" % sock, "--exact-rowcount"), log)
    try:
        support.wait_log(log, "postponing cut-over", proc)

        def ask(command):
            return subprocess.run(["python3", "-c", (
                "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                "s.sendall(sys.argv[2].encode() + b'\\n'); print(s.recv(4096).decode())"),
                sock, command], capture_output=True, text=True, timeout=10).stdout

        assert "State: postponing cut-over" in ask("sup")
        for role in ("applier", "inspector"):
            assert ask(role).startswith("Host: %s:%d, Version: 10.11" % (kw["host"], kw["port"]))
        writer.stop()
        assert writer.ops > 20 and not writer.errors
        os.unlink(flag)
        assert proc.wait(60) == 0, open(log).read()[-3000:]
    finally:
        writer.stop()
        if proc.poll() is None:
            proc.kill()
    text = open(log).read()
    assert "Copy: " in text and "Lock & rename duration" in text
    # where the time went, for the next performance step: copy, apply, decoding, cut-over
    profile = re.search(r"Profile: (.*)", text).group(1)
    for field in ("copy=", "apply=", "decode_cpu=", "events_applied:", "renamed:"):
        assert field in profile, profile
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("show create table t")
        assert "`extra`" in cur.fetchone()[1]
        cur.execute("select count(*) from information_schema.tables where table_schema='test' "
                    "and table_name in ('_t_gho', '_t_ghc')")
        assert cur.fetchone()[0] == 0
    c.close()


def _request(kw, **extra):
    from trove_lite.osc.context import MigrationRequest
    return MigrationRequest(database=kw["database"], table="t", host=kw["host"], port=kw["port"],
                            user=kw["user"], password=kw["password"], allow_on_master=True,
                            alter="add column extra int default 7", **extra)


def _recording_hook(tmp_path, name, words):
    """A hooks directory whose hook ``name`` writes ``words`` (expanded) to a file;
    returns (hooks directory, that file)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    seen = tmp_path / "seen"
    hook = hooks / name
    hook.write_text("#!/bin/sh\necho \"%s\" > %s\n" % (words, seen))
    hook.chmod(0o755)
    return hooks, seen


def test_library_api_postpone_unpostpone_and_hooks(mariadb_factory, tmp_path):
    """The guest agent's way: Migration in a thread, status(), unpostpone(), wait()."""
    import time

    from trove_lite.osc.context import Tunables
    from trove_lite.osc.migrator import Migration

    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    support.create_table(kw, "t", 2000)
    hooks, seen = _recording_hook(tmp_path, "gh-ost-on-before-cut-over-record",
                                  "$GH_OST_TABLE_NAME $GH_OST_GHOST_TABLE_NAME "
                                  "$GH_OST_COPIED_ROWS")
    flag = tmp_path / "postpone"
    flag.write_text("")
    m = Migration(_request(kw, hooks_path=str(hooks)),
                  Tunables({"chunk-size": 300, "postpone-cut-over-flag-file": str(flag)}),
                  status_out=open(os.devnull, "w"))
    m.start()
    deadline = time.monotonic() + 30
    while m.status()["state"] != "postponing cut-over" and time.monotonic() < deadline:
        assert not m.wait(0.05), m.error
    st = m.status()
    assert st["state"] == "postponing cut-over" and st["rows_copied"] == 2000
    assert st["copy_complete"] and st["eta_seconds"] == 0
    m.unpostpone()                                 # the flag file still exists
    assert m.wait(30) and m.error is None, m.error
    assert m.status()["result"] == "success"
    assert len(m.status()["cut_over_lock_seconds"]) == 1
    assert m.status()["profile"]["chunks"] >= 2
    assert seen.read_text().split() == ["t", "_t_gho", "2000"]
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")


def test_instant_ddl_runs_the_success_hook(mariadb_factory, tmp_path):
    """--attempt-instant-ddl: ADD COLUMN is instant on 10.11; no ghost table, and the
    success hook still tells the operator's tooling that the migration is done."""
    from trove_lite.osc.migrator import Migration

    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    support.create_table(kw, "t", 500)
    hooks, seen = _recording_hook(tmp_path, "gh-ost-on-success", "$GH_OST_TABLE_NAME done")
    m = Migration(_request(kw, hooks_path=str(hooks), attempt_instant_ddl=True),
                  status_out=open(os.devnull, "w"))
    assert m.run() is None
    assert seen.read_text().split() == ["t", "done"]
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("show create table t")
        assert "`extra`" in cur.fetchone()[1]
        cur.execute("show tables like '\\_t\\_%'")
        assert cur.fetchall() == ()
    c.close()


def test_failing_hook_aborts_and_original_is_untouched(mariadb_factory, tmp_path):
    from trove_lite.osc.migrator import Migration

    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    support.create_table(kw, "t", 500)
    before = support.checksum(kw, "t")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    hook = hooks / "gh-ost-on-validated"
    hook.write_text("#!/bin/sh\necho refused by policy >&2\nexit 3\n")
    hook.chmod(0o755)
    m = Migration(_request(kw, hooks_path=str(hooks)), status_out=open(os.devnull, "w"))
    error = m.run()
    assert error is not None and "exit code 3" in error.message
    assert "refused by policy" in error.message
    assert support.checksum(kw, "t") == before


def test_refusal_messages_are_gh_osts(mariadb_factory, tmp_path):
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("create table nokey (a int, b int)")
        cur.execute("create table t (id int primary key, v int)")
    c.close()
    cases = [("nokey", "add column c int", "no PRIMARY nor UNIQUE key found in table"),
             ("t", "drop primary key", "no PRIMARY nor UNIQUE key found in table"),
             ("t", "drop primary key, add unique key (v)",
              "no shared unique key can be found after ALTER"),
             ("t", "rename to t2", "alter statement seems to RENAME the table"),
             ("t", "add column x nosuchtype", "FATAL Error 4161 (HY000): Unknown data type")]
    for table, alter, text in cases:
        proc = subprocess.run(support.engine_cmd(kw, table, alter), capture_output=True,
                              text=True, cwd=support.ROOT, timeout=60)
        assert proc.returncode != 0
        assert text in proc.stdout + proc.stderr, (alter, proc.stderr[-1500:])


def test_changes_ahead_of_the_copy_reach_the_new_table(mariadb_factory, tmp_path):
    """Updates, deletes, re-inserts and key moves all over the key range while the copy
    is slow: rows the copy has not reached take their change from the copy, rows it
    has passed from the binlog; either way the new table equals the original."""
    import random
    import threading
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    support.create_table(kw, "t", 20000)
    stop, done = threading.Event(), []

    def write():
        rnd, c = random.Random(7), support.connect(kw)

        def run(cur, statement, args):
            try:
                return cur.execute(statement, args)
            except pymysql.IntegrityError:   # the moved-to key is taken: a normal refusal
                return 0

        with c.cursor() as cur:
            while not stop.is_set():
                run(cur, "update t set name = concat(name, '*'), price = price + 1 "
                    "where id = %s", (rnd.randint(1, 20000),))
                run(cur, "update t set id = id + 100000 where id = %s", (rnd.randint(1, 20000),))
                run(cur, "update t set id = id - 100000 where id = %s",
                    (100000 + rnd.randint(1, 20000),))
                b = rnd.randint(1, 20000)
                if run(cur, "delete from t where id = %s", (b,)):
                    run(cur, "insert into t (id, u, name) values (%s, %s, 'again')", (b, -b))
                done.append(1)
                time.sleep(0.002)
        c.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    flag = tmp_path / "postpone.flag"
    flag.write_text("")
    log = str(tmp_path / "engine.log")
    proc = support.start_engine(support.engine_cmd(
        kw, "t", "add column extra int default 3", "--chunk-size=50", "--nice-ratio=1",
        "--postpone-cut-over-flag-file=%s" % flag), log)
    try:
        support.wait_log(log, "postponing cut-over", proc, timeout=120)
        stop.set()
        writer.join(10)
        os.unlink(flag)
        assert proc.wait(60) == 0, open(log).read()[-3000:]
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
    assert len(done) > 200
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")
