"""Backup strategies: which tool streams, extracts and prepares a backup.

A strategy is chosen per datastore version by name (``get_strategy``).
``MariaBackupStrategy`` drives ``mariadb-backup``/``mbstream`` (MariaDB 10.x+);
``XtraBackupStrategy`` has the same interface and arguments with Percona's
``xtrabackup``/``xbstream`` (for MySQL), plus ``--apply-log-only`` on every
prepare but the last, which xtrabackup needs and mariadb-backup ignores.
Only MariaBackupStrategy is tested here: no xtrabackup build is installable.
``MysqldumpStrategy`` is MySQL's logical one (tests/functional/mysql).

Facts (10.11, this machine): prepare of a 200 MB backup takes ~0.2 s; LSNs come
from ``xtrabackup_checkpoints`` in ``--extra-lsndir``; binlog coordinates from
the ``binlog_pos`` line of ``xtrabackup_info`` there (``xtrabackup_binlog_info``
inside the stream holds the same).
"""

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from typing import Any

from trove_lite import exceptions
from trove_lite.datastores.base import SYSTEM_BINARIES, Binaries
from trove_lite.guestagent.backup.pipeline import Stage

_BINLOG_POS = re.compile(r"filename '([^']*)', position '(\d+)'"
                         r"(?:, GTID of the last change '([^']*)')?")
CHECKPOINT_KEYS = ("backup_type", "from_lsn", "to_lsn", "last_lsn")


