"""/metrics of an API process that runs no flow itself: the taskmanager runs alone (its
own process, as in production), and the API still shows the flow-step durations of
the create it ran, and a schema migration's progress, both read from the control
database where the taskmanager and the conductor put them."""

import json
import shutil
import tempfile

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


def test_a_standalone_taskmanagers_steps_and_a_migrations_progress_reach_the_api_metrics():
    base = tempfile.mkdtemp(prefix="trove-lite-metrics-")
    cp = ControlPlane(base, usage_timeout=90)
    db = None
    try:
        cp.start_services(("api", "conductor", "taskmanager"))
        cp.wait_taskmanager()
        trove = cp.client("demo")
        inst = trove.instances.create("measured", "1", volume={"size": 1},
                                      datastore="mariadb", datastore_version="10.11")
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
        assert inst.status == "ACTIVE", inst.fault

        # what the conductor stores from the guest's heartbeats while a migration runs
        # (the guest-to-conductor path: tests/functional/schema_migrations/)
        db = Database(config.database_url(aio_cmd.make_aio_conf(
            cp.state_dir, config_files=[cp.conf_file])))
        with db.session() as s:
            running = models.SchemaMigration(
                tenant_id="demo", instance_id=inst.id, database_name="shop",
                table_name="orders", alter="add column note text", status="RUNNING",
                progress=json.dumps({"percent": 42.0, "rows_copied": 420,
                                     "rows_estimated": 1000, "eta_seconds": 12,
                                     "lag_seconds": 0.4}))
            finished = models.SchemaMigration(
                tenant_id="demo", instance_id=inst.id, database_name="shop",
                table_name="items", alter="add key (a)", status="COMPLETED",
                progress=json.dumps({"percent": 100.0, "rows_copied": 10}))
            s.add_all([running, finished])
            s.flush()
            running_id, finished_id = running.id, finished.id

        text = requests.get(cp.endpoint_root + "/metrics", timeout=10).text
        scrape = samples(text)
        counts = {lab["step"]: v for lab, v in
                  scrape["trove_lite_task_step_duration_seconds_count"]}
        sums = {lab["step"]: v for lab, v in
                scrape["trove_lite_task_step_duration_seconds_sum"]}
        assert counts["volume * created"] == 1 and counts["server * created"] == 1, counts
        assert 0 < sums["the guest reports the database serving"] < 120, sums
        serving = {lab["le"]: v for lab, v in
                   scrape["trove_lite_task_step_duration_seconds_bucket"]
                   if lab["step"] == "the guest reports the database serving"}
        assert serving["+Inf"] == 1 and serving["0.05"] <= serving["300.0"] <= 1, serving

        labels = {"instance_id": inst.id, "migration_id": running_id}
        assert (labels, 42.0) in scrape["trove_lite_schema_migration_progress_percent"]
        assert (labels, 420.0) in scrape["trove_lite_schema_migration_rows_copied"]
        assert (labels, 12.0) in scrape["trove_lite_schema_migration_eta_seconds"]
        assert (labels, 0.4) in scrape["trove_lite_schema_migration_lag_seconds"]
        assert finished_id not in text  # a final migration has no progress series
        by_status = dict((lab["status"], v) for lab, v in
                         scrape["trove_lite_schema_migrations"])
        assert by_status == {"RUNNING": 1.0, "COMPLETED": 1.0}
        assert "demo" not in text and "measured" not in text
    finally:
        if db is not None:
            db.dispose()
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)
