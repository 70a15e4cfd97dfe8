"""Run a backup into a store, or restore a chain of backups into a datadir.

``run_backup`` streams ``mariadb-backup | compress | encrypt`` straight into a
storage driver and returns the facts the conductor records (size, checksum,
location, LSNs, binlog coordinates). ``run_restore`` downloads, verifies,
decrypts, decompresses and extracts each backup of a chain, prepares the full one
and applies the incrementals in order, and only then moves the result into the
target datadir: on any failure the target is left as it was (absent or empty).

The key is bytes/str handed to openssl through an inherited pipe (see
pipeline.py); what is stored with a backup is a salted PBKDF2-SHA256 check
value (50,000 rounds: no easier to guess against than the ciphertext itself,
which openssl derives with 10,000), so a wrong key is refused before anything is
downloaded.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trove_lite import exceptions
from trove_lite.drivers.storage import base as storage_base
from trove_lite.guestagent.backup import codecs
from trove_lite.guestagent.backup.pipeline import Pipeline, PipelineError, Stage, io_counter
from trove_lite.guestagent.backup.strategies import Strategy, get_strategy, parse_slave_info
from trove_lite.datastores.base import SYSTEM_BINARIES, Binaries

if TYPE_CHECKING:
    from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer

LOG = logging.getLogger(__name__)

CIPHER = "aes-256-cbc-pbkdf2"
ENCRYPT_ARGV = ("openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-salt", "-pass", "fd:{secret_fd}")
DECRYPT_ARGV = ("openssl", "enc", "-d", "-aes-256-cbc", "-pbkdf2", "-pass", "fd:{secret_fd}")
KEY_CHECK_ROUNDS = 50000
PROGRESS_INTERVAL = 0.5
# files a hot backup does not copy as such (the redo log is copied only from the
# backup's start LSN), left out of the size estimate
_NOT_COPIED = ("ib_logfile", "mysql-bin.", "relay-bin.", "mysqld.", "aria_log_control")

Key = str | bytes
ProgressCallback = Callable[[dict[str, Any]], None]


# -- keys -------------------------------------------------------------------------
def _key_bytes(key: Key | None) -> bytes:
    data = key.encode() if isinstance(key, str) else bytes(key or b"")
    if not data or b"\n" in data or b"\0" in data:
        raise exceptions.BackupError(reason="the encryption key must be non-empty and "
                                            "contain no newline or NUL")
    return data


def key_check_value(key: Key, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", _key_bytes(key), salt, KEY_CHECK_ROUNDS)
    return "pbkdf2_sha256$%d$%s$%s" % (KEY_CHECK_ROUNDS, salt.hex(), digest.hex())


def key_matches(key: Key, check_value: str) -> bool:
    try:
        _, rounds, salt, digest = check_value.split("$")
    except (AttributeError, ValueError):
        raise exceptions.RestoreError(reason="the backup's key check value is damaged")
    actual = hashlib.pbkdf2_hmac("sha256", _key_bytes(key), bytes.fromhex(salt), int(rounds))
    return hmac.compare_digest(actual.hex(), digest)


# -- backup -----------------------------------------------------------------------
def estimate_size(datadir: str) -> int:
    """Bytes a full backup of ``datadir`` will stream (data files, not logs)."""
    total = 0
    for root, _, files in os.walk(datadir):
        for name in files:
            if not name.startswith(_NOT_COPIED):
                try:
                    total += os.path.getsize(os.path.join(root, name))
                except OSError:
                    pass
    return total


class _Progress:
    """Reports what the backup tool read and streamed (from /proc), throttled.

    Percent is of the datadir's size, by the larger of bytes streamed and bytes
    the tool read: an incremental streams little but still scans every page
    (measured: full backup reads 312 MB for a 315 MB estimate, an incremental
    of it 323 MB while streaming 7 MB).
    """

    def __init__(self, callback: ProgressCallback | None, pipeline: Pipeline,
                 estimated_total: int) -> None:
        self.callback, self.pipeline = callback, pipeline
        self.estimated_total = estimated_total
        self.streamed = self.read = 0
        self._last = 0.0

    def sample(self) -> None:
        # the first filter's reads are exactly the tool's stream; with no filter,
        # the tool's own writes (plus a few log lines) are
        procs = self.pipeline.procs
        if not procs:
            return
        if len(procs) > 1:
            streamed = io_counter(procs[1].pid, "rchar")
        else:
            streamed = io_counter(procs[0].pid, "wchar")
        read = io_counter(procs[0].pid, "rchar")
        self.streamed = max(self.streamed, streamed or 0)
        self.read = max(self.read, read or 0)

    def __call__(self, stored_bytes: int, phase: str="SAVING", force: bool=False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        self.sample()
        if self.callback is None:
            return
        done = max(self.streamed, self.read)
        total = max(self.estimated_total, 1)
        percent = 100.0 if phase == "COMPLETED" else min(99.0, 100.0 * done / total)
        self.callback({"phase": phase, "bytes_streamed": self.streamed,
                       "bytes_read": self.read, "bytes_stored": stored_bytes,
                       "estimated_total": self.estimated_total,
                       "percent": round(percent, 1)})


class _BackupOutput:
    """The pipeline's output for the store; at EOF it checks every stage and
    completes the metadata, so a failed tool never yields a complete object."""

    def __init__(self, pipeline: Pipeline, progress: _Progress,
                 on_eof: Callable[[], None]) -> None:
        self.pipeline, self.progress, self.on_eof = pipeline, progress, on_eof
        self.eof = False

    def read(self, n: int = storage_base.CHUNK) -> bytes:
        if self.eof:
            return b""
        data = self.pipeline.read(n)
        if not data:
            self.eof = True
            self.progress.sample()
            self.pipeline.wait()
            self.pipeline.raise_for_failure()
            self.on_eof()
        return data


def plan_backup(backup_id: str, parent: Mapping[str, Any] | None, key: Key | None,
                codec: str, strategy: str, container: str) -> tuple[str, dict[str, Any]]:
    """Decide where a backup goes and what is stored with it (no side effects
    beyond a random salt): returns (location hint, initial metadata)."""
    codec_obj = codecs.get_codec(codec)
    if parent is not None and "to_lsn" not in (parent.get("lsn") or {}):
        raise exceptions.BackupError(reason="parent backup %s has no LSN metadata"
                                            % parent.get("id"))
    hint = "%s/%s.xbstream%s%s" % (container, backup_id, codec_obj.suffix,
                                   ".enc" if key else "")
    metadata: dict[str, Any] = {
        "backup_id": backup_id, "strategy": strategy, "codec": codec_obj.name,
        "format": "xbstream", "encrypted": bool(key),
        "type": "incremental" if parent else "full",
        "parent_id": parent["id"] if parent else None,
        "parent_location": parent["location"] if parent else None}
    if key:
        metadata.update(cipher=CIPHER, key_check=key_check_value(key))
    return hint, metadata


def _backup_stages(strat: Strategy, codec_name: str, key: Key | None, server: MariaDBServer,
                   lsn_dir: str, basedir: str | None, user: str, password: str | None,
                   extra_args: Sequence[str] = ()) -> list[Stage]:
    codec_obj = codecs.get_codec(codec_name)
    stages = [strat.backup_stage(server.config_file, lsn_dir, basedir, user, password,
                                 extra_args)]
    if codec_obj.compress:
        stages.append(Stage("compress (%s)" % codec_obj.name, codec_obj.compress))
    if key:
        stages.append(Stage("encrypt", ENCRYPT_ARGV, secret=_key_bytes(key)))
    return stages


def run_backup(server: MariaDBServer, storage: storage_base.StorageDriver, backup_id: str,
               parent: Mapping[str, Any] | None = None, key: Key | None = None,
               codec: str = codecs.DEFAULT_CODEC, progress_cb: ProgressCallback | None = None,
               strategy: str="mariabackup", container: str="database_backups",
               user: str="root", password: str | None = None,
               backup_args: Sequence[str] = (),
               extra_meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Back up the running ``server`` (a MariaDBServer) into ``storage``.

    ``parent`` is the result dict of the previous backup of the chain (None for
    a full backup). ``progress_cb(dict)`` gets phase (BUILDING, SAVING,
    COMPLETED), bytes_streamed, bytes_read (by the tool), bytes_stored,
    estimated_total (datadir size) and percent, from the streaming thread, at
    most every PROGRESS_INTERVAL (0.5 s); percent stays below 100 until COMPLETED.
    Returns a dict with id, location, size, checksum, type, parent_id, lsn,
    binlog, metadata (what is stored with the object; a restore needs
    ``location`` and ``metadata``), raw_size, duration_s. Raises BackupError with
    the failing stage's reason; partial data is removed when the store is
    reachable (else ``cleanup_partial(location)`` later: the location is in the
    error's kwargs). ``backup_args``: more options of the tool (a replica's
    ``REPLICA_BACKUP_ARGS``: the source coordinates it prints are kept as
    ``slave_info``); ``extra_meta``: more facts stored with the backup.
    """
    strat = get_strategy(strategy, server.binaries)
    hint, metadata = plan_backup(backup_id, parent, key, codec, strat.name, container)
    location = storage.location_for(hint)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trove-lite-backup-") as work:
        lsn_dir = os.path.join(work, "lsn")
        basedir: str | None = None
        os.makedirs(lsn_dir)
        if parent:
            basedir = os.path.join(work, "parent")
            strat.write_basedir(parent["lsn"], basedir)
        stages = _backup_stages(strat, codec, key, server, lsn_dir, basedir, user, password,
                                tuple(backup_args))
        pipeline = Pipeline(stages)
        progress = _Progress(progress_cb, pipeline, estimate_size(server.datadir))
        progress(0, phase="BUILDING", force=True)

        def on_eof() -> None:
            metadata.update(strat.read_lsn_dir(lsn_dir), raw_size=progress.streamed)
            metadata.update(extra_meta or {})
            if "--slave-info" in backup_args:
                metadata["slave_info"] = parse_slave_info(pipeline.stderr_tail(0, 40))

        try:
            pipeline.start()
            LOG.info("backup %s: streaming to %s (%s)", backup_id, location,
                     " | ".join(s.name for s in stages))
            stored = storage.save(hint, _BackupOutput(pipeline, progress, on_eof),
                                  metadata, progress=progress)
        except (PipelineError, storage_base.StorageError, OSError) as exc:
            pipeline.kill()
            _cleanup(storage, location)
            raise exceptions.BackupError(reason="backup %s failed: %s" % (backup_id, exc),
                                         location=location) from exc
        except BaseException:
            pipeline.kill()
            _cleanup(storage, location)
            raise
    progress(stored.size, phase="COMPLETED", force=True)
    result = _result(stored, round(time.monotonic() - started, 3))
    LOG.info("backup %s: completed, %d bytes stored (%d streamed) in %.1f s",
             backup_id, result["size"], result["raw_size"], result["duration_s"])
    return result


