"""MariaDB (10.5, 10.11, 11.8)."""

from trove_lite.datastores.base import Datastore
from trove_lite.datastores.mariadb import validation

MARIADB = Datastore(name="mariadb", server_section="mariadbd", backup_strategy="mariabackup",
                    user_name_max=validation.USER_NAME_MAX, host_max=validation.HOST_MAX,
                    template_dir="mariadb", replication_strategies=("gtid", "binlog"))
