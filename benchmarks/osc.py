"""Online schema change benchmark: trove-lite-osc vs pt-online-schema-change vs ALTER.

Builds a sysbench-like table (``--rows``, default 1,000,000) on a private mariadbd
(127.205.*, binlogs on), then runs ``ALTER TABLE sbtest1 ENGINE=InnoDB`` with every method,
idle and under a write load, all in the same run, and prints one table:

- rows/s and total time: wall clock from the tool's start to its exit (the old table is not
  dropped by either tool, so dropping 100 MB is not in anyone's time);
- cut-over lock: the longest a single-row write was blocked while the tool swapped the
  tables (writes overlapping the window from "Row copy complete" to exit for our engine,
  from "Swapping tables" to "Swapped original and new tables OK" for pt-osc, the whole run
  for ALTER; the window's length when no write fell into it), plus what the engine itself
  reports ("Lock & rename duration");
- binlog backlog (our engine only, sampled every 0.5 s): binlog bytes written but not yet
  read by the engine's streamer (its control socket's ``status``), events read but not yet
  applied, and the apply lag (age of the newest write not yet in the ghost table); max over
  the run and the last sample before the cut-over. A backlog that does not grow means the
  engine keeps up with the write rate.

"Idle" means a probe of ``--idle-rate`` (100) single-row writes/s, needed to see any lock
at all; "load" means ``--rate`` (1,000) single-row writes/s (1/3 insert, 1/3 update of a
random row, 1/3 delete of an earlier insert) from a Python thread, the achieved rate is
printed. This is a measurement script, not a test: it asserts nothing.

    .venv/bin/python benchmarks/osc.py                 # full run (several minutes)
    .venv/bin/python benchmarks/osc.py --rows 100000   # quick run
"""

import argparse
import bisect
import dataclasses
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import pymysql  # noqa: E402

from tests.conftest import BINLOG_OPTIONS  # noqa: E402
from tests.support.net import free_loopback  # noqa: E402
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer  # noqa: E402

DB = "sbtest"
TABLE = "sbtest1"
USER = PASSWORD = "bench"
ALTER = "engine=innodb"


@dataclasses.dataclass(frozen=True)
class Target:
    host: str
    socket: str

    def connect(self, **kw):
        return pymysql.connect(host=self.host, port=3306, user=USER, password=PASSWORD,
                               database=DB, autocommit=True, connect_timeout=10, **kw)


@dataclasses.dataclass
class Outcome:
    method: str
    load: str
    rows: int
    seconds: float = 0.0
    write_rate: float = 0.0
    cutover_stall_ms: float | None = None
    reported_lock_ms: float | None = None
    max_stall_ms: float | None = None
    backlog_bytes_max: int | None = None
    backlog_bytes_end: int | None = None
    backlog_events_max: int | None = None
    backlog_events_end: int | None = None
    apply_lag_max: float | None = None
    apply_lag_end: float | None = None
    copy_seconds: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    profile: str = ""
    error: str = ""


# -- server and table -------------------------------------------------------------------

def start_server(bind=None):
    options = dict(BINLOG_OPTIONS, innodb_buffer_pool_size="1G",
                   innodb_log_file_size="256M", max_connections=200)
    server = MariaDBServer(tempfile.mkdtemp(prefix="osc-bench-"),
                           bind_address=bind or free_loopback(205), port=3306,
                           options=options)
    server.initialize()
    server.start()
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'" % (USER, PASSWORD))
        # pt-osc creates triggers with binlogs on, which needs SUPER; keep one user for all
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%'" % USER)
        cur.execute("CREATE DATABASE %s" % DB)
    return server, Target(server.bind_address, server.socket)


