"""The guest's datastore implementations (mariadb/, mysql/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trove_lite.guestagent.datastore.mariadb.replication import Replication


def replication_class(datastore: str | None) -> type[Replication]:
    """The Replication class of a datastore's servers (MySQL's is imported only there)."""
    if datastore == "mysql":
        from trove_lite.guestagent.datastore.mysql.replication import MySQLReplication
        return MySQLReplication
    from trove_lite.guestagent.datastore.mariadb.replication import Replication
    return Replication
