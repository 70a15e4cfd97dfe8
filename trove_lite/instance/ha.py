"""The API's side of a replication set's HA record (taskmanager/ha.py acts on it).

``durability`` (``semisync``, the default, or ``async``) is chosen per set:
``PUT``/``PATCH /instances/{id} {"instance": {"durability": "async"}}`` on any
member records it on the set and casts ``apply_durability`` (taskmanager RPC
1.10), which gives every member its semi-sync side. ``show`` puts the set's
``durability``, failover ``term`` and, on a source a failover left behind,
its ``rejoin`` state in the ``replication`` block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from trove_lite.db import models
from trove_lite.exceptions import BadRequest

if TYPE_CHECKING:
    from trove_lite.instance.service import InstanceService
    from trove_lite.rpc.context import Context

DURABILITIES = ("semisync", "async")


def set_id_of(s: Session, instance: models.Instance) -> str:
    """The set an instance belongs to: the id its endpoints carry (stable across
    promotes), else its source's id, else its own."""
    source_id = instance.slave_of_id or instance.id
    for mid in (instance.id, source_id):
        row = s.get(models.ReplicationEndpoint, mid)
        if row is not None:
            return row.set_id
    return source_id


def request_durability(service: InstanceService, ctx: Context, tenant_id: str,
                       instance_id: str, durability: str) -> None:
    if durability not in DURABILITIES:
        raise BadRequest(reason="durability must be one of %s, not %r" % (
            ", ".join(DURABILITIES), durability))
    with service.db.session() as s:
        inst = service._load(s, tenant_id, instance_id)     # 404 if not the tenant's
        source_id = inst.slave_of_id or inst.id
        set_id = set_id_of(s, inst)
        row = s.get(models.HASet, set_id)
        if row is None:
            s.add(models.HASet(set_id=set_id, term=0, durability=durability))
        else:
            row.durability = durability
    service._cast("apply_durability", ctx, source_id)


def blocks(s: Session, rows: Sequence[models.Instance], default: str) -> dict[str, dict]:
    """{instance id: {"durability", "term"[, "rejoin"]}} for the instances in a set."""
    out: dict[str, dict] = {}
    sets = {r.id: set_id_of(s, r) for r in rows}
    records = {h.set_id: h for h in s.execute(select(models.HASet).where(
        models.HASet.set_id.in_(set(sets.values())))).scalars()}
    rejoins = {j.instance_id: j for j in s.execute(select(models.HARejoin).where(
        models.HARejoin.instance_id.in_(list(sets)))).scalars()}
    for r in rows:
        record = records.get(sets[r.id])
        block = {"durability": record.durability if record else default,
                 "term": record.term if record else 0}
        rejoin = rejoins.get(r.id)
        if rejoin is not None:
            block["rejoin"] = {"state": rejoin.state, "reason": rejoin.reason,
                               "term": rejoin.term, "source_id": rejoin.source_id}
        out[r.id] = block
    return out