def _result(stored: storage_base.StoredObject, duration: float) -> dict[str, Any]:
    meta = stored.metadata
    return {"id": meta["backup_id"], "location": stored.location, "size": stored.size,
            "checksum": stored.checksum,
            "checksum_algorithm": storage_base.CHECKSUM_ALGORITHM,
            "type": meta["type"], "parent_id": meta["parent_id"],
            "lsn": {k: meta[k] for k in ("backup_type", "from_lsn", "to_lsn", "last_lsn")},
            "binlog": {k: meta[k] for k in ("binlog_file", "binlog_position", "gtid")
                       if k in meta},
            "raw_size": meta["raw_size"], "metadata": dict(meta), "duration_s": duration}


def _cleanup(storage: storage_base.StorageDriver, location: str) -> None:
    try:
        storage.cleanup_partial(location)
    except Exception as exc:   # the store may be what failed; the caller retries later
        LOG.warning("could not remove partial backup data at %s: %s", location, exc)


# -- restore ----------------------------------------------------------------------
def check_chain(chain: Sequence[Mapping[str, Any]], key: Key | None) -> None:
    """Refuse a chain that cannot restore, before anything is downloaded.

    Decides only from the metadata: full first, each next one's parent is the
    previous one and starts at its LSN, one strategy, and the key opens them all.
    """
    if not chain:
        raise exceptions.RestoreError(reason="nothing to restore: the backup chain is empty")
    metas = [item["metadata"] for item in chain]
    if metas[0].get("type") != "full":
        raise exceptions.RestoreError(reason="the first backup of a chain must be a full "
                                             "backup, not %r" % metas[0].get("type"))
    for prev, item, meta in zip(chain, chain[1:], metas[1:]):
        if meta.get("type") != "incremental" or meta.get("parent_location") != prev["location"]:
            raise exceptions.RestoreError(reason="backup %s is not an incremental of %s" % (
                meta.get("backup_id"), prev["metadata"].get("backup_id")))
        if meta.get("from_lsn") != prev["metadata"].get("to_lsn"):
            raise exceptions.RestoreError(reason="backup %s starts at LSN %s but its parent "
                                                 "ends at %s" % (meta.get("backup_id"),
                                                                 meta.get("from_lsn"),
                                                                 prev["metadata"].get("to_lsn")))
    if len({m.get("strategy") for m in metas}) != 1:
        raise exceptions.RestoreError(reason="the chain mixes backup strategies")
    for meta in metas:
        if meta.get("encrypted"):
            if not key:
                raise exceptions.RestoreError(reason="backup %s is encrypted and no key was "
                                                     "given" % meta.get("backup_id"))
            if not key_matches(key, meta["key_check"]):
                raise exceptions.RestoreError(reason="the key does not open backup %s "
                                                     "(wrong encryption key)"
                                                     % meta.get("backup_id"))


