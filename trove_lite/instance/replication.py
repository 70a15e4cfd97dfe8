"""Replication sets in the control plane: options, the API's checks, replica creation.

A set is a source instance and the instances whose ``slave_of_id`` names it. The
API records intent here (replica rows, the PROMOTING/EJECTING/DETACHING task)
and casts; taskmanager/replication_flows.py does the work through the guests.
Decisions (may this source take replicas, may this set eject its source) are
pure functions of a snapshot.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.orm import Session

from trove_lite import catalog, datastores, quota
from trove_lite.db import models
from trove_lite.exceptions import BadRequest
from trove_lite.status import ServiceStatus, TaskStatus

if TYPE_CHECKING:
    from trove_lite.instance.service import CreateRequest, InstanceService, InstanceSnapshot
    from trove_lite.rpc.context import Context

LOG = logging.getLogger(__name__)

REPLICATION_OPTS = [
    cfg.StrOpt("strategy", default="gtid", choices=["gtid", "binlog"],
               help="Replication strategy of datastore versions not named in "
                    "version_strategies: gtid (MASTER_USE_GTID=slave_pos) or binlog "
                    "(file/position, MASTER_USE_GTID=no); Trove's replication_strategy."),
    cfg.DictOpt("version_strategies", default={},
                help="Strategy per datastore version name, e.g. 10.5:binlog,10.11:gtid."),
    cfg.IntOpt("switchover_timeout", default=30, min=1,
               help="Seconds a promote waits for the replicas to apply everything the "
                    "old source wrote before it gives up and reopens the old source."),
    cfg.IntOpt("source_heartbeat_expiry", default=90, min=1,
               help="Eject is refused while the source reported within this many "
                    "seconds (Trove's agent_heartbeat_expiry)."),
    cfg.StrOpt("durability", default="semisync", choices=["semisync", "async"],
               help="Durability of a set that has a replica: semisync (a commit is "
                    "acknowledged once one replica has it: MariaDB's semi-synchronous "
                    "replication, wait point AFTER_SYNC) or async."),
    cfg.IntOpt("seed_backup_max_age", default=86400, min=0,
               help="A new replica is seeded from the set's latest stored backup (of "
                    "the source or of a replica) taken within this many seconds, plus "
                    "catch-up from the source's binlog, instead of a hot backup streamed "
                    "from the source's disk; 0: always stream from the source."),
    cfg.FloatOpt("fence_check_interval", default=1.0, min=0.2,
                 help="Seconds between the taskmanager's looks for replication sources "
                      "whose agent came back holding writes: the set's current source "
                      "is opened, an ejected one fenced (kept read-only)."),
    cfg.IntOpt("semisync_timeout_ms", default=10000, min=1,
               help="How long a semi-sync source waits for a replica's ack before it "
                    "falls back to async (until a replica catches up again)."),
]

MAX_REPLICAS = 10


class Links(Protocol):
    """What ``view`` needs of the API's link maker (api/views.py)."""

    def links(self, path: str) -> list[dict]: ...


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("replication", list(REPLICATION_OPTS))]


def register(conf: cfg.ConfigOpts) -> None:
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)


def strategy_for(conf: cfg.ConfigOpts, version_name: str,
                 manager: str | None = None) -> str:
    """The strategy of a datastore version; a datastore that offers only some
    strategies (MySQL: gtid) gets its first when the configured one is not among
    them."""
    register(conf)
    strategy = conf.replication.version_strategies.get(version_name,
                                                       conf.replication.strategy)
    if strategy not in ("gtid", "binlog"):
        raise ValueError("unknown replication strategy %r for version %s"
                         % (strategy, version_name))
    offered = datastores.get(manager).replication_strategies
    if offered and strategy not in offered:
        return offered[0]
    return strategy


class ReplicationRefused(BadRequest):
    code = "replication_refused"
    message_format = "%(reason)s"


