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

import datetime
import json
import re
import threading
import time

from trove_lite.osc import conn as dbconn
from trove_lite.osc import sql
from trove_lite.osc.errors import MigrationError
from trove_lite.osc.streamer import DELETE, INSERT, UPDATE

_EPOCH = datetime.datetime(1970, 1, 1)
REPLACE_ROWS_PER_STATEMENT = 500
_TEMPORAL_ZERO = {"date": "0000-00-00", "datetime": "0000-00-00 00:00:00",
                  "timestamp": "0000-00-00 00:00:00"}


def session_sql_mode_expr(allow_zero_in_date, skip_strict):
    mode = "@@session.sql_mode"
    if allow_zero_in_date:
        mode = "replace(replace(%s, 'NO_ZERO_IN_DATE', ''), 'NO_ZERO_DATE', '')" % mode
    extra = ",NO_AUTO_VALUE_ON_ZERO" + ("" if skip_strict else ",STRICT_ALL_TABLES")
    return "concat(%s, '%s')" % (mode, extra)


def value_converter(column, allow_zero_in_date):
    """A function turning a python-mysql-replication value into a value that
    round-trips exactly when bound as a parameter (with time_zone +00:00)."""
    dt = column.data_type
    zero = _TEMPORAL_ZERO.get(dt) if not column.nullable else None

    def convert(v):
        if v is None:
            return zero
        if dt == "timestamp" and v == _EPOCH:
            return "0000-00-00 00:00:00"     # the zero TIMESTAMP is stored as epoch 0
        if dt == "bit" and isinstance(v, str):
            return int(v, 2) if v else 0
        if dt == "set" and isinstance(v, (set, frozenset, list, tuple)):
            return ",".join(sorted(v))
        if dt == "json" and not isinstance(v, (str, bytes)):
            return json.dumps(v)
        return v
    return convert


class RowMapper:
    """Maps binlog row dicts of the original table to ghost-table parameters."""

    def __init__(self, orig_columns, src_cols, dst_cols, key_cols, allow_zero_in_date,
                 ghost_columns=None):
        by_name = {c.name: c for c in orig_columns}
        ghost = {c.name: c for c in (ghost_columns or orig_columns)}
        self.src_cols = list(src_cols)
        self.dst_cols = list(dst_cols)
        self.key_cols = list(key_cols)
        self.dst_key = [dst_cols[src_cols.index(c)] for c in key_cols]
        self.conv = {c: value_converter(by_name[c], allow_zero_in_date) for c in src_cols}
        self.placeholders = [sql.time_zone_placeholder(
            by_name[s].data_type, ghost[d].data_type if d in ghost else by_name[s].data_type)
            for s, d in zip(src_cols, dst_cols)]
        self.key_placeholders = [self.placeholders[src_cols.index(c)] for c in key_cols]

    def row(self, values):
        return [self.conv[c](values.get(c)) for c in self.src_cols]

    def key(self, values):
        return [self.conv[c](values.get(c)) for c in self.key_cols]


def plan_dml(changes, mapper):
    """Binlog changes -> ordered [('delete', key) | ('replace', row)] operations.

    The binlog wins: INSERT and UPDATE write the full after-image (upsert); an
    UPDATE that moves the unique key first deletes the old key; DELETE deletes.
    """
    ops = []
    for kind, before, after in changes:
        if kind == DELETE:
            ops.append(("delete", mapper.key(before)))
        elif kind == INSERT:
            ops.append(("replace", mapper.row(after)))
        elif kind == UPDATE:
            old_key, new_key = mapper.key(before), mapper.key(after)
            if old_key != new_key:
                ops.append(("delete", old_key))
            ops.append(("replace", mapper.row(after)))
    return ops


