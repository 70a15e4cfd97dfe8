"""Rules for names and values a user sends for a MariaDB (or MySQL) instance.

Pure functions, called twice: by the API (so a refused name never reaches a
guest) and by the guest again before it builds any SQL. Each raises
``InvalidName`` (or ``BadRequest``) and returns the normalised value.

Decisions:

* ASCII only. MariaDB accepts ``café`` as a name, but non-ASCII names depend on
  the connection character set end to end (client, API, URL quoting,
  filesystem encoding of the database directory); Trove refuses them for MySQL
  and so do we.
* Never allowed in database or user names: backtick, quotes, semicolon,
  backslash, slash, NUL and other control characters, leading/trailing
  spaces. The builders would quote them correctly; refusing them keeps names
  safe in shells, logs, file names and other tools.
* User names: at most 80 characters. MariaDB 10.11 allows 128 (measured:
  ``mysql.global_priv.User`` is CHAR(128) and CREATE USER refuses 129), but
  10.5 allows 80 and instances may run or be upgraded from 10.5.
* ``@`` is refused in user names: troveclient addresses a user as
  ``name@host`` and an ``@`` inside the name makes that ambiguous.
* Hosts: ``%``, IPv4/IPv6 literals and patterns (``10.0.%``, ``192.168.0.0/255.255.255.0``),
  or host names; at most 60 characters (10.11 allows 255, 10.5 60). The rendered config
  has ``skip-name-resolve``, so host *names* are accepted but only match clients by IP.
* Passwords: 1-128 printable ASCII characters, quotes and backslashes included
  (they are quoted, and tests prove it).
"""

import re
from typing import Any

from trove_lite.datastores import passwords
from trove_lite.exceptions import BadRequest, InvalidName

DATABASE_NAME_MAX = 64
USER_NAME_MAX = 80
HOST_MAX = 60
PASSWORD_MAX = 128

RESERVED_DATABASES = frozenset({
    "mysql", "information_schema", "performance_schema", "sys", "lost+found",
    "#mysql50#lost+found",
})
RESERVED_USERS = frozenset({
    "root", "os_admin", "mariadb.sys", "mysql", "public", "debian-sys-maint",
    # MySQL's own accounts
    "mysql.sys", "mysql.session", "mysql.infoschema",
})

_FORBIDDEN = set("`'\";\\/")
_HOST_RE = re.compile(r"^[A-Za-z0-9.%_:\-/]+$")
_CHARSET_RE = re.compile(r"^[a-z0-9_]{1,64}$")
_PARAM_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _check_text(kind: str, name: Any, max_len: int) -> None:
    if not isinstance(name, str):
        raise InvalidName(kind=kind, name=name, reason="must be a string")
    if not name:
        raise InvalidName(kind=kind, name=name, reason="must not be empty")
    if len(name) > max_len:
        raise InvalidName(kind=kind, name=name[:20] + "...",
                          reason="longer than %d characters" % max_len)
    if not name.isascii():
        raise InvalidName(kind=kind, name=name, reason="only ASCII characters are allowed")
    bad = sorted({ch for ch in name if ch in _FORBIDDEN or not ch.isprintable()})
    if bad:
        raise InvalidName(kind=kind, name=name,
                          reason="contains forbidden characters %s" % "".join(
                              ch if ch.isprintable() else repr(ch) for ch in bad))
    if name != name.strip():
        raise InvalidName(kind=kind, name=name,
                          reason="must not begin or end with spaces")


def validate_database_name(name: Any) -> str:
    """A database (schema) name a user may create, drop or be granted."""
    _check_text("Database", name, DATABASE_NAME_MAX)
    if name.lower() in RESERVED_DATABASES or name.lower().startswith("#mysql50#"):
        raise InvalidName(kind="Database", name=name, reason="the name is reserved")
    return name