# -- pure decisions --------------------------------------------------------------
def refuse_as_source(source_task: str, source_service: str | None,
                     source_slave_of: str | None) -> str | None:
    """Why an instance may not take a new replica now (None when it may)."""
    if source_slave_of:
        return "it is itself a replica (of %s); a replica of a replica is not " \
               "supported" % source_slave_of
    if source_task != TaskStatus.NONE or source_service not in ServiceStatus.SERVING:
        return "it is not ACTIVE"
    return None


def refuse_eject(source_updated_at: datetime.datetime | None, now: datetime.datetime,
                 expiry: float, source_service: str | None) -> str | None:
    """Why a set may not eject its source (None when the source looks dead)."""
    if source_service in ServiceStatus.SERVING and source_updated_at is not None:
        age = (now - source_updated_at).total_seconds()
        if age < expiry:
            return ("the replication source is healthy (it reported %.0f s ago; eject "
                    "needs %d s of silence): use promote_to_replica_source" % (age, expiry))
    return None


def snapshot_gtid(meta: dict) -> str | None:
    """The GTID position a stored backup's data is consistent with (its row's
    ``meta``): what a replica's ``--slave-info`` printed, else the backup's own
    binlog position (pure; None if the backup recorded neither)."""
    inner = meta.get("metadata") or {}
    return ((inner.get("slave_info") or {}).get("gtid")
            or (meta.get("binlog") or {}).get("gtid") or None)


def backup_label(meta: dict) -> dict | None:
    """The ``replication`` field of a backup of a set member (None otherwise):
    the member's role and set source when it was taken, and the GTID position
    a replica seeded from it starts at."""
    label = (meta.get("metadata") or {}).get("replication")
    if not label:
        return None
    return dict(label, gtid=snapshot_gtid(meta))


def replication_block(service_row: models.ServiceStatus | None) -> dict | None:
    """The stored guest report, or None."""
    raw = getattr(service_row, "replication", None) if service_row else None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


# -- reads ------------------------------------------------------------------------
def replicas_of(s: Session, source_ids: Iterable[str]) -> dict[str, list[str]]:
    """{source id: [replica ids]} of live instances."""
    if not source_ids:
        return {}
    out: dict[str, list[str]] = {}
    for rid, src in s.execute(select(models.Instance.id, models.Instance.slave_of_id).where(
            models.Instance.slave_of_id.in_(list(source_ids)),
            models.Instance.deleted.is_(False)).order_by(models.Instance.id)):
        if src is not None:   # never: the query selects replicas of source_ids
            out.setdefault(src, []).append(rid)
    return out


def find_owned(s: Session, tenant_id: str, ref: str,
               not_found: Exception) -> models.Instance:
    """A tenant's live instance by id, else by unique name."""
    row = s.execute(select(models.Instance).where(
        models.Instance.id == ref, models.Instance.tenant_id == tenant_id,
        models.Instance.deleted.is_(False))).scalars().first()
    if row is not None:
        return row
    rows = s.execute(select(models.Instance).where(
        models.Instance.name == ref, models.Instance.tenant_id == tenant_id,
        models.Instance.deleted.is_(False))).scalars().all()
    if len(rows) > 1:
        raise BadRequest(reason="more than one instance is named %s; give its id" % ref)
    if not rows:
        raise not_found
    return rows[0]


def _service(s: Session, instance_id: str) -> models.ServiceStatus | None:
    return s.execute(select(models.ServiceStatus).where(
        models.ServiceStatus.instance_id == instance_id)).scalars().first()