def build_table(target, rows):
    """sysbench's sbtest schema with shorter strings (about 112 MB per million rows, the
    size of the reference figures), filled from the sequence engine in 100k-row batches."""
    with target.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS %s" % TABLE)
        cur.execute("CREATE TABLE %s (id int unsigned not null auto_increment, "
                    "k int unsigned not null default 0, c varchar(120) not null default '', "
                    "pad varchar(60) not null default '', primary key (id), key k_1 (k))"
                    % TABLE)
        done = 0
        while done < rows:
            n = min(100000, rows - done)
            cur.execute("INSERT INTO %s (k, c, pad) SELECT floor(rand() * %d), "
                        "concat_ws('-', md5(seq), left(md5(seq + 1), 16)), left(md5(rand()), 24) "
                        "FROM seq_1_to_%d" % (TABLE, rows, n))
            done += n
        cur.execute("ANALYZE TABLE %s" % TABLE)
        cur.execute("SELECT round((data_length + index_length) / 1048576) FROM "
                    "information_schema.tables WHERE table_schema = %s AND table_name = %s",
                    (DB, TABLE))
        return cur.fetchone()[0]


def cleanup_tables(target):
    with target.connect() as conn, conn.cursor() as cur:
        for name in ("_%s_del" % TABLE, "_%s_old" % TABLE, "_%s_gho" % TABLE,
                     "_%s_ghc" % TABLE, "_%s_new" % TABLE):
            cur.execute("DROP TABLE IF EXISTS `%s`" % name)
        # the swapped-in table has fresh statistics (about 1 row); pt-osc reads that
        # estimate and then copies the whole table as one chunk, locking it for seconds
        cur.execute("ANALYZE TABLE %s" % TABLE)


# -- the write load ----------------------------------------------------------------------

class Writer(threading.Thread):
    """Single-row autocommit writes at ``rate``/s; records (start, end) of every write.

    When a write blocks, later writes are issued back to back until the schedule is met
    again, as an application with a queue would.
    """

    def __init__(self, target, rate, max_id):
        super().__init__(daemon=True, name="writer")
        self.target, self.rate, self.max_id = target, rate, max_id
        self.spans = []
        self.stopping = threading.Event()
        self.error = None
        self.retries = 0
        self.inserts = []       # (id, commit time) of every insert, ids increasing

    def run(self):
        import random
        inserted = []
        try:
            conn = self.target.connect()
            cur = conn.cursor()
            start = time.monotonic()
            i = 0
            while not self.stopping.is_set():
                due = start + i / self.rate
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                t0 = time.monotonic()
                kind = i % 3
                if kind == 0 or not inserted:
                    sql, args = ("INSERT INTO %s (k, c, pad) VALUES (%%s, 'w', 'w')" % TABLE,
                                 (i,))
                elif kind == 1:
                    sql, args = ("UPDATE %s SET k = k + 1 WHERE id = %%s" % TABLE,
                                 (random.randint(1, self.max_id),))
                else:
                    sql, args = "DELETE FROM %s WHERE id = %%s" % TABLE, (inserted.pop(0),)
                self._execute(cur, sql, args)
                if sql.startswith("INSERT"):
                    inserted.append(cur.lastrowid)
                    self.inserts.append((cur.lastrowid, time.monotonic()))
                self.spans.append((t0, time.monotonic()))
                i += 1
            conn.close()
        except Exception as exc:    # reported in the table; the benchmark goes on
            self.error = repr(exc)

    def _execute(self, cur, sql, args):
        """Retry deadlocks and lock wait timeouts as an application would; the retries
        count in the write's latency."""
        while True:
            try:
                return cur.execute(sql, args)
            except pymysql.err.OperationalError as exc:
                if exc.args[0] not in (1205, 1213):
                    raise
                self.retries += 1

    def stop(self):
        self.stopping.set()
        self.join(30)

    def committed_at(self, row_id):
        """Commit time of the writer's insert with the largest id <= ``row_id``."""
        i = bisect.bisect_right(self.inserts, (row_id, float("inf")))
        return self.inserts[i - 1][1] if i else None

    def achieved_rate(self, t_from, t_to):
        n = sum(1 for a, _ in self.spans if t_from <= a <= t_to)
        return n / max(t_to - t_from, 1e-9)

    def latency_ms(self, t_from, t_to, q):
        """The ``q`` quantile (0.99: p99) of the latency of writes started in the window."""
        return latency_quantile(self.spans, t_from, t_to, q)

    def max_stall(self, t_from=None, t_to=None):
        """Longest write overlapping [t_from, t_to] (whole run if not given), in ms.

        If no write overlapped a given window, the window's length is returned: no write
        was blocked longer than that (a short swap can fall between two probe writes).
        """
        spans = [(a, b) for a, b in self.spans
                 if (t_from is None or b >= t_from) and (t_to is None or a <= t_to)]
        if spans:
            return max((b - a) * 1000 for a, b in spans)
        return (t_to - t_from) * 1000 if t_from is not None and t_to is not None else None