def validate_user_name(name: Any, max_length: int = USER_NAME_MAX) -> str:
    """A user name a user may create, rename to, or manage (``root`` is refused)."""
    _check_text("User", name, max_length)
    if "@" in name:
        raise InvalidName(kind="User", name=name,
                          reason="must not contain '@' (users are addressed as name@host)")
    if name.lower() in RESERVED_USERS:
        raise InvalidName(kind="User", name=name, reason="the name is reserved")
    return name


def validate_host(host: Any) -> str:
    """A host pattern; ``None`` or empty means ``%`` (any host), as in Trove."""
    if host is None or host == "":
        return "%"
    if not isinstance(host, str) or len(host) > HOST_MAX or not _HOST_RE.match(host):
        raise InvalidName(kind="Host", name=host,
                          reason="use %%, an IP address or pattern, or a host name")
    if host.lower() == "localhost":
        # localhost accounts are reserved for the agent and cannot log in over TCP
        raise InvalidName(kind="Host", name=host, reason="localhost is reserved")
    return host


def validate_password(password: Any) -> str:
    if not isinstance(password, str) or not password:
        raise BadRequest(reason="a password must be a non-empty string")
    if len(password) > PASSWORD_MAX:
        raise BadRequest(reason="a password has at most %d characters" % PASSWORD_MAX)
    if not password.isascii() or not password.isprintable():
        raise BadRequest(reason="a password may only contain printable ASCII characters")
    return password


def validate_charset(character_set: Any, kind: str = "character set") -> str | None:
    """A character set or collation name (its existence is the server's call)."""
    if character_set is None or character_set == "":
        return None
    if not isinstance(character_set, str) or not _CHARSET_RE.match(character_set):
        raise BadRequest(reason="%s %r is not valid" % (kind, character_set))
    return character_set


def validate_parameter_name(name: Any) -> str:
    """A server variable name as used in configuration groups (``-`` becomes ``_``)."""
    norm = name.replace("-", "_").lower() if isinstance(name, str) else name
    if not isinstance(norm, str) or not _PARAM_RE.match(norm):
        raise InvalidName(kind="Configuration parameter", name=name,
                          reason="lower-case letters, digits and underscores only")
    return norm


def split_user_id(user_id: str) -> tuple[str, str]:
    """``name@host`` (as troveclient puts it in a URL, unquoted) -> (name, host).

    The host is after the last ``@``; no ``@`` (or a trailing one) means ``%``.
    """
    if "@" not in user_id or user_id.endswith("@"):
        return user_id.rstrip("@"), "%"
    name, host = user_id.rsplit("@", 1)
    return name, host


def validate_database_spec(spec: Any) -> dict:
    """``{name, character_set?, collate?}`` -> normalised dict."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise BadRequest(reason="a database must be an object with a name")
    return {"name": validate_database_name(spec.get("name")),
            "character_set": validate_charset(spec.get("character_set")),
            "collate": validate_charset(spec.get("collate"), "collation")}


def validate_user_spec(spec: Any, max_length: int = USER_NAME_MAX,
                       allow_hash: bool = False) -> dict:
    """``{name, password, host?, databases?: [{name}]}`` -> normalised dict.

    ``allow_hash``: the control plane's own requests may carry ``password_hash``
    (see :mod:`trove_lite.datastores.passwords`) instead of the password; users'
    input may not.
    """
    if not isinstance(spec, dict):
        raise BadRequest(reason="a user must be an object with name and password")
    databases = spec.get("databases") or []
    if not isinstance(databases, list):
        raise BadRequest(reason="databases must be a list")
    out = {"name": validate_user_name(spec.get("name"), max_length),
           "host": validate_host(spec.get("host")),
           "databases": [validate_database_spec(d)["name"] for d in databases]}
    if allow_hash and spec.get("password") is None and spec.get("password_hash"):
        if not passwords.is_password_hash(spec["password_hash"]):
            raise BadRequest(reason="password_hash is not a password hash this service makes")
        out["password_hash"] = spec["password_hash"]
    else:
        out["password"] = validate_password(spec.get("password"))
    return out

