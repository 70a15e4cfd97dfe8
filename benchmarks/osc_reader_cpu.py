"""CPU per row event of the OSC engine's binlog reader, on a fixed binlog.

Starts a scratch mariadbd (binlogs on, ``--bind``, default a free 127.88.0.x), writes
``--events`` single-row transactions (1/2 insert, 1/4 update, 1/4 delete) to a table of
many column types, and as many to a second table the reader must skip, then reads that
binlog from its start with:

- ``thread``: the reader (streamer.Streamer) in this process; CPU of this process
  (time.process_time) until every row event of the table is queued and taken;
- ``process``: the reader in its child process (streamer_process.ProcessStreamer), as the
  engine runs it; CPU of the child (from /proc) plus this process's, until the parent's
  queue has taken every row event.

CPU time, not wall time: the machine may be shared. Prints ms of CPU per row event of the
migrated table (the other table's events count as overhead of those). This is a
measurement script, not a test.

    .venv/bin/python benchmarks/osc_reader_cpu.py --events 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import random
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.conftest import BINLOG_OPTIONS  # noqa: E402
from trove_lite.drivers.localutil import port_free  # noqa: E402
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer  # noqa: E402
from trove_lite.osc.conn import ConnectionConfig  # noqa: E402

USER, PASSWORD, DB = "bench", "bench", "cpu"
COLUMNS = ("id int primary key, b varbinary(32), e enum('a','b','c'), s set('x','y','z'), "
           "j json, f bit(7), dt datetime(6), t time(3), u varchar(64) charset utf8mb4, "
           "l varchar(64) charset latin1, d decimal(12,3), g int as (id * 2) stored, "
           "pad varchar(120)")
# benchmarks/osc.py's table (sysbench's sbtest1)
SBTEST = ("id int unsigned not null primary key, k int unsigned not null default 0, "
          "c varchar(120) not null default '', pad varchar(60) not null default ''")


def free_address(bind: str | None) -> str:
    if bind:
        return bind
    for last in random.sample(range(2, 254), 252):
        addr = "127.88.0.%d" % last
        if port_free(addr, 3306):
            return addr
    raise RuntimeError("no free address in 127.88.0.0/24")


def write_binlog(server: MariaDBServer, events: int, schema: str) -> str:
    """Write the fixed workload; return the GTID state before it."""
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'" % (USER, PASSWORD))
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%'" % USER)
        cur.execute("CREATE DATABASE IF NOT EXISTS %s" % DB)
        for table in ("t", "other"):
            cur.execute("CREATE TABLE %s.%s (%s)" % (
                DB, table, COLUMNS if schema == "types" else SBTEST))
        cur.execute("CREATE TABLE %s._t_ghc (id bigint primary key, hint varchar(64), "
                    "value text)" % DB)
        cur.execute("SELECT @@gtid_binlog_pos")
        start = cur.fetchone()[0]
        rng = random.Random(7)
        live: dict[str, list[int]] = {"t": [], "other": []}
        next_id = 1
        for i in range(events * 2):
            table = "t" if i % 2 == 0 else "other"
            r = rng.random()
            if (r < 0.5 or len(live[table]) < 10) and schema == "sbtest":
                cur.execute("INSERT INTO " + DB + "." + table + " VALUES (%s, %s, %s, %s)",
                            (next_id, rng.randint(0, 10 ** 6), "c-%d-%s" % (next_id, "x" * 90),
                             "p" * 50))
                live[table].append(next_id)
                next_id += 1
            elif r < 0.5 or len(live[table]) < 10:
                cur.execute(
                    "INSERT INTO " + DB + "." + table + " (id, b, e, s, j, f, dt, t, u, l, d, pad)"
                    " VALUES (%s, %s, %s, %s, %s, b'1010101', %s, %s, %s, %s, %s, %s)",
                    (next_id, bytes([next_id % 256, 0, 255]), "abc"[next_id % 3],
                     ["", "x", "x,z"][next_id % 3], '{"k": %d, "a": [1, "é"]}' % next_id,
                     "2024-02-29 12:34:56.%06d" % (next_id % 1000000), "-01:02:03.450",
                     "naïve 🚀 %d" % next_id, "caf\u00e9 %d" % next_id, next_id / 7,
                     "p" * 100))
                live[table].append(next_id)
                next_id += 1
            elif r < 0.75:
                key = rng.choice(live[table])
                # a new value each time: an update that changes nothing logs no row
                cur.execute("UPDATE " + DB + "." + table + " SET pad = %s "
                            "WHERE id = %s", ("q%d-%s" % (i, "q" * rng.randint(1, 50)), key))
            else:
                key = live[table].pop(rng.randrange(len(live[table])))
                cur.execute("DELETE FROM " + DB + "." + table + " WHERE id = %s", (key,))
    conn.close()
    return start


def measure(kind: str, cfg: ConnectionConfig, start_gtid: str, events: int) -> float:
    """CPU ms per row event to read ``events`` row events of the table, from the first
    one taken (start-up and connection are not counted)."""
    log = logging.getLogger("osc-reader-cpu")
    server_id = random.randint(100000, 2 ** 31)
    if kind == "thread":
        from trove_lite.osc.streamer import Streamer
        streamer: object = Streamer(cfg, DB, "t", "_t_ghc", start_gtid, server_id, log)
    else:
        from trove_lite.osc.streamer_process import ProcessStreamer
        streamer = ProcessStreamer(cfg, DB, "t", "_t_ghc", start_gtid, server_id, log)
    before = time.process_time()
    streamer.start()  # type: ignore[attr-defined]
    taken, first, child_before = 0, 0, 0.0
    deadline = time.monotonic() + 120
    try:
        while taken < events:
            if time.monotonic() > deadline or streamer.error:  # type: ignore[attr-defined]
                raise RuntimeError("reader stalled at %d/%d events: %s" % (
                    taken, events, streamer.error))  # type: ignore[attr-defined]
            try:
                txn = streamer.queue.get(timeout=0.5)  # type: ignore[attr-defined]
            except queue.Empty:
                continue
            if not taken:
                # from the first event on: the child's start-up (imports, connecting)
                # is not per event
                first = len(txn.changes)
                before = time.process_time()
                if kind == "process":
                    child_before = streamer.cpu_seconds()  # type: ignore[attr-defined]
            taken += len(txn.changes)
        spent = time.process_time() - before
        events -= first
        if kind == "process":
            child = streamer.cpu_seconds() - child_before  # type: ignore[attr-defined]
            print("  process: child %.3f ms, parent %.3f ms per row event" % (
                child / events * 1000, spent / events * 1000), flush=True)
            spent += child
    finally:
        streamer.stop()  # type: ignore[attr-defined]
    return spent / events * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000,
                        help="row events of the migrated table (as many of another)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kinds", default="thread,process")
    parser.add_argument("--bind", help="loopback address for the scratch server")
    parser.add_argument("--schema", choices=("types", "sbtest"), default="types",
                        help="13 columns of many types, or benchmarks/osc.py's 4 columns")
    cfg = parser.parse_args(argv)
    options = dict(BINLOG_OPTIONS)
    server = MariaDBServer(tempfile.mkdtemp(prefix="osc-reader-cpu-"),
                           bind_address=free_address(cfg.bind), port=3306, options=options)
    server.initialize()
    server.start()
    try:
        started = time.monotonic()
        start_gtid = write_binlog(server, cfg.events, cfg.schema)
        print("wrote %d row events of the table and %d of another in %.1fs" % (
            cfg.events, cfg.events, time.monotonic() - started), flush=True)
        conn = ConnectionConfig(host=server.bind_address, port=3306, user=USER,
                                password=PASSWORD)
        for kind in cfg.kinds.split(","):
            per_event = [measure(kind, conn, start_gtid, cfg.events)
                         for _ in range(cfg.repeat)]
            print("%-8s CPU per row event: median %.3f ms (runs: %s)" % (
                kind, statistics.median(per_event),
                ", ".join("%.3f" % v for v in per_event)), flush=True)
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
