"""Binlog streamer: row events of the migrated table and its changelog, in order.

A thread reads the server's binlog (MariaDB GTID, python-mysql-replication)
from the position given at start, decodes only the original table and the
changelog table (other tables are skipped before their rows are decoded),
and puts one ``Txn`` per committed transaction on a queue. Heartbeat rows are
consumed here (they only measure lag); changelog ``state`` rows are queued
in order with the row changes, which is what makes "all events up to the
lock are applied" a fact. The queue is bounded: if the applier falls behind,
the reader blocks on it (the server keeps the binlog).

Failure: an exception in the reader thread is stored in ``error`` and the
thread ends; the migrator polls ``error``. ``stop()`` closes the stream.
"""

from __future__ import annotations

import codecs
import datetime
import importlib.metadata
import struct
import logging
import socket
import threading
from typing import Any

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import BINLOG, FIELD_TYPE, NONE_SOURCE
from pymysqlreplication.constants.NONE_SOURCE import EMPTY_SET
from pymysqlreplication.event import MariadbGtidEvent, RotateEvent, XidEvent
from pymysqlreplication.row_event import (DeleteRowsEvent, RowsEvent, UpdateRowsEvent,
                                         WriteRowsEvent)

from trove_lite.osc.errors import MigrationError
# the types the engine process uses live in events.py, which imports no binlog
# library: only the reader process (streamer_process.py) needs it
from trove_lite.osc.events import (DELETE, INSERT, STATE, UPDATE,  # noqa: F401
                                   StreamState, Txn, format_gtid_state, parse_gtid_state)
from trove_lite.osc.conn import ConnectionConfig, SharedTlsConnection
from trove_lite.osc.events import Change


def _read_date(self: RowsEvent) -> datetime.date | str:
    raw = self.packet.read_uint24()
    year, month, day = (raw >> 9) & 0x7FFF, (raw >> 5) & 0xF, raw & 0x1F
    if year and month and day:
        return datetime.date(year, month, day)
    return "%04d-%02d-%02d" % (year, month, day)


def _read_datetime2(self: RowsEvent, column: Any) -> datetime.datetime | str:
    data = self.packet.read_int_be_by_size(5)
    year_month = (data >> 22) & 0x1FFFF
    parts = (year_month // 13, year_month % 13, (data >> 17) & 0x1F, (data >> 12) & 0x1F,
             (data >> 6) & 0x3F, data & 0x3F)
    micro = self._RowsEvent__read_fsp(column)
    try:
        return datetime.datetime(*parts, microsecond=micro)
    except ValueError:
        text = "%04d-%02d-%02d %02d:%02d:%02d" % parts
        return text + (".%06d" % micro if micro else "")


_FSP_BYTES = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3}


def _read_time2(self: RowsEvent, column: Any) -> datetime.timedelta:
    """TIME(n) as the server packs it: a 3-byte offset integer part plus a
    fraction that borrows from it when negative (the library gets negative
    fractions wrong: -00:00:00.000099 came back as -00:00:00.999901)."""
    fsp = column.fsp or 0
    intpart = int.from_bytes(self.packet.read(3), "big") - 0x800000
    n = _FSP_BYTES.get(fsp, 0)
    frac = int.from_bytes(self.packet.read(n), "big", signed=False) if n else 0
    if n == 1:
        if intpart < 0 and frac:
            intpart, frac = intpart + 1, frac - 0x100
        frac *= 10000
    elif n == 2:
        if intpart < 0 and frac:
            intpart, frac = intpart + 1, frac - 0x10000
        frac *= 100
    elif n == 3:
        if intpart < 0 and frac:
            intpart, frac = intpart + 1, frac - 0x1000000
    packed = intpart * (1 << 24) + frac
    negative, packed = packed < 0, abs(packed)
    hms, micro = packed >> 24, packed % (1 << 24)
    value = datetime.timedelta(hours=(hms >> 12) % 1024, minutes=(hms >> 6) % 64,
                               seconds=hms % 64, microseconds=micro)
    return -value if negative else value


# The version whose private decoders _keep_zero_dates replaces; setup.cfg pins the
# same one, and a different one is refused rather than decoded wrongly.
PINNED_LIBRARY_VERSION = "1.0.17"


def _keep_zero_dates() -> None:
    """python-mysql-replication turns zero and partly-zero dates ('0000-00-00',
    '2020-00-15') into None, which would write NULL or fail, and gets negative TIME
    fractions wrong; decode them to the literal text (and the right TIME) instead so
    they round-trip (--allow-zero-in-date).

    The decoders are private (name-mangled) methods of ``RowsEvent`` that the
    library calls with no hook, and its packet wrapper picks event classes from a
    private map, so a subclass cannot be put in their place: this is a fix of
    those three methods for the pinned version only.
    """
    version = importlib.metadata.version("mysql-replication")
    if version != PINNED_LIBRARY_VERSION:
        raise MigrationError("mysql-replication %s is installed; the binlog reader's date "
                             "decoding is fixed for %s only (setup.cfg pins it)"
                             % (version, PINNED_LIBRARY_VERSION))
    RowsEvent._RowsEvent__read_date = _read_date
    RowsEvent._RowsEvent__read_datetime2 = _read_datetime2
    RowsEvent._RowsEvent__read_time2 = _read_time2
    RowsEvent._read_column_data = _read_column_data


