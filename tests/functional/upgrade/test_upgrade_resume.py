"""An upgrade whose taskmanager is SIGKILLed at the rebuild step is finished by the
next taskmanager: the instance ends ACTIVE on the new version with its data."""

import contextlib
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
from trove_lite.drivers.endpoint.haproxy import remove_all

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


@contextlib.contextmanager
def plane(prefix, extra_conf=""):
    """A control plane with each service its own process (the taskmanager is killed)."""
    build_images_or_skip("mariadb-11.8")
    base = tempfile.mkdtemp(prefix=prefix)
    cp = ControlPlane(base, heartbeat_interval=1, extra_conf=extra_conf)
    try:
        cp.start_services(("api", "conductor", "taskmanager"))
        cp.wait_taskmanager()
        manage(cp, "image_fetch", "mariadb-11.8")
        yield cp
    finally:
        destroy_everything(cp)
        remove_all(cp.state_dir)
        shutil.rmtree(base, ignore_errors=True)


def source_with_rows(trove, name):
    inst = create_source(trove, name)
    with connect(inst) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, %s)",
                        [(i, "item-%d" % i) for i in range(1, 201)])
    return inst


def kill_at_rebuild(cp, instance_id):
    """SIGKILL the taskmanager once ``instance_id``'s upgrade reached the rebuild."""
    deadline = time.monotonic() + 120
    while upgrade_step(cp, instance_id) != "rebuild":
        assert time.monotonic() < deadline, cp.log_tail("taskmanager")
        time.sleep(0.05)
    cp.kill("taskmanager")


def test_taskmanager_killed_at_the_rebuild_step_is_resumed_after_restart():
    with plane("trove-lite-upgkill-") as cp:
        trove = cp.client()
        inst = source_with_rows(trove, "cut-upgrade")
        trove.instances.upgrade(inst.id, "11.8")
        kill_at_rebuild(cp, inst.id)
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


def test_taskmanager_killed_mid_set_upgrade_the_next_one_finishes_the_set():
    """A source with one replica: the taskmanager is SIGKILLed while the replica's hop
    is at the rebuild. The next taskmanager resumes the set (not only the replica):
    the replica ends on 11.8, the set switches over to it, the old source upgrades and
    follows it, with every row, including one written while no taskmanager ran."""
    # async: with its one replica down, a semi-sync source fences itself (read_only),
    # and the row written while no taskmanager runs is the point here, not durability
    with plane("trove-lite-setkill-", extra_conf=(
            "\n[replication]\nstrategy = gtid\nswitchover_timeout = 20\n"
            "durability = async\n\n[ha]\nauto_failover = false\n")) as cp:
        trove = cp.client()
        source = source_with_rows(trove, "cut-set")
        rep = trove.instances.create("cut-set-rep", "1", volume={"size": 1},
                                     replica_of=source.id)
        rep = wait_for_status(trove, rep.id, {"ACTIVE", "ERROR"}, timeout=150)
        assert rep.status == "ACTIVE", getattr(rep, "fault", None)
        trove.instances.upgrade(source.id, "11.8")
        kill_at_rebuild(cp, rep.id)
        with connect(source) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO orders VALUES (1000, 'written while no taskmanager ran')")
        cp.start_service("taskmanager")
        deadline = time.monotonic() + 300
        while True:
            shown = trove.instances.get(source.id)
            if shown.status in ("ACTIVE", "ERROR") and \
                    shown.datastore["version"] == "11.8":
                break
            assert time.monotonic() < deadline, (shown.status, shown.datastore,
                                                 cp.log_tail("taskmanager", 200))
            time.sleep(0.5)
        log = cp.log_tail("taskmanager", 100000)
        assert "resuming the replication set's upgrade cut off at step replicas" in log
        shown, rep_shown = trove.instances.get(source.id), trove.instances.get(rep.id)
        for m in (shown, rep_shown):
            assert m.status == "ACTIVE", (m.id, getattr(m, "fault", None))
            assert m.datastore["version"] == "11.8"
        # switched over: the upgraded replica is the source, the old source follows it
        assert not getattr(rep_shown, "replica_of", None)
        assert shown.replica_of["id"] == rep.id
        with connect(rep) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO orders VALUES (2000, 'on the new source')")
        expected = (202, sum(range(1, 201)) + 1000 + 2000)
        for m in (source, rep):
            deadline = time.monotonic() + 30
            while True:
                with connect(m) as conn, conn.cursor() as cur:
                    cur.execute("SELECT VERSION()")
                    assert cur.fetchone()[0].startswith("11.8."), m.id
                    cur.execute("SELECT COUNT(*), SUM(id) FROM orders")
                    got = cur.fetchone()
                if got == expected or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert got == expected, (m.id, got)
        assert upgrade_step(cp, source.id) is None and upgrade_step(cp, rep.id) is None
