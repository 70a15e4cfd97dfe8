"""Per-tenant quotas: instances, volumes (GB), backups and RAM (MB).

Limits: ``[quota] max_<resource>_per_tenant`` defaults, overridden per tenant
by rows in ``quotas`` (``-1`` means unlimited). Usage: one row per (tenant,
resource) in ``quota_usages``; ``in_use`` counts what exists, ``reserved`` is
always 0 because a reservation is taken and committed in the SAME transaction
that writes the resource (the instance row, the new volume size), so there is
nothing to expire or roll back.

Atomicity: :meth:`QuotaEngine.reserve` first locks the tenant's ``instances``
usage row, which serves as the tenant's mutex (``SELECT ... FOR UPDATE`` on
MariaDB; on SQLite every write transaction already starts with ``BEGIN
IMMEDIATE``, see db/session.py, so writers are serialised), then reads the
usage; N concurrent creates at a quota of 3 accept exactly 3, and the others
get 413 overLimit (measured on both backends, tests/functional/admin). A usage row is
created on first use, counted from the rows that already exist, so a tenant whose instances
predate quota tracking starts with the right numbers.

Release on delete is idempotent: :func:`release_instance` writes one
``reservations`` audit row per resource with an id derived from the instance
id; a second release of the same instance hits the primary key and changes
nothing. Like Trove, usage is kept while an instance is in ERROR, until it is
deleted; a resize that fails after it was accepted keeps the new usage.
"""

import logging
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from oslo_config import cfg
from sqlalchemy.orm import Session

from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.exceptions import BadRequest, QuotaExceeded

LOG = logging.getLogger(__name__)

RESOURCES = ("instances", "volumes", "backups", "ram")
UNLIMITED = -1
MUTEX_RESOURCE = "instances"
_RELEASE_NAMESPACE = uuid.UUID("5b0c6f0e-6d2a-4bb4-9a55-6b1c1d7f3a10")


class QuotaResourceUnknown(BadRequest):
    code = "quota_resource_unknown"
    message_format = "Quota resource %(resource)s is unknown; known: %(known)s."


# 413 overLimit in Trove's wording (``Quota exceeded for resources: ['instances']``)
QuotaOverLimit = QuotaExceeded


def over_limit(limits: dict[str, int], usage: dict[str, int],
               deltas: dict[str, int]) -> list[str]:
    """Pure decision: the resources ``deltas`` would push over their limit (sorted).

    ``limits``/``usage``: resource -> int; a negative limit is unlimited; a
    negative or zero delta never exceeds (shrinking is always allowed).
    """
    return sorted(r for r, d in deltas.items()
                  if d > 0 and limits[r] >= 0 and usage.get(r, 0) + d > limits[r])


def validate_limits(values: Any) -> dict[str, int]:
    """``{"instances": 5, ...}`` from a PUT body -> {resource: int}; 400 on anything else."""
    if not isinstance(values, dict) or not values:
        raise BadRequest(reason="quotas must be an object of resource: limit")
    out = {}
    for resource, limit in values.items():
        if resource not in RESOURCES:
            raise QuotaResourceUnknown(resource=resource, known=", ".join(RESOURCES))
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < UNLIMITED:
            raise BadRequest(reason="quota of %s must be an integer >= -1, got %r"
                                    % (resource, limit))
        out[resource] = limit
    return out


