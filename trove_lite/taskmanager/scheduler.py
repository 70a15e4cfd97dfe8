"""The backup scheduler of the taskmanager: runs due schedules, trims their backups.

Every ``[backup_schedule] tick_interval`` each taskmanager reads one snapshot of
the live schedules and, for each:

1. a schedule whose instance is deleted is removed (its backups stay);
2. a due run (schedule_rules.due_time: the newest cron time once next_run has
   passed, so runs missed while every taskmanager was down make one backup, not
   N) is claimed by inserting the lease row ``run <due time>``. The primary key
   lets one taskmanager win on one control DB; the others skip it. The winner
   records a backup through the API's BackupService (same checks, quota and
   container choice as ``POST /backups``) and hands it to the guest;
   next_run/last_run/last_result are written whether or not a backup could start
   (an instance that is not ACTIVE makes a skipped run with the reason);
3. retention (schedule_rules.retention) over the backups the schedule made (its
   run leases) deletes whole chains; each delete is claimed as ``delete <id>``.

Timing: a run starts at most one tick late; a tick makes one guest cast per due
schedule and deletes synchronously from the store (a slow store delays the
next tick, not a run's correctness). Unexpected errors are logged with the
fixed BUG line and the loop goes on.
"""

import datetime
import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Callable, Sequence

from oslo_config import cfg
from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError

from trove_lite import exceptions
from trove_lite.common import backup_opts
from trove_lite.backup import schedule_rules
from trove_lite.backup.service import BackupService
from trove_lite.db import models
from trove_lite.db.session import Database

if TYPE_CHECKING:
    from trove_lite.taskmanager.backup_flows import BackupFlows

LOG = logging.getLogger(__name__)
LEASE_KEPT = datetime.timedelta(days=1)


def run_key(due: datetime.datetime) -> str:
    return "run " + due.strftime("%Y-%m-%dT%H:%M:%S")


def claim(db: Database, schedule_id: str, key: str, holder: str, now: datetime.datetime) -> bool:
    """Insert the lease row (its own transaction); False if another holder has it."""
    try:
        with db.session() as s:
            s.add(models.BackupScheduleLease(schedule_id=schedule_id, key=key,
                                             holder=holder, created=now))
    except IntegrityError:
        return False
    return True


class _InProcessTaskManager:
    """What BackupService casts to, answered in this process: the scheduler is in
    the taskmanager already."""

    def __init__(self, flows: "BackupFlows") -> None:
        self.flows = flows

    def create_backup(self, ctx: None, backup_id: str, instance_id: str) -> None:
        self.flows.create(backup_id, instance_id)

    def delete_backup(self, ctx: None, backup_id: str) -> None:
        self.flows.delete(backup_id)


