#!/usr/bin/env python3
"""MySQL replica creation beside MariaDB's, in the same run.

    .venv/bin/python benchmarks/mysql_replication.py [--runs 3] [--rows 20000]

One control plane; a MariaDB 10.11 source and a MySQL 9.7 source with the same
table (``--rows`` rows of about 200 bytes). Each run POSTs one replica of each
source, alternating which goes first (the machine is shared: alternation
spreads the load over both), and times POST -> ACTIVE with both replication
threads running; the replica is deleted before the next. MariaDB seeds with a
streamed mariadb-backup; MySQL with CLONE, then a restart of mysqld (CLONE ends
that way), whose parts the replica's ``replication.seed`` block reports.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pymysql  # noqa: E402

from tests.functional.controlplane.conftest import destroy_everything  # noqa: E402
from tests.support.controlplane import (ControlPlane, build_images_or_skip,  # noqa: E402,F401
                                        manage, wait_for_status)

PW = "bench-Pw1"


def make_source(trove, name, datastore, version, rows):
    inst = trove.instances.create(name, "1", volume={"size": 1}, datastore=datastore,
                                  datastore_version=version, databases=[{"name": "shop"}],
                                  users=[{"name": "bench", "password": PW,
                                          "databases": [{"name": "shop"}]}])
    inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=300)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    with pymysql.connect(host=inst.ip[0], user="bench", password=PW, database="shop",
                         autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(200))")
        for start in range(0, rows, 1000):
            cur.executemany("INSERT INTO t VALUES (%s, %s)",
                            [(i, "x" * 200) for i in range(start, min(start + 1000, rows))])
    return inst


def replica_seconds(trove, source, name):
    started = time.monotonic()
    rep = trove.instances.create(name, "1", volume={"size": 1}, replica_of=source.id)
    rep = wait_for_status(trove, rep.id, {"ACTIVE", "ERROR"}, timeout=600)
    assert rep.status == "ACTIVE", getattr(rep, "fault", None)
    while True:
        block = trove.instances.get(rep.id).replication or {}
        if block.get("io_thread") == "Yes" and block.get("sql_thread") == "Yes":
            break
        time.sleep(0.1)
    took = time.monotonic() - started
    trove.instances.delete(rep.id)
    deadline = time.monotonic() + 120
    while rep.id in [i.id for i in trove.instances.list()] and time.monotonic() < deadline:
        time.sleep(0.3)
    return took, block.get("seed") or {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=20000)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="trove-lite-bench-myrepl-")
    plane = ControlPlane(base, heartbeat_interval=1).start_aio()
    try:
        manage(plane, "image_fetch", "mysql-9.7")
        trove = plane.client()
        sources = {"mariadb": make_source(trove, "bm-maria", "mariadb", "10.11", args.rows),
                   "mysql": make_source(trove, "bm-mysql", "mysql", "9.7", args.rows)}
        times = {"mariadb": [], "mysql": []}
        for run in range(args.runs):
            order = ["mariadb", "mysql"] if run % 2 == 0 else ["mysql", "mariadb"]
            for ds in order:
                took, seed = replica_seconds(trove, sources[ds], "bm-%s-%d" % (ds, run))
                times[ds].append(took)
                print("run %d %-7s POST -> replicating %6.2f s  seed %s" % (
                    run + 1, ds, took, seed), flush=True)
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        maria, mysql = statistics.median(times["mariadb"]), statistics.median(times["mysql"])
        print("median POST -> replicating: MySQL %.2f s, MariaDB %.2f s (%.2fx), "
              "%d rows, %d runs, load %s" % (mysql, maria, mysql / maria, args.rows,
                                             args.runs, load))
    finally:
        destroy_everything(plane)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
