"""The MariaDB 10.11 rules agree with a real mariadbd 10.11 (private, 127.202.*).

- every ``dynamic`` rule can be changed with SET GLOBAL, to each allowed value;
  every other rule is refused with "read only variable";
- min/max are the server's own, except the documented narrowing overrides;
- every rule written to an option file under its option name, with a value our
  validator produced, is accepted by mariadbd at start, and restart-only values
  are in effect afterwards.
"""

import os
import subprocess
import sys

import pymysql
import pytest

from trove_lite.configuration import rules as R
from trove_lite.exceptions import InvalidConfigurationValue
from trove_lite.guestagent.datastore.mariadb.server import ServerError

pytestmark = pytest.mark.slow

RULES = R.load_rules_file()
TOOLS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "tools")
sys.path.insert(0, TOOLS)
import gen_validation_rules as gen  # noqa: E402

sys.path.remove(TOOLS)

# "is a read only variable"; "running with the --max-user-connections=0 option so
# it cannot execute this statement" (restart-only while 0, see the generator)
RESTART_ONLY_ERRORS = (1238, 1290)


def server_variables(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT LOWER(VARIABLE_NAME), GLOBAL_VALUE, NUMERIC_MIN_VALUE, "
                    "NUMERIC_MAX_VALUE, READ_ONLY FROM information_schema.SYSTEM_VARIABLES "
                    "WHERE LOWER(VARIABLE_NAME) IN (%s)" % ",".join(["%s"] * len(RULES)),
                    list(RULES))
        return {row[0]: row[1:] for row in cur.fetchall()}


def set_global(cur, rule, value):
    # the literal comes from our own validator; identifiers from the rules file
    cur.execute("SET GLOBAL %s = %%s" % rule.name, (
        R.format_value(rule, value) if rule.type == "boolean" else value,))


def current_values(variables):
    """The server's global values, normalised by our validator (must all pass)."""
    return R.validate_values(RULES, {
        name: ("" if value[0] is None else value[0]) for name, value in variables.items()})


def test_dynamic_flags_and_ranges_are_true_to_the_server(mariadb_factory):
    server = mariadb_factory(area=202)
    conn = server.connect()
    variables = server_variables(conn)
    assert set(variables) == set(RULES)
    current = current_values(variables)
    wrong = []
    with conn.cursor() as cur:
        for name, rule in sorted(RULES.items()):
            try:
                set_global(cur, rule, current[name])
                refused = None
            except pymysql.MySQLError as exc:
                refused = exc
            if rule.dynamic and refused is not None:
                wrong.append("%s is dynamic in the rules, server says %s" % (name, refused))
            if not rule.dynamic and (refused is None or refused.args[0] not in RESTART_ONLY_ERRORS):
                wrong.append("%s is restart-only in the rules, server says %r"
                             % (name, refused))
    assert not wrong, "\n".join(wrong)

    for name, rule in RULES.items():
        if rule.type not in ("integer", "float"):
            continue
        kind = float if rule.type == "float" else int
        server_min, server_max = (kind(v) for v in variables[name][1:3])
        narrowed = gen.OVERRIDES.get(name, {})
        assert rule.min >= server_min and rule.max <= server_max, name
        if "min" not in narrowed:
            assert rule.min == server_min, name
        if "max" not in narrowed:
            assert rule.max == server_max, name
    conn.close()


def test_every_allowed_value_is_accepted_at_runtime(mariadb_factory):
    """Each enum/set value and both booleans of every dynamic rule: SET GLOBAL works."""
    server = mariadb_factory(area=202)
    conn = server.connect()
    current = current_values(server_variables(conn))
    refused = []
    with conn.cursor() as cur:
        for name, rule in sorted(RULES.items()):
            if not rule.dynamic:
                continue
            if rule.type == "boolean":
                candidates = [True, False]
            elif rule.allowed_values:
                candidates = list(rule.allowed_values)
            elif name == "time_zone":
                candidates = ["+01:00", "-12:59", "+13:00", "SYSTEM"]
            elif name == "init_connect":
                candidates = ["SET NAMES utf8mb4; SET @a = 1", ""]
            else:
                continue
            for value in candidates:
                value = R.validate_value(rule, value)
                try:
                    set_global(cur, rule, value)
                except pymysql.MySQLError as exc:
                    refused.append("%s = %r: %s" % (name, value, exc.args[-1]))
            set_global(cur, rule, current[name])
    conn.close()
    assert not refused, "\n".join(refused)


def changed_value(rule, value):
    """A valid value for a restart-only rule that differs from the current one."""
    if rule.type == "boolean":
        return not value
    if rule.allowed_values:
        return next(v for v in rule.allowed_values if v != value)
    if rule.type == "integer":
        # halving keeps sizes on the server's block boundaries (it rounds silently)
        changed = value // 2 if value // 2 >= rule.min else value * 2
        return changed if changed != value else value + 1
    raise AssertionError("no changed value for %s" % rule.name)


def option_line(rule, value):
    text = R.format_value(rule, value)
    if not text or " " in text:
        text = '"%s"' % text
    return "%s = %s" % (rule.option_name, text)


def test_all_rules_in_an_option_file_start_the_server(mariadb_factory):
    server = mariadb_factory(area=202)
    conn = server.connect()
    current = current_values(server_variables(conn))
    conn.close()
    wanted = dict(current)
    for name, rule in RULES.items():
        if not rule.dynamic and name not in ("open_files_limit", "performance_schema"):
            # open_files_limit is raised by the server to what it needs;
            # performance_schema ON would cost ~100 MB for nothing here
            wanted[name] = changed_value(rule, current[name])
    wanted = R.validate_values(RULES, wanted)
    lines = ["[mariadbd]"] + [option_line(RULES[n], v) for n, v in sorted(wanted.items())]
    server.write_conf_d("50-configuration-group.cnf", "\n".join(lines) + "\n")
    server.stop()
    server.start()  # raises with the error log if mariadbd refuses an option
    conn = server.connect()
    after = current_values(server_variables(conn))
    conn.close()
    differs = ["%s: wrote %r, server has %r" % (n, wanted[n], after[n])
               for n, rule in RULES.items()
               if not rule.dynamic and n in wanted and after[n] != wanted[n]
               and n not in ("open_files_limit",)]
    # the option-file placement values of MariaDBServer's own my.cnf win over ours
    differs = [d for d in differs if not d.startswith(tuple(server.options))]
    assert not differs, "\n".join(differs)


def test_charset_without_its_collation_stops_mariadbd(mariadb_factory):
    """Why a group must set character_set_server and collation_server together."""
    server = mariadb_factory(area=202)
    server.write_conf_d("10-template.cnf", "[mariadbd]\ncharacter_set_server = utf8mb4\n"
                                           "collation_server = utf8mb4_general_ci\n")
    server.write_conf_d("50-configuration-group.cnf",
                        "[mariadbd]\ncharacter_set_server = latin1\n")
    server.stop()
    with pytest.raises(ServerError):
        server.start(timeout=20)
    with pytest.raises(InvalidConfigurationValue):
        R.validate_values(RULES, {"character_set_server": "latin1"})


def test_committed_rules_are_what_the_generator_reads_from_mariadb_10_11():
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "gen_validation_rules.py"),
                           "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