class Scheduler:
    """``tick()`` does one pass; ``start()`` runs it every tick_interval in a thread.
    ``clock`` (naive UTC) and ``holder`` are injectable for tests."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database, backup_flows: "BackupFlows",
                 clock: Callable[[], datetime.datetime] = models.utcnow,
                 holder: str | None = None) -> None:
        backup_opts.register(conf)
        self.conf = conf
        self.db = db
        self.clock = clock
        self.holder = holder or "%s:%d" % (socket.gethostname(), os.getpid())
        self.backups = BackupService(conf, db, _InProcessTaskManager(backup_flows))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass -------------------------------------------------------------------
    # the bool is None for a schedule whose instance row is missing (outer join)
    def snapshot(self) -> tuple[Sequence[Row[models.BackupSchedule, bool]],
                                dict[str, list[schedule_rules.Item]], dict[str, set[str]]]:
        """One read per tick: live schedules (with whether their instance is gone),
        the live backups each made, and the backups a user chained onto them."""
        with self.db.session() as s:
            rows = s.execute(select(models.BackupSchedule, models.Instance.deleted).outerjoin(
                models.Instance, models.Instance.id == models.BackupSchedule.instance_id)
                .where(models.BackupSchedule.deleted.is_(False))).all()
            made = s.execute(select(models.BackupScheduleLease.schedule_id, models.Backup.id,
                                    models.Backup.parent_id, models.Backup.status,
                                    models.Backup.created).join(
                models.Backup, models.Backup.id == models.BackupScheduleLease.backup_id).where(
                models.Backup.deleted.is_(False))).all()
            children = s.execute(select(models.Backup.parent_id, models.Backup.id).where(
                models.Backup.deleted.is_(False),
                models.Backup.parent_id.is_not(None))).all()
        items: dict[str, list[schedule_rules.Item]] = {}
        owner: dict[str, str] = {}
        for sid, bid, parent, status, created in made:
            items.setdefault(sid, []).append(schedule_rules.Item(bid, parent, status, created))
            owner[bid] = sid
        pinned: dict[str, set[str]] = {}
        for parent, child in children:
            if parent is None:   # not selected (see the query)
                continue
            owning = owner.get(parent)
            if owning is not None and owner.get(child) != owning:
                pinned.setdefault(owning, set()).add(parent)
        return rows, items, pinned

    def tick(self) -> None:
        now = self.clock()
        rows, items, pinned = self.snapshot()
        for schedule, instance_deleted in rows:
            try:
                if instance_deleted is not False:
                    self._remove(schedule, now)
                    continue
                mine = items.get(schedule.id, [])
                self._run_if_due(schedule, mine, now)
                self._trim(schedule, mine, frozenset(pinned.get(schedule.id, ())), now)
            except Exception:
                LOG.exception("Unexpected exception raised, please report it as a BUG")

    def _remove(self, schedule: models.BackupSchedule, now: datetime.datetime) -> None:
        with self.db.session() as s:
            s.execute(update(models.BackupSchedule).where(
                models.BackupSchedule.id == schedule.id).values(
                deleted=True, deleted_at=now,
                last_result="removed: instance %s was deleted" % schedule.instance_id))
        LOG.info("backup schedule %s removed: its instance %s was deleted (its backups "
                 "stay)", schedule.id, schedule.instance_id)

    def _run_if_due(self, schedule: models.BackupSchedule, items: list[schedule_rules.Item],
                    now: datetime.datetime) -> None:
        due = schedule_rules.due_time(schedule.pattern, schedule.next_run, now)
        if due is None:
            return
        following = schedule_rules.next_run(schedule.pattern, now)
        if not claim(self.db, schedule.id, run_key(due), self.holder, now):
            LOG.debug("run %s of schedule %s is another taskmanager's", due, schedule.id)
            return
        missed = "" if due == schedule.next_run else " (runs due since %s missed: run " \
                                                     "once)" % schedule.next_run
        backup_id, result = self._start_backup(schedule, items, due)
        LOG.info("backup schedule %s, run %s%s: %s", schedule.id, due, missed, result)
        with self.db.session() as s:
            if backup_id:
                s.execute(update(models.BackupScheduleLease).where(
                    models.BackupScheduleLease.schedule_id == schedule.id,
                    models.BackupScheduleLease.key == run_key(due)).values(
                    backup_id=backup_id))
            s.execute(update(models.BackupSchedule).where(
                models.BackupSchedule.id == schedule.id).values(
                last_run=due, last_result=(result + missed)[:1024],
                **({"last_backup_id": backup_id} if backup_id else {})))
            # a PATCH of the pattern meanwhile set its own next_run
            s.execute(update(models.BackupSchedule).where(
                models.BackupSchedule.id == schedule.id,
                models.BackupSchedule.pattern == schedule.pattern).values(
                next_run=following))
        self._forget(schedule.id, now)

    def _start_backup(self, schedule: models.BackupSchedule, items: list[schedule_rules.Item],
                      due: datetime.datetime) -> tuple[str | None, str]:
        """(backup id or None, what happened)."""
        parent, why = schedule_rules.choose_parent(
            items, schedule.incremental, self.conf.backup_schedule.max_chain_length)
        body = {"name": "%s %s" % (schedule.name[:200], due.strftime("%Y-%m-%dT%H:%M:%SZ")),
                "instance": schedule.instance_id, "parent_id": parent,
                "description": "made by backup schedule %s" % schedule.id}
        try:
            view = self.backups.create(None, schedule.tenant_id, body)
        except exceptions.TroveLiteError as e:
            return None, "skipped: %s" % e.message
        return view.backup.id, "backup %s started: %s" % (view.backup.id, why)

    # -- retention ------------------------------------------------------------------
    def _trim(self, schedule: models.BackupSchedule, items: list[schedule_rules.Item],
              pinned: frozenset[str], now: datetime.datetime) -> None:
        doomed, reason = schedule_rules.retention(
            items, schedule.retention_count, schedule.retention_days, now, pinned)
        if doomed:
            LOG.info("backup schedule %s: %s", schedule.id, reason)
        for backup_id in doomed:
            if claim(self.db, schedule.id, "delete " + backup_id, self.holder, now):
                try:
                    self.backups.delete(None, schedule.tenant_id, backup_id)
                except exceptions.TroveLiteError as e:
                    LOG.warning("backup schedule %s: backup %s not deleted: %s",
                                schedule.id, backup_id, e.message)

    def _forget(self, schedule_id: str, now: datetime.datetime) -> None:
        """Drop leases nobody can contend for any more: a day old, and not the link
        to a live backup."""
        live = select(models.Backup.id).where(models.Backup.deleted.is_(False))
        with self.db.session() as s:
            s.execute(delete(models.BackupScheduleLease).where(
                models.BackupScheduleLease.schedule_id == schedule_id,
                models.BackupScheduleLease.created < now - LEASE_KEPT,
                models.BackupScheduleLease.backup_id.is_(None)
                | models.BackupScheduleLease.backup_id.not_in(live)))

    # -- loop -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = run_every(self._stop, lambda: self.conf.backup_schedule.tick_interval,
                                 self.tick, "backup-scheduler")

    def stop(self) -> None:
        self._stop.set()


def run_every(stop: threading.Event, interval: Callable[[], float], fn: Callable[[], object],
              name: str) -> threading.Thread:
    """Call ``fn`` now and then every ``interval()`` seconds until ``stop`` is set,
    in a daemon thread; an exception is logged with the BUG line and the loop goes on."""
    def loop() -> None:
        while not stop.is_set():
            try:
                fn()
            except Exception:
                LOG.exception("Unexpected exception raised, please report it as a BUG")
            stop.wait(interval())
    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