class QuotaEngine:
    """Quota checks for one control plane. Methods taking ``s`` work inside the
    caller's session so the check and the caller's write commit together."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.defaults = {
            "instances": conf.quota.max_instances_per_tenant,
            "volumes": conf.quota.max_volumes_per_tenant,
            "backups": conf.quota.max_backups_per_tenant,
            "ram": conf.quota.max_ram_per_tenant,
        }

    # -- reads ------------------------------------------------------------------
    def limits(self, s: Session, tenant_id: str) -> dict[str, int]:
        """resource -> limit for the tenant (overrides over defaults)."""
        limits = dict(self.defaults)
        for row in s.execute(select(models.Quota).where(
                models.Quota.tenant_id == tenant_id)).scalars():
            if row.resource in limits:
                limits[row.resource] = row.hard_limit
        return limits

    def usage(self, s: Session, tenant_id: str,
              lock: bool = False) -> dict[str, models.QuotaUsage]:
        """resource -> QuotaUsage row, created (counted from existing rows) if missing."""
        rows = self._usage_rows(s, tenant_id, lock=False)
        missing = [r for r in RESOURCES if r not in rows]
        if missing:
            self._create_usage_rows(s, tenant_id, missing)
        if missing or lock:
            rows = self._usage_rows(s, tenant_id, lock)
        return rows

    @staticmethod
    def tracked(s: Session, tenant_id: str) -> bool:
        """Has the tenant any usage rows yet?"""
        return s.execute(select(models.QuotaUsage.id).where(
            models.QuotaUsage.tenant_id == tenant_id).limit(1)).first() is not None

    @staticmethod
    def _usage_rows(s: Session, tenant_id: str, lock: bool) -> dict[str, models.QuotaUsage]:
        q = select(models.QuotaUsage).where(models.QuotaUsage.tenant_id == tenant_id)
        if lock:
            # One row is the tenant's mutex: every writer of usage locks it
            # first, by its unique key, so no two writers ever lock rows in
            # different orders (locking all rows with one FOR UPDATE deadlocked
            # on MariaDB when two plans -- index range vs. table scan + sort --
            # visited them in different orders).
            s.execute(select(models.QuotaUsage.id).where(
                models.QuotaUsage.tenant_id == tenant_id,
                models.QuotaUsage.resource == MUTEX_RESOURCE).with_for_update())
            # rows read before the lock must show the values committed since
            q = q.execution_options(populate_existing=True)
        return {row.resource: row for row in s.execute(q).scalars()}

    @staticmethod
    def _create_usage_rows(s: Session, tenant_id: str, resources: list[str]) -> None:
        """Insert the missing rows; a concurrent creator may win, which is fine.

        SQLite: inside the caller's transaction (it holds the only write lock;
        another connection would wait for it). MariaDB: each row in its own
        short transaction on another connection, committed before the caller
        locks the rows -- inserting inside the caller's transaction would leave
        the losers of a duplicate-key race holding shared locks on the row and
        deadlocking on the FOR UPDATE that follows.
        """
        engine = s.get_bind()
        if engine.dialect.name == "sqlite":
            counted = _count_existing(s, tenant_id)
            for resource in resources:
                try:
                    with s.begin_nested():
                        s.add(models.QuotaUsage(tenant_id=tenant_id, resource=resource,
                                                in_use=counted[resource], reserved=0))
                except IntegrityError:
                    pass
            return
        with Session(bind=engine) as other:
            counted = _count_existing(other, tenant_id)
            other.rollback()
            for resource in resources:
                try:
                    with other.begin():
                        other.add(models.QuotaUsage(tenant_id=tenant_id, resource=resource,
                                                    in_use=counted[resource], reserved=0))
                except IntegrityError:
                    LOG.debug("usage row %s/%s created concurrently", tenant_id, resource)

    def show(self, s: Session, tenant_id: str) -> list[dict]:
        """[{resource, in_use, reserved, limit}] as Trove's mgmt quota API lists them."""
        limits = self.limits(s, tenant_id)
        usage = self.usage(s, tenant_id)
        return [{"resource": r, "in_use": usage[r].in_use, "reserved": usage[r].reserved,
                 "limit": limits[r]} for r in RESOURCES]

    # -- writes -----------------------------------------------------------------
    def reserve(self, s: Session, tenant_id: str, deltas: dict[str, int]) -> None:
        """Add ``deltas`` (resource -> int, may be negative) to the tenant's usage,
        or raise QuotaOverLimit (413) changing nothing. Locks the usage rows
        until the caller's transaction ends."""
        deltas = {r: int(d) for r, d in deltas.items() if d}
        unknown = set(deltas) - set(RESOURCES)
        if unknown:
            raise QuotaResourceUnknown(resource=", ".join(sorted(unknown)),
                                       known=", ".join(RESOURCES))
        if not deltas:
            return
        rows = self.usage(s, tenant_id, lock=True)
        limits = self.limits(s, tenant_id)
        refused = over_limit(limits, {r: rows[r].in_use for r in RESOURCES}, deltas)
        if refused:
            LOG.info("tenant %s over quota for %s: usage %s, limits %s, asked %s",
                     tenant_id, refused, {r: rows[r].in_use for r in refused},
                     {r: limits[r] for r in refused}, deltas)
            raise QuotaOverLimit(resources=refused)
        for resource, delta in deltas.items():
            rows[resource].in_use = max(0, rows[resource].in_use + delta)

    def set_limits(self, s: Session, tenant_id: str, values: Any) -> dict[str, int]:
        """Store per-tenant limits (validated by :func:`validate_limits`)."""
        existing = {row.resource: row for row in s.execute(select(models.Quota).where(
            models.Quota.tenant_id == tenant_id)).scalars()}
        for resource, limit in values.items():
            if resource in existing:
                existing[resource].hard_limit = limit
            else:
                s.add(models.Quota(tenant_id=tenant_id, resource=resource, hard_limit=limit))
        return dict(values)


