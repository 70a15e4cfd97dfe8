"""MySQL (Debian sid's, 9.x): Oracle GTIDs, caching_sha2_password accounts, logical
backups (no xtrabackup is installable here).

Names follow MariaDB's rules (validation.py of the mariadb folder) with MySQL's
limits: user names of at most 32 characters, host names of at most 255.
No binlog archive (so no point-in-time restore): a dump records no binlog
position to replay from, and the archive reads MariaDB's GTID events only.
Replication by Oracle GTID auto-positioning only, seeded by CLONE, asynchronous,
with no automatic failover (guestagent/datastore/mysql/replication.py).
"""

from trove_lite.datastores.base import Datastore

USER_NAME_MAX = 32
HOST_MAX = 255

MYSQL = Datastore(name="mysql", server_section="mysqld", backup_strategy="mysqldump",
                  user_name_max=USER_NAME_MAX, host_max=HOST_MAX, template_dir="mysql",
                  incremental_backups=False, binlog_archive=False,
                  replication_strategies=("gtid",), semisync=False, auto_failover=False)
