#!/usr/bin/env python3
"""Seconds per upgrade hop (MariaDB 10.5 -> 10.11 -> 11.8), beside a raw in-place upgrade.

    .venv/bin/python benchmarks/upgrade.py [--runs 3] [--rows 20000]

Baseline, measured in the same run: what a person does by hand on this machine
with the same images and the same data: slow shutdown of the old mariadbd
(innodb_fast_shutdown=0), start the new binary on the datadir, run its
mariadb-upgrade, first successful query; twice: with the datadir on the host's
disk, and on a volume like an instance's (the local volume driver's loop-mounted
ext4 image, where mariadb-upgrade's thousands of fsyncs cost more: the like-for-
like baseline). trove-lite: PATCH /instances/{id}
(python-troveclient ``instances.upgrade``) until the instance is ACTIVE on the
new version, with a table of ``--rows`` rows on it. Prints the median and max
per hop and the ratios to both baselines' medians (target: at most 1.5); the runs
rotate which goes first, each prints the machine's load, and the phases of both
(the taskmanager's steps, the guest's own timings, the raw steps) follow.

Then (unless ``--no-set``) write downtime of a replication set (a 10.11 source
and two replicas) upgraded to 11.8 under a live writer: the longest time without
an acknowledged commit, beside, in the same run, a plain planned switchover
(promote) of the same set and the whole-hop downtime of a lone instance.
Needs the images (tools/bootstrap.sh builds them).
"""

import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pymysql  # noqa: E402

from tests.support.controlplane import ControlPlane, wait_for_status  # noqa: E402
from trove_lite.drivers import imagebuild, images  # noqa: E402
from trove_lite.drivers.volume.local import LocalVolumeDriver  # noqa: E402
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer  # noqa: E402

HOPS = (("10.5", "10.11"), ("10.11", "11.8"))
IMAGES = {"10.5": "mariadb-10.5", "11.8": "mariadb-11.8"}
RAW_PHASES: dict = {}     # phase -> seconds, every raw hop
GUEST_PHASES: dict = {}   # phase -> seconds, every trove-lite hop (from the guests' logs)
FILL = ("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(64), n INT, KEY (n))",
        "INSERT INTO t SELECT seq, MD5(seq), seq %% 97 FROM seq_1_to_%d")


def binaries(version):
    if version == "10.11":
        return images.binaries_from_spec(images.system_mariadb_image())
    spec, _ = imagebuild.build(IMAGES[version], progress=lambda line: None)
    return images.binaries_from_spec(spec)


def raw_run(rows, on=None):
    """One raw 10.5 -> 10.11 -> 11.8 on a datadir under ``on`` (a directory;
    default: the host's temporary directory): {hop: seconds}."""
    work = tempfile.mkdtemp(prefix="tl-bench-upg-raw-")     # socket, logs: short paths
    data = os.path.join(tempfile.mkdtemp(prefix="tl-bench-upg-raw-", dir=on), "data") \
        if on else None
    try:
        first = MariaDBServer(work, binaries=binaries("10.5"), datadir=data,
                              options={"skip-networking": None})
        first.initialize()
        first.start()
        with first.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE b")
            cur.execute("USE b")
            cur.execute(FILL[0])
            cur.execute(FILL[1] % rows)
        server, out = first, {}
        for old, new in HOPS:
            t0 = time.monotonic()
            with server.connect() as conn, conn.cursor() as cur:
                cur.execute("SET GLOBAL innodb_fast_shutdown = 0")
            server.stop()
            t1 = time.monotonic()
            server = MariaDBServer(work, binaries=binaries(new), datadir=data,
                                   options={"skip-networking": None})
            server.start()
            t2 = time.monotonic()
            b = server.binaries
            subprocess.run([b.upgrade_tool, "--socket=" + server.socket, "--user=root",
                            "--silent"], env=b.env(), check=True, capture_output=True)
            t3 = time.monotonic()
            with server.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM b.t")
                assert cur.fetchone()[0] == rows
            out["%s -> %s" % (old, new)] = time.monotonic() - t0
            RAW_PHASES.setdefault("shutdown", []).append(t1 - t0)
            RAW_PHASES.setdefault("start", []).append(t2 - t1)
            RAW_PHASES.setdefault("mariadb-upgrade", []).append(t3 - t2)
        server.stop()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if data:
            shutil.rmtree(os.path.dirname(data), ignore_errors=True)


