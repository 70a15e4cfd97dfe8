"""Cut-over: swap the ghost table in, atomically, holding locks as briefly as possible.

Atomic protocol (gh-ost's, without its fixed sleeps):
  session A: get_lock; create sentry ``_T_del``; ``lock tables T write, _T_del write``
  session B: ``rename table T to _T_del, _T_gho to T``  (blocks on A's locks; issued
             at once when the sentry sorts first, so it waits there holding no
             lock on the ghost; else after the next step)
  migrator:  write ``AllEventsUpToLockProcessed:<nanos>`` and wait until applied
  migrator:  poll the processlist (every 2 ms) until B waits on a metadata lock
  session A: drop the sentry; wait until B is queued on T itself (see
             ``_wait_rename_queued_on_table``); unlock  ->  B's rename runs
             before the writes waiting on T, atomically.
If A dies, its locks go and B fails because the sentry still exists; if B
dies, A unlocks and nothing was renamed. Either way T stays the original,
complete table; the caller retries.

``attempt()`` returns the seconds the original table was write-locked, or
raises CutOverFailed (the caller cleans up with ``cleanup_sentry`` and retries).
"""

from __future__ import annotations

import threading
import time
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import pymysql

from trove_lite.osc import conn as dbconn
from trove_lite.osc import sql
from trove_lite.osc.errors import MigrationError
from trove_lite.osc.conn import Connection, ConnectionConfig
from trove_lite.osc.context import MigrationRequest

if TYPE_CHECKING:
    from trove_lite.osc.migrator import TableNames


class CutOverFailed(MigrationError):
    code = "osc_cut_over_failed"


SENTRY_COMMENT = "ghost-cut-over-sentry"
POLL_INTERVAL = 0.002
ER_LOCK_WAIT_TIMEOUT, ER_NO_SUCH_TABLE = 1205, 1146


def _conn_id(c: Connection) -> int:
    return dbconn.query_one(c, "select connection_id()")[0]


def _close(c: Connection | None) -> None:
    try:
        if c is not None:
            c.close()
    except Exception:  # a killed session; nothing to close
        pass


def rename_probe_name(table: str, old: str, ghost: str) -> str | None:
    """The last name the atomic RENAME locks before ``table`` (the server takes a
    statement's metadata locks in the byte order of their names), or None when
    ``table`` sorts first: once the RENAME holds that name, it waits on ``table``."""
    before = sorted(n for n in (old, ghost) if n.encode("utf-8") < table.encode("utf-8"))
    return before[-1] if before else None


def sentry_sorts_first(table: str, old: str, ghost: str) -> bool:
    """True when the sentry (``old``) is the first name the atomic RENAME locks: while
    it waits there, it holds neither the ghost nor the original table, so it may be
    started before the last binlog events are applied to the ghost."""
    key = old.encode("utf-8")
    return key < table.encode("utf-8") and key < ghost.encode("utf-8")