# -- a cheaper row decoder --------------------------------------------------------------
# The library's RowsEvent._read_column_data looks each column's name up twice, tests its
# bits with float division and walks a chain of up to 30 type tests per value; with a
# few columns that was ~40% of the reader's CPU per row event. This one decides per
# column once per table (the table map is frozen: one plan for the whole stream),
# decodes integers and strings itself exactly as the library does (same struct formats,
# same length prefixes, same encoding and error mode, bytes where the library leaves
# bytes), and hands every other type to the library's own decoder, with the same
# arguments the library would pass.

_LIBRARY_READ_COLUMN_DATA = RowsEvent._read_column_data
_INT, _STR, _LIBRARY = 0, 1, 2
_INTS = {FIELD_TYPE.TINY: ("<B", "<b"), FIELD_TYPE.SHORT: ("<H", "<h"),
         FIELD_TYPE.LONG: ("<I", "<i"), FIELD_TYPE.LONGLONG: ("<Q", "<q")}
_PLAN = "_trove_lite_osc_plan"


def _string_encoding(column: Any) -> str | None:
    """What the library decodes a string column with; None where it keeps the bytes
    (an encoding Python does not know, such as the 'binary' character set; the library
    still returns '' for an empty value there)."""
    if column.character_set_name is None:
        return "utf-8"      # bytes.decode()'s default, as the library calls it
    encoding = RowsEvent.charset_to_encoding(column.character_set_name)
    try:
        codecs.lookup(encoding)
    except LookupError:
        return None
    return encoding


def _column_plan(table: Any) -> list[tuple[str, Any, bool, int, Any]] | None:
    """Per column: (name, column, unsigned, how to decode, argument); None when a name
    is missing (the library then asks the server, so it decodes that table itself)."""
    plan: list[tuple[str, Any, bool, int, Any]] | None = getattr(table, _PLAN, None)
    if plan is not None or hasattr(table, _PLAN):
        return plan
    plan = []
    for column in table.columns:
        name, unsigned, kind = column.name, column.unsigned, column.type
        if not name:
            plan = None
            break
        if kind in _INTS:
            plan.append((name, column, unsigned, _INT,
                         struct.Struct(_INTS[kind][0 if unsigned else 1])))
        elif kind in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING):
            plan.append((name, column, unsigned, _STR,
                         (2 if column.max_length > 255 else 1, _string_encoding(column))))
        elif kind == FIELD_TYPE.BLOB:
            plan.append((name, column, unsigned, _STR,
                         (column.length_size, _string_encoding(column))))
        else:
            plan.append((name, column, unsigned, _LIBRARY, None))
    setattr(table, _PLAN, plan)
    return plan


