"""Pure parts of replication: SQL builders, the config template, decisions."""

import datetime
import hashlib
import os

import pytest

from trove_lite.guestagent.datastore.mariadb import replication as r
from trove_lite.guestagent.datastore.mariadb import sql
from trove_lite.instance import replication as ir
from trove_lite.taskmanager import replication_flows as rf

TEMPLATES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "templates", "mariadb")


def test_password_hash_is_mysql_native_and_no_clear_text_in_statements():
    pw = "s3cret-Repl"
    expected = "*" + hashlib.sha1(hashlib.sha1(pw.encode()).digest()).hexdigest().upper()
    assert sql.native_password_hash(pw) == expected
    stmts = r.create_repl_user(sql.native_password_hash(pw))
    assert all(pw not in s for s in stmts)
    assert "IDENTIFIED BY PASSWORD '%s'" % expected in stmts[0]


def test_change_master_per_strategy():
    gtid = r.change_master("10.0.0.1", 3306, "gtid", {}, "os_repl", "p'w")
    assert "MASTER_USE_GTID = slave_pos" in gtid and "MASTER_LOG_FILE" not in gtid
    assert "MASTER_PASSWORD = 'p\\'w'" in gtid
    binlog = r.change_master("10.0.0.1", 3306, "binlog",
                             {"binlog_file": "mysql-bin.000002", "binlog_position": 42})
    assert "MASTER_LOG_FILE = 'mysql-bin.000002'" in binlog
    assert "MASTER_LOG_POS = 42" in binlog and "MASTER_USE_GTID = no" in binlog
    assert "MASTER_USER" not in binlog     # kept by the server when not given
    with pytest.raises(ValueError):
        r.change_master("h", 3306, "statement", {})


def test_binlog_wait_also_waits_for_the_gtid():
    coords = {"binlog_file": "mysql-bin.000001", "binlog_position": 7, "gtid": "0-1-5"}
    waits = r.wait_for_coords("binlog", coords, 10)
    assert waits[0].startswith("SELECT MASTER_POS_WAIT('mysql-bin.000001', 7, 10)")
    assert waits[1] == "SELECT MASTER_GTID_WAIT('0-1-5', 10)"
    assert r.wait_for_coords("gtid", coords, 3) == ["SELECT MASTER_GTID_WAIT('0-1-5', 3)"]


def test_replica_config_is_read_only_with_parallel_apply_from_the_flavor():
    text = r.render_config(TEMPLATES, "replica", {"ram": 2048, "vcpus": 4})
    assert "read_only = ON" in text and "slave_parallel_threads = 8" in text
    assert "read_only = OFF" in r.render_config(TEMPLATES, "source", {"ram": 512})
    assert "slave_parallel_threads" not in r.render_config(TEMPLATES, None, {"ram": 512})


def test_broken_replica_decision():
    ok = {"Slave_SQL_Running": "Yes", "Slave_IO_Running": "Yes", "Last_SQL_Errno": 0}
    assert r.decide_health("replica", ok) == (False, None)
    broken, reason = r.decide_health("replica", {"Slave_SQL_Running": "No",
                                                 "Last_SQL_Errno": 1062,
                                                 "Last_SQL_Error": "Duplicate entry"})
    assert broken and "1062" in reason
    # connecting (no error yet) is not broken; a source is never a broken replica
    assert not r.decide_health("replica", {"Slave_IO_Running": "Connecting",
                                           "Slave_SQL_Running": "Yes"})[0]
    assert r.decide_health("source", {"Last_SQL_Errno": 1})[0] is False


def test_most_advanced_replica():
    reports = {"a": {"received_coords": {"gtid": "0-1-10", "binlog_file": "mysql-bin.000001",
                                         "binlog_position": 900}},
               "b": {"received_coords": {"gtid": "0-1-12", "binlog_file": "mysql-bin.000001",
                                         "binlog_position": 800}},
               "c": None}
    assert rf.replication_winner(reports) == "b"
    by_position = {"a": {"received_coords": {"binlog_file": "mysql-bin.000002",
                                             "binlog_position": 4}},
                   "b": {"received_coords": {"binlog_file": "mysql-bin.000001",
                                             "binlog_position": 99999}}}
    assert rf.replication_winner(by_position) == "a"
    assert rf.replication_winner({}) is None


