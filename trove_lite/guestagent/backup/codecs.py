"""Compression codecs for backup streams, as external filter commands.

Measured on this 2-core machine with ``benchmarks/backup.py --compare-codecs``
(303 MB xbstream of 197 MB of sysbench tables; the whole raw chain
``mariadb-backup --stream | codec | openssl enc -aes-256-cbc -pbkdf2 > file`` and
back ``openssl -d | codec -d | mbstream -x`` + prepare; best of 2, MB/s of
xbstream; ratio = stored / xbstream bytes):

    codec                 backup      restore     ratio
    zstd -1 -T0           256 MB/s    330 MB/s    0.276   <- default
    zstd -3 -T0           157 MB/s    413 MB/s    0.299
    zstd --fast=3 -T0     285 MB/s    371 MB/s    0.538
    lz4 -1                223 MB/s    193 MB/s    0.545
    pigz -1               111 MB/s    148 MB/s    0.316
    pigz -3                63 MB/s    139 MB/s    0.306
    pigz -6                42 MB/s    141 MB/s    0.300
    none (cat)            229 MB/s    357 MB/s    1.000

Codec alone on the page-cached stream: zstd -1 -T0 547 MB/s in (1770 MB/s
decompress), pigz -1 228 MB/s, lz4 -1 346 MB/s. zstd -1 is as fast as storing
uncompressed (the backup tool's reading is then the limit) at a quarter of the
size, and twice as fast as pigz -1 with a smaller output, so it is the default;
--fast levels buy a little speed for twice the bytes. ``gzip`` (pigz) stays for
stores that must be readable with gzip alone.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Codec:
    name: str
    compress: tuple      # argv: stdin -> stdout
    decompress: tuple    # argv: stdin -> stdout
    suffix: str


CODECS = {
    "zstd": Codec("zstd", ("zstd", "-1", "-T0", "-q", "-c"), ("zstd", "-d", "-q", "-c"),
                  ".zst"),
    "gzip": Codec("gzip", ("pigz", "-1", "-c"), ("pigz", "-d", "-c"), ".gz"),
    "lz4": Codec("lz4", ("lz4", "-1", "-q", "-c"), ("lz4", "-d", "-q", "-c"), ".lz4"),
    "none": Codec("none", (), (), ""),
}

DEFAULT_CODEC = "zstd"


def get_codec(name: str) -> Codec:
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError("unknown codec %r (known: %s)" % (name, ", ".join(sorted(CODECS))))
