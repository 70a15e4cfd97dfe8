"""Point-in-time restore: our restore beside the raw shell pipeline, and the
binlog archive's lag under a steady writer.

Starts a private mariadbd (127.205.x.y, log_bin, sync_binlog=1), loads a base
table, takes a full backup into a local store (runner.run_backup, encrypted),
starts the guest's BinlogArchiver on it (local store, a stand-in conductor that
notes when each segment report arrives), then a steady writer commits batches of
1 KB rows at ``--rate`` MB/s until ``--binlog-mb`` MB of binlog are written. For
each commit it notes the time and the binlog position after it (SHOW MASTER
STATUS); its lag is the time until a segment reaching that position was stored
and reported.

Restore to a second near the end of the writes (stop second S), interleaved for
``--rounds`` rounds:

  raw    openssl enc -d | zstd -d | mbstream -x; mariadb-backup --prepare; start;
         mariadb-binlog --start-position=P --stop-datetime='S+1' FILES | mariadb
         (TZ=UTC; the binlog files read from the source's datadir as they are)
  ours   runner.run_restore from the store; start; pitr_replay.run (download and
         decrypt the archived segments chosen by pitr.plan, find the exact stop,
         mariadb-binlog --start-position --stop-position | pump | mariadb)

Both results are checksummed (they must match). Targets: ours <= 1.2 x raw,
archive lag p99 <= 5 s.

With ``--conductor rpc`` the archiver reports through the real bus (its
ConductorAPI, RabbitMQ on 127.0.0.1:5672, a private exchange) to the real
ConductorManager on a SQLite control DB, the stand-in noting arrivals in front
of it: each segment's report is a call answered once its row is committed, so
the lag includes that round trip. ``--lag-only`` skips the restores.

    .venv/bin/python benchmarks/pitr.py [--binlog-mb 40 --rate 4 --rounds 2]
"""

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.conftest import BINLOG_OPTIONS  # noqa: E402
from tests.support.net import free_loopback  # noqa: E402
from trove_lite.backup import pitr  # noqa: E402
from trove_lite.datastores import binlog  # noqa: E402
from trove_lite.drivers.storage.local import LocalStorage  # noqa: E402
from trove_lite.guestagent import pitr_replay  # noqa: E402
from trove_lite.guestagent.backup import codecs, runner  # noqa: E402
from trove_lite.guestagent.binlog_archive import BinlogArchiver  # noqa: E402
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer  # noqa: E402
from trove_lite.guestagent.state import GuestState  # noqa: E402

KEY = "benchmark-key-0c1d2e"
SOURCE = "bench-source"
OPTIONS = dict(BINLOG_OPTIONS, sync_binlog=1, innodb_buffer_pool_size="256M",
               max_allowed_packet="64M")


class Conductor:
    """Notes each archive report with its arrival time."""

    def __init__(self):
        self.reports = []
        self.lock = threading.Lock()

    def update_binlog_archive(self, instance_id, segments, status, sent=None):
        with self.lock:
            self.reports.append((time.time(), list(segments), dict(status)))

    def record_binlog_segments(self, instance_id, segments, status, sent=None):
        """The call a segment's report is (RPC 1.2); answered once noted."""
        self.update_binlog_archive(instance_id, segments, status, sent)
        return True


class RecordingEndpoint(Conductor):
    """The stand-in in front of the real conductor: notes arrivals, then records."""

    def __init__(self, manager):
        super().__init__()
        self.manager = manager
        self.target = manager.target     # the RPC version it serves (1.2)

    def update_binlog_archive(self, ctx, instance_id, segments=None, status=None,
                              sent=None):
        Conductor.update_binlog_archive(self, instance_id, segments or [], status or {})
        self.manager.update_binlog_archive(ctx, instance_id, segments, status, sent)

    def record_binlog_segments(self, ctx, instance_id, segments, status=None, sent=None):
        Conductor.update_binlog_archive(self, instance_id, segments, status or {})
        return self.manager.record_binlog_segments(ctx, instance_id, segments, status, sent)


def rpc_conductor(work):
    """(instance id, the guest's ConductorAPI, the noting endpoint, stop()) over the
    real bus to a ConductorManager on SQLite."""
    import uuid

    from tests.functional.db.test_control_db import _instance
    from trove_lite.common.master_key import load_master
    from trove_lite.conductor.manager import ConductorManager
    from trove_lite.config import make_conf
    from trove_lite.db.session import Database
    from trove_lite.rpc import conductor as conductor_rpc
    from trove_lite.rpc import sealed, transport
    tag = uuid.uuid4().hex[:10]
    db = Database("sqlite:///" + os.path.join(work, "cp.sqlite"))
    db.sync()
    iid = _instance(db)
    control = make_conf(overrides={"state_dir": work, "control_exchange": "tl_bench_" + tag,
                                   "conductor.topic": "cond-bench-" + tag})
    noting = RecordingEndpoint(ConductorManager(db))
    server = transport.make_server(control, control.conductor.topic, "bench", [
        sealed.SealedEndpoint(noting, sealed.control_key_for(control), sealed.TO_CONDUCTOR,
                              sealed.window_of(control), replies=conductor_rpc.CALLS)])
    server.start()
    guest = make_conf(overrides={
        "control_exchange": control.control_exchange,
        "conductor.topic": control.conductor.topic, "guest.instance_id": iid,
        "guest.rpc_key": sealed.instance_key(load_master(control), iid).decode()})

    def stop():
        server.stop()
        server.wait()
        transport.cleanup()
        db.dispose()
    return iid, conductor_rpc.ConductorAPI(guest), noting, stop


