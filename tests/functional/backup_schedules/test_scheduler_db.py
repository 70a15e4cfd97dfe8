"""Two schedulers (two taskmanagers) against one control DB, on SQLite and MariaDB.

The schedulers are the real ones with real BackupFlows; only the guest agent is
a recorder (the backup it would run is not what is tested here), and the test
plays the conductor, marking backups COMPLETED. The clock is injected, so a day
of every-minute runs takes a second.
"""

import datetime
import json
import shutil
import tempfile
import threading

import pytest
from sqlalchemy import func, select, update

from trove_lite.config import make_conf
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.taskmanager.backup_flows import BackupFlows
from trove_lite.taskmanager.scheduler import Scheduler

T0 = datetime.datetime(2026, 12, 6, 6, 0, 30)
TENANT = "t-sched"


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


class RecordingGuest:
    def __init__(self):
        self.started = []
        self.lock = threading.Lock()

    def __call__(self, instance_id):
        return self

    def create_backup(self, request):
        assert request["key"]          # the tenant's key went to the guest
        with self.lock:
            self.started.append(request["id"])


def seed_instance(db, tenant=TENANT):
    with db.session() as s:
        ds = models.Datastore(name="mariadb-%s" % models.new_id()[:8])
        s.add(ds)
        s.flush()
        version = models.DatastoreVersion(datastore_id=ds.id, name="10.11", image_id="i")
        s.add(version)
        s.flush()
        inst = models.Instance(id=models.new_id(), name="db", tenant_id=tenant, flavor_id="1",
                               datastore_version_id=version.id, volume_size=1)
        s.add(inst)
        s.add(models.ServiceStatus(instance_id=inst.id, status="HEALTHY"))
        return inst.id


def add_schedule(db, instance_id, pattern="* * * * *", incremental=False, count=None,
                 days=None):
    with db.session() as s:
        row = models.BackupSchedule(id=models.new_id(), tenant_id=TENANT,
                                    instance_id=instance_id, name="every minute",
                                    pattern=pattern, incremental=incremental,
                                    retention_count=count, retention_days=days,
                                    next_run=T0.replace(second=0) + datetime.timedelta(minutes=1))
        s.add(row)
        return row.id


def complete_all(db, clock):
    """What the conductor does when guests report success."""
    with db.session() as s:
        s.execute(update(models.Backup).where(models.Backup.status == "NEW").values(
            status="COMPLETED", meta=json.dumps({"lsn": 1, "metadata": {}}),
            created=clock.now))


def live_backups(db):
    with db.session() as s:
        return s.execute(select(models.Backup).where(models.Backup.deleted.is_(False))
                         .order_by(models.Backup.created)).scalars().all()


@pytest.fixture
def pair(control_db):
    """Two schedulers, each with its own engine on the same DB, and their clock."""
    state = tempfile.mkdtemp(prefix="trove-lite-scheddb-")
    conf = make_conf(overrides={"state_dir": state, "backup_schedule.max_chain_length": 3})
    clock, guest = Clock(), RecordingGuest()
    other_db = Database(control_db.url)
    schedulers = [Scheduler(conf, db, BackupFlows(conf, db, guest), clock=clock,
                            holder="tm-%d" % n) for n, db in enumerate((control_db, other_db))]
    yield schedulers, clock, guest
    other_db.dispose()
    shutil.rmtree(state, ignore_errors=True)


def tick_together(schedulers):
    barrier = threading.Barrier(len(schedulers))
    errors = []

    def run(sched):
        barrier.wait()
        try:
            sched.tick()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors


def test_each_due_run_makes_one_backup_with_two_taskmanagers(control_db, pair):
    schedulers, clock, guest = pair
    instance_id = seed_instance(control_db)
    sid = add_schedule(control_db, instance_id, count=1000)
    minutes = 20
    for m in range(1, minutes + 1):
        # each taskmanager ticks several times within the minute
        for second in (0, 1, 20):
            clock.now = T0.replace(second=0) + datetime.timedelta(minutes=m, seconds=second)
            tick_together(schedulers)
        complete_all(control_db, clock)
    backups = live_backups(control_db)
    assert len(backups) == minutes == len(guest.started) == len(set(guest.started))
    with control_db.session() as s:
        leases = s.execute(select(models.BackupScheduleLease).where(
            models.BackupScheduleLease.schedule_id == sid)).scalars().all()
        schedule = s.get(models.BackupSchedule, sid)
    assert sorted(lease.backup_id for lease in leases) == sorted(b.id for b in backups)
    assert len({lease.key for lease in leases}) == minutes
    assert schedule.last_run == T0.replace(second=0) + datetime.timedelta(minutes=minutes)
    assert schedule.next_run == schedule.last_run + datetime.timedelta(minutes=1)
    assert schedule.last_backup_id == backups[-1].id


