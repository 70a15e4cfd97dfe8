"""Compression codecs for backup streams, as external filter commands.

Measured on this 2-core machine (benchmarks/backup.py, 372 MB xbstream of
sysbench tables, page-cached; MB/s of uncompressed input; ratio = out/in):

    codec                 compress   decompress   ratio   full chain*
    zstd -1 -T0 (2 thr)   547 MB/s   1770 MB/s    0.286   313 MB/s
    zstd -3 -T0           368 MB/s                0.307
    zstd --fast=3 -T0     840 MB/s                0.555
    lz4 -1                346 MB/s   1283 MB/s    0.563   168 MB/s
    pigz -1               228 MB/s    335 MB/s    0.326   136 MB/s
    pigz -3               114 MB/s                0.313
    gzip -1 (1 thread)    106 MB/s                0.325
    none                                          1.0     182 MB/s

    * mariadb-backup --stream | codec | openssl enc -aes-256-cbc -pbkdf2 > file

zstd -1 wins on every axis here: twice pigz -1's speed with a smaller output
(less for openssl to encrypt and for the store to carry), so it is the default.
``gzip`` (pigz) stays for stores that must be readable with gzip alone; ``lz4``
is listed because it was measured, but it loses to zstd in speed and size.
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


def get_codec(name):
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError("unknown codec %r (known: %s)" % (name, ", ".join(sorted(CODECS))))
