"""Applier: every write the migration makes to the server, and nothing else.

One ``Applier`` is driven by one thread (the migrator's loop): ghost table
DDL, row-copy chunks and binlog DML batches all go through it, so the ghost
table has a single writer. The heartbeat has its own connection and thread
(``Heartbeat``); cut-over sessions live in ``cutover.py``.

Failure behaviour: server errors propagate as pymysql exceptions; the caller
turns them into ``FATAL Error <code> (<state>): <message>``. With
--panic-on-warnings a statement with unexpected warnings raises MigrationError
``ERROR warnings detected in statement ...``.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import re
import threading
import time
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from pymysql.constants import CLIENT

from trove_lite.osc import conn as dbconn
from trove_lite.osc import sql
from trove_lite.osc.errors import MigrationError
from trove_lite.osc.events import Change, DELETE, INSERT, UPDATE
from trove_lite.osc.conn import Connection, ConnectionConfig
from trove_lite.osc.context import MigrationRequest
from trove_lite.osc.inspector import Column, UniqueKey

if TYPE_CHECKING:
    from trove_lite.osc.migrator import TableNames

_EPOCH = datetime.datetime(1970, 1, 1)
REPLACE_ROWS_PER_STATEMENT = 500
_TEMPORAL_ZERO = {"date": "0000-00-00", "datetime": "0000-00-00 00:00:00",
                  "timestamp": "0000-00-00 00:00:00"}


def session_sql_mode_expr(allow_zero_in_date: bool, skip_strict: bool) -> str:
    mode = "@@session.sql_mode"
    if allow_zero_in_date:
        mode = "replace(replace(%s, 'NO_ZERO_IN_DATE', ''), 'NO_ZERO_DATE', '')" % mode
    extra = ",NO_AUTO_VALUE_ON_ZERO" + ("" if skip_strict else ",STRICT_ALL_TABLES")
    return "concat(%s, '%s')" % (mode, extra)


def binary_width(column: Column | None) -> int:
    """n of a BINARY(n) column (0 for any other type)."""
    if column is None or column.data_type != "binary":
        return 0
    m = re.match(r"binary\((\d+)\)", column.column_type, re.I)
    return int(m.group(1)) if m else 1


def members(column: Column) -> list[str]:
    """The values of an ENUM or SET column, in definition order."""
    m = re.match(r"^(?:enum|set)\((.*)\)$", column.column_type, re.I | re.S)
    return [v.replace("''", "'").replace("\\\\", "\\")
            for v in re.findall(r"'((?:[^']|'')*)'", m.group(1))] if m else []


def value_converter(column: Column, allow_zero_in_date: bool,
                    ghost: Column | None = None) -> Callable[[Any], Any]:
    """A function turning a python-mysql-replication value into a value that
    round-trips exactly when bound as a parameter (with time_zone +00:00).

    Byte-exact for binary strings: the binlog carries a BINARY(n) value without
    its trailing zero bytes, which the column stores (and an ALTER to VARBINARY
    keeps); they are put back for the source column's width, and for the ghost
    column's when that is BINARY too (a key compared on it must match exactly).
    """
    dt = column.data_type
    zero = _TEMPORAL_ZERO.get(dt) if not column.nullable else None
    pad = max(binary_width(column), binary_width(ghost))
    set_order = members(ghost if ghost is not None and ghost.data_type == "set" else column) \
        if dt == "set" else []

    def convert(v: Any) -> Any:
        if v is None:
            return zero
        if pad and v == "":
            v = b""     # the library decodes an empty binary string as text
        if pad and isinstance(v, (bytes, bytearray)) and len(v) < pad:
            return bytes(v).ljust(pad, b"\0")
        if dt == "timestamp" and v == _EPOCH:
            return "0000-00-00 00:00:00"     # the zero TIMESTAMP is stored as epoch 0
        if dt == "bit" and isinstance(v, str):
            return int(v, 2) if v else 0
        if dt == "set" and isinstance(v, (set, frozenset, list, tuple)):
            rank = {m: i for i, m in enumerate(set_order)}
            return ",".join(sorted(v, key=lambda m: (rank.get(m, len(rank)), m)))
        if dt == "json" and not isinstance(v, (str, bytes)):
            return json.dumps(v)
        return v
    return convert


def stored_number(ghost: Column) -> Callable[[Any], Any]:
    """For an ENUM or SET ghost column: a function from a value's text to the number
    the ghost stores for it (its index, its bit mask). A key is compared on that
    number: as text, a SET compares in the order its members are written, and an
    ENUM or SET of another collation by that collation. Text that is no member is
    left as it is (the server then compares it as text)."""
    names = members(ghost)
    exact = {m: i for i, m in enumerate(names)}
    folded = {m.lower(): i for i, m in enumerate(names)}

    def index(m: str) -> int | None:
        i = exact.get(m)
        return folded.get(m.lower()) if i is None else i

    def convert(v: Any) -> Any:
        if not isinstance(v, str):
            return v
        if ghost.data_type == "enum":
            i = index(v)
            return 0 if v == "" else (v if i is None else i + 1)
        positions = [index(m) for m in v.split(",")] if v else []
        if any(i is None for i in positions):
            return v
        # every position is known here (checked above)
        return sum(1 << i for i in set(cast("list[int]", positions)))
    return convert


class RowMapper:
    """Maps binlog row dicts of the original table to ghost-table parameters."""

    def __init__(self, orig_columns: Sequence[Column], src_cols: Sequence[str],
                 dst_cols: Sequence[str], key_cols: Sequence[str], allow_zero_in_date: bool,
                 ghost_columns: Sequence[Column] | None = None) -> None:
        by_name = {c.name: c for c in orig_columns}
        ghost = {c.name: c for c in (ghost_columns or orig_columns)}
        self.src_cols = list(src_cols)
        self.dst_cols = list(dst_cols)
        self.key_cols = list(key_cols)
        self.dst_key = [dst_cols[src_cols.index(c)] for c in key_cols]
        self.conv = {s: value_converter(by_name[s], allow_zero_in_date, ghost.get(d))
                     for s, d in zip(src_cols, dst_cols)}
        # key values are compared on the ghost: ENUM/SET by their stored number there
        self.key_conv = [stored_number(ghost[d]) if d in ghost and ghost[d].data_type in
                         ("enum", "set") else (lambda v: v) for d in self.dst_key]
        self.placeholders = [sql.time_zone_placeholder(
            by_name[s].data_type, ghost[d].data_type if d in ghost else by_name[s].data_type)
            for s, d in zip(src_cols, dst_cols)]
        self.key_placeholders = [self.placeholders[src_cols.index(c)] for c in key_cols]

    def row(self, values: dict[str, Any]) -> list[Any]:
        return [self.conv[c](values.get(c)) for c in self.src_cols]

    def key(self, values: dict[str, Any]) -> list[Any]:
        return [k(self.conv[c](values.get(c))) for c, k in zip(self.key_cols, self.key_conv)]

    def key_of_row(self, row: Sequence[Any]) -> list[Any]:
        """The ghost key of a row as ``row()`` returns it."""
        return [k(row[self.dst_cols.index(d)]) for d, k in zip(self.dst_key, self.key_conv)]


def plan_dml(changes: Sequence[Change], mapper: RowMapper,
             pending: PendingRange | None = None) -> list[tuple[Any, ...]]:
    """Binlog changes -> ordered [('delete', key) | ('replace', row)] operations.

    The binlog wins: INSERT and UPDATE write the full after-image (upsert); an
    UPDATE that moves the unique key first deletes the old key; DELETE deletes.

    ``pending`` (a ``PendingRange``) holds the keys the row copy has not reached:
    a change to such a key is left out, because the change is committed (it is in
    the binlog) and the copy will read the row as it is now. Writing it early
    would put rows in random places ahead of the copy, splitting the ghost
    table's pages, for nothing.
    """
    ops: list[tuple[Any, ...]] = []
    for kind, before, after in changes:
        if kind == DELETE:
            ops.append(("delete", mapper.key(before)))
        elif kind == INSERT:
            ops.append(("replace", mapper.row(after), mapper.key(after)))
        elif kind == UPDATE:
            old_key, new_key = mapper.key(before), mapper.key(after)
            if old_key != new_key:
                ops.append(("delete", old_key))
            ops.append(("replace", mapper.row(after), new_key))
    if pending is not None:
        ops = [op for op in ops if not pending.holds(op[-1])]
    return [op[:2] for op in ops]


class PendingRange:
    """Keys the row copy has yet to copy: above ``low`` (or from it, when
    ``inclusive``) up to ``high``. Only for all-integer keys, whose order in
    Python is the server's order."""

    def __init__(self, low: Sequence[Any], inclusive: bool, high: Sequence[Any]) -> None:
        self.low, self.inclusive, self.high = list(low), inclusive, list(high)

    def holds(self, key: list[Any]) -> bool:
        if any(not isinstance(v, int) for v in key):
            return False
        above = key >= self.low if self.inclusive else key > self.low
        return above and key <= self.high


