"""``benchmarks/backup.py --api``: backup and restore timed through the API.

A control plane (trove-lite-aio, local store, local compute on 127.205.*) in a
temp dir; one instance ("bench-src", database sbtest, user bench) loaded with
``sysbench oltp_read_write prepare`` over TCP. Each round, interleaved:

  api backup     backups.create -> status COMPLETED (polled every 0.1 s)
  raw backup     the raw chain of benchmarks/backup.py on bench-src's mariadbd
  api restore    instances.create(restorePoint) -> ACTIVE, minus the median
                 time of creating an empty instance (provisioning, measured too)
  raw restore    the raw chain into a scratch dir

MB/s are of the uncompressed xbstream (the backup's raw_size).
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status

KEY = "benchmark-key-0c1d2e"
USER, PASSWORD = "bench", "bench-Pw-1"


def create(trove, name, backup=None, users=True, size=3):
    kwargs = {"restorePoint": {"backupRef": backup}} if backup else {}
    if users:
        kwargs.update(databases=[{"name": "sbtest"}],
                      users=[{"name": USER, "password": PASSWORD,
                              "databases": [{"name": "sbtest"}]}])
    return trove.instances.create(name, "1", volume={"size": size}, datastore="mariadb",
                                  datastore_version="10.11", **kwargs)


def timed_active(trove, inst_id):
    start = time.monotonic()
    inst = wait_for_status(trove, inst_id, {"ACTIVE", "ERROR"}, timeout=900, interval=0.1)
    if inst.status != "ACTIVE":
        raise RuntimeError("instance %s: %s" % (inst_id, getattr(inst, "fault", None)))
    return inst, time.monotonic() - start


def timed_backup(trove, inst_id, name):
    start = time.monotonic()
    backup = trove.backups.create(name, inst_id)
    while True:
        b = trove.backups.get(backup.id)
        if b.status in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.1)
    if b.status != "COMPLETED":
        raise RuntimeError("backup failed: %s" % b.fail_reason)
    return b, time.monotonic() - start


def load(inst, tables, rows):
    subprocess.run(["sysbench", "oltp_read_write", "--db-driver=mysql",
                    "--mysql-host=%s" % inst.ip[0], "--mysql-user=%s" % USER,
                    "--mysql-password=%s" % PASSWORD, "--tables=%d" % tables,
                    "--table-size=%d" % rows, "--threads=2", "prepare"],
                   check=True, stdout=subprocess.DEVNULL)


def server_config(cp, inst_id):
    import sqlite3
    conn = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        sid = conn.execute("SELECT server_id FROM instances WHERE id=?",
                           (inst_id,)).fetchone()[0]
    finally:
        conn.close()
    return os.path.join(cp.state_dir, "servers", sid, "mysql", "my.cnf")


class _Server:
    def __init__(self, config_file):
        self.config_file = config_file


def main(args, codec, raw_backup, raw_restore):
    work = tempfile.mkdtemp(prefix="trove-lite-bench-api-")
    cp = ControlPlane(work, usage_timeout=900, address_area=205,
                      extra_conf="\n[backup]\ncodec = %s\n" % codec.name)
    cp.start_aio()
    try:
        trove = cp.client("bench")
        src, _ = timed_active(trove, create(trove, "bench-src").id)
        t = time.monotonic()
        load(src, args.tables, args.rows)
        print("sysbench: %d tables x %d rows loaded into %s (%.1f s)" % (
            args.tables, args.rows, src.ip[0], time.monotonic() - t))
        keyfile = os.path.join(work, "key")
        with open(keyfile, "w") as f:
            f.write(KEY)
        server = _Server(server_config(cp, src.id))
        times = {k: [] for k in ("api_backup", "raw_backup", "api_restore", "raw_restore",
                                 "empty_create")}
        raw_mb = None
        for rnd in range(args.rounds + 1):
            this = {}
            b, this["api_backup"] = timed_backup(trove, src.id, "bench-%d" % rnd)
            raw_mb = json_raw_size(cp, b.id) / 1e6
            out = os.path.join(work, "raw.enc")
            start = time.monotonic()
            raw_backup(server, codec, keyfile, out, work)
            this["raw_backup"] = time.monotonic() - start
            target = os.path.join(work, "raw-restore")
            start = time.monotonic()
            raw_restore(codec, keyfile, out, target)
            this["raw_restore"] = time.monotonic() - start
            shutil.rmtree(target)
            os.unlink(out)
            empty, this["empty_create"] = timed_active(
                trove, create(trove, "bench-empty-%d" % rnd, users=False, size=1).id)
            restored, total = timed_active(
                trove, create(trove, "bench-restore-%d" % rnd, backup=b.id, users=False).id)
            this["api_restore"] = total
            for inst in (empty, restored):
                trove.instances.delete(inst.id)
            trove.backups.delete(b.id)
            print("round %d%s: %s" % (rnd, " (warm-up)" if rnd == 0 else "", ", ".join(
                "%s %.2fs" % (k, v) for k, v in this.items())))
            if rnd:
                for k, v in this.items():
                    times[k].append(v)
        report(times, raw_mb)
    finally:
        destroy_everything(cp)
        shutil.rmtree(work, ignore_errors=True)


def json_raw_size(cp, backup_id):
    import json
    import sqlite3
    conn = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        meta = conn.execute("SELECT meta FROM backups WHERE id=?", (backup_id,)).fetchone()[0]
    finally:
        conn.close()
    return json.loads(meta)["raw_size"]


def report(times, raw_mb):
    med = {k: statistics.median(v) for k, v in times.items()}
    restore_only = med["api_restore"] - med["empty_create"]
    print("\nxbstream %.0f MB; medians of %d rounds (empty create %.2f s):" % (
        raw_mb, len(times["api_backup"]), med["empty_create"]))
    print("%-34s %9s %9s %8s" % ("", "seconds", "MB/s", "vs raw"))
    rows = [("api backup (create -> COMPLETED)", med["api_backup"], med["raw_backup"]),
            ("raw backup", med["raw_backup"], med["raw_backup"]),
            ("api restore (minus empty create)", restore_only, med["raw_restore"]),
            ("api restore (create -> ACTIVE)", med["api_restore"], med["raw_restore"]),
            ("raw restore", med["raw_restore"], med["raw_restore"])]
    for label, t, raw in rows:
        print("%-34s %9.2f %9.1f %8.2f" % (label, t, raw_mb / t, raw / t))
    # the machine is shared: a round's api and raw runs are seconds apart, so the
    # median of per-round ratios is steadier than the ratio of medians
    per_round = {
        "backup": [r / a for r, a in zip(times["raw_backup"], times["api_backup"])],
        "restore": [r / (a - e) for r, a, e in zip(times["raw_restore"], times["api_restore"],
                                                    times["empty_create"])]}
    for way, ratios in per_round.items():
        ratio = statistics.median(ratios)
        print("target api >= 0.9 x raw, %s: %.2f %s (per round: %s)" % (
            way, ratio, "OK" if ratio >= 0.9 else "MISSED",
            ", ".join("%.2f" % r for r in ratios)))


if __name__ == "__main__":
    sys.exit("run benchmarks/backup.py --api")
