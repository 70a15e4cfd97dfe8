#!/usr/bin/env python3
"""The seed stream alone: what the source's pre-started backup saves a replica.

    .venv/bin/python benchmarks/seed_stream.py [--runs 5] [--mb 50] [--boot 1.0]

One source server holding ``--mb`` MB. Three ways to fill an empty datadir,
alternating run by run, each timed from the moment the replica is ready to
read (after ``--boot`` seconds standing for its server's boot) until mbstream
has the whole stream:
  raw         mariadb-backup --stream | mbstream started at that moment
  pre-started SeedSender offered --boot s earlier (what a replica create does):
              its backup started then and waits on its pipe
  late        the same, but past PRESTART_WINDOW: the backup starts on connect
No prepare (the same for all three).
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from replication import raw_stream  # noqa: E402
from tests.support.net import free_loopback  # noqa: E402
from trove_lite.guestagent.datastore.mariadb import replication  # noqa: E402
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer  # noqa: E402

OPTIONS = {"log_bin": "mysql-bin", "binlog_format": "ROW", "innodb_log_file_size": "32M",
           "innodb_buffer_pool_size": "128M", "performance_schema": "OFF"}


def raw(source, target):
    t0 = time.monotonic()
    os.makedirs(os.path.join(target, "data"))
    raw_stream(source, target, os.path.join(target, "data"))
    return time.monotonic() - t0


def streamed(source, target, boot, late):
    window = replication.SeedSender.PRESTART_WINDOW
    if late:
        replication.SeedSender.PRESTART_WINDOW = 0.01
    try:
        sender = replication.SeedSender(source, source.bind_address, "bench-pw")
    finally:
        replication.SeedSender.PRESTART_WINDOW = window
    time.sleep(boot)
    t0 = time.monotonic()
    with socket.create_connection((source.bind_address, sender.port)) as conn:
        replication._send_frame(conn, sender.token.encode())
        replication._recv_frame(conn)
        conn.setblocking(True)
        subprocess.run(["mbstream", "-x", "-C", target], stdin=conn.fileno(), check=True)
    took = time.monotonic() - t0
    sender.thread.join(30)
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--boot", type=float, default=1.0)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="tl-bench-seed-")
    source = MariaDBServer(base, bind_address=free_loopback(205),
                           options=dict(OPTIONS, server_id=1))
    times = {"raw": [], "pre-started": [], "late": []}
    try:
        source.initialize()
        source.start()
        with source.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE b")
            cur.execute("CREATE TABLE b.bulk (id INT PRIMARY KEY, b LONGBLOB)")
            for start in range(0, args.mb, 10):
                cur.execute("INSERT INTO b.bulk SELECT seq, REPEAT(MD5(seq), 32768) FROM "
                            "b.seq_%d_to_%d" % (start + 1, min(start + 10, args.mb)))
        order = list(times)
        for i in range(args.runs):
            for kind in order[i % 3:] + order[:i % 3]:     # rotating order
                target = tempfile.mkdtemp(prefix="tl-bench-seed-t-")
                try:
                    if kind == "raw":
                        time.sleep(args.boot)
                        times[kind].append(raw(source, target))
                    else:
                        times[kind].append(streamed(source, target, args.boot,
                                                    kind == "late"))
                finally:
                    shutil.rmtree(target, ignore_errors=True)
        print("\nseed stream of %d MB, %d runs, rotating order, load %.1f; from the "
              "replica's connect to the whole stream received" % (
                  args.mb, args.runs, os.getloadavg()[0]))
        for kind, values in times.items():
            print("  %-12s median %5.2f s   runs %s" % (
                kind, statistics.median(values), " ".join("%.2f" % v for v in values)))
    finally:
        source.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
