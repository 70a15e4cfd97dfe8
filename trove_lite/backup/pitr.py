"""Point-in-time restore: the restorable window of an instance and the plan of a
restore (which backup, which archived binlog segments, where to stop).

Pure functions on snapshots (``Backup``-like and ``Segment``-like records) plus
``load`` that reads them from the control-plane database.

Semantics (seconds, UTC; binlog event timestamps are epoch seconds): restoring to
``T`` keeps every transaction whose newest event is at or before the second
``floor(T)`` and none after. A completed backup ``B`` covers
``[B.completed, end)``: from its completion (its consistent point is earlier)
for as long as the archive is contiguous after B's binlog position. ``end`` is
``floor(caught_up_at)`` (the guest had shipped everything written before it) or,
when a gap follows, the second of the last archived event before the gap (events
lost in the gap may share it). The window is the union of the backups' coverage;
``latest`` is shown as the last whole second that restores. A time outside every
coverage (future, before the first backup, inside a gap) is refused with the
window stated.
"""

import dataclasses
import datetime
import json
import math
from typing import Iterable, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from trove_lite.datastores import binlog
from trove_lite.db import models
from trove_lite.exceptions import BadRequest


class BackupPoint(NamedTuple):
    id: str
    completed: float          # epoch seconds
    file_seq: int | None      # binlog coordinates of its consistent point
    file: str | None
    pos: int | None


class Segment(NamedTuple):
    kind: str                 # "data" or "gap"
    file: str
    file_seq: int
    start: int
    end: int
    first_ts: float | None
    last_ts: float | None
    events: int
    location: str | None
    detail: str | None = None


@dataclasses.dataclass
class Coverage:
    backup: BackupPoint
    start: float
    end: float                # exclusive, a whole second
    segments: list            # data segments from the start of B's binlog file
    gap: str | None = None    # why it ends (a gap), if it does


class OutsideWindow(BadRequest):
    code = "restore_time_outside_window"
    message_format = "%(reason)s"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if dt.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return dt.strftime(fmt)


def parse_time(text: object) -> float:
    """Epoch seconds of 'YYYY-MM-DDTHH:MM:SS[.ffffff]Z' (400 otherwise)."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise BadRequest(reason="restoreTime %r must look like 2026-01-31T12:00:00Z or "
                                "2026-01-31T12:00:00.250000Z (UTC)" % (text,))
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            dt = datetime.datetime.strptime(text[:-1], fmt)
        except ValueError:
            continue
        return dt.replace(tzinfo=datetime.timezone.utc).timestamp()
    raise BadRequest(reason="restoreTime %r must look like 2026-01-31T12:00:00Z or "
                            "2026-01-31T12:00:00.250000Z (UTC)" % (text,))


def coverage(backup: BackupPoint, segments: list,
             caught_up_at: float | None) -> "Coverage | None":
    """What ``backup`` plus the archive can restore (a Coverage), or None when the
    archive does not reach back to the backup's binlog position."""
    if backup.file_seq is None:
        return None
    ordered = sorted(segments, key=lambda s: (s.file_seq, s.start, s.kind != "data"))
    needed: list = []
    at, last_ts = None, None
    for seg in ordered:
        if at is None:
            # the segments of B's file from its start, up to the one holding B's position
            if seg.kind == "data" and seg.file_seq == backup.file_seq:
                if not needed and seg.start != 0:
                    return None
                if needed and seg.start != needed[-1].end:
                    return None
                needed.append(seg)
                if seg.start <= backup.pos <= seg.end:
                    at = seg
                    last_ts = seg.last_ts or last_ts
            continue
        contiguous = (seg.kind == "data" and (
            (seg.file_seq == at.file_seq and seg.start == at.end)
            or (seg.file_seq > at.file_seq and seg.start == 0)))
        if not contiguous:
            reason = seg.detail if seg.kind == "gap" else \
                "archived binlog missing after %s:%d" % (at.file, at.end)
            end = math.floor(last_ts) if last_ts else math.floor(backup.completed)
            return Coverage(backup, backup.completed, end, needed, reason)
        needed.append(seg)
        at = seg
        if seg.last_ts:
            last_ts = max(last_ts or 0, seg.last_ts)
    if at is None:
        return None
    end = math.floor(caught_up_at) if caught_up_at else math.floor(last_ts or 0)
    return Coverage(backup, backup.completed, end, needed)