def _read_column_data(self: RowsEvent, cols_bitmap: bytes,
                      row_image_type: Any = None) -> dict[str, Any]:
    """RowsEvent._read_column_data for mysql-replication 1.0.17, cheaper (see above)."""
    if self.event_type == BINLOG.PARTIAL_UPDATE_ROWS_EVENT:   # MySQL's partial JSON
        return _LIBRARY_READ_COLUMN_DATA(self, cols_bitmap, row_image_type)
    plan = _column_plan(self.table_map[self.table_id])
    if plan is None:
        return _LIBRARY_READ_COLUMN_DATA(self, cols_bitmap, row_image_type)
    self.is_partial_json_update = False
    present = sum(bin(b).count("1") for b in cols_bitmap)
    read = self.packet.read
    null_bitmap = read((present + 7) // 8)
    none_sources = self._RowsEvent__none_sources
    errors = "ignore" if self._ignore_decode_errors else "strict"
    values: dict[str, Any] = {}
    null_index = 0
    for i, (name, column, unsigned, kind, arg) in enumerate(plan):
        if not cols_bitmap[i >> 3] & (1 << (i & 7)):
            none_sources[name] = NONE_SOURCE.COLS_BITMAP
            values[name] = None
            continue
        if null_bitmap[null_index >> 3] & (1 << (null_index & 7)):
            none_sources[name] = NONE_SOURCE.NULL
            values[name] = None
        elif kind == _INT:
            values[name] = arg.unpack(read(arg.size))[0]
        elif kind == _STR:
            raw = read(int.from_bytes(read(arg[0]), "little"))
            # bytes.decode gives '' for no bytes before it looks the encoding up, so
            # the library returns an empty binary value as '': kept as it is
            values[name] = raw.decode(arg[1], errors) if arg[1] is not None else raw or ""

        else:
            values[name] = self._RowsEvent__read_values_name(
                column, null_bitmap, null_index, False, cols_bitmap, unsigned, i)
        null_index += 1
    return values


class Streamer(StreamState):
    """Reads binlog events for one table; see module docstring."""

    def __init__(self, conn_config: ConnectionConfig, database: str, table: str, changelog: str,
                 start_gtid: str, server_id: int, log: logging.Logger,
                 maxsize: int = 10000) -> None:
        super().__init__(log, maxsize)
        self.conn_config = conn_config
        self.database = database
        self.table = table
        self.changelog = changelog
        self.gtid_state = parse_gtid_state(start_gtid)
        self.server_id = server_id
        self._stream: BinLogStreamReader | None = None

    def start(self) -> None:
        _keep_zero_dates()
        # the library warns when stop() shuts its socket on purpose
        logging.getLogger("pymysqlreplication").setLevel(logging.ERROR)
        self._stream = BinLogStreamReader(
            connection_settings=self.conn_config.replication_settings(),
            server_id=self.server_id, is_mariadb=True, blocking=True,
            auto_position=format_gtid_state(self.gtid_state),
            only_schemas=[self.database], only_tables=[self.table, self.changelog],
            only_events=[MariadbGtidEvent, RotateEvent, XidEvent, WriteRowsEvent,
                         UpdateRowsEvent, DeleteRowsEvent],
            freeze_schema=True, enable_logging=False,
            # its two connections share the process's TLS context (see conn.py)
            pymysql_wrapper=SharedTlsConnection,
            # the server sends a heartbeat each second when idle, so its dump thread
            # notices within a second that a killed engine's connection is gone
            slave_heartbeat=1)
        self._thread = threading.Thread(target=self._run, name="osc-streamer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the reader within ~1 s. Closing the connection from this thread would
        deadlock on the reader's buffer lock, so the socket is shut down instead, and
        the library is told it is past its end position so it does not reconnect."""
        self._stopping.set()
        stream = self._stream
        if stream is not None:
            stream.end_log_pos = 1
            stream.is_past_end_log_pos = True
            sock = getattr(getattr(stream, "_stream_connection", None), "_sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # already closed
                    pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        if stream is not None and (self._thread is None or not self._thread.is_alive()):
            try:
                stream.close()
            except Exception:  # already torn down
                pass

    def _run(self) -> None:
        try:
            self._read()
        except Exception as exc:  # reported through .error to the migrator
            if not self._stopping.is_set():
                self.error = exc
                self.log.error("binlog streamer failed: %s", exc)

    def _read(self) -> None:
        assert self._stream is not None  # start() opened it
        gtid: str | None = None
        changes: list[Change] = []
        for event in self._stream:
            if self._stopping.is_set():
                return
            self.log_file, self.log_pos = self._stream.log_file or "", self._stream.log_pos or 0
            if isinstance(event, MariadbGtidEvent):
                gtid, changes = event.gtid, []
            elif isinstance(event, XidEvent):
                if gtid:
                    self.gtid_state[int(gtid.split("-")[0])] = gtid
                if changes:
                    self._put(Txn(format_gtid_state(self.gtid_state), changes))
                gtid, changes = None, []
            elif isinstance(event, RotateEvent):
                continue
            elif event.table == self.changelog:
                self._changelog_rows(event, changes)
            else:
                self.events_seen += len(event.rows)
                changes.extend(_row_changes(event))

    def _changelog_rows(self, event: RowsEvent, changes: list[Change]) -> None:
        for row in event.rows:
            values = row.get("after_values") or row.get("values")
            if values is None or isinstance(event, DeleteRowsEvent):
                continue
            hint, value = values.get("hint"), values.get("value")
            if hint == "heartbeat":
                try:
                    self.last_heartbeat_value = int(value) / 1e9
                except (TypeError, ValueError):
                    pass
            elif hint == "state":
                changes.append((STATE, value, None))



def _with_empty_sets(values: dict[str, Any], none_sources: dict[str, Any] | None) -> dict[str, Any]:
    """The library reports an empty SET as None; put the empty string back."""
    for name, source in (none_sources or {}).items():
        if source == EMPTY_SET:
            values[name] = ""
    return values


def _row_changes(event: RowsEvent) -> list[Change]:
    if isinstance(event, WriteRowsEvent):
        return [(INSERT, None, _with_empty_sets(r["values"], r.get("none_sources")))
                for r in event.rows]
    if isinstance(event, DeleteRowsEvent):
        return [(DELETE, _with_empty_sets(r["values"], r.get("none_sources")), None)
                for r in event.rows]
    return [(UPDATE, _with_empty_sets(r["before_values"], r.get("before_none_sources")),
             _with_empty_sets(r["after_values"], r.get("after_none_sources")))
            for r in event.rows]
