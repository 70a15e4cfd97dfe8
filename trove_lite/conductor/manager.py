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
import threading
import time

import oslo_messaging as messaging
from sqlalchemy import select, tuple_

from trove_lite.db import models
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

    def __init__(self, db, heartbeat_batch_ms: float = 0.0) -> None:
        self.db = db
        self.batch_window = heartbeat_batch_ms / 1000.0
        self._batch_lock = threading.Lock()
        self._batch: list | None = None     # heartbeats waiting for the open batch

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
        if self.batch_window <= 0:
            with self.db.session() as session:
                self._apply_heartbeats(session, [(instance_id, payload, sent)])
            return
        self._batched(instance_id, payload, sent)

    def _batched(self, instance_id, payload, sent):
        """Group commit: the first heartbeat of a batch waits ``batch_window`` for
        others (each caller is an RPC executor thread), then writes them all in one
        transaction; the others wait for that commit, so a cast returns once its
        heartbeat is in the control DB, as without batching."""
        with self._batch_lock:
            leader = self._batch is None
            if leader:
                self._batch = []
            batch = self._batch
            done = threading.Event()
            batch.append((instance_id, payload, sent, done))
        if not leader:
            done.wait()
            return
        time.sleep(self.batch_window)
        with self._batch_lock:
            self._batch = None
        try:
            with self.db.session() as session:
                self._apply_heartbeats(session, [b[:3] for b in batch])
        except Exception:
            LOG.exception("a batch of %d heartbeats was not written", len(batch))
        finally:
            for b in batch:
                b[3].set()

    def _apply_heartbeats(self, session, beats):
        """Apply heartbeats in one transaction: per instance the newest one only,
        and only if newer than the last applied (``should_apply``)."""
        newest = {}
        for instance_id, payload, sent in beats:
            have = newest.get(instance_id)
            if have is not None:
                ok, reason = should_apply(have[1], sent)
                if not ok:
                    LOG.info("heartbeat from %s dropped: %s", instance_id, reason)
                    continue
                LOG.debug("heartbeat from %s superseded in its batch", instance_id)
            newest[instance_id] = (payload, sent)
        ids = sorted(newest)   # one lock order for every batch
        seen = {r.instance_id: r for r in session.execute(
            select(models.ConductorLastSeen).where(
                tuple_(models.ConductorLastSeen.instance_id,
                       models.ConductorLastSeen.method_name).in_(
                    [(i, "heartbeat") for i in ids]))
            .order_by(models.ConductorLastSeen.instance_id).with_for_update()).scalars()}
        rows = {r.instance_id: r for r in session.execute(
            select(models.ServiceStatus).where(
                models.ServiceStatus.instance_id.in_(ids))).scalars()}
        for instance_id in ids:
            payload, sent = newest[instance_id]
            last = seen.get(instance_id)
            ok, reason = should_apply(last.sent if last else None, sent)
            if not ok:
                LOG.info("heartbeat from %s dropped: %s", instance_id, reason)
                continue
            if last is None:
                session.add(models.ConductorLastSeen(instance_id=instance_id,
                                                     method_name="heartbeat", sent=sent))
            else:
                last.sent = sent
            row = rows.get(instance_id)
            if row is None:
                LOG.info("heartbeat for unknown instance %s dropped", instance_id)
                continue
            status = payload["service_status"]
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