def instance_deltas(volume_size: int | None, flavor_ram: int, sign: int = 1) -> dict[str, int]:
    return {"instances": sign, "volumes": sign * (volume_size or 0),
            "ram": sign * (flavor_ram or 0)}


def release_instance(db: Database, conf: cfg.ConfigOpts, instance_id: str) -> bool:
    """Give back a deleted instance's quota (instances, volume GB, RAM), once.

    Call after the instance is marked deleted. Idempotent: a second call for the
    same instance finds its release records and changes nothing.
    """
    engine = QuotaEngine(conf)
    try:
        with db.session() as s:
            inst = s.get(models.Instance, instance_id)
            if inst is None:
                return False
            flavor = s.get(models.Flavor, inst.flavor_id)
            deltas = instance_deltas(inst.volume_size, flavor.ram if flavor else 0, -1)
            for resource, delta in deltas.items():
                s.add(models.Reservation(
                    id=str(uuid.uuid5(_RELEASE_NAMESPACE, "%s:%s" % (instance_id, resource))),
                    tenant_id=inst.tenant_id, resource=resource, delta=delta,
                    status="Released"))
            s.flush()  # a second release stops here, on the primary key
            if not engine.tracked(s, inst.tenant_id):
                # first usage rows are counted from live rows, which already
                # exclude this deleted instance: nothing to subtract
                engine.usage(s, inst.tenant_id)
            else:
                engine.reserve(s, inst.tenant_id, deltas)
    except IntegrityError:
        LOG.info("quota of instance %s was already released", instance_id)
        return False
    LOG.info("released quota of instance %s: %s", instance_id, deltas)
    return True


def _count_existing(s: Session, tenant_id: str) -> dict[str, int]:
    """Usage counted from the rows that exist (for a tenant's first usage rows)."""
    live = (models.Instance.tenant_id == tenant_id, models.Instance.deleted.is_(False))
    instances, volumes = s.execute(select(
        func.count(models.Instance.id), func.coalesce(func.sum(models.Instance.volume_size), 0)
    ).where(*live)).one()
    ram = s.execute(select(func.coalesce(func.sum(models.Flavor.ram), 0)).select_from(
        models.Instance).join(models.Flavor, models.Flavor.id == models.Instance.flavor_id)
        .where(*live)).scalar_one()
    backups = s.execute(select(func.count(models.Backup.id)).where(
        models.Backup.tenant_id == tenant_id, models.Backup.deleted.is_(False))).scalar_one()
    return {"instances": int(instances), "volumes": int(volumes or 0), "ram": int(ram),
            "backups": int(backups)}