def test_missed_runs_make_one_backup_when_the_taskmanagers_return(control_db, pair):
    schedulers, clock, guest = pair
    instance_id = seed_instance(control_db)
    sid = add_schedule(control_db, instance_id, count=10)
    clock.now = T0 + datetime.timedelta(hours=3)     # 180 runs missed
    tick_together(schedulers)
    tick_together(schedulers)
    assert len(live_backups(control_db)) == 1 == len(guest.started)
    with control_db.session() as s:
        schedule = s.get(models.BackupSchedule, sid)
    assert schedule.last_run == T0.replace(second=0) + datetime.timedelta(hours=3)
    assert "missed: run once" in schedule.last_result


def test_incremental_chains_and_retention_trims_whole_chains(control_db, pair):
    schedulers, clock, guest = pair
    instance_id = seed_instance(control_db)
    add_schedule(control_db, instance_id, incremental=True, count=4)
    # a backup the user made by hand, and one the user chained onto a scheduled one
    with control_db.session() as s:
        s.add(models.Backup(id="manual", name="by hand", tenant_id=TENANT,
                            instance_id=instance_id, status="COMPLETED", created=T0))
    for m in range(1, 11):
        clock.now = T0 + datetime.timedelta(minutes=m)
        tick_together(schedulers)
        complete_all(control_db, clock)
        if m == 2:
            first = live_backups(control_db)[1]
            with control_db.session() as s:
                s.add(models.Backup(id="child-by-hand", name="inc by hand", tenant_id=TENANT,
                                    instance_id=instance_id, parent_id=first.id,
                                    status="COMPLETED", created=clock.now))
    clock.now += datetime.timedelta(seconds=5)
    tick_together(schedulers)   # trims after the last completion
    backups = {b.id: b for b in live_backups(control_db)}
    assert "manual" in backups and "child-by-hand" in backups
    scheduled = [b for b in backups.values() if b.id not in ("manual", "child-by-hand")]
    # runs 1-3: chain A, whose full backup the hand-made child needs: only that
    # stays; 4-6: chain B (deleted whole); 7-9: chain C; 10: chain D.
    # Newest 4 = C (3) + D (1).
    chains = {}
    for b in scheduled:
        root = b
        while root.parent_id:
            root = backups[root.parent_id]
        chains.setdefault(root.id, []).append(b)
    assert sorted(len(c) for c in chains.values()) == [1, 1, 3]
    assert backups["child-by-hand"].parent_id in chains
    assert all(len(c) <= 3 for c in chains.values())
    with control_db.session() as s:
        deleted = s.execute(select(func.count()).select_from(models.Backup).where(
            models.Backup.deleted.is_(True))).scalar_one()
    assert deleted == 5                        # chain B whole, A but its full one
    assert len(guest.started) == 10


def test_schedule_of_a_deleted_instance_stops_and_its_backups_stay(control_db, pair):
    schedulers, clock, guest = pair
    instance_id = seed_instance(control_db)
    sid = add_schedule(control_db, instance_id, count=1)
    clock.now = T0 + datetime.timedelta(minutes=1)
    tick_together(schedulers)
    complete_all(control_db, clock)
    with control_db.session() as s:
        s.execute(update(models.Instance).where(models.Instance.id == instance_id)
                  .values(deleted=True))
    clock.now = T0 + datetime.timedelta(minutes=5)
    tick_together(schedulers)
    with control_db.session() as s:
        schedule = s.get(models.BackupSchedule, sid)
    assert schedule.deleted and "was deleted" in schedule.last_result
    assert len(live_backups(control_db)) == 1 == len(guest.started)


def test_a_run_on_a_busy_instance_is_skipped_with_the_reason(control_db, pair):
    schedulers, clock, guest = pair
    instance_id = seed_instance(control_db)
    sid = add_schedule(control_db, instance_id, count=3)
    clock.now = T0 + datetime.timedelta(minutes=1)
    tick_together(schedulers)              # backup NEW: the instance shows BACKUP
    clock.now = T0 + datetime.timedelta(minutes=2)
    tick_together(schedulers)
    with control_db.session() as s:
        schedule = s.get(models.BackupSchedule, sid)
    assert schedule.last_result.startswith("skipped:") and "backup" in schedule.last_result
    assert len(guest.started) == 1
    assert schedule.next_run == T0.replace(second=0) + datetime.timedelta(minutes=3)