def sql(server, *statements):
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
            return cur.fetchall()
    finally:
        conn.commit()
        conn.close()


def writer(server, megabytes, rate_mb):
    """Commit 64-row batches of 1 KB rows at ``rate_mb``; [(time, file, pos)]."""
    commits, batch = [], 64
    conn = server.connect()
    per_commit = batch * 1100 / 1e6
    interval = per_commit / rate_mb
    start = time.monotonic()
    try:
        with conn.cursor() as cur:
            n = 0
            while n * per_commit < megabytes:
                cur.execute("INSERT INTO bench.t (payload) SELECT RANDOM_BYTES(1000) "
                            "FROM bench.seq_1_to_%d" % batch)
                conn.commit()
                done = time.time()
                cur.execute("SHOW MASTER STATUS")
                row = cur.fetchone()
                commits.append((done, row[0], int(row[1])))
                n += 1
                delay = start + n * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    finally:
        conn.close()
    return commits


def lags(commits, reports):
    """Seconds from each commit until a stored segment reached its position."""
    shipped = []   # (arrival, (seq, end)) in arrival order
    for arrival, segments, _ in reports:
        for seg in segments:
            if seg["kind"] == "data":
                shipped.append((arrival, (binlog.file_seq(seg["file"]), seg["end"])))
    out = []
    for done, file, pos in commits:
        target = (binlog.file_seq(file), pos)
        arrival = next((a for a, reach in shipped if reach >= target and a >= done - 60),
                       None)
        out.append(math.inf if arrival is None else max(0.0, arrival - done))
    return out


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(0.99 * len(ordered))) - 1)]


def checksum(server):
    return sql(server, "CHECKSUM TABLE bench.t")[0][1]


def new_server(work, name):
    server = MariaDBServer(os.path.join(work, name), bind_address=free_loopback(205),
                           options=dict(OPTIONS, server_id=7))
    os.makedirs(server.base_dir)
    server.write_config()
    return server


def raw_run(work, rnd, codec, keyfile, backup, src, stop_ts, files):
    target = new_server(work, "raw-%d" % rnd)
    t0 = time.monotonic()
    os.makedirs(target.datadir)
    subprocess.run(
        ["bash", "-o", "pipefail", "-c",
         "openssl enc -d -aes-256-cbc -pbkdf2 -pass file:$KEYFILE < $SRC | %s | "
         "mbstream -x -C $DIR && mariadb-backup --prepare --target-dir=$DIR"
         % " ".join(codec.decompress)], check=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, KEYFILE=keyfile, DIR=target.datadir,
                 SRC=backup["location"][len("file://"):]))
    target.start()
    restored = time.monotonic()
    stop = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stop_ts + 1))
    coords = backup["binlog"]
    subprocess.run(
        ["bash", "-o", "pipefail", "-c",
         "mariadb-binlog --start-position=%d --stop-datetime='%s' %s | "
         "mariadb --defaults-file=%s --binary-mode --max-allowed-packet=1G"
         % (coords["binlog_position"], stop,
            " ".join(os.path.join(src.datadir, f) for f in files), target.config_file)],
        check=True, env=dict(os.environ, TZ="UTC"))
    took = time.monotonic() - t0
    print("       raw: backup restore + start %.2f s, replay %.2f s" % (
        restored - t0, took - (restored - t0)))
    result = checksum(target)
    target.stop()
    shutil.rmtree(target.base_dir)
    return took, result


