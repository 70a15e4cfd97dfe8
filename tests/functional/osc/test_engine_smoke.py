"""End-to-end: a migration under write load on a real mariadbd, the way the scenario
runner drives it (postpone flag, stop writes, remove flag, compare checksums)."""

import os
import subprocess

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
        status = subprocess.run(["python3", "-c", (
            "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
            "s.sendall(b'sup\\n'); print(s.recv(4096).decode())"), sock],
            capture_output=True, text=True, timeout=10).stdout
        assert "State: postponing cut-over" in status
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
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("show create table t")
        assert "`extra`" in cur.fetchone()[1]
        cur.execute("select count(*) from information_schema.tables where table_schema='test' "
                    "and table_name in ('_t_gho', '_t_ghc')")
        assert cur.fetchone()[0] == 0
    c.close()