class CutOver:
    """One cut-over attempt at a time; see module docstring."""

    def __init__(self, conn_config: ConnectionConfig, request: MigrationRequest, names: TableNames,
                 log: logging.Logger, pause: Callable[[str], None] | None = None) -> None:
        self.cfg = conn_config
        self.req = request
        self.names = names
        self.db = request.database
        self.log = log
        self.pause = pause or (lambda phase: None)
        self.timeout = request.cut_over_lock_timeout_seconds
        # last attempt: phase -> seconds after the lock was taken
        self.phases: dict[str, float] = {}

    def cleanup_sentry(self) -> None:
        """Drop a sentry table left by a dead lock session (only ours: checked by comment)."""
        c = dbconn.connect(self.cfg, self.db)
        try:
            row = dbconn.query_one(c, "select table_comment from information_schema.tables "
                                      "where table_schema=%s and table_name=%s",
                                   (self.db, self.names.old))
            if row and row[0] == SENTRY_COMMENT:
                dbconn.execute(c, sql.drop_table(self.db, self.names.old))
                self.log.info("Dropped stale cut-over sentry table %s",
                              sql.qualified(self.db, self.names.old))
        finally:
            _close(c)

    def attempt(self, wait_for_events: Callable[[float], object],
                before_rename: Callable[[], None] | None = None,
                before_lock: Callable[[], None] | None = None) -> float:
        lock_c = rename_c = watch_c = None
        locked_at: float | None = None
        renamer = _Renamer()
        self.phases = {}
        def mark(phase: str) -> None:
            assert locked_at is not None  # marks follow the lock
            self.phases[phase] = time.monotonic() - locked_at
        try:
            lock_c = dbconn.connect(self.cfg, self.db)
            watch_c = dbconn.connect(self.cfg, self.db)
            rename_c = dbconn.connect(self.cfg, self.db)
            lock_id, rename_id = _conn_id(lock_c), _conn_id(rename_c)
            self.log.info("Session locking original & magic tables is %d", lock_id)
            lock_name = "gh-ost.%s.%s.lock" % (self.db, self.req.table)
            if dbconn.query_one(lock_c, "select get_lock(%s, 0)", (lock_name,))[0] != 1:
                raise CutOverFailed("Unexpected error: get_lock(%s) failed" % lock_name)
            dbconn.execute(lock_c, "set session lock_wait_timeout = %d" % self.timeout)
            dbconn.execute(lock_c, sql.create_sentry(self.db, self.names.old))
            dbconn.execute(rename_c, "set session lock_wait_timeout = %d" % self.timeout)
            rename = sql.rename_atomic(self.db, self.req.table, self.names.old,
                                       self.names.ghost)
            early = sentry_sorts_first(self.req.table, self.names.old, self.names.ghost)
            if before_lock:
                before_lock()
            self.log.info("Locking %s, %s", sql.qualified(self.db, self.req.table),
                          sql.qualified(self.db, self.names.old))
            dbconn.execute(lock_c, sql.lock_tables_write(self.db, self.req.table,
                                                         self.names.old))
            locked_at = time.monotonic()
            self.log.info("Tables locked")
            if early:
                # the RENAME queues on the sentry and holds no lock the applier needs:
                # it gets in line while the last events are applied
                self.log.info("Session renaming tables is %d", rename_id)
                renamer.start(rename_c, rename, rename_id)
            wait_for_events(self.timeout)
            mark("events_applied")
            if before_rename:
                before_rename()
            if not early:
                self.log.info("Session renaming tables is %d", rename_id)
                renamer.start(rename_c, rename, rename_id)
            self._wait_rename_blocked(watch_c, rename_id, renamer, locked_at)
            mark("rename_blocked")
            self.pause("cut-over-rename-blocked")
            dbconn.execute(lock_c, sql.drop_table(self.db, self.names.old))
            mark("sentry_dropped")
            self._wait_rename_queued_on_table(watch_c, renamer, locked_at)
            mark("rename_queued")
            dbconn.execute(lock_c, "unlock tables")
            held = time.monotonic() - locked_at
            mark("unlocked")
            self.log.info("Tables unlocked")
            renamer.join(self.timeout + 5)
            mark("renamed")
            if renamer.error is not None:
                raise CutOverFailed("rename failed: %s" % dbconn.fatal_text(renamer.error))
            return held
        except CutOverFailed:
            self._abort(lock_c, watch_c, renamer)
            raise
        except Exception as exc:
            self._abort(lock_c, watch_c, renamer)
            if renamer.done.is_set() and renamer.error is None and renamer.conn_id:
                # the rename went through before the failure (e.g. A died after dropping
                # the sentry): the swap happened, atomically
                assert locked_at is not None  # the rename starts after the lock
                return time.monotonic() - locked_at
            text = dbconn.fatal_text(exc) if dbconn.error_code(exc) else str(exc)
            raise CutOverFailed("cut-over attempt failed: %s" % text)
        finally:
            for c in (lock_c, rename_c, watch_c):
                _close(c)

    def _wait_rename_blocked(self, watch_c: Connection, rename_id: int, renamer: _Renamer,
                             locked_at: float) -> None:
        deadline = locked_at + self.timeout
        while time.monotonic() < deadline:
            if renamer.done.is_set():
                raise CutOverFailed("rename session ended before it was blocked: %s" % (
                    dbconn.fatal_text(renamer.error) if renamer.error else "no error"))
            row = dbconn.query_one(watch_c, "select state, info from information_schema."
                                   "processlist where id = %s", (rename_id,))
            if row and row[0] and "metadata lock" in row[0] and (row[1] or "").lower() \
                    .lstrip().startswith("rename"):
                self.log.info("Found atomic RENAME to be blocking, as expected. "
                              "Double checking the lock is still in place (though I don't "
                              "strictly have to)")
                return
            if row is None and renamer.started.is_set():
                raise CutOverFailed("rename session %d is gone" % rename_id)
            time.sleep(POLL_INTERVAL)
        raise CutOverFailed("Timeout while waiting for rename to block")

    def _wait_rename_queued_on_table(self, watch_c: Connection, renamer: _Renamer,
                                     locked_at: float) -> None:
        """Wait until the RENAME waits for the original table itself, not before it.

        The server takes a statement's metadata locks one at a time, in the byte
        order of their names, and waits at the first it cannot get. For a table
        ``t``, ``_t_del`` and ``_t_gho`` sort first: the RENAME queues on the sentry
        (which this session holds), and only once the sentry is dropped does it
        take ``_t_gho`` and queue on ``t``. An exclusive request queued on ``t``
        is served before the writes waiting there; a write that gets ``t`` before
        the RENAME has queued goes to the original table after the sentinel, and is
        lost. So: hold ``t`` until the RENAME holds the last name that sorts before
        it (a probe that must not wait for that name fails at once). Another session
        holding ``_t_gho`` (a backup, a monitoring query) delays that.
        """
        name = rename_probe_name(self.req.table, self.names.old, self.names.ghost)
        if name is None:
            return      # the RENAME's first lock is the table's: it is queued there
        # SHOW CREATE TABLE takes the high-priority shared lock, which waits for a
        # granted exclusive lock only, not for a pending one: it fails at once once
        # the RENAME holds the name (a plain SELECT would fail while it merely waits)
        probe = "show /* gh-ost */ create table %s" % sql.qualified(self.db, name)
        dbconn.execute(watch_c, "set session lock_wait_timeout = 0")
        deadline = locked_at + self.timeout
        while time.monotonic() < deadline:
            if renamer.done.is_set():
                raise CutOverFailed("rename session ended before it was blocked: %s" % (
                    dbconn.fatal_text(renamer.error) if renamer.error else "no error"))
            try:
                dbconn.execute(watch_c, probe)
            except pymysql.MySQLError as exc:
                if dbconn.error_code(exc) == ER_LOCK_WAIT_TIMEOUT:
                    self.log.info("Found atomic RENAME queued on %s", sql.quote(self.req.table))
                    return
                if dbconn.error_code(exc) != ER_NO_SUCH_TABLE:   # the dropped sentry, free
                    raise
            time.sleep(POLL_INTERVAL)
        raise CutOverFailed("Timeout while waiting for rename to queue on %s"
                            % sql.quote(self.req.table))

    def _abort(self, lock_c: Connection | None, watch_c: Connection | None,
               renamer: _Renamer) -> None:
        """Release locks without letting a pending rename win: kill it, then unlock."""
        if renamer.conn_id is not None and not renamer.done.is_set() and watch_c is not None:
            try:
                dbconn.execute(watch_c, "kill query %d" % renamer.conn_id)
            except Exception:  # it may have finished meanwhile
                pass
            # once the sentry is dropped only the lock on T holds the RENAME back:
            # let the killed RENAME end before T is unlocked
            renamer.join(1.0)
        if lock_c is not None:
            try:
                dbconn.execute(lock_c, "unlock tables")
            except Exception:  # a dead lock session already released everything
                pass
        renamer.join(self.timeout + 5)
        self.cleanup_sentry()

    def two_step(self, wait_for_events: Callable[[float], object]) -> float:
        """Non-atomic: rename the original away while locked, then the ghost in."""
        c = dbconn.connect(self.cfg, self.db)
        try:
            dbconn.execute(c, "set session lock_wait_timeout = %d" % self.timeout)
            dbconn.execute(c, sql.lock_tables_write(self.db, self.req.table))
            started = time.monotonic()
            wait_for_events(self.timeout)
            dbconn.execute(c, "alter /* gh-ost */ table %s rename %s" % (
                sql.qualified(self.db, self.req.table), sql.qualified(self.db, self.names.old)))
            dbconn.execute(c, "unlock tables")
            dbconn.execute(c, sql.rename_one(self.db, self.names.ghost, self.req.table))
            return time.monotonic() - started
        finally:
            _close(c)


class _Renamer:
    """Runs the blocking RENAME in its own thread and records how it ended."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.conn_id: int | None = None
        self._thread: threading.Thread | None = None

    def start(self, c: Connection, statement: str, conn_id: int | None = None) -> None:
        self.conn_id = _conn_id(c) if conn_id is None else conn_id

        def run() -> None:
            self.started.set()
            try:
                dbconn.execute(c, statement)
            except Exception as exc:  # reported to the cut-over through .error
                self.error = exc
            finally:
                self.done.set()
        self._thread = threading.Thread(target=run, name="osc-rename", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
