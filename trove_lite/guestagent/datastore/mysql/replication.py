"""Replication of one MySQL server (Oracle GTIDs), as its guest agent runs it.

The roles, the heartbeat row, the guest state, the replication account's
password (a 0600 file; handed to a new replica over the seed connection, never
over the bus) and the control plane's flows are MariaDB's (mariadb/replication.py);
what differs is the server's dialect, overridden here:

* **Seeding** with MySQL's CLONE plugin (``mysql_clone.so``, loaded by every
  MySQL instance's config): a physical, consistent copy of the source's InnoDB
  data, users included, and its ``gtid_executed``; nothing staged on disk. The
  replica's agent first receives the account's password over the data-less
  seed stream, prepares an empty server, runs ``CLONE INSTANCE FROM`` the
  source (the account holds BACKUP_ADMIN on the source) and starts the server
  again (CLONE ends by restarting it; with no supervisor, mysqld exits: error
  3707 is its normal end here).
* **Replication**: ``CHANGE REPLICATION SOURCE TO ... SOURCE_AUTO_POSITION = 1,
  GET_SOURCE_PUBLIC_KEY = 1`` (the account is caching_sha2_password; the
  channel uses TLS when the source offers it, which MySQL does by default), so
  there is one strategy, ``gtid``; positions never travel.
* **Writes closed** with ``super_read_only`` (root too; MariaDB has only
  read_only); a replica keeps it across restarts from its option file
  (templates/mysql/replication.template).
* **Zero-loss waits** with ``WAIT_FOR_EXECUTED_GTID_SET``.
* **Status** from ``SHOW REPLICA STATUS``, renamed to MariaDB's column names so
  that the block, the health decision and the eject's choice are shared; the
  executed set is ``gtid_executed``, what a replica received is its executed set
  plus ``Retrieved_Gtid_Set``.

Not here yet: semi-synchronous durability (sets of MySQL are asynchronous and
say so in their ``semisync`` block), binlog-position replication, seeding from a
stored (logical) backup.
"""

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import pymysql
from pymysql.cursors import Cursor

from trove_lite.datastores.mysql import gtid as oracle_gtid
from trove_lite.datastores.mysql import passwords
from trove_lite.guestagent.datastore.mariadb import replication as base
from trove_lite.guestagent.datastore.mariadb import sql
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer

LOG = logging.getLogger(__name__)

CLONE_RESTART_FAILED = 3707   # "Restart server failed (mysqld is not managed by supervisor)"
# "Too many concurrent clone operations": one at a time per donor (the recipient
# reports it as "Clone Donor Error: 3634 : ...")
CLONE_BUSY = 3634
CLONE_BUSY_WAIT = 300


def create_repl_user(password_hash: str) -> list[str]:
    """The replication account from its caching_sha2_password hash; it also
    donates CLONE snapshots (BACKUP_ADMIN)."""
    return [sql.create_user(base.REPL_USER, "%", password_hash=password_hash,
                            if_not_exists=True),
            "GRANT REPLICATION SLAVE, REPLICATION CLIENT, BACKUP_ADMIN ON *.* TO %s"
            % sql.account(base.REPL_USER, "%")]


def change_source(host: str, port: int, user: str | None = None,
                  password: str | None = None) -> str:
    """CHANGE REPLICATION SOURCE with GTID auto-positioning; the account is kept by
    the server when not given."""
    parts = ["SOURCE_HOST = %s" % sql.quote_string(host), "SOURCE_PORT = %d" % int(port),
             "SOURCE_CONNECT_RETRY = 1", "SOURCE_RETRY_COUNT = 86400",
             "SOURCE_AUTO_POSITION = 1", "GET_SOURCE_PUBLIC_KEY = 1"]
    if user is not None:
        parts += ["SOURCE_USER = %s" % sql.quote_string(user),
                  "SOURCE_PASSWORD = %s" % sql.quote_string(password)]
    return "CHANGE REPLICATION SOURCE TO " + ", ".join(parts)


def wait_for_gtids(gtid_set: str | None, timeout: float) -> str:
    """A SELECT returning 0 once every transaction of ``gtid_set`` is executed
    here, -1 on timeout (the MariaDB waits' convention)."""
    return "SELECT IF(WAIT_FOR_EXECUTED_GTID_SET(%s, %d) = 0, 0, -1)" % (
        sql.quote_string(gtid_set or ""), int(timeout))


