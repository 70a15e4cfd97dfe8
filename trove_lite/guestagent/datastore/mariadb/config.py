"""The instance's MariaDB configuration: the rendered template and configuration groups.

Files in ``server.conf_d`` (read in name order, later wins; the placement
options MariaDBServer writes into my.cnf come last and win over both):

    10-template.cnf              rendered from templates/mariadb/config.template
    50-configuration-group.cnf   the attached configuration group; removed on detach

A configuration group takes effect in two ways, both chosen by the caller,
which knows from the parameter table which values are dynamic:
:func:`write_overrides` persists all values (they survive restart and resize),
:func:`apply_dynamic` sets the dynamic ones at once with ``SET GLOBAL``. On
detach, :func:`remove_overrides` then :func:`restore_dynamic` put every dynamic
value back to what the remaining files say (the template's value, or the
compiled-in default), so "detach restores the defaults" holds without a restart.
"""

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2
import pymysql

from trove_lite.exceptions import InvalidConfigurationValue
from trove_lite.guestagent.datastore.mariadb import sql
from trove_lite.datastores.mariadb.validation import validate_parameter_name
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer

TEMPLATE_FILE = "10-template.cnf"
OVERRIDES_FILE = "50-configuration-group.cnf"

# Option file sections mariadbd reads (of those we could plausibly write).
_SERVER_SECTIONS = {"mysqld", "mariadbd", "server", "mariadb"}
_SIZE_RE = re.compile(r"^(\d+)([KMGT])$", re.IGNORECASE)
_MULTIPLIERS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def render_config(template_path: str, flavor: Mapping[str, Any], server_id: int) -> str:
    """Render the config template for ``flavor`` ({ram: MB, vcpus}) and ``server_id``.

    Raises BadRequest-family errors for a flavor without RAM or a bad server_id.
    """
    ram = int(flavor.get("ram") or 0)
    if ram <= 0:
        raise InvalidConfigurationValue(reason="flavor RAM must be a positive number of MB")
    server_id = int(server_id)
    if not 1 <= server_id <= 4294967295:
        raise InvalidConfigurationValue(reason="server_id must be in 1..4294967295")
    with open(template_path) as f:
        template = jinja2.Environment(undefined=jinja2.StrictUndefined,
                                      keep_trailing_newline=True).from_string(f.read())
    return template.render(flavor={"ram": ram, "vcpus": int(flavor.get("vcpus") or 1)},
                           server_id=server_id)


def write_template_config(server: MariaDBServer, text: str) -> None:
    server.write_conf_d(TEMPLATE_FILE, text)


# -- option file values ---------------------------------------------------------
def format_option_value(value: Any) -> str:
    """A configuration-group value as it is written in an option file.

    bool -> ON/OFF, numbers as digits, strings verbatim (double-quoted when they
    contain spaces or ``#``). Strings with quotes, backslashes or control
    characters are refused: option files would read them differently.
    """
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        raise InvalidConfigurationValue(reason="unsupported value %r" % (value,))
    if (not value.isascii() or not value.isprintable() or '"' in value or "\\" in value
            or "'" in value):
        raise InvalidConfigurationValue(
            reason="value %r has characters an option file cannot hold" % value)
    if value != value.strip() or " " in value or "#" in value or not value:
        return '"%s"' % value
    return value


