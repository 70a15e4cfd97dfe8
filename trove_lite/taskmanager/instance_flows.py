"""Instance flows of the taskmanager: create, delete, restart, resize, reset.

Each flow is a linear script of idempotent steps; what a step created is saved
on the instance row before the next step runs, so a flow cut off by a killed
taskmanager can be resumed (reconcile.py decides when). Failures end in an
``*_ERROR`` task (or NONE for actions that leave the database as it was) plus an
instance fault row whose message the user sees in ``instance show``.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import datetime
import functools
import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, TypeVar

from oslo_config import cfg
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trove_lite import exceptions, logs_opts, quota
from trove_lite.datastores import binlog
from trove_lite.common import steps
from trove_lite.configuration import service as configuration_service
from trove_lite.db import create_requests, models, step_durations
from trove_lite.db.session import Database
from trove_lite.instance import events
from trove_lite.drivers.compute import base as compute_base
from trove_lite.drivers.compute import firewall as access_firewall
from trove_lite.drivers.volume import base as volume_base
from trove_lite.rpc import conductor as conductor_rpc
from trove_lite.rpc import guest as guest_rpc
from trove_lite.rpc import sealed
from trove_lite.rpc import transport
from trove_lite.status import ServiceStatus, TaskStatus
from trove_lite.taskmanager import backup_flows

if TYPE_CHECKING:
    from trove_lite.taskmanager.ha import HA
    from trove_lite.taskmanager.replication_flows import ReplicationFlows


LOG = logging.getLogger(__name__)

GUEST_CONF_PATH = "etc/trove-lite/guest.conf"
# The prepare request, injected with the server so the guest can start preparing
# while it still connects to the bus; the prepare cast follows and is idempotent.
PREPARE_PATH = "etc/trove-lite/prepare.json"
POLL = 0.1
# The first 0.2 s of a wait for a guest's report look every 0.01 s: the report
# usually lands just after the first look (the guest answered its call, then
# beats), and a whole POLL then was the last tenth of a second of an upgrade.
FIRST_POLLS, FIRST_POLL = 20, 0.01
# instance id -> its guest's RPC client (tests pass stand-ins)
GuestFactory = Callable[[str], guest_rpc.GuestAPI]
T = TypeVar("T")


def existing(s: Session, model: type[T], key: str) -> T:
    """A row that must exist: instances, versions, backups and set rows are marked
    deleted, never removed, while a flow uses them."""
    row = s.get(model, key)
    assert row is not None, "%s %s vanished" % (model.__name__, key)
    return row


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class FlowError(exceptions.TroveLiteError):
    """A flow step failed; ``task`` is the error task to record."""

    code = "flow_failed"

    def __init__(self, task: str | None, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.task, self.details = task, details


class FlowCancelled(Exception):
    """The user deleted the instance while this flow was running.

    A signal that unwinds a flow, not an error: it stays outside the error
    hierarchy on purpose, so the flows' ``except TroveLiteError`` handlers (which
    record a fault and clear the task) never catch it and undo the DELETING task.
    """


class InstanceFlows:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, compute: compute_base.ComputeDriver,
                 volumes: volume_base.VolumeDriver, guest_factory: GuestFactory | None = None,
                 firewall: access_firewall.AccessFirewall | None = None) -> None:
        self.conf = conf
        self.db = db
        self.compute = compute
        self.volumes = volumes
        self.firewall = firewall or access_firewall.for_compute(compute, conf)
        self.guest_factory: GuestFactory = guest_factory or (
            lambda instance_id: guest_rpc.GuestAPI(conf, instance_id))
        self.requests = create_requests.CreateRequests(conf, db)
        self.replication: ReplicationFlows | None = None  # set by the TaskManager
        self.ha: HA | None = None  # set by the TaskManager

    # -- small state helpers ---------------------------------------------------
    def load(self, instance_id: str) -> models.Instance:
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            if inst is None:
                raise exceptions.NotFound(kind="Instance", id=instance_id)
            s.expunge(inst)
            return inst

    def update(self, instance_id: str, **fields: Any) -> None:
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            for key, value in fields.items():
                setattr(inst, key, value)

    def set_task(self, instance_id: str, task: str) -> None:
        self.update(instance_id, task_status=task)

    def adopt_claims(self, instance_id: str | None = None) -> int:
        return adopt_claims(self.db, instance_id)

    def add_fault(self, instance_id: str, message: str, details: str | None = None,
                  task: str | None = None) -> None:
        """Record a fault; with ``task`` (an error task) set the task in the same
        transaction, so no client sees the ERROR without the reason."""
        LOG.warning("instance %s fault: %s", instance_id, message)
        with self.db.session() as s:
            s.add(models.InstanceFault(instance_id=instance_id, message=message[:1024],
                                       details=details))
            if task is not None:
                existing(s, models.Instance, instance_id).task_status = task
        events.record(self.db, instance_id, "fault", message)

    def fail(self, instance_id: str, task: str, message: str,
             details: str | None = None) -> None:
        """The flow ended in ``task`` (an error) because of ``message``."""
        self.add_fault(instance_id, message, details, task=task)

    def service_status(
            self, instance_id: str
    ) -> tuple[str | None, str | None, datetime.datetime | None]:
        with self.db.session() as s:
            row = s.execute(select(models.ServiceStatus).where(
                models.ServiceStatus.instance_id == instance_id)).scalar_one_or_none()
            return (row.status, row.status_description, row.updated_at) if row else (
                None, None, None)

    def set_service_status(self, instance_id: str, status: str,
                           description: str | None = None) -> None:
        """Tell the conductor, the only writer of service_statuses, what this flow
        learned; it orders the report with the guest's heartbeats."""
        conductor_rpc.ConductorAPI(self.conf, instance_id, self.rpc_key_for).report_status(
            instance_id, status, description)

    def flavor(self, flavor_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            f = s.get(models.Flavor, flavor_id)
            if f is None:
                raise exceptions.NotFound(kind="Flavor", id=flavor_id)
            return {"id": f.id, "name": f.name, "ram": f.ram, "vcpus": f.vcpus,
                    "disk": f.disk}

    def image_id(self, datastore_version_id: str) -> str:
        with self.db.session() as s:
            return existing(s, models.DatastoreVersion, datastore_version_id).image_id

    def wait_for_service(self, instance_id: str, ok: Collection[str], deadline: float,
                         fail: Collection[str] = (ServiceStatus.FAILED,),
                         since: datetime.datetime | None = None,
                         server_id: str | None = None) -> str:
        """Poll the conductor-written status until it is in ``ok`` (returns it).

        Raises FlowError on a status in ``fail`` or when ``deadline`` (monotonic)
        passes. ``since``: ignore reports older than this (UTC naive datetime).
        """
        polls = 0
        while True:
            self._check_not_deleting(instance_id)
            status, description, updated = self.service_status(instance_id)
            fresh = since is None or (updated is not None and updated >= since)
            if fresh and status is not None and status in ok:
                return status
            if fresh and status in fail:
                raise FlowError(None, "The guest reported %s: %s" % (
                    status, description or "no detail"))
            polls += 1
            if server_id is not None and polls > FIRST_POLLS and polls % 20 == 0:
                died = self._server_died(server_id)     # about every 2 s
                if died:
                    raise FlowError(None, "The server stopped before the guest reported "
                                          "ready: %s" % died)
            if time.monotonic() > deadline:
                raise FlowError(None, "Timed out waiting for the guest to report %s "
                                      "(last report: %s)" % ("/".join(sorted(ok)), status))
            time.sleep(FIRST_POLL if polls <= FIRST_POLLS else POLL)

    # -- create ---------------------------------------------------------------
    def create(self, instance_id: str, databases: Iterable[dict] = (),
               users: Iterable[dict] = (), backup_id: str | None = None,
               root_password: str | None = None) -> None:
        """Run (or resume) a create. Users, databases and root password come from the
        stored request (create_requests.py) when there is one, else from the
        arguments; the request is erased when the create ends, either way."""
        try:
            self._create(instance_id, databases, users, backup_id, root_password)
        finally:
            self.requests.erase(instance_id)

    def _create(self, instance_id: str, databases: Iterable[dict], users: Iterable[dict],
                backup_id: str | None, root_password: str | None) -> None:
        inst = self.load(instance_id)
        if inst.task != TaskStatus.BUILDING:
            # a late cast (or resume) of a create that has ended: nothing left to do
            LOG.info("create of %s not run: its task is %s", instance_id, inst.task)
            return
        started = inst.task_started_at or utcnow()
        deadline = time.monotonic() + max(
            1, self.conf.taskmanager.usage_timeout - (utcnow() - started).total_seconds())
        backup_id = backup_id or inst.restore_backup_id
        try:
            request = self.requests.load(instance_id)
            if request is not None:
                databases, users = request["databases"], request["users"]
                root_password = request.get("root_password") or root_password
            self._create_steps(inst, databases, users, backup_id, root_password, deadline)
        except create_requests.RequestUnreadable as e:
            self.fail(instance_id, TaskStatus.BUILDING_ERROR,
                      "Instance creation failed: %s" % e.message)
            return
        except FlowCancelled:
            LOG.info("create of %s stopped: the instance is being deleted", instance_id)
            return
        except FlowError as e:
            if e.task == TaskStatus.BUILDING_ERROR_TIMEOUT_GA:
                self.set_service_status(instance_id, ServiceStatus.FAILED_TIMEOUT_GUESTAGENT,
                                        e.message)
            self.fail(instance_id, e.task or TaskStatus.BUILDING_ERROR, e.message, e.details)
            return
        except Exception as e:  # a driver or bus failure we did not foresee
            LOG.exception("create of instance %s failed", instance_id)
            self.fail(instance_id, TaskStatus.BUILDING_ERROR,
                      "Instance creation failed: %s" % e, details=type(e).__name__)
            return
        if inst.slave_of_id:
            # before ACTIVE: an action the user sends once it shows ACTIVE would be
            # ignored while this flow still drives the instance
            t = time.monotonic()
            self.set_changed(inst.slave_of_id)
            self._step(inst, "the set's endpoints and durability updated", t)
        self.update(instance_id, task_status=TaskStatus.NONE)
        LOG.info("instance %s is ACTIVE", instance_id)
        events.record(self.db, instance_id, "create", "ACTIVE after %.1f s" % (
            (utcnow() - started).total_seconds()))

    def move_rw(self, source_id: str, address: str | None,
                then: Callable[[], object]) -> float | None:
        """Point the set's rw endpoint at its new source now (the write path), then
        ``then()`` (the flow records the topology), before the rest of a promote
        or failover (see taskmanager/ha.py). Seconds until rw moved, or None."""
        if self.ha is None:
            then()
            return None
        return self.ha.point_rw(source_id, address, then)

    def set_changed(self, source_id: str) -> None:
        """A replication set's membership or source changed (see taskmanager/ha.py)."""
        if self.ha is None:
            return
        try:
            self.ha.set_changed(source_id)
        except Exception:    # the flow that changed the set succeeded all the same
            LOG.exception("Unexpected exception raised, please report it as a BUG")

    def _step(self, inst: models.Instance, what: str, started: float) -> float:
        """Log a finished step of a long flow: the operator's view of its progress."""
        now = time.monotonic()
        LOG.info("instance %s: %s (%.2f s)", inst.id, what, now - started)
        step_durations.record(self.db, what, now - started)
        return now

    def _create_steps(self, inst: models.Instance, databases: Iterable[dict],
                      users: Iterable[dict], backup_id: str | None,
                      root_password: str | None, deadline: float) -> None:
        t = time.monotonic()
        flow = "restore" if backup_id else "create"
        flavor = self.flavor(inst.flavor_id)
        # a replica: the source starts its backup for the seed stream now, while
        # the volume and the guest's queue are made (joined before the server)
        seed = _in_thread(self._seed_request, inst) if inst.slave_of_id else None
        volume_id = inst.volume_id or self._orphan_volume(inst)
        if inst.volume_size and not volume_id:
            try:
                volume = self.volumes.create_volume(inst.volume_size, "trove-" + inst.id)
            except Exception as e:
                raise FlowError(TaskStatus.BUILDING_ERROR_VOLUME,
                                "Volume creation failed: %s" % e)
            volume_id = volume.id
            self.update(inst.id, volume_id=volume_id)
            t = self._step(inst, "volume %s created" % volume_id, t)
            steps.mark(flow, "volume_created", inst.id)
        prepare: dict[str, Any] = {"flavor": flavor, "databases": list(databases or []),
                   "users": list(users or []), "root_password": root_password,
                   "overrides": self.configuration_values(inst.configuration_id),
                   "backup": self.backup_info(backup_id, inst.restore_point)}
        server_id = self._usable_server(inst.server_id or self._orphan_server(inst))
        if server_id != inst.server_id:
            self.update(inst.id, server_id=server_id, volume_id=volume_id)
        if not server_id:
            self._precreate_guest_queue(inst.id)
            t = self._step(inst, "guest queue declared", t)
            steps.mark(flow, "queue_declared", inst.id)
        if seed is not None:
            prepare["replication"] = seed.result()
            t = self._step(inst, "seed arranged with the source", t)
            if prepare["replication"].get("seed_backup"):
                # seeded from the set's stored backup: restored as a restore is
                backup_id = prepare["replication"]["seed_backup"]
                prepare["backup"] = self.backup_info(backup_id)
        if not server_id:
            files = {GUEST_CONF_PATH: self.guest_conf(inst.id),
                     PREPARE_PATH: json.dumps(backup_flows.injectable(prepare))}
            try:
                server = self.compute.create_server(
                    "trove-" + inst.id, self.image_id(inst.datastore_version_id),
                    _flavor_tuple(flavor), files=files,
                    metadata={"trove_instance_id": inst.id}, volume_id=volume_id)
            except Exception as e:
                raise FlowError(TaskStatus.BUILDING_ERROR_SERVER,
                                "Server creation failed: %s" % e)
            server_id = server.id
            self.update(inst.id, server_id=server_id,
                        address=server.addresses[0] if server.addresses else None)
            t = self._step(inst, "server %s created" % server_id, t)
            steps.mark(flow, "server_created", inst.id)
        # a restore waits for the cast (the injected request cannot carry its key):
        # send it while the server boots when the volume is attached already (the
        # guest's queue exists, so the cast waits there for the agent)
        # a point-in-time restore's archive key is sealed to the new guest's public
        # key, known once its agent runs: that prepare is sent after the boot
        replay = (prepare.get("backup") or {}).get("pitr")
        sent = bool(backup_id) and not replay and self._send_prepare(
            inst, prepare, volume_id, booting=True)
        if sent:
            t = self._step(inst, "prepare sent to the booting guest", t)
            steps.mark(flow, "prepare_sent", inst.id)
        server = self._wait_server_active(inst.id, server_id, deadline)
        t = self._step(inst, "server %s is ACTIVE" % server_id, t)
        steps.mark(flow, "server_active", inst.id)
        if server.addresses:
            self.update(inst.id, address=server.addresses[0])
        self.apply_access()  # before the guest creates the users
        device = self._attach(volume_id, server_id) if volume_id else None
        if replay and "key" in replay:
            replay["sealed_key"] = binlog.seal(self._guest_public_key(inst.id, deadline),
                                               replay.pop("key"))
        if not sent and self._send_prepare(inst, prepare, volume_id, device=device):
            t = self._step(inst, "prepare sent to the guest", t)
            steps.mark(flow, "prepare_sent", inst.id)
        try:
            self.wait_for_service(inst.id, ServiceStatus.SERVING, deadline, server_id=server_id)
            self._step(inst, "the guest reports the database serving", t)
            steps.mark(flow, "serving", inst.id)
        except FlowError as e:
            if "Timed out" in e.message:
                raise FlowError(TaskStatus.BUILDING_ERROR_TIMEOUT_GA,
                                "The guest agent did not report ready within %d s; "
                                "the instance is in ERROR. %s" % (
                                    self.conf.taskmanager.usage_timeout, e.message))
            raise FlowError(TaskStatus.BUILDING_ERROR_RESTORE if backup_id
                            else TaskStatus.BUILDING_ERROR, e.message)

    def _guest_public_key(self, instance_id: str, deadline: float) -> str:
        """The X25519 public key the instance's agent reported (binlog_archive.py)."""
        while True:
            self._check_not_deleting(instance_id)
            with self.db.session() as s:
                row = s.get(models.BinlogArchive, instance_id)
                if row is not None and row.public_key:
                    return row.public_key
            if time.monotonic() > deadline:
                raise FlowError(TaskStatus.BUILDING_ERROR_TIMEOUT_GA,
                                "The guest agent did not report its public key, which the "
                                "point-in-time restore's key is sealed to")
            time.sleep(POLL)

    def _seed_request(self, inst: models.Instance) -> dict[str, Any]:
        assert self.replication is not None, "set by the TaskManager"
        try:
            return self.replication.seed_request(inst)
        except Exception as e:
            raise FlowError(TaskStatus.BUILDING_ERROR, "Replica creation failed: %s" % e)

    def _send_prepare(self, inst: models.Instance, prepare: dict[str, Any], volume_id: str | None,
                      device: str | None = None, booting: bool = False) -> bool:
        """Cast prepare unless the guest serves already; ``booting``: only if the
        volume's device is known without attaching. True if sent."""
        if booting:
            volume = self.volumes.get_volume(volume_id) if volume_id else None
            if volume is None or volume.status != "in-use" or not volume.device:
                return False
            device = volume.device
        status, _, _ = self.service_status(inst.id)
        if status in ServiceStatus.SERVING:
            return False
        self.guest_factory(inst.id).prepare(volume_device=device, **prepare)
        return True

    def _server_died(self, server_id: str) -> str | None:
        """A reason if the server is in ERROR or SHUTOFF (its guest cannot answer)."""
        server = self.compute.get_server(server_id)
        if server.status in ("ERROR", "SHUTOFF"):
            return "%s%s" % (server.status, ": %s" % server.fault if server.fault else "")
        return None

    def _check_not_deleting(self, instance_id: str) -> None:
        if self.load(instance_id).task == TaskStatus.DELETING:
            raise FlowCancelled()

    def _wait_server_active(self, instance_id: str, server_id: str,
                            deadline: float) -> compute_base.Server:
        while True:
            self._check_not_deleting(instance_id)
            server = self.compute.get_server(server_id)
            if server.status == "ACTIVE":
                return server
            if server.status == "ERROR":
                raise FlowError(TaskStatus.BUILDING_ERROR_SERVER,
                                "Server %s went to ERROR: %s" % (server_id, server.fault))
            if time.monotonic() > deadline:
                raise FlowError(TaskStatus.BUILDING_ERROR_SERVER,
                                "Server %s did not become ACTIVE in time (%s)" % (
                                    server_id, server.status))
            time.sleep(POLL)

    def _orphan_server(self, inst: models.Instance) -> str | None:
        """A server a cut-off flow created before it could record its id."""
        for server in self.compute.list_servers():
            if server.name == "trove-" + inst.id:
                LOG.info("instance %s: adopting server %s left by a cut-off flow",
                         inst.id, server.id)
                return server.id
        return None

    def _usable_server(self, server_id: str | None) -> str | None:
        """Keep a server found on resume only if its guest can still come up: one
        left SHUTOFF or in ERROR by a cut-off flow is deleted and made again."""
        if not server_id:
            return None
        try:
            server = self.compute.get_server(server_id)
        except compute_base.ServerNotFound:
            return None
        if server.status in ("SHUTOFF", "ERROR"):
            LOG.info("replacing server %s (%s) found on resume", server_id, server.status)
            self.compute.delete_server(server_id)
            return None
        return server_id

    def _orphan_volume(self, inst: models.Instance) -> str | None:
        lister = getattr(self.volumes, "list_volumes", None)
        for volume in (lister() if lister else []):
            if volume.name == "trove-" + inst.id:
                LOG.info("instance %s: adopting volume %s left by a cut-off flow",
                         inst.id, volume.id)
                self.update(inst.id, volume_id=volume.id)
                return volume.id
        return None

    def _attach(self, volume_id: str, server_id: str, timeout: float = 60) -> str:
        """The volume's device, attaching it unless it is attached already (at boot,
        or by a flow that was cut off: the guest may be using it)."""
        deadline = time.monotonic() + timeout
        volume = self.volumes.get_volume(volume_id)
        while volume.status in ("attaching", "creating") and time.monotonic() < deadline:
            time.sleep(POLL)
            volume = self.volumes.get_volume(volume_id)
        if volume.status == "in-use" and volume.device:
            return volume.device
        return self.volumes.attach_volume(volume_id, server_id)

    def _precreate_guest_queue(self, instance_id: str) -> None:
        """Declare the guest's queue so a prepare cast waits there for the agent."""
        server = transport.make_server(self.conf, guest_rpc.guest_topic(instance_id),
                                       "precreate", [])
        server.start()
        server.stop()
        server.wait()

    @functools.cached_property
    def rpc_key_for(self) -> Callable[[str], bytes]:
        """Instance id -> its RPC key (derived from the master secret, cached)."""
        return sealed.control_key_for(self.conf)

    def guest_conf(self, instance_id: str) -> str:
        conf = self.conf
        lines = [
            "[DEFAULT]",
            "transport_url = %s" % conf.transport_url,
            "control_exchange = %s" % conf.control_exchange,
            "",
            "[guest]",
            "instance_id = %s" % instance_id,
            "heartbeat_interval = %d" % conf.guest.heartbeat_interval,
            # the instance's own RPC key (rpc/sealed.py): only in this injected file
            "rpc_key = %s" % self.rpc_key_for(instance_id).decode(),
            "rpc_message_window = %d" % conf.guest.rpc_message_window,
            "",
            "[conductor]",
            "topic = %s" % conf.conductor.topic,
            "",
        ]
        if conf.guest.templates_dir:
            lines[6:6] = ["templates_dir = %s" % conf.guest.templates_dir]
        lines.append(backup_flows.guest_storage_conf(conf))
        lines.append(logs_opts.guest_conf_text(conf))
        if conf.taskmanager.guest_config_template:
            lines.append(conf.taskmanager.guest_config_template)
        return "\n".join(lines)

    def configuration_values(self, configuration_id: str | None) -> dict[str, Any]:
        """The group's values keyed by option-file name (the guest writes them as is)."""
        return configuration_service.prepare_overrides(self.db, configuration_id)

    def backup_info(self, backup_id: str | None,
                    restore_point: str | None = None) -> dict[str, Any] | None:
        """The restore request for prepare (chain, key; for a point-in-time restore
        the binlog replay in ``pitr``), or None."""
        if not backup_id:
            return None
        try:
            if restore_point:
                replay = backup_flows.pitr_request(self.conf, self.db, restore_point)
                backup_id = replay.pop("backup_id")
                request = backup_flows.restore_request(self.conf, self.db, backup_id)
                return dict(request, pitr=replay)
            return backup_flows.restore_request(self.conf, self.db, backup_id)
        except exceptions.TroveLiteError as e:
            raise FlowError(TaskStatus.BUILDING_ERROR_RESTORE,
                            "Restore from backup %s is not possible: %s" % (backup_id, _msg(e)))

    # -- delete ---------------------------------------------------------------
    def delete(self, instance_id: str, force: bool = False) -> None:
        inst = self.load(instance_id)
        errors: list[str] = []
        if inst.server_id:
            try:
                self.compute.delete_server(inst.server_id)
                steps.mark("delete", "server_deleted", instance_id)
            except Exception as e:
                errors.append("server: %s" % e)
        if inst.volume_id:
            try:
                if inst.server_id:
                    try:
                        self.volumes.detach_volume(inst.volume_id, inst.server_id)
                    except Exception:
                        LOG.debug("detach before delete failed", exc_info=True)
                self.volumes.delete_volume(inst.volume_id)
                steps.mark("delete", "volume_deleted", instance_id)
            except Exception as e:
                errors.append("volume: %s" % e)
        if errors and not force:
            self.fail(instance_id, TaskStatus.DELETE_ERROR,
                      "Delete failed: " + "; ".join(errors))
            return
        self.update(instance_id, deleted=True, deleted_at=utcnow(),
                    task_status=TaskStatus.NONE)
        events.record(self.db, instance_id, "delete", "server and volume deleted")
        steps.mark("delete", "recorded", instance_id)
        quota.release_instance(self.db, self.conf, instance_id)  # idempotent
        self.set_service_status(instance_id, ServiceStatus.DELETED)
        self.apply_access()  # its rules go with it
        LOG.info("instance %s deleted%s", instance_id,
                 " (ignoring: %s)" % "; ".join(errors) if errors else "")
        self.set_changed(inst.slave_of_id or instance_id)

    # -- restart --------------------------------------------------------------
    def restart(self, instance_id: str) -> None:
        guest = self.guest_factory(instance_id)
        since = utcnow()
        try:
            self.set_service_status(instance_id, ServiceStatus.RESTARTING)
            steps.mark("restart", "status_restarting", instance_id)
            guest.restart()
            steps.mark("restart", "restart_sent", instance_id)
            self.wait_for_service(instance_id, ServiceStatus.SERVING, self._state_deadline(),
                                  since=since)
            events.record(self.db, instance_id, "restart", "database restarted")
            steps.mark("restart", "serving", instance_id)
        except (FlowError, exceptions.TroveLiteError) as e:
            self.add_fault(instance_id, "Restart failed: %s" % _msg(e))
        finally:
            self.set_task(instance_id, TaskStatus.NONE)

    def reboot(self, instance_id: str, image_id: str | None = None) -> None:
        """mgmt reboot (the whole server), or rebuild onto ``image_id``; the data
        volume stays attached. The database is started even if it was stopped on
        purpose (mgmt stop), which a plain boot leaves stopped: a reboot is how an
        operator brings it back."""
        inst = self.load(instance_id)
        what = "Rebuild onto image %s" % image_id if image_id else "Reboot"
        since = utcnow()
        try:
            self.set_service_status(instance_id, ServiceStatus.RESTARTING)
            server_id = server_of(inst)
            if image_id:
                self.compute.rebuild_server(server_id, image_id)
            else:
                self.compute.reboot_server(server_id)
            # waits in the guest's queue until the rebooted agent consumes it
            self.guest_factory(instance_id).start_db()
            self.wait_for_service(instance_id, ServiceStatus.SERVING, self._state_deadline(),
                                  since=since)
        except (FlowError, exceptions.TroveLiteError, OSError) as e:
            self.add_fault(instance_id, "%s failed: %s" % (what, _msg(e)))
        finally:
            self.set_task(instance_id, TaskStatus.NONE)

    # -- access -----------------------------------------------------------------
    def apply_access(self) -> bool:
        """Every live instance's ``allowed_cidrs`` onto its database port (see
        drivers/compute/firewall.py); called on each change and reconcile pass."""
        entries: list[access_firewall.Entry] = []
        with self.db.session() as s:
            rows = s.execute(select(models.Instance.address, models.Instance.access).where(
                models.Instance.deleted.is_(False), models.Instance.address.is_not(None),
                models.Instance.access.is_not(None))).all()
        for address, access in rows:
            if address is None or access is None:   # not selected (see the query)
                continue
            try:
                cidrs = json.loads(access).get("allowed_cidrs") or []
            except (ValueError, AttributeError):
                cidrs = []
            if cidrs:
                entries.append((address, 3306, tuple(cidrs)))
        return self.firewall.apply(entries)

    def _state_deadline(self) -> float:
        return time.monotonic() + self.conf.taskmanager.state_change_wait_time

    # -- resize ---------------------------------------------------------------
    def resize_flavor(self, instance_id: str, old_flavor_id: str, new_flavor_id: str) -> None:
        guest = self.guest_factory(instance_id)
        new, old = self.flavor(new_flavor_id), self.flavor(old_flavor_id)
        since = utcnow()
        try:
            guest.update_flavor(new)
            steps.mark("resize", "flavor_sent", instance_id)
            guest.restart()
            steps.mark("resize", "restart_sent", instance_id)
            self.wait_for_service(instance_id, ServiceStatus.SERVING, self._state_deadline(),
                                  since=since)
            steps.mark("resize", "serving", instance_id)
            self.update(instance_id, flavor_id=new_flavor_id)
            events.record(self.db, instance_id, "resize", "flavor %s -> %s" % (
                old["name"], new["name"]))
        except (FlowError, exceptions.TroveLiteError) as e:
            self.add_fault(instance_id, "Resize to flavor %s failed, reverted to %s: %s" % (
                new["name"], old["name"], _msg(e)))
            try:
                guest.update_flavor(old)
                guest.restart()
            except exceptions.TroveLiteError:
                LOG.exception("revert of resize of %s failed", instance_id)
        finally:
            self.set_task(instance_id, TaskStatus.NONE)

    def resize_volume(self, instance_id: str, new_size: int) -> None:
        inst = self.load(instance_id)
        guest = self.guest_factory(instance_id)
        since = utcnow()
        try:
            mark = functools.partial(steps.mark, "resize_volume", instance_id=instance_id)
            volume_id, server_id = volume_of(inst), server_of(inst)
            guest.stop_db()
            mark("db_stopped")
            guest.unmount_volume()
            self.volumes.detach_volume(volume_id, server_id)
            mark("volume_detached")
            self.volumes.extend_volume(volume_id, new_size)
            mark("volume_extended")
            device = self.volumes.attach_volume(volume_id, server_id)
            mark("volume_attached")
            guest.mount_volume(device)
            guest.start_db()
            mark("db_started")
            self.wait_for_service(instance_id, ServiceStatus.SERVING, self._state_deadline(),
                                  since=since)
            mark("serving")
            self.update(instance_id, volume_size=new_size)
            events.record(self.db, instance_id, "resize", "volume %s -> %d GB" % (
                inst.volume_size, new_size))
        except (FlowError, exceptions.TroveLiteError, OSError) as e:
            self.add_fault(instance_id, "Volume resize to %d GB failed: %s" % (
                new_size, _msg(e)))
            self._try_start_again(inst, guest)
        finally:
            self.set_task(instance_id, TaskStatus.NONE)

    def _try_start_again(self, inst: models.Instance, guest: guest_rpc.GuestAPI) -> None:
        try:
            guest.mount_volume(self._attach(volume_of(inst), server_of(inst)))
            guest.start_db()
        except Exception:
            LOG.exception("could not bring %s back after a failed volume resize", inst.id)

    # -- reset ----------------------------------------------------------------
    def reset_status(self, instance_id: str) -> None:
        """Clear a stuck or failed task; the next heartbeat sets the real status."""
        status, _, _ = self.service_status(instance_id)
        self.set_task(instance_id, TaskStatus.NONE)
        if status not in ServiceStatus.SERVING:
            self.set_service_status(instance_id, ServiceStatus.UNKNOWN,
                                    "status reset by request; waiting for the guest")


def _in_thread(fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
    """``fn(*args)`` started in a thread of its own (with this thread's context:
    the request id); its Future."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(contextvars.copy_context().run, fn, *args)
    finally:
        pool.shutdown(wait=False)


def adopt_claims(db: Database, instance_id: str | None = None) -> int:
    """Take the API's newest task claim as the task (the taskmanager alone writes
    ``task_status``): one instance's when its flow starts, every pending one in the
    reconciler (a claim whose cast was lost). Rows that took a claim."""
    cond = [models.Instance.task_seq < models.Instance.claim_seq]
    if instance_id is not None:
        cond.append(models.Instance.id == instance_id)
    with db.session() as s:
        res: Any = s.execute(update(models.Instance).where(*cond).values(
            task_status=models.Instance.claimed_task,
            task_seq=models.Instance.claim_seq,
            task_started_at=models.Instance.claimed_at),
            execution_options={"synchronize_session": False})
    return res.rowcount


def server_of(inst: models.Instance) -> str:
    if not inst.server_id:
        raise FlowError(None, "instance %s has no server" % inst.id)
    return inst.server_id


def volume_of(inst: models.Instance) -> str:
    if not inst.volume_id:
        raise FlowError(None, "instance %s has no volume" % inst.id)
    return inst.volume_id


def new_root_password() -> str:
    return secrets.token_urlsafe(18)


def _flavor_tuple(flavor: dict[str, Any]) -> compute_base.Flavor:
    return compute_base.Flavor(id=flavor["id"], name=flavor["name"], ram=flavor["ram"],
                  vcpus=flavor["vcpus"], disk=flavor["disk"])


def _msg(e: BaseException) -> str:
    return getattr(e, "message", None) or str(e)

