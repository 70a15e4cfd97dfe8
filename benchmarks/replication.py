#!/usr/bin/env python3
"""Replica creation and promote, beside this machine's raw figures.

    .venv/bin/python benchmarks/replication.py [--runs 3] [--mb 50]

Baseline, measured in the same run on a source holding the same data: by hand,
`mariadb-backup --backup --stream=xbstream | mbstream -x` into an empty dir,
`mariadb-backup --prepare`, start mariadbd on it, CHANGE MASTER from the
snapshot's GTID, START SLAVE, until both threads run. trove-lite: POST a
replica (python-troveclient) until it is ACTIVE and reports its IO and SQL
threads running (target: at most 1.5x the baseline median); then promote under a
live writer, from the POST until the new source is ACTIVE and out of the set,
with the number of acknowledged rows lost (target: at most 2 s, 0 lost).

Both replicas' datadirs are on volumes made by the local volume driver (a
loop-mounted ext4 image), so fsyncs cost the same. Apply rate: the same backlog
(``--backlog`` single-row transactions from 4 writers) is written while a
replica's SQL thread is stopped and its IO thread has received it all; then
transactions per second from START SLAVE SQL_THREAD until it applied the
source's last GTID. Baseline: a hand-made replica with
MariaDB's own parallel apply (same thread count, the server's default mode);
trove-lite: a replica it created (target: at least 0.9x the baseline's rate).
The per-step profile of each POST (the taskmanager's and the guest's own step
lines) says where the time goes.
"""

import argparse
import os
import re
import threading
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pymysql  # noqa: E402

from tests.functional.replication.writer import Writer  # noqa: E402
from tests.support.controlplane import ControlPlane, wait_for_status  # noqa: E402
from tests.support.net import free_loopback  # noqa: E402
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer  # noqa: E402

OPTIONS = {"log_bin": "mysql-bin", "binlog_format": "ROW", "log_slave_updates": "ON",
           "gtid_strict_mode": "ON", "innodb_log_file_size": "32M",
           "innodb_buffer_pool_size": "128M", "performance_schema": "OFF"}
PW = "bench-Pw1"


def load(conn, mb):
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bulk (id INT PRIMARY KEY, b LONGBLOB)")
        for start in range(0, mb, 10):
            cur.execute("INSERT INTO bulk SELECT seq, REPEAT(MD5(seq), 32768) FROM "
                        "seq_%d_to_%d" % (start + 1, min(start + 10, mb)))


def backlog(connect, n, start, writers=4):
    """``n`` single-row autocommit INSERTs into table ap from ``writers`` threads."""
    def write(k):
        conn = connect()
        with conn.cursor() as cur:
            for i in range(start + k, start + n, writers):
                cur.execute("INSERT INTO ap VALUES (%s, REPEAT('x', 100))", (i,))
        conn.close()
    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def apply_rate(replica_cur, source_connect, n, start, source_admin=None):
    """Transactions/s a replica applies a backlog of ``n`` received with its SQL
    thread stopped (``replica_cur``: a root cursor on the replica;
    ``source_admin()``: a connection that may read the source's binlog position)."""
    replica_cur.execute("STOP SLAVE SQL_THREAD")
    backlog(source_connect, n, start)
    src = (source_admin or source_connect)()
    with src.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos")
        gtid = cur.fetchone()[0]
        cur.execute("SHOW MASTER STATUS")
        file, pos = cur.fetchone()[:2]
    src.close()
    while True:                           # everything received, nothing applied
        replica_cur.execute("SHOW SLAVE STATUS")
        row = dict(zip([d[0] for d in replica_cur.description], replica_cur.fetchone()))
        if (row["Master_Log_File"], int(row["Read_Master_Log_Pos"])) >= (file, pos):
            break
        time.sleep(0.05)
    t0 = time.monotonic()
    replica_cur.execute("START SLAVE SQL_THREAD")
    replica_cur.execute("SELECT MASTER_GTID_WAIT(%s, 600)", (gtid,))
    if replica_cur.fetchone()[0] != 0:
        raise RuntimeError("the backlog was not applied within 600 s")
    return n / (time.monotonic() - t0)