def test_source_refusals():
    assert ir.refuse_as_source("NONE", "HEALTHY", None) is None
    assert "replica of a replica" in ir.refuse_as_source("NONE", "HEALTHY", "x")
    assert "not ACTIVE" in ir.refuse_as_source("BUILDING", "HEALTHY", None)
    assert "not ACTIVE" in ir.refuse_as_source("NONE", "CRASHED", None)


def test_eject_refused_while_the_source_reports():
    now = datetime.datetime(2026, 1, 1, 12, 0, 0)
    recent = now - datetime.timedelta(seconds=5)
    old = now - datetime.timedelta(seconds=200)
    assert "healthy" in ir.refuse_eject(recent, now, 90, "HEALTHY")
    assert ir.refuse_eject(old, now, 90, "HEALTHY") is None
    assert ir.refuse_eject(recent, now, 90, "CRASHED") is None


def test_strategy_per_datastore_version():
    from oslo_config import cfg
    conf = cfg.ConfigOpts()
    ir.register(conf)
    conf([])
    assert ir.strategy_for(conf, "10.11") == "gtid"
    conf.set_override("version_strategies", {"10.5": "binlog"}, group="replication")
    assert ir.strategy_for(conf, "10.5") == "binlog"
    assert ir.strategy_for(conf, "10.11") == "gtid"


def test_binlog_resume_point_by_gtid():
    events = [("mysql-bin.000001", 4, "Format_desc", 1, 256, "Server ver"),
              ("mysql-bin.000001", 256, "Gtid_list", 1, 285, "[]"),
              ("mysql-bin.000001", 330, "Gtid", 1, 372, "BEGIN GTID 0-1-7"),
              ("mysql-bin.000001", 500, "Xid", 1, 531, "COMMIT /* xid=9 */"),
              ("mysql-bin.000001", 531, "Gtid", 2, 573, "GTID 0-2-8"),
              ("mysql-bin.000001", 700, "Gtid", 2, 742, "BEGIN GTID 0-2-9")]
    assert r.first_event_after(events, 7) == ("mysql-bin.000001", 531)
    assert r.first_event_after(events, 6) == ("mysql-bin.000001", 330)
    assert r.first_event_after(events, 9) is None
    assert r.domain0_seq("1-3-4,0-2-12") == 12 and r.domain0_seq("") == 0


def test_cut_off_switchover_ends_with_a_fault_not_forever():
    from tests.unit.controlplane.test_deciders import NOW, snap
    from trove_lite.taskmanager import reconcile
    for task in ("PROMOTING", "EJECTING", "DETACHING"):
        fresh = snap(task_status=task, service_status="HEALTHY")
        assert reconcile.decide(fresh)[0] == reconcile.WAIT
        old = snap(task_status=task, service_status="HEALTHY",
                   task_started_at=NOW - datetime.timedelta(seconds=500))
        action, reason = reconcile.decide(old)
        assert action == reconcile.FAIL_TIMEOUT and "replica_of" in reason
        assert reconcile.decide(snap(task_status=task, driven_here=True))[0] == \
            reconcile.NOTHING


# -- seeding from a stored backup, fencing (second pass of issue 13) ----------------
NOW = datetime.datetime(2026, 12, 6, 7, 0, 0)


def _backup(bid, age_s, gtid=None, slave_gtid=None):
    meta = {"binlog": {"gtid": gtid} if gtid else {}, "metadata": {}}
    if slave_gtid:
        meta["metadata"]["slave_info"] = {"gtid": slave_gtid}
    return bid, NOW - datetime.timedelta(seconds=age_s), meta


def test_seed_backup_is_the_newest_recent_one_with_a_gtid():
    cands = [_backup("old", 7200, "0-1-10"), _backup("new", 60, slave_gtid="0-1-90"),
             _backup("newest-no-gtid", 5)]
    bid, gtid, reason = rf.choose_seed_backup(cands, NOW, 3600)
    assert (bid, gtid) == ("new", "0-1-90") and "new" in reason
    # a replica's --slave-info position wins over its own binlog position
    assert ir.snapshot_gtid(_backup("b", 1, "0-1-5", "0-1-7")[2]) == "0-1-7"
    assert rf.choose_seed_backup(cands[:1], NOW, 3600)[0] is None
    assert "younger than 3600" in rf.choose_seed_backup(cands[:1], NOW, 3600)[2]
    assert "no completed backup" in rf.choose_seed_backup([], NOW, 3600)[2]


