"""Property test: random tables x random ALTERs x random concurrent writes.

A case (one seed) builds a table of random column types (ENUM, SET, BINARY,
VARBINARY, BIT, JSON, generated, DATETIME(6), utf8mb4 and latin1 strings, ...)
with a random primary key (integer, compound, string, binary, enum), fills it,
starts a random writer (inserts, updates that may move the key, deletes), and
migrates it with a random ALTER, cut-over postponed until the writer stops.

The oracle is the server itself: the old table (``_t_del``) is copied offline
into ``CREATE LIKE`` + the same ALTER + ``INSERT ... SELECT`` of the shared
columns, and that reference must equal the migrated table byte for byte (every
column, generated ones included, compared as hex).

    .venv/bin/python tests/functional/osc/property_osc.py --cases 50 [--seed 1000]

starts a private mariadbd and runs that many cases, printing the seed of each
failure (re-run one with ``--cases 1 --seed N``). ``TROVE_LITE_OSC_CMD`` runs
another engine command, as for run_scenarios.py.
"""

import argparse
import dataclasses
import os
import random
import shlex
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

TABLE, OLD, REF = "t", "_t_del", "t_ref"
ENUM = ("red", "green", "blue", "orange")
SET = ("w", "x", "y", "z")


@dataclasses.dataclass
class Col:
    name: str
    ddl: str
    kind: str                 # value generator: see Case.value
    size: int = 0
    generated: bool = False


def _columns(rnd):
    """A random column list; names c0, c1, ... (keys are chosen among the first)."""
    pool = [
        ("int", "int not null"), ("bigu", "bigint unsigned null"),
        ("enum", "enum('red','green','blue','orange') not null"),
        ("set", "set('w','x','y','z') null"),
        ("binary", "binary(%d) not null"), ("varbinary", "varbinary(%d) null"),
        ("bit", "bit(%d) null"), ("json", "json null"),
        ("dt6", "datetime(6) not null"), ("utf8", "varchar(%d) charset utf8mb4 not null"),
        ("latin1", "varchar(%d) charset latin1 null"), ("char", "char(%d) not null"),
        ("dec", "decimal(10,3) null"),
    ]
    cols = []
    for i in range(rnd.randint(4, 8)):
        kind, ddl = rnd.choice(pool)
        size = rnd.choice((4, 6, 8)) if "%d" in ddl else 0
        cols.append(Col("c%d" % i, ddl % size if size else ddl, kind, size))
    return cols


def _key(rnd, cols):
    """A primary key over one or two non-null columns of key-able kinds."""
    keyable = [c for c in cols if c.kind in ("int", "enum", "binary", "utf8", "char", "dt6")]
    if not keyable or rnd.random() < 0.25:
        return None             # an auto-increment id
    first = rnd.choice(keyable)
    rest = [c for c in keyable if c is not first]
    if rest and (first.kind == "enum" or rnd.random() < 0.5):
        return [first, rnd.choice(rest)]
    return [first]


