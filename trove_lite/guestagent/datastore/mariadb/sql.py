"""Pure builders for every SQL statement the guest sends to its MariaDB.

Nothing here touches a database: each function returns a string (or parses
one), so the whole file is tested without a server. Identifiers are quoted by
:func:`quote_identifier` and nothing else; string literals by
:func:`quote_string`.

Assumptions the callers must keep:

* The session does not have ``NO_BACKSLASH_ESCAPES`` in ``sql_mode``
  (:func:`session_setup` returns the statement that guarantees it), because
  :func:`quote_string` escapes backslashes.
* Names were validated first (``validation.py``); the builders stay correct for
  any name (they quote), but refuse NUL, which no quoting can carry.
* In GRANT/REVOKE, ``_`` and ``%`` in a database name are wildcards to the
  server. :func:`grant_db_pattern` escapes them so a grant on ``a_b`` never
  covers ``axb``; :func:`parse_grant_databases` undoes it.
"""

import decimal
import re
from collections.abc import Iterable, Sequence
from typing import Any

from trove_lite.datastores import passwords
from trove_lite.datastores.mariadb.passwords import (  # noqa: F401 (re-exported)
    is_native_password_hash, native_password_hash)

# Backslash escapes understood by MariaDB in string literals (default sql_mode).
_STRING_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\0": "\\0",
    "\n": "\\n",
    "\r": "\\r",
    "\x1a": "\\Z",
}

# Character set and collation names are plain words; they are emitted bare.
_CHARSET_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def quote_identifier(name: Any) -> str:
    """THE identifier quoting function: backticks around, inner backticks doubled."""
    name = str(name)
    if "\0" in name:
        raise ValueError("identifier contains NUL")
    return "`" + name.replace("`", "``") + "`"


def quote_string(value: Any) -> str:
    """A single-quoted string literal (backslash style, see module docstring)."""
    return "'" + "".join(_STRING_ESCAPES.get(ch, ch) for ch in str(value)) + "'"


def account(name: str, host: str="%") -> str:
    """``'name'@'host'`` as used by CREATE/ALTER/DROP USER, GRANT and SHOW GRANTS."""
    return "%s@%s" % (quote_string(name), quote_string(host))


def session_setup() -> str:
    """Statement making :func:`quote_string` literals mean what they say."""
    return "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')"


def _charset_word(kind: str, word: str) -> str:
    if not _CHARSET_RE.match(word or ""):
        raise ValueError("invalid %s %r" % (kind, word))
    return word


# -- databases ----------------------------------------------------------------
def create_database(name: str, character_set: str | None = None,
                    collate: str | None = None) -> str:
    sql = "CREATE DATABASE %s" % quote_identifier(name)
    if character_set:
        sql += " CHARACTER SET %s" % _charset_word("character set", character_set)
    if collate:
        sql += " COLLATE %s" % _charset_word("collation", collate)
    return sql


def drop_database(name: str) -> str:
    return "DROP DATABASE %s" % quote_identifier(name)


def list_schemata() -> str:
    """Rows (name, character set, collation) of every schema; callers filter."""
    return ("SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
            "FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")


# -- users --------------------------------------------------------------------
# Account statements carry the password's hash (mysql_native_password for MariaDB,
# caching_sha2_password for MySQL), never the password:
# the server writes them to the binary log as sent, and from there they reach
# every replica, backup and binlog archive. (PASSWORD('pw') in the statement would
# be logged in clear too.)
def _identified(password: str | None, password_hash: str | None) -> str:
    if password_hash is None:
        password_hash = native_password_hash(password or "")
    try:
        plugin = passwords.plugin_of(password_hash)
    except ValueError:
        raise ValueError("not a mysql_native_password or caching_sha2_password hash") from None
    if plugin == "caching_sha2_password":   # MySQL: the hash is what the server stores
        return "IDENTIFIED WITH caching_sha2_password AS %s" % quote_string(password_hash)
    return "IDENTIFIED BY PASSWORD %s" % quote_string(password_hash)


