"""Cost of one scheduler tick (taskmanager/scheduler.py) with many idle schedules.

Each of ``--schedules`` schedules (none due) has ``--backups`` completed backups it
made. Printed beside, in the same run on the same database:

  baseline  reading what a tick must read, raw SQL without the ORM: every live
            schedule, every backup the schedules made, every incremental backup
  tick      Scheduler.tick(): the same reads, the retention decision of every
            schedule (nothing to trim), no write

Medians over ``--rounds``; the control DB is SQLite in a temp dir, or ``--url``.

    .venv/bin/python benchmarks/schedules.py [--schedules 1000 --backups 3 --rounds 5]
"""

import argparse
import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trove_lite.config import make_conf  # noqa: E402
from trove_lite.db import models  # noqa: E402
from trove_lite.db.session import Database  # noqa: E402
from trove_lite.taskmanager.backup_flows import BackupFlows  # noqa: E402
from trove_lite.taskmanager.scheduler import Scheduler  # noqa: E402


def seed(db, schedules, backups):
    now = models.utcnow()
    with db.session() as s:
        ds = models.Datastore(name="mariadb")
        s.add(ds)
        s.flush()
        version = models.DatastoreVersion(datastore_id=ds.id, name="10.11", image_id="i")
        s.add(version)
        s.flush()
        for n in range(schedules):
            inst = models.Instance(id=models.new_id(), name="db%d" % n, tenant_id="t%d" % n,
                                   flavor_id="1", datastore_version_id=version.id)
            sched = models.BackupSchedule(
                id=models.new_id(), tenant_id=inst.tenant_id, instance_id=inst.id,
                name="s", pattern="0 3 * * *", incremental=True, retention_count=backups,
                next_run=now + datetime.timedelta(days=1))
            s.add_all([inst, sched])
            parent = None
            for b in range(backups):
                bid = models.new_id()
                s.add(models.Backup(id=bid, name="b", tenant_id=inst.tenant_id,
                                    instance_id=inst.id, parent_id=parent,
                                    status="COMPLETED"))
                s.add(models.BackupScheduleLease(schedule_id=sched.id, key="run %d" % b,
                                                 holder="seed", backup_id=bid))
                parent = bid


def baseline(db):
    with db.engine.connect() as conn:
        for sql in ("SELECT s.*, i.deleted FROM backup_schedules s LEFT JOIN instances i "
                    "ON i.id = s.instance_id WHERE s.deleted = 0",
                    "SELECT l.schedule_id, b.id, b.parent_id, b.status, b.created FROM "
                    "backup_schedule_leases l JOIN backups b ON b.id = l.backup_id "
                    "WHERE b.deleted = 0",
                    "SELECT parent_id, id FROM backups WHERE deleted = 0 AND parent_id IS "
                    "NOT NULL"):
            conn.exec_driver_sql(sql).fetchall()


def timed(fn, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--backups", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="trove-lite-bench-sched-")
    db = Database(args.url or "sqlite:///" + os.path.join(state, "cp.sqlite"))
    db.sync()
    seed(db, args.schedules, args.backups)
    conf = make_conf(overrides={"state_dir": state})
    sched = Scheduler(conf, db, BackupFlows(conf, db, guest_factory=None))
    base = timed(lambda: baseline(db), args.rounds)
    tick = timed(sched.tick, args.rounds)
    print("%d idle schedules x %d backups, median of %d" % (args.schedules, args.backups,
                                                              args.rounds))
    print("  baseline (the reads)  %8.1f ms" % (base * 1000))
    print("  tick                  %8.1f ms  (%.1fx)" % (tick * 1000, tick / base))
    db.dispose()
    shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
