"""Online schema migrations the guest runs against its own server (issue 18).

The engine is ``trove_lite.osc`` used as a library (``Migration``), one thread per
migration inside the agent (its binlog reader is already a child process). It
connects over the server's unix socket as root (unix_socket authentication), so
no password exists anywhere.

Reporting: ``report()`` lists every migration this guest knows (running ones
live, finished ones for ``KEEP_FINISHED_SECONDS``) and rides on the heartbeat;
while one runs, the heartbeat is asked for every ``REPORT_INTERVAL`` seconds. A
heartbeat lost on the bus is repeated by the next one, so the final status
always arrives; the conductor never changes a migration that is final.

State: each migration's record (with its request) is kept in GuestState
(``schema_migrations``) before it starts, and the engine checkpoints every
``CHECKPOINT_SECONDS``. An agent that restarts finds records that are not final
and settles them with ``recovery_action`` (pure): resumed from the checkpoint
(the engine's resume), or FAILED with the ghost, changelog and checkpoint tables
dropped, or COMPLETED when the swap had already happened. Never a RUNNING that
nobody runs.

Abort (``abort`` action, the engine's panic): the engine stops, then the ghost,
changelog and checkpoint tables (and a cut-over sentry) are dropped here; the
original table is untouched. The engine creates no triggers on the original
table, so there are none to remove.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trove_lite import exceptions
from trove_lite.common import steps
from trove_lite.osc import sql as osc_sql
from trove_lite.osc.context import MigrationRequest, Tunables
from trove_lite.osc.migrator import Aborted, Migration

if TYPE_CHECKING:
    from pymysql.connections import Connection

    from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer
    from trove_lite.guestagent.state import GuestState

LOG = logging.getLogger(__name__)

FINAL = frozenset(["COMPLETED", "FAILED", "ABORTED"])
KEEP_FINISHED_SECONDS = 3600
REPORT_INTERVAL = 1.0
CHECKPOINT_SECONDS = 5  # how much row copy a restarted agent may have to redo
SENTRY_COMMENT = "ghost-cut-over-sentry"
# the engine's events that are declared steps of the flow (common/steps.py)
HOOK_STEPS = {"before-row-copy": "row_copy_begun", "row-copy-complete": "row_copy_done",
              "before-cut-over": "cut_over_begun"}
# request key -> engine flag, for the tunables a migration accepts at start and in "set"
TUNABLE_KEYS = {"chunk_size": "chunk-size", "dml_batch_size": "dml-batch-size",
                "nice_ratio": "nice-ratio", "max_lag_millis": "max-lag-millis",
                "max_load": "max-load", "critical_load": "critical-load"}


def status_of(phase: str, postponing: bool, throttle_reason: str) -> str:
    """The API status of a running engine (pure)."""
    if phase in ("cut-over", "done"):
        return "CUTTING_OVER"
    if postponing:
        return "POSTPONED"
    if throttle_reason:
        return "THROTTLED"
    return "RUNNING"


@dataclasses.dataclass(frozen=True)
class Recovery:
    status: str
    reason: str
    drop: tuple  # table names to drop


def recovery_action(table: str, tables: dict, keep_old_table: bool,
                    checkpointed: bool = False) -> Recovery:
    """What to do with a migration an agent restart cut off (pure).

    ``tables``: {name: comment} of the tables that exist among the original, the
    ghost, the changelog, the checkpoint and the old (``_T_del``) names;
    ``checkpointed``: the checkpoint table holds a checkpoint. The swap happened when
    the ghost is gone and ``_T_del`` is a real table (not the cut-over sentry): the
    migration is complete. Before it, a checkpoint lets the engine resume (RUNNING;
    a sentry left by a cut-over cut short goes first). Otherwise the original table was
    never changed; the helpers go.
    """
    ghost, ghc = osc_sql.ghost_name(table), osc_sql.changelog_name(table)
    ghk, old = osc_sql.checkpoint_name(table), osc_sql.old_name(table)
    helpers = tuple(t for t in (ghost, ghc, ghk) if t in tables)
    old_is_sentry = tables.get(old) == SENTRY_COMMENT
    sentry = (old,) if old_is_sentry else ()
    if ghost not in tables and old in tables and not old_is_sentry and table in tables:
        drop = tuple(t for t in (ghc, ghk) if t in tables)
        return Recovery("COMPLETED", "the guest agent restarted after the cut-over; the "
                        "migration had completed", drop + (() if keep_old_table else (old,)))
    if ghost in tables and ghk in tables and checkpointed and table in tables:
        return Recovery("RUNNING", "the guest agent restarted during the migration; it "
                        "resumes from its last checkpoint", sentry)
    return Recovery("FAILED", "the guest agent restarted during the migration; it was "
                    "stopped and its ghost and changelog tables were dropped (the original "
                    "table is unchanged); create the migration again", helpers + sentry)


def progress_of(status: dict) -> dict:
    """The API's ``progress`` block from ``Migration.status()`` (pure)."""
    estimate = max(status["rows_estimate"], status["rows_copied"])
    if status["copy_complete"]:
        percent = 100.0
    else:
        percent = round(100.0 * status["rows_copied"] / estimate, 1) if estimate else 0.0
    eta = status["eta_seconds"]
    state = status["state"]
    return {"rows_copied": status["rows_copied"], "rows_estimated": estimate,
            "percent": percent, "eta_seconds": eta if eta >= 0 else None,
            "backlog_events": status["backlog"], "dml_applied": status["dml_applied"],
            "lag_seconds": round(status["heartbeat_lag"], 3),
            "elapsed_seconds": round(status["elapsed"], 1),
            "copy_seconds": round(status["copy_elapsed"], 1),
            "throttle_reason": state.split(", ", 1)[1] if state.startswith("throttled, ")
            else None,
            "cut_over_lock_seconds": status.get("cut_over_lock_seconds") or []}


