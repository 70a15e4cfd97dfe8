"""Databases, users, grants and root of one MariaDB server, through SQL only.

Every method first validates all of its input and reads what it needs
(decide), then writes (act): a refused name, a missing user or an existing
database raises before the first statement that changes anything. A batch
(create_databases, create_users, change_passwords) is checked as a whole
before its first write; a server failure in the middle of a batch can still
leave the earlier items done.

Writes are binlogged on purpose (no ``sql_log_bin=0``): they must reach
replicas.

Errors: ``InvalidName``/``BadRequest`` for input, ``NotFound`` for a missing
user/database/grant, ``Conflict`` for one that already exists. Unexpected
server errors propagate as ``pymysql.MySQLError``.

Timing: each call opens one connection (about 1 ms over the socket) and runs
a few statements; nothing here waits on anything else.
"""

import contextlib
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from pymysql.connections import Connection
from pymysql.cursors import Cursor

from trove_lite import datastores
from trove_lite.datastores import passwords
from trove_lite.datastores.base import Datastore
from trove_lite.datastores.mariadb import validation as v
from trove_lite.datastores.passwords import generate_password
from trove_lite.exceptions import BadRequest, Conflict, NotFound
from trove_lite.guestagent.datastore.mariadb import sql

# Accounts of the server and the agent; never listed, never managed as users.
INTERNAL_USERS = v.RESERVED_USERS | {""}
ROOT_HOST = "%"
T = TypeVar("T")


def paginate(items: Iterable[T], key: Callable[[T], Any], limit: Any = None,
             marker: Hashable | None = None) -> tuple[list[T], Any]:
    """One page of ``items`` ordered by ``key``: (page, next_marker).

    ``marker`` is the key of the last item of the previous page; the page
    starts after it. ``next_marker`` is None on the last page.
    """
    if limit is not None:
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            raise BadRequest(reason="limit must be a positive integer") from None
        if limit <= 0:
            raise BadRequest(reason="limit must be a positive integer")
    ordered = sorted(items, key=key)
    if marker is not None:
        ordered = [item for item in ordered if key(item) > marker]
    if limit is None or len(ordered) <= limit:
        return ordered, None
    page = ordered[:limit]
    return page, key(page[-1])


def is_system_database(name: str) -> bool:
    return name.lower() in v.RESERVED_DATABASES or name.lower().startswith("#mysql50#")


def user_key(user: Mapping[str, Any]) -> str:
    return "%s@%s" % (user["name"], user["host"])


def _charset_alias(name: str) -> str:
    # MariaDB 10.6+ reads "utf8" as "utf8mb3" (old_mode UTF8_IS_UTF8MB3)
    return re.sub(r"^utf8(?!mb)", "utf8mb3", name)


def _password_hash(spec: Mapping[str, Any], manager: str="mariadb") -> str:
    """The hash of a spec's ``password``, or its validated ``password_hash``."""
    if spec.get("password") is None and spec.get("password_hash") is not None:
        if not passwords.is_password_hash(spec["password_hash"]):
            raise BadRequest(reason="password_hash is not a password hash")
        return spec["password_hash"]
    return passwords.hash_for(manager, v.validate_password(spec.get("password")))


def _db_names(databases: Iterable[str | Mapping[str, Any]] | None) -> list[str]:
    return [v.validate_database_name(d["name"] if isinstance(d, dict) else d)
            for d in databases or []]