def baseline_once(source, workdir, rate_backlog=0, threads=2, data_root=None):
    data = os.path.join(data_root or workdir, "data")
    os.makedirs(data)
    t0 = time.monotonic()
    backup = subprocess.Popen(["mariadb-backup", "--defaults-file=%s" % source.config_file,
                               "--backup", "--stream=xbstream", "--user=root",
                               "--target-dir=%s" % workdir], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    subprocess.run(["mbstream", "-x", "-C", data], stdin=backup.stdout, check=True)
    backup.stdout.close()
    if backup.wait() != 0:
        raise RuntimeError("mariadb-backup failed")
    subprocess.run(["mariadb-backup", "--prepare", "--target-dir=%s" % data], check=True,
                   capture_output=True)
    with open(os.path.join(data, "xtrabackup_binlog_info")) as f:
        gtid = f.read().split()[2]
    replica = MariaDBServer(workdir, bind_address=free_loopback(205), datadir=data,
                            options=dict(OPTIONS, server_id=2, read_only="ON",
                                         slave_parallel_threads=threads,
                                         # the durability trove-lite's replicas keep
                                         sync_binlog=1, innodb_flush_log_at_trx_commit=1))
    replica.start()
    with replica.connect() as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL gtid_slave_pos = '%s'" % gtid)
        cur.execute("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=3306, MASTER_USER="
                    "'repl', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos"
                    % (source.bind_address, PW))
        cur.execute("START SLAVE")
        while True:
            cur.execute("SHOW SLAVE STATUS")
            row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
            if row["Slave_IO_Running"] == "Yes" and row["Slave_SQL_Running"] == "Yes":
                break
            time.sleep(0.02)
    elapsed = time.monotonic() - t0
    rate = None
    if rate_backlog:
        with replica.connect() as conn, conn.cursor() as cur:
            rate = apply_rate(cur, lambda: source.connect(database="b"),
                              rate_backlog, 10_000_000)
    replica.destroy()
    return elapsed, rate


vol_id = [None]


def _volume(base, volumes):
    """(driver, mount path) of a 2 GB local volume as the local driver makes them
    (beside ``base``, which the source's destroy removes)."""
    vol_id[0] = volumes.create_volume(2, "bench").id
    return volumes.attach_volume(vol_id[0], "bench")


def baseline(runs, mb, rate_backlog, threads):
    from trove_lite.drivers.volume.local import LocalVolumeDriver
    base = tempfile.mkdtemp(prefix="tl-bench-repl-src-")
    volumes = LocalVolumeDriver(base + "-vols")
    source = MariaDBServer(base, bind_address=free_loopback(205),
                           options=dict(OPTIONS, server_id=1))
    try:
        source.initialize()
        source.start()
        with source.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE b")
            cur.execute("CREATE USER repl@'%%' IDENTIFIED BY '%s'" % PW)
            cur.execute("GRANT REPLICATION SLAVE ON *.* TO repl@'%'")
            conn.select_db("b")
            load(conn, mb)
            cur.execute("CREATE TABLE ap (id INT PRIMARY KEY, v VARCHAR(200))")
        times, rates = [], []
        vol = _volume(base, volumes)
        for i in range(runs):
            # the replica's datadir on a volume like an instance's (a loop-mounted
            # ext4 image where possible): fsyncs cost what they cost a replica
            work = tempfile.mkdtemp(prefix="tl-bench-repl-")
            on_volume = tempfile.mkdtemp(dir=vol)
            try:
                took, rate = baseline_once(source, work, rate_backlog if i == 0 else 0,
                                           threads, on_volume)
                times.append(took)
                rates += [rate] if rate else []
            finally:
                shutil.rmtree(work, ignore_errors=True)
                shutil.rmtree(on_volume, ignore_errors=True)
        return times, rates
    finally:
        if vol_id[0] is not None:
            volumes.detach_volume(vol_id[0], "bench")
            volumes.delete_volume(vol_id[0])
            shutil.rmtree(base + "-vols", ignore_errors=True)
        source.destroy()


STEP = re.compile(r"instance (\S+): (.*) \((\d+\.\d+) s\)$")


def profile(cp, instance_id):
    """[(seconds, step)] of a create from the taskmanager's step lines, then the
    guest's seed and prepare lines (where a POST's time goes)."""
    steps = []
    with open(os.path.join(cp.base_dir, "aio.log"), errors="replace") as f:
        for line in f:
            m = STEP.search(line.strip())
            if m and m.group(1) == instance_id:
                steps.append((float(m.group(3)), m.group(2)))
    guest_log = os.path.join(cp.state_dir, "servers", _server_id(cp, instance_id),
                             "guest.log")
    with open(guest_log, errors="replace") as f:
        for line in f:
            if re.search(r"seeded |prepare finished|replication threads|mariadbd started",
                         line):
                steps.append((None, "guest: " + line.strip()[:150]))
    return steps


def replica_once(trove, source_id, name):
    t0 = time.monotonic()
    inst = trove.instances.create(name, "1", volume={"size": 1}, replica_of=source_id)
    while True:
        inst = trove.instances.get(inst.id)
        block = getattr(inst, "replication", None) or {}
        if inst.status == "ACTIVE" and block.get("io_thread") == "Yes" \
                and block.get("sql_thread") == "Yes":
            return time.monotonic() - t0, inst
        if inst.status == "ERROR":
            raise RuntimeError("replica %s: %s" % (name, getattr(inst, "fault", None)))
        time.sleep(0.05)


def _connect(inst):
    return pymysql.connect(host=inst.ip[0], user="u", password=PW, database="b",
                           autocommit=True, connect_timeout=1)


def promote_once(trove, source, replica, start_id):
    writer = Writer([source, replica], _connect, table="w", start_id=start_id)
    writer.__enter__()
    time.sleep(1)
    t0 = time.monotonic()
    trove.instances.promote_to_replica_source(replica.id)
    while True:
        inst = trove.instances.get(replica.id)
        if inst.status == "ACTIVE" and not getattr(inst, "replica_of", None):
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    time.sleep(1)
    writer.__exit__()
    if getattr(inst, "fault", None):
        raise RuntimeError("promote failed: %s" % inst.fault)
    conn = pymysql.connect(host=replica.ip[0], user="u", password=PW, database="b")
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM w")
        have = {r[0] for r in cur.fetchall()}
    conn.close()
    return elapsed, len(set(writer.acked) - have), len(writer.acked)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mb", type=int, default=50, help="MB of data on the source")
    ap.add_argument("--from-backup", action="store_true",
                    help="also POST a replica seeded from a stored backup of a replica")
    ap.add_argument("--backlog", type=int, default=20000,
                    help="transactions of the apply-rate backlog (0: skip)")
    args = ap.parse_args()
    threads = 2    # the template's apply threads for flavor 1 (1 vCPU)
    base, base_rates = baseline(args.runs, args.mb, args.backlog, threads)
    base_dir = tempfile.mkdtemp(prefix="tl-bench-repl-")
    cp = ControlPlane(base_dir, usage_timeout=300, heartbeat_interval=1,
                      extra_conf="\n[backup_storage]\ndriver = local\n")
    try:
        cp.start_aio()
        trove = cp.client("bench")
        src = trove.instances.create("src", "1", volume={"size": 2}, datastore="mariadb",
                                     datastore_version="10.11", databases=[{"name": "b"}],
                                     users=[{"name": "u", "password": PW,
                                             "databases": [{"name": "b"}]}])
        src = wait_for_status(trove, src.id, {"ACTIVE"}, timeout=300)
        with pymysql.connect(host=src.ip[0], user="u", password=PW, database="b",
                             autocommit=True) as conn:
            load(conn, args.mb)
            conn.cursor().execute("CREATE TABLE w (id INT PRIMARY KEY)")
            conn.cursor().execute("CREATE TABLE ap (id INT PRIMARY KEY, v VARCHAR(200))")
        seeds, replicas = [], []
        for i in range(args.runs):
            took, rep = replica_once(trove, src.id, "rep-%d" % i)
            seeds.append(took)
            replicas.append(rep)
        promotes = []           # before any backlog: a switchover waits for every replica
        current = src
        for i, rep in enumerate(replicas[:2]):
            promotes.append(promote_once(trove, current, rep, 1000000 * (i + 1)))
            current = rep
        from_backup = None
        if args.from_backup:     # scale-out from the store: a backup OF a replica
            from tests.functional.backups_api.conftest import wait_backup
            wait_backup(trove, trove.backups.create("b0", src.id).id,
                        timeout=600)     # src is a replica by now
            with _connect(current) as conn:
                conn.cursor().execute("INSERT INTO w SELECT seq FROM seq_%d_to_%d"
                                      % (500000001, 500010000))
            took, rep = replica_once(trove, current.id, "rep-b")
            assert rep.replication["seed"]["method"] == "backup", rep.replication
            from_backup = (took, rep)
        rates = []
        if args.backlog:
            rates.append(trove_apply_rate(cp, trove, current, src, args.backlog))
        bmed, smed = statistics.median(base), statistics.median(seeds)
        print("\nreplication on %d cores, %d MB of data, %d runs" % (
            os.cpu_count(), args.mb, args.runs))
        print("%-44s median %6.2f s   max %6.2f s" % (
            "baseline backup|mbstream+prepare+start+slave", bmed, max(base)))
        print("%-44s median %6.2f s   max %6.2f s   ratio %.2f (target <= 1.5)" % (
            "trove-lite POST -> replicating replica", smed, max(seeds), smed / bmed))
        if from_backup:
            print("%-44s %6.2f s   ratio %.2f (no load on the source's disk)" % (
                "trove-lite POST -> replicating, from a backup", from_backup[0],
                from_backup[0] / bmed))
        if rates and base_rates:
            print("%-44s %8.0f tx/s" % ("baseline MariaDB parallel apply (%d threads)"
                                        % threads, base_rates[0]))
            print("%-44s %8.0f tx/s   ratio %.2f (target >= 0.9)" % (
                "trove-lite replica apply", rates[0], rates[0] / base_rates[0]))
        posts = [("rep-%d" % i, seeds[i], rep) for i, rep in enumerate(replicas)]
        if from_backup:
            posts.append(("rep-b", from_backup[0], from_backup[1]))
        for name, took_all, rep in posts:
            print("profile of POST %s (%.2f s):" % (name, took_all))
            for took, step in profile(cp, rep.id):
                print("    %8s  %s" % ("%.2f s" % took if took is not None else "", step))
        for took, lost, acked in promotes:
            print("%-44s %6.2f s   %d of %d acknowledged rows lost (target <= 2 s, 0)" % (
                "trove-lite promote under a writer", took, lost, acked))
    finally:
        from tests.functional.controlplane.conftest import destroy_everything
        try:
            destroy_everything(cp)
        finally:
            shutil.rmtree(base_dir, ignore_errors=True)


def _root(cp, instance_id):
    sock = os.path.join(cp.state_dir, "servers", _server_id(cp, instance_id), "mysql",
                        "mysqld.sock")
    return pymysql.connect(unix_socket=sock, user="root", autocommit=True)


def trove_apply_rate(cp, trove, source, replica, n):
    """apply_rate of ``replica`` in its set, the set's other replicas' SQL threads
    stopped meanwhile (the baseline has one replica on this machine's 2 cores)."""
    others = [r["id"] for r in trove.instances.get(source.id).replicas
              if r["id"] != replica.id]
    for rid in others:
        with _root(cp, rid) as conn:
            conn.cursor().execute("STOP SLAVE SQL_THREAD")
    try:
        with _root(cp, replica.id) as conn, conn.cursor() as cur:
            return apply_rate(cur, lambda: _connect(source), n, 10_000_000,
                              lambda: _root(cp, source.id))
    finally:
        for rid in others:
            with _root(cp, rid) as conn:
                conn.cursor().execute("START SLAVE SQL_THREAD")


def _server_id(cp, instance_id):
    import sqlite3
    db = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        return db.execute("SELECT server_id FROM instances WHERE id=?",
                          (instance_id,)).fetchone()[0]
    finally:
        db.close()


if __name__ == "__main__":
    main()
