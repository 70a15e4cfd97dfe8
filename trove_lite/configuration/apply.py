"""Per-instance apply state of configuration groups, and the taskmanager's apply.

The API never waits on a guest for a change: PATCH/PUT write the group's values,
mark every attached instance ``pending`` (``mark_pending``) and cast
``update_configuration`` to the taskmanager, which asks the guest
(``Applier.apply``) and records ``applied`` or ``failed`` with the reason. An
instance left ``pending`` or ``failed`` is applied again by the taskmanager's
reconcile pass once its guest sends a heartbeat newer than the last attempt
(``Applier.retry_due``), so a change made while a guest was down lands when it
comes back.

``applied`` keeps the values last applied, so the next plan also sets back the
dynamic values a PUT dropped. An instance without a row got its group with its
prepare (or attach) and shows ``applied``.
"""

import json
import logging

from sqlalchemy import select

from trove_lite.db import models
from trove_lite.instance import events
from trove_lite.exceptions import TroveLiteError

LOG = logging.getLogger(__name__)

APPLIED, PENDING, FAILED = "applied", "pending", "failed"


def view(row):
    """The ``apply`` block shown in an instance's ``configuration``."""
    if row is None:
        return {"state": APPLIED, "reason": None}
    return {"state": row.state, "reason": row.reason}


def blocks(s, instances):
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


def record(s, instance_id, configuration_id, state, reason=None, applied=None):
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


def mark_pending(s, instance_id, configuration_id, old_values):
    """A change is recorded for the instance; ``old_values``: the group's values before
    it (what the server runs, unless an earlier apply is still outstanding)."""
    row = s.get(models.ConfigurationApply, instance_id)
    applied = old_values if row is None or row.applied is None else None
    record(s, instance_id, configuration_id, PENDING, "waiting for the taskmanager",
           applied)


def forget(s, instance_id):
    row = s.get(models.ConfigurationApply, instance_id)
    if row is not None:
        s.delete(row)


class Applier:
    """The taskmanager's side: push an instance's group to its guest, record the outcome."""

    def __init__(self, db, guest_factory):
        self.db = db
        self.guest_factory = guest_factory

    def apply(self, instance_id):
        from trove_lite.configuration import service   # service imports this module
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            if inst is None or inst.deleted or not inst.configuration_id:
                return
            configuration_id = inst.configuration_id
            row = s.get(models.ConfigurationApply, instance_id)
            old = json.loads(row.applied) if row is not None and row.applied else {}
            rules = service.load_rules(s, inst.datastore_version_id)
            values = service.load_values(s, configuration_id)
            st = s.execute(select(models.ServiceStatus.status).where(
                models.ServiceStatus.instance_id == instance_id)).scalar()
            waiting = service.refuse_apply(inst.task_status, st)
        if waiting:
            with self.db.session() as s:
                record(s, instance_id, configuration_id, PENDING, "waiting: " + waiting)
            LOG.info("instance %s: configuration %s waits (%s)", instance_id,
                     configuration_id, waiting)
            return
        dynamic, options = service.apply_plan(rules, old, values)
        try:
            result = self.guest_factory(instance_id).apply_configuration(values, dynamic,
                                                                         options)
        except TroveLiteError as e:
            LOG.warning("instance %s: configuration %s not applied: %s", instance_id,
                        configuration_id, e.message)
            with self.db.session() as s:
                record(s, instance_id, configuration_id, FAILED, e.message)
            events.record(self.db, instance_id, "fault", "Configuration %s not applied: %s"
                          % (configuration_id, e.message))
            return
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            current = (service.load_values(s, configuration_id)
                       if inst is not None and inst.configuration_id == configuration_id
                       else None)
            # a change that came in meanwhile stays pending (its cast or a retry follows)
            state = APPLIED if current == values else PENDING
            record(s, instance_id, configuration_id, state,
                   None if state == APPLIED else "a newer change is waiting", values)
        LOG.info("instance %s: configuration %s applied (restart needed: %s)", instance_id,
                 configuration_id, result.get("restart_required"))
        events.record(self.db, instance_id, "configuration", "configuration %s %s%s" % (
            configuration_id, state, " (restart required)" if result.get("restart_required")
            else ""))

    def retry_due(self):
        """Ids of instances whose apply is pending or failed, whose guest sent a
        heartbeat after the last attempt, and which can take a change now."""
        from trove_lite.configuration import service
        with self.db.session() as s:
            return [r.instance_id for r in s.execute(
                select(models.ConfigurationApply.instance_id, models.Instance.task_status,
                       models.ServiceStatus.status)
                .join(models.ServiceStatus, models.ServiceStatus.instance_id
                      == models.ConfigurationApply.instance_id)
                .join(models.Instance,
                      models.Instance.id == models.ConfigurationApply.instance_id)
                .where(models.ConfigurationApply.state.in_([PENDING, FAILED]),
                       models.Instance.deleted.is_(False),
                       models.ServiceStatus.updated_at > models.ConfigurationApply.updated_at)
            ) if service.refuse_apply(r.task_status, r.status) is None]