class Applier:
    """Writes to the applier server (master, or the replica with --migrate-on-replica)."""

    # set by set_plan(), before any row is copied or any binlog change applied
    key: UniqueKey
    mapper: RowMapper

    def __init__(self, conn_config: ConnectionConfig, request: MigrationRequest, names: TableNames,
                 log: logging.Logger) -> None:
        self.cfg = conn_config
        self.req = request
        self.names = names
        self.db = request.database
        self.log = log
        self.copy_conn: Connection | None = None
        self.dml_conn: Connection | None = None
        self.bound_conn: Connection | None = None  # reads the next chunk's end meanwhile
        self._bound_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.pending: PendingRange | None = None   # while the row copy runs

    def connect(self) -> None:
        mode = session_sql_mode_expr(self.req.allow_zero_in_date, self.req.skip_strict_mode)
        self.copy_conn = dbconn.connect(self.cfg, self.db)
        self.dml_conn = dbconn.connect(self.cfg, self.db, client_flag=CLIENT.MULTI_STATEMENTS)
        dbconn.execute(self.copy_conn, "set session sql_mode = %s" % mode)
        self.bound_conn = dbconn.connect(self.cfg, self.db)
        dbconn.execute(self.bound_conn, "set session sql_mode = %s" % mode)
        self._bound_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="osc-chunk-bounds")
        # the row copy runs in the server's time zone; DML applies binlog values in UTC
        # and converts to/from that zone where the ALTER changes DATETIME<->TIMESTAMP
        server_tz = dbconn.query_one(self.copy_conn, "select @@session.time_zone")[0]
        dbconn.execute(self.dml_conn, "set session time_zone = '+00:00', sql_mode = %s, "
                       "@trove_osc_tz = %%s" % mode, (server_tz,))

    def close(self) -> None:
        if self._bound_pool is not None:
            self._bound_pool.shutdown(wait=True, cancel_futures=True)
        for c in (self.copy_conn, self.dml_conn, self.bound_conn):
            try:
                if c is not None:
                    c.close()
            except Exception:  # already gone; closing is best effort
                pass

    def run(self, statement: str, args: Sequence[Any] | None = None) -> int:
        self.log.debug("%s", statement)
        return dbconn.execute(self.copy_conn, statement, args)

    # -- tables -----------------------------------------------------------
    def table_exists(self, table: str) -> bool:
        return dbconn.query_one(self.copy_conn, "select count(*) from information_schema.tables "
                                "where table_schema=%s and table_name=%s",
                                (self.db, table))[0] > 0

    def drop(self, table: str) -> None:
        self.run(sql.drop_table(self.db, table))

    def create_changelog(self) -> None:
        self.drop(self.names.changelog)
        self.run(sql.create_changelog(self.db, self.names.changelog))

    def create_ghost(self, alter: str) -> None:
        self.run(sql.create_ghost(self.db, self.req.table, self.names.ghost))
        self.run(sql.alter_table(self.db, self.names.ghost, alter))

    def copy_auto_increment(self, alter: str) -> None:
        """Give the ghost the original's AUTO_INCREMENT (unless the ALTER sets one), so
        ids of rows deleted at the end of the table are not handed out again."""
        if "auto_increment" in alter.lower().replace("auto_increment primary", ""):
            return
        row = dbconn.query_one(self.copy_conn, "select auto_increment from information_schema."
                               "tables where table_schema=%s and table_name=%s",
                               (self.db, self.req.table))
        if row and row[0]:
            self.run("alter /* gh-ost */ table %s AUTO_INCREMENT=%d" % (
                sql.qualified(self.db, self.names.ghost), int(row[0])))

    def write_changelog(self, hint: str, value: str, row_id: int = 0) -> None:
        self.run(sql.changelog_write(self.db, self.names.changelog), (row_id, hint, value))

    # -- row copy -----------------------------------------------------------
    def set_plan(self, key: UniqueKey, mapper: RowMapper) -> None:
        self.key, self.mapper = key, mapper

    def read_range(self) -> tuple[list[Any], list[Any]] | tuple[None, None]:
        """(min, max) of the unique key in one consistent read; (None, None) if empty."""
        cols = self.key.columns
        dbconn.execute(self.copy_conn, "start transaction with consistent snapshot")
        try:
            lo = dbconn.query_one(self.copy_conn, sql.select_key_bound(
                self.db, self.req.table, self.key.name, cols, False, self.key.enum_set))
            hi = dbconn.query_one(self.copy_conn, sql.select_key_bound(
                self.db, self.req.table, self.key.name, cols, True, self.key.enum_set))
        finally:
            dbconn.execute(self.copy_conn, "commit")
        return (list(lo), list(hi)) if lo else (None, None)

    def next_chunk_end(self, start: Sequence[Any], range_max: Sequence[Any], chunk_size: int,
                       inclusive: bool) -> list[Any]:
        return self._chunk_end(self.copy_conn, start, range_max, chunk_size, inclusive)

    def prefetch_chunk_end(self, start: Sequence[Any], range_max: Sequence[Any], chunk_size: int,
                           inclusive: bool) -> concurrent.futures.Future[list[Any]]:
        """The same read on its own session and thread, so it overlaps the running
        chunk copy (one round trip fewer per chunk); returns a future."""
        assert self._bound_pool is not None  # connect() made it
        return self._bound_pool.submit(self._chunk_end, self.bound_conn, start, range_max,
                                       chunk_size, inclusive)

    def _chunk_end(self, c: Connection, start: Sequence[Any], range_max: Sequence[Any],
                   chunk_size: int, inclusive: bool) -> list[Any]:
        row = dbconn.query_one(c, *sql.chunk_end(
            self.db, self.req.table, self.key.name, self.key.columns, start, range_max,
            chunk_size, inclusive, self.key.enum_set))
        return list(row) if row else list(range_max)

    def copy_chunk(self, start: Sequence[Any], end: Sequence[Any], inclusive: bool,
                   changes: Sequence[Change] | None = None) -> tuple[int, int]:
        """Copy one key range; returns (rows inserted, binlog ops applied).

        ``changes``, the binlog batch that must be applied before this chunk, goes
        in the same transaction and the same round trip, ahead of the copy: the
        order gh-ost keeps (events, then the next chunk) with one commit instead
        of two. The copy runs in the server's time zone, the events in UTC.
        """
        statement, args = sql.copy_chunk(
            self.db, self.req.table, self.names.ghost, self.key.name, self.key.columns,
            self.mapper.src_cols, self.mapper.dst_cols, start, end, inclusive)
        if changes and not self.req.panic_on_warnings:
            return self._apply_and_copy(changes, statement, args)
        applied = self.apply_changes(changes) if changes else 0
        c = self.copy_conn
        if not self.req.panic_on_warnings:
            # one autocommitted statement is its own transaction: two round trips fewer
            return dbconn.execute(c, statement, args), applied
        dbconn.execute(c, "begin")
        assert c is not None  # connect() opened it
        try:
            with c.cursor() as cur:
                n = cur.execute(statement, args)
                warnings = cur.warning_count
            if warnings:
                self._check_warnings(c, statement, args)
            dbconn.execute(c, "commit")
        except BaseException:
            _rollback(c)
            raise
        return n, applied

    def _apply_and_copy(self, changes: Sequence[Change], statement: str,
                        args: Sequence[Any] | None) -> tuple[int, int]:
        ops = plan_dml(changes, self.mapper, self.pending)
        counts = self._transaction(self._batch_statements(ops) + [
            ("set session time_zone = @trove_osc_tz", None), (statement, args),
            ("set session time_zone = '+00:00'", None)])
        return counts[-2], len(ops)

    def _transaction(self, statements: list[tuple[str, Any]]) -> list[int]:
        """Run [(sql, args)] as one transaction in one round trip (a multi-statement
        request on the DML session); returns each statement's affected-row count."""
        c = self.dml_conn
        assert c is not None  # connect() opened it
        try:
            with c.cursor() as cur:
                cur.execute(";\n".join(["begin"] + [cur.mogrify(s, a) for s, a in statements]
                                       + ["commit"]))
                counts = []
                while cur.nextset():          # the first result is begin's
                    counts.append(cur.rowcount)
        except BaseException:
            _rollback(c)
            dbconn.execute(c, "set session time_zone = '+00:00'")
            raise
        return counts[:len(statements)]

    def _check_warnings(self, c: Connection, statement: str, args: Sequence[Any] | None,
                        number: int = 1, total: int = 1) -> None:
        """--panic-on-warnings, worded as gh-ost words it: each server warning but a
        duplicate on the migration's own key is logged as ``Level: message (code)``,
        and the statement fails with ``ERROR warnings detected in statement <n> of
        <total>: [<warnings>]``."""
        expected = re.compile(r"Duplicate entry .* for key '(%s\.)?%s'" % (
            re.escape(self.names.ghost), re.escape(self.key.name)))
        rows = dbconn.query_all(c, "show warnings")
        bad = ["%s: %s (%d)" % (r[0], r[2], r[1]) for r in rows
               if not expected.search(r[2] or "")]
        if bad:
            with c.cursor() as cur:
                self.log.debug("warnings in statement: %s", cur.mogrify(statement, args)[:500])
            for warning in bad:
                self.log.error("%s", warning)
            raise MigrationError("ERROR warnings detected in statement %d of %d: [%s]" % (
                number, total, " ".join(bad)))

    # -- binlog DML -----------------------------------------------------------
    def apply_changes(self, changes: Sequence[Change]) -> int:
        """Apply row changes in one transaction (time_zone +00:00); returns ops count.

        The whole transaction goes to the server as one multi-statement request
        (see ``_batch_statements``): one round trip per batch instead of one per
        statement. With --panic-on-warnings each
        statement's warnings must be read, so that mode sends them one by one.
        """
        ops = plan_dml(changes, self.mapper, self.pending)
        if not ops:
            return 0
        if not self.req.panic_on_warnings:
            self._transaction(self._batch_statements(ops))
            return len(ops)
        c = self.dml_conn
        dbconn.execute(c, "begin")
        try:
            for number, (op, values) in enumerate(ops, 1):
                if op == "replace":
                    self._insert_strict(c, values, number, len(ops))
                else:
                    dbconn.execute(c, *sql.delete_row(self.db, self.names.ghost,
                                                      self.mapper.dst_key, values,
                                                      self.mapper.key_placeholders))
            dbconn.execute(c, "commit")
        except BaseException:
            _rollback(c)
            raise
        return len(ops)

    def _batch_statements(self, ops: list[tuple[Any, ...]]) -> list[tuple[str, Any]]:
        """Binlog-ordered ops -> statements: replaces become multi-row REPLACEs (bounded,
        so one statement stays far below max_allowed_packet)."""
        statements: list[tuple[str, Any]] = []
        pending: list[list[Any]] = []

        def flush() -> None:
            for i in range(0, len(pending), REPLACE_ROWS_PER_STATEMENT):
                statements.append(sql.replace_rows(
                    self.db, self.names.ghost, self.mapper.dst_cols,
                    pending[i:i + REPLACE_ROWS_PER_STATEMENT], self.mapper.placeholders))
            pending.clear()

        if self.key.all_integer and not self.key.nullable:
            # integer keys: the last change of each key decides. Deletes first, then
            # the surviving rows in binlog order: two statements for the whole batch.
            # (A REPLACE that evicts a row on another unique key is followed by that
            # row's own later REPLACE, as in binlog order.)
            key_at = [self.mapper.dst_cols.index(k) for k in self.mapper.dst_key]
            last: dict[tuple[Any, ...], tuple[str, Any]] = {}
            for op, values in ops:
                key = tuple(values) if op == "delete" else tuple(values[i] for i in key_at)
                last.pop(key, None)
                last[key] = (op, values)
            gone = [list(k) for k, (op, _) in last.items() if op == "delete"]
            if gone:
                statements.append(sql.delete_rows(self.db, self.names.ghost,
                                                  self.mapper.dst_key, gone))
            pending.extend(values for op, values in last.values() if op == "replace")
            flush()
            return statements
        for op, values in ops:
            if op == "replace":
                pending.append(values)
                continue
            flush()
            statements.append(sql.delete_row(self.db, self.names.ghost, self.mapper.dst_key,
                                              values, self.mapper.key_placeholders))
        flush()
        return statements

    def _insert_strict(self, c: Connection, row: Sequence[Any], number: int = 1,
                       total: int = 1) -> None:
        """--panic-on-warnings: evict the same-key row, then insert; a collision on
        another unique key shows up as a warning and fails the migration."""
        key = self.mapper.key_of_row(row)
        dbconn.execute(c, *sql.delete_row(self.db, self.names.ghost, self.mapper.dst_key, key,
                                          self.mapper.key_placeholders))
        statement, args = sql.insert_ignore_rows(self.db, self.names.ghost,
                                                 self.mapper.dst_cols, [row],
                                                 self.mapper.placeholders)
        with c.cursor() as cur:
            cur.execute(statement, args)
            if cur.warning_count:
                self._check_warnings(c, statement, args, number, total)

    # -- checkpoint -----------------------------------------------------------
    def create_checkpoint_table(self) -> None:
        if not self.table_exists(self.names.checkpoint):
            self.run(sql.create_checkpoint_table(self.db, self.names.checkpoint))

    def write_checkpoint(self, coords: str, iteration: int, rows_copied: int, dml_applied: int,
                         chunk_end: Sequence[Any] | None, range_max: Sequence[Any]) -> None:
        self.run(sql.insert_checkpoint(self.db, self.names.checkpoint), (
            time.time_ns(), coords, iteration, rows_copied, dml_applied,
            json.dumps(_jsonable(chunk_end)), json.dumps(_jsonable(range_max))))

    def read_checkpoint(self) -> dict[str, Any] | None:
        if not self.table_exists(self.names.checkpoint):
            return None
        row = dbconn.query_one(self.copy_conn, sql.latest_checkpoint(self.db,
                                                                     self.names.checkpoint))
        if row is None:
            return None
        return {"coords": row[0], "iteration": row[1], "rows_copied": row[2],
                "dml_applied": row[3], "chunk_end": json.loads(row[4]),
                "range_max": json.loads(row[5])}


