"""A source's self-fencing (Patroni's "demote when the leader key is lost").

A source of a set with ``durability = semisync`` must not take writes that no
replica holds. Semi-sync makes each commit wait for one replica's ack; if no
replica is connected for longer than the lease (``fence_after``, 5 s), or a commit waited
that long for an ack, the source fences itself before ``semisync_timeout_ms``
would let it fall back to async: the sessions still waiting for an ack are
killed (their clients never see the commit acknowledged), the server turns
``read_only`` and the replicas' dump connections are cut. It opens again by
itself when a replica connects anew (a live replica does so within a second; a
slow one or a short network blip costs a few seconds of writes), unless the
control plane fenced it (``ha_fence``: a failover left it behind; its role is
then ``demoting`` and only a rejoin changes it).

A source also boots fenced: its option file says ``read_only = ON`` under
semi-sync (replication.template), so a source that crashed and restarts takes
no write until a replica follows it again; after a failover none does, and the
control plane makes it rejoin as a replica. Its option file also turns the
semi-sync replica side on at boot, which MariaDB's crash recovery uses to drop
the binlog tail of commits that were never acknowledged (MDEV-21117) instead
of committing them. Measured on 10.11 the tail was still committed in 3 of 5
kill -9 runs: the control plane's errant check (taskmanager/ha.py) is what
keeps such a commit out of the set.

The guard reports ``fenced`` in the replication block; the control plane's
failover decision takes "the source says it is fenced" as seriously as "the
source stopped reporting".
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import pymysql

if TYPE_CHECKING:
    from trove_lite.guestagent.datastore.mariadb.replication import Replication

LOG = logging.getLogger(__name__)

WAITING_FOR_ACK = "Waiting for semi-sync ACK%"
DEFAULT_LEASE = 5.0
FENCE, OPEN, KEEP = "fence", "open", "keep"


def decide_fence(role: str | None, durability: str | None, clients: int, lost_for: float,
                 waited: float, lease: float, fenced: bool, reconnected: bool) -> str:
    """FENCE, OPEN or KEEP for a source (pure). ``clients``: semi-sync replicas
    connected; ``lost_for``: seconds it has had none; ``waited``: seconds the
    oldest commit has waited for an ack (a partition leaves the replicas'
    connections open but silent, so the count alone does not tell);
    ``reconnected``: a replica connected since the fence (an old, silent
    connection does not reopen the source)."""
    if role != "source":
        return KEEP         # a replica's read_only is its role's, not the guard's
    if durability != "semisync":
        return OPEN if fenced else KEEP
    if fenced:
        return OPEN if clients > 0 and reconnected and waited < lease else KEEP
    if (clients == 0 and lost_for >= lease) or waited >= lease:
        return FENCE
    return KEEP


class SourceGuard:
    """Runs beside the agent; ``replication`` is the Replication of this server."""

    def __init__(self, replication: Replication, interval: float = 0.5) -> None:
        self.replication = replication
        self.interval = interval
        info = replication.info
        # the option file booted a semi-sync source read_only
        self.fenced = info.get("role") == "source" and info.get("durability") == "semisync"
        self._lost_since: float | None = None
        self._fenced_at_id = 0      # connection ids above it came after the fence
        self._uptime: int | None = None  # the server's Uptime at the last tick
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="source-guard", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except (pymysql.MySQLError, OSError):
                pass        # the server is down or restarting: nothing to fence
            except Exception:
                LOG.exception("source guard failed")

    def tick(self) -> str:
        info = self.replication.info
        role, durability = info.get("role"), info.get("durability")
        if role != "source":
            # a replica, or a source the control plane fenced (role "demoting")
            self.fenced, self._lost_since = False, None
            return KEEP
        with self._lock:
            clients, waited, dump_ids, uptime = self._observe()
            if self._uptime is not None and uptime < self._uptime and \
                    durability == "semisync":
                # mariadbd restarted under this agent: it booted read_only (option file)
                self.fenced, self._fenced_at_id = True, 0
            self._uptime = uptime
            now = time.monotonic()
            if clients > 0:
                self._lost_since = None
            elif self._lost_since is None:
                self._lost_since = now
            lost_for = 0.0 if self._lost_since is None else now - self._lost_since
            lease = float(info.get("fence_after") or DEFAULT_LEASE)
            action = decide_fence(role, durability, clients, lost_for, waited, lease,
                                  self.fenced, any(i > self._fenced_at_id for i in dump_ids))
            if action == FENCE:
                killed = self.fence()
                LOG.warning("source fenced itself: %s (lease %.1f s); %d session(s) waiting "
                            "for an ack cut", "a commit waited %.1f s for an ack" % waited
                            if waited >= lease else "no replica for %.1f s" % lost_for,
                            lease, killed)
            elif action == OPEN and self.fenced:
                self.replication._execute("SET GLOBAL read_only = OFF", log_bin=False)
                self.fenced = False
                LOG.info("source open again: %d replica(s) acknowledging", clients)
            return action

    def _observe(self) -> tuple[int, float, list[int], int]:
        """(semi-sync clients, seconds the oldest commit waits for an ack, ids of
        the replicas' dump connections, the server's uptime)."""
        rows = self.replication._execute(
            "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'")
        clients = int(rows[0][1]) if rows else 0
        rows = self.replication._execute(
            "SELECT ID, COMMAND, STATE, TIME_MS FROM information_schema.PROCESSLIST "
            "WHERE COMMAND LIKE 'Binlog Dump%%' OR STATE LIKE '%s'" % WAITING_FOR_ACK)
        waited = max([float(r[3]) / 1000 for r in rows if r[1] and not
                      str(r[1]).startswith("Binlog Dump")] or [0.0])
        dumps = [int(r[0]) for r in rows if str(r[1]).startswith("Binlog Dump")]
        uptime = int(self.replication._execute("SHOW GLOBAL STATUS LIKE 'Uptime'")[0][1])
        return clients, waited, dumps, uptime

    def fence(self) -> int:
        """Cut the sessions waiting for an ack, then read_only (which waits for
        commits in progress, so those go first). Returns how many were cut."""
        self.fenced = True
        killed = 0
        with self.replication.app_fn().connect(connect_timeout=2) as conn, \
                conn.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            self._fenced_at_id = int(cur.fetchone()[0])
            cur.execute("SET SESSION lock_wait_timeout = 1")
            for _ in range(30):
                cur.execute("SELECT ID FROM information_schema.PROCESSLIST "
                            "WHERE STATE LIKE %s", (WAITING_FOR_ACK,))
                for (pid,) in cur.fetchall():
                    try:
                        cur.execute("KILL CONNECTION %d" % int(pid))
                        killed += 1
                    except pymysql.MySQLError:
                        pass     # it finished meanwhile
                try:
                    cur.execute("SET GLOBAL read_only = ON")
                    break
                except pymysql.MySQLError:
                    continue      # a commit still waits: cut it and try again
            # the replicas must prove they are reachable: a live one reconnects
            # within a second (MASTER_CONNECT_RETRY) and reopens the source; one
            # behind a partition cannot. A slow but live replica thus never
            # leaves the source fenced for good.
            cur.execute("SELECT ID FROM information_schema.PROCESSLIST "
                        "WHERE COMMAND LIKE 'Binlog Dump%'")
            for (pid,) in cur.fetchall():
                try:
                    cur.execute("KILL CONNECTION %d" % int(pid))
                except pymysql.MySQLError:
                    pass
        return killed
