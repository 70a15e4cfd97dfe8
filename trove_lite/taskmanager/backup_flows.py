"""Backup flows of the taskmanager: start a backup, delete a chain, fail stalled
backups, describe a restore, configure guests' stores.

The guest runs the backup itself (guestagent/backup/agent.py) and reports
through the conductor; the taskmanager only hands it the request (with the
tenant's key), removes objects (it has the store's credentials too) and watches
for backups whose guest went silent:

``check_stalled`` (every reconcile pass) fails a NEW/BUILDING/SAVING backup whose
last report (the conductor's last-seen ``sent`` of its ``update_backup``; the
row's creation time before the first one) is older than ``[backup]
progress_timeout``, and removes its partial objects. A running guest reports at
least every ``progress_interval``, so only a dead, restarted or cut-off guest
(or a cast nobody received) gets there.
"""

import datetime
import json
import logging
import os
import time
from typing import Any, Callable, Collection, TypeVar

from oslo_config import cfg
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trove_lite import datastores, exceptions, quota
from trove_lite.backup import pitr
from trove_lite.datastores import binlog
from trove_lite.common import backup_opts
from trove_lite.backup.keys import TenantKeys
from trove_lite.backup.service import RUNNING, descendants
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.drivers import storage as storage_drivers
from trove_lite.drivers.storage.base import StorageDriver
from trove_lite.rpc import guest as guest_rpc
from trove_lite.instance import events
from trove_lite.common import steps

LOG = logging.getLogger(__name__)

R = TypeVar("R", models.Backup, models.BinlogArchive)
FAIL = "fail"
NOTHING = "nothing"


def decide_stalled(status: str, seconds_since_report: float, timeout: float) -> tuple[str, str]:
    """(action, reason) for one backup from its status and report age (pure)."""
    if status not in RUNNING:
        return NOTHING, "not running (%s)" % status
    if seconds_since_report > timeout:
        return FAIL, ("the guest agent sent no progress for %d s (limit %d s): it was "
                      "killed, restarted or cut off while the backup was %s"
                      % (seconds_since_report, timeout, status))
    return NOTHING, "last report %.0f s ago" % seconds_since_report


def _epoch(dt: datetime.datetime) -> float:
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def _meta(row: models.Backup) -> dict[str, Any]:
    try:
        return json.loads(row.meta) if row.meta else {}
    except ValueError:
        return {}


def _row(s: Session, model: type[R], key: str) -> R:
    """A row known to exist: backup and archive rows are marked deleted, never removed."""
    row = s.get(model, key)
    assert row is not None, "%s %s vanished" % (model.__name__, key)
    return row


def local_root(conf: cfg.ConfigOpts) -> str:
    return os.path.abspath(conf.storage_local.root or os.path.join(conf.state_dir, "backups"))


def guest_storage_conf(conf: cfg.ConfigOpts) -> str:
    """The store options of this control plane as guest-config text (the guest
    writes backups and reads restores itself)."""
    backup_opts.register(conf)
    lines = ["", "[backup]", "progress_interval = %s" % conf.backup.progress_interval,
             "max_rate_mb = %s" % conf.backup.max_rate_mb,
             "archive_binlog = %s" % conf.backup.archive_binlog,
             "archive_interval = %s" % conf.backup.archive_interval,
             "archive_segment_mb = %s" % conf.backup.archive_segment_mb,
             "", "[backup_storage]", "driver = %s" % conf.backup_storage.driver,
             "container = %s" % conf.backup_storage.container]
    if conf.backup_storage.driver == "local":
        lines += ["", "[storage_local]", "root = %s" % local_root(conf)]
    else:
        g = conf.storage_swift
        lines += ["", "[storage_swift]"]
        for name in ("auth_url", "auth_version", "user", "key", "project_name",
                     "user_domain_name", "project_domain_name", "region_name",
                     "segment_size", "retries", "timeout"):
            value = getattr(g, name)
            if value is not None:
                lines.append("%s = %s" % (name, value))
    return "\n".join(lines) + "\n"