class _Job:
    def __init__(self, record: dict[str, Any], migration: Migration,
                 postpone_file: str) -> None:
        self.record = record
        self.migration = migration
        self.postpone_file = postpone_file
        self.aborted = False


class SchemaMigrations:
    """The guest's migrations: start, act on, report, recover (see module docstring)."""

    def __init__(self, server_fn: Callable[[], MariaDBServer], state: GuestState,
                 notify_fn: Callable[[], None], work_dir: str, instance_id: str="") -> None:
        """``server_fn()`` -> the MariaDBServer; ``notify_fn()`` asks for a heartbeat."""
        self.instance_id = instance_id
        self.server_fn = server_fn
        self.state = state
        self.notify = notify_fn
        self.work_dir = work_dir
        self._lock = threading.RLock()
        self._jobs: dict[str, _Job] = {}
        self._ticker: threading.Thread | None = None
        self._replica_lags: dict | None = None  # the last {replica: lag} the control plane sent

    # -- records in GuestState ---------------------------------------------------
    def _records(self) -> dict[str, dict[str, Any]]:
        return dict(self.state.read().get("schema_migrations") or {})

    def _save(self, record: dict[str, Any]) -> None:
        with self._lock:
            records = self._records()
            records[record["id"]] = record
            now = time.time()
            records = {k: r for k, r in records.items() if r["status"] not in FINAL
                       or now - r.get("finished_at", now) < KEEP_FINISHED_SECONDS}
            self.state.update(schema_migrations=records)

    # -- start -----------------------------------------------------------------------
    def start(self, spec: dict) -> dict:
        """Check the table and the ALTER, then run the migration in the background.

        NotFound for a missing table, Conflict when one runs on the same table,
        BadRequest for an ALTER the server refuses on an empty copy of the table.
        Returns the migration's report.
        """
        db, table = spec["database"], spec["table"]
        with self._lock:
            for job in self._jobs.values():
                r = job.record
                if r["status"] not in FINAL and (r["database"].lower(), r["table"].lower()) \
                        == (db.lower(), table.lower()):
                    raise exceptions.Conflict(reason="schema migration %s is already running "
                                                     "on %s.%s" % (r["id"], db, table))
            server = self.server_fn()
            check_table_and_alter(server.connect, db, table, spec["alter"])
            job = self._launch(spec, server)
        steps.mark("schema_migration", "started", self.instance_id)
        self.notify()
        return self._report_one(job)

    def _launch(self, spec: dict, server: MariaDBServer, resume: bool=False) -> _Job:
        """Record and start the engine's thread (``resume``: from its checkpoint)."""
        record = {"id": spec["id"], "database": spec["database"], "table": spec["table"],
                  "status": "RUNNING", "progress": None, "fail_reason": None,
                  "keep_old_table": bool(spec.get("keep_old_table")),
                  "started_at": time.time(), "spec": spec}
        os.makedirs(self.work_dir, exist_ok=True)
        postpone_file = os.path.join(self.work_dir, "osc-%s.postpone" % spec["id"])
        if spec.get("postpone_cut_over") and not resume:
            open(postpone_file, "w").close()
        migration = Migration(self._request(spec, server, resume),
                              self._tunables(spec, postpone_file),
                              log=logging.getLogger("trove_lite.osc.%s" % spec["id"][:8]),
                              status_out=_NullOut())
        if self._replica_lags is not None:
            migration.tunables.report_replica_lags(self._replica_lags)
        migration.hooks.on_event = self._mark_step
        job = _Job(record, migration, postpone_file)
        with self._lock:
            self._save(record)
            self._jobs[spec["id"]] = job
        threading.Thread(target=self._run, args=(job,), name="osc-%s" % spec["id"][:8],
                         daemon=True).start()
        self._start_ticker()
        return job

    @staticmethod
    def _request(spec: dict, server: MariaDBServer, resume: bool=False) -> MigrationRequest:
        return MigrationRequest(
            database=spec["database"], table=spec["table"], alter=spec["alter"],
            user="root", password="", unix_socket=server.socket, host="localhost",
            checkpoint=True, checkpoint_seconds=CHECKPOINT_SECONDS, resume=resume,
            allow_on_master=True, assume_rbr=True, ok_to_drop_table=not spec.get(
                "keep_old_table"), default_retries=int(spec.get("cut_over_retries") or 10),
            cut_over_lock_timeout_seconds=int(spec.get("cut_over_lock_timeout_seconds") or 3))

    @staticmethod
    def _tunables(spec: dict, postpone_file: str) -> Tunables:
        values = {flag: spec[key] for key, flag in TUNABLE_KEYS.items()
                  if spec.get(key) is not None}
        values["postpone-cut-over-flag-file"] = postpone_file
        # not gh-ost's /tmp/gh-ost.throttle: another tenant's file must not throttle us
        values["throttle-additional-flag-file"] = ""
        return Tunables(values)

    def _run(self, job: _Job) -> None:
        m, record = job.migration, job.record
        error = m.run()
        if error is None:
            record.update(status="COMPLETED", fail_reason=None)
            steps.mark("schema_migration", "completed", self.instance_id)
        else:
            aborted = job.aborted or isinstance(error, Aborted)
            try:
                self._drop_helpers(record["database"], record["table"])
            except Exception as exc:  # report it; the migration failed either way
                LOG.exception("schema migration %s: dropping its tables failed", record["id"])
                error_text = "%s (and dropping its tables failed: %s)" % (error.message, exc)
            else:
                error_text = error.message
            if aborted:
                record.update(status="ABORTED", fail_reason="aborted by the user; its ghost "
                              "and changelog tables were dropped")
            else:
                record.update(status="FAILED", fail_reason=error_text[:2000])
        record.update(progress=progress_of(m.status()), finished_at=time.time())
        _unlink(job.postpone_file)
        self._save(record)
        LOG.info("schema migration %s on %s.%s: %s%s", record["id"], record["database"],
                 record["table"], record["status"],
                 ": %s" % record["fail_reason"] if record["fail_reason"] else "")
        self.notify()

    def _mark_step(self, event: str) -> None:
        step = HOOK_STEPS.get(event)
        if step:
            steps.mark("schema_migration", step, self.instance_id)

    def _drop_helpers(self, db: str, table: str) -> None:
        """Drop the ghost, changelog and checkpoint tables, and the sentry if one is left."""
        conn = self.server_fn().connect()
        try:
            tables = existing_tables(conn, db, table)
            drop = [osc_sql.ghost_name(table), osc_sql.changelog_name(table),
                    osc_sql.checkpoint_name(table)]
            if tables.get(osc_sql.old_name(table)) == SENTRY_COMMENT:
                drop.append(osc_sql.old_name(table))
            with conn.cursor() as cur:
                for name in drop:
                    if name in tables:
                        cur.execute(osc_sql.drop_table(db, name))
        finally:
            conn.close()

    # -- actions ------------------------------------------------------------------------
    def action(self, migration_id: str, name: str, values: dict | None = None) -> dict:
        """``cut_over``, ``abort``, ``throttle``, ``unthrottle`` or ``set`` (tunables)."""
        with self._lock:
            job = self._jobs.get(migration_id)
            if job is None or job.record["status"] in FINAL:
                status = job.record["status"] if job else "not running on this guest"
                raise exceptions.Conflict(reason="schema migration %s is %s" % (
                    migration_id, status))
        m = job.migration
        if name == "cut_over":
            _unlink(job.postpone_file)
            m.unpostpone()
        elif name == "abort":
            job.aborted = True
            m.abort()
        elif name == "throttle":
            m.throttle()
        elif name == "unthrottle":
            m.no_throttle()
        elif name == "set":
            apply_tunables(m.tunables, values or {})
        else:
            raise exceptions.BadRequest(reason="unknown schema migration action %r" % name)
        self.notify()
        return self._report_one(job)

    def report_replica_lags(self, lags: dict) -> None:
        """On a replication source: the replicas' lag (seconds, None unknown) as the
        control plane sees it; running migrations throttle above their max_lag_millis."""
        with self._lock:
            self._replica_lags = dict(lags)
            for job in self._jobs.values():
                if job.record["status"] not in FINAL:
                    job.migration.tunables.report_replica_lags(lags)

    # -- reporting ----------------------------------------------------------------------
    def _report_one(self, job: _Job) -> dict[str, Any]:
        record = dict(job.record)
        if record["status"] not in FINAL:
            st = job.migration.status()
            p = job.migration.progress
            record["status"] = status_of(st["phase"], p.postponing, p.throttle_reason)
            record["progress"] = progress_of(st)
            record["progress"]["settings"] = {k: _tunable_value(job.migration.tunables, k)
                                              for k in TUNABLE_KEYS}
            if self._replica_lags is not None:
                record["progress"]["replica_lags"] = dict(self._replica_lags)
        record.pop("keep_old_table", None)
        record.pop("spec", None)
        return record

    def report(self) -> list:
        """Every migration this guest knows, for the heartbeat."""
        with self._lock:
            out = {mid: self._report_one(job) for mid, job in self._jobs.items()}
        for mid, record in self._records().items():
            if mid not in out:  # finished, or left by a previous agent and not settled yet
                record = dict(record)
                record.pop("keep_old_table", None)
                record.pop("spec", None)
                out[mid] = record
        return list(out.values())

    def _start_ticker(self) -> None:
        if self._ticker is not None and self._ticker.is_alive():
            return

        def tick() -> None:
            while True:
                time.sleep(REPORT_INTERVAL)
                with self._lock:
                    running = any(j.record["status"] not in FINAL for j in self._jobs.values())
                if not running:
                    return
                self.notify()
        ticker = self._ticker = threading.Thread(target=tick, name="osc-report", daemon=True)
        ticker.start()

    # -- after an agent restart -------------------------------------------------------
    def recover(self) -> None:
        """Settle the migrations a previous agent process left unfinished: resume from
        a checkpoint, or fail cleanly, or complete (see ``recovery_action``)."""
        with self._lock:
            pending = [r for r in self._records().values()
                       if r["status"] not in FINAL and r["id"] not in self._jobs]
        for record in pending:
            try:
                server = self.server_fn()
                conn = server.connect()
                try:
                    db = record["database"]
                    tables = existing_tables(conn, db, record["table"])
                    ghk = osc_sql.checkpoint_name(record["table"])
                    rec = recovery_action(record["table"], tables,
                                          record.get("keep_old_table", False),
                                          ghk in tables and record.get("spec") is not None
                                          and _has_rows(conn, db, ghk))
                    with conn.cursor() as cur:
                        for name in rec.drop:
                            cur.execute(osc_sql.drop_table(db, name))
                finally:
                    conn.close()
                LOG.info("schema migration %s: %s (%s)", record["id"], rec.status, rec.reason)
                if rec.status == "RUNNING":
                    self._launch(record["spec"], server, resume=True)
                    continue
            except Exception as exc:  # the server may not be up yet: next heartbeat
                LOG.warning("schema migration %s: recovery failed (%s); will retry",
                            record["id"], exc)
                continue
            record.update(status=rec.status, finished_at=time.time(),
                          fail_reason=rec.reason if rec.status == "FAILED" else None)
            self._save(record)


