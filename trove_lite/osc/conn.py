"""Connections to the migrated server and how server errors are reported.

``connect`` opens an autocommit pymysql connection; it raises pymysql errors
after ``timeout`` seconds of connect failure. ``fatal_text`` renders a server
error the way gh-ost prints it: ``Error <code> (<state>): <message>``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from pymysql.connections import Connection  # no type information: Any

# fallback SQLSTATEs for when the failed session cannot be asked (it died)
_SQLSTATE = {1044: "42000", 1045: "28000", 1048: "23000", 1050: "42S01", 1051: "42S02",
             1054: "42S22", 1060: "42S21", 1061: "42000", 1062: "23000", 1064: "42000",
             1068: "42000", 1072: "42000", 1091: "42000", 1136: "21S01", 1142: "42000",
             1146: "42S02", 1166: "42000", 1171: "42000", 1205: "HY000", 1213: "40001",
             1227: "42000", 1265: "01000", 1292: "22007", 1366: "22007", 1406: "22001",
             1451: "23000", 1452: "23000", 4025: "23000"}


@dataclasses.dataclass(frozen=True)
class ConnectionConfig:
    host: str
    port: int
    user: str
    password: str
    unix_socket: str | None = None
    timeout: float = 10.0

    def with_host(self, host: str, port: int) -> ConnectionConfig:
        return dataclasses.replace(self, host=host, port=port, unix_socket=None)

    def replication_settings(self) -> dict[str, Any]:
        kw = {"host": self.host, "port": self.port, "user": self.user, "passwd": self.password}
        if self.unix_socket:
            kw["unix_socket"] = self.unix_socket
        return kw


class SharedTlsConnection(Connection):
    """pymysql's connection, with TLS exactly as pymysql does it, but the "preferred"
    TLS context (no options given: TLS if the server offers it, unverified, as before)
    built once per process instead of once per connection: building it loads the
    system's CA store, 15-30 ms of CPU each time, which was most of a loopback
    connect and about a tenth of the engine's start-up (10 connections). The context
    is only read once built, so the connections of all threads can share it."""

    _preferred_ctx: Any = None
    _preferred_lock = threading.Lock()

    def _create_ssl_ctx(self, sslp: Any) -> Any:
        if not (isinstance(sslp, dict) and not sslp):    # explicit TLS options: as pymysql
            return super()._create_ssl_ctx(sslp)
        cls = SharedTlsConnection
        with cls._preferred_lock:
            if cls._preferred_ctx is None:
                cls._preferred_ctx = super()._create_ssl_ctx(sslp)
            return cls._preferred_ctx


def connect(config: ConnectionConfig, database: str | None = None, **kw: Any) -> Connection:
    kw.setdefault("connect_timeout", max(1, int(config.timeout)))
    if config.unix_socket:
        kw["unix_socket"] = config.unix_socket
    else:
        kw["host"], kw["port"] = config.host, config.port
    return SharedTlsConnection(user=config.user, password=config.password, database=database,
                               autocommit=True, charset="utf8mb4", **kw)


def error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def fatal_text(exc: BaseException, conn: Connection | None = None) -> str:
    """``Error 1146 (42S02): Table 'test.x' doesn't exist`` for a pymysql error."""
    code = error_code(exc)
    if code is None:
        return str(exc)
    message = exc.args[1] if len(exc.args) > 1 else ""
    state = getattr(exc, "sqlstate", None)      # the server's own, from its error packet
    if state is None and conn is not None:
        try:
            with conn.cursor() as cur:
                cur.execute("get diagnostics condition 1 @trove_osc_state = RETURNED_SQLSTATE")
                cur.execute("select @trove_osc_state")
                state = cur.fetchone()[0]
        except Exception:  # the session may be the one that died; fall back below
            state = None
    return "Error %d (%s): %s" % (code, state or _SQLSTATE.get(code, "HY000"), message)


def query_all(conn: Connection, sql: str,
              args: Sequence[Any] | None = None) -> tuple[tuple[Any, ...], ...]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def query_one(conn: Connection, sql: str, args: Sequence[Any] | None = None) -> Any:
    """The first row (a tuple), or None for no row. Typed Any: callers index the
    queries that always return a row (``select @@version``, ``count(*)``)."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def execute(conn: Connection, sql: str, args: Sequence[Any] | None = None) -> int:
    with conn.cursor() as cur:
        return cur.execute(sql, args)