def restore_request(conf: cfg.ConfigOpts, db: Database, backup_id: str) -> dict[str, Any]:
    """What a guest's prepare needs to restore ``backup_id``: the chain (full
    first) with locations and stored metadata, and the tenant's key.
    Raises RestoreError if the chain is incomplete or the key is missing."""
    chain: list[dict[str, Any]] = []
    with db.session() as s:
        row = s.get(models.Backup, backup_id)
        tenant = row.tenant_id if row else None
        while row is not None:
            meta = _meta(row)
            if row.deleted or row.status != "COMPLETED" or "metadata" not in meta:
                raise exceptions.RestoreError(
                    reason="backup %s of the chain is %s" % (
                        row.id, "deleted" if row.deleted else row.status))
            chain.insert(0, {"id": row.id, "location": row.location,
                             "size": meta.get("size_bytes"), "metadata": meta["metadata"]})
            row = s.get(models.Backup, row.parent_id) if row.parent_id else None
    if not chain or tenant is None:
        raise exceptions.RestoreError(reason="backup %s does not exist" % backup_id)
    try:
        key = TenantKeys(conf, db).get(tenant, create=False)
    except exceptions.TroveLiteError as e:
        raise exceptions.RestoreError(reason=e.message)
    return {"id": backup_id, "chain": chain, "key": key}


def pitr_request(conf: cfg.ConfigOpts, db: Database, restore_point: str) -> dict[str, Any]:
    """The binlog part of a point-in-time restore request: the plan (backup to
    restore, segments, stop second) and the source's archive key. Planned again
    here, with the same rules the API used (backup/pitr.py), from what is
    recorded now. Raises RestoreError if the time is no longer restorable."""
    rp = json.loads(restore_point)
    source_id = rp["source_id"]
    with db.session() as s:
        covers, view = pitr.instance_window(s, source_id)
        source = s.get(models.Instance, source_id)
        assert source is not None, "instance rows are never removed"
        tenant = source.tenant_id
    try:
        planned = pitr.plan(covers, view, rp["restore_time"], now=time.time())
        key = TenantKeys(conf, db).get(tenant, create=False)
    except exceptions.TroveLiteError as e:
        raise exceptions.RestoreError(reason=e.message)
    return dict(planned, source_id=source_id, key=binlog.archive_key(key, source_id))


def injectable(prepare: dict[str, Any]) -> dict[str, Any]:
    """The prepare request as injected into the server's files: a restore's key
    and chain stay out (the file outlives the boot; the prepare cast carries them,
    and only that runs restores)."""
    if not prepare.get("backup"):
        return prepare
    return dict(prepare, backup={"id": prepare["backup"]["id"], "via": "prepare cast"})


