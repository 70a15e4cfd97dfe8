"""Prometheus metrics served at ``/metrics`` (prometheus_client).

Each app has its own ``CollectorRegistry`` (tests build several apps in one
process). Series:

- ``trove_lite_api_request_duration_seconds`` (histogram): labels ``method``,
  ``route`` (the route template, e.g. ``/v1.0/{tenant_id}/instances/{instance_id}``;
  ``unmatched`` for unknown paths, so no id or tenant ever becomes a label) and
  ``status``.
- read from the control database at scrape time (``ControlPlaneCollector``):
  ``trove_lite_instances`` by ``status`` (as the API shows it) and ``task``;
  ``trove_lite_instance_heartbeat_age_seconds`` by ``instance_id``;
  ``trove_lite_replica_lag_seconds`` by ``instance_id`` and ``source_id`` from
  the replication block the conductor stores; ``trove_lite_backups`` by
  ``status``; ``trove_lite_control_db_up`` (0 when the scrape could not read);
  ``trove_lite_backup_throughput_bytes_per_second`` by ``instance_id`` (its newest
  completed backup: stored bytes over its run time); ``trove_lite_failovers_total``
  (automatic failovers, counted from the instance events);
  ``trove_lite_restore_throughput_bytes_per_second`` by ``instance_id`` (an instance
  created from a backup: the backup's stored bytes over the time from the create
  request to its ``create`` event, so server start is included: end to end).
- ``trove_lite_task_step_duration_seconds`` (histogram by ``step``, the flow step's
  sentence with ids and numbers as ``*``): every taskmanager adds its steps to the
  control database (``db/step_durations.py``), so a taskmanager running alone is
  counted too; read at scrape time like the gauges above.
- schema migrations (``schema_migrations``, written by the conductor from the guests'
  heartbeats): ``trove_lite_schema_migrations`` by ``status``; for each one not yet
  final, by ``instance_id`` and ``migration_id``:
  ``trove_lite_schema_migration_progress_percent``,
  ``trove_lite_schema_migration_rows_copied``,
  ``trove_lite_schema_migration_eta_seconds`` (when the guest has an estimate) and
  ``trove_lite_schema_migration_lag_seconds`` (the changelog heartbeat's lag).

Labels carry instance ids at most, never tenant ids or names. Nothing here
contacts a guest: guests' figures arrive with their heartbeats.
"""

import datetime
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, CONTENT_TYPE_LATEST, generate_latest, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from prometheus_client.metrics_core import Metric

from trove_lite.db import models, step_durations
from trove_lite.instance.schema_migrations import FINAL as MIGRATION_FINAL
from trove_lite.instance.service import RUNNING_BACKUP_STATES
from trove_lite.status import ServiceStatus, display_status
from trove_lite.db.session import Database

LOG = logging.getLogger(__name__)

UNMATCHED = "unmatched"
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