def create_user(name: str, host: str, password: str | None = None,
                password_hash: str | None = None, if_not_exists: bool=False) -> str:
    """``CREATE USER``; give the password or its :func:`native_password_hash`."""
    return "CREATE USER %s%s %s" % ("IF NOT EXISTS " if if_not_exists else "",
                                    account(name, host), _identified(password, password_hash))


def set_password(name: str, host: str, password: str | None = None,
                 password_hash: str | None = None) -> str:
    return "ALTER USER %s %s" % (account(name, host), _identified(password, password_hash))


def rename_user(name: str, host: str, new_name: str, new_host: str) -> str:
    return "RENAME USER %s TO %s" % (account(name, host), account(new_name, new_host))


def drop_user(name: str, host: str) -> str:
    return "DROP USER %s" % account(name, host)


def list_accounts(has_roles_column: bool = True) -> str:
    """Rows (user, host) of every account that is not a role (MySQL's mysql.user has
    no ``is_role``: its roles are locked accounts, which are left out instead)."""
    if not has_roles_column:
        return ("SELECT User, Host FROM mysql.user WHERE account_locked = 'N' "
                "ORDER BY User, Host")
    return "SELECT User, Host FROM mysql.user WHERE is_role = 'N' ORDER BY User, Host"


def user_exists(name: str, host: str) -> str:
    return ("SELECT COUNT(*) FROM mysql.user WHERE User = %s AND Host = %s"
            % (quote_string(name), quote_string(host)))


# -- privileges ---------------------------------------------------------------
def grant_db_pattern(database: str) -> str:
    """``db`` quoted for the ``ON db.*`` clause, with ``_``/``%`` wildcards escaped."""
    return quote_identifier(re.sub(r"([_%\\])", r"\\\1", database))


def grant_all_on_database(database: str, name: str, host: str) -> str:
    return "GRANT ALL PRIVILEGES ON %s.* TO %s" % (grant_db_pattern(database),
                                                  account(name, host))


def revoke_all_on_database(database: str, name: str, host: str) -> str:
    return "REVOKE ALL PRIVILEGES ON %s.* FROM %s" % (grant_db_pattern(database),
                                                     account(name, host))


def grant_all_global(name: str, host: str, with_grant_option: bool=True) -> str:
    sql = "GRANT ALL PRIVILEGES ON *.* TO %s" % account(name, host)
    return sql + (" WITH GRANT OPTION" if with_grant_option else "")


def show_grants(name: str, host: str) -> str:
    return "SHOW GRANTS FOR %s" % account(name, host)


# ``GRANT <privs> ON `db`.* TO ...`` -- database-level grants only; global
# (``*.*``), table and routine grants do not make a database "accessible".
_GRANT_DB_RE = re.compile(r"^GRANT\s+.+?\s+ON\s+`((?:[^`]|``)+)`\.\*\s+TO\s")


def parse_grant_databases(lines: Iterable[str | Sequence[str]]) -> list[str]:
    """Database names a user holds database-level grants on, from SHOW GRANTS lines.

    Lines may be strings or 1-tuples (cursor rows). Wildcard escapes
    (``\\_``, ``\\%``) are removed; the result is sorted and unique.
    """
    found = set()
    for line in lines:
        text = line if isinstance(line, str) else line[0]
        match = _GRANT_DB_RE.match(text)
        if match:
            raw = match.group(1).replace("``", "`")
            found.add(re.sub(r"\\(.)", r"\1", raw))
    return sorted(found)


# -- server variables ---------------------------------------------------------
def sql_literal(value: Any) -> str:
    """A configuration value as SQL: ON/OFF for bools, numbers bare, else a string."""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if value is None:
        return "DEFAULT"
    return quote_string(value)


def set_global(name: str, value: Any) -> str:
    """``SET GLOBAL `name` = literal``; ``None`` means the compiled-in DEFAULT."""
    return "SET GLOBAL %s = %s" % (quote_identifier(name), sql_literal(value))


def select_global(name: str) -> str:
    return "SELECT @@GLOBAL.%s" % quote_identifier(name)


def list_character_sets() -> str:
    return "SELECT CHARACTER_SET_NAME FROM information_schema.CHARACTER_SETS"


def list_collations() -> str:
    """Rows (collation, character set)."""
    return "SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS"
