"""Password hashes per datastore: the only form in which account passwords travel.

The API hashes a user's password with the datastore's function; the bus, the
guest's files and the server's binlog then only ever see the hash.
"""

import secrets
import string

from trove_lite.datastores.mariadb.passwords import is_native_password_hash, native_password_hash
from trove_lite.datastores.mysql.passwords import caching_sha2_hash, is_caching_sha2_hash

_PASSWORD_ALPHABET = string.ascii_letters + string.digits
_HASHERS = {"mariadb": native_password_hash, "mysql": caching_sha2_hash}


def generate_password(length: int = 32) -> str:
    """A random password (letters and digits) for root when the user gives none."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def hash_for(manager: str | None, password: str) -> str:
    """The hash datastore ``manager`` creates accounts from (MariaDB's by default)."""
    return _HASHERS.get(manager or "mariadb", native_password_hash)(password)


def is_password_hash(value: object) -> bool:
    """A hash of either kind (the guest checks that it matches its own server)."""
    return is_native_password_hash(value) or is_caching_sha2_hash(value)


def plugin_of(password_hash: str) -> str:
    """The authentication plugin a hash belongs to; ValueError if it is neither."""
    if is_native_password_hash(password_hash):
        return "mysql_native_password"
    if is_caching_sha2_hash(password_hash):
        return "caching_sha2_password"
    raise ValueError("not a password hash")