def ours_run(work, rnd, store, backup, request):
    target = new_server(work, "ours-%d" % rnd)
    t0 = time.monotonic()
    runner.run_restore([{"location": backup["location"], "metadata": backup["metadata"],
                         "size": backup["size"]}], store, KEY, target.datadir)
    target.start()
    restored = time.monotonic()
    replay = pitr_replay.run(request, target, store, os.path.join(work, "replay-%d" % rnd))
    took = time.monotonic() - t0
    print("       ours: backup restore + start %.2f s, binlog download %.2f s, replay of "
          "%d events %.2f s" % (restored - t0, replay["download_s"], replay["events"],
                                replay["duration_s"] - replay["download_s"]))
    result = checksum(target)
    target.stop()
    shutil.rmtree(target.base_dir)
    return took, result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binlog-mb", type=float, default=40.0)
    p.add_argument("--rate", type=float, default=4.0, help="writer MB/s")
    p.add_argument("--base-rows", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--conductor", choices=("stand-in", "rpc"), default="stand-in",
                   help="report to an in-process stand-in, or through the real bus to "
                        "the real conductor")
    p.add_argument("--lag-only", action="store_true", help="no restores")
    args = p.parse_args()
    codec = codecs.get_codec(codecs.DEFAULT_CODEC)
    work = tempfile.mkdtemp(prefix="trove-lite-bench-pitr-")
    src = MariaDBServer(os.path.join(work, "src"), bind_address=free_loopback(205),
                        options=OPTIONS)
    archiver = None
    stop_rpc = None
    try:
        src.initialize()
        src.start()
        sql(src, "CREATE DATABASE bench",
            "CREATE TABLE bench.t (id INT AUTO_INCREMENT PRIMARY KEY, payload BLOB)",
            "INSERT INTO bench.t (payload) SELECT RANDOM_BYTES(1000) FROM bench.seq_1_to_%d"
            % args.base_rows)
        keyfile = os.path.join(work, "key")
        with open(keyfile, "w") as f:
            f.write(KEY)
        store = LocalStorage(os.path.join(work, "store"))
        backup = runner.run_backup(src, store, "full-1", key=KEY)
        completed = time.time()
        source = SOURCE
        if args.conductor == "rpc":
            source, client, conductor, stop_rpc = rpc_conductor(work)
        else:
            client = conductor = Conductor()
        akey = binlog.archive_key("tenant-key", source)
        archiver = BinlogArchiver(source, GuestState(os.path.join(work, "guest.json")),
                                  lambda: src.datadir, lambda: store, lambda: client,
                                  "backups", interval=0.5)
        archiver.set_key(binlog.seal(archiver.public_key, akey))
        archiver.start()
        time.sleep(1.5)
        t = time.monotonic()
        commits = writer(src, args.binlog_mb, args.rate)
        wrote = time.monotonic() - t
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:   # until the last commit is shipped
            if not math.isinf(lags(commits[-1:], conductor.reports)[0]):
                break
            time.sleep(0.2)
        time.sleep(1.5)    # idle: the archiver reports it is caught up
        archiver.stop()
        lag = lags(commits, conductor.reports)
        segs = [s for _, ss, _ in conductor.reports for s in ss]
        archived = sum(s["end"] - s["start"] for s in segs if s["kind"] == "data")
        print("writer: %d commits, ~%.0f MB of binlog in %.1f s (%.1f MB/s); archive: %d "
              "segments, %.1f MB (the whole binlog)" % (
                  len(commits), args.binlog_mb, wrote, args.binlog_mb / wrote, len(segs),
                  archived / 1e6))
        print("archive lag per commit: median %.2f s, p99 %.2f s, max %.2f s "
              "(target p99 <= 5 s; reports: %s)" % (
                  statistics.median(lag), p99(lag), max(lag), args.conductor))
        if args.lag_only:
            return

        stop_ts = int(commits[-1][0]) - 1   # the last second of writes is left out
        caught = max(st.get("caught_up_at") or 0 for _, _, st in conductor.reports)
        covers, view = pitr.window(
            [pitr.BackupPoint("full-1", completed, binlog.file_seq(
                backup["binlog"]["binlog_file"]), backup["binlog"]["binlog_file"],
                backup["binlog"]["binlog_position"])],
            [pitr.Segment(s["kind"], s["file"], binlog.file_seq(s["file"]), s["start"],
                          s["end"], s.get("first_ts"), s.get("last_ts"), s["events"],
                          s.get("location"), s.get("detail")) for s in segs], caught)
        plan = pitr.plan(covers, view, stop_ts + 0.5, time.time())
        request = dict(plan, source_id=source, key=akey)
        files = sorted({s["file"] for s in plan["segments"]}, key=binlog.file_seq)
        replay_mb = sum(s["end"] - s["start"] for s in plan["segments"]) / 1e6
        print("restore to %s: backup (%.0f MB stored) + %.1f MB of binlog in %d file(s)"
              % (pitr.iso(stop_ts), backup["size"] / 1e6, replay_mb, len(files)))
        times = {"raw": [], "ours": []}
        sums = set()
        for rnd in range(args.rounds):
            order = ("raw", "ours") if rnd % 2 == 0 else ("ours", "raw")
            for name in order:
                if name == "raw":
                    took, result = raw_run(work, rnd, codec, keyfile, backup, src, stop_ts,
                                           files)
                else:
                    took, result = ours_run(work, rnd, store, backup, request)
                times[name].append(took)
                sums.add(result)
                print("  round %d %-4s %.2f s (checksum %s)" % (rnd, name, took, result))
        raw, ours = statistics.median(times["raw"]), statistics.median(times["ours"])
        print("restore, median of %d: raw %.2f s, ours %.2f s = %.2f x raw (target <= "
              "1.2 x); results %s" % (args.rounds, raw, ours, ours / raw,
                                      "identical" if len(sums) == 1 else "DIFFER"))
    finally:
        if archiver is not None:
            archiver.stop()
        if stop_rpc is not None:
            stop_rpc()
        src.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
