"""The conductor: the only writer of guest-reported state.

Guests cast heartbeats, backup updates and root reports with a ``sent``
timestamp. The taskmanager sends what it learned about a database without the
guest (RESTARTING while it restarts one, DELETED, FAILED_TIMEOUT_GUESTAGENT,
UNKNOWN after a reset) as ``report_status`` (RPC 1.1), ordered with the
heartbeats: a report older than the newest heartbeat applied is dropped, so the
taskmanager can never overwrite what the guest said later. The row of an
instance is created by its first report. A message is applied only if it is
newer than the last one applied for the same (instance, method); older ones are
dropped, so a heartbeat delayed in the bus can never overwrite a newer status.
The check and the write happen in one transaction (row lock on MariaDB, an
immediate transaction on SQLite).

Archived binlog segments come as a call, ``record_binlog_segments`` (RPC 1.2):
it returns only once their rows are committed, so a guest counts a segment as
archived only then, and sends it again if the answer never comes (e.g. this
process was killed after oslo.messaging acknowledged the message). A segment
sent twice is recorded once. Guests older than 1.2 still cast
``update_binlog_archive``.
"""

import datetime
import json
import logging
import threading
import time
from typing import Any, cast

import oslo_messaging as messaging
from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trove_lite.backup import pitr
from trove_lite.datastores import binlog
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.instance import events
from trove_lite.status import ServiceStatus

LOG = logging.getLogger(__name__)

FINISHED_BACKUP_STATES = frozenset(["COMPLETED", "FAILED", "DELETE_FAILED", "DELETED"])
FINAL_MIGRATION_STATES = frozenset(["COMPLETED", "FAILED", "ABORTED"])
MIGRATION_STATES = FINAL_MIGRATION_STATES | {"NEW", "RUNNING", "THROTTLED", "POSTPONED",
                                             "CUTTING_OVER"}
MIGRATION_REPORT_GRACE = 60  # s from the API's insert to the guest's first report
BACKUP_FIELDS = frozenset(["status", "size", "checksum", "location", "progress", "meta",
                           "fail_reason", "backup_type"])


def should_apply(last_sent: float | None, sent: float | None) -> tuple[bool, str]:
    """Decide whether a message sent at ``sent`` is newer than what was applied."""
    if sent is None:
        return False, "message has no sent timestamp"
    if last_sent is not None and sent <= last_sent:
        return False, "out of order (sent %.6f <= last applied %.6f)" % (sent, last_sent)
    return True, "newer than last applied"