def window(backups: Iterable[BackupPoint], segments: list,
           caught_up_at: float | None) -> tuple[list, dict | None]:
    """(coverages newest backup first, view dict or None)."""
    covers = [c for c in (coverage(b, segments, caught_up_at) for b in backups)
              if c is not None and c.end > c.start]
    if not covers:
        return [], None
    covers.sort(key=lambda c: c.start, reverse=True)
    spans = sorted((c.start, c.end, c.gap) for c in covers)
    merged: list[list] = []
    for start, end, gap in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1:] = [end, gap]
        else:
            merged.append([start, end, gap])
    gaps = [{"from": iso(a[1]), "to": iso(b[0]), "reason": a[2]}
            for a, b in zip(merged, merged[1:])]
    view: dict = {"earliest": iso(merged[0][0]), "latest": iso(merged[-1][1] - 1)}
    if merged[-1][2]:
        view["archive_gap"] = merged[-1][2]
    if gaps:
        view["gaps"] = gaps
    return covers, view


def plan(covers: list, view: dict | None, restore_time: float, now: float) -> dict:
    """{backup_id, stop_ts, segments, start: {file, pos}} for ``restore_time``;
    OutsideWindow (400) naming the window otherwise."""
    stop_ts = math.floor(restore_time)
    if view is None:
        raise OutsideWindow(reason="the instance has no restorable window: it needs a "
                                   "completed backup and its binlog archive after it")
    stated = "the restorable window is %s to %s%s" % (
        view["earliest"], view["latest"],
        "".join(" (except %s to %s: %s)" % (g["from"], g["to"], g["reason"])
                for g in view.get("gaps", ())))
    if restore_time > now:
        raise OutsideWindow(reason="restoreTime %s is in the future; %s"
                                   % (iso(restore_time), stated))
    for c in covers:   # newest backup first
        if c.start <= restore_time and stop_ts < c.end:
            needed = []
            for seg in c.segments:
                if seg.file_seq == c.backup.file_seq and seg.start > 0 \
                        and seg.end <= c.backup.pos:
                    continue   # in the backup: only the file's first segment (its header)
                after_backup = (seg.file_seq, seg.start) > (c.backup.file_seq, c.backup.pos)
                if after_backup and seg.first_ts is not None and seg.first_ts > stop_ts:
                    break     # every event in it and after it is later: stop before it
                needed.append(seg._asdict())
            return {"backup_id": c.backup.id, "stop_ts": stop_ts,
                    "start": {"file": c.backup.file, "pos": c.backup.pos},
                    "segments": needed}
    raise OutsideWindow(reason="restoreTime %s is outside what can be restored: %s"
                               % (iso(restore_time), stated))


def archive_floor(backups: Iterable[BackupPoint]) -> tuple[bool, int | None]:
    """Retention: (keep everything?, first binlog file number still needed). A
    segment of an earlier file serves no remaining backup; with no backup left
    none is needed (a later backup starts from a later position)."""
    backups = list(backups)
    if any(b.file_seq is None for b in backups):
        return True, None
    return False, min((b.file_seq for b in backups if b.file_seq is not None), default=None)


# -- database -------------------------------------------------------------------------
def _epoch(dt: datetime.datetime) -> float:
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def load(s: Session, instance_id: str) -> tuple[list, list, float | None]:
    """(backups, segments, caught_up_at) of an instance (deleted or not)."""
    backups = []
    for row in s.execute(select(models.Backup).where(
            models.Backup.instance_id == instance_id, models.Backup.deleted.is_(False),
            models.Backup.status == "COMPLETED")).scalars():
        try:
            coords = (json.loads(row.meta) if row.meta else {}).get("binlog") or {}
        except ValueError:
            coords = {}
        name = coords.get("binlog_file")
        try:
            seq = binlog.file_seq(name) if name else None
        except ValueError:
            seq = None
        backups.append(BackupPoint(row.id, _epoch(row.updated), seq, name,
                                   coords.get("binlog_position")))
    segments = [Segment(r.kind, r.file, r.file_seq, r.start_pos, r.end_pos, r.first_ts,
                        r.last_ts, r.events, r.location, r.detail)
                for r in s.execute(select(models.BinlogSegment).where(
                    models.BinlogSegment.instance_id == instance_id)).scalars()]
    archive = s.get(models.BinlogArchive, instance_id)
    return backups, segments, archive.caught_up_at if archive else None


def archive_abandoned(s: Session, instance_id: str) -> bool:
    """The instance is deleted (or unknown) and no backup of it is left but failed
    ones (a running one may still complete): nothing can restore from its archive
    any more, and its prune removes all of it (taskmanager/backup_flows.py
    ``prune_archive``)."""
    inst = s.get(models.Instance, instance_id)
    if inst is not None and not inst.deleted:
        return False
    return s.execute(select(models.Backup.id).where(
        models.Backup.instance_id == instance_id, models.Backup.deleted.is_(False),
        models.Backup.status != "FAILED").limit(1)).first() is None


def instance_window(s: Session, instance_id: str) -> tuple[list, dict | None]:
    """(coverages, view) of an instance from the database."""
    backups, segments, caught_up = load(s, instance_id)
    return window(backups, segments, caught_up)