def _has_rows(conn: Connection, db: str, table: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("select 1 from %s limit 1" % osc_sql.qualified(db, table))
        return cur.fetchone() is not None


def apply_tunables(tunables: Tunables, values: dict) -> None:
    """Change a running migration's tunables (API names); a bad value is BadRequest."""
    try:
        for key, value in values.items():
            if key not in TUNABLE_KEYS:
                raise ValueError("unknown setting %r" % key)
            tunables.set(TUNABLE_KEYS[key], value)
    except ValueError as exc:
        raise exceptions.BadRequest(reason=str(exc))


def _tunable_value(t: Tunables, key: str) -> Any:
    value = getattr(t, key)
    if isinstance(value, dict):
        return ",".join("%s=%g" % kv for kv in value.items())
    return value


# ALTER errors that mean the statement itself is wrong (syntax, unknown or duplicate
# names); anything else the probe meets is left to the engine, which reports it
# (syntax, unknown data type, unknown/duplicate column or key, bad default, bad key spec)
ALTER_INPUT_ERRORS = frozenset([1054, 1060, 1061, 1063, 1064, 1067, 1068, 1071, 1072, 1074,
                                1075, 1089, 1091, 1101, 1166, 1170, 1176, 4161])


def check_table_and_alter(connect: Callable[[], Connection], db: str, table: str,
                          alter: str) -> None:
    """NotFound when the table is missing; BadRequest when the server refuses the ALTER
    on an empty temporary copy of it (nothing is written to the binlog)."""
    import pymysql
    from trove_lite.osc import conn as osc_conn
    conn = connect()
    probe = "_trove_osc_probe"
    try:
        with conn.cursor() as cur:
            cur.execute("select table_type from information_schema.tables "
                        "where table_schema=%s and table_name=%s", (db, table))
            row = cur.fetchone()
            if row is None:
                raise exceptions.NotFound(kind="Table", id="%s.%s" % (db, table))
            if row[0] != "BASE TABLE":
                raise exceptions.BadRequest(reason="%s.%s is a %s, not a table" % (
                    db, table, row[0].lower()))
            cur.execute("create temporary table %s like %s" % (
                osc_sql.qualified(db, probe), osc_sql.qualified(db, table)))
            try:
                cur.execute(osc_sql.alter_table(db, probe, alter))
            except pymysql.MySQLError as exc:
                if osc_conn.error_code(exc) in ALTER_INPUT_ERRORS:
                    raise exceptions.BadRequest(reason="the ALTER is refused: %s" %
                                                osc_conn.fatal_text(exc, conn))
                LOG.info("ALTER probe of %s.%s: %s (left to the engine)", db, table, exc)
    except pymysql.MySQLError as exc:
        LOG.info("ALTER probe of %s.%s could not run: %s", db, table, exc)
    finally:
        conn.close()  # drops the temporary table


def existing_tables(conn: Connection, db: str, table: str) -> dict:
    """{name: comment} of the original, helper and old tables that exist."""
    names = (table, osc_sql.ghost_name(table), osc_sql.changelog_name(table),
             osc_sql.checkpoint_name(table), osc_sql.old_name(table))
    with conn.cursor() as cur:
        cur.execute("select table_name, table_comment from information_schema.tables "
                    "where table_schema=%%s and table_name in (%s)" % ",".join(
                        ["%s"] * len(names)), (db, *names))
        return {r[0]: r[1] for r in cur.fetchall()}


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class _NullOut:
    """The engine's status lines go nowhere: the heartbeat carries the numbers."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass
