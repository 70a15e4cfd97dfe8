"""Replication of one MariaDB server, as its guest agent runs it.

Roles: a *source* writes a heartbeat row every second (``mysql.trove_lite_heartbeat``,
so replicas measure their lag by it, not by Seconds_Behind_Master alone); a
*replica* is ``read_only`` and applies from its source; an instance with no role
stands alone. The role, the strategy and the source's address are kept in the
guest state; the set's replication password in a 0600 file beside it (MariaDB
keeps it in master.info as well), never in logs, argv, RPC or the binlog: the
account is created with its mysql_native_password hash, and a replica receives
the clear password over the seed connection, not over the bus.

Strategies: ``gtid`` (``MASTER_USE_GTID=slave_pos``, ``gtid_slave_pos`` from the
snapshot) and ``binlog`` (file/position, ``MASTER_USE_GTID=no``). Positions are
per server: after a promote, binlog-mode replicas start at the coordinates the
new source reports at the moment it stops replicating, before it takes writes.

Seeding: the source's agent listens on its own address for ONE connection
carrying a one-time token and starts ``mariadb-backup --stream=xbstream`` at
once into a pipe (its start overlaps the replica's boot); after a header frame
the pipe is spliced into the socket and the replica's ``mbstream -x`` reads it
into the datadir: nothing is staged on disk on either side and the data never
passes through Python. A failed backup resets the connection; a
stream is taken only if mbstream succeeded and the backup's closing files
arrived. SQL comes from the pure builders at the top.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jinja2
import pymysql
from pymysql.cursors import Cursor

from trove_lite import exceptions
from trove_lite.datastores.mysql import gtid as oracle_gtid
from trove_lite.guestagent.backup.strategies import MariaBackupStrategy
from trove_lite.guestagent.datastore.mariadb import sql

if TYPE_CHECKING:
    from trove_lite.datastores.base import Binaries
    from trove_lite.guestagent.datastore.mariadb.app import MariaDBApp
    from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer
    from trove_lite.guestagent.state import GuestState

LOG = logging.getLogger(__name__)

STRATEGIES = ("gtid", "binlog")
REPL_USER = "os_repl"
HEARTBEAT_TABLE = "mysql.trove_lite_heartbeat"
CONF_FILE = "20-replication.cnf"
TEMPLATE = "replication.template"
SECRET_FILE = "replication.secret"
_LEN = struct.Struct("!I")


class ReplicationError(exceptions.TroveLiteError):
    code = "replication_error"
    message_format = "Replication failed: %(reason)s"


class StaleTerm(ReplicationError):
    """A role change sent under a set's older term (a taskmanager that lost its
    lease, a command that waited in a dead guest's queue): not acted on."""

    code = "stale_term"
    message_format = ("Refused %(command)s of term %(given)s: this server is at term "
                      "%(held)s (a later failover or promote of its set superseded it)")


def check_term(held: int | None, given: int | str | None) -> tuple[bool, int | None]:
    """(accepted?, term to keep) for a command of term ``given`` on a server at
    term ``held`` (pure). No term given (an older caller): accepted, unchanged."""
    if given is None:
        return True, held
    if held is not None and int(given) < int(held):
        return False, held
    return True, int(given)


# -- pure SQL builders ------------------------------------------------------------
def create_repl_user(password_hash: str) -> list[str]:
    """Statements creating the replication account from its hash (no clear text)."""
    return [sql.create_user(REPL_USER, "%", password_hash=password_hash, if_not_exists=True),
            "GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO %s" % sql.account(REPL_USER, "%")]


def create_heartbeat_table() -> str:
    return ("CREATE TABLE IF NOT EXISTS %s (id TINYINT UNSIGNED PRIMARY KEY, "
            "ts DATETIME(6) NOT NULL, server_id INT UNSIGNED NOT NULL) ENGINE=InnoDB"
            % HEARTBEAT_TABLE)


def write_heartbeat() -> str:
    """The source's heartbeat; nothing (no binlog event) on a read_only server,
    whose root could otherwise write past read_only: a fenced source must not
    grow transactions its set never gets."""
    return ("REPLACE INTO %s SELECT 1, UTC_TIMESTAMP(6), @@server_id FROM DUAL "
            "WHERE @@GLOBAL.read_only = 0" % HEARTBEAT_TABLE)


def read_lag() -> str:
    """Seconds between now and the source's last heartbeat as applied here."""
    return ("SELECT TIMESTAMPDIFF(MICROSECOND, ts, UTC_TIMESTAMP(6)) / 1e6 FROM %s "
            "WHERE id = 1" % HEARTBEAT_TABLE)


def change_master(host: str, port: int, strategy: str | None, coords: Mapping[str, Any],
                  user: str | None = None, password: str | None = None) -> str:
    """CHANGE MASTER for ``strategy``; ``coords`` {binlog_file, binlog_position} in
    binlog mode. User/password are kept by the server when not given."""
    parts = ["MASTER_HOST = %s" % sql.quote_string(host), "MASTER_PORT = %d" % int(port),
             "MASTER_CONNECT_RETRY = 1"]
    if user is not None:
        parts += ["MASTER_USER = %s" % sql.quote_string(user),
                  "MASTER_PASSWORD = %s" % sql.quote_string(password)]
    if strategy == "gtid":
        parts.append("MASTER_USE_GTID = slave_pos")
    elif strategy == "binlog":
        parts += ["MASTER_LOG_FILE = %s" % sql.quote_string(coords["binlog_file"]),
                  "MASTER_LOG_POS = %d" % int(coords["binlog_position"]),
                  "MASTER_USE_GTID = no"]
    else:
        raise ValueError("unknown replication strategy %r" % strategy)
    return "CHANGE MASTER TO " + ", ".join(parts)


def wait_for_coords(strategy: str | None, coords: Mapping[str, Any],
                    timeout: float) -> list[str]:
    """SELECTs, each returning 0 (or more) once this replica applied up to ``coords``
    and -1/NULL on timeout. In binlog mode the position wait is followed by a wait
    on the GTID the source logged last: with parallel apply MASTER_POS_WAIT can
    return when the coordinator has read that far, before the workers committed."""
    waits = []
    if strategy == "binlog":
        waits.append("SELECT MASTER_POS_WAIT(%s, %d, %d)" % (
            sql.quote_string(coords["binlog_file"]), int(coords["binlog_position"]),
            int(timeout)))
    if coords.get("gtid") or strategy == "gtid":
        waits.append("SELECT MASTER_GTID_WAIT(%s, %d)" % (
            sql.quote_string(coords.get("gtid") or ""), int(timeout)))
    return waits


def render_config(template_dir: str, role: str | None, flavor: Mapping[str, Any],
                  durability: str | None = None, semisync_timeout_ms: int=10000,
                  writes_held: bool | None = False) -> str:
    """The replication option file of ``role`` (source, replica, fenced or None);
    ``writes_held``: a source starts read-only."""
    with open(os.path.join(template_dir, TEMPLATE)) as f:
        template = jinja2.Environment(undefined=jinja2.StrictUndefined,
                                      keep_trailing_newline=True).from_string(f.read())
    return template.render(role=role or "none", durability=durability or "async",
                           writes_held=bool(writes_held),
                           semisync_timeout_ms=int(semisync_timeout_ms),
                           flavor={"ram": int(flavor.get("ram") or 512),
                                   "vcpus": int(flavor.get("vcpus") or 1)})


DURABILITIES = ("semisync", "async")
# 1, 1 when the replication account and the heartbeat table exist
SOURCE_READY = ("SELECT (SELECT COUNT(*) > 0 FROM mysql.user WHERE User = '%s'), "
                "(SELECT COUNT(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                "'mysql' AND TABLE_NAME = 'trove_lite_heartbeat')" % REPL_USER)
# roles of a server that was its set's source and may rejoin it as a replica:
# still a source (back before any fence), fenced by a failover (``ha_fence``,
# ``demoting``) or by the eject (``fence``, ``fenced``)
FORMER_SOURCE_ROLES = ("source", "demoting", "fenced")


def semisync_settings(role: str | None, durability: str | None, timeout_ms: int) -> list[str]:
    """SET GLOBAL statements giving ``role`` the semi-sync side ``durability`` asks
    for (pure): a source waits (AFTER_SYNC, lossless) for one replica's ack of each
    commit, for at most ``timeout_ms`` before it falls back to async; a replica
    acks. Any other combination turns both sides off."""
    semi = durability == "semisync"
    master = semi and role == "source"
    slave = semi and role == "replica"
    stmts = ["SET GLOBAL rpl_semi_sync_slave_enabled = %s" % ("ON" if slave else "OFF")]
    if master:
        stmts += ["SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC",
                  "SET GLOBAL rpl_semi_sync_master_timeout = %d" % int(timeout_ms)]
    stmts.append("SET GLOBAL rpl_semi_sync_master_enabled = %s" % ("ON" if master else "OFF"))
    return stmts


def semisync_view(role: str | None, durability: str | None, variables: Mapping[str, Any],
                  status: Mapping[str, Any]) -> dict[str, Any]:
    """The ``semisync`` part of the replication block from SHOW GLOBAL VARIABLES /
    STATUS LIKE 'rpl_semi_sync%' as dicts with lower-case names (pure)."""
    def on(d: Mapping[str, Any], k: str) -> bool:
        return str(d.get(k, "")).upper() == "ON"
    out: dict[str, Any] = {"durability": durability or "async"}
    if role in ("source", "demoting"):
        enabled = on(variables, "rpl_semi_sync_master_enabled")
        out.update(enabled=enabled, side="source",
                   active=on(status, "rpl_semi_sync_master_status"),
                   wait_point=variables.get("rpl_semi_sync_master_wait_point"),
                   clients=int(status.get("rpl_semi_sync_master_clients") or 0),
                   yes_tx=int(status.get("rpl_semi_sync_master_yes_tx") or 0),
                   no_tx=int(status.get("rpl_semi_sync_master_no_tx") or 0))
        out["fell_back_to_async"] = enabled and not out["active"]
    else:
        out.update(enabled=on(variables, "rpl_semi_sync_slave_enabled"), side="replica",
                   active=on(status, "rpl_semi_sync_slave_status"))
    return out


def domain0_seq(gtid_pos: str | None) -> int:
    """The sequence number of domain 0 in a GTID position ``'0-1-5,1-2-3'`` (0 if none);
    of an Oracle GTID set (MySQL), how many transactions it holds: either way the
    larger, the further along the set's one history."""
    if oracle_gtid.is_oracle(gtid_pos):
        return oracle_gtid.count(gtid_pos)
    for part in (gtid_pos or "").split(","):
        bits = part.strip().split("-")
        if len(bits) == 3 and bits[0] == "0":
            return int(bits[2])
    return 0


def first_event_after(events: Iterable[Sequence[Any]], seq: int) -> tuple[str, int] | None:
    """(file, pos) of the first transaction of domain 0 with a sequence number above
    ``seq``, from SHOW BINLOG EVENTS rows (Log_name, Pos, Event_type, Server_id,
    End_log_pos, Info) in binlog order; None if there is none (pure)."""
    for row in events:
        if row[2] != "Gtid":
            continue
        words = str(row[5]).split()
        gtid = next((w for w in words if w.count("-") == 2), "")
        if domain0_seq(gtid) > seq:
            return row[0], int(row[1])
    return None


# -- pure decisions ---------------------------------------------------------------
def decide_health(role: str | None,
                  slave: Mapping[str, Any] | None) -> tuple[bool, str | None]:
    """(broken?, reason) of a replica from its SHOW SLAVE STATUS dict (pure)."""
    if role != "replica" or slave is None:
        return False, None
    if slave.get("Slave_SQL_Running") != "Yes" and slave.get("Last_SQL_Errno"):
        return True, "replication SQL thread stopped: error %s: %s" % (
            slave["Last_SQL_Errno"], slave.get("Last_SQL_Error"))
    if slave.get("Slave_IO_Running") == "No" and slave.get("Last_IO_Errno"):
        return True, "replication IO thread stopped: error %s: %s" % (
            slave["Last_IO_Errno"], slave.get("Last_IO_Error"))
    return False, None


def most_advanced(candidates: Mapping[str, Mapping[str, Any] | None]) -> str | None:
    """The id of the replica that applied the most of the dead source (pure).

    ``candidates``: {id: {"gtid": "d-s-n,...", "binlog_file", "binlog_position"}}
    as ``status()`` reports ``received_coords``. GTID seq_no of domain 0 first,
    then the source's file/position.
    """
    def key(item: tuple[str, Mapping[str, Any] | None]) -> tuple[int, str, int]:
        coords = item[1] or {}
        seq = domain0_seq(coords.get("gtid"))
        return (seq, coords.get("binlog_file") or "", int(coords.get("binlog_position") or 0))
    return max(sorted(candidates.items()), key=key)[0] if candidates else None


