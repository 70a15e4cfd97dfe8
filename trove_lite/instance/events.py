"""Instance events: what happened to an instance, for its owner to read.

``record(db, instance_id, kind, detail)`` is the one call the flows make (one
line per place). Kinds: create, delete, restart, resize, backup, configuration,
upgrade, promote, eject, detach, failover, and fault (any failure a flow records
as the instance's fault). It never raises: an event that cannot be written is logged and
the flow goes on. The tenant is read from the instance; the request id is the
one of the RPC message the current thread is handling (bound by the RPC
servers' serializer, rpc/transport.py), or None for work nobody requested
(reconcile, automatic failover).

``GET /v1.0/{tenant}/instances/{id}/events`` lists them newest first, paged
with ``limit``/``marker`` (the marker is the last event id of a page).
"""

import logging
from typing import Sequence

from sqlalchemy import select

from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.exceptions import BadRequest
from trove_lite.rpc.context import current_request_id

LOG = logging.getLogger(__name__)

DETAIL_MAX = 1024


def record(db: Database, instance_id: str, kind: str, detail: str = "",
           request_id: str | None = None) -> None:
    """Write one event of ``instance_id`` (never raises)."""
    try:
        with db.session() as s:
            tenant = s.execute(select(models.Instance.tenant_id).where(
                models.Instance.id == instance_id)).scalar_one_or_none()
            if tenant is None:
                LOG.warning("event %s of unknown instance %s not recorded", kind, instance_id)
                return
            s.add(models.InstanceEvent(
                instance_id=instance_id, tenant_id=tenant, kind=kind[:32],
                detail=(detail or "")[:DETAIL_MAX],
                request_id=request_id or current_request_id()))
    except Exception:  # an event must never break the flow that records it
        LOG.exception("could not record event %s of instance %s", kind, instance_id)


def list_events(db: Database, tenant_id: str, instance_id: str, limit: int,
                marker: str | None) -> tuple[Sequence[models.InstanceEvent], bool]:
    """(events newest first, whether more follow) of one tenant's instance."""
    q = select(models.InstanceEvent).where(
        models.InstanceEvent.tenant_id == tenant_id,
        models.InstanceEvent.instance_id == instance_id)
    if marker is not None:
        try:
            q = q.where(models.InstanceEvent.id < int(marker))
        except ValueError:
            raise BadRequest(reason="marker must be an event id, got %r" % marker) from None
    with db.session() as s:
        rows = s.execute(q.order_by(models.InstanceEvent.id.desc())
                         .limit(limit + 1)).scalars().all()
        s.expunge_all()
    return rows[:limit], len(rows) > limit


def view(row: models.InstanceEvent) -> dict:
    return {"id": str(row.id), "instance_id": row.instance_id,
            "time": row.created.strftime("%Y-%m-%dT%H:%M:%S"),
            "kind": row.kind, "detail": row.detail or "", "request_id": row.request_id}