def test_binlogs_cover_reads_the_first_binlogs_gtid_list():
    assert r.binlogs_cover("[]", "0-1-4")            # binlogs from the very start
    assert r.binlogs_cover("[0-1-5]", "0-1-5")       # the file starts at 6: all there
    assert not r.binlogs_cover("[0-1-5]", "0-1-4")   # 5 was purged


def test_slave_info_parsed_from_mariadb_backup_output():
    from trove_lite.guestagent.backup.strategies import parse_slave_info
    assert parse_slave_info("[00] 2026-12-06 07:00:01 MySQL slave binlog position: "
                            "master host '127.77.1.2', gtid_slave_pos 0-1-55\n") == {
        "gtid": "0-1-55"}
    assert parse_slave_info("MySQL slave binlog position: master host '127.77.1.2', "
                            "filename 'mysql-bin.000002', position '385'") == {
        "binlog_file": "mysql-bin.000002", "binlog_position": 385}
    # what 10.11 prints for a replica without GTID (seen on this machine)
    assert parse_slave_info("[00] 2026-12-06 06:29:14 MySQL slave binlog position: master "
                            "'' filename 'mysql-bin.000001' position '1108'") == {
        "binlog_file": "mysql-bin.000001", "binlog_position": 1108}
    assert parse_slave_info("completed OK!") == {}


def test_returning_source_opened_or_fenced():
    held = {"role": "source", "writes_held": True}
    assert rf.decide_returning_source(held, None, None, "NONE")[0] == rf.OPEN
    action, reason = rf.decide_returning_source(held, "winner-id", None, "NONE")
    assert action == rf.FENCE and "winner-id" in reason
    assert rf.decide_returning_source(held, None, "src", "NONE")[0] == rf.NOTHING
    assert rf.decide_returning_source(held, None, None, "PROMOTING")[0] == rf.NOTHING
    assert rf.decide_returning_source({"role": "source", "writes_held": False}, "w",
                                      None, "NONE")[0] == rf.NOTHING


def test_fenced_and_held_members_start_read_only():
    assert "read_only = ON" in r.render_config(TEMPLATES, "fenced", {"ram": 512})
    held = r.render_config(TEMPLATES, "source", {"ram": 512}, "semisync", 1000,
                           writes_held=True)
    assert "read_only = ON" in held
    assert "read_only = OFF" in r.render_config(TEMPLATES, "source", {"ram": 512})


def test_seed_header_is_sealed_with_the_streams_token():
    sealed = r.seal_header("tok-1", {"password": "Repl-s3cret-pw"})
    assert b"Repl-s3cret-pw" not in sealed
    assert r.open_header("tok-1", sealed) == {"password": "Repl-s3cret-pw"}
    with pytest.raises(r.ReplicationError, match="does not open"):
        r.open_header("tok-2", sealed)


def test_durability_asked_only_of_members_not_showing_it():
    rep = {"role": "replica", "semisync": {"durability": "semisync", "enabled": True,
                                           "side": "replica"}}
    assert not rf.needs_durability(rep, "replica", "semisync")
    assert rf.needs_durability(rep, "replica", "async")
    assert rf.needs_durability(rep, "source", "semisync")      # promoted meanwhile
    assert rf.needs_durability(None, "replica", "semisync")
    src = {"role": "source", "semisync": {"durability": "async", "enabled": False,
                                          "side": "source"}}
    assert rf.needs_durability(src, "source", "semisync")      # its first replica
    assert not rf.needs_durability(src, "source", "async")


def test_source_enabled_only_when_its_report_does_not_show_it():
    serving = {"role": "source", "strategy": "gtid", "writes_held": False,
               "read_only": False}
    assert not rf.needs_enable(serving, "gtid")
    assert rf.needs_enable(serving, "binlog")
    assert rf.needs_enable(dict(serving, writes_held=True), "gtid")
    assert rf.needs_enable(dict(serving, read_only=True), "gtid")
    assert rf.needs_enable(None, "gtid") and rf.needs_enable({"role": "replica"}, "gtid")