class ConductorManager:
    target = messaging.Target(version="1.2")

    def __init__(self, db: Database, heartbeat_batch_ms: float = 0.0) -> None:
        self.db = db
        self.batch_window = heartbeat_batch_ms / 1000.0
        self._batch_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._batch: list | None = None     # heartbeats waiting for the open batch

    def _claim(self, session: Session, instance_id: str, method: str,
               sent: Any) -> tuple[bool, str]:
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

    def heartbeat(self, ctx: dict, instance_id: str, payload: dict | None,
                  sent: float | None = None) -> None:
        status = (payload or {}).get("service_status")
        if status not in ServiceStatus.ALL:
            LOG.warning("heartbeat from %s with unknown status %r dropped", instance_id, status)
            return
        if self.batch_window <= 0:
            with self.db.session() as session:
                self._apply_heartbeats(session, [(instance_id, payload, sent)])
            return
        self._batched(instance_id, payload, sent)

    def _batched(self, instance_id: str, payload: dict | None, sent: float | None) -> None:
        """Group commit: the first heartbeat of a batch waits ``batch_window`` for
        others (each caller is an RPC executor thread), then writes them all in one
        transaction; the others wait for that commit, so a cast returns once its
        heartbeat is in the control DB, as without batching."""
        with self._batch_lock:
            leader = self._batch is None
            if leader:
                self._batch = []
            batch = cast(list, self._batch)
            done = threading.Event()
            batch.append((instance_id, payload, sent, done))
        if not leader:
            done.wait()
            return
        time.sleep(self.batch_window)
        # one batch writes at a time: the next one keeps filling meanwhile, and two
        # transactions of this process never wait on each other's lock (on SQLite
        # such a wait outlasted the busy timeout on a loaded machine, and the
        # batch was lost)
        with self._write_lock:
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

    def _apply_heartbeats(self, session: Session, beats: list) -> None:
        """Apply heartbeats in one transaction: per instance the newest one only,
        and only if newer than the last applied (``should_apply``).

        The common case (a status row exists, no schema migration to report) takes
        a fixed number of statements per batch, whatever its size: one read of
        the last-seen stamps (locked) and of the status rows, then executemany
        UPDATEs of both (plain rows, no ORM objects: at a thousand heartbeats a
        second the conductor's core is spent mostly in oslo.messaging)."""
        newest: dict[str, tuple] = {}
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
        last_seen = cast(Table, models.ConductorLastSeen.__table__)
        statuses = cast(Table, models.ServiceStatus.__table__)
        seen = dict(session.execute(
            select(last_seen.c.instance_id, last_seen.c.sent).where(
                last_seen.c.method_name == "heartbeat", last_seen.c.instance_id.in_(ids))
            .order_by(last_seen.c.instance_id).with_for_update()).all())
        current = dict(session.execute(select(statuses.c.instance_id, statuses.c.status).where(
            statuses.c.instance_id.in_(ids))).all())
        applied: list[str] = []
        seen_new: list[dict] = []
        seen_old: list[dict] = []
        updates: dict[tuple, list[dict]] = {}
        for instance_id in ids:
            payload, sent = newest[instance_id]
            ok, reason = should_apply(seen.get(instance_id), sent)
            if not ok:
                LOG.info("heartbeat from %s dropped: %s", instance_id, reason)
                continue
            (seen_old if instance_id in seen else seen_new).append(
                {"i": instance_id, "s": sent})
            if instance_id not in current:
                row = _status_row(session, instance_id)   # its first report, or unknown
                if row is None:
                    LOG.info("heartbeat for unknown instance %s dropped", instance_id)
                    continue
                session.flush()
                current[instance_id] = row.status
            if current[instance_id] != payload["service_status"]:
                LOG.info("instance %s service status %s -> %s", instance_id,
                         current[instance_id], payload["service_status"])
            values = _status_values(payload, sent)
            updates.setdefault(tuple(sorted(values)), []).append(
                {"v_" + k: v for k, v in values.items()} | {"i": instance_id})
            applied.append(instance_id)
        if seen_old:
            session.execute(last_seen.update().where(
                last_seen.c.instance_id == bindparam("i"),
                last_seen.c.method_name == "heartbeat").values(sent=bindparam("s")),
                seen_old)
        if seen_new:
            session.execute(last_seen.insert().values(
                instance_id=bindparam("i"), method_name="heartbeat",
                sent=bindparam("s")), seen_new)
        for columns, rows in updates.items():    # one executemany per set of columns
            session.execute(statuses.update().where(
                statuses.c.instance_id == bindparam("i")).values(
                {c: bindparam("v_" + c) for c in columns}), rows)
        self._migrations_from(session, applied, newest)

    def _migrations_from(self, session: Session, ids: list[str], newest: dict) -> None:
        """The schema migrations the heartbeats report, and the live ones they no
        longer report; one query for the batch when none is live."""
        live = set(session.execute(select(models.SchemaMigration.instance_id).where(
            models.SchemaMigration.instance_id.in_(ids),
            models.SchemaMigration.status.not_in(FINAL_MIGRATION_STATES))).scalars()) \
            if ids else set()
        for instance_id in ids:
            payload, sent = newest[instance_id]
            for report in payload.get("schema_migrations") or ():
                self._update_migration(session, instance_id, report, sent)
            if instance_id in live:
                self._fail_forgotten_migrations(session, instance_id, payload, sent)

    @staticmethod
    def _fail_forgotten_migrations(session: Session, instance_id: str, payload: dict,
                                   sent: float | None) -> None:
        """A live migration the guest no longer reports (its state was lost, or it never
        received the start) fails, so none stays RUNNING with nobody running it. One
        created in the last MIGRATION_REPORT_GRACE seconds may not be reported yet."""
        reported = {r.get("id") for r in payload.get("schema_migrations") or ()}
        cutoff = _from_ts(sent) - datetime.timedelta(seconds=MIGRATION_REPORT_GRACE)
        for row in session.execute(select(models.SchemaMigration).where(
                models.SchemaMigration.instance_id == instance_id,
                models.SchemaMigration.status.not_in(FINAL_MIGRATION_STATES),
                models.SchemaMigration.created < cutoff)).scalars():
            if row.id not in reported:
                LOG.info("schema migration %s on instance %s: FAILED, its guest does not "
                         "know it", row.id, instance_id)
                row.status, row.finished = "FAILED", _from_ts(sent)
                row.fail_reason = ("the guest agent no longer knows this migration (its "
                                   "state was lost or it never started it)")

    @staticmethod
    def _update_migration(session: Session, instance_id: str, report: dict,
                          sent: float | None) -> None:
        """One migration's report from a heartbeat; a final migration never changes
        (a heartbeat repeats the final report until the guest forgets it)."""
        status = report.get("status")
        row = session.get(models.SchemaMigration, report.get("id") or "")
        if row is None or row.instance_id != instance_id or status not in MIGRATION_STATES:
            return
        if row.status in FINAL_MIGRATION_STATES:
            return
        if row.status != status:
            LOG.info("schema migration %s on instance %s: %s -> %s", row.id, instance_id,
                     row.status, status)
        row.status = status
        row.progress = json.dumps(report.get("progress") or {}, default=str)
        row.fail_reason = (report.get("fail_reason") or None) and report["fail_reason"][:2000]
        if status in FINAL_MIGRATION_STATES:
            row.finished = _from_ts(sent)

    def report_status(self, ctx: dict, instance_id: str, status: str,
                      description: str | None = None, sent: float | None = None) -> None:
        """(1.1) A status the taskmanager learned without the guest; it shares the
        heartbeat's order, so it never overwrites a newer guest report."""
        if status not in ServiceStatus.ALL:
            LOG.warning("status report for %s with unknown status %r dropped", instance_id,
                        status)
            return
        with self.db.session() as session:
            ok, reason = self._claim(session, instance_id, "heartbeat", sent)
            if not ok:
                LOG.info("status report %s for %s dropped: %s", status, instance_id, reason)
                return
            row = _status_row(session, instance_id)
            if row is not None:
                _set_status(row, instance_id, status, description, sent)

    def update_backup(self, ctx: dict, instance_id: str, backup_id: str,
                      backup_fields: dict, sent: float | None = None) -> None:
        if self._update_backup(instance_id, backup_id, backup_fields, sent):
            status = backup_fields["status"]
            events.record(self.db, instance_id, "backup", "backup %s %s%s" % (
                backup_id, status, ": " + str(backup_fields.get("fail_reason"))
                if status == "FAILED" else ""))

    def _update_backup(self, instance_id: str, backup_id: str, backup_fields: dict,
                       sent: float | None) -> bool:
        """Apply one report; True if it finished the backup (COMPLETED or FAILED)."""
        with self.db.session() as session:
            ok, reason = self._claim(session, backup_id, "update_backup", sent)
            if not ok:
                LOG.info("backup update for %s dropped: %s", backup_id, reason)
                return False
            backup = session.get(models.Backup, backup_id)
            if backup is None or backup.instance_id != instance_id:
                LOG.warning("backup update for unknown backup %s dropped", backup_id)
                return False
            if backup.status in FINISHED_BACKUP_STATES:
                # e.g. failed by the taskmanager as stalled: a late report must not
                # revive a backup whose partial objects were removed
                LOG.info("backup update for %s dropped: it is %s already", backup_id,
                         backup.status)
                return False
            for key, value in (backup_fields or {}).items():
                if key not in BACKUP_FIELDS:
                    continue
                if key == "meta" and not isinstance(value, str):
                    value = json.dumps(value)
                setattr(backup, key, value)
            return (backup_fields or {}).get("status") in ("COMPLETED", "FAILED")

    def update_binlog_archive(self, ctx: dict, instance_id: str,
                              segments: list[dict] | None = None,
                              status: dict | None = None, sent: float | None = None) -> None:
        """Record archived segments (idempotent, whatever the order: a segment shipped
        again after a guest restart replaces its row) and, if newer than the last
        applied, the archive's state."""
        self._update_archive(instance_id, segments or [], status, sent)

    def record_binlog_segments(self, ctx: dict, instance_id: str, segments: list[dict],
                               status: dict | None = None,
                               sent: float | None = None) -> dict:
        """(1.2, a call) ``update_binlog_archive`` that answers once the segments'
        rows are committed: {"recorded": n, "discarded": m} (discarded: the instance
        is deleted and no backup of it is left). The same segment sent again
        updates its row. A transaction that lost a race for the same new row (two
        deliveries of one report at once, on MariaDB) is run again."""
        for attempt in (1, 2):
            try:
                kept = self._update_archive(instance_id, segments, status, sent)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                LOG.info("binlog segments of %s recorded concurrently; again", instance_id)
        return {"recorded": len(segments) if kept else 0,
                "discarded": 0 if kept else len(segments)}

    def _update_archive(self, instance_id: str, segments: list[dict], status: dict | None,
                        sent: float | None) -> bool:
        """Record segments and the state; False if the segments were discarded."""
        with self.db.session() as session:
            kept = self._record_segments(session, instance_id, segments)
            ok, reason = self._claim(session, instance_id, "update_binlog_archive", sent)
            if not ok or not status:
                return kept
            row = session.get(models.BinlogArchive, instance_id)
            if row is None:
                row = models.BinlogArchive(instance_id=instance_id, state="new")
                session.add(row)
            row.state = str(status.get("state") or "running")[:16]
            if status.get("public_key"):
                row.public_key = str(status["public_key"])[:64]
            if status.get("caught_up_at"):
                row.caught_up_at = max(row.caught_up_at or 0.0,
                                       float(status["caught_up_at"]))
            row.lag_bytes = status.get("lag_bytes")
            row.error = (status.get("error") or None) and str(status["error"])[:1024]
            row.updated_at = _from_ts(sent)
            return kept

    @staticmethod
    def _record_segments(session: Session, instance_id: str, segments: list[dict]) -> bool:
        if not segments:
            return True
        if pitr.archive_abandoned(session, instance_id):
            # deleted and no backup of it is left: nothing can restore from these,
            # and the prune of its archive sweeps their objects from the store
            LOG.info("binlog segments of deleted instance %s not recorded: no backup "
                     "of it is left (%s)", instance_id,
                     ", ".join("%s:%s" % (s.get("file"), s.get("start")) for s in segments))
            return False
        for seg in segments:
            record_segment(session, instance_id, seg)
        return True

    def report_root(self, ctx: dict, instance_id: str, user: str,
                    sent: float | None = None) -> None:
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