# -- writes (API side) ----------------------------------------------------------------
def create_replicas(service: InstanceService, ctx: Context, tenant_id: str,
                    req: CreateRequest, replica_of: str,
                    replica_count: int | None) -> InstanceSnapshot:
    """Record ``replica_count`` replicas of ``replica_of`` and cast their creates.

    Same datastore version as the source (a different one asked for is refused);
    the source's flavor and volume size unless others are given;
    the source must be ACTIVE and not a replica itself. Returns the first
    replica's snapshot (Trove answers with one instance).
    """
    from trove_lite.instance import service as inst_service
    count = 1 if replica_count is None else replica_count
    if isinstance(count, bool) or not 1 <= int(count) <= MAX_REPLICAS:
        raise BadRequest(reason="replica_count must be 1-%d" % MAX_REPLICAS)
    if req.backup_ref:
        raise BadRequest(reason="a replica is seeded from its source; restorePoint "
                                "cannot be given with replica_of")
    if req.databases or req.users:
        raise BadRequest(reason="a replica has its source's databases and users; "
                                "they cannot be given with replica_of")
    inst_service.validate_name(req.name)
    now = models.utcnow()
    ids = []
    with service.db.session() as s:
        source = find_owned(s, tenant_id, replica_of,
                            inst_service.InstanceNotFound(id=replica_of))
        st = _service(s, source.id)
        reason = refuse_as_source(source.task, st.status if st else None,
                                  source.slave_of_id)
        if reason:
            raise ReplicationRefused(reason="Instance %s cannot be a replication source: "
                                            "%s." % (source.id, reason))
        # no size given: the source's (its data must fit)
        size = inst_service.validate_volume_size(
            req.volume_size if req.volume_size is not None else source.volume_size,
            service.conf.api.max_volume_size)
        version = catalog.get_version_by_id(s, source.datastore_version_id)
        if not datastores.get(version.manager).replication_strategies:
            raise BadRequest(reason="replication of %s instances is not supported yet"
                                    % version.manager)
        if req.datastore_version and req.datastore_version not in (version.id, version.name):
            raise BadRequest(reason="a replica runs its source's datastore version (%s), "
                                    "not %s" % (version.name, req.datastore_version))
        if req.datastore and req.datastore not in (version.datastore.id,
                                                   version.datastore.name):
            raise BadRequest(reason="a replica runs its source's datastore (%s)"
                                    % version.datastore.name)
        flavor = catalog.find_flavor(s, inst_service.flavor_id_from_ref(req.flavor_ref)
                                     if req.flavor_ref else source.flavor_id)
        catalog.check_flavor_allowed(s, flavor, version.datastore, version)
        service.quotas.reserve(s, tenant_id, {k: v * int(count) for k, v in
                                              quota.instance_deltas(size, flavor.ram).items()})
        for i in range(int(count)):
            inst = models.Instance(
                id=models.new_id(), name=req.name if i == 0 else "%s-%d" % (req.name, i + 1),
                tenant_id=tenant_id, flavor_id=flavor.id,
                datastore_version_id=version.id, volume_size=size,
                volume_type=req.volume_type, region_id=service.conf.region,
                claimed_task=TaskStatus.BUILDING, claimed_at=now, claim_seq=1,
                slave_of_id=source.id, access=json.dumps(req.access)
                if req.access is not None else None, created=now, updated=now)
            s.add(inst)
            ids.append(inst.id)
        source_id = source.id
    LOG.info("replicas %s of %s recorded for tenant %s", ", ".join(ids), source_id,
             tenant_id)
    for rid in ids:
        service._cast("create_instance", ctx, rid, databases=[], users=[], backup_id=None,
                      root_password=None)
    return service.get(tenant_id, ids[0])


def start_promote(service: InstanceService, ctx: Context, tenant_id: str,
                  instance_id: str) -> None:
    def refuse(snap: InstanceSnapshot) -> str | None:
        if not snap.instance.slave_of_id:
            return "it is not a replica"
        return service._refuse_action(snap)
    service._start_task(tenant_id, instance_id, "promote_to_replica_source",
                        TaskStatus.PROMOTING, _bad_request(refuse))
    service._cast("promote_to_replica_source", ctx, instance_id)