class MariaDBAdmin:
    """Administration of one server. ``connect()`` returns a pymysql connection
    with all privileges (root over the unix socket), autocommit on."""

    def __init__(self, connect: Callable[[], Connection],
                 datastore: Datastore | None = None) -> None:
        self._connect = connect
        self.datastore = datastore or datastores.get("mariadb")
        self._manager = self.datastore.name

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Cursor]:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.session_setup())
                yield cur
        finally:
            conn.close()

    # -- reads used by the decisions ------------------------------------------
    @staticmethod
    def _databases(cur: Cursor) -> dict[str, tuple]:
        cur.execute(sql.list_schemata())
        return {row[0]: row for row in cur.fetchall()}

    def _accounts(self, cur: Cursor) -> set[tuple[str, str]]:
        cur.execute(sql.list_accounts(has_roles_column=self._manager != "mysql"))
        return {(row[0], row[1]) for row in cur.fetchall()}

    @staticmethod
    def _access(cur: Cursor, name: str, host: str) -> list[str]:
        cur.execute(sql.show_grants(name, host))
        return sql.parse_grant_databases(cur.fetchall())

    @staticmethod
    def _check_charsets(cur: Cursor, specs: Sequence[Mapping[str, Any]]) -> None:
        wanted = [s for s in specs if s["character_set"] or s["collate"]]
        if not wanted:
            return
        cur.execute(sql.list_character_sets())
        charsets = {row[0] for row in cur.fetchall()}
        cur.execute(sql.list_collations())
        collations = {row[0]: row[1] for row in cur.fetchall()}
        for spec in wanted:
            charset = spec["character_set"] and _charset_alias(spec["character_set"])
            collate = spec["collate"] and _charset_alias(spec["collate"])
            if charset and charset not in charsets:
                raise BadRequest(reason="unknown character set %r" % spec["character_set"])
            if collate and collate not in collations:
                raise BadRequest(reason="unknown collation %r" % spec["collate"])
            if charset and collate and collations[collate] != charset:
                raise BadRequest(reason="collation %r does not belong to character set %r"
                                 % (spec["collate"], spec["character_set"]))

    def _require_user(self, cur: Cursor, name: str, host: str) -> None:
        if (name, host) not in self._accounts(cur):
            raise NotFound(kind="User", id="%s@%s" % (name, host))

    def _require_databases(self, cur: Cursor, names: Iterable[str]) -> None:
        existing = self._databases(cur)
        missing = [n for n in names if n not in existing]
        if missing:
            raise NotFound(kind="Database", id=", ".join(missing))

    # -- databases --------------------------------------------------------------
    def create_databases(self, databases: Iterable[Any]) -> list[str]:
        """Create ``[{name, character_set?, collate?}]``; Conflict if any exists."""
        specs = [v.validate_database_spec(d) for d in databases]
        names = [s["name"] for s in specs]
        if len(set(names)) != len(names):
            raise BadRequest(reason="a database is listed twice")
        with self._cursor() as cur:
            existing = [n for n in names if n in self._databases(cur)]
            if existing:
                raise Conflict(reason="database(s) already exist: %s" % ", ".join(existing))
            self._check_charsets(cur, specs)
            for spec in specs:
                cur.execute(sql.create_database(spec["name"], spec["character_set"],
                                                spec["collate"]))
        return names

    def list_databases(self, limit: Any = None,
                       marker: str | None = None) -> tuple[list[dict[str, Any]], Any]:
        """User databases as ([{name, character_set, collate}], next_marker)."""
        with self._cursor() as cur:
            rows = self._databases(cur).values()
        items = [{"name": r[0], "character_set": r[1], "collate": r[2]}
                 for r in rows if not is_system_database(r[0])]
        return paginate(items, key=lambda d: d["name"], limit=limit, marker=marker)

    def delete_database(self, name: str) -> None:
        name = v.validate_database_name(name)
        with self._cursor() as cur:
            self._require_databases(cur, [name])
            cur.execute(sql.drop_database(name))

    # -- users ------------------------------------------------------------------
    def create_users(self, users: Iterable[Any]) -> list[str]:
        """Create ``[{name, password (or password_hash), host?, databases?: [{name}]}]``
        with access to their databases. Conflict if any account exists, NotFound if a
        database is missing -- before anything is created."""
        specs = [v.validate_user_spec(u, self.datastore.user_name_max, allow_hash=True)
                 for u in users]
        keys = [(s["name"], s["host"]) for s in specs]
        if len(set(keys)) != len(keys):
            raise BadRequest(reason="a user is listed twice")
        with self._cursor() as cur:
            existing = [k for k in keys if k in self._accounts(cur)]
            if existing:
                raise Conflict(reason="user(s) already exist: %s" % ", ".join(
                    "%s@%s" % k for k in existing))
            self._require_databases(cur, sorted({d for s in specs for d in s["databases"]}))
            for spec in specs:
                cur.execute(sql.create_user(spec["name"], spec["host"], spec.get("password"),
                                            password_hash=spec.get("password_hash")))
                for database in spec["databases"]:
                    cur.execute(sql.grant_all_on_database(database, spec["name"],
                                                          spec["host"]))
        return ["%s@%s" % k for k in keys]

    def list_users(self, limit: Any = None,
                   marker: str | None = None) -> tuple[list[dict[str, Any]], Any]:
        """Users (not root, the agent or the server's own) as
        ([{name, host, databases: [{name}]}], next_marker); marker is ``name@host``."""
        with self._cursor() as cur:
            accounts = [a for a in self._accounts(cur)
                        if a[0].lower() not in INTERNAL_USERS and a[1] != "localhost"]
            users: list[dict[str, Any]] = [{"name": n, "host": h} for n, h in accounts]
            page, next_marker = paginate(
                users, key=user_key,
                limit=limit, marker=marker)
            for user in page:
                user["databases"] = [{"name": d}
                                     for d in self._access(cur, user["name"], user["host"])]
        return page, next_marker

    def get_user(self, name: str, host: str="%") -> dict[str, Any]:
        name, host = v.validate_user_name(name), v.validate_host(host)
        with self._cursor() as cur:
            self._require_user(cur, name, host)
            databases = self._access(cur, name, host)
        return {"name": name, "host": host, "databases": [{"name": d} for d in databases]}

    def update_user(self, name: str, host: str="%", new_name: str | None = None,
                    new_host: str | None = None, new_password: str | None = None,
                    new_password_hash: str | None = None) -> dict[str, str]:
        """Rename and/or move and/or re-password one user; grants move with it.
        The new password may come as its mysql_native_password hash instead."""
        name, host = v.validate_user_name(name), v.validate_host(host)
        target_name = v.validate_user_name(new_name) if new_name else name
        target_host = v.validate_host(new_host) if new_host else host
        if new_password is not None:
            new_password_hash = passwords.hash_for(self._manager,
                                                   v.validate_password(new_password))
        elif new_password_hash is not None and not passwords.is_password_hash(
                new_password_hash):
            raise BadRequest(reason="password_hash is not a password hash")
        renaming = (target_name, target_host) != (name, host)
        if not renaming and new_password_hash is None:
            raise BadRequest(reason="nothing to update: give a new name, host or password")
        with self._cursor() as cur:
            accounts = self._accounts(cur)
            if (name, host) not in accounts:
                raise NotFound(kind="User", id="%s@%s" % (name, host))
            if renaming and (target_name, target_host) in accounts:
                raise Conflict(reason="user %s@%s already exists" % (target_name, target_host))
            if renaming:
                cur.execute(sql.rename_user(name, host, target_name, target_host))
            if new_password_hash is not None:
                cur.execute(sql.set_password(target_name, target_host,
                                             password_hash=new_password_hash))
        return {"name": target_name, "host": target_host}

    def delete_user(self, name: str, host: str="%") -> None:
        name, host = v.validate_user_name(name), v.validate_host(host)
        with self._cursor() as cur:
            self._require_user(cur, name, host)
            cur.execute(sql.drop_user(name, host))

    def change_passwords(self, users: Iterable[Mapping[str, Any]]) -> None:
        """Set ``[{name, host?, password (or password_hash)}]``; NotFound if any is
        missing, before any change."""
        specs = [(v.validate_user_name(u.get("name")), v.validate_host(u.get("host")),
                  _password_hash(u, self._manager)) for u in users]
        with self._cursor() as cur:
            accounts = self._accounts(cur)
            missing = ["%s@%s" % (n, h) for n, h, _ in specs if (n, h) not in accounts]
            if missing:
                raise NotFound(kind="User", id=", ".join(missing))
            for name, host, password_hash in specs:
                cur.execute(sql.set_password(name, host, password_hash=password_hash))

    # -- access -------------------------------------------------------------------
    def grant_access(self, name: str, host: str,
                     databases: Iterable[str | Mapping[str, Any]]) -> None:
        """Grant ALL on each database (names or {name}) to the user."""
        name, host = v.validate_user_name(name), v.validate_host(host)
        names = _db_names(databases)
        with self._cursor() as cur:
            self._require_user(cur, name, host)
            self._require_databases(cur, names)
            for database in names:
                cur.execute(sql.grant_all_on_database(database, name, host))

    def revoke_access(self, name: str, host: str, database: str) -> None:
        """Revoke the user's access to one database; NotFound if it had none."""
        name, host = v.validate_user_name(name), v.validate_host(host)
        database = v.validate_database_name(database)
        with self._cursor() as cur:
            self._require_user(cur, name, host)
            if database not in self._access(cur, name, host):
                raise NotFound(kind="Access of %s@%s to database" % (name, host), id=database)
            cur.execute(sql.revoke_all_on_database(database, name, host))

    def list_access(self, name: str, host: str="%") -> list[dict[str, str]]:
        """[{name}] of the databases the user has database-level grants on."""
        return self.get_user(name, host)["databases"]

    # -- root -----------------------------------------------------------------------
    def enable_root(self, password: str | None = None,
                    password_hash: str | None = None) -> str | None:
        """Create or re-password ``root@'%'`` with all privileges; returns the password
        (a generated 32-character one when none is given), or None when the caller
        gave only its ``password_hash`` (and so keeps the password to itself)."""
        if password_hash is not None and password is None:
            password_hash = _password_hash({"password_hash": password_hash})
        else:
            password = v.validate_password(password) if password is not None \
                else generate_password()
            password_hash = passwords.hash_for(self._manager, password)
        with self._cursor() as cur:
            if ("root", ROOT_HOST) in self._accounts(cur):
                cur.execute(sql.set_password("root", ROOT_HOST, password_hash=password_hash))
            else:
                cur.execute(sql.create_user("root", ROOT_HOST, password_hash=password_hash))
            cur.execute(sql.grant_all_global("root", ROOT_HOST))
        return password

    def disable_root(self) -> bool:
        """Drop ``root@'%'`` (root over the local socket stays, for the agent).
        Returns False if root was not enabled."""
        with self._cursor() as cur:
            if ("root", ROOT_HOST) not in self._accounts(cur):
                return False
            cur.execute(sql.drop_user("root", ROOT_HOST))
        return True

    def is_root_enabled(self) -> bool:
        with self._cursor() as cur:
            return ("root", ROOT_HOST) in self._accounts(cur)
