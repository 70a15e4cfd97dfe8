"""Run the online-schema-change acceptance scenarios against the OSC engine.

Scenarios are data, in gh-ost's layout, one folder each under ``tests/osc_scenarios/``:

``create.sql``       (required) drops/creates ``test.gh_ost_test``, fills it, and creates an
                     EVENT that writes every second while the migration runs. Run with the
                     ``mariadb`` client (so ``delimiter`` works) as root, utf8mb4.
``extra_args``       one line of engine flags (shell quoting), appended after the harness flags;
                     a repeated flag's last value wins, so ``--alter=...`` here replaces the
                     default ``engine=innodb``.
``expect_failure``   the engine must exit non-zero; if the file has text, the engine output
                     must contain it (compared case-insensitively: the messages are gh-ost's,
                     whose capitalisation differs between its versions).
``orig_columns``,    the column lists compared on the old (``_gh_ost_test_del``) and the new
``ghost_columns``    table when columns are renamed/added/dropped; default ``*``.
``order_by``         ORDER BY clause for the comparison; default: rows are compared as sorted
                     multisets, so a changed primary key does not change the checksum.
``sql_mode``         global sql_mode while the scenario runs (default: gh-ost's harness
                     mode, strict with NO_ZERO_DATE/NO_ZERO_IN_DATE).
``ignore_versions``  a regular expression; the scenario is skipped on matching server versions.
``destroy.sql``      run after the scenario (the harness also recreates database ``test``
                     and restores the global sql_mode and time_zone after every scenario).
``expect_table_structure``  lines that ``SHOW CREATE TABLE gh_ost_test`` must contain after
                     the migration; a line starting with ``!`` must NOT be contained.
``expect_triggers``  trigger names (one a line) that must exist on the new table afterwards.

Per scenario the runner: runs create.sql, starts the engine with gh-ost's harness flags and
``--postpone-cut-over-flag-file``, waits for the log line ``postponing cut-over``, disables
the write events and waits for running event executions to finish, removes the flag file,
waits for the engine to exit 0, and compares checksums of ``_gh_ost_test_del`` and
``gh_ost_test`` (values fetched in text form over a utf8mb4 connection, as gh-ost's harness
compares ``mariadb`` client output, so a latin1 -> utf8mb4 conversion compares equal).

Standalone: ``python tests/functional/osc/run_scenarios.py [names...]`` starts one private
mariadbd (127.201.*, binlogs on), runs the scenarios, prints one line each and
``N passed, N failed``. The engine command is ``python -m trove_lite.osc`` unless
``TROVE_LITE_OSC_CMD`` names another (e.g. a gh-ost binary). ``--reference [--write-seconds S]``
replaces the engine by an offline copy (CREATE LIKE, ALTER, INSERT SELECT, RENAME with writes
stopped):
it checks the scenario data themselves (SQL valid, compared columns right), not an engine.
"""

import argparse
import dataclasses
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import pymysql  # noqa: E402
import pymysql.converters  # noqa: E402

SCENARIO_ROOT = os.path.join(REPO, "tests", "osc_scenarios")
DATABASE = "test"
TABLE = "gh_ost_test"
OLD_TABLE = "_%s_del" % TABLE
ENGINE_USER = "gh-ost"
ENGINE_PASSWORD = "gh-ost"
# gh-ost's localtests set this global sql_mode for every scenario.
DEFAULT_SQL_MODE = ("STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION")
POSTPONED_LINE = "postponing cut-over"
# Privileges gh-ost documents (REPLICATION CLIENT is BINLOG MONITOR on MariaDB >= 10.5;
# SHOW SLAVE STATUS needs SLAVE MONITOR there; PROCESS lets the cut-over see the
# blocked RENAME in the processlist).
ENGINE_GRANTS = (
    "GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%'" % (DATABASE, ENGINE_USER),
    "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SLAVE MONITOR, PROCESS ON *.* "
    "TO '%s'@'%%'" % ENGINE_USER,
)
# Text results: no int/float/date decoding, so values compare as the server prints them.
TEXT_CONVERSIONS = {k: v for k, v in pymysql.converters.conversions.items()
                    if not isinstance(k, int)}