def start_eject(service: InstanceService, ctx: Context, tenant_id: str,
                instance_id: str) -> None:
    with service.db.session() as s:
        inst = service._load(s, tenant_id, instance_id)
        if not inst.slave_of_id:
            raise BadRequest(reason="Instance %s is not a replica: only a replica can "
                                    "eject its source." % instance_id)
        st = _service(s, inst.slave_of_id)
        reason = refuse_eject(st.updated_at if st else None, models.utcnow(),
                              service.conf.replication.source_heartbeat_expiry,
                              st.status if st else None)
        if reason:
            raise ReplicationRefused(reason="Cannot eject the source of %s: %s."
                                            % (instance_id, reason))
    service._start_task(tenant_id, instance_id, "eject_replica_source", TaskStatus.EJECTING,
                        _bad_request(lambda snap: None if snap.instance.task
                                     == TaskStatus.NONE else "task status was %s"
                                     % snap.instance.task))
    service._cast("eject_replica_source", ctx, instance_id)


def start_detach(service: InstanceService, ctx: Context, tenant_id: str,
                 instance_id: str) -> None:
    """Detach a replica, or release a fenced former source to stand alone."""
    def refuse(snap: InstanceSnapshot) -> str | None:
        if not snap.instance.slave_of_id and not snap.instance.fenced_by:
            return "it is not a replica"
        return service._refuse_action(snap)
    service._start_task(tenant_id, instance_id, "detach_replica", TaskStatus.DETACHING,
                        _bad_request(refuse))
    service._cast("detach_replica", ctx, instance_id)


def refuse_delete_source(service: InstanceService, tenant_id: str, instance_id: str) -> None:
    """A source with replicas is not deleted (400), as in Trove."""
    with service.db.session() as s:
        replicas = replicas_of(s, [instance_id]).get(instance_id)
    if replicas:
        raise ReplicationRefused(reason="Instance %s is the replication source of %s: "
                                        "promote or detach its replicas first."
                                        % (instance_id, ", ".join(replicas)))


def _bad_request(refuse: Callable[[InstanceSnapshot], str | None]
                 ) -> Callable[[InstanceSnapshot], str | None]:
    """A _start_task refusal whose 'not a replica' answer is a 400, not a 409."""
    def check(snap: InstanceSnapshot) -> str | None:
        reason = refuse(snap)
        if reason == "it is not a replica":
            raise BadRequest(reason="Instance %s is not a replica." % snap.instance.id)
        return reason
    return check


def view(snap: InstanceSnapshot, links: Links) -> dict[str, Any]:
    """replica_of / replicas (Trove's shapes) and the ``replication`` block."""
    body: dict[str, Any] = {}
    inst = snap.instance
    if inst.slave_of_id:
        body["replica_of"] = {"id": inst.slave_of_id,
                              "links": links.links("instances/%s" % inst.slave_of_id)}
    replicas = getattr(snap, "replicas", ())
    if replicas:
        body["replicas"] = [{"id": rid, "links": links.links("instances/%s" % rid)}
                            for rid in replicas]
    block = replication_block(snap.service)
    fenced_by = getattr(inst, "fenced_by", None)
    if fenced_by:
        # ejected: fenced as soon as its agent returns, whatever it reports now
        block = dict(block or {}, role="fenced", fenced_by=fenced_by)
    if block or inst.slave_of_id or replicas:
        block = dict(block or {})
        block.setdefault("role", "replica" if inst.slave_of_id else "source")
        block["source_id"] = inst.slave_of_id
        block["replica_ids"] = list(replicas)
        block["reported_at"] = (snap.service.updated_at.strftime("%Y-%m-%dT%H:%M:%S")
                                if snap.service and snap.service.updated_at else None)
        block.update(getattr(snap, "ha", None) or {})   # durability, term, rejoin
        body["replication"] = block
    endpoints = getattr(snap, "endpoints", None)
    if endpoints and (inst.slave_of_id or replicas):
        body["replication_endpoints"] = dict(endpoints)
    return body
