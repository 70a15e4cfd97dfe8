#!/usr/bin/env python3
"""MySQL 9.7 instances beside MariaDB 10.11 ones on the same control plane, same run.

    .venv/bin/python benchmarks/mysql.py [--runs 2] [--rows 20000]

For each datastore: seconds from POST /instances to ACTIVE (with a database and a
user), a full backup of ``--rows`` rows until COMPLETED (MariaDB: mariadb-backup,
hot and physical; MySQL: mysqldump, logical), and a restore from it until ACTIVE.
MariaDB 10.11 (the system's) is the baseline. Needs the MySQL image
(tools/bootstrap.sh builds it).
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
from tests.support.controlplane import (ControlPlane, build_images_or_skip,  # noqa: E402
                                        manage, wait_for_status)

USER, PASSWORD = "bench", "Bench-pass-1"
VERSIONS = (("mariadb", "10.11"), ("mysql", "9.7"))


def active(trove, inst_id: str, started: float) -> tuple[object, float]:
    inst = wait_for_status(trove, inst_id, {"ACTIVE", "ERROR"}, timeout=300, interval=0.2)
    if inst.status != "ACTIVE":
        raise SystemExit("instance %s: %s" % (inst_id, getattr(inst, "fault", None)))
    return inst, time.monotonic() - started


def fill(inst, rows: int) -> None:
    conn = pymysql.connect(host=inst.ip[0], user=USER, password=PASSWORD, database="b",
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(64))")
        for start in range(0, rows, 1000):
            cur.executemany("INSERT INTO t VALUES (%s, SHA2(%s, 256))",
                            [(i, i) for i in range(start, min(rows, start + 1000))])
    conn.close()


def one_run(trove, datastore: str, version: str, rows: int, n: int) -> dict[str, float]:
    out = {}
    t0 = time.monotonic()
    inst = trove.instances.create(
        "b-%s-%d" % (datastore, n), "1", volume={"size": 1}, datastore=datastore,
        datastore_version=version, databases=[{"name": "b"}],
        users=[{"name": USER, "password": PASSWORD, "databases": [{"name": "b"}]}])
    inst, out["provision"] = active(trove, inst.id, t0)
    fill(inst, rows)
    t1 = time.monotonic()
    backup = trove.backups.create("b-%s-%d" % (datastore, n), inst.id)
    while trove.backups.get(backup.id).status not in ("COMPLETED", "FAILED"):
        time.sleep(0.1)
    out["backup"] = time.monotonic() - t1
    t2 = time.monotonic()
    restored = trove.instances.create(
        "r-%s-%d" % (datastore, n), "1", volume={"size": 1}, datastore=datastore,
        datastore_version=version, restorePoint={"backupRef": backup.id})
    _, out["restore"] = active(trove, restored.id, t2)
    for inst_id in (inst.id, restored.id):
        trove.instances.delete(inst_id)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    build_images_or_skip("mysql-9.7")
    base = tempfile.mkdtemp(prefix="tl-bench-mysql-")
    cp = ControlPlane(base).start_aio()
    try:
        manage(cp, "image_fetch", "mysql-9.7")
        trove = cp.client("demo")
        results = {ds: [] for ds, _ in VERSIONS}
        for n in range(args.runs):
            for ds, version in VERSIONS:    # interleaved: both see the same machine load
                results[ds].append(one_run(trove, ds, version, args.rows, n))
                print(ds, n, {k: round(v, 2) for k, v in results[ds][-1].items()}, flush=True)
        print("%d runs, %d rows; seconds, median (max)" % (args.runs, args.rows))
        print("%-10s %18s %18s %18s" % ("", "provision", "backup", "restore"))
        for ds, version in VERSIONS:
            cells = []
            for step in ("provision", "backup", "restore"):
                values = [r[step] for r in results[ds]]
                cells.append("%7.2f (%6.2f)" % (statistics.median(values), max(values)))
            print("%-10s %18s %18s %18s" % ("%s %s" % (ds, version), *cells))
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
