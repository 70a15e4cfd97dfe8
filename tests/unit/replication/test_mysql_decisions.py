"""Pure parts of MySQL replication: Oracle GTID sets, SQL builders, the template,
the status renaming and the eject's choice across both GTID flavours."""

import os

from oslo_config import cfg

from trove_lite.datastores.mysql import gtid
from trove_lite.datastores.mysql import passwords
from trove_lite.guestagent.datastore.mariadb import replication as r
from trove_lite.guestagent.datastore.mysql import replication as mr
from trove_lite.instance import replication as ir

TEMPLATES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "templates", "mysql")
A = "3eb9eb4a-f15c-11f1-9664-02fc00000001"
B = "4e21542c-f15c-11f1-9cb4-02fc00000002"


def test_gtid_sets_union_and_count():
    assert gtid.count("%s:1-6" % A) == 6
    assert gtid.count("%s:1-5:7,\n%s:1-3" % (A, B)) == 9
    assert gtid.union("%s:1-5" % A, "%s:6-9" % A) == "%s:1-9" % A
    assert gtid.union("%s:1-5" % A, None, "%s:2" % B) == "%s:1-5,%s:2" % (A, B)
    assert gtid.count("") == 0 and gtid.union() == ""
    assert gtid.is_oracle("%s:1" % A) and not gtid.is_oracle("0-1-5")


def test_most_advanced_replica_by_oracle_gtid_set():
    reports = {"a": {"gtid": "%s:1-40" % A}, "b": {"gtid": "%s:1-41" % A},
               "c": {"gtid": "%s:1-30,%s:1-5" % (A, B)}}
    assert r.most_advanced(reports) == "b"
    assert r.domain0_seq("0-1-5,1-2-3") == 5       # MariaDB's unchanged


def test_account_from_its_hash_and_donates_clones():
    pw = "s3cret-Repl"
    stmts = mr.create_repl_user(passwords.caching_sha2_hash(pw))
    assert all(pw not in s for s in stmts)
    assert "IDENTIFIED WITH caching_sha2_password AS '$A$" in stmts[0]
    assert "BACKUP_ADMIN" in stmts[1] and "REPLICATION SLAVE" in stmts[1]


def test_change_source_auto_positions_and_gets_the_public_key():
    stmt = mr.change_source("10.0.0.1", 3306, "os_repl", "p'w")
    assert stmt.startswith("CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.0.0.1'")
    assert "SOURCE_AUTO_POSITION = 1" in stmt and "GET_SOURCE_PUBLIC_KEY = 1" in stmt
    assert "SOURCE_PASSWORD = 'p\\'w'" in stmt
    assert "SOURCE_USER" not in mr.change_source("h", 3306)   # kept by the server
    assert mr.wait_for_gtids("%s:1-7" % A, 5) == (
        "SELECT IF(WAIT_FOR_EXECUTED_GTID_SET('%s:1-7', 5) = 0, 0, -1)" % A)


def test_replica_status_renamed_to_mariadb_columns():
    row = {"Replica_IO_Running": "Yes", "Replica_SQL_Running": "No",
           "Last_SQL_Errno": 1062, "Last_SQL_Error": "Duplicate entry",
           "Seconds_Behind_Source": 0, "Source_Host": "10.0.0.1",
           "Executed_Gtid_Set": "%s:1-7" % A, "Retrieved_Gtid_Set": "%s:5-9" % A}
    named = mr.mariadb_names(row)
    assert named["Slave_SQL_Running"] == "No" and named["Master_Host"] == "10.0.0.1"
    assert named["Gtid_Slave_Pos"] == "%s:1-7" % A
    assert named["Gtid_IO_Pos"] == "%s:1-9" % A
    broken, reason = r.decide_health("replica", named)
    assert broken and "1062" in reason
    assert mr.mariadb_names(None) is None


def test_replica_template_is_super_read_only_with_parallel_workers():
    text = r.render_config(TEMPLATES, "replica", {"ram": 2048, "vcpus": 4})
    assert "[mysqld]" in text and "super_read_only = ON" in text
    assert "replica_parallel_workers = 8" in text
    assert "super_read_only = OFF" in r.render_config(TEMPLATES, "source", {"ram": 512})
    assert "super_read_only = ON" in r.render_config(TEMPLATES, "source", {"ram": 512},
                                                     writes_held=True)
    assert "super_read_only = ON" in r.render_config(TEMPLATES, "fenced", {})


def test_mysql_strategy_is_gtid_whatever_the_default():
    conf = cfg.ConfigOpts()
    conf([], project="x")
    ir.register(conf)
    conf.set_override("strategy", "binlog", group="replication")
    assert ir.strategy_for(conf, "9.7", "mysql") == "gtid"
    assert ir.strategy_for(conf, "10.11", "mariadb") == "binlog"


def test_a_parallel_workers_error_is_read_from_the_error_log():
    coordinator = ("Coordinator stopped because there were error(s) in the worker(s). "
                   "The most recent failure being: Worker 1 failed executing transaction "
                   "'%s:994' at source log mysql-bin.000001, end_log_pos 308351. See error "
                   "log and/or performance_schema..." % A)
    log = ("2026-12-06T10:14:13Z 14 [ERROR] [MY-010584] [Repl] Replica SQL for channel '': "
           "Worker 1 failed executing transaction '%s:994' at source log mysql-bin.000001, "
           "end_log_pos 308351; Could not execute Write_rows event on table shop.orders; "
           "Duplicate entry '777777' for key 'orders.PRIMARY', Error_code: 1062; handler "
           "error HA_ERR_FOUND_DUPP_KEY\n" % A)
    errno, message = mr.worker_error(coordinator, log)
    assert errno == 1062 and "Duplicate entry '777777'" in message
    assert mr.worker_error("Error 'Duplicate entry' on query", log) is None
    assert mr.worker_error(coordinator, "") is None