def record_segment(session: Session, instance_id: str, seg: dict) -> None:
    kind = "gap" if seg.get("kind") == "gap" else "data"
    seq = binlog.file_seq(seg["file"])
    row = session.execute(select(models.BinlogSegment).where(
        models.BinlogSegment.instance_id == instance_id,
        models.BinlogSegment.file_seq == seq,
        models.BinlogSegment.start_pos == int(seg["start"]),
        models.BinlogSegment.kind == kind)).scalar_one_or_none()
    if row is None:
        row = models.BinlogSegment(instance_id=instance_id, kind=kind, file_seq=seq,
                                   start_pos=int(seg["start"]))
        session.add(row)
    row.file = seg["file"]
    row.end_pos = int(seg.get("end") or seg["start"])
    row.events = int(seg.get("events") or 0)
    for key in ("first_ts", "last_ts", "first_gtid", "last_gtid", "location", "size",
                "checksum"):
        setattr(row, key, seg.get(key))
    row.detail = (seg.get("detail") or None) and seg["detail"][:1024]
    if kind == "gap":
        LOG.warning("instance %s: binlog archive gap reported: %s", instance_id,
                    row.detail)
def _status_row(session: Session, instance_id: str) -> models.ServiceStatus | None:
    """The instance's service_statuses row, created at its first report (None for an
    instance the control plane does not have)."""
    row = session.execute(select(models.ServiceStatus).where(
        models.ServiceStatus.instance_id == instance_id)).scalar_one_or_none()
    if row is None and session.get(models.Instance, instance_id) is not None:
        row = models.ServiceStatus(instance_id=instance_id, status=ServiceStatus.NEW)
        session.add(row)
    return row


def _set_status(row: models.ServiceStatus, instance_id: str, status: str,
                description: str | None, sent: Any) -> None:
    if row.status != status:
        LOG.info("instance %s service status %s -> %s", instance_id, row.status, status)
    row.status = status
    row.status_description = description
    row.updated_at = _from_ts(sent)


def _status_values(payload: dict, sent: Any) -> dict:
    """The service_statuses columns one heartbeat sets (the optional blocks only
    when the guest sent them)."""
    values = {"status": payload["service_status"],
              "status_description": payload.get("description"),
              "updated_at": _from_ts(sent)}
    if payload.get("volume_used") is not None:
        values["volume_used"] = float(payload["volume_used"])
    if "restore_progress" in payload:
        values["restore_progress"] = (json.dumps(payload["restore_progress"])
                                      if payload["restore_progress"] else None)
    if "replication" in payload:
        values["replication"] = (json.dumps(payload["replication"], default=str)
                                 if payload["replication"] else None)
    return values


def _from_ts(ts: Any) -> datetime.datetime:
    """A sent timestamp that should_apply accepted (never None) as a naive UTC time."""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(tzinfo=None)

