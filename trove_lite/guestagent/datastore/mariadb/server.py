"""One mariadbd process with its own datadir, socket and loopback address.

This is the single place that knows how to lay out, initialise, start and stop a
MariaDB server on this machine. The guest agent uses it for the instance it runs;
tests and benchmarks use it for throw-away servers (with binlogs on, which the
machine's own MariaDB does not have).

Layout under ``base_dir``::

    my.cnf            placement options (datadir, socket, address) + !includedir conf.d
    conf.d/           rendered config template and overrides, read in name order
    data/             the datadir (unless ``datadir`` is given, e.g. on a volume)
    mysqld.sock, mysqld.pid, error.log

Timing on this machine: initialising from the cached template datadir takes
0.05-0.1 s (a sparse copy), ``mariadb-install-db`` 0.6-3 s (done once per binary tree);
start until a socket connection works 0.2-1 s; SIGTERM stop 0.1-2 s.
"""

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import pymysql

from trove_lite.datastores.base import (  # noqa: F401 (re-exported)
    SYSTEM_BINARIES, Binaries)

from trove_lite import exceptions


class ServerError(exceptions.TroveLiteError):
    """mariadbd could not be initialised, started or stopped."""

    code = "datastore_server_error"




def default_cache_dir() -> str:
    return os.environ.get("TROVE_LITE_CACHE_DIR",
                          os.path.join(os.path.expanduser("~"), ".cache", "trove-lite"))


