"""Faults of the create flow: a silent guest, and a taskmanager killed mid-create (whose
steps, and its successor's, still reach the API's /metrics through the control DB)."""

import json
import shutil
import sys
import tempfile
import time

import pytest
import requests

from tests.functional.api.test_metrics_health import samples
from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status
from trove_lite import config
from trove_lite.cmd import aio as aio_cmd
from trove_lite.db import models
from trove_lite.db.session import Database

pytestmark = pytest.mark.slow


def test_guest_that_never_reports_ends_in_error_with_a_fault():
    base = tempfile.mkdtemp(prefix="trove-lite-silent-")
    # a "guest" that boots and never says anything
    cp = ControlPlane(base, usage_timeout=8,
                      guest_command=[sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        cp.start_aio()
        trove = cp.client("faults")
        started = time.monotonic()
        inst = trove.instances.create("silent", "1", volume={"size": 1}, datastore="mariadb")
        inst = wait_for_status(trove, inst.id, {"ERROR", "ACTIVE"}, timeout=40)
        elapsed = time.monotonic() - started
        assert inst.status == "ERROR"
        assert elapsed < 8 + 10, "ERROR came %.1f s after create (timeout 8 s)" % elapsed
        assert "did not report ready within 8 s" in inst.fault["message"]
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


def test_taskmanager_killed_during_create_is_driven_to_active_after_restart():
    base = tempfile.mkdtemp(prefix="trove-lite-tmkill-")
    cp = ControlPlane(base, usage_timeout=90)
    try:
        cp.start_services(("api", "conductor", "taskmanager"))
        cp.wait_taskmanager()
        trove = cp.client("faults")
        inst = trove.instances.create("cut-off", "1", volume={"size": 1}, datastore="mariadb")
        # kill it hard in the middle: once the server exists, before the guest is ready
        deadline = time.monotonic() + 30
        while not _server_dirs(cp):
            assert time.monotonic() < deadline, cp.log_tail("taskmanager")
            time.sleep(0.05)
        cp.kill("taskmanager")
        assert trove.instances.get(inst.id).status == "BUILD"
        cp.start_service("taskmanager")
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
        assert inst.status == "ACTIVE", inst.fault
        # the API process runs no flow: both taskmanagers' steps reach its /metrics
        _metrics_read_from_the_control_db(cp, inst.id)
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


def _metrics_read_from_the_control_db(cp, instance_id):
    """/metrics of the API shows the flow-step durations the taskmanagers (each its own
    process) recorded, and a schema migration's progress as the conductor stores it
    from the guest's heartbeats (that path: tests/functional/schema_migrations/)."""
    db = Database(config.database_url(aio_cmd.make_aio_conf(
        cp.state_dir, config_files=[cp.conf_file])))
    try:
        with db.session() as s:
            running = models.SchemaMigration(
                tenant_id="faults", instance_id=instance_id, database_name="shop",
                table_name="orders", alter="add column note text", status="RUNNING",
                progress=json.dumps({"percent": 42.0, "rows_copied": 420,
                                     "rows_estimated": 1000, "eta_seconds": 12,
                                     "lag_seconds": 0.4}))
            finished = models.SchemaMigration(
                tenant_id="faults", instance_id=instance_id, database_name="shop",
                table_name="items", alter="add key (a)", status="COMPLETED",
                progress=json.dumps({"percent": 100.0, "rows_copied": 10}))
            s.add_all([running, finished])
            s.flush()
            running_id, finished_id = running.id, finished.id
    finally:
        db.dispose()
    text = requests.get(cp.endpoint_root + "/metrics", timeout=10).text
    scrape = samples(text)
    counts = {lab["step"]: v for lab, v in
              scrape["trove_lite_task_step_duration_seconds_count"]}
    sums = {lab["step"]: v for lab, v in scrape["trove_lite_task_step_duration_seconds_sum"]}
    # the killed taskmanager made the volume (the server may have been made by
    # either: the kill lands once its directory exists, maybe before the step
    # ended); the one that took over saw the server ACTIVE and the guest serving
    assert counts["volume * created"] >= 1 and counts["server * is ACTIVE"] >= 1, counts
    assert 0 < sums["the guest reports the database serving"] < 120, sums
    serving = {lab["le"]: v for lab, v in scrape["trove_lite_task_step_duration_seconds_bucket"]
               if lab["step"] == "the guest reports the database serving"}
    assert serving["+Inf"] == 1 and serving["0.05"] <= serving["300.0"] <= 1, serving

    labels = {"instance_id": instance_id, "migration_id": running_id}
    assert (labels, 42.0) in scrape["trove_lite_schema_migration_progress_percent"]
    assert (labels, 420.0) in scrape["trove_lite_schema_migration_rows_copied"]
    assert (labels, 12.0) in scrape["trove_lite_schema_migration_eta_seconds"]
    assert (labels, 0.4) in scrape["trove_lite_schema_migration_lag_seconds"]
    assert finished_id not in text  # a final migration has no progress series
    assert dict((lab["status"], v) for lab, v in scrape["trove_lite_schema_migrations"]) == {
        "RUNNING": 1.0, "COMPLETED": 1.0}
    assert "faults" not in text and "cut-off" not in text


def _server_dirs(cp):
    import os
    d = os.path.join(cp.state_dir, "servers")
    return [os.path.join(d, x) for x in os.listdir(d)] if os.path.isdir(d) else []


def test_create_cast_queued_while_the_taskmanager_is_down_keeps_its_users():
    """The API writes the instance and casts; the cast waits in the queue while the
    taskmanager is down. When it starts, its first reconcile pass sees a BUILDING
    instance that no flow drives: it must leave it to the queued cast, which carries
    the users and databases (a flow of its own would create an instance without
    them, and the cast would then be ignored)."""
    import pymysql

    base = tempfile.mkdtemp(prefix="trove-lite-queued-")
    cp = ControlPlane(base, usage_timeout=90)
    try:
        cp.start_services(("api", "conductor", "taskmanager"))
        cp.wait_taskmanager()                  # its queue exists once it listens
        cp.kill("taskmanager")
        trove = cp.client("faults")
        inst = trove.instances.create(
            "queued", "1", volume={"size": 1}, datastore="mariadb",
            databases=[{"name": "shop"}],
            users=[{"name": "clerk", "password": "Clerk-pass-1", "databases": [
                {"name": "shop"}]}])
        time.sleep(3)                          # older than a reconcile interval
        cp.start_service("taskmanager")
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        assert [d.name for d in trove.databases.list(inst.id)] == ["shop"]
        conn = pymysql.connect(host=inst.ip[0], port=3306, user="clerk",
                               password="Clerk-pass-1", database="shop", connect_timeout=5)
        conn.close()
        assert "create_instance ignored" not in cp.log_tail("taskmanager", 100000)
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


def test_create_cast_lost_still_ends_with_its_users_and_databases():
    """The cast of a create is dropped (no taskmanager queue exists yet). The
    taskmanager that starts later only finds the instance row: the reconciler must
    resume with the requested users and databases, which wait encrypted in the
    control DB (no clear password there) and are erased once the guest has them."""
    import glob
    import os
    import sqlite3

    import pymysql

    base = tempfile.mkdtemp(prefix="trove-lite-lost-")
    cp = ControlPlane(base, usage_timeout=90)
    password = "Lost-cast-pass-4e7"
    try:
        cp.start_services(("api", "conductor"))   # nobody consumes the create cast
        trove = cp.client("faults")
        inst = trove.instances.create(
            "lost", "1", volume={"size": 1}, datastore="mariadb",
            databases=[{"name": "shop"}],
            users=[{"name": "clerk", "password": password, "databases": [
                {"name": "shop"}]}])
        db_file = os.path.join(cp.state_dir, "trove-lite.sqlite")
        for path in glob.glob(db_file + "*"):
            with open(path, "rb") as f:
                assert password.encode() not in f.read(), path
        time.sleep(2)
        cp.start_service("taskmanager")
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        assert [d.name for d in trove.databases.list(inst.id)] == ["shop"]
        conn = pymysql.connect(host=inst.ip[0], port=3306, user="clerk",
                               password=password, database="shop", connect_timeout=5)
        conn.close()
        with sqlite3.connect(db_file) as conn:
            assert conn.execute("SELECT COUNT(*) FROM create_requests").fetchone() == (0,)
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)