class ControlPlaneCollector:
    """Gauges read from the control database on each scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("trove_lite_control_db_up",
                               "1 if this scrape read the control database")
        try:
            families = self._read()
        except SQLAlchemyError as e:
            LOG.warning("metrics: cannot read the control database: %s", type(e).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[Metric]:
        instances = GaugeMetricFamily("trove_lite_instances",
                                      "Live instances by the status the API shows and task",
                                      labels=["status", "task"])
        heartbeat = GaugeMetricFamily("trove_lite_instance_heartbeat_age_seconds",
                                      "Seconds since the guest's last status report",
                                      labels=["instance_id"])
        lag = GaugeMetricFamily("trove_lite_replica_lag_seconds",
                                "Replica lag the guest last reported",
                                labels=["instance_id", "source_id"])
        backups = GaugeMetricFamily("trove_lite_backups", "Backups", labels=["status"])
        throughput = GaugeMetricFamily("trove_lite_backup_throughput_bytes_per_second",
                                       "Stored bytes per second of the newest completed "
                                       "backup", labels=["instance_id"])
        failovers = CounterMetricFamily("trove_lite_failovers", "Automatic failovers done")
        restores = GaugeMetricFamily("trove_lite_restore_throughput_bytes_per_second",
                                     "Backup bytes per second of a restore, from the create "
                                     "request to ACTIVE", labels=["instance_id"])
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        with self.db.session() as s:
            rows = s.execute(
                select(models.Instance.id, models.Instance.task,
                       models.ServiceStatus.status, models.ServiceStatus.updated_at,
                       models.ServiceStatus.replication)
                .outerjoin(models.ServiceStatus,
                           models.ServiceStatus.instance_id == models.Instance.id)
                .where(models.Instance.deleted.is_(False))).all()
            backup_counts = s.execute(
                select(models.Backup.status, func.count()).where(
                    models.Backup.deleted.is_(False)).group_by(models.Backup.status)).all()
            backing_up = set(s.execute(select(models.Backup.instance_id).where(
                models.Backup.deleted.is_(False),
                models.Backup.status.in_(RUNNING_BACKUP_STATES))).scalars())
            completed = s.execute(select(
                models.Backup.instance_id, models.Backup.created, models.Backup.updated,
                models.Backup.meta).where(models.Backup.deleted.is_(False),
                                          models.Backup.status == "COMPLETED")
                .order_by(models.Backup.updated)).all()
            restored = s.execute(
                select(models.Instance.id, models.Instance.created, models.Backup.meta,
                       func.min(models.InstanceEvent.created))
                .join(models.Backup, models.Backup.id == models.Instance.restore_backup_id)
                .join(models.InstanceEvent, (models.InstanceEvent.instance_id ==
                                             models.Instance.id)
                      & (models.InstanceEvent.kind == "create"))
                .where(models.Instance.deleted.is_(False))
                .group_by(models.Instance.id, models.Instance.created,
                          models.Backup.meta)).all()
            failovers.add_metric([], s.execute(
                select(func.count()).select_from(models.InstanceEvent).where(
                    models.InstanceEvent.kind == "failover")).scalar_one())
            step_rows = step_durations.read(s)
            migrations = s.execute(select(
                models.SchemaMigration.id, models.SchemaMigration.instance_id,
                models.SchemaMigration.status, models.SchemaMigration.progress)
                .join(models.Instance, models.Instance.id == models.SchemaMigration.instance_id)
                .where(models.Instance.deleted.is_(False))).all()
        newest: dict[str, float] = {}
        for iid, created, updated, meta in completed:  # oldest first: the newest wins
            size = _json(meta).get("size_bytes")
            # a backup of no instance has no series (a None label fails the whole scrape)
            if iid is not None and size and created and updated:
                newest[iid] = size / max((updated - created).total_seconds(), 1.0)
        for iid, rate in sorted(newest.items()):
            throughput.add_metric([iid], rate)
        for iid, created, meta, active_at in restored:
            size = _json(meta).get("size_bytes")
            if size and active_at:
                restores.add_metric([iid], size / max(
                    (active_at - created).total_seconds(), 1.0))
        counts: dict[tuple[str, str], int] = {}
        for iid, task, status, updated_at, replication in rows:
            key = (display_status(task, status or ServiceStatus.NEW, iid in backing_up),
                   task or "NONE")
            counts[key] = counts.get(key, 0) + 1
            if updated_at is not None:
                heartbeat.add_metric([iid], max(0.0, (now - updated_at).total_seconds()))
            block = _json(replication)
            if block.get("role") == "replica" and block.get("lag_seconds") is not None:
                lag.add_metric([iid, str(block.get("source_id") or "")],
                               float(block["lag_seconds"]))
        for (status, task), n in sorted(counts.items()):
            instances.add_metric([status, task], n)
        for status, n in backup_counts:
            backups.add_metric([status], n)
        return [instances, heartbeat, lag, backups, throughput, failovers, restores,
                _step_histogram(step_rows), *_migration_families(migrations)]


def _step_histogram(rows: dict[str, tuple[list[tuple[float, int]], float]]
                    ) -> HistogramMetricFamily:
    family = HistogramMetricFamily("trove_lite_task_step_duration_seconds",
                                   "Duration of one step of a taskmanager flow",
                                   labels=["step"])
    for step, (buckets, total) in sorted(rows.items()):
        family.add_metric([step], [(floatToGoString(le), n) for le, n in buckets], total)
    return family


def _migration_families(rows: Iterable[tuple[str, str, str, bytes | str | None]]) -> list:
    by_status = GaugeMetricFamily("trove_lite_schema_migrations",
                                  "Schema migrations of live instances by status",
                                  labels=["status"])
    labels = ["instance_id", "migration_id"]
    percent = GaugeMetricFamily("trove_lite_schema_migration_progress_percent",
                                "Percent of the rows copied of a running schema migration",
                                labels=labels)
    copied = GaugeMetricFamily("trove_lite_schema_migration_rows_copied",
                               "Rows copied so far by a running schema migration",
                               labels=labels)
    eta = GaugeMetricFamily("trove_lite_schema_migration_eta_seconds",
                            "The guest's estimate of the seconds left to copy",
                            labels=labels)
    lag = GaugeMetricFamily("trove_lite_schema_migration_lag_seconds",
                            "Lag of the migration's changelog heartbeat", labels=labels)
    counts: dict[str, int] = {}
    for mid, iid, status, progress in rows:
        counts[status] = counts.get(status, 0) + 1
        block = _json(progress)
        if status in MIGRATION_FINAL or not block:
            continue
        for family, key in ((percent, "percent"), (copied, "rows_copied"),
                            (eta, "eta_seconds"), (lag, "lag_seconds")):
            if isinstance(block.get(key), (int, float)):
                family.add_metric([iid, mid], float(block[key]))
    for status, n in sorted(counts.items()):
        by_status.add_metric([status], n)
    return [by_status, percent, copied, eta, lag]


def _json(raw: bytes | str | None) -> dict[str, Any]:
    """A stored JSON object column as a dict ({} when empty or not an object)."""
    if not raw:
        return {}
    try:
        block = json.loads(raw)
    except ValueError:
        return {}
    return block if isinstance(block, dict) else {}


class Metrics:
    """One app's registry: the request histogram and the control-plane collector."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("trove_lite_api_request_duration_seconds",
                                 "API request latency by route template and status",
                                 ["method", "route", "status"], buckets=BUCKETS,
                                 registry=self.registry)
        self.registry.register(ControlPlaneCollector(db))

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"  # a client picks the method
        self.latency.labels(method, route or UNMATCHED, str(status)).observe(seconds)

    def exposition(self) -> tuple[str, bytes]:
        """(content type, body bytes) of one scrape."""
        return CONTENT_TYPE_LATEST, generate_latest(self.registry)
