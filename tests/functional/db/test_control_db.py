"""Schema, conductor ordering and trove-lite-manage on SQLite and on MariaDB."""

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


def _instance(db):
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
