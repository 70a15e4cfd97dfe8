"""What the control plane, the drivers and the guest agent share about a datastore.

A datastore (``mariadb``, ``mysql``) is a folder of this package with:

* ``validation.py``: rules for names and values users send (the API checks them
  so a refused name never reaches a guest; the guest checks them again);
* ``passwords.py``: the hash its accounts are created from (computed at the API);
* a :class:`Datastore` in its ``__init__``: limits, the backup and replication
  strategies it supports, where its config template lives, which option-file
  section its server reads.

:class:`Binaries` is the layout of one server version's binaries, what a local
image names (drivers/images.py stores it; the guest runs it). Nothing here
imports the guest agent, the drivers or any control-plane module.
"""

import dataclasses
import os
import subprocess


@dataclasses.dataclass(frozen=True)
class Binaries:
    """A tree of server binaries: what a datastore-version image names locally.

    Field names are MariaDB's for compatibility with registered image specs;
    for MySQL, ``mariadbd`` is ``mysqld``, ``install_db`` is unused (``mysqld
    --initialize-insecure`` makes a datadir) and ``backup_tool`` is ``mysqldump``.
    """

    mariadbd: str = "/usr/sbin/mariadbd"
    install_db: str = "/usr/bin/mariadb-install-db"
    basedir: str | None = None
    lib_dir: str | None = None
    lc_messages_dir: str | None = None
    backup_tool: str = "/usr/bin/mariadb-backup"
    mbstream: str = "/usr/bin/mbstream"
    upgrade_tool: str = "/usr/bin/mariadb-upgrade"
    datastore: str = "mariadb"
    client: str | None = None
    plugin_dir: str | None = None

    def env(self) -> dict:
        env = dict(os.environ)
        if self.lib_dir:
            env["LD_LIBRARY_PATH"] = self.lib_dir + (
                ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        return env

    def version(self) -> str:
        out = subprocess.run([self.mariadbd, "--version"], env=self.env(),
                             capture_output=True, text=True, check=True).stdout
        return out.strip()


SYSTEM_BINARIES = Binaries()
BINARY_FIELDS = tuple(f.name for f in dataclasses.fields(Binaries))


def binaries_from_spec(spec: dict | None) -> Binaries:
    """The ``Binaries`` an image spec names (``version`` and unknown keys ignored);
    the system's MariaDB for an empty spec."""
    fields = {k: v for k, v in (spec or {}).items() if k in BINARY_FIELDS}
    return Binaries(**fields) if fields else SYSTEM_BINARIES


@dataclasses.dataclass(frozen=True)
class Datastore:
    """One datastore's facts, read by both sides.

    ``server_section``: the option-file group its server reads (``[mariadbd]``
    is unknown to MySQL). ``backup_strategy``: the guest backup strategy name
    (guestagent/backup/strategies.py). ``replication_strategies``: what
    ``[replication] strategy`` may name for it (empty: no replication yet).
    ``template_dir``: the folder of templates/ with its config template and
    the default validation rules. ``binlog_archive``: whether its guest ships
    the binary log to the backup store for point-in-time restores (it needs
    backups that record their binlog position and MariaDB's GTID events).
    ``semisync``: whether its sets can be semi-synchronous (else asynchronous,
    whatever ``[replication] durability`` says); ``auto_failover``: whether the
    taskmanager's HA check may fail its sets over by itself.
    """

    name: str
    server_section: str
    backup_strategy: str
    user_name_max: int
    host_max: int
    template_dir: str
    replication_strategies: tuple = ()
    incremental_backups: bool = True
    binlog_archive: bool = True
    semisync: bool = True
    auto_failover: bool = True

    def config_template(self, templates_dir: str) -> str:
        return os.path.join(templates_dir, self.template_dir, "config.template")
