"""Migrations under an application-like write load, checked against a twin table.

Writers (several connections) run transactions that each insert, update or delete one
row of ``t`` and do the same to ``t_twin`` in the same transaction; ``t_twin`` is never
migrated. After any number of migrations of ``t``, with the writers paused, ``t``
restricted to the twin's columns must equal ``t_twin`` row for row: a difference is an
acknowledged write the migration lost (or invented).

Standalone, for the long loop (the CI test runs a few cut-overs only):

    .venv/bin/python tests/functional/osc/twin_writes.py --rows 100000 --migrations 20

starts a private mariadbd (127.201.*), runs that many migrations back to back under
``--rate`` transactions/s over ``--connections`` connections, prints one line per
migration and exits 1 at the first lost write.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import pymysql  # noqa: E402

from tests.functional.osc import support  # noqa: E402

TABLE, TWIN = "t", "t_twin"
COLUMNS = ("id", "k", "c", "pad", "n")


def create_tables(kw, rows):
    c = support.connect(kw)
    with c.cursor() as cur:
        for table in (TABLE, TWIN):
            cur.execute("drop table if exists %s" % table)
            cur.execute("create table %s (id bigint unsigned not null auto_increment "
                        "primary key, k int not null default 0, c char(60) not null "
                        "default '', pad varchar(60) not null default '', n int null) "
                        "engine=innodb" % table)
        for start in range(0, rows, 10000):
            n = min(10000, rows - start)
            cur.execute("insert into %s (id, k, c, pad, n) select seq, seq %% 1000, "
                        "md5(seq), concat('pad-', seq), seq from seq_%d_to_%d"
                        % (TABLE, start + 1, start + n))
        cur.execute("insert into %s select %s from %s" % (TWIN, ", ".join(COLUMNS), TABLE))
    c.close()


class TwinWriters:
    """``connections`` threads sharing ``rate`` transactions/s; each transaction does one
    insert (40%), update (40%) or delete (20%) on the table and the same on the twin."""

    def __init__(self, kw, rate=600, connections=4, seed=1):
        self.kw, self.rate, self.connections = kw, rate, connections
        self.random = random.Random(seed)
        self.stop_event = threading.Event()
        self.running = threading.Event()
        self.running.set()
        self.idle = [threading.Event() for _ in range(connections)]
        self.commits = 0
        self.errors = []
        self.max_id = 0
        self._lock = threading.Lock()
        self._threads = []

    def start(self, max_id):
        self.max_id = max_id
        for i in range(self.connections):
            t = threading.Thread(target=self._run, args=(i,), name="twin-writer-%d" % i,
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def pause(self):
        """Stop issuing transactions and wait until none is in flight."""
        self.running.clear()
        for idle in self.idle:
            idle.wait(30)

    def resume(self):
        self.running.set()

    def stop(self):
        self.stop_event.set()
        self.running.set()
        for t in self._threads:
            t.join(30)

    def _run(self, index):
        rnd = random.Random(self.random.random())
        c = support.connect(self.kw)
        period = self.connections / float(self.rate)
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            if not self.running.is_set():
                self.idle[index].set()
                self.running.wait()
                next_at = time.monotonic()
                continue
            self.idle[index].clear()
            try:
                self._transaction(c, rnd)
                with self._lock:
                    self.commits += 1
            except pymysql.MySQLError as exc:
                # a deadlock or a lock wait timeout rolls back both tables alike
                self.errors.append(exc)
                try:
                    c.rollback()
                except pymysql.MySQLError:
                    c = support.connect(self.kw)
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()
        self.idle[index].set()
        c.close()

    def _transaction(self, c, rnd):
        roll = rnd.random()
        victim = rnd.randint(1, max(1, self.max_id))
        with c.cursor() as cur:
            cur.execute("begin")
            if roll < 0.4:
                values = (rnd.randint(0, 999), "%032x" % rnd.getrandbits(128), "w",
                          rnd.randint(0, 1 << 30))
                cur.execute("insert into t (k, c, pad, n) values (%s, %s, %s, %s)", values)
                new_id = cur.lastrowid
                cur.execute("insert into t_twin (id, k, c, pad, n) values (%s, %s, %s, %s, %s)",
                            (new_id,) + values)
                with self._lock:
                    self.max_id = max(self.max_id, new_id)
            elif roll < 0.8:
                values = (rnd.randint(0, 999), "u%d" % rnd.randint(0, 99), rnd.randint(0, 99),
                          victim)
                for table in (TABLE, TWIN):
                    cur.execute("update %s set k = %%s, pad = %%s, n = n + %%s where id = %%s"
                                % table, values)
            else:
                for table in (TABLE, TWIN):
                    cur.execute("delete from %s where id = %%s" % table, (victim,))
            cur.execute("commit")


def differences(kw, limit=10):
    """Rows that differ between ``t`` (the twin's columns) and ``t_twin``:
    [(where, row)], where is 'only in t' or 'only in twin'."""
    cols = ", ".join("x.%s" % c for c in COLUMNS)
    on = " and ".join("x.%s <=> y.%s" % (c, c) for c in COLUMNS)
    out = []
    c = support.connect(kw)
    with c.cursor() as cur:
        for where, x, y in (("only in t", TABLE, TWIN), ("only in twin", TWIN, TABLE)):
            cur.execute("select %s from %s x left join %s y on %s where y.id is null "
                        "limit %d" % (cols, x, y, on, limit))
            out.extend((where, row) for row in cur.fetchall())
    c.close()
    return out


def migrate(kw, number, log_path, *extra):
    """One migration of ``t`` adding a column and a key (the nth of a series)."""
    alter = "add column x%d int not null default %d, add key kx%d (k, x%d)" % (
        number, number, number, number)
    cmd = support.engine_cmd(kw, TABLE, alter, "--ok-to-drop-table", "--chunk-size=1000",
                             "--cut-over-lock-timeout-seconds=5", *extra)
    with open(log_path, "wb") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=support.ROOT,
                              timeout=600)
    return proc.returncode


def run_series(kw, writers, migrations, work_dir, out=None, extra=()):
    """Run ``migrations`` migrations under the running writers; after each, pause the
    writers and compare. Returns (number of migrations run, differences found)."""
    for number in range(1, migrations + 1):
        log_path = os.path.join(work_dir, "engine-%d.log" % number)
        started = time.monotonic()
        code = migrate(kw, number, log_path, *extra)
        if code != 0:
            with open(log_path, errors="replace") as f:
                raise AssertionError("migration %d exited %d:\n%s" % (number, code,
                                                                      f.read()[-3000:]))
        writers.pause()
        diff = differences(kw)
        if out is not None:
            out.write("migration %d: %.1fs, %d commits so far, %s\n" % (
                number, time.monotonic() - started, writers.commits,
                "%d rows differ" % len(diff) if diff else "tables equal"))
            out.flush()
        if diff:
            return number, diff
        writers.resume()
    return migrations, []


def main(argv=None):
    from tests.functional.osc.run_scenarios import start_server
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--migrations", type=int, default=20)
    parser.add_argument("--rate", type=int, default=600)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    server = start_server()
    writers = None
    try:
        kw = support.prepare(server)
        create_tables(kw, args.rows)
        writers = TwinWriters(kw, args.rate, args.connections, args.seed)
        writers.start(args.rows)
        work_dir = tempfile.mkdtemp(prefix="osc-twin-")
        done, diff = run_series(kw, writers, args.migrations, work_dir, sys.stdout)
        for where, row in diff:
            print("  %s: %s" % (where, row))
        for exc in writers.errors[:10]:
            print("  writer error: %s" % (exc,))
        print("%d migrations, %d commits, %d writer errors, %s (logs: %s)" % (
            done, writers.commits, len(writers.errors),
            "LOST WRITES" if diff else "no write lost", work_dir))
        return 1 if diff else 0
    finally:
        if writers is not None:
            writers.stop()
        server.destroy()


if __name__ == "__main__":
    sys.exit(main())