class Case:
    """One random table, ALTER and write load, from ``seed``."""

    def __init__(self, seed):
        self.seed = seed
        rnd = self.rnd = random.Random(seed)
        self.cols = _columns(rnd)
        self.key = _key(rnd, self.cols)
        if rnd.random() < 0.5:
            src = rnd.choice([c for c in self.cols if c.kind in ("int", "utf8", "dt6", "dec")]
                             or self.cols[:1])
            expr = {"int": "%s * 2", "utf8": "upper(%s)", "dt6": "date(%s)",
                    "dec": "%s + 1"}.get(src.kind, "length(%s)") % src.name
            self.cols.append(Col("g0", "varchar(64) charset utf8mb4 as (%s) %s" % (
                expr, rnd.choice(("virtual", "persistent"))), "", generated=True))
        self.alter, self.dropped = self._alter()

    # -- schema ---------------------------------------------------------------
    @property
    def key_names(self):
        return [c.name for c in self.key] if self.key else ["id"]

    def create_sql(self):
        defs = (["id bigint not null auto_increment"] if not self.key else [])
        defs += ["%s %s" % (c.name, c.ddl) for c in self.cols]
        defs.append("primary key (%s)" % ", ".join(self.key_names))
        return "create table %s (%s) engine=innodb" % (TABLE, ", ".join(defs))

    def _alter(self):
        """(ALTER text, dropped column names); each column is named by one clause at most
        (the server refuses a column modified twice, or modified and dropped)."""
        rnd, clauses, touched, dropped = self.rnd, [], set(), set()
        generated_src = " ".join(c.ddl for c in self.cols if c.generated)
        modify = {
            "binary": lambda c: "modify %s varbinary(%d) not null" % (c.name, c.size + 4),
            "enum": lambda c: "modify %s enum('orange','blue','green','red','x') not null"
                              % c.name,
            "latin1": lambda c: "modify %s varchar(%d) charset utf8mb4 null"
                                % (c.name, c.size + 8),
            "set": lambda c: "modify %s set('z','y','x','w','v') null" % c.name,
        }
        for _ in range(rnd.randint(1, 3)):
            choice = rnd.randrange(6)
            free = [c for c in self.cols if not c.generated and c.name not in touched]
            plain = [c for c in free if c.name not in self.key_names]
            if choice == 0:
                clauses.append("add column n%d int not null default %d" % (
                    len(clauses), rnd.randint(0, 99)))
                continue
            if choice == 1:      # a conversion: key columns included
                cand = [c for c in free if c.kind in modify]
                make = lambda c: modify[c.kind](c)
            elif choice == 2:    # drop (not a key column, not a generated column's source)
                cand = [c for c in plain if c.name not in generated_src]
                make = lambda c: "drop column %s" % c.name
            elif choice == 3:    # a new secondary key
                cand = [c for c in plain if c.kind != "json"]
                make = lambda c: "add key k%d (%s)" % (len(clauses), c.name)
            elif choice == 4:    # the column named in other letter case
                cand = plain
                make = lambda c: "modify %s %s" % (c.name.upper(), c.ddl)
            else:
                cand = []
            if not cand:
                continue
            c = rnd.choice(cand)
            clauses.append(make(c))
            touched.add(c.name)
            if choice == 2:
                dropped.add(c.name)
        if not clauses:
            clauses.append("add column extra varchar(10) not null default 'x'")
        if rnd.random() < 0.2:
            clauses.append("engine=innodb")
        return ", ".join(clauses), dropped

    # -- values -------------------------------------------------------------------
    def value(self, col, rnd):
        k = col.kind
        if k == "int":
            return rnd.randint(-1000, 100000)
        if k == "bigu":
            return rnd.choice((None, rnd.randint(0, 2 ** 64 - 1)))
        if k == "enum":
            return rnd.choice(ENUM)
        if k == "set":
            return rnd.choice((None, ",".join(rnd.sample(SET, rnd.randint(0, 4)))))
        if k in ("binary", "varbinary"):
            n = rnd.randint(0 if k == "varbinary" else 1, col.size)
            v = bytes(rnd.choice((0, 0, 65, 255, rnd.randint(0, 255))) for _ in range(n))
            return None if k == "varbinary" and rnd.random() < 0.1 else v
        if k == "bit":
            return rnd.choice((None, rnd.randint(0, 2 ** col.size - 1)))
        if k == "json":
            return rnd.choice((None, '{"a": %d, "b": [1, "x"]}' % rnd.randint(0, 9), "[]",
                               '"\\u00e9t\\u00e9"'))
        if k == "dt6":
            return "20%02d-%02d-%02d %02d:%02d:%02d.%06d" % (
                rnd.randint(0, 30), rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23),
                rnd.randint(0, 59), rnd.randint(0, 59), rnd.choice((0, rnd.randint(0, 999999))))
        if k == "utf8":
            return "".join(rnd.choice("abcAB é€😀 ") for _ in range(rnd.randint(0, col.size)))
        if k == "latin1":
            return rnd.choice((None, "".join(rnd.choice("abzé ") for _ in
                                             range(rnd.randint(0, col.size)))))
        if k == "char":
            return "".join(rnd.choice("ab ") for _ in range(rnd.randint(0, col.size))).rstrip()
        if k == "dec":
            return rnd.choice((None, "%d.%03d" % (rnd.randint(-9999, 9999), rnd.randint(0, 999))))
        raise ValueError(k)

    def row(self, rnd):
        return [self.value(c, rnd) for c in self.cols if not c.generated]

    @property
    def stored(self):
        return [c.name for c in self.cols if not c.generated]

    def insert(self, cur, rnd, rows=1):
        names = self.stored
        one = "(" + ", ".join(["%s"] * len(names)) + ")"
        values = [v for _ in range(rows) for v in self.row(rnd)]
        cur.execute("insert ignore into %s (%s) values %s" % (
            TABLE, ", ".join(names), ", ".join([one] * rows)), values)