def latency_quantile(spans, t_from, t_to, q):
    lat = sorted((b - a) * 1000 for a, b in spans if t_from <= a <= t_to)
    if not lat:
        return None
    return lat[min(len(lat) - 1, int(q * len(lat)))]


class WriterGroup:
    """``connections`` Writers sharing ``rate``: an application's connection pool. Spans
    are everyone's; ``inserts`` (for the apply-lag sampler) are the first writer's."""

    def __init__(self, target, rate, max_id, connections):
        self.writers = [Writer(target, rate / connections, max_id)
                        for _ in range(connections)]
        self.inserts = self.writers[0].inserts

    def start(self):
        for w in self.writers:
            w.start()

    def stop(self):
        for w in self.writers:
            w.stop()

    @property
    def spans(self):
        return sorted(s for w in self.writers for s in w.spans)

    @property
    def error(self):
        return next((w.error for w in self.writers if w.error), None)

    def committed_at(self, row_id):
        return self.writers[0].committed_at(row_id)

    achieved_rate = Writer.achieved_rate
    max_stall = Writer.max_stall
    latency_ms = Writer.latency_ms


def save_log(cfg, name, reader):
    if not cfg.logs:
        return
    os.makedirs(cfg.logs, exist_ok=True)
    path = os.path.join(cfg.logs, "%s-%d.log" % (name, time.time()))
    with open(path, "w") as f:
        f.writelines("%.3f %s\n" % (t, line) for t, line in reader.lines)