def _jsonable(values: Sequence[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    out: list[Any] = []
    for v in values:
        if isinstance(v, (bytes, bytearray)):
            out.append({"hex": bytes(v).hex()})
        elif isinstance(v, (int, float, str)) or v is None:
            out.append(v)
        else:
            out.append(str(v))
    return out


def from_jsonable(values: Sequence[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    return [bytes.fromhex(v["hex"]) if isinstance(v, dict) else v for v in values]


def _rollback(c: Connection) -> None:
    try:
        dbconn.execute(c, "rollback")
    except Exception:  # the connection may be dead; the server rolls back for us
        pass


class Heartbeat:
    """Writes ``heartbeat`` (epoch nanoseconds) to the changelog every interval on
    its own connection; errors are counted and retried, never raised."""

    def __init__(self, conn_config: ConnectionConfig, db: str, changelog: str, interval: float,
                 log: logging.Logger, paused: Callable[[], bool] | None = None) -> None:
        self.cfg, self.db, self.changelog = conn_config, db, changelog
        self.interval = interval
        self.paused = paused or (lambda: False)  # critical-load hibernation: write nothing
        self.log = log
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None

    def start(self) -> None:
        self._conn = dbconn.connect(self.cfg, self.db)
        self.beat()
        self._thread = threading.Thread(target=self._run, name="osc-heartbeat", daemon=True)
        self._thread.start()

    def write(self, hint: str, value: str, row_id: int = 0) -> None:
        """Write a changelog row on the heartbeat session (thread-safe)."""
        with self.lock:
            try:
                dbconn.execute(self._conn, sql.changelog_write(self.db, self.changelog),
                               (row_id, hint, value))
            except Exception:
                self._conn = dbconn.connect(self.cfg, self.db)
                dbconn.execute(self._conn, sql.changelog_write(self.db, self.changelog),
                               (row_id, hint, value))

    def beat(self) -> None:
        self.write("heartbeat", str(time.time_ns()), sql.CHANGELOG_HEARTBEAT_ID)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.paused():
                continue
            try:
                self.beat()
            except Exception as exc:  # lag will show it; keep trying
                self.log.debug("heartbeat failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:  # best effort
            pass
