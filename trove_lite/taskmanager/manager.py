"""The taskmanager service: RPC endpoints (casts) that run instance flows.

Every cast runs its flow in a thread of the RPC executor. The manager remembers
which instances a flow of this process is driving; ``reconcile()`` (on start and
every ``reconcile_interval``) looks at all instances with a task in progress and
lets ``reconcile.decide`` pick what to do with those nobody drives, so a
taskmanager killed mid-flow never leaves an instance in BUILD forever.
"""

import contextlib
import json
import logging
import threading
import time
from typing import Any, Callable, Iterator

import oslo_messaging as messaging
from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.orm import Session

from trove_lite.configuration import apply as configuration_apply
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.drivers.compute.base import ComputeDriver
from trove_lite.drivers.volume.base import VolumeDriver
from trove_lite.rpc.context import RequestContext
from trove_lite.status import ServiceStatus, TaskStatus
from trove_lite.taskmanager import (backup_flows, ha, instance_flows, leases, reconcile,
                                   replication_flows, scheduler, upgrade_flows)

LOG = logging.getLogger(__name__)
# how often guests whose binlog archiver waits for its key (restarted) are served
ARCHIVE_KEY_INTERVAL = 1.0
# seconds a user's action (its task already claimed by the API) waits for another flow of
# the instance to end, e.g. a configuration apply: dropping it would lose the action
ACTION_WAIT = 60