def _restore_stages(meta: Mapping[str, Any], key: Key | None, strat: Strategy,
                    target: str) -> list[Stage]:
    stages = []
    if meta.get("encrypted"):
        stages.append(Stage("decrypt", DECRYPT_ARGV, secret=_key_bytes(key)))
    codec_obj = codecs.get_codec(meta.get("codec", "none"))
    if codec_obj.decompress:
        stages.append(Stage("decompress (%s)" % codec_obj.name, codec_obj.decompress))
    stages.append(strat.extract_stage(target))
    return stages


def _extract_one(storage: storage_base.StorageDriver, item: Mapping[str, Any],
                 key: Key | None, strat: Strategy, target: str,
                 progress: Callable[[Mapping[str, Any], int], None]) -> None:
    """Stream one stored backup into ``target`` (extracted, not prepared)."""
    os.makedirs(target)
    meta = item["metadata"]
    pipeline = Pipeline(_restore_stages(meta, key, strat, target), feed=True, collect=False)
    reader: storage_base.VerifyingReader | None = None
    try:
        reader = storage.load(item["location"])
        pipeline.start()
        try:
            while True:
                data = reader.read(storage_base.CHUNK)
                if not data:
                    break
                pipeline.write(data)
                progress(item, reader.size)
        except BrokenPipeError:
            pass     # a stage stopped reading; failure() says which and why
        pipeline.wait()
        found = pipeline.failure()
        if found:
            # a corrupted download makes the filters fail before EOF; reading the
            # rest tells corruption (ChecksumMismatch) from any other cause
            reader.drain()
            raise PipelineError(*found)
    except storage_base.ChecksumMismatch as exc:
        raise exceptions.RestoreError(reason="backup %s: %s" % (
            meta.get("backup_id"), exc.message)) from exc
    except (PipelineError, storage_base.StorageError, OSError) as exc:
        raise exceptions.RestoreError(reason="restoring backup %s failed: %s" % (
            meta.get("backup_id"), exc)) from exc
    finally:
        pipeline.kill()
        if reader is not None:
            reader.close()