class LineReader(threading.Thread):
    """Collects a process's output lines with their arrival time."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines = stream, []

    def run(self):
        for raw in iter(self.stream.readline, b""):
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def first(self, pattern):
        for t, line in self.lines:
            if re.search(pattern, line):
                return t, line
        return None, None

    def tail(self, n=15):
        return "\n".join(line for _, line in self.lines[-n:])


# -- methods -----------------------------------------------------------------------------

def engine_command(target, chunk_size, work_dir):
    return [sys.executable, "-m", "trove_lite.osc", "--host=%s" % target.host, "--port=3306",
            "--user=%s" % USER, "--password=%s" % PASSWORD, "--database=%s" % DB,
            "--table=%s" % TABLE, "--alter=%s" % ALTER, "--allow-on-master",
            "--assume-rbr", "--initially-drop-old-table", "--initially-drop-ghost-table",
            "--chunk-size=%d" % chunk_size, "--max-load=Threads_running=100",
            "--critical-load=Threads_running=1000",
            "--serve-socket-file=%s" % os.path.join(work_dir, "osc.sock"),
            "--initially-drop-socket-file", "--execute"]


def socket_command(path, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode(errors="replace")


class BacklogSampler(threading.Thread):
    """Every 0.5 s: server binlog position minus the engine streamer's (unread bytes,
    including the engine's own row-copy inserts it must skip), the engine's queue of read
    but unapplied events, and the apply lag: age of the newest writer insert that has
    reached the ghost table (the writer's inserts get ids above every copied row)."""

    def __init__(self, target, sock, writer):
        super().__init__(daemon=True)
        self.target, self.sock, self.writer = target, sock, writer
        self.samples = []       # (time, bytes or None, events or None, lag s or None)
        self.stopping = threading.Event()

    def run(self):
        conn = self.target.connect()
        with conn.cursor() as cur:
            while not self.stopping.wait(0.5):
                try:
                    status = socket_command(self.sock, "status")
                except OSError:
                    continue
                cur.execute("SHOW MASTER STATUS")
                server_file, server_pos = cur.fetchone()[:2]
                m = re.search(r"streamer: ([^:;\s]+):(\d+)", status)
                q = re.search(r"Backlog: (\d+)/", status)
                unread = (server_pos - int(m.group(2))
                          if m and m.group(1) == server_file else None)
                self.samples.append((time.monotonic(), unread,
                                     int(q.group(1)) if q else None, self._apply_lag(cur)))
        conn.close()

    def _apply_lag(self, cur):
        try:
            cur.execute("SELECT max(id) FROM `_%s_gho`" % TABLE)
        except pymysql.err.MySQLError:
            return None     # not created yet, or already renamed
        newest = cur.fetchone()[0]
        first = self.writer.inserts[0][0] if self.writer.inserts else None
        if newest is None or first is None or newest < first:
            return None
        # the newest insert committed so far that is not in the ghost yet
        committed = self.writer.inserts[-1]
        if committed[0] <= newest:
            return 0.0
        i = bisect.bisect_right(self.writer.inserts, (newest, float("inf")))
        return time.monotonic() - self.writer.inserts[i][1]

    def summary(self, until):
        """(max, last before ``until``) of unread bytes, queued events, apply lag."""
        before = [s for s in self.samples if s[0] <= until] or self.samples
        out = []
        for idx in (1, 2, 3):
            values = [r[idx] for r in self.samples if r[idx] is not None]
            last = [r[idx] for r in before if r[idx] is not None]
            out += [max(values, default=None), last[-1] if last else None]
        return out


def wait_or_kill(proc, timeout):
    """The tool's exit code, or "killed after <timeout> s" (a tool that cannot keep up
    with the write load on an overloaded machine may never finish)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return "killed after %d s" % timeout


def run_engine(target, cfg, rate, load, repo=REPO, label="trove-lite-osc"):
    out = Outcome(label, load, cfg.rows)
    work_dir = tempfile.mkdtemp(prefix="osc-bench-engine-")
    writer = WriterGroup(target, rate, cfg.rows, cfg.connections)
    writer.start()
    time.sleep(1)
    t0 = time.monotonic()
    proc = subprocess.Popen(engine_command(target, cfg.chunk_size, work_dir), cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    reader = LineReader(proc.stdout)
    reader.start()
    sampler = BacklogSampler(target, os.path.join(work_dir, "osc.sock"), writer)
    sampler.start()
    code = wait_or_kill(proc, cfg.timeout)
    t1 = time.monotonic()
    reader.join(5)
    sampler.stopping.set()
    writer.stop()
    sampler.join(5)
    shutil.rmtree(work_dir, ignore_errors=True)
    save_log(cfg, "engine-%s" % load, reader)
    _, profile = reader.first(r"Profile: ")
    out.profile = profile.partition("Profile: ")[2] if profile else ""
    if code != 0:
        out.error = "exit %s: %s" % (code, reader.tail())
        return out
    t_copied, _ = reader.first(r"Row copy complete")
    t_copy, _ = reader.first(r"Migration min values")
    if t_copy and t_copied:
        out.copy_seconds = t_copied - t_copy
    out.p50_ms = writer.latency_ms(t0, t1, 0.5)
    out.p99_ms = writer.latency_ms(t0, t1, 0.99)
    _, lock_line = reader.first(r"Lock & rename duration")
    m = re.search(r"duration: ([\d.]+)s", lock_line or "")
    out.seconds = t1 - t0
    out.write_rate = writer.achieved_rate(t0, t1)
    out.cutover_stall_ms = writer.max_stall(t_copied or t0, t1)
    out.max_stall_ms = writer.max_stall(t0, t1)
    out.reported_lock_ms = float(m.group(1)) * 1000 if m else None
    (out.backlog_bytes_max, out.backlog_bytes_end, out.backlog_events_max,
     out.backlog_events_end, out.apply_lag_max, out.apply_lag_end) = \
        sampler.summary(t_copied or t1)
    out.error = writer.error or ""
    return out


def run_engine_base(target, cfg, rate, load):
    """The engine as checked out in ``--base-repo`` (``git archive <rev>`` into a
    directory): the before of a before/after measured in the same run."""
    if not cfg.base_repo:
        out = Outcome("trove-lite-osc (base)", load, cfg.rows)
        out.error = "no --base-repo given"
        return out
    return run_engine(target, cfg, rate, load, repo=os.path.abspath(cfg.base_repo),
                      label="trove-lite-osc (base)")


def run_tool(out, cmd, target, cfg, rate, patterns):
    """Run an external tool under the write load; ``patterns``: the output lines that
    start and end its row copy and its swap (None: from the copy's end to its exit)."""
    writer = WriterGroup(target, rate, cfg.rows, cfg.connections)
    writer.start()
    time.sleep(1)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    reader = LineReader(proc.stdout)
    reader.start()
    code = wait_or_kill(proc, cfg.timeout)
    t1 = time.monotonic()
    reader.join(5)
    writer.stop()
    save_log(cfg, "%s-%s" % (cmd[0], out.load), reader)
    if code != 0:
        out.error = "exit %s: %s" % (code, reader.tail())
        return out
    copy_from, copy_to, swap_from, swap_to = (reader.first(p)[0] if p else None
                                              for p in patterns)
    if copy_from and copy_to:
        out.copy_seconds = copy_to - copy_from
    out.p50_ms = writer.latency_ms(t0, t1, 0.5)
    out.p99_ms = writer.latency_ms(t0, t1, 0.99)
    out.seconds = t1 - t0
    out.write_rate = writer.achieved_rate(t0, t1)
    out.cutover_stall_ms = writer.max_stall(swap_from or copy_to or t0, swap_to or t1)
    out.max_stall_ms = writer.max_stall(t0, t1)
    out.error = writer.error or ""
    return out


def run_pt_osc(target, cfg, rate, load):
    out = Outcome("pt-online-schema-change", load, cfg.rows)
    if not shutil.which("pt-online-schema-change"):
        out.error = "not installed (apt-get install percona-toolkit)"
        return out
    cmd = ["pt-online-schema-change", "--alter", ALTER,
           "h=%s,P=3306,u=%s,p=%s,D=%s,t=%s" % (target.host, USER, PASSWORD, DB, TABLE),
           "--execute", "--no-version-check", "--recursion-method=none",
           "--alter-foreign-keys-method=auto", "--no-drop-old-table",
           "--chunk-size=%d" % cfg.chunk_size, "--chunk-time=0",
           "--max-load=Threads_running=100", "--critical-load=Threads_running=1000"]
    return run_tool(out, cmd, target, cfg, rate, (
        r"Copying approximately", r"Copied rows OK", r"Swapping tables",
        r"Swapped original and new tables OK"))


def run_alter(algorithm):
    def run(target, cfg, rate, load):
        out = Outcome("ALTER ALGORITHM=%s" % algorithm, load, cfg.rows)
        writer = WriterGroup(target, rate, cfg.rows, cfg.connections)
        writer.start()
        time.sleep(1)
        t0 = time.monotonic()
        try:
            with target.connect() as conn, conn.cursor() as cur:
                cur.execute("ALTER TABLE %s %s, ALGORITHM=%s" % (TABLE, ALTER, algorithm))
        except pymysql.err.MySQLError as exc:
            out.error = str(exc)
        t1 = time.monotonic()
        writer.stop()
        out.seconds = t1 - t0
        out.write_rate = writer.achieved_rate(t0, t1)
        out.cutover_stall_ms = out.max_stall_ms = writer.max_stall(t0, t1)
        out.p50_ms = writer.latency_ms(t0, t1, 0.5)
        out.p99_ms = writer.latency_ms(t0, t1, 0.99)
        out.error = out.error or writer.error or ""
        return out
    return run


def run_baseline(target, cfg, rate, load):
    """The writer alone for ``--baseline-seconds``: its latency with no migration."""
    out = Outcome("no migration (writer only)", load, cfg.rows)
    writer = WriterGroup(target, rate, cfg.rows, cfg.connections)
    writer.start()
    time.sleep(1)
    t0 = time.monotonic()
    time.sleep(cfg.baseline_seconds)
    t1 = time.monotonic()
    writer.stop()
    out.seconds = t1 - t0
    out.write_rate = writer.achieved_rate(t0, t1)
    out.max_stall_ms = writer.max_stall(t0, t1)
    out.p50_ms = writer.latency_ms(t0, t1, 0.5)
    out.p99_ms = writer.latency_ms(t0, t1, 0.99)
    out.error = writer.error or ""
    return out


def run_gh_ost(target, cfg, rate, load):
    out = Outcome("gh-ost", load, cfg.rows)
    if not shutil.which("gh-ost"):
        out.error = "not installed (Debian has no gh-ost package; put a gh-ost binary on PATH)"
        return out
    cmd = ["gh-ost", "--host=%s" % target.host, "--port=3306", "--user=%s" % USER,
           "--password=%s" % PASSWORD, "--database=%s" % DB, "--table=%s" % TABLE,
           "--alter=%s" % ALTER, "--allow-on-master", "--assume-rbr",
           "--initially-drop-old-table", "--initially-drop-ghost-table",
           "--chunk-size=%d" % cfg.chunk_size, "--max-load=Threads_running=100",
           "--critical-load=Threads_running=1000", "--execute"]
    return run_tool(out, cmd, target, cfg, rate, (
        r"Migration min values", r"Row copy complete", None, None))


METHODS = {"engine": run_engine, "engine-base": run_engine_base, "pt-osc": run_pt_osc,
           "gh-ost": run_gh_ost,
           "baseline": run_baseline,
           "copy": run_alter("COPY"), "inplace": run_alter("INPLACE")}


# -- report ------------------------------------------------------------------------------

def fmt(value, spec="%.0f"):
    return "-" if value is None else spec % value


def print_table(outcomes, size_mb):
    print("\nALTER TABLE %s %s on %d rows (%s MB), chunk size as given; "
          "stall = longest blocked single-row write" % (TABLE, ALTER, outcomes[0].rows,
                                                        size_mb))
    header = ("method", "load", "writes/s", "rows/s", "total s", "copy s", "write p50 ms",
              "write p99 ms", "cut-over stall ms",
              "reported lock ms", "max stall ms", "unread binlog KB max/end",
              "queued events max/end", "apply lag s max/end")
    rows = [header]
    for o in outcomes:
        if o.error and not o.seconds:
            rows.append((o.method, o.load, "FAILED: " + o.error.splitlines()[0][:100]))
            continue
        kb = lambda b: None if b is None else b / 1024
        copies = o.copy_seconds is not None or o.cutover_stall_ms is not None
        rows.append((o.method, o.load, fmt(o.write_rate),
                     fmt(o.rows / o.seconds if copies else None),
                     fmt(o.seconds, "%.2f"), fmt(o.copy_seconds, "%.2f"),
                     fmt(o.p50_ms, "%.2f"), fmt(o.p99_ms, "%.2f"),
                     fmt(o.cutover_stall_ms, "%.1f"),
                     fmt(o.reported_lock_ms, "%.1f"), fmt(o.max_stall_ms, "%.1f"),
                     "%s/%s" % (fmt(kb(o.backlog_bytes_max)), fmt(kb(o.backlog_bytes_end))),
                     "%s/%s" % (fmt(o.backlog_events_max), fmt(o.backlog_events_end)),
                     "%s/%s" % (fmt(o.apply_lag_max, "%.2f"), fmt(o.apply_lag_end, "%.2f"))))
    widths = [max(len(str(r[i])) for r in rows if len(r) == len(header))
              for i in range(len(header))]
    for r in rows:
        print("  ".join(str(v).ljust(widths[i]) if i < len(r) - 1 or len(r) == len(header)
                        else str(v) for i, v in enumerate(r)))
    for o in outcomes:
        if o.error:
            print("\n%s (%s): %s" % (o.method, o.load, o.error))
    profiles = [o for o in outcomes if o.profile]
    if profiles:
        print("\nengine profile (seconds of the migrator thread; decode_cpu: the binlog "
              "reader process; cut_over: ms since the lock):")
        for o in profiles:
            print("  %-22s %-5s %s" % (o.method, o.load, o.profile))
    print_medians(outcomes)


def print_medians(outcomes):
    """Medians per method and load: the figures to compare on a noisy shared machine."""
    groups = {}
    for o in outcomes:
        if o.seconds:
            groups.setdefault((o.method, o.load), []).append(o)
    if not groups:
        return
    print("\nmedians (runs): total s, copy s, writes/s achieved, write p99 ms, "
          "cut-over stall ms")

    def med(runs, field, spec):
        values = [getattr(o, field) for o in runs if getattr(o, field) is not None]
        return fmt(statistics.median(values) if values else None, spec)
    for (method, load), runs in groups.items():
        print("  %-26s %-5s (%d)  %6.2f  %6s  %6s  %7s  %8s" % (
            method, load, len(runs), statistics.median(o.seconds for o in runs),
            med(runs, "copy_seconds", "%.2f"), med(runs, "write_rate", "%.0f"),
            med(runs, "p99_ms", "%.2f"), med(runs, "cutover_stall_ms", "%.1f")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000000)
    parser.add_argument("--rate", type=float, default=1000, help="writes/s under load")
    parser.add_argument("--idle-rate", type=float, default=100, help="probe writes/s idle")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per method and load")
    parser.add_argument("--connections", type=int, default=1,
                        help="writer connections sharing the rate")
    parser.add_argument("--baseline-seconds", type=float, default=5.0,
                        help="how long the 'baseline' method runs the writer alone")
    parser.add_argument("--methods", default="baseline,engine,pt-osc,gh-ost,copy,inplace")
    parser.add_argument("--loads", default="idle,load")
    parser.add_argument("--base-repo", metavar="DIR",
                        help="a checkout of the engine to compare with (method engine-base)")
    parser.add_argument("--logs", metavar="DIR", help="save each tool's output under DIR")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds before a tool's run is stopped and counted as failed")
    parser.add_argument("--bind", help="loopback address for the benchmark's server "
                        "(default: a free 127.205.x.y)")
    cfg = parser.parse_args(argv)
    server, target = start_server(cfg.bind)
    outcomes = []
    try:
        started = time.monotonic()
        size_mb = build_table(target, cfg.rows)
        print("built %d rows (%s MB) in %.1fs" % (cfg.rows, size_mb,
                                                  time.monotonic() - started), flush=True)
        # rounds, not blocks: on a shared machine the speed drifts over minutes, and
        # each round gives every method the same conditions
        for _ in range(cfg.repeat):
            for name in cfg.methods.split(","):
                for load in cfg.loads.split(","):
                    rate = cfg.rate if load == "load" else cfg.idle_rate
                    outcome = METHODS[name](target, cfg, rate, load)
                    cleanup_tables(target)
                    outcomes.append(outcome)
                    print("%-24s %-5s %s" % (outcome.method, load, "failed" if outcome.error
                                             and not outcome.seconds else
                                             "%.2fs" % outcome.seconds), flush=True)
    finally:
        server.destroy()
    print_table(outcomes, size_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