def parse_option_value(text: str) -> str | int | float:
    """An option-file value as the typed value ``SET GLOBAL`` needs (``64M`` -> int)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    size = _SIZE_RE.match(text)
    if size:
        return int(size.group(1)) * _MULTIPLIERS[size.group(2).upper()]
    if re.match(r"^-?\d+$", text):
        return int(text)
    if re.match(r"^-?\d+\.\d+$", text):
        return float(text)
    return text


def write_overrides(server: MariaDBServer, values: Mapping[str, Any]) -> str | None:
    """Persist a configuration group's values; an empty group removes the file.

    Takes effect for restart-only values at the next start; returns the path
    written (or None when removed).
    """
    if not values:
        remove_overrides(server)
        return None
    lines = ["# Attached configuration group, written by the trove-lite guest agent.",
             "[%s]" % server.section]
    for name in sorted(values):
        lines.append("%s = %s" % (validate_parameter_name(name),
                                  format_option_value(values[name])))
    server.write_conf_d(OVERRIDES_FILE, "\n".join(lines) + "\n")
    return os.path.join(server.conf_d, OVERRIDES_FILE)


def remove_overrides(server: MariaDBServer) -> bool:
    """Delete the configuration-group file; True if there was one."""
    try:
        os.unlink(os.path.join(server.conf_d, OVERRIDES_FILE))
        return True
    except FileNotFoundError:
        return False


def read_overrides(server: MariaDBServer) -> dict[str, Any]:
    """The values in the configuration-group file (names normalised), {} if none."""
    path = os.path.join(server.conf_d, OVERRIDES_FILE)
    if not os.path.exists(path):
        return {}
    return _parse_option_file(path)


def file_values(server: MariaDBServer) -> dict[str, Any]:
    """Server options the config files set, as mariadbd would read them (last wins).

    Names are normalised (``-`` -> ``_``, ``loose_`` dropped); values typed by
    :func:`parse_option_value`.
    """
    values: dict[str, Any] = {}
    if os.path.isdir(server.conf_d):
        for name in sorted(os.listdir(server.conf_d)):
            if name.endswith(".cnf"):
                values.update(_parse_option_file(os.path.join(server.conf_d, name)))
    if os.path.exists(server.config_file):
        values.update(_parse_option_file(server.config_file))
    return values


def _parse_option_file(path: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    section = None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;!":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip().lower()
                continue
            if section not in _SERVER_SECTIONS:
                continue
            key, sep, value = line.partition("=")
            key = key.strip().replace("-", "_").lower()
            if key.startswith("loose_"):
                key = key[len("loose_"):]
            values[key] = parse_option_value(value) if sep else "ON"
    return values


# -- live values -----------------------------------------------------------------
def _live_value(value: Any) -> Any:
    if isinstance(value, str) and _SIZE_RE.match(value.strip()):
        return parse_option_value(value)
    return value


def apply_dynamic(conn: pymysql.connections.Connection,
                  values: Mapping[str, Any]) -> dict[str, Any]:
    """``SET GLOBAL`` each of ``values`` (all must be dynamic) -- all or nothing.

    The previous values are read first; if the server refuses one value, those
    already set are put back and InvalidConfigurationValue is raised. Returns
    {name: previous value}. ``None`` as a value means the compiled-in DEFAULT.
    """
    names = [validate_parameter_name(n) for n in values]
    typed = {validate_parameter_name(n): _live_value(v) for n, v in values.items()}
    previous: dict[str, Any] = {}
    with conn.cursor() as cur:
        cur.execute(sql.session_setup())
        for name in names:
            try:
                cur.execute(sql.select_global(name))
            except pymysql.MySQLError as exc:
                raise InvalidConfigurationValue(
                    reason="unknown parameter %s: %s" % (name, exc.args[-1])) from exc
            previous[name] = cur.fetchone()[0]
        done: list[str] = []
        for name in names:
            try:
                cur.execute(sql.set_global(name, typed[name]))
            except pymysql.MySQLError as exc:
                for old in reversed(done):
                    cur.execute(sql.set_global(old, previous[old]))
                raise InvalidConfigurationValue(
                    reason="%s = %r refused: %s" % (name, typed[name], exc.args[-1])) from exc
            done.append(name)
    return previous


def restore_dynamic(server: MariaDBServer, conn: pymysql.connections.Connection,
                    names: Iterable[str]) -> dict[str, Any]:
    """After :func:`remove_overrides`: set each dynamic ``names`` back to its file value.

    Names the remaining files do not set go back to the compiled-in default.
    """
    remaining = file_values(server)
    wanted: dict[str, Any] = {}
    for name in names:
        name = validate_parameter_name(name)
        wanted[name] = remaining[name] if name in remaining else compiled_default(name)
    return apply_dynamic(conn, wanted) if wanted else {}


# Dynamic variables (of the 10.11 rules) whose DEFAULT (and information_schema
# DEFAULT_VALUE) is the value given at start, not the compiled-in one, with their
# compiled-in defaults (``mariadbd --no-defaults --verbose --help``). Measured on
# 10.11 by starting with a non-default value of every dynamic string rule and
# running SET GLOBAL x = DEFAULT: only these four kept the start value.
_START_VALUE_DEFAULTS = {"time_zone": "SYSTEM", "default_storage_engine": "InnoDB",
                         "character_set_server": "latin1",
                         "collation_server": "latin1_swedish_ci"}


def compiled_default(name: str) -> str | None:
    """The compiled-in default of ``name`` for SET GLOBAL (None: the DEFAULT keyword).

    ``SET GLOBAL x = DEFAULT`` is the compiled-in value except for the few
    variables in _START_VALUE_DEFAULTS, where it would keep what a detached
    group's file set at the last start.
    """
    return _START_VALUE_DEFAULTS.get(name)