class Writer(threading.Thread):
    """Random inserts, updates (of any column, the key included) and deletes."""

    def __init__(self, kw, case, seed):
        super().__init__(daemon=True)
        self.kw, self.case, self.rnd = kw, case, random.Random(seed)
        self.stop_event = threading.Event()
        self.ops = 0
        self.errors = []

    def run(self):
        c = support.connect(self.kw)
        cur = c.cursor()
        case, rnd = self.case, self.rnd
        key = ", ".join(case.key_names)
        while not self.stop_event.is_set():
            try:
                roll = rnd.random()
                if roll < 0.35:
                    case.insert(cur, rnd)
                else:
                    cur.execute("select %s from %s order by rand() limit 1" % (key, TABLE))
                    victim = cur.fetchone()
                    if victim is None:
                        continue
                    where = " and ".join("%s <=> %%s" % k for k in case.key_names)
                    if roll < 0.8:
                        col = rnd.choice([x for x in case.cols if not x.generated])
                        cur.execute("update ignore %s set %s = %%s where %s" % (
                            TABLE, col.name, where), [case.value(col, rnd)] + list(victim))
                    else:
                        cur.execute("delete from %s where %s" % (TABLE, where), list(victim))
                self.ops += 1
            except pymysql.MySQLError as exc:  # a value the column refuses: try another
                self.errors.append(exc)
            time.sleep(0.004)
        c.close()

    def stop(self):
        self.stop_event.set()
        self.join(10)


def _rows(cur, table, columns):
    cur.execute("select %s from %s" % (", ".join("hex(%s)" % c for c in columns), table))
    return sorted(cur.fetchall(), key=lambda r: [(v is not None, v or "") for v in r])


def run_case(kw, seed, work_dir, rows=300):
    """Run one case; returns None when the migrated table equals the reference, else
    a description of the first differences (or of the engine's failure)."""
    case = Case(seed)
    rnd = random.Random(seed + 1)
    c = support.connect(kw)
    cur = c.cursor()
    for table in (TABLE, OLD, REF, "_t_gho", "_t_ghc"):
        cur.execute("drop table if exists %s" % table)
    cur.execute(case.create_sql())
    for _ in range(rows // 50):
        case.insert(cur, rnd, 50)
    writer = Writer(kw, case, seed + 2)
    writer.start()
    flag = os.path.join(work_dir, "postpone-%d" % seed)
    open(flag, "w").close()
    log = os.path.join(work_dir, "engine-%d.log" % seed)
    cmd = support.engine_cmd(kw, TABLE, case.alter, "--chunk-size=%d" % rnd.choice((7, 50, 1000)),
                             "--postpone-cut-over-flag-file=%s" % flag,
                             "--approve-renamed-columns")
    if os.environ.get("TROVE_LITE_OSC_CMD"):          # another engine, as run_scenarios.py
        cmd = shlex.split(os.environ["TROVE_LITE_OSC_CMD"]) + cmd[3:]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=support.ROOT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if "postponing cut-over" in open(log, errors="replace").read():
                break
            time.sleep(0.1)
        time.sleep(rnd.uniform(0.2, 1.0))         # writes while postponed, too
        writer.stop()
        os.unlink(flag)
        code = proc.wait(120)
    finally:
        writer.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    where = "seed %d: %s\nALTER: %s\n" % (seed, case.create_sql(), case.alter)
    if code != 0:
        return where + "engine exited %s:\n%s" % (code, open(log, errors="replace").read()[-2000:])
    shared = ([] if case.key else ["id"]) + [n for n in case.stored if n not in case.dropped]
    cur.execute("create table %s like %s" % (REF, OLD))
    cur.execute("alter table %s %s" % (REF, case.alter))
    cur.execute("insert into %s (%s) select %s from %s" % (REF, ", ".join(shared),
                                                           ", ".join(shared), OLD))
    cur.execute("select column_name from information_schema.columns where table_schema = %s "
                "and table_name = %s order by ordinal_position", (kw["database"], REF))
    columns = [r[0] for r in cur.fetchall()]
    want, got = _rows(cur, REF, columns), _rows(cur, TABLE, columns)
    c.close()
    if want == got:
        return None
    missing = [r for r in want if r not in got][:3]
    extra = [r for r in got if r not in want][:3]
    return where + "%d rows expected, %d migrated; expected but missing: %s; unexpected: %s" % (
        len(want), len(got), missing, extra)


def main(argv=None):
    from tests.functional.osc.run_scenarios import start_server
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=300)
    args = parser.parse_args(argv)
    server = start_server()
    failed = 0
    try:
        kw = support.prepare(server)
        work_dir = tempfile.mkdtemp(prefix="osc-property-")
        for seed in range(args.seed, args.seed + args.cases):
            started = time.monotonic()
            problem = run_case(kw, seed, work_dir, args.rows)
            print("seed %d: %s (%.1fs)" % (seed, "FAILED" if problem else "ok",
                                          time.monotonic() - started), flush=True)
            if problem:
                failed += 1
                print(problem, flush=True)
    finally:
        server.destroy()
    print("%d cases, %d failed" % (args.cases, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
