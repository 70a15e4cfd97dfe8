"""Backup and restore throughput: our pipeline beside the raw shell pipeline.

Starts a private mariadbd on 127.205.x.y, loads ~200 MB with ``sysbench
oltp_read_write prepare``, then, interleaved for ``--rounds`` rounds:

  raw backup     mariadb-backup --backup --stream=xbstream | zstd -1 -T0 |
                 openssl enc -aes-256-cbc -pbkdf2 -salt -pass file:K > FILE
  ours backup    runner.run_backup(...) into the local store (fsynced, md5)
  raw restore    openssl enc -d ... < FILE | zstd -d | mbstream -x -C DIR;
                 mariadb-backup --prepare --target-dir=DIR
  ours restore   runner.run_restore([...]) from the local store (verified md5,
                 key check, prepare, move into place)

and, with --swift, our backup and restore against a Swift all-in-one; with
--compare-codecs, the raw chain with each codec candidate (best of 2; ratio =
stored / xbstream bytes). MB/s are
of the uncompressed xbstream (the same byte count for every row), medians over
the rounds. Target: ours >= 0.9 x raw, both ways.

    .venv/bin/python benchmarks/backup.py [--tables 4 --rows 200000 --rounds 3]

With ``--api``, the same through the whole control plane (trove-lite-aio, local
store, python-troveclient): an instance loaded with sysbench, then per round
``backups.create`` -> COMPLETED and ``instances.create(restorePoint=...)`` ->
ACTIVE, beside the raw chains run on that instance's own mariadbd in the same
round and beside creating an empty instance (the provisioning both creates pay).

    .venv/bin/python benchmarks/backup.py --api [--rounds 3]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.conftest import BINLOG_OPTIONS  # noqa: E402
from tests.support.net import free_loopback  # noqa: E402
from trove_lite.drivers.storage.local import LocalStorage  # noqa: E402
from trove_lite.guestagent.backup import codecs, runner  # noqa: E402
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer  # noqa: E402

KEY = "benchmark-key-0c1d2e"


def prepare_data(server, tables, rows):
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE sbtest")
    subprocess.run(["sysbench", "oltp_read_write", "--db-driver=mysql",
                    "--mysql-socket=%s" % server.socket, "--mysql-user=root",
                    "--tables=%d" % tables, "--table-size=%d" % rows, "--threads=2",
                    "prepare"], check=True, stdout=subprocess.DEVNULL)
    with server.connect() as conn, conn.cursor() as cur:
        # let InnoDB write out the load first, so no round pays for its flushing
        cur.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        for _ in range(600):
            cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            if int(cur.fetchone()[1]) == 0:
                break
            time.sleep(0.1)
        cur.execute("SELECT SUM(data_length + index_length) FROM information_schema.tables "
                    "WHERE table_schema = 'sbtest'")
        return int(cur.fetchone()[0])


def timed(fn):
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def sh(script, **env):
    subprocess.run(["bash", "-o", "pipefail", "-c", script], check=True,
                   env=dict(os.environ, **env), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def raw_backup(server, codec, keyfile, out, work):
    lsn = tempfile.mkdtemp(dir=work)
    sh("mariadb-backup --defaults-file=$CNF --backup --stream=xbstream --user=root "
       "--extra-lsndir=$LSN --target-dir=$LSN | %s | openssl enc -aes-256-cbc -pbkdf2 "
       "-salt -pass file:$KEYFILE > $OUT" % " ".join(codec.compress),
       CNF=server.config_file, LSN=lsn, KEYFILE=keyfile, OUT=out)
    shutil.rmtree(lsn)


def raw_restore(codec, keyfile, src, target):
    os.makedirs(target)
    sh("openssl enc -d -aes-256-cbc -pbkdf2 -pass file:$KEYFILE < $SRC | %s | "
       "mbstream -x -C $DIR && mariadb-backup --prepare --target-dir=$DIR"
       % " ".join(codec.decompress), KEYFILE=keyfile, SRC=src, DIR=target)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tables", type=int, default=4)
    p.add_argument("--rows", type=int, default=200000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--codec", default=codecs.DEFAULT_CODEC, choices=sorted(codecs.CODECS))
    p.add_argument("--swift", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--compare-codecs", action="store_true",
                   help="also time the raw chain with every codec candidate")
    p.add_argument("--api", action="store_true",
                   help="time backup-create and create --backup through the API")
    args = p.parse_args()
    if args.api:
        import backup_api
        return backup_api.main(args, codec=codecs.get_codec(args.codec), raw_backup=raw_backup,
                               raw_restore=raw_restore)
    codec = codecs.get_codec(args.codec)
    work = tempfile.mkdtemp(prefix="trove-lite-bench-backup-")
    server = MariaDBServer(os.path.join(work, "src"), bind_address=free_loopback(205),
                           options=BINLOG_OPTIONS)
    aio = None
    try:
        server.initialize()
        server.start()
        t = time.monotonic()
        data = prepare_data(server, args.tables, args.rows)
        print("sysbench: %d tables x %d rows, %.0f MB of InnoDB data (%.1f s)" % (
            args.tables, args.rows, data / 1e6, time.monotonic() - t))
        keyfile = os.path.join(work, "key")
        with open(keyfile, "w") as f:
            f.write(KEY)
        stores = {"local": LocalStorage(os.path.join(work, "store"))}
        if args.swift:
            aio, stores["swift"] = start_swift(work)
        times = {k: [] for k in ("raw_backup", "raw_restore")}
        for name in stores:
            times["%s_backup" % name], times["%s_restore" % name] = [], []
        sizes = {}
        # round 0 warms caches and is not counted; the order alternates so that
        # neither side always runs right after the other's disk writes
        for rnd in range(args.rounds + 1):
            runs = [("raw", None)] + list(stores.items())
            if rnd % 2:
                runs.reverse()
            this = {}
            for name, storage in runs:
                if storage is None:
                    this["raw_backup"], this["raw_restore"] = run_raw(server, codec, keyfile,
                                                                      work, sizes)
                else:
                    this[name + "_backup"], this[name + "_restore"] = run_ours(
                        server, storage, codec, work, rnd, sizes)
            print("round %d%s: %s" % (rnd, " (warm-up)" if rnd == 0 else "", ", ".join(
                "%s %.2fs" % (k, this[k]) for k in times)))
            if rnd:
                for k in times:
                    times[k].append(this[k])
        report(times, sizes, codec)
        if args.compare_codecs:
            compare_codecs(server, keyfile, work, sizes["raw"] / 1e6)
    finally:
        server.destroy()
        if aio is not None:
            aio.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def run_raw(server, codec, keyfile, work, sizes):
    out = os.path.join(work, "raw.enc")
    backup = timed(lambda: raw_backup(server, codec, keyfile, out, work))
    sizes["raw_stored"] = os.path.getsize(out)
    target = os.path.join(work, "raw-restore")
    restore = timed(lambda: raw_restore(codec, keyfile, out, target))
    shutil.rmtree(target)
    os.unlink(out)
    return backup, restore


def run_ours(server, storage, codec, work, rnd, sizes):
    result = {}
    backup = timed(lambda: result.update(runner.run_backup(
        server, storage, "bench%d" % rnd, key=KEY, codec=codec.name, container="bench")))
    sizes["raw"], sizes["stored"] = result["raw_size"], result["size"]
    target = os.path.join(work, "restore", "data")
    restore = timed(lambda: runner.run_restore([result], storage, KEY, target))
    shutil.rmtree(os.path.dirname(target))
    storage.delete(result["location"])
    return backup, restore


# codec candidates for --compare-codecs: the registered codecs plus other levels
CANDIDATES = list(codecs.CODECS.values()) + [
    codecs.Codec("zstd-3", ("zstd", "-3", "-T0", "-q", "-c"), ("zstd", "-d", "-q", "-c"), ""),
    codecs.Codec("zstd-fast3", ("zstd", "--fast=3", "-T0", "-q", "-c"),
                 ("zstd", "-d", "-q", "-c"), ""),
    codecs.Codec("gzip-3", ("pigz", "-3", "-c"), ("pigz", "-d", "-c"), ""),
    codecs.Codec("gzip-6", ("pigz", "-6", "-c"), ("pigz", "-d", "-c"), ""),
]


def compare_codecs(server, keyfile, work, raw_mb):
    """The raw chain with each candidate codec: the numbers behind DEFAULT_CODEC."""
    print("\n%-11s %8s %9s %8s %9s %7s" % ("codec", "backup s", "MB/s", "restore", "MB/s",
                                          "ratio"))
    for codec in CANDIDATES:
        if not codec.compress:
            codec = codecs.Codec("none", ("cat",), ("cat",), "")
        sizes, b, r = {}, [], []
        for _ in range(2):
            tb, tr = run_raw(server, codec, keyfile, work, sizes)
            b.append(tb)
            r.append(tr)
        print("%-11s %8.2f %9.1f %8.2f %9.1f %7.3f" % (
            codec.name, min(b), raw_mb / min(b), min(r), raw_mb / min(r),
            sizes["raw_stored"] / (raw_mb * 1e6)))


def start_swift(work):
    from tests.functional.backup.conftest import swift_storage
    from tests.support.swift_aio import SwiftAIO
    aio = SwiftAIO(area=205, base_dir=os.path.join(work, "swift"))
    aio.start()
    return aio, swift_storage(aio, segment_size=64 * 1024 * 1024)


def report(times, sizes, codec):
    mb = sizes["raw"] / 1e6
    med = {k: statistics.median(v) for k, v in times.items()}
    print("\nxbstream %.0f MB, stored %.0f MB (ours) / %.0f MB (raw), codec %s + "
          "aes-256-cbc; medians of %d rounds:" % (
              mb, sizes["stored"] / 1e6, sizes["raw_stored"] / 1e6, codec.name,
              len(times["raw_backup"])))
    print("%-16s %9s %9s %8s" % ("", "seconds", "MB/s", "vs raw"))
    for way in ("backup", "restore"):
        raw = med["raw_" + way]
        for name in [k.split("_")[0] for k in med if k.endswith("_" + way)]:
            t = med["%s_%s" % (name, way)]
            print("%-16s %9.2f %9.1f %8.2f" % ("%s %s" % (name, way), t, mb / t, raw / t))
    for way in ("backup", "restore"):
        ratio = med["raw_" + way] / med["local_" + way]
        print("target ours(local) >= 0.9 x raw, %s: %.2f %s" % (
            way, ratio, "OK" if ratio >= 0.9 else "MISSED"))


if __name__ == "__main__":
    main()