def run_restore(chain: Sequence[Mapping[str, Any]], storage: storage_base.StorageDriver,
                key: Key | None, target_datadir: str, binaries: Binaries = SYSTEM_BINARIES,
                progress_cb: ProgressCallback | None = None) -> dict[str, Any]:
    """Restore ``chain`` (full first, then its incrementals in order; each a dict
    with ``location`` and ``metadata`` as returned by run_backup) into
    ``target_datadir``, which must be absent or empty.

    Work happens in ``<target_datadir>/.trove-restore`` (same filesystem, so the
    final move is a rename even when the datadir is a mount point). On success the
    datadir is prepared and ready for mariadbd; returns {datadir, restored (ids),
    lsn, binlog, duration_s}. On failure it raises RestoreError and leaves the
    target as it found it. ``progress_cb(dict)`` gets backup_id, index, count,
    bytes_read and total (stored size) while downloading.
    """
    started = time.monotonic()
    check_chain(chain, key)
    strat = get_strategy(chain[0]["metadata"]["strategy"], binaries)
    target = os.path.abspath(target_datadir)
    created = not os.path.exists(target)
    if not created and os.listdir(target):
        raise exceptions.RestoreError(reason="target datadir %s is not empty" % target)
    os.makedirs(target, exist_ok=True)
    staging = os.path.join(target, ".trove-restore")
    last = {"t": 0.0}

    def progress(item: Mapping[str, Any], done: int) -> None:
        now = time.monotonic()
        if progress_cb and now - last["t"] >= PROGRESS_INTERVAL:
            last["t"] = now
            progress_cb({"backup_id": item["metadata"].get("backup_id"),
                         "index": chain.index(item), "count": len(chain),
                         "bytes_read": done, "total": item.get("size")})
    try:
        base = os.path.join(staging, "0")
        _extract_one(storage, chain[0], key, strat, base, progress)
        strat.prepare(base, last=len(chain) == 1)
        for i, item in enumerate(chain[1:], 1):
            inc = os.path.join(staging, str(i))
            _extract_one(storage, item, key, strat, inc, progress)
            strat.prepare(base, incremental_dir=inc, last=i == len(chain) - 1)
            shutil.rmtree(inc)
        for name in os.listdir(base):
            os.rename(os.path.join(base, name), os.path.join(target, name))
        shutil.rmtree(staging)
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for name in os.listdir(target):
                path = os.path.join(target, name)
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
        raise
    result = {"datadir": target,
              "restored": [item["metadata"].get("backup_id") for item in chain],
              "lsn": chain[-1]["metadata"].get("to_lsn"),
              "binlog": strat.restored_binlog_info(target),
              "duration_s": round(time.monotonic() - started, 3)}
    LOG.info("restore of %s into %s completed in %.1f s", result["restored"], target,
             result["duration_s"])
    return result