# -- the seed stream ------------------------------------------------------------------
def _header_key(token: str) -> bytes:
    return hashlib.sha256(b"trove-lite seed header\0" + token.encode()).digest()


def seal_header(token: str, header: Mapping[str, Any]) -> bytes:
    """The seed stream's header frame (it carries the set's password), sealed with
    AES-256-GCM under a key derived from the one-time token: the password is not
    in clear in the TCP stream. (The token crosses the bus; the stream's data,
    the datadir, is not encrypted: that would cost an openssl stage per seed.)"""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    nonce = os.urandom(12)
    return nonce + AESGCM(_header_key(token)).encrypt(nonce, json.dumps(header).encode(),
                                                      b"trove-lite seed")


def open_header(token: str, frame: bytes) -> dict[str, Any]:
    """The header ``seal_header`` sealed; ReplicationError if it does not open."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    if not frame:
        return {}
    try:
        return json.loads(AESGCM(_header_key(token)).decrypt(frame[:12], frame[12:],
                                                             b"trove-lite seed"))
    except (InvalidTag, ValueError):
        raise ReplicationError(reason="the seed stream's header does not open with this "
                                      "stream's token")


def _send_frame(conn: socket.socket, data: bytes) -> None:
    conn.sendall(_LEN.pack(len(data)) + data)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            raise ReplicationError(reason="the source closed the seed stream early "
                                          "(%d of %d bytes of a frame)" % (len(buf), n))
        buf += part
    return bytes(buf)


def _recv_frame(conn: socket.socket) -> bytes:
    (n,) = _LEN.unpack(_recv_exact(conn, _LEN.size))
    return _recv_exact(conn, n) if n else b""


class SeedSender:
    """One seed stream offered by a source; serves one connection with the token.

    The hot backup starts at once, writing into a pipe, so its own start
    (connecting, scanning the redo log, the first files: 0.2-0.3 s here) overlaps
    the replica's boot; it blocks on the full pipe until the replica connects.
    After the token and the header frame the pipe is spliced into the socket
    (``os.splice``: the data moves in the kernel, never through Python, and
    nothing is staged on disk). A backup nobody came for within
    ``PRESTART_WINDOW`` is dropped and a fresh one started when the replica
    connects (a slow boot must not hold a backup open for minutes). Success
    ends the stream with a normal close; a failed backup with a reset, which
    the replica's mbstream sees as a read error.
    """

    PRESTART_WINDOW = 30.0

    def __init__(self, server: MariaDBServer, address: str, password: str,
                 timeout: float = 300, data: bool=True) -> None:
        self.server, self.password, self.timeout = server, password, timeout
        self.data = data
        self.token = secrets.token_hex(16)
        self.sock = socket.create_server((address, 0))
        self.port = self.sock.getsockname()[1]
        self.strategy = MariaBackupStrategy(server.binaries)
        self.backup: _PipedBackup | None = (_PipedBackup(self.strategy, server.config_file)
                                            if data else None)
        self.thread = threading.Thread(target=self._serve, name="seed-sender", daemon=True)
        self.thread.start()

    def _accept(self) -> tuple[socket.socket, Any]:
        """The replica's connection; a pre-started backup left waiting past
        PRESTART_WINDOW is replaced by a fresh one once it comes."""
        deadline = time.monotonic() + self.timeout
        try:
            if self.backup is not None:
                self.sock.settimeout(min(self.PRESTART_WINDOW, self.timeout))
                try:
                    return self.sock.accept()
                except socket.timeout:
                    LOG.info("seed stream on port %d: nobody came within %.0f s; the "
                             "pre-started backup is dropped", self.port,
                             self.PRESTART_WINDOW)
                    self.backup.abort()
                    self.backup = None
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            return self.sock.accept()
        finally:
            self.sock.close()

    def _serve(self) -> None:
        try:
            conn, peer = self._accept()
        except OSError as e:
            LOG.warning("seed stream on port %d: nobody came (%s)", self.port, e)
            if self.backup is not None:
                self.backup.abort()
            return
        ok = False
        try:
            conn.settimeout(self.timeout)
            token = _recv_frame(conn).decode()
            if not hmac.compare_digest(token, self.token):
                LOG.warning("seed stream: wrong token from %s; closed", peer)
                return
            _send_frame(conn, seal_header(self.token, {"password": self.password}))
            if not self.data:
                ok, detail = True, "password only"
            else:
                if self.backup is None:
                    self.backup = _PipedBackup(self.strategy, self.server.config_file)
                ok, detail = self.backup.send(conn)
            LOG.info("seed stream to %s %s", peer, ("finished" if self.data else
                                                     "finished: account only, no data")
                     if ok else "failed: " + detail)
        except (OSError, ReplicationError) as e:
            LOG.warning("seed stream to %s broken: %s", peer, e)
        finally:
            if self.backup is not None:
                self.backup.abort()       # no-op once it ended
            if not ok:   # a reset, not an end of stream: the replica must not take it
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()


class _PipedBackup:
    """``mariadb-backup --stream`` running into a pipe (1 MB where the system
    allows) until ``send`` splices the pipe into a socket; its log goes to an
    unlinked temporary file (read for the verdict, never blocks it)."""

    PIPE_SIZE = 1 << 20

    def __init__(self, strategy: MariaBackupStrategy, config_file: str) -> None:
        self.strategy = strategy
        self.lsn_dir = tempfile.TemporaryDirectory(prefix="trove-lite-seed-")
        self.log = tempfile.TemporaryFile()
        stage = strategy.backup_stage(config_file, self.lsn_dir.name)
        self.started = time.monotonic()
        self.pipe: int | None
        self.pipe, write_end = os.pipe()
        try:
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, self.PIPE_SIZE)
        except OSError:
            pass     # the system's limit is lower: a smaller head start
        try:
            self.proc = subprocess.Popen(stage.argv, env=stage.env, stdin=subprocess.DEVNULL,
                                         stdout=write_end, stderr=self.log)
        except OSError:
            os.close(self.pipe)
            self.log.close()
            self.lsn_dir.cleanup()
            raise
        finally:
            os.close(write_end)

    def send(self, conn: socket.socket) -> tuple[bool, str]:
        """Splice the stream into ``conn`` until the backup ends; (ok, detail)."""
        if self.pipe is None:
            return False, "the backup was aborted"
        conn.setblocking(True)
        waited = time.monotonic() - self.started
        sent = 0
        while True:
            n = os.splice(self.pipe, conn.fileno(), self.PIPE_SIZE)
            if not n:
                break
            sent += n
        self.proc.wait()
        self.log.seek(0)
        err = self.log.read().decode(errors="replace")
        LOG.info("seed stream: %d bytes sent in %.2f s (backup started %.2f s before "
                 "the replica connected)", sent, time.monotonic() - self.started - waited,
                 waited)
        tail = "".join(err.splitlines(True)[-6:]).strip()
        if self.proc.returncode != 0 or self.strategy.ok_marker not in err:
            return False, "%s exited with %s: %s" % (self.strategy.name,
                                                     self.proc.returncode, tail)
        return True, "ok"

    def abort(self) -> None:
        """Stop the backup if it still runs and release its pipe, log and
        directory (idempotent)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.pipe is not None:
            os.close(self.pipe)
            self.pipe = None
            self.log.close()
            self.lsn_dir.cleanup()


