"""Schema, conductor ordering and trove-lite-manage on SQLite and on MariaDB."""

import datetime
import json
import os
import threading
import time

import pytest
from sqlalchemy import inspect, select

from trove_lite.cmd import manage
from trove_lite.conductor.manager import ConductorManager
from trove_lite.db import models


def test_migrations_create_every_model_table_and_are_idempotent(control_db):
    control_db.sync()  # a second run changes nothing and does not fail
    tables = set(inspect(control_db.engine).get_table_names())
    assert set(models.Base.metadata.tables) <= tables
    cols = {c["name"] for c in inspect(control_db.engine).get_columns("instances")}
    assert {"id", "tenant_id", "task_status", "server_id", "volume_id", "address"} <= cols


def _instance(db, register=True):
    if register:
        manage.datastore_update(db, "mariadb", "")
        manage.datastore_version_update(db, "mariadb", "10.11", "mariadb", "img", "", "1")
        manage.flavor_create(db, "1", "tiny", 512, 1, 2)
    with db.session() as s:
        v = s.execute(select(models.DatastoreVersion)).scalar_one()
        inst = models.Instance(name="i", tenant_id="t", flavor_id="1",
                               datastore_version_id=v.id)
        s.add(inst)
        s.flush()
        s.add(models.ServiceStatus(instance_id=inst.id, status="NEW"))
        return inst.id


def _status(db, iid):
    with db.session() as s:
        return s.execute(select(models.ServiceStatus.status).where(
            models.ServiceStatus.instance_id == iid)).scalar_one()


@pytest.mark.parametrize("batch_ms", [0, 5])
def test_conductor_keeps_the_newest_heartbeat_whatever_the_arrival_order(control_db,
                                                                          batch_ms):
    iid = _instance(control_db)
    cond = ConductorManager(control_db, batch_ms)
    now = time.time()
    cond.heartbeat({}, iid, {"service_status": "HEALTHY"}, sent=now)
    cond.heartbeat({}, iid, {"service_status": "SHUTDOWN"}, sent=now - 5)  # delayed, older
    assert _status(control_db, iid) == "HEALTHY"
    cond.heartbeat({}, iid, {"service_status": "CRASHED"}, sent=now + 1)
    assert _status(control_db, iid) == "CRASHED"
    cond.heartbeat({}, iid, {"service_status": "NOT_A_STATUS"}, sent=now + 2)
    assert _status(control_db, iid) == "CRASHED"


def test_taskmanager_report_never_overwrites_a_newer_guest_heartbeat(control_db):
    """The taskmanager's RESTARTING sent before the guest's HEALTHY is dropped however
    late it arrives; the first report of an instance creates its status row; a report
    for an instance the control plane does not have writes nothing."""
    iid = _instance(control_db)
    with control_db.session() as s:
        s.execute(models.ServiceStatus.__table__.delete())   # as a create leaves it now
    cond = ConductorManager(control_db)
    now = time.time()
    cond.report_status({}, iid, "RESTARTING", sent=now)
    assert _status(control_db, iid) == "RESTARTING"
    cond.heartbeat({}, iid, {"service_status": "HEALTHY"}, sent=now + 2)
    cond.report_status({}, iid, "RESTARTING", "late", sent=now + 1)
    assert _status(control_db, iid) == "HEALTHY"
    cond.report_status({}, iid, "UNKNOWN", "reset", sent=now + 3)
    assert _status(control_db, iid) == "UNKNOWN"
    cond.report_status({}, "no-such-instance", "DELETED", sent=now)
    with control_db.session() as s:
        assert s.execute(select(models.ServiceStatus).where(
            models.ServiceStatus.instance_id == "no-such-instance")).first() is None


@pytest.mark.parametrize("batch_ms", [0, 5])
def test_concurrent_heartbeats_leave_the_newest(control_db, batch_ms):
    iid = _instance(control_db)
    cond = ConductorManager(control_db, batch_ms)
    base = time.time()
    statuses = ["HEALTHY", "SHUTDOWN", "CRASHED", "BLOCKED"] * 5
    threads = [threading.Thread(target=cond.heartbeat,
                                args=({}, iid, {"service_status": st}, base + i))
               for i, st in enumerate(statuses)]
    for t in reversed(threads):
        t.start()
    for t in threads:
        t.join()
    assert _status(control_db, iid) == statuses[-1]


def test_one_batch_of_heartbeats_from_many_guests_applies_each_newest(control_db):
    ids = [models.new_id() for _ in range(30)]
    with control_db.session() as s:   # the conductor writes only service_statuses
        s.add_all([models.ServiceStatus(instance_id=i, status="NEW") for i in ids])
    cond = ConductorManager(control_db, 20)     # wide enough for all to share batches
    base = time.time()
    beats = [(iid, st, base + n) for n, st in enumerate(["SHUTDOWN", "HEALTHY"])
             for iid in ids]
    threads = [threading.Thread(target=cond.heartbeat,
                                args=({}, iid, {"service_status": st}, sent))
               for iid, st, sent in reversed(beats)]   # the older ones arrive last
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {_status(control_db, iid) for iid in ids} == {"HEALTHY"}
    # a heartbeat older than one applied in an earlier batch is dropped
    cond.heartbeat({}, ids[0], {"service_status": "CRASHED"}, sent=base - 1)
    assert _status(control_db, ids[0]) == "HEALTHY"