def clone_from(host: str, port: int, password: str) -> str:
    return "CLONE INSTANCE FROM %s@%s:%d IDENTIFIED BY %s" % (
        sql.quote_string(base.REPL_USER), sql.quote_string(host), int(port),
        sql.quote_string(password))


def mariadb_names(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A SHOW REPLICA STATUS row with MariaDB's names beside MySQL's (pure):
    Replica_* -> Slave_*, *Source* -> *Master*; Gtid_Slave_Pos is the executed
    set, Gtid_IO_Pos the executed set plus what was received."""
    if not row:
        return None
    out = dict(row)
    for key, value in row.items():
        out.setdefault(key.replace("Replica", "Slave").replace("Source", "Master"), value)
    executed = (row.get("Executed_Gtid_Set") or "").replace("\n", "")
    out["Gtid_Slave_Pos"] = executed
    out["Gtid_IO_Pos"] = oracle_gtid.union(executed, row.get("Retrieved_Gtid_Set"))
    return out


_WORKER_FAILED = re.compile(r"Worker \d+ failed executing transaction .*")
_ERROR_CODE = re.compile(r"Error_code: (?:MY-0*)?(\d+)")


def worker_error(last_sql_error: str | None,
                 error_log: str | None) -> tuple[int | None, str] | None:
    """(errno, message) of the applier worker whose failure stopped the
    coordinator, from the server's error log (pure): SHOW REPLICA STATUS then
    says only "Coordinator stopped ... see error log and/or performance_schema"
    (which is off here). None when the status names the error itself."""
    if "Coordinator stopped" not in (last_sql_error or ""):
        return None
    found = None
    for line in (error_log or "").splitlines():
        match = _WORKER_FAILED.search(line)
        if match:
            found = match.group(0)
    if found is None:
        return None
    code = _ERROR_CODE.search(found)
    return (int(code.group(1)) if code else None), found


class MySQLReplication(base.Replication):
    BINLOG_STATUS = "SHOW BINARY LOG STATUS"
    EXECUTED_GTID = "@@GLOBAL.gtid_executed"
    STOP_REPLICA = "STOP REPLICA"
    START_REPLICA = "START REPLICA"
    RESET_REPLICA = "RESET REPLICA ALL"
    OPEN_BEFORE_DDL = True     # super_read_only stops root's CREATE USER too

    def _read_only_sql(self, on: bool) -> list[str]:
        if on:   # super_read_only implies read_only
            return ["SET GLOBAL super_read_only = ON"]
        return ["SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"]

    def _replica_status(self, cur: Cursor) -> dict[str, Any] | None:
        cur.execute("SHOW REPLICA STATUS")
        row = cur.fetchone()
        if row is not None and not isinstance(row, dict):
            row = dict(zip([d[0] for d in cur.description], row))
        if row and row.get("Last_SQL_Errno"):
            worker = worker_error(row.get("Last_SQL_Error"),
                                  self.app_fn().server.tail_error_log(lines=200))
            if worker is not None:
                row = dict(row, Last_SQL_Errno=worker[0] or row["Last_SQL_Errno"],
                           Last_SQL_Error=worker[1])
        return mariadb_names(row)

    def _account_sql(self, password: str) -> list[str]:
        return create_repl_user(passwords.caching_sha2_hash(password))

    def _change_source_sql(self, host: str, port: int, strategy: str | None,
                           coords: Mapping[str, Any], user: str | None = None,
                           password: str | None = None) -> str:
        if strategy != "gtid":
            raise base.ReplicationError(reason="MySQL replicates by GTID only, not %r"
                                               % strategy)
        return change_source(host, port, user, password)

    def _wait_sql(self, strategy: str | None, coords: Mapping[str, Any],
                  timeout: float) -> list[str]:
        return [wait_for_gtids(coords.get("gtid"), timeout)]

    def _seed_replica_sql(self, coords: Mapping[str, Any]) -> list[str]:
        return []     # CLONE brought the source's gtid_executed

    def _continue_from_own_sql(self) -> list[str]:
        return []     # auto-positioning sends what this server's gtid_executed lacks

    def _status_sql(self) -> str:
        return ("SELECT @@GLOBAL.gtid_executed AS gtid_executed, "
                "@@GLOBAL.gtid_executed AS gtid_binlog_pos, "
                "@@GLOBAL.gtid_executed AS gtid_slave_pos, @@GLOBAL.read_only AS read_only, "
                "@@GLOBAL.super_read_only AS super_read_only")

    # -- durability: asynchronous only, said so ------------------------------------
    def _semisync_sql(self, role: str | None, durability: str | None,
                      timeout_ms: int) -> list[str]:
        return []

    def _apply_semisync(self, role: str | None) -> None:
        pass

    def set_durability(self, durability: str, timeout_ms: int,
                       flavor: Mapping[str, Any]) -> None:
        if durability == "semisync":
            LOG.info("semi-synchronous replication is not offered for MySQL yet: "
                     "this set stays asynchronous")
        self._set(durability="async", semisync_timeout_ms=int(timeout_ms))

    @staticmethod
    def _semisync_status(cur: Cursor, role: str, info: Mapping[str, Any]) -> dict[str, Any]:
        return {"durability": "async", "enabled": False, "active": False,
                "side": "source" if role in ("source", "demoting") else "replica",
                "supported": False}

    # -- seeding --------------------------------------------------------------------
    def offer_seed(self, data: bool=True) -> dict[str, Any]:
        """The password only: the data comes by CLONE, which the replica asks for."""
        return super().offer_seed(data=False)

    def binlogs_cover(self, gtid_pos: str | None) -> bool:
        return False      # MySQL's backups are logical: no replica is seeded from them

    def coords_after(self, gtid_pos: str | None) -> dict[str, Any]:
        raise base.ReplicationError(reason="MySQL replicas follow by GTID auto-positioning; "
                                           "binlog positions are not used")

    def seed(self, request: Mapping[str, Any], server: MariaDBServer) -> dict[str, Any]:
        return super().seed(dict(request, durability="async"), server)

    def _receive_seed(self, request: Mapping[str, Any],
                      server: MariaDBServer) -> tuple[str, dict[str, Any], dict[str, Any]]:
        self._set(cloned=False)     # a re-seed clones again
        return base.receive_secret(request["stream"]), {}, {"method": "clone"}

    def start_replica(self, flavor: Mapping[str, Any]) -> None:
        """Clone the source once (a replica whose agent restarts after the clone
        does not clone again), then replicate from it."""
        if (self.info.get("seed") or {}).get("method") == "clone" and \
                not self.info.get("cloned"):
            self._clone()
        super().start_replica(flavor)

    def _clone(self) -> None:
        info = self.info
        app = self.app_fn()
        host, port = info["source_host"], int(info["source_port"])
        started = time.monotonic()
        while True:
            try:
                with app.connect() as conn, conn.cursor() as cur:
                    cur.execute("SET SESSION long_query_time = 31536000")  # no slow-log line
                    # the replica's option file made it super_read_only; CLONE
                    # replaces its data, and the restart reads the option file again
                    cur.execute("SET GLOBAL super_read_only = OFF")
                    cur.execute("SET GLOBAL clone_valid_donor_list = %s"
                                % sql.quote_string("%s:%d" % (host, port)))
                    cur.execute(clone_from(host, port, self.password()))
            except pymysql.MySQLError as e:
                code = e.args[0] if e.args else None
                busy = code == CLONE_BUSY or "%d :" % CLONE_BUSY in str(e.args[-1:])
                if busy and time.monotonic() - started < CLONE_BUSY_WAIT:
                    time.sleep(0.5)   # the donor serves another replica's clone
                    continue
                if code != CLONE_RESTART_FAILED:
                    raise base.ReplicationError(reason="CLONE from %s:%d failed: %s" % (
                        host, port, e.args[-1] if e.args else e))
            break
        cloned = time.monotonic()
        deadline = cloned + 120
        while app.server.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)      # CLONE shuts the server down to finish
        app.start(timeout=300)
        seed = dict(info.get("seed") or {}, clone_seconds=round(cloned - started, 2),
                    restart_seconds=round(time.monotonic() - cloned, 2))
        self._set(cloned=True, seed=seed)
        LOG.info("cloned %s:%d in %.1f s, restarted in %.1f s", host, port,
                 seed["clone_seconds"], seed["restart_seconds"])

    def backup_options(self) -> dict[str, Any]:
        """A backup of a member is labelled with its set (mysqldump needs no
        replica-side options: --single-transaction reads a consistent view)."""
        options = super().backup_options()
        options.pop("backup_args", None)
        return options