class Applier:
    """Writes to the applier server (master, or the replica with --migrate-on-replica)."""

    def __init__(self, conn_config, request, names, log):
        self.cfg = conn_config
        self.req = request
        self.names = names
        self.db = request.database
        self.log = log
        self.copy_conn = None
        self.dml_conn = None
        self.mapper = None
        self.key = None

    def connect(self):
        mode = session_sql_mode_expr(self.req.allow_zero_in_date, self.req.skip_strict_mode)
        self.copy_conn = dbconn.connect(self.cfg, self.db)
        self.dml_conn = dbconn.connect(self.cfg, self.db)
        dbconn.execute(self.copy_conn, "set session sql_mode = %s" % mode)
        # the row copy runs in the server's time zone; DML applies binlog values in UTC
        # and converts to/from that zone where the ALTER changes DATETIME<->TIMESTAMP
        server_tz = dbconn.query_one(self.copy_conn, "select @@session.time_zone")[0]
        dbconn.execute(self.dml_conn, "set session time_zone = '+00:00', sql_mode = %s, "
                       "@trove_osc_tz = %%s" % mode, (server_tz,))

    def close(self):
        for c in (self.copy_conn, self.dml_conn):
            try:
                if c is not None:
                    c.close()
            except Exception:  # already gone; closing is best effort
                pass

    def run(self, statement, args=None):
        self.log.debug("%s", statement)
        return dbconn.execute(self.copy_conn, statement, args)

    # -- tables -----------------------------------------------------------
    def table_exists(self, table):
        return dbconn.query_one(self.copy_conn, "select count(*) from information_schema.tables "
                                "where table_schema=%s and table_name=%s",
                                (self.db, table))[0] > 0

    def drop(self, table):
        self.run(sql.drop_table(self.db, table))

    def create_changelog(self):
        self.drop(self.names.changelog)
        self.run(sql.create_changelog(self.db, self.names.changelog))

    def create_ghost(self, alter):
        self.run(sql.create_ghost(self.db, self.req.table, self.names.ghost))
        self.run(sql.alter_table(self.db, self.names.ghost, alter))

    def copy_auto_increment(self, alter):
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

    def write_changelog(self, hint, value, row_id=0):
        self.run(sql.changelog_write(self.db, self.names.changelog), (row_id, hint, value))

    # -- row copy -----------------------------------------------------------
    def set_plan(self, key, mapper):
        self.key, self.mapper = key, mapper

    def read_range(self):
        """(min, max) of the unique key in one consistent read; (None, None) if empty."""
        cols = self.key.columns
        dbconn.execute(self.copy_conn, "start transaction with consistent snapshot")
        try:
            lo = dbconn.query_one(self.copy_conn, sql.select_key_bound(
                self.db, self.req.table, self.key.name, cols, False))
            hi = dbconn.query_one(self.copy_conn, sql.select_key_bound(
                self.db, self.req.table, self.key.name, cols, True))
        finally:
            dbconn.execute(self.copy_conn, "commit")
        return (list(lo), list(hi)) if lo else (None, None)

    def next_chunk_end(self, start, range_max, chunk_size, inclusive):
        row = dbconn.query_one(self.copy_conn, *sql.chunk_end(
            self.db, self.req.table, self.key.name, self.key.columns, start, range_max,
            chunk_size, inclusive))
        return list(row) if row else list(range_max)

    def copy_chunk(self, start, end, inclusive):
        """Copy one key range; returns rows inserted."""
        statement, args = sql.copy_chunk(
            self.db, self.req.table, self.names.ghost, self.key.name, self.key.columns,
            self.mapper.src_cols, self.mapper.dst_cols, start, end, inclusive)
        c = self.copy_conn
        if not self.req.panic_on_warnings:
            # one autocommitted statement is its own transaction: two round trips fewer
            return dbconn.execute(c, statement, args)
        dbconn.execute(c, "begin")
        try:
            with c.cursor() as cur:
                n = cur.execute(statement, args)
                warnings = cur.warning_count
            if warnings:
                self._check_warnings(c, statement)
            dbconn.execute(c, "commit")
        except BaseException:
            _rollback(c)
            raise
        return n

    def _check_warnings(self, c, statement):
        expected = re.compile(r"Duplicate entry .* for key '(%s\.)?%s'" % (
            re.escape(self.names.ghost), re.escape(self.key.name)))
        rows = dbconn.query_all(c, "show warnings")
        bad = [r for r in rows if not expected.search(r[2] or "")]
        if bad:
            raise MigrationError("ERROR warnings detected in statement %s: %s" % (
                statement[:200], "; ".join("%s %s: %s" % (r[0], r[1], r[2]) for r in bad)))

    # -- binlog DML -----------------------------------------------------------
    def apply_changes(self, changes):
        """Apply row changes in one transaction (time_zone +00:00); returns ops count."""
        ops = plan_dml(changes, self.mapper)
        c = self.dml_conn
        dbconn.execute(c, "begin")
        try:
            pending = []
            for op, values in ops:
                if op == "replace":
                    pending.append(values)
                    continue
                self._flush_rows(c, pending)
                pending = []
                dbconn.execute(c, *sql.delete_row(self.db, self.names.ghost,
                                                  self.mapper.dst_key, values,
                                                  self.mapper.key_placeholders))
            self._flush_rows(c, pending)
            dbconn.execute(c, "commit")
        except BaseException:
            _rollback(c)
            raise
        return len(ops)

    def _flush_rows(self, c, rows):
        if not rows:
            return
        if not self.req.panic_on_warnings:
            # bounded statements: one big binlog transaction must not exceed max_allowed_packet
            for i in range(0, len(rows), REPLACE_ROWS_PER_STATEMENT):
                dbconn.execute(c, *sql.replace_rows(
                    self.db, self.names.ghost, self.mapper.dst_cols,
                    rows[i:i + REPLACE_ROWS_PER_STATEMENT], self.mapper.placeholders))
            return
        # strict mode: evict same-key rows, then insert; a collision on another
        # unique key shows up as a warning and fails the migration
        for row in rows:
            key = [row[self.mapper.dst_cols.index(k)] for k in self.mapper.dst_key]
            dbconn.execute(c, *sql.delete_row(self.db, self.names.ghost, self.mapper.dst_key, key,
                                              self.mapper.key_placeholders))
            statement, args = sql.insert_ignore_rows(self.db, self.names.ghost,
                                                     self.mapper.dst_cols, [row],
                                                     self.mapper.placeholders)
            with c.cursor() as cur:
                cur.execute(statement, args)
                if cur.warning_count:
                    self._check_warnings(c, statement)

    # -- checkpoint -----------------------------------------------------------
    def create_checkpoint_table(self):
        if not self.table_exists(self.names.checkpoint):
            self.run(sql.create_checkpoint_table(self.db, self.names.checkpoint))

    def write_checkpoint(self, coords, iteration, rows_copied, dml_applied, chunk_end, range_max):
        self.run(sql.insert_checkpoint(self.db, self.names.checkpoint), (
            time.time_ns(), coords, iteration, rows_copied, dml_applied,
            json.dumps(_jsonable(chunk_end)), json.dumps(_jsonable(range_max))))

    def read_checkpoint(self):
        if not self.table_exists(self.names.checkpoint):
            return None
        row = dbconn.query_one(self.copy_conn, sql.latest_checkpoint(self.db,
                                                                     self.names.checkpoint))
        if row is None:
            return None
        return {"coords": row[0], "iteration": row[1], "rows_copied": row[2],
                "dml_applied": row[3], "chunk_end": json.loads(row[4]),
                "range_max": json.loads(row[5])}


