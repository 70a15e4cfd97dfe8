"""An upgrade whose taskmanager is SIGKILLed at the rebuild step is finished by the
next taskmanager: the instance ends ACTIVE on the new version with its data."""

import os
import shutil
import sqlite3
import tempfile
import time

import pytest

from tests.functional.controlplane.conftest import destroy_everything
from tests.functional.replication.conftest import connect, create_source
from tests.support.controlplane import build_images_or_skip, manage
from tests.support.controlplane import ControlPlane, wait_for_status

pytestmark = pytest.mark.slow


def upgrade_step(cp, instance_id):
    db = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        row = db.execute("SELECT step FROM upgrade_progress WHERE instance_id=?",
                         (instance_id,)).fetchone()
        return row[0] if row else None
    except sqlite3.OperationalError:     # the table is not there yet
        return None
    finally:
        db.close()


def test_taskmanager_killed_at_the_rebuild_step_is_resumed_after_restart():
    build_images_or_skip("mariadb-11.8")
    base = tempfile.mkdtemp(prefix="trove-lite-upgkill-")
    cp = ControlPlane(base, heartbeat_interval=1)
    try:
        cp.start_services(("api", "conductor", "taskmanager"))
        cp.wait_taskmanager()
        manage(cp, "image_fetch", "mariadb-11.8")
        trove = cp.client()
        inst = create_source(trove, "cut-upgrade")
        with connect(inst) as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO orders VALUES (%s, %s)",
                            [(i, "item-%d" % i) for i in range(1, 201)])
        trove.instances.upgrade(inst.id, "11.8")
        deadline = time.monotonic() + 120
        while upgrade_step(cp, inst.id) != "rebuild":
            assert time.monotonic() < deadline, cp.log_tail("taskmanager")
            time.sleep(0.05)
        cp.kill("taskmanager")
        assert trove.instances.get(inst.id).status == "UPGRADE"
        cp.start_service("taskmanager")
        shown = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=240)
        assert shown.status == "ACTIVE", getattr(shown, "fault", None)
        assert "resuming the upgrade cut off at step rebuild" in cp.log_tail("taskmanager",
                                                                             100000)
        assert shown.datastore["version"] == "11.8", getattr(shown, "fault", None)
        assert not getattr(shown, "fault", None), shown.fault
        with connect(inst) as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            assert cur.fetchone()[0].startswith("11.8.")
            cur.execute("SELECT COUNT(*), SUM(id) FROM orders")
            assert cur.fetchone() == (200, sum(range(1, 201)))
        assert upgrade_step(cp, inst.id) is None
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)