class ScenarioError(Exception):
    """A scenario folder is malformed."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    create_sql: str
    extra_args: tuple
    expect_failure: str | None      # None: must succeed; "": any non-zero exit will do
    orig_columns: str = "*"
    ghost_columns: str = "*"
    order_by: str | None = None
    sql_mode: str = DEFAULT_SQL_MODE
    ignore_versions: str | None = None
    destroy_sql: str | None = None
    expect_table_structure: tuple = ()
    expect_triggers: tuple = ()

    @property
    def alter(self):
        """The --alter value the engine will see (last one wins, as in Go's flag package)."""
        value = "engine=innodb"
        args = list(self.extra_args)
        for i, arg in enumerate(args):
            if arg.startswith("--alter="):
                value = arg[len("--alter="):]
            elif arg == "--alter" and i + 1 < len(args):
                value = args[i + 1]
        return value


def _read(path, strip=True):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return text.strip() if strip else text


def load_scenario(path):
    name = os.path.basename(path.rstrip("/"))
    create_sql = _read(os.path.join(path, "create.sql"), strip=False)
    if create_sql is None:
        raise ScenarioError("%s: no create.sql" % name)
    extra = _read(os.path.join(path, "extra_args")) or ""
    lines = lambda f: tuple(line.strip() for line in (_read(os.path.join(path, f)) or "")
                            .splitlines() if line.strip())
    return Scenario(
        name=name, path=path, create_sql=create_sql,
        extra_args=tuple(shlex.split(extra)),
        expect_failure=_read(os.path.join(path, "expect_failure")),
        orig_columns=_read(os.path.join(path, "orig_columns")) or "*",
        ghost_columns=_read(os.path.join(path, "ghost_columns")) or "*",
        order_by=_read(os.path.join(path, "order_by")) or None,
        sql_mode=_read(os.path.join(path, "sql_mode")) or DEFAULT_SQL_MODE,
        ignore_versions=_read(os.path.join(path, "ignore_versions")) or None,
        destroy_sql=_read(os.path.join(path, "destroy.sql"), strip=False),
        expect_table_structure=lines("expect_table_structure"),
        expect_triggers=lines("expect_triggers"))


def scenario_names(root=SCENARIO_ROOT):
    return sorted(d for d in os.listdir(root)
                  if os.path.isfile(os.path.join(root, d, "create.sql")))


def discover(names=None, root=SCENARIO_ROOT):
    return [load_scenario(os.path.join(root, n)) for n in (names or scenario_names(root))]


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the scenarios run: one mariadbd, reached by root over its socket (setup)
    and by the engine user over TCP (the engine)."""
    host: str
    port: int
    socket: str
    version: str
    error_log: str | None = None

    def admin(self, **kw):
        kw.setdefault("charset", "utf8mb4")
        return pymysql.connect(unix_socket=self.socket, user="root", autocommit=True,
                               connect_timeout=5, **kw)


def prepare_target(server):
    """Create the engine user and database ``test`` on a started MariaDBServer."""
    target = Target(host=server.bind_address, port=server.port, socket=server.socket,
                    version="", error_log=server.error_log)
    with target.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'"
                    % (ENGINE_USER, ENGINE_PASSWORD))
        for grant in ENGINE_GRANTS:
            cur.execute(grant)
        cur.execute("CREATE DATABASE IF NOT EXISTS `%s`" % DATABASE)
        cur.execute("SELECT @@version")
        version = cur.fetchone()[0]
    return dataclasses.replace(target, version=version)


def harness_args(target, work_dir):
    """gh-ost's localtests flags, adapted to --allow-on-master with a postponed cut-over."""
    return [
        "--host=%s" % target.host, "--port=%d" % target.port,
        "--user=%s" % ENGINE_USER, "--password=%s" % ENGINE_PASSWORD,
        "--database=%s" % DATABASE, "--table=%s" % TABLE,
        "--alter=engine=innodb", "--allow-on-master", "--exact-rowcount", "--assume-rbr",
        "--initially-drop-old-table", "--initially-drop-ghost-table",
        "--throttle-query=select timestampdiff(second, min(last_update), now()) < 5 "
        "from _%s_ghc" % TABLE,
        "--serve-socket-file=%s" % os.path.join(work_dir, "gh-ost.sock"),
        "--initially-drop-socket-file",
        "--postpone-cut-over-flag-file=%s" % os.path.join(work_dir, "postpone.flag"),
        "--default-retries=3", "--chunk-size=10", "--verbose", "--debug", "--stack",
        "--execute",
    ]


def engine_command():
    cmd = os.environ.get("TROVE_LITE_OSC_CMD")
    return shlex.split(cmd) if cmd else [sys.executable, "-m", "trove_lite.osc"]


@dataclasses.dataclass
class Result:
    name: str
    status: str                 # "passed", "failed", "skipped"
    reason: str = ""
    seconds: float = 0.0
    log_path: str | None = None

    @property
    def ok(self):
        return self.status != "failed"

    def line(self, width=600):
        """One line: name, status, time, and the reason flattened and cut to ``width``."""
        text = "%-40s %-7s %5.1fs" % (self.name, self.status.upper(), self.seconds)
        reason = " | ".join(part.strip() for part in self.reason.splitlines() if part.strip())
        if len(reason) > width:
            reason = reason[:width] + "..."
        return text + ("  " + reason if reason else "")


class Failed(Exception):
    """The scenario failed; the message says why (with a log excerpt)."""


# -- database steps ----------------------------------------------------------------

def reset_database(target, sql_mode=DEFAULT_SQL_MODE, time_zone="SYSTEM"):
    """Fresh database ``test`` and the global settings a scenario may have changed."""
    with target.admin() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS `%s`" % DATABASE)
        cur.execute("CREATE DATABASE `%s`" % DATABASE)
        cur.execute("SET GLOBAL sql_mode = %s", (sql_mode,))
        cur.execute("SET GLOBAL time_zone = %s", (time_zone,))
        cur.execute("SET GLOBAL event_scheduler = ON")
        cur.execute("SET GLOBAL log_bin_trust_function_creators = OFF")


def run_sql_file(target, text, what):
    """Feed SQL to the mariadb client as root (it understands ``delimiter``)."""
    proc = subprocess.run(
        ["mariadb", "--socket=%s" % target.socket, "--user=root",
         "--default-character-set=utf8mb4", DATABASE],
        input=text.encode("utf-8"), capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise Failed("%s failed: %s" % (what, proc.stderr.decode(errors="replace").strip()))


def stop_write_load(target, timeout=20):
    """Disable every event in ``test``, stop the event scheduler, and wait until no event
    execution is running.

    Event executions show as COMMAND='Connect' threads of the definer; the engine's own
    connections (TCP, user gh-ost) never do.
    """
    with target.admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT event_name FROM information_schema.events "
                    "WHERE event_schema = %s", (DATABASE,))
        for (event,) in cur.fetchall():
            try:
                cur.execute("ALTER EVENT `%s`.`%s` DISABLE" % (DATABASE, event))
            except pymysql.err.MySQLError:
                pass    # ended and dropped between the listing and now
        # stopping the scheduler returns once it has ended: an execution it had just
        # spawned is in the processlist by then (under load, one could start after a
        # first look found none, and write to the table after the cut-over)
        cur.execute("SET GLOBAL event_scheduler = OFF")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM information_schema.processlist "
                        "WHERE command = 'Connect' AND user NOT IN ('system user', %s)",
                        (ENGINE_USER,))
            if cur.fetchone()[0] == 0:
                return
            time.sleep(0.05)
    raise Failed("event executions still running %ss after disabling the events" % timeout)