def _jsonable(values):
    if values is None:
        return None
    out = []
    for v in values:
        if isinstance(v, (bytes, bytearray)):
            out.append({"hex": bytes(v).hex()})
        elif isinstance(v, (int, float, str)) or v is None:
            out.append(v)
        else:
            out.append(str(v))
    return out


def from_jsonable(values):
    if values is None:
        return None
    return [bytes.fromhex(v["hex"]) if isinstance(v, dict) else v for v in values]


def _rollback(c):
    try:
        dbconn.execute(c, "rollback")
    except Exception:  # the connection may be dead; the server rolls back for us
        pass


class Heartbeat:
    """Writes ``heartbeat`` (epoch nanoseconds) to the changelog every interval on
    its own connection; errors are counted and retried, never raised."""

    def __init__(self, conn_config, db, changelog, interval, log):
        self.cfg, self.db, self.changelog = conn_config, db, changelog
        self.interval = interval
        self.log = log
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._conn = None

    def start(self):
        self._conn = dbconn.connect(self.cfg, self.db)
        self.beat()
        self._thread = threading.Thread(target=self._run, name="osc-heartbeat", daemon=True)
        self._thread.start()

    def write(self, hint, value, row_id=0):
        """Write a changelog row on the heartbeat session (thread-safe)."""
        with self.lock:
            try:
                dbconn.execute(self._conn, sql.changelog_write(self.db, self.changelog),
                               (row_id, hint, value))
            except Exception:
                self._conn = dbconn.connect(self.cfg, self.db)
                dbconn.execute(self._conn, sql.changelog_write(self.db, self.changelog),
                               (row_id, hint, value))

    def beat(self):
        self.write("heartbeat", str(time.time_ns()), sql.CHANGELOG_HEARTBEAT_ID)

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception as exc:  # lag will show it; keep trying
                self.log.debug("heartbeat failed: %s", exc)

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        try:
            self._conn.close()
        except Exception:  # best effort
            pass
