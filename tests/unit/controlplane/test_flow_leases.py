"""Flow leases in the control DB: of several taskmanagers asking at once, one
holds an instance's flow; a dead holder's lease expires; the reconciler leaves
an instance leased elsewhere alone."""

import datetime
import os
import tempfile
import threading

from sqlalchemy import update

from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.status import TaskStatus
from trove_lite.taskmanager import leases, reconcile


def _db():
    d = tempfile.mkdtemp(prefix="trove-lite-leases-")
    db = Database("sqlite:///" + os.path.join(d, "cp.sqlite"))
    db.sync()
    return db


def test_of_eight_taskmanagers_asking_at_once_one_holds_the_flow():
    db = _db()
    holders = [leases.FlowLeases(db, 20) for _ in range(8)]
    won = []
    start = threading.Barrier(8)

    def claim(h):
        start.wait()
        if h.acquire("inst-1", "create"):
            won.append(h.holder)

    threads = [threading.Thread(target=claim, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    # the others see it leased elsewhere; the holder does not
    for h in holders:
        assert ("inst-1" in h.leased_elsewhere()) == (h.holder != won[0])
    db.dispose()


def test_a_released_or_expired_lease_goes_to_the_next_taskmanager():
    db = _db()
    a, b = leases.FlowLeases(db, 20), leases.FlowLeases(db, 20)
    assert a.acquire("inst-2", "create")
    assert not b.acquire("inst-2", "delete")
    a.release("inst-2")
    assert b.acquire("inst-2", "delete")
    # b is SIGKILLed: it renews no more and its lease runs out
    with db.session() as s:
        s.execute(update(models.FlowLease).values(
            expires=models.utcnow() - datetime.timedelta(seconds=1)))
    assert "inst-2" not in a.leased_elsewhere()
    assert a.acquire("inst-2", "create")
    b.renew()       # b, thawed, learns it lost the lease and does not take it back
    with db.session() as s:
        assert s.get(models.FlowLease, "inst-2").holder == a.holder
    db.dispose()


def test_reconciler_does_not_resume_a_create_another_taskmanager_drives():
    now = datetime.datetime(2026, 1, 1, 12, 0, 0)
    snap = reconcile.Snapshot(
        instance_id="i", task_status=TaskStatus.BUILDING,
        task_started_at=now - datetime.timedelta(seconds=30), service_status=None,
        service_updated_at=None, has_server=True, now=now, usage_timeout=400,
        state_change_wait_time=180, driven_here=False)
    assert reconcile.decide(snap)[0] == reconcile.RESUME_CREATE
    assert reconcile.decide(snap._replace(leased_elsewhere=True))[0] == reconcile.NOTHING


def test_a_taskmanager_restarted_on_the_same_machine_takes_its_dead_predecessors_lease():
    import subprocess
    import socket
    db = _db()
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = leases.FlowLeases(db, 20, holder="%s:%d:x" % (socket.gethostname(), gone.pid))
    assert dead.acquire("inst-3", "create")
    alive = leases.FlowLeases(db, 20, holder="%s:%d:y" % (socket.gethostname(), 1))
    assert alive.acquire("inst-4", "create")
    fresh = leases.FlowLeases(db, 20)
    assert fresh.leased_elsewhere() == {"inst-4"}
    assert fresh.acquire("inst-3", "create")
    assert not fresh.acquire("inst-4", "create")
    db.dispose()
