"""The migration, as a linear script, and the library API the guest agent drives.

    m = Migration(request, tunables)      # request: context.MigrationRequest
    m.start()                             # runs in a thread; or m.run() to block
    m.status() -> dict                    # any thread
    m.throttle() / m.no_throttle() / m.unpostpone() / m.panic() / m.abort()
    m.wait(timeout) -> bool               # True when finished; m.error is None on success

One thread (the migrator) writes the ghost table: it applies every queued
binlog event before copying the next chunk. Other threads: streamer (reads),
heartbeat (writes the changelog), throttler (reads), status printer, control
socket. Failure: any error ends the run with ``error`` set (a MigrationError
with gh-ost's text or a server error rendered as ``Error <code> (<state>): ...``);
the ghost and changelog tables are left for inspection, the original is untouched.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import pymysql

from trove_lite.osc import applier as applier_mod
from trove_lite.osc import conn as dbconn
from trove_lite.osc import cutover as cutover_mod
from trove_lite.osc import inspector as insp
from trove_lite.osc import sql
from trove_lite.osc import status as status_mod
from trove_lite.osc.context import MigrationRequest, Progress, Tunables
from trove_lite.osc.errors import MigrationError
from trove_lite.osc.hooks import Hooks
from trove_lite.osc.parser import AlterPlan, parse_alter
from trove_lite.osc.events import Change, STATE
from trove_lite.osc.streamer_process import ProcessStreamer
from trove_lite.osc.throttler import CriticalLoad, HttpCheck, Throttler
from trove_lite.osc.conn import Connection, ConnectionConfig

SENTINEL = "AllEventsUpToLockProcessed"
CATCH_UP = "AllEventsUpToCatchUpProcessed"     # the same round trip, before the lock
# while this engine's own binlog reader lags, each chunk copy is followed by a rest this
# many times as long as the chunk took (at most half the copy rate)
READER_LAG_NICE_RATIO = 1.0

# a backlog is applied in batches this large (see Migration._take_batch); 4 MiB stays
# far below the server's max_allowed_packet (16 MiB) with the statements' text
BACKLOG_BATCH_ROWS = 1000
BACKLOG_BATCH_BYTES = 4 << 20


@dataclasses.dataclass(frozen=True)
class TableNames:
    ghost: str
    changelog: str
    old: str
    checkpoint: str

    @classmethod
    def for_request(cls, req: MigrationRequest) -> TableNames:
        prefix = req.table_prefix
        stamp = time.strftime("%Y%m%d%H%M%S") if req.timestamp_old_table else None
        return cls(sql.ghost_name(prefix), sql.changelog_name(prefix),
                   sql.old_name(prefix, stamp), sql.checkpoint_name(prefix))


class Aborted(MigrationError):
    code = "osc_aborted"


class StatusOut(Protocol):
    """Where the status lines go (stdout by default; the guest discards them)."""

    def write(self, text: str, /) -> Any: ...

    def flush(self) -> Any: ...


class Migration:
    """One online schema migration; see module docstring for the API."""

    def __init__(self, request: MigrationRequest, tunables: Tunables | None = None,
                 log: logging.Logger | None = None, status_out: StatusOut | None = None,
                 test_pause: str = "") -> None:
        self.request = request
        self.tunables = tunables or Tunables()
        self.progress = Progress()
        self.log = log or logging.getLogger("trove_lite.osc")
        self.status_out = status_out
        self.names = TableNames.for_request(request)
        self.hooks = Hooks(request, self.names, self.log)
        self.error: MigrationError | None = None
        self._test_pause = test_pause           # "phase:seconds", first attempt only
        self._panic = threading.Event()
        self._thread: threading.Thread | None = None
        self._parts: list[Callable[[], object]] = []
        # each part from its phase of the script on
        self.streamer: ProcessStreamer | None = None
        self.applier: applier_mod.Applier | None = None
        self.throttler: Throttler | None = None
        self.heartbeat: applier_mod.Heartbeat | None = None
        self.servers: dict[str, str] = {}
        self._sentinel_seen: set[str] = set()
        self._last_status_second = -1
        self._applied_coords = ""

    # -- library API --------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="osc-migrator", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        return self.progress.done.wait(timeout)

    def throttle(self) -> None:
        self.tunables.user_throttle = True

    def no_throttle(self) -> None:
        self.tunables.user_throttle = False

    def unpostpone(self) -> None:
        self.tunables.user_unpostponed = True

    def panic(self) -> None:
        self._panic.set()

    abort = panic

    def status(self) -> dict[str, Any]:
        s = self._snapshot()
        out = dataclasses.asdict(s)
        out.update(phase=self.progress.phase, result=self.progress.result,
                   profile=self.profile(),
                   cut_over_lock_seconds=list(self.progress.cut_over_lock_seconds),
                   eta_seconds=status_mod.eta_seconds(s))
        return out

    def server_text(self, role: str) -> str:
        """``Host: h:p, Version: v`` of the 'inspector' or 'applier' (empty before it
        is connected), as gh-ost's socket commands of those names print it."""
        return self.servers.get(role, "")

    def status_text(self, detailed: bool = True) -> str:
        line = status_mod.status_line(self._snapshot())
        if not detailed:
            return line
        r = self.request
        return ("# Migrating %s; Ghost table is %s\n# Migration started at %s\n"
                "# chunk-size: %d; max-lag-millis: %dms; dml-batch-size: %d; max-load: %s; "
                "critical-load: %s; nice-ratio: %f\n# throttle-flag-file: %s\n"
                "# postpone-cut-over-flag-file: %s\n%s" % (
                    sql.qualified(r.database, r.table), sql.qualified(r.database, self.names.ghost),
                    time.ctime(self.progress.start_time), self.tunables.chunk_size,
                    self.tunables.max_lag_millis, self.tunables.dml_batch_size,
                    self.tunables.max_load, self.tunables.critical_load, self.tunables.nice_ratio,
                    self.tunables.throttle_flag_file, self.tunables.postpone_flag_file, line))

    def coordinates(self) -> str:
        return self.streamer.coordinates if self.streamer else ""

    # -- the script -----------------------------------------------------------
    def run(self) -> MigrationError | None:
        """Run to the end in this thread. Returns None on success; sets and returns ``error``."""
        try:
            self._migrate()
            self.progress.result = "success"
        except Exception as exc:
            self.error = exc if isinstance(exc, MigrationError) else MigrationError(
                dbconn.fatal_text(exc) if dbconn.error_code(exc) else
                "Unexpected exception raised, please report it as a BUG: %r" % exc)
            self.progress.result = self.error.message
            try:
                self.hooks.run("failure", self._hook_env())
            except Exception as hook_exc:  # the migration already failed; report both
                self.log.error("failure hook failed: %s", hook_exc)
        finally:
            self._stop_parts()
            self.progress.done.set()
        return self.error

    def _migrate(self) -> None:
        req = self.request
        self.hooks.run("startup", self._hook_env())
        plan = parse_alter(req.alter)
        refusal = insp.check_alter_plan(plan, req.approve_renamed_columns, req.skip_renamed_columns)
        if refusal:
            raise MigrationError(refusal)
        inspector_cfg = dbconn.ConnectionConfig(req.host, req.port, req.user, req.password,
                                                req.unix_socket)
        iconn = dbconn.connect(inspector_cfg, req.database)
        self._parts.append(iconn.close)
        inspector = insp.Inspector(iconn, req, self.log)
        self.servers["inspector"] = _server_text(inspector_cfg, iconn)
        applier_cfg = self._choose_servers(inspector, inspector_cfg)
        self._inspect(inspector, req)
        if req.attempt_instant_ddl and self._try_instant(applier_cfg, plan):
            self.hooks.run("success", self._hook_env())
            return
        start_gtid = dbconn.query_one(iconn, "select @@global.gtid_binlog_pos")[0]
        self.applier = applier_mod.Applier(applier_cfg, req, self.names, self.log)
        self.applier.connect()
        self._parts.append(self.applier.close)
        self.servers["applier"] = _server_text(applier_cfg, self.applier.copy_conn)
        checkpoint = self._prepare_tables(plan)
        if checkpoint:
            start_gtid = checkpoint["coords"]
            self.log.info("Resuming from checkpoint coords=%s chunk_end=%s", start_gtid,
                          checkpoint["chunk_end"])
        self._applied_coords = start_gtid
        self._start_streamer(inspector_cfg, start_gtid)
        self._plan_rows(iconn, plan)
        if not req.execute:
            self.log.info("Noop operation; not really executing: dropping ghost and changelog")
            self.applier.drop(self.names.ghost)
            self.applier.drop(self.names.changelog)
            return
        self.hooks.run("validated", self._hook_env())
        self._start_background(applier_cfg, inspector_cfg)
        assert self.heartbeat is not None  # started just above
        self.heartbeat.write("state", "GhostTableMigrated", sql.CHANGELOG_STATE_ID)
        self.progress.rows_estimate = inspector.estimate_rows(req.database, req.table,
                                                             self._table_rows)
        self.hooks.run("rowcount-complete", self._hook_env())
        self.hooks.run("before-row-copy", self._hook_env())
        self._copy_rows(checkpoint)
        self.hooks.run("row-copy-complete", self._hook_env())
        self._postpone()
        if req.analyze_ghost_table_before_cutover:
            self.applier.run("analyze table %s" % sql.qualified(req.database, self.names.ghost))
        self.hooks.run("before-cut-over", self._hook_env())
        self._cut_over(inspector)
        self._finish()
        self.hooks.run("success", self._hook_env())

    # -- phases ------------------------------------------------------------------
    def _choose_servers(self, inspector: insp.Inspector,
                        inspector_cfg: ConnectionConfig) -> ConnectionConfig:
        """Decide where writes go: the inspected server, or the master found from it."""
        req = self.request
        replica = inspector.replica_status()
        if req.test_on_replica or req.migrate_on_replica:
            if replica is None:
                raise MigrationError("--test-on-replica or --migrate-on-replica given, but %s:%d "
                                     "is not a replica" % (req.host, req.port))
            inspector.validate_log_slave_updates("testing/migrating on replica")
            return inspector_cfg
        if replica is None and not req.assume_master_host:
            if not req.allow_on_master:
                raise MigrationError(
                    "It seems like this migration attempt to run directly on master. Preferably "
                    "it would be executed on a replica (and this reduces load from the master). "
                    "To proceed please provide --allow-on-master.")
            return inspector_cfg
        port: str | int
        if req.assume_master_host:
            host, _, port = req.assume_master_host.partition(":")
            port = int(port or 3306)
        else:
            assert replica is not None  # else refused or returned above
            host, port = replica["Master_Host"], int(replica["Master_Port"])
        if replica is not None:
            inspector.validate_log_slave_updates("executing migration")
        self.log.info("Master found to be %s:%d", host, port)
        cfg = inspector_cfg.with_host(host, port)
        if req.master_user:
            cfg = dataclasses.replace(cfg, user=req.master_user,
                                      password=req.master_password or req.password)
        return cfg

    def _inspect(self, inspector: insp.Inspector, req: MigrationRequest) -> None:
        inspector.validate_grants()
        inspector.validate_binlogs()
        self._table_rows = inspector.validate_table(req.database, req.table)
        inspector.validate_foreign_keys(req.database, req.table)
        self._triggers = inspector.validate_triggers(req.database, req.table)
        self.log.info("Inspector initiated on %s:%d", req.host, req.port)

    def _try_instant(self, applier_cfg: ConnectionConfig, plan: AlterPlan) -> bool:
        c = dbconn.connect(applier_cfg, self.request.database)
        try:
            dbconn.execute(c, sql.alter_table(self.request.database, self.request.table,
                                              plan.alter + ", ALGORITHM=INSTANT"))
            self.log.info("Success! table %s migrated instantly",
                          sql.qualified(self.request.database, self.request.table))
            return True
        except pymysql.MySQLError as exc:
            self.log.info("ALGORITHM=INSTANT is not supported for this operation. Proceeding "
                          "with original algorithm: %s", exc)
            return False
        finally:
            c.close()

    def _prepare_tables(self, plan: AlterPlan) -> dict[str, Any] | None:
        """Create (or, with --resume, reuse) changelog, ghost and checkpoint tables."""
        req, a, n = self.request, self.applier, self.names
        assert a is not None  # connected before the tables
        if req.resume:
            if not a.table_exists(n.ghost):
                raise MigrationError("--resume requested but ghost table %s does not exist"
                                     % sql.qualified(req.database, n.ghost))
            cp = a.read_checkpoint()
            if cp is None:
                raise MigrationError("--resume requested but no checkpoint found in %s"
                                     % sql.qualified(req.database, n.checkpoint))
            if not a.table_exists(n.changelog):
                a.create_changelog()
            return cp
        for table, flag, flag_name in ((n.ghost, req.initially_drop_ghost_table, "ghost"),
                                       (n.old, req.initially_drop_old_table, "old")):
            if a.table_exists(table):
                if not flag:
                    raise MigrationError(
                        "Table %s already exists. Panicking. Use --initially-drop-%s-table to "
                        "force dropping it, though I really prefer that you drop it or rename it "
                        "away" % (sql.quote(table), flag_name))
                self.log.info("Dropping table %s", sql.qualified(req.database, table))
                a.drop(table)
        a.create_changelog()
        self.log.info("Creating ghost table %s", sql.qualified(req.database, n.ghost))
        a.create_ghost(plan.alter)
        a.copy_auto_increment(plan.alter)
        self.log.info("Ghost table altered")
        if req.checkpoint:
            a.drop(n.checkpoint)
            a.create_checkpoint_table()
        return None

    def _plan_rows(self, iconn: Connection, plan: AlterPlan) -> None:
        req = self.request
        orig_cols = insp.read_columns(iconn, req.database, req.table)
        assert self.applier is not None  # connected before the plan
        ghost_cols = insp.read_columns(self.applier.copy_conn, req.database, self.names.ghost)
        orig_keys = insp.read_unique_keys(iconn, req.database, req.table, orig_cols)
        ghost_keys = insp.read_unique_keys(self.applier.copy_conn, req.database,
                                           self.names.ghost, ghost_cols)
        key, error = insp.choose_shared_key(orig_keys, ghost_keys, plan,
                                            req.allow_nullable_unique_key)
        if error:
            raise MigrationError(error)
        assert key is not None  # a key, or the error raised above
        error = insp.check_datetime_to_timestamp(orig_cols, ghost_cols, key, plan)
        if error:
            raise MigrationError(error)
        src, dst = insp.shared_columns(orig_cols, ghost_cols, plan, req.skip_renamed_columns)
        self.log.info("Chosen shared unique key is %s", key.name)
        self.log.info("Shared columns are %s", ",".join(src))
        mapper = applier_mod.RowMapper(orig_cols, src, dst, key.columns, req.allow_zero_in_date,
                                       ghost_cols)
        self.applier.set_plan(key, mapper)

    def _start_streamer(self, cfg: ConnectionConfig, start_gtid: str) -> None:
        self.streamer = ProcessStreamer(cfg, self.request.database, self.request.table,
                                        self.names.changelog, start_gtid,
                                        self.request.replica_server_id, self.log)
        self.streamer.start()
        self._parts.append(self.streamer.stop)
        self.log.info("Beginning streaming at gtid %s", start_gtid or "(empty)")

    def _start_background(self, applier_cfg: ConnectionConfig,
                          inspector_cfg: ConnectionConfig) -> None:
        req = self.request
        self.heartbeat = applier_mod.Heartbeat(
            applier_cfg, req.database, self.names.changelog,
            req.heartbeat_interval_millis / 1000.0, self.log,
            paused=lambda: self.throttler is not None and self.throttler.hibernating())
        self.heartbeat.start()
        self._parts.append(self.heartbeat.stop)
        http = None
        if req.throttle_http:
            http = HttpCheck(req.throttle_http, req.throttle_http_interval_millis,
                             req.throttle_http_timeout_millis, req.ignore_http_errors, self.log)
        streamer = self.streamer
        assert streamer is not None  # streaming since the tables were prepared
        self.throttler = Throttler(
            inspector_cfg, req.database, self.tunables, lambda: streamer.heartbeat_lag,
            req.panic_flag_file, self.log, changelog=self.names.changelog,
            critical=CriticalLoad(req.critical_load_interval_millis,
                                  req.critical_load_hibernate_seconds, self.log),
            http=http, own_reader_lag=_same_server(applier_cfg, inspector_cfg))
        self.throttler.start()
        self._parts.append(self.throttler.stop)
        stop = threading.Event()
        t = threading.Thread(target=self._status_loop, args=(stop,), name="osc-status",
                             daemon=True)
        t.start()
        self._parts.append(stop.set)

    def _stop_parts(self) -> None:
        for stop in reversed(self._parts):
            try:
                stop()
            except Exception as exc:  # shutting down; report and continue
                self.log.debug("stopping %s failed: %s", stop, exc)
        self._parts = []

    # -- row copy ----------------------------------------------------------------
    def _copy_rows(self, checkpoint: dict[str, Any] | None) -> None:
        a, p = self.applier, self.progress
        assert a is not None  # connected before the copy
        p.phase = "migrating"
        p.copy_start_time = time.time()
        if checkpoint:
            start = applier_mod.from_jsonable(checkpoint["chunk_end"])
            range_max = applier_mod.from_jsonable(checkpoint["range_max"])
            p.rows_copied, p.dml_applied = checkpoint["rows_copied"], checkpoint["dml_applied"]
            p.iteration = checkpoint["iteration"]
            inclusive = start is None
            if start is None:
                start, _ = a.read_range()
        else:
            start, range_max = a.read_range()
            inclusive = True
        self.log.info("Migration min values: [%s]; max values: [%s]", start, range_max)
        last_cp = time.monotonic()
        ahead = None  # ((start, inclusive, chunk size), future of that chunk's end)
        # keys the copy has not reached yet: their binlog changes can wait for the copy.
        # Not after --resume: rows copied past the checkpoint before the crash are in
        # the ghost table, and the replayed changes must reach them.
        track = (a.key.all_integer and not a.key.nullable and range_max is not None
                 and not checkpoint)
        if track:
            assert start is not None and range_max is not None  # a range was read
            a.pending = applier_mod.PendingRange(start, inclusive, range_max)
        t = p.timings
        while start is not None and range_max is not None:
            mark = time.monotonic()
            self._wait_unthrottled()
            t["throttled"] += _since(mark)
            mark = time.monotonic()
            batch = self._apply_backlog(max_seconds=1.0, keep_last=True)
            t["apply"] += _since(mark)
            assert self.throttler is not None  # started before the copy
            reader_lag = self.throttler.current.reader_lag
            chunk = self.tunables.chunk_size
            mark = time.monotonic()
            if ahead is not None and ahead[0] == (start, inclusive, chunk):
                end = ahead[1].result()
            else:
                end = a.next_chunk_end(start, range_max, chunk, inclusive)
            t["bounds"] += _since(mark)
            ahead = None
            if end != list(range_max):
                ahead = ((end, False, chunk),
                         a.prefetch_chunk_end(end, range_max, chunk, False))
            began = time.monotonic()
            copied, applied = a.copy_chunk(start, end, inclusive, batch[0] if batch else None)
            t["copy"] += _since(began)
            p.chunks += 1
            p.rows_copied += copied
            if track:
                a.pending = applier_mod.PendingRange(end, False, range_max)
            if batch:
                self._applied(batch, applied)
            p.iteration += 1
            if end == list(range_max):
                start = None
            else:
                start, inclusive = end, False
            self._test_pause_at("row-copy")
            # our own binlog reader is behind: binlog events first, and the copy goes on at
            # half its rate or less, so the reader gets the CPU and the server the time it
            # needs, and the migration converges whenever the reader keeps up on average
            nice = max(self.tunables.nice_ratio, READER_LAG_NICE_RATIO if reader_lag else 0.0)
            if nice > 0:
                nap = (time.monotonic() - began) * nice
                rest_end = time.monotonic() + nap
                if reader_lag:  # the rest goes to the backlog first
                    self._apply_backlog(max_seconds=nap)
                time.sleep(max(0.0, rest_end - time.monotonic()))
                t["nice"] += nap
            if self.request.checkpoint and (
                    time.monotonic() - last_cp >= self.request.checkpoint_seconds):
                self._checkpoint(end if start is not None else range_max, range_max)
                last_cp = time.monotonic()
        a.pending = None
        p.copy_end_time = time.time()
        self.log.info("Row copy complete")

    def _checkpoint(self, chunk_end: list[Any] | None, range_max: list[Any]) -> None:
        self._apply_backlog(max_seconds=5.0)
        p = self.progress
        assert self.applier is not None  # checkpoints are taken while copying
        self.applier.write_checkpoint(self._applied_coords, p.iteration, p.rows_copied,
                                      p.dml_applied, chunk_end, range_max)
        self.log.info("checkpoint success at coords=%s", self._applied_coords)

    def _wait_unthrottled(self, reader_caught_up: bool = False) -> None:
        """Wait while throttled, applying the backlog where that helps. With
        ``reader_caught_up`` (before the cut-over) also wait until this engine's own binlog
        reader is within max-lag-millis, applying what it reads meanwhile."""
        while True:
            self._check_abort()
            assert self.throttler is not None  # started before the copy
            d = self.throttler.current
            if d.panic:
                raise MigrationError(d.panic)
            if reader_caught_up and not d.throttle and d.reader_lag:
                d = dataclasses.replace(d, throttle=True, reason=d.reader_lag)
            if not d.throttle:
                self.progress.throttle_reason = ""
                return
            self.progress.throttle_reason = d.reason
            if d.reason.startswith("lag=") and not self.throttler.hibernating():
                # the lag is this engine's own binlog reader's: it shrinks only as the
                # backlog is applied (a full queue stops the reader), so keep applying
                self._apply_backlog(max_seconds=0.05)
            time.sleep(0.05)

    def _check_abort(self) -> None:
        if self._panic.is_set():
            raise Aborted("User commanded 'panic'. The migration will be aborted without "
                          "cleanup. Please drop the gh-ost tables before trying again.")
        if self.streamer is not None and self.streamer.error is not None:
            raise MigrationError("binlog streamer failed: %s" % self.streamer.error)

    # -- binlog events -------------------------------------------------------------
    def _apply_backlog(self, max_seconds: float,
                       keep_last: bool = False) -> tuple[list[Change], str] | None:
        """Apply queued binlog transactions (batched) until the queue is empty or time is up.

        With ``keep_last`` the last batch (the one that empties the queue) is returned
        unapplied, for the next chunk copy to carry in its own transaction.
        """
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            self._check_abort()
            batch = self._take_batch()
            if batch is None:
                return None
            assert self.streamer is not None and self.applier is not None  # _take_batch read it
            if keep_last and self.streamer.queue.empty():
                return batch
            self._applied(batch, self.applier.apply_changes(batch[0]) if batch[0] else 0)
        return None

    def _take_batch(self) -> tuple[list[Change], str] | None:
        """Whole queued transactions up to --dml-batch-size row changes: (changes, coords),
        or None when nothing is queued.

        Under a backlog (more queued transactions than one batch holds) the batch grows
        to ``BACKLOG_BATCH_ROWS`` changes or ``BACKLOG_BATCH_BYTES`` of row values,
        whichever comes first: a backlog then drains with one commit per thousand
        changes instead of one per ten (each commit is a round trip and a log flush).
        Whole transactions only, in binlog order, so the batch is applied atomically
        and its coordinates are a transaction boundary, as with the small batches."""
        assert self.streamer is not None  # streaming since the tables were prepared
        q = self.streamer.queue
        limit = self.tunables.dml_batch_size
        changes: list[Change] = []
        coords: str | None = None
        size = 0
        while size < BACKLOG_BATCH_BYTES:
            if len(changes) >= limit:
                if limit >= BACKLOG_BATCH_ROWS or q.empty():
                    break
                limit = BACKLOG_BATCH_ROWS      # more is waiting: a backlog
            try:
                txn = q.get_nowait()
            except queue.Empty:
                break
            for change in txn.changes:
                if change[0] == STATE:
                    self._on_state(change[1], changes)
                else:
                    changes.append(change)
                    size += _change_bytes(change)
            coords = txn.coords
        return None if coords is None else (changes, coords)

    def _applied(self, batch: tuple[list[Change], str], ops: int) -> None:
        self.progress.dml_applied += ops
        self._applied_coords = self.progress.applied_coords = batch[1]
        assert self.streamer is not None  # batches come from it
        self.progress.backlog = self.streamer.queue.qsize()

    def _on_state(self, value: str | None, pending: list[Change]) -> None:
        if value and value.startswith((SENTINEL, CATCH_UP)):
            if pending:
                assert self.applier is not None  # changes are applied once it connected
                self.progress.dml_applied += self.applier.apply_changes(pending)
                pending.clear()
            self._sentinel_seen.add(value)

    def _wait_for_sentinel(self, timeout: float, marker: str = SENTINEL) -> bool:
        value = "%s:%d" % (marker, time.time_ns())
        assert self.heartbeat is not None  # started before the copy
        self.heartbeat.write("state", value, sql.CHANGELOG_STATE_ID)
        deadline = time.monotonic() + timeout
        while value not in self._sentinel_seen:
            if time.monotonic() > deadline:
                if marker != SENTINEL:
                    return False
                raise cutover_mod.CutOverFailed("Timeout while waiting for events up to lock")
            self._apply_backlog(max_seconds=0.05)
            if value not in self._sentinel_seen:
                time.sleep(0.0005)
        if marker == SENTINEL:
            self.log.info("Done waiting for events up to lock")
        return True

    # -- postpone and cut-over ---------------------------------------------------------
    def _postpone(self) -> None:
        t = self.tunables
        announced = False
        while t.postpone_flag_file and os.path.exists(t.postpone_flag_file) \
                and not t.user_unpostponed:
            if not announced:
                self.progress.postponing = True
                self.log.info("postponing cut-over: flag file %s exists", t.postpone_flag_file)
                self.hooks.run("begin-postponed", self._hook_env())
                announced = True
            assert self.throttler is not None  # started before the copy
            if not self.throttler.hibernating():  # critical-load: hands off the server
                self._apply_backlog(max_seconds=0.2)
            self._check_abort()
            if self.throttler.current.panic:
                raise MigrationError(self.throttler.current.panic)
            time.sleep(0.05)
        self.progress.postponing = False

    def _cut_over(self, inspector: insp.Inspector) -> None:
        req = self.request
        self.progress.phase = "cut-over"
        assert self.applier is not None  # connected before the copy
        cut = cutover_mod.CutOver(self.applier.cfg, req, self.names, self.log,
                                  pause=self._test_pause_at)
        if req.test_on_replica:
            return self._cut_over_on_replica(cut)
        retries = max(1, req.default_retries)
        for attempt in range(1, retries + 1):
            self._wait_unthrottled(reader_caught_up=True)
            self._catch_up()
            try:
                if req.cut_over == "two-step":
                    held = cut.two_step(self._wait_for_sentinel)
                else:
                    held = cut.attempt(self._wait_for_sentinel, self._create_ghost_triggers,
                                       self._catch_up_marker)
                self.progress.cut_over_lock_seconds.append(held)
                self.progress.cut_over_phases = dict(cut.phases)
                self.log.info("Lock & rename duration: %.3fs. During this time, queries on %s "
                              "were blocked", held, sql.quote(req.table))
                return
            except cutover_mod.CutOverFailed as exc:
                self.log.warning("cut-over attempt %d/%d failed: %s", attempt, retries, exc.message)
                self._test_pause = ""
                if attempt == retries:
                    raise
                self._backoff(attempt)

    def _catch_up(self, max_seconds: float = 30.0) -> None:
        """Before locking: apply the backlog until the streamer is near the head of the
        binlog, so the lock is held only for the last few events."""
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            self._apply_backlog(max_seconds=1.0)
            assert self.streamer is not None  # streaming since the tables were prepared
            if self.streamer.queue.qsize() == 0 and self.streamer.heartbeat_lag < 0.5:
                return
            time.sleep(0.01)

    def _catch_up_marker(self) -> None:
        """Just before the lock: a marker through the binlog, as the sentinel goes under
        the lock. Everything written before it is applied, so the locked wait covers
        only the events of the last moment."""
        self._wait_for_sentinel(2.0, CATCH_UP)

    def _backoff(self, attempt: int) -> None:
        if self.request.cut_over_exponential_backoff:
            time.sleep(min(2 ** (attempt - 1), self.request.exponential_backoff_max_interval))
        else:
            time.sleep(0.5)

    def _cut_over_on_replica(self, cut: cutover_mod.CutOver) -> None:
        assert self.applier is not None  # connected before the copy
        req, c = self.request, self.applier.copy_conn
        if not req.test_on_replica_skip_replica_stop:
            self.hooks.run("stop-replication", self._hook_env())
            dbconn.execute(c, "stop slave")
            self.log.info("Replication stopped")
        self._wait_for_sentinel(req.cut_over_lock_timeout_seconds * 3)
        dbconn.execute(c, sql.rename_atomic(req.database, req.table, self.names.old,
                                            self.names.ghost))
        dbconn.execute(c, sql.rename_atomic(req.database, req.table, self.names.ghost,
                                            self.names.old))
        self.log.info("Tables swapped and swapped back; replication left stopped. "
                      "Compare %s with %s", req.table, self.names.ghost)

    def _create_ghost_triggers(self) -> None:
        for name, timing, event, body in (getattr(self, "_triggers", None) or []):
            new = insp.ghost_trigger_name(name, self.request)
            assert self.applier is not None  # connected before the cut-over
            # a failed earlier attempt may have created some of them already
            self.applier.run("drop trigger if exists %s" % sql.qualified(
                self.request.database, new))
            self.applier.run(sql.create_trigger(self.request.database, new, timing, event,
                                                self.names.ghost, body))
            self.log.info("Created trigger %s on ghost table", sql.quote(new))

    def profile(self) -> dict[str, Any]:
        """Where the migration's time went: the migrator thread's seconds copying
        chunks (with the binlog batch each one carries), applying binlog batches
        between chunks, waiting for a chunk's bounds, throttled and resting
        (--nice-ratio); the binlog reader process's CPU seconds (row event decoding);
        and the phases of the last cut-over attempt, in seconds since the lock."""
        p = self.progress
        out: dict[str, Any] = {k: round(v, 3) for k, v in p.timings.items()}
        out.update(chunks=p.chunks, dml_applied=p.dml_applied,
                   decode_cpu=round(self.streamer.cpu_seconds(), 3) if self.streamer else 0.0,
                   cut_over={k: round(v * 1000, 1) for k, v in p.cut_over_phases.items()})
        if p.copy_start_time:
            out["copy_wall"] = round((p.copy_end_time or time.time()) - p.copy_start_time, 3)
        return out

    def _finish(self) -> None:
        req, a = self.request, self.applier
        assert a is not None  # connected before the cut-over
        self.progress.phase = "done"
        self.log.info("Profile: %s", " ".join(
            "%s=%s" % (k, ",".join("%s:%sms" % kv for kv in v.items()) if isinstance(v, dict)
                       else v) for k, v in self.profile().items()))
        self._print_status(force=True)
        self._stop_parts_except_applier()
        a.drop(self.names.changelog)
        if req.checkpoint or req.resume:
            a.drop(self.names.checkpoint)
        if req.ok_to_drop_table and not req.test_on_replica:
            a.drop(self.names.old)
        self.log.info("Done migrating %s", sql.qualified(req.database, req.table))

    def _stop_parts_except_applier(self) -> None:
        assert self.applier is not None  # connected before the cut-over
        keep: list[Callable[[], object]] = [self.applier.close]
        for stop in reversed(self._parts):
            if stop in keep:
                continue
            try:
                stop()
            except Exception as exc:  # shutting down
                self.log.debug("stopping %s failed: %s", stop, exc)
        self._parts = keep

    # -- status and hooks --------------------------------------------------------------
    def _state_text(self) -> str:
        p = self.progress
        if p.postponing:
            return "postponing cut-over"
        if p.throttle_reason:
            return "throttled, %s" % p.throttle_reason
        return "migrating"

    def _snapshot(self) -> status_mod.StatusSnapshot:
        p, s, now = self.progress, self.streamer, time.time()
        copy_elapsed = ((p.copy_end_time or now) - p.copy_start_time) if p.copy_start_time else 0
        lag = s.heartbeat_lag if s else 0.0
        return status_mod.StatusSnapshot(
            rows_copied=p.rows_copied, rows_estimate=p.rows_estimate, dml_applied=p.dml_applied,
            backlog=s.queue.qsize() if s else 0, backlog_size=s.queue.maxsize if s else 0,
            elapsed=now - p.start_time, copy_elapsed=copy_elapsed,
            coords=s.coordinates if s else "", lag=lag, heartbeat_lag=lag,
            state=self._state_text(), copy_complete=p.copy_end_time is not None)

    def _print_status(self, force: bool = False) -> None:
        elapsed = time.time() - self.progress.start_time
        if not force and not status_mod.should_print(elapsed, self._last_status_second):
            return
        self._last_status_second = int(elapsed)
        out = self.status_out or sys.stdout
        out.write(status_mod.status_line(self._snapshot()) + "\n")
        out.flush()

    def _status_loop(self, stop: threading.Event) -> None:
        last_hook = time.monotonic()
        while not stop.wait(0.2):
            try:
                self._print_status()
                if time.monotonic() - last_hook >= self.request.hooks_status_interval:
                    last_hook = time.monotonic()
                    self.hooks.run("status", self._hook_env())
            except Exception as exc:  # status must never kill the migration
                self.log.warning("status reporting failed: %s", exc)

    def _hook_env(self) -> dict[str, str]:
        s = self._snapshot()
        return {"GH_OST_ELAPSED_SECONDS": str(int(s.elapsed)),
                "GH_OST_ELAPSED_COPY_SECONDS": str(int(s.copy_elapsed)),
                "GH_OST_ESTIMATED_ROWS": str(s.rows_estimate),
                "GH_OST_COPIED_ROWS": str(s.rows_copied),
                "GH_OST_PROGRESS": "%f" % status_mod.progress_pct(s),
                "GH_OST_ETA_SECONDS": str(status_mod.eta_seconds(s)),
                "GH_OST_MIGRATED_HOST": self.request.host}

    def _test_pause_at(self, phase: str) -> None:
        """Test lever: TROVE_LITE_OSC_TEST_PAUSE=<phase>:<seconds> sleeps once at that phase."""
        if not self._test_pause:
            return
        name, _, seconds = self._test_pause.partition(":")
        if name == phase:
            self.log.info("test pause at %s for %ss", phase, seconds)
            self._test_pause = "" if phase != "row-copy" else self._test_pause
            time.sleep(float(seconds or 1))


def _change_bytes(change: Change) -> int:
    """A row change's size as it will be sent: its after-image (or its key's row, for a
    delete), estimated from the values' lengths."""
    values = change[2] if change[2] is not None else change[1]
    return sum(len(v) if isinstance(v, (str, bytes, bytearray)) else 8
               for v in (values or {}).values()) + 16


def _since(mark: float) -> float:
    return time.monotonic() - mark


def _server_text(cfg: ConnectionConfig, conn: Connection) -> str:
    version = dbconn.query_one(conn, "select @@version")[0]
    where = cfg.unix_socket if cfg.unix_socket else "%s:%d" % (cfg.host, cfg.port)
    return "Host: %s, Version: %s" % (where, version)


def _same_server(a: ConnectionConfig, b: ConnectionConfig) -> bool:
    """Whether two connection settings reach the same server (the heartbeat then goes
    through no replication on its way back to the binlog reader)."""
    return (a.host, a.port, a.unix_socket) == (b.host, b.port, b.unix_socket)
