"""This control plane's deployment id (made at ``db_sync``, stored in the DB)."""

from sqlalchemy import select

from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.exceptions import TroveLiteError


class NoDeploymentId(TroveLiteError):
    code = "no_deployment_id"
    message_format = "%(reason)s"


def deployment_id(db: Database) -> str:
    """The id; NoDeploymentId if the schema predates it (run db_sync)."""
    try:
        with db.session() as s:
            row = s.execute(select(models.Deployment)).scalars().first()
    except Exception as e:  # no such table: an older schema
        raise NoDeploymentId(reason="the control-plane database has no deployment id "
                                    "(run trove-lite-manage db_sync): %s" % e) from e
    if row is None:
        raise NoDeploymentId(reason="the control-plane database has no deployment id "
                                    "(run trove-lite-manage db_sync)")
    return row.id