class MariaBackupStrategy:
    name = "mariabackup"
    ok_marker = "completed OK!"
    # The tool's redo-log copier looks for new redo every this many ms (its default
    # is 1,000). A backup ends only once the copier has reached the last LSN, so
    # on a server that commits anything while it runs (our own heartbeat row does,
    # every second) the default adds up to a second to every backup and seed:
    # measured here, 50 MB under one commit a second took 2.07 s, 0.52 s at 10 ms.
    log_copy_interval_ms = 10

    def __init__(self, binaries: Binaries = SYSTEM_BINARIES, tool: str | None = None,
                 stream_tool: str | None = None) -> None:
        self.binaries = binaries
        self.tool = tool or binaries.backup_tool
        self.stream_tool = stream_tool or binaries.mbstream

    def backup_stage(self, defaults_file: str, lsn_dir: str,
                     incremental_basedir: str | None = None, user: str="root",
                     password: str | None = None, extra_args: Sequence[str] = ()) -> Stage:
        """The streaming backup process; ``password`` goes in the environment.
        ``extra_args``: more options (a replica's ``--slave-info``...)."""
        argv = [self.tool, "--defaults-file=%s" % defaults_file, "--backup",
                "--stream=xbstream", "--user=%s" % user,
                "--extra-lsndir=%s" % lsn_dir, "--target-dir=%s" % lsn_dir,
                "--log-copy-interval=%d" % self.log_copy_interval_ms, *extra_args]
        if incremental_basedir:
            argv.append("--incremental-basedir=%s" % incremental_basedir)
        env = self.binaries.env()
        if password:
            env["MYSQL_PWD"] = password
        return Stage(self.name, tuple(argv), env=env, ok_marker=self.ok_marker)

    def extract_stage(self, target_dir: str) -> Stage:
        return Stage("extract", (self.stream_tool, "-x", "-C", target_dir),
                     env=self.binaries.env())

    def prepare(self, target_dir: str, incremental_dir: str | None = None,
                last: bool=True) -> None:
        """Apply the redo log (and an incremental delta) in place; raises RestoreError."""
        argv = [self.tool, "--prepare", "--target-dir=%s" % target_dir]
        if incremental_dir:
            argv.append("--incremental-dir=%s" % incremental_dir)
        argv += self._prepare_extra(last)
        proc = subprocess.run(argv, env=self.binaries.env(), capture_output=True,
                              text=True, errors="replace")
        if proc.returncode != 0 or self.ok_marker not in proc.stderr:
            raise exceptions.RestoreError(reason="%s --prepare failed (exit %s): %s" % (
                os.path.basename(self.tool), proc.returncode,
                "".join(proc.stderr.splitlines(True)[-6:]).strip()))

    def _prepare_extra(self, last: bool) -> list[str]:
        return []

    # -- LSN metadata -----------------------------------------------------------
    @staticmethod
    def read_lsn_dir(lsn_dir: str) -> dict[str, Any]:
        """LSNs and binlog coordinates a finished backup left in ``lsn_dir``."""
        out: dict[str, Any] = {}
        with open(os.path.join(lsn_dir, "xtrabackup_checkpoints")) as f:
            for line in f:
                key, _, value = line.partition("=")
                key, value = key.strip(), value.strip()
                if key in CHECKPOINT_KEYS:
                    out[key] = value if key == "backup_type" else int(value)
        out.update(parse_binlog_info(_read(os.path.join(lsn_dir, "xtrabackup_info"))))
        return out

    @staticmethod
    def write_basedir(lsn: dict[str, Any], directory: str) -> None:
        """Recreate ``xtrabackup_checkpoints`` of a parent for --incremental-basedir."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "xtrabackup_checkpoints"), "w") as f:
            for key in CHECKPOINT_KEYS:
                f.write("%s = %s\n" % (key, lsn[key]))

    @staticmethod
    def restored_binlog_info(datadir: str) -> dict[str, Any]:
        """Binlog coordinates of a prepared backup (file ``xtrabackup_binlog_info``)."""
        text = _read(os.path.join(datadir, "xtrabackup_binlog_info")).split()
        if len(text) < 2:
            return {}
        info: dict[str, Any] = {"binlog_file": text[0], "binlog_position": int(text[1])}
        if len(text) > 2:
            info["gtid"] = text[2]
        return info


class XtraBackupStrategy(MariaBackupStrategy):
    name = "xtrabackup"

    def __init__(self, binaries: Binaries = SYSTEM_BINARIES, tool: str | None = None,
                 stream_tool: str | None = None) -> None:
        super().__init__(binaries, tool or shutil.which("xtrabackup") or "xtrabackup",
                         stream_tool or shutil.which("xbstream") or "xbstream")

    def _prepare_extra(self, last: bool) -> list[str]:
        return [] if last else ["--apply-log-only"]


class MysqldumpStrategy:
    """A logical, streamed backup of a MySQL server (no xtrabackup is installable).

    Backup: ``mysqldump --single-transaction --all-databases`` (routines, triggers,
    events, the mysql schema with its accounts, ``SET @@GLOBAL.GTID_PURGED``) into
    the same compress and encrypt stages as a hot backup. ``--verbose`` makes it
    end with a "Disconnecting" line on stderr: a dump cut short never counts.
    Restore: the stream is written to one file, then "prepare" loads it into a
    fresh datadir with a throw-away mysqld (``skip-networking``) and the mysql
    client, so the result is a datadir like a physical restore's. Full backups
    only: there is no LSN to start an incremental from.
    """

    name = "mysqldump"
    ok_marker = "-- Disconnecting from"
    DUMP_FILE = "backup.sql"
    # the throw-away loader: nobody connects, nothing of it needs to be durable
    # before its clean shutdown, and its binlog would only be thrown away
    LOAD_OPTIONS = {"skip-networking": None, "skip-log-bin": None,
                    "performance_schema": "OFF", "innodb_redo_log_capacity": "32M",
                    "innodb_flush_log_at_trx_commit": "0", "sync_binlog": "0"}

    def __init__(self, binaries: Binaries = SYSTEM_BINARIES) -> None:
        self.binaries = binaries

    def backup_stage(self, defaults_file: str, lsn_dir: str,
                     incremental_basedir: str | None = None, user: str = "root",
                     password: str | None = None, extra_args: Sequence[str] = ()) -> Stage:
        """``extra_args``: more mysqldump options, as MariaBackupStrategy's."""
        if incremental_basedir:
            raise exceptions.BackupError(reason="MySQL backups are logical (mysqldump): "
                                                "incremental backups are not supported")
        argv = [self.binaries.backup_tool, "--defaults-file=%s" % defaults_file,
                "--user=%s" % user, "--single-transaction", "--all-databases",
                "--routines", "--triggers", "--events", "--flush-privileges",
                "--hex-blob", "--set-gtid-purged=ON", "--verbose", *extra_args]
        env = self.binaries.env()
        if password:
            env["MYSQL_PWD"] = password
        return Stage(self.name, tuple(argv), env=env, ok_marker=self.ok_marker)

    def extract_stage(self, target_dir: str) -> Stage:
        return Stage("extract", ("dd", "of=%s" % os.path.join(target_dir, self.DUMP_FILE),
                                 "bs=1M", "status=none"))

    def prepare(self, target_dir: str, incremental_dir: str | None = None,
                last: bool = True) -> None:
        """Load the dump in ``target_dir`` into a new datadir there; RestoreError."""
        from trove_lite.guestagent.datastore.mysql.server import MySQLServer
        staging = os.path.dirname(os.path.abspath(target_dir))
        dump = os.path.join(staging, self.DUMP_FILE)
        os.rename(os.path.join(target_dir, self.DUMP_FILE), dump)
        # its socket path must stay short (108 bytes): not under the volume's mount
        server = MySQLServer(tempfile.mkdtemp(prefix="trove-lite-load-"),
                             binaries=self.binaries, datadir=target_dir,
                             options=self.LOAD_OPTIONS)
        try:
            server.initialize()
            server.start()
            with open(dump, "rb") as f:
                proc = subprocess.run([self.binaries.client or "mysql",
                                       "--defaults-file=%s" % server.config_file,
                                       "--binary-mode"], stdin=f, capture_output=True,
                                      env=self.binaries.env())
            if proc.returncode != 0:
                raise exceptions.RestoreError(reason="loading the dump failed: %s" % (
                    proc.stderr.decode(errors="replace")[-1500:].strip()))
            server.stop()
        except exceptions.RestoreError:
            raise
        except Exception as exc:
            raise exceptions.RestoreError(reason="loading the dump failed: %s" % exc) from exc
        finally:
            server.stop()
            shutil.rmtree(server.base_dir, ignore_errors=True)
            os.unlink(dump)

    @staticmethod
    def read_lsn_dir(lsn_dir: str) -> dict:
        """A logical dump has no LSNs (zeros keep the result's shape)."""
        return {"backup_type": "logical", "from_lsn": 0, "to_lsn": 0, "last_lsn": 0}

    @staticmethod
    def write_basedir(lsn: dict, directory: str) -> None:
        raise exceptions.BackupError(reason="MySQL backups are logical (mysqldump): "
                                            "incremental backups are not supported")

    @staticmethod
    def restored_binlog_info(datadir: str) -> dict:
        return {}


