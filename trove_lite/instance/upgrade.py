"""Requesting a datastore-version upgrade (``PATCH /instances/{id}``).

Everything is checked before the task changes, so a refused request changes
nothing: the target version (id or name, within the instance's datastore) must
exist, be active and be newer; the instance must be ACTIVE with no task; the
attached configuration group's values must be valid under the new version's
own rules (a value the new server would refuse at start is a 400 now, not a
failed upgrade later). Then the task becomes UPGRADING and the taskmanager runs
the flow (taskmanager/upgrade_flows.py).

Replication sets. A replica may be upgraded alone: a replica on a newer version
than its source is the direction MariaDB supports. A source with replicas is
never upgraded alone (its replicas would then replicate from a newer server,
which MariaDB does not support); RDS for MySQL refuses that request until the
user has upgraded every replica. We run those steps for the user instead, as
issue 14 asks: the request on the source starts the set procedure (replicas
first, one switchover, then the old source), so the one call the user makes
cannot leave the set in the unsupported direction, and replicas the user already
upgraded are skipped. The whole set is checked before anything changes: every
replica ACTIVE with no task, none on a version newer than the target, and each
replica's own configuration group valid under the new version's rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from trove_lite import catalog
from trove_lite.configuration import rules as rules_mod
from trove_lite.configuration import service as configuration_service
from trove_lite.db import models
from trove_lite.exceptions import BadRequest
from trove_lite.status import TaskStatus

if TYPE_CHECKING:
    from trove_lite.instance.service import InstanceService
    from trove_lite.rpc.context import Context


def version_key(text: object) -> tuple[int, ...] | None:
    """'10.11' -> (10, 11); None if it is not a dotted number (pure)."""
    try:
        return tuple(int(p) for p in str(text).split("."))
    except ValueError:
        return None


def refuse_upgrade(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why the instance on version ``old`` cannot move to ``new`` (None if it can).

    ``old``/``new``: dicts with datastore_id, name, version, active (pure).
    """
    if new["datastore_id"] != old["datastore_id"]:
        return ("datastore version %s belongs to another datastore; an upgrade stays "
                "within the instance's datastore" % new["name"])
    if not new["active"]:
        return "datastore version %s is not active" % new["name"]
    a, b = version_key(old["version"]), version_key(new["version"])
    if a is None or b is None:
        return "versions %s and %s cannot be compared" % (old["version"], new["version"])
    if b == a:
        return "the instance already runs version %s" % old["name"]
    if b < a:
        return ("version %s is older than %s: downgrades are not supported"
                % (new["name"], old["name"]))
    return None


def refuse_set_upgrade(target: dict[str, Any],
                       replicas: Sequence[dict[str, Any]]) -> str | None:
    """Why a source's set cannot be upgraded to ``target`` (None if it can).

    ``target``: dict with name and version; ``replicas``: dicts with id, status,
    task_status, version, name (pure).
    """
    t = version_key(target["version"])
    for r in replicas:
        if r["task_status"] != TaskStatus.NONE or r["status"] != "ACTIVE":
            return ("replica %s of this source is %s: a replication set is upgraded "
                    "only when every member is ACTIVE" % (r["id"], r["status"]))
        v = version_key(r["version"])
        if v is None or t is None or v > t:
            return ("replica %s runs version %s, newer than %s: a source may not be "
                    "upgraded to a version older than its replicas"
                    % (r["id"], r["name"], target["name"]))
    return None


def _replicas(service: InstanceService, s: Session, source_id: str) -> list[dict[str, Any]]:
    """The source's replicas as refuse_set_upgrade wants them, plus their groups."""
    rows = s.execute(select(models.Instance).where(
        models.Instance.slave_of_id == source_id,
        models.Instance.deleted.is_(False)).order_by(models.Instance.id)).scalars().all()
    out = []
    for snap in service._snapshots(s, rows):
        v = snap.version
        out.append({"id": snap.instance.id, "status": snap.status,
                    "task_status": snap.instance.task,
                    "version": v.version or v.name, "name": v.name,
                    "configuration_id": snap.instance.configuration_id})
    return out


def _as_dict(v: models.DatastoreVersion) -> dict[str, Any]:
    return {"id": v.id, "datastore_id": v.datastore_id, "name": v.name,
            "version": v.version or v.name, "active": bool(v.active)}


def find_target(s: Session, datastore_id: str, ref: str) -> models.DatastoreVersion:
    """The version ``ref`` names: an id (any datastore, refused later if another
    one) or a name within the instance's datastore."""
    row = s.get(models.DatastoreVersion, ref)
    if row is None:
        row = s.execute(select(models.DatastoreVersion).where(
            models.DatastoreVersion.datastore_id == datastore_id,
            models.DatastoreVersion.name == ref)).scalars().first()
    if row is None:
        raise catalog.DatastoreVersionNotFound(id=ref)
    return row


def check_configuration(s: Session, configuration_id: str | None,
                        new_version_id: str) -> None:
    """The attached group's values must pass the new version's rules (400 if not)."""
    if not configuration_id:
        return
    values = configuration_service.load_values(s, configuration_id)
    rules = configuration_service.load_rules(s, new_version_id)
    rules_mod.validate_values(rules, values)


def request_upgrade(service: InstanceService, ctx: Context, tenant_id: str,
                    instance_id: str, ref: object) -> dict[str, Any]:
    """Check, set the UPGRADING task, cast. ``service`` is the InstanceService."""
    if not isinstance(ref, str) or not ref.strip():
        raise BadRequest(reason="instance.datastore_version must name a datastore version")
    with service.db.session() as s:
        inst = service._load(s, tenant_id, instance_id)
        old = _as_dict(catalog.get_version_by_id(s, inst.datastore_version_id))
        new = _as_dict(find_target(s, old["datastore_id"], ref))
        reason = refuse_upgrade(old, new)
        if reason:
            raise BadRequest(reason=reason)
        check_configuration(s, inst.configuration_id, new["id"])
        replicas = _replicas(service, s, inst.id)
        reason = refuse_set_upgrade(new, replicas)
        if reason:
            raise BadRequest(reason=reason)
        for r in replicas:
            check_configuration(s, r["configuration_id"], new["id"])
    service._start_task(tenant_id, instance_id, "upgrade", TaskStatus.UPGRADING,
                        service._refuse_action)
    service._cast("upgrade", ctx, instance_id, datastore_version_id=new["id"])
    return new
