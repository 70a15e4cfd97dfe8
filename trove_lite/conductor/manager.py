"""The conductor: the only writer of guest-reported state.

Guests cast heartbeats, backup updates and root reports with a ``sent``
timestamp. A message is applied only if it is newer than the last one applied
for the same (instance, method); older ones are dropped, so a heartbeat delayed
in the bus can never overwrite a newer status. The check and the write happen in
one transaction (row lock on MariaDB, an immediate transaction on SQLite).
"""

import datetime
import json
import logging

import oslo_messaging as messaging
from sqlalchemy import select

from trove_lite.db import models
from trove_lite.instance import events
from trove_lite.status import ServiceStatus

LOG = logging.getLogger(__name__)

FINISHED_BACKUP_STATES = frozenset(["COMPLETED", "FAILED", "DELETE_FAILED", "DELETED"])
BACKUP_FIELDS = frozenset(["status", "size", "checksum", "location", "progress", "meta",
                           "fail_reason", "backup_type"])


def should_apply(last_sent, sent):
    """Decide whether a message sent at ``sent`` is newer than what was applied."""
    if sent is None:
        return False, "message has no sent timestamp"
    if last_sent is not None and sent <= last_sent:
        return False, "out of order (sent %.6f <= last applied %.6f)" % (sent, last_sent)
    return True, "newer than last applied"


class ConductorManager:
    target = messaging.Target(version="1.0")

    def __init__(self, db):
        self.db = db

    def _claim(self, session, instance_id, method, sent):
        """Take the (instance, method) slot if ``sent`` is newer; return (ok, reason)."""
        row = session.execute(
            select(models.ConductorLastSeen)
            .where(models.ConductorLastSeen.instance_id == instance_id,
                   models.ConductorLastSeen.method_name == method)
            .with_for_update()).scalar_one_or_none()
        ok, reason = should_apply(row.sent if row else None, sent)
        if ok:
            if row is None:
                session.add(models.ConductorLastSeen(instance_id=instance_id,
                                                     method_name=method, sent=sent))
            else:
                row.sent = sent
        return ok, reason

    def heartbeat(self, ctx, instance_id, payload, sent=None):
        status = (payload or {}).get("service_status")
        if status not in ServiceStatus.ALL:
            LOG.warning("heartbeat from %s with unknown status %r dropped", instance_id, status)
            return
        with self.db.session() as session:
            ok, reason = self._claim(session, instance_id, "heartbeat", sent)
            if not ok:
                LOG.info("heartbeat from %s dropped: %s", instance_id, reason)
                return
            row = session.execute(select(models.ServiceStatus).where(
                models.ServiceStatus.instance_id == instance_id)).scalar_one_or_none()
            if row is None:
                LOG.info("heartbeat for unknown instance %s dropped", instance_id)
                return
            if row.status != status:
                LOG.info("instance %s service status %s -> %s", instance_id, row.status,
                         status)
            row.status = status
            row.status_description = payload.get("description")
            row.updated_at = _from_ts(sent)
            if payload.get("volume_used") is not None:
                row.volume_used = float(payload["volume_used"])
            if "replication" in payload:
                row.replication = (json.dumps(payload["replication"], default=str)
                                   if payload["replication"] else None)

    def update_backup(self, ctx, instance_id, backup_id, backup_fields, sent=None):
        if self._update_backup(instance_id, backup_id, backup_fields, sent):
            status = backup_fields["status"]
            events.record(self.db, instance_id, "backup", "backup %s %s%s" % (
                backup_id, status, ": " + str(backup_fields.get("fail_reason"))
                if status == "FAILED" else ""))

    def _update_backup(self, instance_id, backup_id, backup_fields, sent):
        """Apply one report; True if it finished the backup (COMPLETED or FAILED)."""
        with self.db.session() as session:
            ok, reason = self._claim(session, backup_id, "update_backup", sent)
            if not ok:
                LOG.info("backup update for %s dropped: %s", backup_id, reason)
                return
            backup = session.get(models.Backup, backup_id)
            if backup is None or backup.instance_id != instance_id:
                LOG.warning("backup update for unknown backup %s dropped", backup_id)
                return
            if backup.status in FINISHED_BACKUP_STATES:
                # e.g. failed by the taskmanager as stalled: a late report must not
                # revive a backup whose partial objects were removed
                LOG.info("backup update for %s dropped: it is %s already", backup_id,
                         backup.status)
                return
            for key, value in (backup_fields or {}).items():
                if key not in BACKUP_FIELDS:
                    continue
                if key == "meta" and not isinstance(value, str):
                    value = json.dumps(value)
                setattr(backup, key, value)
            return (backup_fields or {}).get("status") in ("COMPLETED", "FAILED")

    def report_root(self, ctx, instance_id, user, sent=None):
        with self.db.session() as session:
            ok, reason = self._claim(session, instance_id, "report_root", sent)
            if not ok:
                return
            row = session.get(models.RootEnabledHistory, instance_id)
            if row is None:
                session.add(models.RootEnabledHistory(instance_id=instance_id, user=user,
                                                      created=_from_ts(sent)))
            else:
                row.user, row.created = user, _from_ts(sent)


def _from_ts(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(tzinfo=None)