def trove_run(trove, name, rows, servers_dir=None):
    """One instance through both hops with the API: {hop: seconds}."""
    inst = trove.instances.create(name, "1", volume={"size": 1}, datastore="mariadb",
                                  datastore_version="10.5")
    inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=300)
    password = trove.root.create(inst.id)[1]
    conn = pymysql.connect(host=inst.ip[0], user="root", password=password, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE b")
        cur.execute("USE b")
        cur.execute(FILL[0])
        cur.execute(FILL[1] % rows)
    conn.close()
    out = {}
    for old, new in HOPS:
        t0 = time.monotonic()
        trove.instances.upgrade(inst.id, new)
        # the task is set before the PATCH answers: ACTIVE now means finished
        # 0.2 s: every poll is an API request and control DB queries, CPU taken from
        # the upgrade that the raw side does not pay (at 0.05 s, 20 of them a second)
        done = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=300,
                               interval=0.2)
        elapsed = time.monotonic() - t0
        if done.status != "ACTIVE" or done.datastore["version"] != new:
            raise RuntimeError("%s -> %s ended %s on %s: %s" % (
                old, new, done.status, done.datastore["version"],
                getattr(done, "fault", None)))
        out["%s -> %s" % (old, new)] = elapsed
    if servers_dir:     # this run's server is the only one left
        for path in glob.glob(os.path.join(servers_dir, "*", "guest.log")):
            guest_phases(path)
    trove.instances.delete(inst.id)
    return out


def guest_phases(path):
    """The guest's own timings of each hop (pre_upgrade and post_upgrade lines)."""
    with open(path) as f:
        for line in f:
            m = GUEST_RE.search(line)
            if m:
                for name, secs in re.findall(r"([a-z-]+) (\d+\.\d+) s", m.group(2)):
                    GUEST_PHASES.setdefault("%s: %s" % (m.group(1), name), []).append(
                        float(secs))


GUEST_RE = re.compile(r"(pre_upgrade|post_upgrade): .*\((.*)\)\s*$")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--no-set", action="store_true", help="skip the replication set")
    args = ap.parse_args()
    base_dir = tempfile.mkdtemp(prefix="tl-bench-upg-")
    cp = ControlPlane(base_dir, usage_timeout=300)
    raw_volume = []
    try:
        cp.start_aio()
        subprocess.run([sys.executable, "-m", "trove_lite.cmd.manage", "--config-file",
                        cp.conf_file, "image_fetch", "mariadb-10.5", "mariadb-11.8"],
                       check=True, capture_output=True)
        trove = cp.client("bench")
        servers = os.path.join(cp.state_dir, "servers")
        # the same raw hops on a volume like an instance's (the local volume
        # driver's loop-mounted ext4 image): mariadb-upgrade makes ~4,000 fsyncs,
        # which cost more there than on the host's disk
        volumes = LocalVolumeDriver(base_dir + "-vols")
        vol_id = volumes.create_volume(1, "bench-raw").id
        raw_volume.append((volumes, vol_id))      # removed in the finally below
        vol = volumes.attach_volume(vol_id, "bench-raw")
        raw_run(100)                       # warm-up: template datadirs, page cache
        raw_run(100, on=vol)
        trove_run(trove, "warmup", 100)
        RAW_PHASES.clear()
        GUEST_PHASES.clear()
        raw, raw_vol, api, loads = [], [], [], []
        for i in range(args.runs):
            # rotate which goes first: a load that drifts over a run hits all alike
            order = ("raw", "raw-volume", "trove")
            order = order[i % 3:] + order[:i % 3]
            loads.append(os.getloadavg()[0])
            for which in order:
                if which == "raw":
                    raw.append(raw_run(args.rows))
                elif which == "raw-volume":
                    raw_vol.append(raw_run(args.rows, on=vol))
                else:
                    api.append(trove_run(trove, "bench-%d" % i, args.rows, servers))
            print("run %d (%s first, load %.1f): raw %s | raw on a volume %s | trove-lite %s"
                  % (i + 1, order[0], loads[-1], fmt(raw[-1]), fmt(raw_vol[-1]),
                     fmt(api[-1])), flush=True)
        print("\nupgrade hops on %d cores, %d rows, %d runs, load (1 min) %s" % (
            os.cpu_count(), args.rows, args.runs, "/".join("%.1f" % x for x in loads)))
        for old, new in HOPS:
            hop = "%s -> %s" % (old, new)
            b = [r[hop] for r in raw]
            v = [r[hop] for r in raw_vol]
            t = [r[hop] for r in api]
            print("%-15s raw in-place median %5.2f s (max %5.2f), on a volume %5.2f s (max "
                  "%5.2f)   trove-lite median %5.2f s (max %5.2f)   ratio %.2f to the raw "
                  "on a volume, %.2f to the raw on the host disk" % (
                      hop, statistics.median(b), max(b), statistics.median(v), max(v),
                      statistics.median(t), max(t), statistics.median(t) / statistics.median(v),
                      statistics.median(t) / statistics.median(b)))
        phases(os.path.join(base_dir, "aio.log"))
        for title, table in (("raw phases", RAW_PHASES), ("guest phases", GUEST_PHASES)):
            print("%s (median over all hops): %s" % (title, ", ".join(
                "%s %.2f s" % (k, statistics.median(v)) for k, v in table.items())))
        if not args.no_set:
            set_downtime(statistics.median(r["10.11 -> 11.8"] for r in api))
    finally:
        try:
            for inst in cp.client("bench").instances.list():
                cp.client("bench").instances.delete(inst.id)
        except Exception:
            pass
        time.sleep(2)
        cp.stop()
        for volumes, vol_id in raw_volume:
            volumes.detach_volume(vol_id, "bench-raw")
            volumes.delete_volume(vol_id)
            shutil.rmtree(base_dir + "-vols", ignore_errors=True)
        shutil.rmtree(base_dir, ignore_errors=True)