def receive_seed(stream: Mapping[str, Any], binaries: Binaries,
                 datadir: str) -> tuple[str, dict[str, Any]]:
    """Stream the source's hot backup into the empty ``datadir`` and prepare it.

    mbstream reads the socket itself. Returns (password, binlog coordinates of
    the snapshot). On any failure the datadir is emptied and ReplicationError
    raised.
    """
    strat = MariaBackupStrategy(binaries)
    os.makedirs(datadir, exist_ok=True)
    started = time.monotonic()
    try:
        with socket.create_connection((stream["host"], int(stream["port"])),
                                      timeout=60) as conn:
            _send_frame(conn, stream["token"].encode())
            header = open_header(stream["token"], _recv_frame(conn))
            if "password" not in header:
                raise ReplicationError(reason="the source refused the seed stream")
            stage = strat.extract_stage(datadir)
            conn.setblocking(True)
            proc = subprocess.Popen(stage.argv, env=stage.env, stdin=conn.fileno(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            err = proc.communicate()[1].decode(errors="replace")
        received = time.monotonic()
        complete = all(os.path.exists(os.path.join(datadir, name))
                       for name in ("xtrabackup_checkpoints", "xtrabackup_info"))
        # mbstream may exit 0 after a read error (seen with a reset connection)
        if proc.returncode != 0 or not complete or "Errcode" in err:
            raise ReplicationError(reason="the source's backup failed or was cut off "
                                          "(mbstream exited with %s%s): %s" % (
                                              proc.returncode,
                                              "" if complete else ", stream incomplete",
                                              "".join(err.splitlines(True)[-3:]).strip()))
        strat.prepare(datadir)
        prepared = time.monotonic()
        coords = strat.restored_binlog_info(datadir)
        if not coords:
            raise ReplicationError(reason="the snapshot has no binlog coordinates")
    except (OSError, ValueError, exceptions.TroveLiteError) as e:
        _empty(datadir)
        if isinstance(e, ReplicationError):
            raise
        raise ReplicationError(reason="seeding from %s failed: %s" % (
            stream.get("host"), getattr(e, "message", None) or e))
    LOG.info("seeded %d bytes from %s in %.2f s (stream %.2f s, prepare %.2f s) at %s",
             _size(datadir), stream["host"], prepared - started, received - started,
             prepared - received, coords)
    return header["password"], coords


def receive_secret(stream: Mapping[str, Any]) -> str:
    """The set's replication password from a data-less seed stream (a replica
    seeded from a stored backup): the password never crosses the bus."""
    try:
        with socket.create_connection((stream["host"], int(stream["port"])),
                                      timeout=30) as conn:
            _send_frame(conn, stream["token"].encode())
            header = open_header(stream["token"], _recv_frame(conn))
    except (OSError, ValueError) as e:
        raise ReplicationError(reason="the source did not hand over the replication "
                                      "account: %s" % e)
    if "password" not in header:
        raise ReplicationError(reason="the source refused the seed stream")
    return header["password"]


def gtid_list_seq(info: Any) -> int:
    """Domain 0's sequence number in a Gtid_list event's Info ``'[0-1-5,1-2-3]'``."""
    return domain0_seq(str(info or "").strip("[] "))


def binlogs_cover(first_gtid_list: Any, gtid_pos: str | None) -> bool:
    """Whether binlogs whose first file starts after ``first_gtid_list`` (the Info
    of its Gtid_list event) hold every transaction after ``gtid_pos`` (pure)."""
    return domain0_seq(gtid_pos) >= gtid_list_seq(first_gtid_list)


def _size(datadir: str) -> int:
    return sum(os.path.getsize(os.path.join(root, n)) for root, _d, files in os.walk(datadir)
               for n in files)


def empty_datadir(datadir: str) -> None:
    """Remove everything in ``datadir`` (the server is stopped)."""
    _empty(datadir)


def _empty(datadir: str) -> None:
    for name in os.listdir(datadir) if os.path.isdir(datadir) else ():
        path = os.path.join(datadir, name)
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)


# -- the agent's side -------------------------------------------------------------
class Replication:
    """Replication role of this instance's server. ``app_fn()`` gives the MariaDBApp."""

    def __init__(self, app_fn: Callable[[], MariaDBApp], state: GuestState,
                 template_dir: str, address_fn: Callable[[], str]) -> None:
        self.app_fn, self.state = app_fn, state
        self.template_dir, self.address_fn = template_dir, address_fn
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()

    # -- state --------------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        return self.state.read().get("replication") or {}

    def _set(self, **fields: Any) -> dict[str, Any]:
        info = dict(self.info)
        info.update(fields)
        self.state.update(replication=info)
        return info

    def accept_term(self, term: int | None, command: str) -> None:
        """Refuse (StaleTerm) a ``command`` of an older term than the one this
        server holds on its volume; keep a newer one."""
        held = self.info.get("term")
        accepted, keep = check_term(held, term)
        if not accepted:
            LOG.warning("refused %s of term %s: this server is at term %s", command, term,
                        held)
            raise StaleTerm(command=command, given=term, held=held)
        if keep != held:
            self._set(term=keep)

    def _secret_path(self) -> str:
        return os.path.join(os.path.dirname(self.state.path), SECRET_FILE)

    def password(self, create: bool=False) -> str:
        try:
            with open(self._secret_path()) as f:
                return f.read().strip()
        except FileNotFoundError:
            if not create:
                raise ReplicationError(reason="this instance has no replication account")
        password = secrets.token_urlsafe(24)
        self._store_password(password)
        return password

    def _store_password(self, password: str) -> None:
        path = self._secret_path()
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password)
        os.replace(path + ".tmp", path)

    def _write_config(self, role: str | None, flavor: Mapping[str, Any]) -> None:
        app = self.app_fn()
        info = self.info
        app.server.write_conf_d(CONF_FILE, render_config(
            self.template_dir, role, flavor, info.get("durability"),
            info.get("semisync_timeout_ms") or 10000, info.get("writes_held")))

    def _apply_semisync(self, role: str | None) -> None:
        """Turn the semi-sync side of ``role`` on or off at runtime (see
        ``semisync_settings``); a replica's IO thread reconnects so that its
        source counts it as a semi-sync client."""
        info = self.info
        was = self._execute("SELECT @@GLOBAL.rpl_semi_sync_slave_enabled")[0][0]
        self._execute(*self._semisync_sql(role, info.get("durability"),
                                          info.get("semisync_timeout_ms") or 10000),
                      log_bin=False)
        now = self._execute("SELECT @@GLOBAL.rpl_semi_sync_slave_enabled")[0][0]
        # a replica still being seeded has no source configured yet: it starts
        # replicating with the setting already in place
        if role == "replica" and was != now and self._execute("SHOW SLAVE STATUS"):
            self._execute("STOP SLAVE IO_THREAD", "START SLAVE IO_THREAD", log_bin=False)

    def _semisync_sql(self, role: str | None, durability: str | None,
                      timeout_ms: int) -> list[str]:
        return semisync_settings(role, durability, timeout_ms)

    def set_durability(self, durability: str, timeout_ms: int,
                       flavor: Mapping[str, Any]) -> None:
        """Semi-sync (``semisync``) or not (``async``) for this member's role, now
        and across restarts."""
        if durability not in DURABILITIES:
            raise ReplicationError(reason="unknown durability %r" % durability)
        self._set(durability=durability, semisync_timeout_ms=int(timeout_ms))
        role = self.info.get("role")
        self._apply_semisync(role)
        self._write_config(role, flavor)

    def _execute(self, *statements: str, log_bin: bool=True) -> Any:
        """Run statements as root over the socket; sql_log_bin=0 unless ``log_bin``.
        Returns the rows of the last statement that returned any (None if none did)."""
        with self.app_fn().connect() as conn, conn.cursor() as cur:
            if not log_bin:
                cur.execute("SET SESSION sql_log_bin = 0")
            out = None
            for stmt in statements:
                cur.execute(stmt)
                out = cur.fetchall() if cur.description else out
            return out

    def _coords(self, cur: Cursor) -> dict[str, Any]:
        cur.execute(self.BINLOG_STATUS)
        row = cur.fetchone()
        cur.execute("SELECT %s" % self.EXECUTED_GTID)
        gtid = cur.fetchone()[0]
        return {"binlog_file": row[0] if row else None,
                "binlog_position": int(row[1]) if row else None, "gtid": gtid}

    # -- the server's dialect (MySQLReplication overrides these) ---------------------
    BINLOG_STATUS = "SHOW MASTER STATUS"
    EXECUTED_GTID = "@@GLOBAL.gtid_binlog_pos"     # what this server has executed
    # the account and heartbeat DDL of a promote needs writes open first
    OPEN_BEFORE_DDL = False
    STOP_REPLICA = "STOP SLAVE"
    START_REPLICA = "START SLAVE"
    RESET_REPLICA = "RESET SLAVE ALL"

    def _read_only_sql(self, on: bool) -> list[str]:
        """Statements that close (``on``) or open this server to writes."""
        return ["SET GLOBAL read_only = %s" % ("ON" if on else "OFF")]

    def _replica_status(self, cur: Cursor) -> dict[str, Any] | None:
        """SHOW SLAVE STATUS as a dict with MariaDB's column names, or None."""
        cur.execute("SHOW SLAVE STATUS")
        return cur.fetchone()

    def _account_sql(self, password: str) -> list[str]:
        return create_repl_user(sql.native_password_hash(password))

    def _change_source_sql(self, host: str, port: int, strategy: str | None,
                           coords: Mapping[str, Any], user: str | None = None,
                           password: str | None = None) -> str:
        return change_master(host, port, strategy, coords, user, password)

    def _wait_sql(self, strategy: str | None, coords: Mapping[str, Any],
                  timeout: float) -> list[str]:
        return wait_for_coords(strategy, coords, timeout)

    def _seed_replica_sql(self, coords: Mapping[str, Any]) -> list[str]:
        """Where a freshly seeded replica starts (GTID strategy: the snapshot's)."""
        if self.info["strategy"] != "gtid":
            return []
        return ["SET GLOBAL gtid_slave_pos = %s" % sql.quote_string(coords.get("gtid") or "")]

    def _continue_from_own_sql(self) -> list[str]:
        """A former source following a new one continues from what it has itself."""
        return ["SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos"]

    def _status_sql(self) -> str:
        return ("SELECT @@GLOBAL.gtid_binlog_pos AS gtid_binlog_pos, "
                "@@GLOBAL.gtid_slave_pos AS gtid_slave_pos, @@GLOBAL.read_only AS read_only")

    # -- source --------------------------------------------------------------------
    def enable_source(self, strategy: str, flavor: Mapping[str, Any]) -> None:
        """Make this server a source (idempotent): account, heartbeat, role."""
        password = self.password(create=True)
        # open first: MySQL's super_read_only (a promoted replica's) stops root too
        self._execute(*self._read_only_sql(False), *self._account_sql(password),
                      create_heartbeat_table(), write_heartbeat())
        self._set(role="source", strategy=strategy, source_host=None, writes_held=False)
        self._apply_semisync("source")
        self._write_config("source", flavor)
        self.start_heartbeat()

    def offer_seed(self, data: bool=True) -> dict[str, Any]:
        """Start a one-connection seed stream; returns {host, port, token}.
        ``data`` False: the password only (the replica restores a stored backup)."""
        sender = SeedSender(self.app_fn().server, self.address_fn(), self.password(),
                            data=data)
        return {"host": self.address_fn(), "port": sender.port, "token": sender.token}

    def binlogs_cover(self, gtid_pos: str | None) -> bool:
        """True if this server's binlogs still hold everything after ``gtid_pos``:
        the first binlog's Gtid_list event names what came before it (no scan)."""
        with self.app_fn().connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            files = [row[0] for row in cur.fetchall()]
            if not files:
                return False
            cur.execute("SHOW BINLOG EVENTS IN %s LIMIT 4" % sql.quote_string(files[0]))
            listed = next((row[5] for row in cur.fetchall() if row[2] == "Gtid_list"), "")
        return binlogs_cover(listed, gtid_pos)

    def backup_options(self) -> dict[str, Any]:
        """What a backup of this member adds to the backup request: a replica's
        backup runs with --slave-info --safe-slave-backup (its SQL thread pauses
        while the non-InnoDB files are copied: a consistent position) and is
        labelled with its set, so it seeds new replicas like a source's."""
        info = self.info
        role = info.get("role")
        if role not in ("source", "replica"):
            return {}
        from trove_lite.guestagent.backup.strategies import REPLICA_BACKUP_ARGS
        meta = {"replication": {"role": role, "source_id": info.get("source_id"),
                                "strategy": info.get("strategy")}}
        args = list(REPLICA_BACKUP_ARGS) if role == "replica" else []
        return {"backup_args": args, "extra_meta": meta}

    def start_heartbeat(self) -> None:
        if self._heartbeat is not None and self._heartbeat.is_alive():
            return
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="repl-heartbeat",
                                           daemon=True)
        self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        self._heartbeat = None

    def _beat(self) -> None:
        conn = None
        while not self._stop.is_set():
            try:
                if self.info.get("role") != "source":
                    return
                if conn is None:
                    conn = self.app_fn().connect(connect_timeout=2)
                with conn.cursor() as cur:
                    cur.execute(write_heartbeat())
            except (pymysql.MySQLError, OSError):
                conn = None   # the server restarts or stops; retry next second
            self._stop.wait(1.0)
        if conn is not None:
            conn.close()

    def resume(self, flavor: Mapping[str, Any] | None = None) -> None:
        """After an agent (re)start. A source holds writes (read_only, from its
        option file too, so a server started now boots read-only) until the
        control plane confirms it is still its set's source (``open_source``):
        while it was away it may have been ejected and replaced, and a second
        writable source would split the set. A fenced member stays fenced."""
        role = self.info.get("role")
        if role == "source" and flavor is not None:
            self._set(writes_held=True)
            self._write_config("source", flavor)
            try:
                self._execute(*self._read_only_sql(True))
            except (pymysql.MySQLError, OSError):
                pass    # not running: it boots read-only from its option file
            LOG.info("replication source restarting: writes held until the control "
                     "plane confirms this server is still the source")
        elif role == "source":
            self.start_heartbeat()

    def open_source(self, flavor: Mapping[str, Any], term: int | None = None) -> None:
        """Still the source: take writes and write the heartbeat again."""
        self.accept_term(term, "open_source")
        if self.info.get("role") != "source":
            raise ReplicationError(reason="this instance is not a replication source "
                                          "(role %s)" % self.info.get("role"))
        self._execute(*self._read_only_sql(False))
        self._set(writes_held=False)
        self._write_config("source", flavor)
        self.start_heartbeat()
        LOG.info("replication source confirmed by the control plane: writes open")

    def fence(self, reason: str, replaced_by: str | None = None,
              term: int | None = None) -> None:
        """Ejected while away: read-only now and across restarts, no heartbeat
        (its former replicas follow another source), semi-sync off. A replica
        is left alone: a fence sent before it rejoined its set as a replica
        (a late cast, or a check that saw it still holding writes) is stale."""
        self.accept_term(term, "fence")
        if self.info.get("role") == "replica":
            LOG.info("fence ignored: this server already rejoined its set as a replica "
                     "of %s", self.info.get("source_id"))
            return
        self.stop_heartbeat()
        self._set(role="fenced", writes_held=False, fenced_reason=reason,
                  fenced_by=replaced_by, source_host=None)
        self._write_config("fenced", self.state.read().get("flavor") or {})
        try:
            self._execute(*self._read_only_sql(True), *self._semisync_sql(None, None, 0),
                          log_bin=False)
        except (pymysql.MySQLError, OSError):
            pass    # not running: it boots read-only from its option file
        LOG.warning("fenced: %s", reason)

    # -- replica ---------------------------------------------------------------------
    def seed(self, request: Mapping[str, Any], server: MariaDBServer) -> dict[str, Any]:
        """Prepare's first half on a replica: datadir from the source's stream, or
        (``seed_backup``) restored already from a stored backup by prepare, the
        rest coming from the source's binlog from ``coords`` on."""
        started = time.monotonic()
        if request.get("seed_backup"):
            if not os.path.isdir(os.path.join(server.datadir, "mysql")):
                raise ReplicationError(reason="backup %s was not restored"
                                       % request["seed_backup"])
            password, coords = receive_secret(request["stream"]), dict(request["coords"])
            seed = {"method": "backup", "backup_id": request["seed_backup"]}
            LOG.info("seeded from backup %s; catching up from the source's binlog at %s",
                     request["seed_backup"], coords)
        else:
            password, coords, seed = self._receive_seed(request, server)
        seed["seconds"] = round(time.monotonic() - started, 2)
        self._store_password(password)
        self._set(role="replica", strategy=request["strategy"],
                  source_host=request["source_host"], source_port=request["source_port"],
                  source_id=request.get("source_id"), seed_coords=coords, seed=seed,
                  fenced_by=None, fenced_reason=None)
        if request.get("durability") in DURABILITIES:
            self._set(durability=request["durability"],
                      semisync_timeout_ms=int(request.get("semisync_timeout_ms") or 10000))
        return coords

    def _receive_seed(self, request: Mapping[str, Any],
                      server: MariaDBServer) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(password, coords, seed) of a replica seeded from its source's stream."""
        password, coords = receive_seed(request["stream"], server.binaries, server.datadir)
        return password, coords, {"method": "stream"}

    def prepare_replica(self, request: Mapping[str, Any], flavor: Mapping[str, Any],
                        prepare: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A replica's whole prepare: seed, role config, ``prepare()`` (the app's,
        without users or databases: they come seeded), replicate. Returns what
        ``prepare()`` returned."""
        self.before_prepare(request, flavor)
        result = prepare()
        self.start_replica(flavor)
        return result

    def before_prepare(self, request: Mapping[str, Any], flavor: Mapping[str, Any]) -> None:
        """Seed the datadir and write the replica's config, before the first start."""
        self.seed(request, self.app_fn().server)
        self.write_role_config(flavor)

    def start_replica(self, flavor: Mapping[str, Any]) -> None:
        """Prepare's second half: config written, server running -> replicate."""
        info = self.info
        coords = info["seed_coords"]
        stmts = [self.STOP_REPLICA, self.RESET_REPLICA, *self._seed_replica_sql(coords),
                 self._change_source_sql(info["source_host"], info["source_port"],
                                         info["strategy"], coords, REPL_USER, self.password()),
                 *self._read_only_sql(True), self.START_REPLICA]
        started = time.monotonic()
        self._execute(*stmts, log_bin=False)
        self.wait_running()
        LOG.info("replicating from %s: both threads run %.2f s after CHANGE MASTER",
                 info["source_host"], time.monotonic() - started)

    def wait_running(self, timeout: float = 30) -> None:
        """Until both replication threads run (the first report then says so);
        raises ReplicationError with the server's error if one stops instead."""
        deadline = time.monotonic() + timeout
        with self.app_fn().connect() as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
            while True:
                slave = self._replica_status(cur) or {}
                if slave.get("Slave_IO_Running") == "Yes" and \
                        slave.get("Slave_SQL_Running") == "Yes":
                    return
                broken, reason = decide_health("replica", slave)
                if broken or time.monotonic() > deadline:
                    raise ReplicationError(reason=reason or "replication did not start "
                                           "within %d s (IO thread %s: %s)" % (
                                               timeout, slave.get("Slave_IO_Running"),
                                               slave.get("Last_IO_Error") or "no error"))
                time.sleep(0.02)

    def write_role_config(self, flavor: Mapping[str, Any]) -> None:
        self._write_config(self.info.get("role"), flavor)

    # -- switchover --------------------------------------------------------------------
    def demote_begin(self, term: int | None = None) -> dict[str, Any]:
        """Old source, planned switchover: stop writes, return final coordinates."""
        self.accept_term(term, "demote_begin")
        self.stop_heartbeat()
        # the state first: from read_only on, writes are out until rw moves
        self._set(role="demoting")
        started = time.monotonic()
        try:
            with self.app_fn().connect() as conn, conn.cursor() as cur:
                # MariaDB sets read_only under a global read lock that blocks
                # commits: it returns once the commits in progress (a semi-sync
                # one included, acknowledged or cut) are done: final coordinates
                for stmt in self._read_only_sql(True):
                    cur.execute(stmt)
                coords = self._coords(cur)
        except Exception:
            self._set(role="source")
            self.start_heartbeat()
            raise
        LOG.info("demoted: read_only, final coordinates %s (%.3f s)", coords,
                 time.monotonic() - started)
        return coords

    def demote_abort(self) -> None:
        self._execute(*self._read_only_sql(False))
        self._set(role="source")
        self.start_heartbeat()

    def wait_applied(self, coords: Mapping[str, Any], timeout: float) -> None:
        strategy = self.info.get("strategy")
        with self.app_fn().connect(read_timeout=timeout + 5) as conn, conn.cursor() as cur:
            for stmt in self._wait_sql(strategy, coords, timeout):
                cur.execute(stmt)
                row = cur.fetchone()
                if row is None or row[0] is None or int(row[0]) < 0:
                    break
            else:
                return
        raise ReplicationError(reason="did not apply up to %s within %d s" % (
            coords.get("gtid") if strategy == "gtid" else "%s:%s" % (
                coords["binlog_file"], coords["binlog_position"]), timeout))

    def promote(self, flavor: Mapping[str, Any], term: int | None = None) -> dict[str, Any]:
        """Become the source: stop replicating, record where followers start, open."""
        self.accept_term(term, "promote")
        return self._promote(flavor)[0]

    def take_over(self, coords: Mapping[str, Any], timeout: float, flavor: Mapping[str, Any],
                  term: int | None = None, planned: bool=False) -> dict[str, Any]:
        """The chosen replica of a switchover or failover in one call: apply up
        to ``coords`` (the old source's last), stop replicating, open for
        writes. ``planned``: the old source is read_only and fully applied, so
        writes open first and replication stops after (off the write path).
        Returns {"coords": where followers start, "phases": seconds of each
        step}."""
        self.accept_term(term, "take_over")
        started = time.monotonic()
        self.wait_applied(coords, timeout)
        waited = time.monotonic()
        new_coords, phases = self._promote(flavor, open_first=planned)
        phases = dict(catch_up=round(waited - started, 3), **phases)
        return {"coords": new_coords, "phases": phases}

    def _promote(self, flavor: Mapping[str, Any],
                 open_first: bool=False) -> tuple[dict[str, Any], dict[str, float]]:
        """(coords, phases): the account and heartbeat table in place, the
        semi-sync source side on BEFORE writes open (no commit through the new
        source is unprotected), read_only off; replication stopped before that,
        or just after with ``open_first`` (nothing more can arrive: the old
        source is read_only and this server applied all it logged)."""
        t0 = time.monotonic()
        info = self.info
        password = self.password(create=True)
        phases: dict[str, float] = {}
        with self.app_fn().connect() as conn, conn.cursor() as cur:
            def stop_replica() -> None:
                mark = time.monotonic()
                cur.execute("SET SESSION sql_log_bin = 0")
                for stmt in (self.STOP_REPLICA, self.RESET_REPLICA):
                    cur.execute(stmt)
                cur.execute("SET SESSION sql_log_bin = 1")
                phases["stop_replica"] = round(time.monotonic() - mark, 3)
            if not open_first:
                stop_replica()
            # where followers start: before the first write here
            coords = self._coords(cur)
            # a seeded replica has the account and the heartbeat table from its
            # source: no DDL (nor its binlog events) on the write path then
            cur.execute(SOURCE_READY)
            opened = False
            if tuple(cur.fetchone()) != (1, 1):
                if self.OPEN_BEFORE_DDL:   # MySQL's super_read_only stops root's DDL too
                    for stmt in self._read_only_sql(False):
                        cur.execute(stmt)
                    opened = True
                for stmt in [*self._account_sql(password), create_heartbeat_table()]:
                    cur.execute(stmt)
            for stmt in self._semisync_sql("source", info.get("durability"),
                                           info.get("semisync_timeout_ms") or 10000):
                cur.execute(stmt)
            if not opened:
                for stmt in self._read_only_sql(False):
                    cur.execute(stmt)
            phases["open"] = round(time.monotonic() - t0 - phases.get("stop_replica", 0), 3)
            if open_first:
                stop_replica()
        t2 = time.monotonic()
        self._set(role="source", strategy=info.get("strategy"), source_host=None,
                  writes_held=False)
        self.start_heartbeat()
        phases["state"] = round(time.monotonic() - t2, 3)
        if not open_first:
            self._write_config("source", flavor)
        # else the caller writes the option file once it answered (off the
        # write path): write_role_config
        return coords, phases

    def coords_after(self, gtid_pos: str | None) -> dict[str, Any]:
        """Where in THIS server's binlogs a replica that executed up to ``gtid_pos``
        resumes in binlog mode (positions are per server): the first later
        transaction, else the end. Refused if this server's binlogs start later."""
        seq = domain0_seq(gtid_pos)
        with self.app_fn().connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            files = [row[0] for row in cur.fetchall()]
            for name in files:
                cur.execute("SHOW BINLOG EVENTS IN %s" % sql.quote_string(name))
                events = cur.fetchall()
                found = first_event_after(events, seq)
                if found is not None:
                    if name == files[0] and _first_seq(events) > seq + 1:
                        raise ReplicationError(reason="this server's binary logs begin "
                                               "after %s: the replica must be re-seeded"
                                               % gtid_pos)
                    return {"binlog_file": found[0], "binlog_position": found[1]}
            return self._coords(cur)

    def follow(self, host: str, port: int, coords: Mapping[str, Any], strategy: str,
               flavor: Mapping[str, Any], source_id: str | None = None,
               term: int | None = None) -> None:
        """Replicate from a new source starting at ``coords`` (its own positions)."""
        self.accept_term(term, "follow")
        was = self.info.get("role")
        stmts = [self.STOP_REPLICA]
        if strategy == "gtid" and was in FORMER_SOURCE_ROLES + (None,):
            stmts += self._continue_from_own_sql()
        keep_account = was == "replica"
        info = self.info
        stmts += [self._change_source_sql(host, port, strategy, coords,
                                          None if keep_account else REPL_USER,
                                          None if keep_account else self.password()),
                  *self._read_only_sql(True)]
        stmts += self._semisync_sql("replica", info.get("durability"),
                                    info.get("semisync_timeout_ms") or 10000)
        stmts.append(self.START_REPLICA)
        self.stop_heartbeat()
        self._execute(*stmts, log_bin=False)
        self._set(role="replica", strategy=strategy, source_host=host, source_port=port,
                  source_id=source_id, fenced_by=None, fenced_reason=None)
        self._write_config("replica", flavor)

    def detach(self, flavor: Mapping[str, Any]) -> None:
        """Stand alone: stop replicating, writable."""
        self._execute(self.STOP_REPLICA, self.RESET_REPLICA, *self._read_only_sql(False),
                      *self._semisync_sql(None, None, 0), log_bin=False)
        self._set(role=None, source_host=None, source_id=None, fenced_by=None,
                  fenced_reason=None)
        self._write_config(None, flavor)

    # -- status ------------------------------------------------------------------------
    def status(self) -> dict[str, Any] | None:
        """The ``replication`` block the heartbeat carries (None for no role)."""
        info = self.info
        role = info.get("role")
        if not role:
            return None
        out: dict[str, Any] = {"role": role, "strategy": info.get("strategy"),
               "source_id": info.get("source_id"), "term": info.get("term")}
        if info.get("seed"):
            out["seed"] = info["seed"]
        if role == "source":
            out["writes_held"] = bool(info.get("writes_held"))
        if role == "fenced":
            out.update(fenced_reason=info.get("fenced_reason"),
                       fenced_by=info.get("fenced_by"))
        try:
            with self.app_fn().connect(connect_timeout=2, read_timeout=5) as conn, \
                    conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute(self._status_sql())
                out.update(cur.fetchone())
                cur.execute(self.BINLOG_STATUS)
                master = cur.fetchone()
                if master:
                    out["binlog_file"], out["binlog_position"] = (master["File"],
                                                                  master["Position"])
                out["semisync"] = self._semisync_status(cur, role, info)
                if role == "replica":
                    slave = self._replica_status(cur)
                    out.update(_slave_fields(slave))
                    try:
                        cur.execute(read_lag())
                        row = cur.fetchone()
                        out["lag_seconds"] = (round(float(list(row.values())[0]), 3)
                                              if row else None)
                    except pymysql.MySQLError:
                        out["lag_seconds"] = None
                    broken, reason = decide_health(role, slave)
                    out["broken"], out["broken_reason"] = broken, reason
        except (pymysql.MySQLError, OSError) as e:
            out["error"] = "cannot read replication status: %s" % e
        out["read_only"] = bool(out.get("read_only"))
        return out


    @staticmethod
    def _semisync_status(cur: Cursor, role: str, info: Mapping[str, Any]) -> dict[str, Any]:
        cur.execute("SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync%'")
        variables = {r["Variable_name"].lower(): r["Value"] for r in cur.fetchall()}
        cur.execute("SHOW GLOBAL STATUS LIKE 'rpl_semi_sync%'")
        status = {r["Variable_name"].lower(): r["Value"] for r in cur.fetchall()}
        return semisync_view(role, info.get("durability"), variables, status)