# the interface every strategy has (backup_stage, extract_stage, prepare, ...)
Strategy = MariaBackupStrategy | MysqldumpStrategy

STRATEGIES: dict[str, type[MariaBackupStrategy] | type[MysqldumpStrategy]] = {
    s.name: s for s in (MariaBackupStrategy, XtraBackupStrategy, MysqldumpStrategy)}


def get_strategy(name: str, binaries: Binaries = SYSTEM_BINARIES) -> Strategy:
    try:
        return STRATEGIES[name](binaries)
    except KeyError:
        raise ValueError("unknown backup strategy %r (known: %s)"
                         % (name, ", ".join(sorted(STRATEGIES))))


def parse_binlog_info(xtrabackup_info_text: str) -> dict[str, Any]:
    """{'binlog_file', 'binlog_position', 'gtid'} from xtrabackup_info, or {}."""
    for line in xtrabackup_info_text.splitlines():
        if line.startswith("binlog_pos"):
            m = _BINLOG_POS.search(line)
            if m:
                info: dict[str, Any] = {"binlog_file": m.group(1),
                                        "binlog_position": int(m.group(2))}
                if m.group(3):
                    info["gtid"] = m.group(3)
                return info
    return {}


_SLAVE_GTID = re.compile(r"slave binlog position:.*gtid_slave_pos '?([0-9,-]+)")
_SLAVE_FILE = re.compile(r"slave binlog position:.*filename '([^']*)',? position '(\d+)'")
REPLICA_BACKUP_ARGS = ("--slave-info", "--safe-slave-backup",
                       "--safe-slave-backup-timeout=60")


def parse_slave_info(stderr_text: str) -> dict[str, Any]:
    """The source coordinates ``--slave-info`` printed (it writes them into the
    stream's ``xtrabackup_slave_info`` and, the same, on stderr; 10.11:
    ``MySQL slave binlog position: master '' filename 'f' position '1108'``
    without GTID, ``... gtid_slave_pos '0-1-5'`` with): {'gtid'} when
    the replica uses GTID, else {'binlog_file', 'binlog_position'} of its source;
    {} if absent (pure)."""
    m = _SLAVE_GTID.search(stderr_text)
    if m:
        return {"gtid": m.group(1)}
    m = _SLAVE_FILE.search(stderr_text)
    if m:
        return {"binlog_file": m.group(1), "binlog_position": int(m.group(2))}
    return {}


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
