"""caching_sha2_password hashes, computed where the password is (the API).

MySQL 9 has no mysql_native_password any more; its default plugin,
caching_sha2_password, stores ``$A$<rounds/1000 as 3 hex digits>$<20-byte salt>
<43-character SHA-256 crypt digest>`` (70 characters), and ``CREATE USER ...
IDENTIFIED WITH caching_sha2_password AS '<that>'`` takes it as is. The digest
is Drepper's SHA-256 crypt with the whole 20-byte salt (glibc's caps salts at
16 bytes, so it cannot be used). A test checks a hash made here against one
the server made for the same password and salt.

The salt is drawn from the crypt alphabet only, so the stored string is
printable and never needs hex or escaping.
"""

import hashlib
import re
import secrets

PLUGIN = "caching_sha2_password"
# MySQL 9's default (caching_sha2_password_digest_rounds); 8.0's was 5000. The
# server reads the count from each stored hash, so either verifies anywhere.
ROUNDS = 10000
SALT_LENGTH = 20
_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HASH_RE = re.compile(r"^\$A\$[0-9A-F]{3}\$[^$\x00]{20}[./0-9A-Za-z]{43}$")
# the digest's bytes in the order SHA-256 crypt encodes them, three at a time
_ORDER = ((0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14), (15, 25, 5),
          (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29))


def _b64(b2: int, b1: int, b0: int, n: int) -> str:
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(_ALPHABET[w & 0x3F])
        w >>= 6
    return "".join(out)


def sha256_crypt_digest(password: bytes, salt: bytes, rounds: int = ROUNDS) -> str:
    """The 43-character digest of SHA-256 crypt (no salt length cap)."""
    b = hashlib.sha256(password + salt + password).digest()
    a = hashlib.sha256(password + salt)
    n = len(password)
    while n > 32:
        a.update(b)
        n -= 32
    a.update(b[:n])
    n = len(password)
    while n:
        a.update(b if n & 1 else password)
        n >>= 1
    c = a.digest()
    dp = hashlib.sha256(password * len(password)).digest()
    p = (dp * (len(password) // 32 + 1))[:len(password)]
    ds = hashlib.sha256(salt * (16 + c[0])).digest()
    s = (ds * (len(salt) // 32 + 1))[:len(salt)]
    for i in range(rounds):
        h = hashlib.sha256(p if i & 1 else c)
        if i % 3:
            h.update(s)
        if i % 7:
            h.update(p)
        h.update(c if i & 1 else p)
        c = h.digest()
    text = "".join(_b64(c[x], c[y], c[z], 4) for x, y, z in _ORDER)
    return text + _b64(0, c[31], c[30], 3)


def caching_sha2_hash(password: str, salt: str | None = None, rounds: int = ROUNDS) -> str:
    """The ``authentication_string`` of a caching_sha2_password account."""
    if salt is None:
        salt = "".join(secrets.choice(_ALPHABET) for _ in range(SALT_LENGTH))
    if len(salt) != SALT_LENGTH:
        raise ValueError("a caching_sha2_password salt has %d characters" % SALT_LENGTH)
    if rounds % 1000 or not 5000 <= rounds <= 0xFFF * 1000:
        raise ValueError("rounds must be a multiple of 1000 in 5000..4095000")
    digest = sha256_crypt_digest(str(password).encode("utf-8"), salt.encode("latin-1"),
                                 rounds)
    return "$A$%03X$%s%s" % (rounds // 1000, salt, digest)


def is_caching_sha2_hash(value: object) -> bool:
    return isinstance(value, str) and bool(_HASH_RE.match(value))
