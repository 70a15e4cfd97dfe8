"""The flow-step duration histogram, kept in the control database (``task_step_buckets``).

Every taskmanager process adds each finished step with ``record`` (one atomic UPDATE of
the step's cumulative buckets, so two taskmanagers never lose each other's counts); the
API's ``/metrics`` serves ``trove_lite_task_step_duration_seconds`` from ``read``. So the
histogram shows every taskmanager's steps, whether it runs in the all-in-one or alone,
and survives their restarts (the counts only grow). Recording never fails a flow: a
control database that cannot be written loses that one observation, with a warning.
"""

import logging
import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from trove_lite.db import models
from trove_lite.db.session import Database

LOG = logging.getLogger(__name__)

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
INF_BOUND = 1e300  # the +Inf bucket's row (a column cannot hold infinity in MariaDB)
_VARYING = re.compile(r"\S*\d\S*")


def label(what: str) -> str:
    """A step's sentence as a label: ids, addresses and numbers become ``*`` (pure)."""
    return _VARYING.sub("*", what)[:80]


def _add(s: Session, step: str, seconds: float) -> int:
    table = models.TaskStepBucket
    res: Any = s.execute(update(table).where(table.step == step, table.le >= seconds).values(
        count=table.count + 1, sum_seconds=table.sum_seconds + seconds))
    return res.rowcount


def record(db: Database, what: str, seconds: float) -> None:
    """Count one finished step of ``seconds`` (see the module docstring)."""
    step, seconds = label(what), max(0.0, seconds)
    try:
        with db.session() as s:
            if _add(s, step, seconds):
                return
        try:  # the step's first observation anywhere: its buckets, counted
            with db.session() as s:
                s.add_all(models.TaskStepBucket(
                    step=step, le=le, count=int(seconds <= le),
                    sum_seconds=seconds if seconds <= le else 0.0)
                    for le in BUCKETS + (INF_BOUND,))
        except IntegrityError:  # another taskmanager made them first
            with db.session() as s:
                _add(s, step, seconds)
    except SQLAlchemyError as e:
        LOG.warning("step duration of %r not recorded: %s", step, type(e).__name__)


def read(s: Session) -> dict[str, tuple[list[tuple[float, int]], float]]:
    """{step: ([(upper bound, cumulative count)...], sum of seconds)}; the +Inf bound is
    ``float("inf")``. The sum is the +Inf row's (every step falls in it)."""
    table = models.TaskStepBucket
    out: dict[str, tuple[list[tuple[float, int]], float]] = {}
    for step, le, count, total in s.execute(select(
            table.step, table.le, table.count, table.sum_seconds).order_by(table.step,
                                                                           table.le)):
        buckets, _ = out.get(step, ([], 0.0))
        inf = le >= INF_BOUND
        buckets.append((float("inf") if inf else le, count))
        out[step] = (buckets, total if inf else out.get(step, ([], 0.0))[1])
    return out
