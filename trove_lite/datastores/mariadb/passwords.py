"""mysql_native_password hashes: what MariaDB accounts are created from."""

import hashlib
import re

PLUGIN = "mysql_native_password"
_NATIVE_HASH_RE = re.compile(r"^\*[0-9A-F]{40}$")


def native_password_hash(password: str) -> str:
    """``'*' + HEX(SHA1(SHA1(password)))``: what ``PASSWORD()`` returns for
    mysql_native_password accounts."""
    inner = hashlib.sha1(str(password).encode("utf-8")).digest()
    return "*" + hashlib.sha1(inner).hexdigest().upper()


def is_native_password_hash(value: object) -> bool:
    return isinstance(value, str) and bool(_NATIVE_HASH_RE.match(value))