class MariaDBServer:
    """Lay out, initialise, start and stop one mariadbd.

    ``options`` are extra ``[mariadbd]`` settings written after the conf.d files,
    so they win. The process runs detached in its own session so that it outlives
    the Python process that started it, like a database on a VM outlives its agent.
    """

    def __init__(self, base_dir: str, bind_address: str="127.0.0.1", port: int=3306,
                 binaries: Binaries = SYSTEM_BINARIES, datadir: str | None = None,
                 options: dict[str, Any] | None = None,
                 cache_dir: str | None = None) -> None:
        self.base_dir = os.path.abspath(base_dir)
        self.bind_address = bind_address
        self.port = port
        self.binaries = binaries
        self.datadir = os.path.abspath(datadir or os.path.join(self.base_dir, "data"))
        self.options = dict(options or {})
        self.cache_dir = cache_dir or default_cache_dir()

    # -- paths ---------------------------------------------------------------
    @property
    def config_file(self) -> str:
        return os.path.join(self.base_dir, "my.cnf")

    @property
    def conf_d(self) -> str:
        return os.path.join(self.base_dir, "conf.d")

    @property
    def socket(self) -> str:
        return os.path.join(self.base_dir, "mysqld.sock")

    @property
    def pid_file(self) -> str:
        return os.path.join(self.base_dir, "mysqld.pid")

    @property
    def tmp_dir(self) -> str:
        return os.path.join(self.base_dir, "tmp")

    @property
    def error_log(self) -> str:
        return os.path.join(self.base_dir, "error.log")

    # -- configuration --------------------------------------------------------
    # the option-file group the server reads (MySQLServer: "mysqld")
    section = "mariadbd"

    def _placement_lines(self) -> list[str]:
        """Options of my.cnf that place this server (before ``options``)."""
        lines = ["datadir = %s" % self.datadir,
                 "socket = %s" % self.socket,
                 "pid-file = %s" % self.pid_file,
                 "log-error = %s" % self.error_log,
                 # a private tmpdir: servers sharing /tmp can collide on
                 # temporary-table file names
                 "tmpdir = %s" % self.tmp_dir,
                 "bind-address = %s" % self.bind_address,
                 "port = %d" % self.port,
                 "user = root"]
        if self.binaries.basedir:
            lines.append("basedir = %s" % self.binaries.basedir)
        if self.binaries.lc_messages_dir:
            lines.append("lc-messages-dir = %s" % self.binaries.lc_messages_dir)
        return lines

    def write_config(self) -> None:
        os.makedirs(self.conf_d, exist_ok=True)
        os.makedirs(self.tmp_dir, exist_ok=True)
        lines = ["!includedir %s" % self.conf_d, "", "[%s]" % self.section]
        lines += self._placement_lines()
        for key, value in self.options.items():
            lines.append(key if value is None else "%s = %s" % (key, value))
        lines += ["", "[client]", "socket = %s" % self.socket, "user = root", ""]
        _atomic_write(self.config_file, "\n".join(lines))

    def write_conf_d(self, name: str, text: str) -> None:
        """Write one file in conf.d (e.g. ``10-template.cnf``); takes effect on restart."""
        os.makedirs(self.conf_d, exist_ok=True)
        _atomic_write(os.path.join(self.conf_d, name), text)

    # -- initialisation -------------------------------------------------------
    def initialize(self) -> None:
        """Create the datadir by copying a cached, freshly installed template."""
        if os.path.isdir(os.path.join(self.datadir, "mysql")):
            return
        template = self.template_datadir()
        os.makedirs(self.datadir, exist_ok=True)
        # sparse: the template's 32 MB redo log is mostly zeros; writing them into
        # a fresh volume was 80% of the copy time (0.43 s -> 0.08 s here)
        subprocess.run(["cp", "-a", "--sparse=always", template + "/.", self.datadir],
                       check=True)

    def template_datadir(self) -> str:
        """Return a pristine datadir for these binaries, building it once (locked)."""
        key = hashlib.sha1((self.binaries.mariadbd + self.binaries.version())
                           .encode()).hexdigest()[:12]
        root = os.path.join(self.cache_dir, "datadir-" + key)
        done = os.path.join(root, ".complete")
        if os.path.exists(done):
            return os.path.join(root, "data")
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(done):
                return os.path.join(root, "data")
            data = os.path.join(root, "data")
            shutil.rmtree(data, ignore_errors=True)
            os.makedirs(data)
            cnf = os.path.join(root, "install.cnf")
            _atomic_write(cnf, "[mariadbd]\ndatadir = %s\nuser = root\ntmpdir = %s\n"
                               "innodb_log_file_size = 32M\n%s%s" % (
                                   data, root,
                                   "basedir = %s\n" % self.binaries.basedir
                                   if self.binaries.basedir else "",
                                   "lc-messages-dir = %s\n" % self.binaries.lc_messages_dir
                                   if self.binaries.lc_messages_dir else ""))
            cmd = [self.binaries.install_db, "--defaults-file=%s" % cnf,
                   "--auth-root-authentication-method=socket", "--skip-test-db"]
            if self.binaries.basedir:
                cmd.append("--basedir=%s" % self.binaries.basedir)
            proc = subprocess.run(cmd, env=self.binaries.env(), capture_output=True,
                                  text=True)
            if proc.returncode != 0:
                raise ServerError("mariadb-install-db failed: %s" % proc.stderr[-2000:])
            open(done, "w").close()
        return data

    # -- process control ------------------------------------------------------
    def pid(self) -> int | None:
        """The PID of the running mariadbd, or None."""
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        # a recycled PID would not have our config on its command line
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if self.config_file.encode() not in f.read():
                    return None
        except OSError:
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 60, extra_args: Sequence[str] = ()) -> None:
        """Start mariadbd detached and wait until a socket connection works."""
        if self.is_running():
            return
        self.write_config()
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass
        log = open(os.path.join(self.base_dir, "mariadbd.stdout"), "ab")
        # master.info keeps the replication password in clear (MariaDB's design):
        # every file the server creates is 0600, its datadir 0700
        env = dict(self.binaries.env(), UMASK="0600", UMASK_DIR="0700")
        if os.path.isdir(self.datadir):
            os.chmod(self.datadir, 0o700)
        proc = subprocess.Popen(
            [self.binaries.mariadbd, "--defaults-file=%s" % self.config_file,
             *extra_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env=env, start_new_session=True, close_fds=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServerError("mariadbd exited with %s: %s" % (
                    proc.returncode, self.tail_error_log()))
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.05)
        raise ServerError("mariadbd did not accept connections within %ss: %s" % (
            timeout, self.tail_error_log()))

    def stop(self, timeout: float = 60) -> bool:
        """SIGTERM, wait for exit; SIGKILL after ``timeout``. Returns True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
        return True

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.02)

    def restart(self, timeout: float = 60) -> None:
        self.stop(timeout)
        self.start(timeout)

    def destroy(self) -> None:
        """Stop the server and remove everything under base_dir (and the datadir)."""
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- connections ----------------------------------------------------------
    def connect(self, user: str="root", password: str | None = None,
                database: str | None = None, **kw: Any) -> pymysql.connections.Connection:
        """Connect over the unix socket (root uses unix_socket auth)."""
        kw.setdefault("connect_timeout", 5)
        return pymysql.connect(unix_socket=self.socket, user=user,
                               password=password or "", database=database,
                               autocommit=True, **kw)

    def tail_error_log(self, lines: int=20) -> str:
        try:
            with open(self.error_log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no error log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _atomic_write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
