"""Datastores as a concept the control plane, the drivers and the guest share.

``get(name)`` gives a datastore's :class:`~trove_lite.datastores.base.Datastore`
(``name`` is a datastore version's ``manager``). Adding a datastore is a new
folder here plus its guest implementation (guestagent/datastore/<name>) and its
config template (templates/<name>).
"""

from trove_lite.datastores.base import Datastore
from trove_lite.datastores.mariadb import MARIADB
from trove_lite.datastores.mysql import MYSQL
from trove_lite.exceptions import BadRequest

_REGISTRY = {d.name: d for d in (MARIADB, MYSQL)}


def get(name: str | None) -> Datastore:
    """The datastore named ``name`` (``None``: MariaDB); BadRequest if unknown."""
    try:
        return _REGISTRY[name or "mariadb"]
    except KeyError:
        raise BadRequest(reason="unknown datastore manager %r (known: %s)"
                                % (name, ", ".join(sorted(_REGISTRY)))) from None


def names() -> list[str]:
    return sorted(_REGISTRY)