class TaskManager:
    target = messaging.Target(version="1.10")

    def __init__(self, conf: cfg.ConfigOpts, db: Database, compute: ComputeDriver,
                 volumes: VolumeDriver,
                 guest_factory: instance_flows.GuestFactory | None = None) -> None:
        self.conf = conf
        self.db = db
        self.flows = instance_flows.InstanceFlows(conf, db, compute, volumes, guest_factory)
        self.backups = backup_flows.BackupFlows(conf, db, self.flows.guest_factory)
        self.scheduler = scheduler.Scheduler(conf, db, self.backups)
        self.upgrades = upgrade_flows.UpgradeFlows(self.flows)
        self.replication = replication_flows.ReplicationFlows(self.flows)
        self.flows.replication = self.replication
        self.ha = ha.HA(self.flows, ha.build_endpoints(conf, compute))
        self.configurations = configuration_apply.Applier(db, self.flows.guest_factory)
        self.flows.ha = self.ha
        self._driving: set[str] = set()
        self.upgrades.claim = self._claim
        self.leases = leases.FlowLeases(db, conf.taskmanager.flow_lease_seconds)
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._keys_thread: threading.Thread | None = None

    # -- bookkeeping of flows run by this process ----------------------------
    def _drive(self, instance_id: str, fn: Callable[..., object], *args: Any, wait: float = 0,
               **kwargs: Any) -> None:
        """Run ``fn`` for an instance unless another flow drives it, here or in
        another taskmanager (the instance's lease in ``flow_leases``).

        ``wait``: seconds to wait for a running flow to end first (a delete waits
        for a create, which notices the DELETING task and stops).
        """
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if instance_id not in self._driving:
                    self._driving.add(instance_id)
                    if self.leases.acquire(instance_id, fn.__name__):
                        break
                    self._driving.discard(instance_id)
                    where = "in another taskmanager"
                else:
                    where = "here"
            if time.monotonic() >= deadline:
                LOG.warning("instance %s already has a flow running %s; %s ignored",
                            instance_id, where, fn.__name__)
                return
            time.sleep(0.2)
        try:
            self.flows.adopt_claims(instance_id)
            fn(instance_id, *args, **kwargs)
        except Exception:
            LOG.exception("Unexpected exception raised, please report it as a BUG")
        finally:
            with self._lock:
                self._driving.discard(instance_id)
                self.leases.release(instance_id)

    @contextlib.contextmanager
    def _claim(self, instance_id: str) -> Iterator[None]:
        """Mark an instance driven here while a flow of another instance acts on it
        (the set upgrade upgrades the replicas inside the source's flow)."""
        with self._lock:
            self._driving.add(instance_id)
        try:
            yield
        finally:
            with self._lock:
                self._driving.discard(instance_id)

    # -- RPC endpoints (1.0) ---------------------------------------------------
    def create_instance(self, ctx: RequestContext, instance_id: str,
                        databases: list[dict] | None = None, users: list[dict] | None = None,
                        backup_id: str | None = None,
                        root_password: str | None = None) -> None:
        self._drive(instance_id, self.flows.create, databases or [], users or [], backup_id,
                    root_password)

    def delete_instance(self, ctx: RequestContext, instance_id: str) -> None:
        self._drive(instance_id, self.delete, wait=60)

    def force_delete_instance(self, ctx: RequestContext, instance_id: str) -> None:
        self._drive(instance_id, self.delete, force=True, wait=60)

    def delete(self, instance_id: str, force: bool = False) -> None:
        """The delete flow, then the binlog archive no remaining backup of the instance
        needs goes (one deleted with no backup keeps none: nothing could restore it)."""
        self.flows.delete(instance_id, force=force)
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            gone = inst is not None and inst.deleted
        if gone:
            try:
                self.backups.prune_archive(instance_id)
            except Exception:   # the next backup delete of the instance tries again
                LOG.exception("binlog archive of deleted instance %s not pruned", instance_id)

    def restart_instance(self, ctx: RequestContext, instance_id: str) -> None:
        self._drive(instance_id, self.flows.restart, wait=ACTION_WAIT)

    def resize_flavor(self, ctx: RequestContext, instance_id: str, old_flavor_id: str,
                      new_flavor_id: str) -> None:
        self._drive(instance_id, self.flows.resize_flavor, old_flavor_id, new_flavor_id,
                    wait=ACTION_WAIT)

    def resize_volume(self, ctx: RequestContext, instance_id: str, new_size: int) -> None:
        self._drive(instance_id, self.flows.resize_volume, new_size, wait=ACTION_WAIT)

    def reset_status(self, ctx: RequestContext, instance_id: str) -> None:
        self.flows.adopt_claims(instance_id)
        self.flows.reset_status(instance_id)

    # -- mgmt and access (1.5) -------------------------------------------------
    def reboot_instance(self, ctx: RequestContext, instance_id: str) -> None:
        self._drive(instance_id, self.flows.reboot, wait=ACTION_WAIT)

    def rebuild_instance(self, ctx: RequestContext, instance_id: str, image_id: str) -> None:
        self._drive(instance_id, self.flows.reboot, image_id, wait=ACTION_WAIT)

    def update_access(self, ctx: RequestContext, instance_id: str) -> None:
        self.flows.apply_access()

    # -- backups (1.1) ---------------------------------------------------------
    def create_backup(self, ctx: RequestContext, backup_id: str, instance_id: str) -> None:
        key = "backup:" + backup_id
        if not self.leases.acquire(key, "create_backup"):
            LOG.warning("backup %s already runs in another taskmanager; cast ignored",
                        backup_id)
            return
        try:
            self.backups.create(backup_id, instance_id)
        finally:
            self.leases.release(key)

    def delete_backup(self, ctx: RequestContext, backup_id: str) -> None:
        self.backups.delete(backup_id)

    # -- configuration (1.2) ------------------------------------------------------
    def update_configuration(self, ctx: RequestContext, instance_id: str,
                             configuration_id: str | None) -> None:
        """Apply the instance's group (the id is the one the API recorded; the apply
        reads the current one). A flow running on the instance leaves the apply
        pending for the reconcile pass."""
        self._drive(instance_id, self.configurations.apply, wait=10)

    def retry_configurations(self) -> None:
        for instance_id in self.configurations.retry_due():
            LOG.info("reconcile %s: configuration apply retried after a heartbeat",
                     instance_id)
            self._spawn(instance_id, self.configurations.apply)

    # -- upgrade (1.3) -----------------------------------------------------------
    def upgrade(self, ctx: RequestContext, instance_id: str, datastore_version_id: str) -> None:
        self._drive(instance_id, self.upgrades.upgrade, datastore_version_id,
                    wait=ACTION_WAIT)

    # -- replication (1.4) -------------------------------------------------------
    def promote_to_replica_source(self, ctx: RequestContext, instance_id: str) -> None:
        self._drive(instance_id, self.replication.promote, wait=ACTION_WAIT)

    def eject_replica_source(self, ctx: RequestContext, instance_id: str) -> None:
        self._drive(instance_id, self.replication.eject, wait=ACTION_WAIT)

    def detach_replica(self, ctx: RequestContext, instance_id: str) -> None:
        self._drive(instance_id, self.replication.detach, wait=ACTION_WAIT)

    # -- 1.10 ---------------------------------------------------------------------
    def apply_durability(self, ctx: RequestContext, instance_id: str) -> None:
        """The set's durability (recorded by the API) onto every member."""
        inst = self.flows.load(instance_id)
        self.replication.apply_durability(inst.slave_of_id or inst.id)

    # -- reconciliation ---------------------------------------------------------
    def snapshots(self) -> list[reconcile.Snapshot]:
        now = instance_flows.utcnow()
        with self.db.session() as s:
            rows = s.execute(
                select(models.Instance, models.ServiceStatus)
                .outerjoin(models.ServiceStatus,
                           models.ServiceStatus.instance_id == models.Instance.id)
                .where(models.Instance.deleted.is_(False),
                       models.Instance.task_status.in_(sorted(TaskStatus.ACTIVE)))).all()
            requested = set(s.execute(select(models.CreateRequest.instance_id)).scalars())
            upgrading = dict(s.execute(select(models.UpgradeProgress.instance_id,
                                              models.UpgradeProgress.step)).all())
            set_steps, set_of = self._set_upgrades(s)
        with self._lock:
            driving = set(self._driving)
        elsewhere = self.leases.leased_elsewhere()
        return [reconcile.Snapshot(
            instance_id=inst.id, task_status=inst.task_status,
            task_started_at=inst.task_started_at,
            service_status=st.status if st else None,
            service_updated_at=st.updated_at if st else None,
            has_server=bool(inst.server_id), now=now,
            usage_timeout=self.conf.taskmanager.usage_timeout,
            state_change_wait_time=self.conf.taskmanager.state_change_wait_time,
            driven_here=inst.id in driving,
            leased_elsewhere=inst.id in elsewhere,
            uptime=time.monotonic() - self._started,
            has_request=inst.id in requested,
            upgrade_step=upgrading.get(inst.id),
            set_upgrade_step=set_steps.get(inst.id),
            set_upgrade_of=set_of.get(inst.id)) for inst, st in rows]

    @staticmethod
    def _set_upgrades(s: Session) -> tuple[dict[str, str], dict[str, str]]:
        """({source: stage}, {member: source}) of the set upgrades whose source is
        still UPGRADING (a row left by a flow cut off after its end is ignored)."""
        steps: dict[str, str] = {}
        of: dict[str, str] = {}
        for row in s.execute(select(models.SetUpgrade).join(
                models.Instance, models.Instance.id == models.SetUpgrade.source_id).where(
                models.Instance.task_status == TaskStatus.UPGRADING,
                models.Instance.deleted.is_(False))).scalars():
            steps[row.source_id] = row.step
            of.update((member, row.source_id) for member in json.loads(row.members))
        return steps, of

    def reconcile(self) -> None:
        for check in (self.flows.adopt_claims, self.backups.check_stalled,
                      self.flows.apply_access,
                      self.retry_configurations):
            try:
                check()
            except Exception:
                LOG.exception("Unexpected exception raised, please report it as a BUG")
        for snap in self.snapshots():
            action, reason = reconcile.decide(snap)
            if action in (reconcile.NOTHING, reconcile.WAIT):
                continue
            LOG.info("reconcile %s: %s (%s)", snap.instance_id, action, reason)
            if action == reconcile.FINISH_OK:
                self.flows.set_task(snap.instance_id, TaskStatus.NONE)
            elif action == reconcile.FAIL_TIMEOUT:
                task = (TaskStatus.BUILDING_ERROR_TIMEOUT_GA
                        if snap.task_status == TaskStatus.BUILDING else TaskStatus.NONE)
                if task == TaskStatus.BUILDING_ERROR_TIMEOUT_GA:
                    self.flows.set_service_status(
                        snap.instance_id, ServiceStatus.FAILED_TIMEOUT_GUESTAGENT, reason)
                self.flows.fail(snap.instance_id, task, "Task %s did not finish: %s" % (
                    snap.task_status, reason))
            elif action == reconcile.FAIL_LOST_REQUEST:
                self.flows.fail(snap.instance_id, TaskStatus.BUILDING_ERROR,
                                "Instance creation failed: " + reason)
            elif action == reconcile.RESUME_CREATE:
                self._spawn(snap.instance_id, self.flows.create)
            elif action == reconcile.RESUME_DELETE:
                self._spawn(snap.instance_id, self.delete)
            elif action == reconcile.RESUME_UPGRADE:
                self._spawn(snap.instance_id, self.upgrades.resume)

    def _spawn(self, instance_id: str, fn: Callable[..., object], *args: Any) -> None:
        t = threading.Thread(target=self._drive, args=(instance_id, fn) + args,
                             name="flow-%s" % instance_id[:8], daemon=True)
        t.start()

    def start_reconciler(self) -> None:
        self._thread = scheduler.run_every(
            self._stop, lambda: self.conf.taskmanager.reconcile_interval, self.reconcile,
            "reconciler")
        self._keys_thread = scheduler.run_every(
            self._stop, lambda: ARCHIVE_KEY_INTERVAL, self.backups.send_archive_keys,
            "archive-keys")
        self.leases.start()
        self.ha.start()
        self.scheduler.start()
        self.replication.start_fence_checks(self._stop)

    def stop(self) -> None:
        self._stop.set()
        self.leases.stop()
        self.ha.stop()
        self.scheduler.stop()
