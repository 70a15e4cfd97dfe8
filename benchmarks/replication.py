#!/usr/bin/env python3
"""Replica creation and promote, beside this machine's raw figures.

    .venv/bin/python benchmarks/replication.py [--runs 3] [--mb 50]

Baseline, measured in the same run on a source holding the same data: by hand,
`mariadb-backup --backup --stream=xbstream | mbstream -x` into an empty dir,
`mariadb-backup --prepare`, start mariadbd on it, CHANGE MASTER from the
snapshot's GTID, START SLAVE, until both threads run. trove-lite: POST a
replica (python-troveclient) until it is ACTIVE and reports its IO and SQL
threads running (target: at most 1.5x the baseline median). The two alternate
run by run (the machine is shared: its load then weighs on both alike), and a
table gives each phase of a POST (medians, from the taskmanager's and the
replica agent's millisecond-stamped log lines) beside the raw pipeline's same
phase. Then promote under a
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
``--rate-runs`` rounds, each the same backlog on both sides in alternating
order; medians and the per-round ratios are printed.
"""

import argparse
import datetime
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


def raw_stream(source, workdir, data):
    """``mariadb-backup --stream | mbstream -x`` of ``source`` into ``data``, with
    the redo-log copier polling every 10 ms as trove-lite's does (the tool's default,
    1 s, adds up to a second whenever the source commits during the backup: a
    person would find the same flag, so the baseline has it too)."""
    backup = subprocess.Popen(["mariadb-backup", "--defaults-file=%s" % source.config_file,
                               "--backup", "--stream=xbstream", "--user=root",
                               "--log-copy-interval=10",
                               "--target-dir=%s" % workdir], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    subprocess.run(["mbstream", "-x", "-C", data], stdin=backup.stdout, check=True)
    backup.stdout.close()
    if backup.wait() != 0:
        raise RuntimeError("mariadb-backup failed")


def baseline_once(source, workdir, threads=2, data_root=None):
    """One hand-made replica: (seconds, {phase: seconds}, the running replica)."""
    data = os.path.join(data_root or workdir, "data")
    os.makedirs(data)
    t0 = time.monotonic()
    raw_stream(source, workdir, data)
    t1 = time.monotonic()
    subprocess.run(["mariadb-backup", "--prepare", "--target-dir=%s" % data], check=True,
                   capture_output=True)
    t2 = time.monotonic()
    with open(os.path.join(data, "xtrabackup_binlog_info")) as f:
        gtid = f.read().split()[2]
    replica = MariaDBServer(workdir, bind_address=free_loopback(205), datadir=data,
                            options=dict(OPTIONS, server_id=2, read_only="ON",
                                         slave_parallel_threads=threads,
                                         # the durability trove-lite's replicas keep
                                         sync_binlog=1, innodb_flush_log_at_trx_commit=1))
    replica.start()
    t3 = time.monotonic()
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
    t4 = time.monotonic()
    phases = {"stream": t1 - t0, "prepare": t2 - t1, "mariadbd start": t3 - t2,
              "CHANGE MASTER -> threads run": t4 - t3}
    return t4 - t0, phases, replica


vol_id = [None]


class Baseline:
    """The hand-made side: a source with the same data as trove-lite's and, per
    run, a replica on a local volume like an instance's (a loop-mounted ext4
    image: fsyncs cost what they cost a replica)."""

    def __init__(self, mb, threads):
        from trove_lite.drivers.volume.local import LocalVolumeDriver
        self.threads = threads
        self.base = tempfile.mkdtemp(prefix="tl-bench-repl-src-")
        self.volumes = LocalVolumeDriver(self.base + "-vols")
        self.source = MariaDBServer(self.base, bind_address=free_loopback(205),
                                    options=dict(OPTIONS, server_id=1))
        self.vol = None
        self.kept = []        # (replica, dirs) kept for the apply rate
        self.source.initialize()
        self.source.start()
        with self.source.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE b")
            cur.execute("CREATE USER repl@'%%' IDENTIFIED BY '%s'" % PW)
            cur.execute("GRANT REPLICATION SLAVE ON *.* TO repl@'%'")
            conn.select_db("b")
            load(conn, mb)
            cur.execute("CREATE TABLE ap (id INT PRIMARY KEY, v VARCHAR(200))")
        vol_id[0] = self.volumes.create_volume(2, "bench").id
        self.vol = self.volumes.attach_volume(vol_id[0], "bench")

    def replica(self, keep=False):
        """(seconds, phases) of one replica made by hand; ``keep``: it stays up
        (``self.kept``) for the apply rate."""
        work = tempfile.mkdtemp(prefix="tl-bench-repl-")
        on_volume = tempfile.mkdtemp(dir=self.vol)
        took, phases, replica = baseline_once(self.source, work, self.threads, on_volume)
        if keep:
            self.kept.append((replica, (work, on_volume)))
        else:
            replica.destroy()
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(on_volume, ignore_errors=True)
        return took, phases

    def apply_rate(self, n, start):
        replica = self.kept[-1][0]
        with replica.connect() as conn, conn.cursor() as cur:
            return apply_rate(cur, lambda: self.source.connect(database="b"), n, start)

    def close(self):
        for replica, dirs in self.kept:
            replica.destroy()
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
        try:
            if vol_id[0] is not None:
                self.volumes.detach_volume(vol_id[0], "bench")
                self.volumes.delete_volume(vol_id[0])
                shutil.rmtree(self.base + "-vols", ignore_errors=True)
        finally:
            self.source.destroy()


STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
SEEDED = re.compile(r"seeded \d+ bytes .*\(stream (\d+\.\d+) s, prepare (\d+\.\d+) s\)")
# (phase, log, pattern of the line that ends it) in the order a create runs
MARKS = [("POST -> source offers the seed stream", "tm", "seed arranged with the source"),
         ("-> replica's server created", "tm", r"server \S+ created"),
         ("-> replica connected to the stream", "guest", "stream-start"),
         ("stream (backup | mbstream)", "guest", "stream-end"),
         ("prepare", "guest", SEEDED.pattern),
         ("mariadbd start", "guest", r"prepared: \d+ database"),
         ("CHANGE MASTER -> threads run", "guest", "both threads run"),
         ("-> agent reports HEALTHY", "guest", "service status BUILDING -> HEALTHY"),
         ("-> taskmanager sees it serving", "tm", "reports the database serving"),
         ("-> set updated, ACTIVE", "tm", r" is ACTIVE$")]
RAW_OF = {"stream (backup | mbstream)": "stream", "prepare": "prepare",
          "mariadbd start": "mariadbd start",
          "CHANGE MASTER -> threads run": "CHANGE MASTER -> threads run"}


def _stamped(path, t0, pick=lambda line: True):
    """[(seconds after the wall-clock ``t0``, line)] of a log's stamped lines."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = STAMP.match(line)
            if m and pick(line):
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
                if t.timestamp() >= t0 - 0.01:
                    out.append((t.timestamp() - t0, line.rstrip()))
    return out


def profile(cp, instance_id, t0, took):
    """[(phase, seconds since the POST at which it ended)] of one replica's create,
    from the taskmanager's and the replica agent's stamped log lines (log
    clocks have millisecond stamps: a phase is +-1 ms), ending with the
    client seeing it ACTIVE and replicating (``took``)."""
    logs = {"tm": _stamped(os.path.join(cp.base_dir, "aio.log"), t0,
                           lambda line: instance_id in line),
            "guest": _stamped(os.path.join(cp.state_dir, "servers",
                                           _server_id(cp, instance_id), "guest.log"), t0)}
    ends = []
    seeded = next(((t, SEEDED.search(line)) for t, line in logs["guest"]
                   if SEEDED.search(line)), None)
    for phase, log, pattern in MARKS:
        at = None
        if pattern in ("stream-start", "stream-end"):
            if seeded:
                t, m = seeded
                at = t - float(m.group(2)) - (float(m.group(1)) if pattern == "stream-start"
                                              else 0)
        else:
            at = next((t for t, line in logs[log] if re.search(pattern, line)), None)
        ends.append((phase, at))
    ends.append(("-> client sees ACTIVE and both threads running", took))
    return ends


def print_profiles(profiles, raw_phases):
    """One table: each phase's median duration over the POSTs beside the raw
    pipeline's median for the same phase (measured in the same run)."""
    print("\nper-phase profile, medians over %d POSTs (ms-stamped logs) beside the raw "
          "pipeline" % len(profiles))
    print("  %-48s %9s %9s %9s" % ("phase", "ends at", "takes", "raw"))
    for k, (phase, _) in enumerate(profiles[0]):
        ends = [p[k][1] for p in profiles if p[k][1] is not None]
        befores = [[q[1] for q in p[:k] if q[1] is not None] for p in profiles
                   if p[k][1] is not None]
        took = [e - (b[-1] if b else 0) for e, b in zip(ends, befores)]
        raw = [r[RAW_OF[phase]] for r in raw_phases] if phase in RAW_OF else []
        print("  %-48s %9s %9s %9s" % (
            phase, "%.2f s" % statistics.median(ends) if ends else "-",
            "%.2f s" % statistics.median(took) if took else "-",
            "%.2f s" % statistics.median(raw) if raw else ""))


def replica_once(trove, source_id, name):
    """(seconds, instance, wall-clock time of the POST)."""
    wall = time.time()
    t0 = time.monotonic()
    inst = trove.instances.create(name, "1", volume={"size": 1}, replica_of=source_id)
    while True:
        inst = trove.instances.get(inst.id)
        block = getattr(inst, "replication", None) or {}
        if inst.status == "ACTIVE" and block.get("io_thread") == "Yes" \
                and block.get("sql_thread") == "Yes":
            return time.monotonic() - t0, inst, wall
        if inst.status == "ERROR":
            raise RuntimeError("replica %s: %s" % (name, getattr(inst, "fault", None)))
        # each GET costs the API 10-30 ms of CPU on this 2-core machine: polling
        # harder would slow the create it measures
        time.sleep(0.1)


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
    ap.add_argument("--backlog", type=int, default=5000,
                    help="transactions of the apply-rate backlog (0: skip)")
    ap.add_argument("--rate-runs", type=int, default=3,
                    help="apply-rate rounds (each: the baseline and trove-lite, alternating)")
    args = ap.parse_args()
    threads = 2    # the template's apply threads for flavor 1 (1 vCPU)
    raw = Baseline(args.mb, threads)
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
        base, base_phases, seeds, replicas, profiles = [], [], [], [], []
        for i in range(args.runs):     # alternating: the machine's load hits both alike
            for side in (("raw", "trove") if i % 2 == 0 else ("trove", "raw")):
                if side == "raw":
                    took, phases = raw.replica(keep=args.backlog > 0 and i == args.runs - 1)
                    base.append(took)
                    base_phases.append(phases)
                else:
                    took, rep, wall = replica_once(trove, src.id, "rep-%d" % i)
                    seeds.append(took)
                    replicas.append(rep)
                    profiles.append(profile(cp, rep.id, wall, took))
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
            took, rep, _ = replica_once(trove, current.id, "rep-b")
            assert rep.replication["seed"]["method"] == "backup", rep.replication
            from_backup = (took, rep)
        rates, base_rates = [], []
        for r in range(args.rate_runs if args.backlog else 0):
            start = 10_000_000 + r * args.backlog      # the same backlog on both sides
            for side in (("raw", "trove") if r % 2 == 0 else ("trove", "raw")):
                if side == "raw":
                    base_rates.append(raw.apply_rate(args.backlog, start))
                else:
                    rates.append(trove_apply_rate(cp, trove, current, src, args.backlog,
                                                  start))
        bmed, smed = statistics.median(base), statistics.median(seeds)
        print("\nreplication on %d cores (load %.1f), %d MB of data, %d runs alternating "
              "with the raw pipeline" % (os.cpu_count(), os.getloadavg()[0], args.mb,
                                         args.runs))
        print("%-44s median %6.2f s   runs %s" % (
            "raw backup|mbstream+prepare+start+slave", bmed,
            " ".join("%.2f" % b for b in base)))
        print("%-44s median %6.2f s   runs %s   ratio %.2f (target <= 1.5)" % (
            "trove-lite POST -> replicating replica", smed,
            " ".join("%.2f" % b for b in seeds), smed / bmed))
        if from_backup:
            print("%-44s %6.2f s   ratio %.2f (no load on the source's disk)" % (
                "trove-lite POST -> replicating, from a backup", from_backup[0],
                from_backup[0] / bmed))
        print_profiles(profiles, base_phases)
        if rates and base_rates:
            print("\napply rate, backlog of %d single-row transactions, %d rounds "
                  "alternating" % (args.backlog, len(rates)))
            print("%-44s median %8.0f tx/s   rounds %s" % (
                "raw MariaDB parallel apply (%d threads)" % threads,
                statistics.median(base_rates), " ".join("%.0f" % r for r in base_rates)))
            print("%-44s median %8.0f tx/s   rounds %s   ratio %.2f (target >= 0.9)" % (
                "trove-lite replica apply", statistics.median(rates),
                " ".join("%.0f" % r for r in rates),
                statistics.median(rates) / statistics.median(base_rates)))
            print("%-44s %s" % ("per-round ratios", " ".join(
                "%.2f" % (t / b) for t, b in zip(rates, base_rates))))
        for took, lost, acked in promotes:
            print("%-44s %6.2f s   %d of %d acknowledged rows lost (target <= 2 s, 0)" % (
                "trove-lite promote under a writer", took, lost, acked))
    finally:
        from tests.functional.controlplane.conftest import destroy_everything
        from trove_lite.drivers.endpoint.haproxy import remove_all
        try:
            destroy_everything(cp)
        finally:
            remove_all(cp.state_dir)    # the set's HAProxy outlives the control plane
            shutil.rmtree(base_dir, ignore_errors=True)
            raw.close()


def _root(cp, instance_id):
    sock = os.path.join(cp.state_dir, "servers", _server_id(cp, instance_id), "mysql",
                        "mysqld.sock")
    return pymysql.connect(unix_socket=sock, user="root", autocommit=True)


def trove_apply_rate(cp, trove, source, replica, n, start):
    """apply_rate of ``replica`` in its set, the set's other replicas' SQL threads
    stopped meanwhile (the baseline has one replica on this machine's 2 cores)."""
    others = [r["id"] for r in trove.instances.get(source.id).replicas
              if r["id"] != replica.id]
    for rid in others:
        with _root(cp, rid) as conn:
            conn.cursor().execute("STOP SLAVE SQL_THREAD")
    try:
        with _root(cp, replica.id) as conn, conn.cursor() as cur:
            return apply_rate(cur, lambda: _connect(source), n, start,
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
