"""Faults of the create flow: a silent guest, and a taskmanager killed mid-create."""

import shutil
import sys
import tempfile
import time

import pytest

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status

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
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


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