def table_rows(target, table, columns, order_by):
    """All rows as text tuples, in ``order_by`` order or sorted."""
    with target.admin(conv=TEXT_CONVERSIONS) as conn, conn.cursor() as cur:
        sql = "SELECT %s FROM `%s`.`%s`" % (columns, DATABASE, table)
        if order_by:
            sql += " ORDER BY " + order_by
        cur.execute(sql)
        rows = list(cur.fetchall())
    if not order_by:
        rows.sort(key=lambda row: [(v is not None, repr(v)) for v in row])
    return rows


def event_errors(target, offset):
    """Event Scheduler errors logged since byte ``offset`` of the server's error log."""
    if not target.error_log:
        return []
    with open(target.error_log, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return [line for line in text.splitlines()
            if "Event Scheduler" in line and "[ERROR]" in line]


def log_size(path):
    try:
        return os.path.getsize(path)
    except (OSError, TypeError):
        return 0


def checksum(rows):
    return hashlib.md5(repr(rows).encode()).hexdigest()


def compare_tables(target, scenario):
    old = table_rows(target, OLD_TABLE, scenario.orig_columns, scenario.order_by)
    new = table_rows(target, TABLE, scenario.ghost_columns, scenario.order_by)
    if checksum(old) == checksum(new):
        return len(old)
    diff = [("old", r) for r in old if r not in new][:3] + \
           [("new", r) for r in new if r not in old][:3]
    raise Failed("checksum mismatch: %s has %d rows, %s has %d; first differences: %r"
                 % (OLD_TABLE, len(old), TABLE, len(new), diff))


def check_structure(target, scenario):
    with target.admin() as conn, conn.cursor() as cur:
        cur.execute("SHOW CREATE TABLE `%s`.`%s`" % (DATABASE, TABLE))
        ddl = cur.fetchone()[1]
        cur.execute("SELECT trigger_name FROM information_schema.triggers WHERE "
                    "event_object_schema = %s AND event_object_table = %s", (DATABASE, TABLE))
        triggers = {r[0] for r in cur.fetchall()}
    for line in scenario.expect_table_structure:
        wanted = not line.startswith("!")
        text = line if wanted else line[1:]
        if (text in ddl) != wanted:
            raise Failed("new table structure %s %r:\n%s" % (
                "lacks" if wanted else "still has", text, ddl))
    missing = set(scenario.expect_triggers) - triggers
    if missing:
        raise Failed("triggers %s missing on the new table (has %s)"
                     % (sorted(missing), sorted(triggers)))


# -- the engine process --------------------------------------------------------------

def log_tail(path, lines=25):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for(proc, log_path, needle, timeout):
    """Wait until the log contains ``needle`` (True) or the process exits (False)."""
    deadline = time.monotonic() + timeout
    needle = needle.lower()
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            if needle in f.read().lower():
                return True
        if proc.poll() is not None:
            with open(log_path, errors="replace") as f:
                return needle in f.read().lower()
        time.sleep(0.1)
    raise Failed("timed out after %ss waiting for %r; log tail:\n%s"
                 % (timeout, needle, log_tail(log_path)))


def finish(proc, timeout):
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise Failed("engine still running %ss after the postpone flag was removed"
                     % timeout) from None


def terminate(proc):
    """Stop an engine we started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_engine(scenario, target, work_dir, timeout):
    """Run a migration; returns the number of compared rows (success scenarios)."""
    log_path = os.path.join(work_dir, "engine.log")
    flag = os.path.join(work_dir, "postpone.flag")
    open(flag, "w").close()
    cmd = engine_command() + harness_args(target, work_dir) + list(scenario.extra_args)
    with open(os.path.join(work_dir, "command"), "w") as f:
        f.write(shlex.join(cmd) + "\n")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        if scenario.expect_failure is not None:
            return expect_refusal(scenario, proc, log_path, timeout)
        if not wait_for(proc, log_path, POSTPONED_LINE, timeout):
            raise Failed("engine exited %s before %r; log tail:\n%s"
                         % (proc.returncode, POSTPONED_LINE, log_tail(log_path)))
        stop_write_load(target)
        os.unlink(flag)
        code = finish(proc, timeout)
        if code != 0:
            raise Failed("engine exited %s after cut-over; log tail:\n%s"
                         % (code, log_tail(log_path)))
        check_structure(target, scenario)
        return compare_tables(target, scenario)
    finally:
        terminate(proc)


def expect_refusal(scenario, proc, log_path, timeout):
    reached = wait_for(proc, log_path, POSTPONED_LINE, timeout)
    if reached:
        raise Failed("engine reached %r but must refuse with %r"
                     % (POSTPONED_LINE, scenario.expect_failure))
    code = proc.returncode
    if code == 0:
        raise Failed("engine exited 0 but must fail with %r" % scenario.expect_failure)
    with open(log_path, errors="replace") as f:
        output = f.read()
    if scenario.expect_failure.lower() not in output.lower():
        raise Failed("engine exited %s without %r; log tail:\n%s"
                     % (code, scenario.expect_failure, log_tail(log_path)))
    fatal = [line for line in output.splitlines() if "FATAL" in line]
    if any("%s" in line for line in fatal):
        raise Failed("the refusal shows an unfilled placeholder: %s" % fatal)
    return 0


# -- the offline reference (checks the scenario data, not an engine) -------------------

def run_reference(scenario, target, write_seconds=1.5):
    """Migrate with plain SQL after stopping the writes: what a correct engine must produce."""
    if scenario.expect_failure is not None:
        return 0    # refusals are the engine's job; create.sql has been checked already
    time.sleep(write_seconds)     # let the event write a while
    stop_write_load(target)
    ghost = "_%s_gho" % TABLE
    with target.admin(database=DATABASE) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
        if "--allow-zero-in-date" in scenario.extra_args:
            cur.execute("SET SESSION sql_mode = REPLACE(REPLACE(@@sql_mode, "
                        "'NO_ZERO_DATE', ''), 'NO_ZERO_IN_DATE', '')")
        cur.execute("CREATE TABLE `%s` LIKE `%s`" % (ghost, TABLE))
        cur.execute("SELECT auto_increment FROM information_schema.tables "
                    "WHERE table_schema = %s AND table_name = %s", (DATABASE, TABLE))
        auto_increment = cur.fetchone()[0]
        if auto_increment and "auto_increment" not in scenario.alter.lower():
            cur.execute("ALTER TABLE `%s` AUTO_INCREMENT = %d" % (ghost, auto_increment))
        if "--discard-foreign-keys" in scenario.extra_args:
            _drop_foreign_keys(cur, ghost)
        cur.execute("ALTER TABLE `%s` %s" % (ghost, scenario.alter))
        orig, new = _reference_columns(cur, scenario, ghost)
        cur.execute("INSERT INTO `%s` (%s) SELECT %s FROM `%s`"
                    % (ghost, new, orig, TABLE))
        cur.execute("RENAME TABLE `%s` TO `%s`, `%s` TO `%s`"
                    % (TABLE, OLD_TABLE, ghost, TABLE))
    check_structure(target, dataclasses.replace(scenario, expect_triggers=()))
    return compare_tables(target, scenario)


def _drop_foreign_keys(cur, table):
    cur.execute("SELECT constraint_name FROM information_schema.referential_constraints "
                "WHERE constraint_schema = %s AND table_name = %s", (DATABASE, table))
    for (name,) in cur.fetchall():
        cur.execute("ALTER TABLE `%s` DROP FOREIGN KEY `%s`" % (table, name))


def _reference_columns(cur, scenario, ghost):
    def stored(table):
        cur.execute("SELECT column_name FROM information_schema.columns WHERE "
                    "table_schema = %s AND table_name = %s AND extra NOT LIKE '%%GENERATED%%'"
                    " ORDER BY ordinal_position", (DATABASE, table))
        return [r[0] for r in cur.fetchall()]
    quote = lambda name: "`%s`" % name.replace("`", "``")
    ghost_stored = {c.lower() for c in stored(ghost)}
    orig = [c.strip() for c in scenario.orig_columns.split(",")]
    new = [c.strip() for c in scenario.ghost_columns.split(",")]
    plain = re.compile(r"^[^\W\d]\w*$")
    if scenario.orig_columns != "*" and all(plain.match(c) for c in orig + new):
        # plain column lists name a rename mapping (old name -> new name)
        pairs = [(o, n) for o, n in zip(orig, new) if n.lower() in ghost_stored]
        return (", ".join(quote(p[0]) for p in pairs),
                ", ".join(quote(p[1]) for p in pairs))
    # a column the ALTER drops (and may add again) is not copied: its new default applies
    dropped = {name.lower() for name in re.findall(
        r"\bdrop\s+(?:column\s+)?`?(\w+)`?", scenario.alter, re.I)}
    shared = [quote(c) for c in stored(TABLE)
              if c.lower() in ghost_stored and c.lower() not in dropped]
    return ", ".join(shared), ", ".join(shared)


# -- driver --------------------------------------------------------------------------

def run_scenario(scenario, target, timeout=90, reference=None, keep_dir=None):
    """Run one scenario on a prepared target; never raises for a scenario failure.

    ``reference``: None runs the engine; a number runs the offline reference copy after
    letting the EVENT write that many seconds.
    """
    started = time.monotonic()
    if scenario.ignore_versions and re.search(scenario.ignore_versions, target.version):
        return Result(scenario.name, "skipped", "ignored on %s" % target.version)
    work_dir = tempfile.mkdtemp(prefix="osc-%s-" % scenario.name[:20], dir=keep_dir)
    log_path = os.path.join(work_dir, "engine.log")
    status, reason = "passed", ""
    try:
        reset_database(target, scenario.sql_mode)
        offset = log_size(target.error_log)
        run_sql_file(target, scenario.create_sql, "create.sql")
        if reference is None:
            rows = run_engine(scenario, target, work_dir, timeout)
        else:
            rows = run_reference(scenario, target, reference)
        errors = event_errors(target, offset)
        if reference is not None and errors:
            # the write load is part of the scenario: a broken EVENT body tests nothing
            raise Failed("the scenario's EVENT failed: %s" % errors[0])
        if errors:
            reason += "; %d EVENT errors, first: %s" % (len(errors), errors[0][-120:])
        reason = "%d rows equal" % rows if rows else ""
        if scenario.destroy_sql:
            run_sql_file(target, scenario.destroy_sql, "destroy.sql")
    except Failed as exc:
        status, reason = "failed", str(exc)
    except pymysql.err.MySQLError as exc:
        status, reason = "failed", "harness SQL error: %s" % (exc,)
    finally:
        try:
            reset_database(target)
        except pymysql.err.MySQLError:
            pass
    if status == "passed" and keep_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
    return Result(scenario.name, status, reason, time.monotonic() - started,
                  None if status == "passed" else log_path)


def start_server(area=201):
    """One private binlog-enabled mariadbd for standalone runs (caller destroys it)."""
    from tests.conftest import BINLOG_OPTIONS
    from tests.support.net import free_loopback
    from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer
    server = MariaDBServer(tempfile.mkdtemp(prefix="osc-scenarios-"),
                           bind_address=free_loopback(area), port=3306,
                           options=BINLOG_OPTIONS)
    server.initialize()
    server.start()
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="scenario folder names (default: all)")
    parser.add_argument("--reference", action="store_true",
                        help="offline SQL copy instead of the engine (checks the data)")
    parser.add_argument("--write-seconds", type=float, default=1.5,
                        help="with --reference: how long the EVENT writes first")
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--keep", metavar="DIR", help="keep every work dir under DIR")
    args = parser.parse_args(argv)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    scenarios = discover(args.names or None)
    server = start_server()
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    try:
        target = prepare_target(server)
        for scenario in scenarios:
            result = run_scenario(scenario, target, args.timeout,
                                  args.write_seconds if args.reference else None, args.keep)
            counts[result.status] += 1
            print(result.line() + ("  (log: %s)" % result.log_path
                                   if result.status == "failed" else ""), flush=True)
    finally:
        server.destroy()
    print("%d passed, %d failed%s" % (
        counts["passed"], counts["failed"],
        ", %d skipped" % counts["skipped"] if counts["skipped"] else ""))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
