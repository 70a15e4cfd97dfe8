"""Pure rules of scheduled backups: cron patterns, due times, chains, retention.

No database, no clock: callers pass ``now`` (naive UTC datetimes, as the
control DB stores them) and snapshots of backups, so every rule is tested
without patching (tests/unit/backup_schedules/).

- A pattern is a 5-field cron expression (minute hour day month weekday), parsed
  by croniter; ``allow_seconds`` (a test-only option) accepts a 6th field of
  seconds so a functional test need not wait minutes.
- ``due_time``: the one run a scheduler owes at ``now``: the newest cron time at
  or before ``now`` once ``next_run`` has passed. Runs missed while no
  taskmanager was up collapse into that one (cron's catch-up-once).
- ``choose_parent``: an incremental schedule chains onto its newest completed
  backup until the chain holds ``max_chain_length`` backups, then starts a full.
- ``retention``: which of a schedule's backups to delete. Running backups and
  the newest ``count`` completed ones (or those younger than ``days``) are kept
  with every ancestor, so only whole chains go, oldest first, and never a parent
  whose child is kept.
"""

import dataclasses
import datetime

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from trove_lite.exceptions import BadRequest

RUNNING = ("NEW", "BUILDING", "SAVING")
PATTERN_MAX = 255


class PatternError(BadRequest):
    """A pattern that is not a cron expression this control plane runs."""

    code = "invalid_cron_pattern"


def check_pattern(pattern: str, now: datetime.datetime, allow_seconds: bool = False
                  ) -> datetime.datetime:
    """The first run after ``now``; PatternError saying why a pattern is refused."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise PatternError("the pattern is empty")
    fields = pattern.split()
    allowed = (5, 6) if allow_seconds else (5,)
    if len(fields) not in allowed:
        raise PatternError("%r has %d field(s); a cron pattern has 5: minute hour "
                           "day-of-month month day-of-week" % (pattern, len(fields)))
    if any(f.startswith("@") for f in fields):
        raise PatternError("%r: @-aliases are not accepted; give the 5 fields" % pattern)
    if not croniter.is_valid(" ".join(fields)):
        raise PatternError("%r is not a valid cron pattern" % pattern)
    try:
        return next_run(pattern, now)
    except (CroniterBadDateError, CroniterBadCronError):
        raise PatternError("%r never matches a date" % pattern) from None


def next_run(pattern: str, after: datetime.datetime) -> datetime.datetime:
    """The first time strictly after ``after`` that ``pattern`` matches."""
    return croniter(" ".join(pattern.split()), after).get_next(datetime.datetime)


def due_time(pattern: str, next_due: datetime.datetime | None,
             now: datetime.datetime) -> datetime.datetime | None:
    """The run owed at ``now`` (None: not yet). However many runs were missed, it is
    the single newest one, so a scheduler back after a long stop runs once."""
    if next_due is None or next_due > now:
        return None
    # get_prev is exclusive: start just past now so a run due exactly now counts
    latest = croniter(" ".join(pattern.split()), now + datetime.timedelta(microseconds=1)
                      ).get_prev(datetime.datetime)
    return max(latest, next_due)


@dataclasses.dataclass(frozen=True)
class Item:
    """One of a schedule's backups as the rules see it."""

    id: str
    parent_id: str | None
    status: str
    created: datetime.datetime


def chain_length(items: list[Item], backup_id: str) -> int:
    """How many backups the chain ending at ``backup_id`` holds (full included)."""
    by_id = {i.id: i for i in items}
    length, current = 0, by_id.get(backup_id)
    while current is not None:
        length += 1
        current = by_id.get(current.parent_id) if current.parent_id else None
    return length


def choose_parent(items: list[Item], incremental: bool,
                  max_chain_length: int) -> tuple[str | None, str]:
    """(parent id or None for a full backup, reason) of a schedule's next backup."""
    if not incremental:
        return None, "a full backup (the schedule is not incremental)"
    completed = sorted((i for i in items if i.status == "COMPLETED"),
                       key=lambda i: (i.created, i.id))
    if not completed:
        return None, "a full backup: the schedule has no completed backup to chain onto"
    newest = completed[-1]
    length = chain_length(items, newest.id)
    if length >= max_chain_length:
        return None, ("a full backup: the chain of %s holds %d backup(s), the most "
                      "allowed (max_chain_length)" % (newest.id, length))
    return newest.id, "an incremental on %s (chain of %d)" % (newest.id, length + 1)


def retention(items: list[Item], count: int | None, days: int | None,
              now: datetime.datetime, pinned: frozenset[str] = frozenset()
              ) -> tuple[list[str], str]:
    """(ids to delete, reason): the roots of chains nobody keeps (deleting a root
    deletes its chain). Kept: running backups; the newest ``count`` completed, or
    those created within ``days`` (and always the newest completed one); every
    ancestor of a kept backup; every backup in ``pinned`` (the parents of backups
    the schedule did not make, which a delete would take along). FAILED backups
    older than the newest completed one are deleted too (they restore nothing and
    hold quota)."""
    by_id = {i.id: i for i in items}
    completed = sorted((i for i in items if i.status == "COMPLETED"),
                       key=lambda i: (i.created, i.id), reverse=True)
    if count is not None:
        wanted = completed[:count]
    else:
        horizon = now - datetime.timedelta(days=days or 0)
        wanted = [i for i in completed if i.created >= horizon] or completed[:1]
    keep = set()
    held = [i for i in items if i.status in RUNNING or i.id in pinned]
    for item in wanted + held:
        current: Item | None = item
        while current is not None and current.id not in keep:
            keep.add(current.id)
            current = by_id.get(current.parent_id) if current.parent_id else None
    newest = completed[0].created if completed else None
    doomed = []
    for item in sorted(items, key=lambda i: (i.created, i.id)):
        if item.id in keep or item.status in RUNNING:
            continue
        if item.status == "COMPLETED" or (newest is not None and item.created < newest):
            # only roots: a child whose parent is doomed goes with it
            if item.parent_id not in by_id or item.parent_id in keep:
                doomed.append(item.id)
    if not doomed:
        return [], "nothing to trim (%d kept)" % len(keep)
    return doomed, ("%d chain(s) past the retention (%s) deleted, %d backup(s) kept"
                    % (len(doomed), "count %d" % count if count is not None
                       else "%s day(s)" % days, len(keep)))
