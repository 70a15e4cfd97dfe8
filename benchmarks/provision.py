#!/usr/bin/env python3
"""Time from POST /instances to ACTIVE, beside this machine's own baseline.

    .venv/bin/python benchmarks/provision.py [--runs 5] [--no-preload]

Baseline, measured in the same run: what a person does by hand for one MariaDB
on this machine: `mariadb-install-db` into an empty datadir, start mariadbd,
first successful connection. trove-lite: POST (python-troveclient) until
`status` is ACTIVE, 5 creates one after another and 5 at once. Prints median and
max of each and the ratio to the baseline median (target: at most 1.5).
"""

import argparse
import ast
import concurrent.futures
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
from tests.support.net import free_loopback  # noqa: E402


def baseline_once(workdir, address):
    datadir = os.path.join(workdir, "data")
    sock = os.path.join(workdir, "s.sock")
    cnf = os.path.join(workdir, "my.cnf")
    with open(cnf, "w") as f:
        f.write("[mariadbd]\ndatadir=%s\nsocket=%s\npid-file=%s/p.pid\nlog-error=%s/e.log\n"
                "bind-address=%s\nport=3306\nuser=root\ninnodb_log_file_size=32M\ntmpdir=%s\n" % (
                    datadir, sock, workdir, workdir, address, workdir))
    t0 = time.monotonic()
    subprocess.run(["mariadb-install-db", "--defaults-file=" + cnf,
                    "--auth-root-authentication-method=socket", "--skip-test-db"],
                   check=True, capture_output=True)
    proc = subprocess.Popen(["mariadbd", "--defaults-file=" + cnf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            pymysql.connect(unix_socket=sock, user="root").close()
            break
        except pymysql.err.OperationalError:
            time.sleep(0.02)
    elapsed = time.monotonic() - t0
    proc.terminate()
    proc.wait()
    return elapsed


def baseline_one():
    d = tempfile.mkdtemp(prefix="tl-bench-base-")
    try:
        return baseline_once(d, free_loopback(205))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def baseline(runs, concurrent=False):
    if not concurrent:
        return [baseline_one() for _ in range(runs)]
    with concurrent_futures().ThreadPoolExecutor(runs) as pool:
        return list(pool.map(lambda _: baseline_one(), range(runs)))


def concurrent_futures():
    return concurrent.futures


def create_and_wait(trove, name):
    t0 = time.monotonic()
    inst = trove.instances.create(name, "1", volume={"size": 1}, datastore="mariadb",
                                  datastore_version="10.11", databases=[{"name": "b"}],
                                  users=[{"name": "u", "password": "bench-Pw1",
                                          "databases": [{"name": "b"}]}])
    inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=300, interval=0.05)
    if inst.status != "ACTIVE":
        raise RuntimeError("%s ended in %s: %s" % (name, inst.status, inst.fault))
    return time.monotonic() - t0, inst.id


def delete_all(trove):
    for inst in trove.instances.list():
        trove.instances.delete(inst.id)
    while trove.instances.list():
        time.sleep(0.2)


_STEP_RE = re.compile(r"^(\S+ \S+) .*instance (\S+): (.+?) \((\d+\.\d+) s\)$")


def flow_profile(cp, instance_ids):
    """Median seconds per create step of ``instance_ids``, from the flow's step log
    lines (each says how long since the previous step), and the guest's own
    prepare timings (initialize, start, sql) from the guests' logs."""
    steps = {}
    for line in cp.log_tail("aio", 1000000).splitlines():
        m = _STEP_RE.match(line)
        if m and m.group(2) in instance_ids:
            name = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<id>", m.group(3))
            steps.setdefault(name, []).append(float(m.group(4)))
    guest = {}
    for log in glob.glob(os.path.join(cp.state_dir, "servers", "*", "guest.log")):
        with open(log, errors="replace") as f:
            text = f.read()
        m = re.search(r"early prepare finished in (\{.*\})", text)
        if m:
            for k, v in ast.literal_eval(m.group(1)).items():
                guest.setdefault("guest " + k, []).append(v)
    return {k: statistics.median(v) for k, v in list(steps.items()) + list(guest.items())}


def summary(label, times, base):
    med = statistics.median(times)
    print("%-34s median %6.2f s   max %6.2f s   ratio to baseline median %.2f" % (
        label, med, max(times), med / base))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-preload", action="store_true",
                    help="start guests as new interpreters, not from the driver's fork "
                         "server (to compare)")
    args = ap.parse_args()
    base_dir = tempfile.mkdtemp(prefix="tl-bench-prov-")
    cp = ControlPlane(base_dir, usage_timeout=300, extra_conf=(
        "[local_compute]\npreload_guests = false\n" if args.no_preload else ""))
    try:
        cp.start_aio()
        trove = cp.client("bench")
        create_and_wait(trove, "warmup")  # first RPC connections, template datadir cache
        delete_all(trove)
        base = baseline(args.runs)
        base_conc = baseline(args.runs, concurrent=True)
        seq = []
        for i in range(args.runs):
            seq.append(create_and_wait(trove, "seq-%d" % i)[0])
            delete_all(trove)
        with concurrent.futures.ThreadPoolExecutor(args.runs) as pool:
            results = [f.result() for f in [pool.submit(create_and_wait, trove, "par-%d" % i)
                                            for i in range(args.runs)]]
        conc = [r[0] for r in results]
        profile = flow_profile(cp, {r[1] for r in results})
        delete_all(trove)
        bmed, bcmed = statistics.median(base), statistics.median(base_conc)
        print("\nprovisioning on %d cores, %d runs each" % (os.cpu_count(), args.runs))
        print("%-34s median %6.2f s   max %6.2f s" % ("baseline sequential (install+start+"
                                                      "connect)", bmed, max(base)))
        print("%-34s median %6.2f s   max %6.2f s" % ("baseline %d concurrent" % args.runs,
                                                      bcmed, max(base_conc)))
        summary("trove-lite sequential", seq, bmed)
        summary("trove-lite %d concurrent" % args.runs, conc, bcmed)
        print("\nwhere a concurrent create spends its time (median s per step):")
        for step, seconds in profile.items():
            print("  %-48s %6.2f" % (step, seconds))
    finally:
        try:
            delete_all(cp.client("bench"))
        except Exception:
            pass
        cp.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
