"""Replica topologies: the engine inspects a replica and finds the master from it
(gh-ost's default mode), and --test-on-replica swaps and swaps back on the replica."""

import time

import pytest

from tests.functional.osc import support

pytestmark = pytest.mark.slow


def _make_pair(mariadb_factory, rows=1000, **replica_options):
    """A master with table t of ``rows`` rows and a replica that has caught up."""
    master = mariadb_factory(area=201)
    replica = mariadb_factory(area=201, server_id=2, **replica_options)
    kw = support.prepare(master)
    c = replica.connect()
    with c.cursor() as cur:
        cur.execute("change master to master_host=%s, master_port=%s, master_user=%s, "
                    "master_password=%s, master_use_gtid=slave_pos",
                    (master.bind_address, master.port, support.USER, support.PASSWORD))
        cur.execute("start slave")
    c.close()
    rkw = dict(kw, host=replica.bind_address)
    support.create_table(kw, "t", rows)
    _wait_replicated(rkw, rows)
    return kw, rkw


@pytest.fixture
def pair(mariadb_factory):
    return _make_pair(mariadb_factory)


def _wait_replicated(kw, rows, table="t", timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = support.connect(kw)
            with c.cursor() as cur:
                cur.execute("select count(*) from %s" % table)
                if cur.fetchone()[0] >= rows:
                    return
        except Exception:  # table not there yet
            pass
        time.sleep(0.1)
    raise AssertionError("replica did not catch up")


def _columns(kw, table="t"):
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("select column_name from information_schema.columns where "
                    "table_schema='test' and table_name=%s", (table,))
        return {r[0] for r in cur.fetchall()}


def _sync(kw, rkw, timeout=20):
    """Wait until the replica has applied everything the master has logged."""
    def q(k, sql_text):
        c = support.connect(k)
        with c.cursor() as cur:
            cur.execute(sql_text)
            value = cur.fetchone()[0]
        c.close()
        return value
    def seqs(text):
        return {p.split("-")[0]: int(p.split("-")[2]) for p in text.split(",") if p}

    # the engine's heartbeat keeps writing on the master: wait until the replica has
    # reached (or passed) the position read now
    target = seqs(q(kw, "select @@global.gtid_binlog_pos"))
    deadline = time.monotonic() + timeout
    while any(seqs(q(rkw, "select @@global.gtid_slave_pos")).get(d, -1) < n
              for d, n in target.items()):
        assert time.monotonic() < deadline, "replica did not catch up"
        time.sleep(0.05)


def _engine(rkw, tmp_path, *extra, writer=None, kw=None):
    flag = tmp_path / "postpone"
    flag.write_text("")
    cmd = [a for a in support.engine_cmd(rkw, "t", "add column extra int", *extra,
                                         "--postpone-cut-over-flag-file=%s" % flag)
           if a != "--allow-on-master"]
    log = str(tmp_path / "engine.log")
    proc = support.start_engine(cmd, log)
    try:
        support.wait_log(log, "postponing cut-over", proc)
        if writer is not None:
            writer.stop()
            _sync(kw, rkw)
        flag.unlink()
        assert proc.wait(90) == 0, open(log).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    return open(log).read()


def test_inspects_replica_applies_on_master(pair, tmp_path):
    kw, rkw = pair
    writer = support.Writer(kw, "t", rate=100)
    writer.start()
    try:
        text = _engine(rkw, tmp_path, "--chunk-size=200", writer=writer, kw=kw)
    finally:
        writer.stop()
    assert writer.ops > 0 and not writer.errors
    assert "Master found to be %s:3306" % kw["host"] in text
    assert "extra" in _columns(kw)
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")
    _wait_replicated(rkw, 1, table="_t_del")
    assert "extra" in _columns(rkw)


def test_test_on_replica_swaps_back_and_leaves_replication_stopped(pair, tmp_path):
    kw, rkw = pair
    text = _engine(rkw, tmp_path, "--test-on-replica")
    assert "swapped back" in text
    assert "extra" not in _columns(rkw) and "extra" not in _columns(kw)
    assert "extra" in _columns(rkw, "_t_gho")
    assert support.checksum(rkw, "t") == support.checksum(rkw, "_t_gho")
    c = support.connect(rkw)
    with c.cursor() as cur:
        cur.execute("show slave status")
        row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    assert row["Slave_SQL_Running"] == "No"


def test_migrate_on_replica_changes_only_the_replica(pair, tmp_path):
    kw, rkw = pair
    writer = support.Writer(kw, "t", rate=100)
    writer.start()
    try:
        _engine(rkw, tmp_path, "--migrate-on-replica", "--chunk-size=200", writer=writer, kw=kw)
    finally:
        writer.stop()
    assert writer.ops > 0 and not writer.errors
    assert "extra" in _columns(rkw) and "extra" not in _columns(kw)
    # replicated writes reached the ghost through the replica's own binlog
    assert support.checksum(rkw, "t") == support.checksum(rkw, "_t_del")
    assert support.checksum(rkw, "_t_del") == support.checksum(kw, "t")


def test_lagging_control_replica_throttles_until_it_catches_up(pair, tmp_path):
    """--throttle-control-replicas: with the replica's SQL thread stopped its lag grows,
    the engine reports itself throttled for that replica and copies nothing more; once
    replication runs again the migration finishes."""
    kw, rkw = pair
    support.create_table(kw, "t", 20000)
    _sync(kw, rkw)
    r = support.connect(rkw)
    with r.cursor() as cur:
        cur.execute("stop slave sql_thread")
    replica = "%s:%d" % (rkw["host"], rkw["port"])
    log = str(tmp_path / "engine.log")
    proc = support.start_engine(support.engine_cmd(
        kw, "t", "add column extra int", "--chunk-size=100", "--nice-ratio=1",
        "--max-lag-millis=500", "--throttle-control-replicas=%s" % replica), log)
    try:
        support.wait_log(log, "State: throttled, %s replica-lag" % replica, proc, timeout=30)
        copied = lambda: [ln for ln in open(log).read().splitlines() if ln.startswith("Copy: ")]
        time.sleep(2.5)
        held = copied()[-3:]
        assert all("throttled" in ln for ln in held), held
        assert len({ln.split(";")[0] for ln in held}) == 1, "rows were copied while throttled"
        with r.cursor() as cur:
            cur.execute("start slave sql_thread")
        assert proc.wait(120) == 0, open(log).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        with r.cursor() as cur:
            cur.execute("start slave sql_thread")
        r.close()
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")


def _binlog_format(kw):
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("select @@global.binlog_format")
        fmt = cur.fetchone()[0]
    c.close()
    return fmt


def _set_global(kw, statement):
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute(statement)
    c.close()


def _run(cmd, log):
    proc = support.start_engine(cmd, log)
    try:
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return code, open(log).read()


def _without(cmd, *flags):
    return [a for a in cmd if a not in flags]


def test_switch_to_rbr_on_a_replica_restarts_its_replication(pair, tmp_path):
    """A MIXED-format replica: refused without --switch-to-rbr; with it the engine sets
    ROW, restarts replication so the SQL thread logs rows, and the migration
    (inspecting the replica, applying on the master) completes."""
    kw, rkw = pair
    _set_global(rkw, "set global binlog_format='MIXED'")
    base = _without(support.engine_cmd(rkw, "t", "add column extra int"),
                    "--allow-on-master", "--assume-rbr")
    code, text = _run(base, str(tmp_path / "refused.log"))
    assert code == 1 and "You must be using ROW binlog format. I can switch it for you, " \
        "provided --switch-to-rbr and that %s:3306 doesn't have replicas" % rkw["host"] in text
    assert _binlog_format(rkw) == "MIXED"

    code, text = _run(base + ["--switch-to-rbr"], str(tmp_path / "switched.log"))
    assert code == 0, text[-3000:]
    assert "%s:3306 has MIXED binlog_format. I will change it to ROW" % rkw["host"] in text
    assert "Restarting replication on %s:3306" % rkw["host"] in text
    assert _binlog_format(rkw) == "ROW"
    c = support.connect(rkw)
    with c.cursor() as cur:
        cur.execute("show slave status")
        row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    c.close()
    assert (row["Slave_IO_Running"], row["Slave_SQL_Running"]) == ("Yes", "Yes")
    assert "extra" in _columns(kw)
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")


def test_switch_to_rbr_is_refused_on_a_master_with_replicas(pair, tmp_path):
    kw, rkw = pair
    _set_global(kw, "set global binlog_format='MIXED'")
    try:
        code, text = _run(_without(support.engine_cmd(kw, "t", "add column extra int"),
                                   "--assume-rbr") + ["--switch-to-rbr"],
                          str(tmp_path / "engine.log"))
        assert code == 1
        assert ("%s:3306 has MIXED binlog_format, but I'm too scared to change it to ROW "
                "because it has replicas. Bailing out" % kw["host"]) in text
        assert _binlog_format(kw) == "MIXED"
    finally:
        _set_global(kw, "set global binlog_format='ROW'")


def test_replica_without_log_slave_updates_is_refused(mariadb_factory, tmp_path):
    kw, rkw = _make_pair(mariadb_factory, rows=100, log_slave_updates="OFF")
    base = _without(support.engine_cmd(rkw, "t", "add column extra int"), "--allow-on-master")
    code, text = _run(base, str(tmp_path / "default.log"))
    assert code == 1 and "%s:3306 must have log_slave_updates enabled for executing " \
        "migration" % rkw["host"] in text
    code, text = _run(base + ["--migrate-on-replica"], str(tmp_path / "on-replica.log"))
    assert code == 1 and "%s:3306 must have log_slave_updates enabled for testing/migrating " \
        "on replica" % rkw["host"] in text
    assert "extra" not in _columns(kw)