def set_downtime(lone_hop):
    """Write downtime of a set upgrade 10.11 -> 11.8 beside a plain switchover."""
    from tests.functional.replication.conftest import connect, create_source
    from tests.functional.replication.writer import Writer
    base_dir = tempfile.mkdtemp(prefix="tl-bench-upgset-")
    cp = ControlPlane(base_dir, heartbeat_interval=1, usage_timeout=300, extra_conf=(
        "\n[replication]\nstrategy = gtid\nswitchover_timeout = 20\n"
        "\n[ha]\nauto_failover = false\n"))
    try:
        cp.start_aio()
        subprocess.run([sys.executable, "-m", "trove_lite.cmd.manage", "--config-file",
                        cp.conf_file, "image_fetch", "mariadb-11.8"],
                       check=True, capture_output=True)
        trove = cp.client("bench")
        source = create_source(trove, "set-src")
        rep = trove.instances.create("set-rep", "1", volume={"size": 1},
                                     replica_of=source.id, replica_count=2)
        wait_for_status(trove, rep.id, {"ACTIVE"}, timeout=300)
        ids = sorted(r["id"] for r in trove.instances.get(source.id).replicas)
        members = [source] + [wait_for_status(trove, i, {"ACTIVE"}, timeout=300)
                              for i in ids]

        def under_writer(start_id, act, done):
            with Writer(members, lambda i: connect(i, connect_timeout=1),
                        start_id=start_id) as writer:
                time.sleep(1)
                t0 = time.monotonic()
                act()
                while not done():
                    time.sleep(0.2)
                took = time.monotonic() - t0
                time.sleep(1)
                return took, writer.longest_gap(t0, time.monotonic()), len(writer.acked)

        def upgraded():
            shown = trove.instances.get(source.id)
            return shown.status == "ACTIVE" and shown.datastore["version"] == "11.8"
        took, gap, acked = under_writer(
            100000, lambda: trove.instances.upgrade(source.id, "11.8"), upgraded)

        def promoted():
            shown = trove.instances.get(source.id)
            return shown.status == "ACTIVE" and not getattr(shown, "replica_of", None)
        sw_took, sw_gap, _ = under_writer(
            200000, lambda: trove.instances.promote_to_replica_source(source.id), promoted)
        print("\nreplication set of 3, 10.11 -> 11.8 under a writer: %.1f s, %d commits, "
              "write downtime %.2f s | same run: a plain switchover %.2f s (write downtime "
              "%.2f s), a lone instance's 10.11 -> 11.8 hop %.2f s (all of it downtime)"
              % (took, acked, gap, sw_took, sw_gap, lone_hop))
    finally:
        from tests.functional.controlplane.conftest import destroy_everything
        from trove_lite.drivers.endpoint.haproxy import remove_all
        destroy_everything(cp)       # stops it, then its servers and volumes
        remove_all(cp.state_dir)     # the set's HAProxy
        shutil.rmtree(base_dir, ignore_errors=True)


def phases(log_path):
    """Median of each step of the flow, from the taskmanager's step log (both hops)."""
    steps = {}
    with open(log_path) as f:
        for line in f:
            m = PHASE_RE.search(line)
            if m:
                steps.setdefault(m.group(1), []).append(float(m.group(2)))
    print("trove-lite steps (median over all hops): " + ", ".join(
        "%s %.2f s" % (name, statistics.median(times)) for name, times in steps.items()))


PHASE_RE = re.compile(r": (?:Upgrade from \S+ to \S+ )?"
                      r"(pre_upgrade done|server rebuilt|post_upgrade done|finished)[^(]*"
                      r"\((\d+\.\d+) s\)")


def fmt(hops):
    return ", ".join("%s %.2f s" % (k, v) for k, v in hops.items())


if __name__ == "__main__":
    main()