class BackupFlows:
    def __init__(self, conf: cfg.ConfigOpts, db: Database,
                 guest_factory: Callable[[str], guest_rpc.GuestAPI],
                 storage_factory: Callable[[], storage_drivers.StorageDriver] | None = None
                 ) -> None:
        backup_opts.register(conf)
        self.conf = conf
        self.db = db
        self.guest_factory = guest_factory
        self.storage_factory = storage_factory or (lambda: storage_drivers.get_storage(conf))
        self.keys = TenantKeys(conf, db)
        self.quotas = quota.QuotaEngine(conf)

    # -- helpers ------------------------------------------------------------------
    def _fail(self, backup_id: str, reason: str, only_if: Collection[str] = RUNNING) -> bool:
        """Mark FAILED unless it left ``only_if`` meanwhile; True if this call did."""
        with self.db.session() as s:
            res: Any = s.execute(update(models.Backup).where(
                models.Backup.id == backup_id, models.Backup.status.in_(only_if)).values(
                status="FAILED", fail_reason=reason[:1024], updated=models.utcnow()))
        if res.rowcount:
            LOG.warning("backup %s FAILED: %s", backup_id, reason)
        return bool(res.rowcount)

    # -- create -------------------------------------------------------------------
    def create(self, backup_id: str, instance_id: str) -> None:
        """Hand the backup to the guest (a cast); it reports from then on."""
        with self.db.session() as s:
            row = s.get(models.Backup, backup_id)
            if row is None or row.deleted or row.status != "NEW":
                LOG.info("backup %s is no longer NEW; not started", backup_id)
                return
            parent = s.get(models.Backup, row.parent_id) if row.parent_id else None
            tenant, container = row.tenant_id, row.container
            version = s.get(models.DatastoreVersion, row.datastore_version_id) \
                if row.datastore_version_id else None
        steps.mark("backup", "requested", instance_id)
        try:
            strategy = datastores.get(version.manager if version else None).backup_strategy
            request = {"id": backup_id, "container": container,
                       "codec": self.conf.backup.codec, "strategy": strategy,
                       "parent": self._parent_request(parent),
                       "key": self.keys.get(tenant)}
            self.guest_factory(instance_id).create_backup(request)
        except Exception as e:
            LOG.exception("backup %s could not be started", backup_id)
            self._fail(backup_id, "the backup could not be started: %s"
                       % (getattr(e, "message", None) or e))
            return
        LOG.info("backup %s of instance %s handed to its guest", backup_id, instance_id)
        events.record(self.db, instance_id, "backup", "backup %s started" % backup_id)
        steps.mark("backup", "handed_to_guest", instance_id)

    @staticmethod
    def _parent_request(parent: models.Backup | None) -> dict[str, Any] | None:
        if parent is None:
            return None
        meta = _meta(parent)
        if parent.status != "COMPLETED" or "lsn" not in meta:
            raise exceptions.BackupError(reason="parent backup %s is %s without LSN "
                                                "metadata" % (parent.id, parent.status))
        return {"id": parent.id, "location": parent.location, "lsn": meta["lsn"]}

    # -- binlog archive keys ---------------------------------------------------------
    def send_archive_keys(self, now: float | None = None, resend_after: float = 5.0) -> None:
        """Hand each guest whose archiver waits for its key (it restarted) the key
        of its instance's archive, sealed to the public key it reported; again
        after ``resend_after`` s if it still waits."""
        now = now or time.time()
        with self.db.session() as s:
            rows = s.execute(select(models.BinlogArchive, models.Instance.tenant_id).join(
                models.Instance, models.Instance.id == models.BinlogArchive.instance_id).where(
                models.Instance.deleted.is_(False),
                models.BinlogArchive.state == "needs_key")).all()
        for row, tenant in rows:
            if (row.key_sent_at and now - row.key_sent_at < resend_after) \
                    or not row.public_key:
                continue
            try:
                key = binlog.archive_key(self.keys.get(tenant), row.instance_id)
                self.guest_factory(row.instance_id).start_binlog_archive(
                    binlog.seal(row.public_key, key))
            except Exception as e:
                LOG.warning("archive key for %s not sent: %s", row.instance_id, e)
                continue
            with self.db.session() as s:
                _row(s, models.BinlogArchive, row.instance_id).key_sent_at = now
            LOG.info("binlog archive key sent to the guest of %s", row.instance_id)

    # -- delete -------------------------------------------------------------------
    def delete(self, backup_id: str) -> None:
        """Delete the backup and its descendants, deepest first: objects, then rows.
        A store failure stops there: that backup becomes DELETE_FAILED (with the
        reason) and its ancestors stay."""
        with self.db.session() as s:
            row = s.get(models.Backup, backup_id)
            if row is None or row.deleted:
                return
            rows = s.execute(select(models.Backup.id, models.Backup.parent_id).where(
                models.Backup.tenant_id == row.tenant_id,
                models.Backup.deleted.is_(False))).all()
        storage: storage_drivers.StorageDriver | None = None
        for bid in descendants([(r.id, r.parent_id) for r in rows], backup_id):
            with self.db.session() as s:
                location = _row(s, models.Backup, bid).location
            try:
                if location:
                    storage = storage or self.storage_factory()
                    storage.delete(location)
            except Exception as e:
                reason = "deleting the stored backup failed: %s" % (
                    getattr(e, "message", None) or e)
                self._fail_delete(bid, reason)
                return
            with self.db.session() as s:
                b = _row(s, models.Backup, bid)
                if b.deleted:
                    continue   # a concurrent delete of the same chain got here first
                b.deleted, b.status = True, "DELETED"
                self.quotas.reserve(s, b.tenant_id, {"backups": -1})
            LOG.info("backup %s deleted (%s)", bid, location or "nothing stored")
        if row.instance_id:
            self.prune_archive(row.instance_id)

    def prune_archive(self, instance_id: str) -> None:
        """Remove the archived binlog no remaining backup of the instance needs
        (retention of the archive follows the backups). Once the instance is
        deleted and no backup of it is left, the whole archive goes: the recorded
        segments, then whatever else the store holds under the instance's archive
        prefix (a segment whose report never became a row: the instance's agent
        was cut off between its upload and its report)."""
        with self.db.session() as s:
            backups, _, _ = pitr.load(s, instance_id)
            keep_all, floor = pitr.archive_floor(backups)
            if keep_all:
                return
            q = select(models.BinlogSegment).where(
                models.BinlogSegment.instance_id == instance_id)
            if floor is not None:
                q = q.where(models.BinlogSegment.file_seq < floor)
            doomed = [(r.id, r.location) for r in s.execute(q).scalars()]
            whole = floor is None and pitr.archive_abandoned(s, instance_id)
        if not doomed and not whole:
            return
        storage = self.storage_factory()
        failed = 0
        for seg_id, location in doomed:
            try:
                if location:
                    storage.delete(location)
            except Exception as e:   # kept for the next delete to try again
                LOG.warning("archived binlog %s not removed: %s", location, e)
                failed += 1
                continue
            with self.db.session() as s:
                seg = s.get(models.BinlogSegment, seg_id)
                if seg is not None:
                    s.delete(seg)
        LOG.info("binlog archive of %s: %d segments no backup needs removed",
                 instance_id, len(doomed) - failed)
        if whole:
            self._sweep_archive(storage, instance_id)

    def _sweep_archive(self, storage: StorageDriver, instance_id: str) -> None:
        """Delete the objects under the archive prefix of a deleted instance that no
        row records (the prefix ends with '/': another instance's, or a backup's,
        never match)."""
        prefix = "%s/%s" % (self.conf.backup_storage.container,
                            binlog.archive_prefix(instance_id))
        with self.db.session() as s:
            recorded = set(s.execute(select(models.BinlogSegment.location).where(
                models.BinlogSegment.instance_id == instance_id)).scalars())
        try:
            strays = [loc for loc in storage.list_objects(prefix) if loc not in recorded]
        except Exception as e:   # the next prune (a backup delete) tries again
            LOG.warning("binlog archive of %s: %s not listed: %s", instance_id, prefix, e)
            return
        removed = 0
        for location in strays:
            try:
                removed += bool(storage.delete(location))
            except Exception as e:
                LOG.warning("unrecorded archived binlog %s not removed: %s", location, e)
        LOG.info("binlog archive of deleted instance %s swept: %d unrecorded objects "
                 "removed%s", instance_id, removed, strays and ": " + ", ".join(strays) or "")

    def _fail_delete(self, backup_id: str, reason: str) -> None:
        LOG.warning("backup %s DELETE_FAILED: %s", backup_id, reason)
        with self.db.session() as s:
            b = _row(s, models.Backup, backup_id)
            b.status, b.fail_reason = "DELETE_FAILED", reason[:1024]

    # -- stalled backups ----------------------------------------------------------
    def check_stalled(self, now: datetime.datetime | None = None) -> None:
        """Fail running backups whose guest went silent; remove their partial data."""
        now = now or models.utcnow()
        timeout = self.conf.backup.progress_timeout
        with self.db.session() as s:
            rows = s.execute(select(models.Backup, models.ConductorLastSeen.sent).outerjoin(
                models.ConductorLastSeen,
                (models.ConductorLastSeen.instance_id == models.Backup.id)
                & (models.ConductorLastSeen.method_name == "update_backup")).where(
                models.Backup.deleted.is_(False),
                models.Backup.status.in_(RUNNING))).all()
        for row, sent in rows:
            last = max(sent or 0.0, _epoch(row.created))
            action, reason = decide_stalled(row.status, _epoch(now) - last, timeout)
            if action != FAIL:
                continue
            cleaned = self._cleanup(row.location)
            self._fail(row.id, reason + "; " + cleaned, only_if=(row.status,))

    def _cleanup(self, location: str | None) -> str:
        if not location:
            return "nothing was stored"
        try:
            removed = self.storage_factory().cleanup_partial(location)
        except Exception as e:
            LOG.warning("partial data at %s not removed: %s", location, e)
            return "its partial data at %s could not be removed: %s" % (
                location, getattr(e, "message", None) or e)
        return "partial data removed" if removed else "no partial data was left"
