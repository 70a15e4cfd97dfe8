"""Start-up and wind-down of trove-lite-osc on a small table (no write load).

Starts a private mariadbd (binlogs on) on ``--bind`` (default a free 127.0.89.x
address), builds a ``--rows`` table, then runs the engine ``--runs`` times and
prints, per run and as medians, seconds from the process start to each phase line
(timestamped by this script as the lines arrive) and from "Row copy complete" to
the process exit. ``--repo DIR`` runs the engine from another checkout (a before/after
in the same run). A measurement script, not a test: it asserts nothing.

    .venv/bin/python benchmarks/osc_startup.py --runs 5 --repo /path/to/base
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import osc as bench  # noqa: E402  (benchmarks/osc.py: server, table, engine command)

PHASES = [("inspected", "Inspector initiated"), ("ghost", "Ghost table altered"),
          ("streaming", "Beginning streaming"), ("key", "Chosen shared unique key"),
          ("copy", "Migration min values"), ("copied", "Row copy complete"),
          ("locked", "Lock & rename duration"), ("done", " INFO Done$")]


def run_once(target, repo, chunk_size):
    work_dir = tempfile.mkdtemp(prefix="osc-startup-")
    bench.cleanup_tables(target)
    t0 = time.monotonic()
    proc = subprocess.Popen(bench.engine_command(target, chunk_size, work_dir), cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines = []
    for raw in proc.stdout:
        lines.append((time.monotonic() - t0, raw.decode(errors="replace").rstrip()))
    code = proc.wait()
    t_exit = time.monotonic() - t0
    shutil.rmtree(work_dir, ignore_errors=True)
    if code != 0:
        raise SystemExit("engine exit %s:\n%s" % (code, "\n".join(text for _, text in lines[-15:])))
    out = {}
    for name, pattern in PHASES:
        out[name] = next((t for t, line in lines if re.search(pattern, line)), float("nan"))
    out["exit"] = t_exit
    out["after_copy"] = t_exit - out["copied"]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--chunk-size", type=int, default=1000)
    p.add_argument("--bind", default="", help="the server's loopback address")
    p.add_argument("--repo", action="append", default=[],
                   help="checkout(s) to run the engine from (default this one)")
    cfg = p.parse_args(argv)
    repos = cfg.repo or [REPO]
    server, target = bench.start_server(cfg.bind or None)
    try:
        bench.build_table(target, cfg.rows)
        keys = [n for n, _ in PHASES] + ["exit", "after_copy"]
        results = {r: [] for r in repos}
        for i in range(cfg.runs):
            for repo in repos:  # interleaved, so drift hits both alike
                res = run_once(target, repo, cfg.chunk_size)
                results[repo].append(res)
                print("%-28s run %d: %s" % (os.path.basename(repo.rstrip("/")), i + 1,
                      " ".join("%s=%.3f" % (k, res[k]) for k in keys)), flush=True)
        print("\nmedians of %d (seconds since process start; after_copy = exit - copied)"
              % cfg.runs)
        print("%-28s " % "repo" + " ".join("%10s" % k for k in keys))
        for repo in repos:
            print("%-28s " % os.path.basename(repo.rstrip("/")) + " ".join(
                "%10.3f" % statistics.median(r[k] for r in results[repo]) for k in keys))
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
