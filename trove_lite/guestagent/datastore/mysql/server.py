"""One MySQL mysqld, laid out and run as MariaDBServer runs a mariadbd.

What differs from MariaDB:

* the option-file group is ``[mysqld]`` (MySQL ignores ``[mariadbd]``), and my.cnf
  also names the image's ``plugin-dir``, a private ``secure-file-priv`` and
  ``mysqlx = OFF`` (the X plugin would listen on 33060 on every address);
* a pristine datadir comes from ``mysqld --initialize-insecure`` with an init
  file that switches ``root@localhost`` to ``auth_socket`` (as MariaDB's
  unix_socket root): the agent, running as root, logs in over the socket
  without a password, and nobody logs in as root over TCP.

Timing on this machine (MySQL 9.7): ``--initialize-insecure`` 3-5 s once per
binary tree (then a sparse copy of the template, 0.1-0.3 s); start 1-2 s.
"""

import fcntl
import hashlib
import os
import shutil
import subprocess

from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer, ServerError, _atomic_write

_INIT_SQL = ("INSTALL PLUGIN auth_socket SONAME 'auth_socket.so';\n"
             "ALTER USER 'root'@'localhost' IDENTIFIED WITH auth_socket;\n")


class MySQLServer(MariaDBServer):
    section = "mysqld"

    def _placement_lines(self) -> list[str]:
        lines = super()._placement_lines()
        lines += ["secure-file-priv = %s" % self.tmp_dir, "mysqlx = OFF"]
        if self.binaries.plugin_dir:
            lines.append("plugin-dir = %s" % self.binaries.plugin_dir)
        return lines

    def initialize(self) -> None:
        """A copy of the template datadir, without its server UUID (auto.cnf): every
        instance gets its own at first start, as Oracle GTIDs need."""
        fresh = not os.path.isdir(os.path.join(self.datadir, "mysql"))
        super().initialize()
        if fresh:
            try:
                os.unlink(os.path.join(self.datadir, "auto.cnf"))
            except FileNotFoundError:
                pass

    def template_datadir(self) -> str:
        """A pristine datadir for these binaries, made once (locked) with
        ``mysqld --initialize-insecure`` and root switched to auth_socket."""
        key = hashlib.sha1((self.binaries.mariadbd + self.binaries.version())
                           .encode()).hexdigest()[:12]
        root = os.path.join(self.cache_dir, "datadir-" + key)
        data, done = os.path.join(root, "data"), os.path.join(root, ".complete")
        if os.path.exists(done):
            return data
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(done):
                return data
            shutil.rmtree(data, ignore_errors=True)
            init = os.path.join(root, "init.sql")
            _atomic_write(init, _INIT_SQL)
            cnf = os.path.join(root, "install.cnf")
            lines = ["[mysqld]", "datadir = %s" % data, "user = root", "tmpdir = %s" % root,
                     "secure-file-priv = %s" % root, "innodb_redo_log_capacity = 32M"]
            for opt, value in (("basedir", self.binaries.basedir),
                               ("lc-messages-dir", self.binaries.lc_messages_dir),
                               ("plugin-dir", self.binaries.plugin_dir)):
                if value:
                    lines.append("%s = %s" % (opt, value))
            _atomic_write(cnf, "\n".join(lines) + "\n")
            proc = subprocess.run(
                [self.binaries.mariadbd, "--defaults-file=%s" % cnf, "--initialize-insecure",
                 "--init-file=%s" % init], env=self.binaries.env(), capture_output=True,
                text=True)
            if proc.returncode != 0:
                raise ServerError("mysqld --initialize-insecure failed: %s"
                                  % proc.stderr[-2000:])
            open(done, "w").close()
        return data