def _first_seq(events: Sequence[Sequence[Any]]) -> int:
    found = first_event_after(events, -1)
    if found is None:
        return 0
    for row in events:
        if row[0] == found[0] and int(row[1]) == found[1]:
            return domain0_seq(next((w for w in str(row[5]).split() if w.count("-") == 2),
                                    ""))
    return 0


def _slave_fields(slave: Mapping[str, Any] | None) -> dict[str, Any]:
    if not slave:
        return {"io_thread": None, "sql_thread": None, "last_error": None,
                "source_coords": None, "received_coords": None}
    error = slave.get("Last_SQL_Error") or slave.get("Last_IO_Error") or None
    return {"io_thread": slave.get("Slave_IO_Running"),
            "sql_thread": slave.get("Slave_SQL_Running"),
            "io_state": slave.get("Slave_IO_State"),
            "seconds_behind_master": slave.get("Seconds_Behind_Master"),
            "last_error": error,
            "source_host": slave.get("Master_Host"),
            "source_coords": {"binlog_file": slave.get("Relay_Master_Log_File"),
                              "binlog_position": slave.get("Exec_Master_Log_Pos"),
                              "gtid": slave.get("Gtid_Slave_Pos")},
            "received_coords": {"binlog_file": slave.get("Master_Log_File"),
                                "binlog_position": slave.get("Read_Master_Log_Pos"),
                                "gtid": slave.get("Gtid_IO_Pos")}}
