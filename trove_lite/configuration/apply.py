"""Per-instance apply state of configuration groups, and the taskmanager's apply.

The API never waits on a guest for a change: PATCH/PUT write the group's values
and mark every attached instance ``pending`` (``mark_pending``); attach and
detach record the instance's group (or none) and mark it ``pending``; each casts
``update_configuration`` to the taskmanager, which asks the guest
(``Applier.apply``) and records ``applied`` or ``failed`` with the reason. An
instance left ``pending`` or ``failed`` is applied again by the taskmanager's
reconcile pass once its guest sends a heartbeat newer than the last attempt
(``Applier.retry_due``), so a change made while a guest was down lands when it
comes back.

``applied`` keeps the values last applied, so the next plan also sets back the
dynamic values a PUT dropped. An instance without a row got its group with its
prepare and shows ``applied``. A detach keeps its row (``configuration_id``
None) until the guest removed the group; the instance shows that row's state.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.instance import events
from trove_lite.exceptions import TroveLiteError

if TYPE_CHECKING:
    from trove_lite.rpc.guest import GuestAPI

LOG = logging.getLogger(__name__)

APPLIED, PENDING, FAILED = "applied", "pending", "failed"


def view(row: models.ConfigurationApply | None) -> dict:
    """The ``apply`` block shown in an instance's ``configuration``."""
    if row is None:
        return {"state": APPLIED, "reason": None}
    return {"state": row.state, "reason": row.reason}


def blocks(s: Session, instances: Sequence[models.Instance]) -> dict[str, dict]:
    """{instance id: {"name", "apply"}} of the instances that have a group."""
    ids = [i.id for i in instances if i.configuration_id]
    if not ids:
        return {}
    names = dict(s.execute(select(models.Configuration.id, models.Configuration.name).where(
        models.Configuration.id.in_({i.configuration_id for i in instances}))).all())
    rows = {r.instance_id: r for r in s.execute(select(models.ConfigurationApply).where(
        models.ConfigurationApply.instance_id.in_(ids))).scalars()}
    return {i.id: {"name": names.get(i.configuration_id), "apply": view(rows.get(i.id))}
            for i in instances if i.configuration_id}


def record(s: Session, instance_id: str, configuration_id: str | None, state: str,
           reason: str | None = None, applied: dict | None = None) -> None:
    """Write an instance's apply state (``applied``: the values now on the server)."""
    row = s.get(models.ConfigurationApply, instance_id)
    if row is None:
        row = models.ConfigurationApply(instance_id=instance_id)
        s.add(row)
    row.configuration_id = configuration_id
    row.state = state
    row.reason = reason[:1024] if reason else None
    if applied is not None:
        row.applied = json.dumps(applied)
    row.updated_at = models.utcnow()


def mark_pending(s: Session, instance_id: str, configuration_id: str | None,
                 old_values: dict, reason: str = "waiting for the taskmanager") -> None:
    """A change is recorded for the instance (``configuration_id`` None: a detach);
    ``old_values``: the group's values before it (what the server runs, unless an
    earlier apply is still outstanding)."""
    row = s.get(models.ConfigurationApply, instance_id)
    applied = old_values if row is None or row.applied is None else None
    record(s, instance_id, configuration_id, PENDING, reason, applied)


def detach_blocks(s: Session, instances: Sequence[models.Instance]) -> dict[str, dict]:
    """{instance id: {"apply"}} of instances without a group whose detach has not
    reached the server yet (pending, or failed with the reason)."""
    ids = [i.id for i in instances if not i.configuration_id]
    if not ids:
        return {}
    return {r.instance_id: {"name": None, "apply": view(r)} for r in s.execute(
        select(models.ConfigurationApply).where(
            models.ConfigurationApply.instance_id.in_(ids),
            models.ConfigurationApply.configuration_id.is_(None),
            models.ConfigurationApply.state != APPLIED)).scalars()}


def forget(s: Session, instance_id: str) -> None:
    row = s.get(models.ConfigurationApply, instance_id)
    if row is not None:
        s.delete(row)


class Applier:
    """The taskmanager's side: push an instance's group to its guest, record the outcome."""

    def __init__(self, db: Database, guest_factory: Callable[[str], GuestAPI]) -> None:
        self.db = db
        self.guest_factory = guest_factory

    def apply(self, instance_id: str) -> None:
        """Bring the instance's server to its recorded group (or to none: a detach)."""
        from trove_lite.configuration import service   # service imports this module
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            row = s.get(models.ConfigurationApply, instance_id)
            if inst is None or inst.deleted or (not inst.configuration_id and row is None):
                return
            configuration_id = inst.configuration_id
            old = json.loads(row.applied) if row is not None and row.applied else {}
            rules = service.load_rules(s, inst.datastore_version_id)
            values = service.load_values(s, configuration_id) if configuration_id else {}
            st = s.execute(select(models.ServiceStatus.status).where(
                models.ServiceStatus.instance_id == instance_id)).scalar()
            waiting = service.refuse_apply(inst.task, st)
        what = "configuration %s" % configuration_id if configuration_id else "detach"
        if waiting:
            with self.db.session() as s:
                record(s, instance_id, configuration_id, PENDING, "waiting: " + waiting)
            LOG.info("instance %s: %s waits (%s)", instance_id, what, waiting)
            return
        dynamic, options = service.apply_plan(rules, old, values)
        guest = self.guest_factory(instance_id)
        try:
            if configuration_id:
                result = guest.apply_configuration(values, dynamic, options)
            else:
                result = guest.detach_configuration(dynamic, options)
        except TroveLiteError as e:
            LOG.warning("instance %s: %s not applied: %s", instance_id, what, e.message)
            with self.db.session() as s:
                record(s, instance_id, configuration_id, FAILED, e.message)
            events.record(self.db, instance_id, "fault", "Configuration %s not applied: %s"
                          % (configuration_id, e.message))
            return
        self._applied(instance_id, configuration_id, values)
        LOG.info("instance %s: %s applied (restart needed: %s)", instance_id, what,
                 result.get("restart_required"))
        events.record(self.db, instance_id, "configuration", "%s applied%s" % (
            what, " (restart required)" if result.get("restart_required") else ""))

    def _applied(self, instance_id: str, configuration_id: str | None, values: dict) -> None:
        from trove_lite.configuration import service
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            now_id = inst.configuration_id if inst is not None else None
            if configuration_id is None and now_id is None:
                forget(s, instance_id)  # detached: nothing left to show
                return
            current = (service.load_values(s, configuration_id)
                       if configuration_id and now_id == configuration_id else None)
            # a change that came in meanwhile stays pending (its cast or a retry follows)
            state = APPLIED if current == values else PENDING
            record(s, instance_id, now_id, state,
                   None if state == APPLIED else "a newer change is waiting", values)

    def retry_due(self) -> list[str]:
        """Ids of instances whose apply is pending or failed, whose guest sent a
        heartbeat after the last attempt, and which can take a change now."""
        from trove_lite.configuration import service
        with self.db.session() as s:
            return [r.instance_id for r in s.execute(
                select(models.ConfigurationApply.instance_id, models.Instance.task,
                       models.ServiceStatus.status)
                .join(models.ServiceStatus, models.ServiceStatus.instance_id
                      == models.ConfigurationApply.instance_id)
                .join(models.Instance,
                      models.Instance.id == models.ConfigurationApply.instance_id)
                .where(models.ConfigurationApply.state.in_([PENDING, FAILED]),
                       models.Instance.deleted.is_(False),
                       models.ServiceStatus.updated_at > models.ConfigurationApply.updated_at)
            ) if service.refuse_apply(r.task, r.status) is None]