def test_manage_commands_register_versions_flavors_and_parameters(control_db, tmp_path):
    assert "updated" in manage.datastore_update(control_db, "mariadb", "")
    manage.datastore_version_update(control_db, "mariadb", "10.11", "mariadb", "img-1", "",
                                    "1")
    manage.datastore_update(control_db, "mariadb", "10.11")
    manage.flavor_create(control_db, "7", "seven", 768, 1, 3)
    with pytest.raises(Exception, match="already exists"):
        manage.flavor_create(control_db, "7", "again", 768, 1, 3)
    assert "seven" in manage.flavor_list(control_db)
    manage.datastore_version_flavor_add(control_db, "mariadb", "10.11", "7")
    with pytest.raises(Exception, match="could not be found"):
        manage.datastore_version_flavor_add(control_db, "mariadb", "10.11", "404")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"configuration-parameters": [
        {"name": "max_connections", "type": "integer", "min": 1, "max": 100000,
         "restart_required": False, "dynamic": True},
        {"name": "innodb_log_file_size", "type": "integer", "min": 4194304,
         "max": 512 * 1024 ** 3, "restart_required": True, "dynamic": False}]}))
    assert "Loaded 2" in manage.load_config_parameters(control_db, "mariadb", "10.11",
                                                        str(rules))
    with control_db.session() as s:
        ds = s.execute(select(models.Datastore)).scalar_one()
        v = s.execute(select(models.DatastoreVersion)).scalar_one()
        assert ds.default_version_id == v.id and v.image_id == "img-1"
        params = {p.name: p for p in s.execute(
            select(models.DatastoreConfigurationParameter)).scalars()}
        assert params["innodb_log_file_size"].restart_required is True
        assert params["max_connections"].max_size == "100000"
    manage.datastore_version_flavor_delete(control_db, "mariadb", "10.11", "7")


def test_manage_command_line_reports_errors_without_changing_anything(tmp_path):
    conf_file = tmp_path / "c.conf"
    conf_file.write_text("[DEFAULT]\nstate_dir = %s\n" % tmp_path)
    argv = ["--config-file", str(conf_file)]
    assert manage.main(argv + ["db_sync"]) == 0
    assert manage.main(argv + ["datastore_version_update", "nosuch", "1", "m", "i", "",
                               "1"]) == 2
    assert manage.main(argv + ["flavor_create", "9", "bad", "-5", "1", "1"]) == 2
    assert manage.main(argv + ["flavor_list"]) == 0
    assert os.path.exists(tmp_path / "trove-lite.sqlite")


def test_conductor_never_changes_a_final_schema_migration(control_db):
    """A heartbeat repeats a migration's final report until the guest forgets it, and a
    late report (RUNNING from before the end) must not revive it."""
    iid = _instance(control_db)
    cond = ConductorManager(control_db)
    with control_db.session() as s:
        row = models.SchemaMigration(tenant_id="t", instance_id=iid, database_name="d",
                                     table_name="x", alter="add column c int", status="NEW")
        s.add(row)
        s.flush()
        mid = row.id
    now = time.time()

    def beat(sent, **report):
        cond.heartbeat({}, iid, {"service_status": "HEALTHY",
                                 "schema_migrations": [dict(report, id=mid)]}, sent=sent)

    def row_of():
        with control_db.session() as s:
            r = s.get(models.SchemaMigration, mid)
            return r.status, json.loads(r.progress or "null"), r.fail_reason, r.finished

    beat(now, status="RUNNING", progress={"rows_copied": 5})
    assert row_of()[:2] == ("RUNNING", {"rows_copied": 5})
    beat(now + 1, status="FAILED", progress={"rows_copied": 9}, fail_reason="boom")
    status, progress, reason, finished = row_of()
    assert (status, progress, reason) == ("FAILED", {"rows_copied": 9}, "boom") and finished
    beat(now + 2, status="RUNNING", progress={"rows_copied": 1})
    assert row_of()[:3] == ("FAILED", {"rows_copied": 9}, "boom")
    # another instance's guest cannot report on this migration
    other = _instance(control_db, register=False)
    cond.heartbeat({}, other, {"service_status": "HEALTHY", "schema_migrations": [
        {"id": mid, "status": "COMPLETED"}]}, sent=now + 3)
    assert row_of()[0] == "FAILED"



def test_conductor_fails_a_live_migration_its_guest_no_longer_reports(control_db):
    """Never a RUNNING that nobody runs: a guest that lost its state (or never got the
    start) does not list the migration; after the grace period it fails."""
    iid = _instance(control_db)
    cond = ConductorManager(control_db)
    now = time.time()
    with control_db.session() as s:
        old = models.SchemaMigration(tenant_id="t", instance_id=iid, database_name="d",
                                     table_name="x", alter="add column c int", status="RUNNING",
                                     created=models.utcnow() - datetime.timedelta(minutes=5))
        new = models.SchemaMigration(tenant_id="t", instance_id=iid, database_name="d",
                                     table_name="y", alter="add column c int", status="NEW")
        s.add_all([old, new])
        s.flush()
        old_id, new_id = old.id, new.id
    cond.heartbeat({}, iid, {"service_status": "HEALTHY"}, sent=now)
    with control_db.session() as s:
        gone, fresh = s.get(models.SchemaMigration, old_id), s.get(models.SchemaMigration,
                                                                    new_id)
        assert gone.status == "FAILED" and "no longer knows" in gone.fail_reason
        assert fresh.status == "NEW"
