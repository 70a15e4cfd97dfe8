"""Read-only lookups of datastores, datastore versions and flavors.

Shared by the API's catalog handlers and the instance service. Every function
takes an open SQLAlchemy session and either returns model rows or raises one
of the NotFound/BadRequest subclasses below (stable codes). Nothing here
writes.

Lookups accept an id or a name, as Trove does: a datastore ``mariadb`` or its
UUID, a version ``10.11`` or its UUID, a flavor by id (``str_id``).
"""

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from trove_lite.db import models
from trove_lite.exceptions import BadRequest, NotFound


class DatastoreNotFound(NotFound):
    code = "datastore_not_found"
    message_format = "Datastore '%(id)s' cannot be found."


class DatastoreVersionNotFound(NotFound):
    code = "datastore_version_not_found"
    message_format = "Datastore version '%(id)s' cannot be found."


class DatastoreDefaultVersionNotFound(NotFound):
    code = "datastore_default_version_not_found"
    message_format = "Default version for datastore '%(id)s' not found."


class DatastoreNotSpecified(BadRequest):
    code = "datastore_not_specified"
    message_format = ("Please specify a datastore: %(count)d datastores are "
                      "registered and none is the only one.")


class DatastoreVersionInactive(BadRequest):
    code = "datastore_version_inactive"
    message_format = "Datastore version '%(version)s' is not active."


class FlavorNotFound(NotFound):
    code = "flavor_not_found"
    message_format = "Flavor %(id)s could not be found."


class FlavorNotAllowed(BadRequest):
    code = "flavor_not_allowed"
    message_format = ("Flavor %(flavor)s is not supported for datastore %(datastore)s "
                      "version %(version)s.")


def find_datastore(s: Session, id_or_name: str) -> models.Datastore:
    row = s.execute(select(models.Datastore).where(
        or_(models.Datastore.id == id_or_name,
            models.Datastore.name == id_or_name))).scalars().first()
    if row is None:
        raise DatastoreNotFound(id=id_or_name)
    return row


def list_datastores(s: Session) -> Sequence[models.Datastore]:
    return s.execute(select(models.Datastore).order_by(models.Datastore.name)).scalars().all()


def list_versions(s: Session, datastore: models.Datastore,
                  only_active: bool = True) -> Sequence[models.DatastoreVersion]:
    q = select(models.DatastoreVersion).where(
        models.DatastoreVersion.datastore_id == datastore.id)
    if only_active:
        q = q.where(models.DatastoreVersion.active.is_(True))
    return s.execute(q.order_by(models.DatastoreVersion.name)).scalars().all()


def find_version(s: Session, datastore: models.Datastore, id_or_name: str,
                 version_number: str | None = None) -> models.DatastoreVersion:
    """A version of ``datastore`` by id or name (``version_number`` narrows names)."""
    q = select(models.DatastoreVersion).where(
        models.DatastoreVersion.datastore_id == datastore.id,
        or_(models.DatastoreVersion.id == id_or_name,
            models.DatastoreVersion.name == id_or_name))
    if version_number:
        q = q.where(models.DatastoreVersion.version == version_number)
    row = s.execute(q).scalars().first()
    if row is None:
        raise DatastoreVersionNotFound(id=id_or_name)
    return row


def get_version_by_id(s: Session, version_id: str) -> models.DatastoreVersion:
    row = s.get(models.DatastoreVersion, version_id)
    if row is None:
        raise DatastoreVersionNotFound(id=version_id)
    return row


def resolve_datastore_version(s: Session, ds_ref: str | None = None,
                              version_ref: str | None = None, version_number: str | None = None
                              ) -> tuple[models.Datastore, models.DatastoreVersion]:
    """(Datastore, DatastoreVersion) for a create request; the version must be active.

    No datastore named: the only registered datastore, or, when a version id is
    given, that version's datastore. No version named: the datastore's default.
    """
    if ds_ref is None and version_ref is not None:
        version = s.get(models.DatastoreVersion, version_ref)
        if version is None:
            raise DatastoreVersionNotFound(id=version_ref)
        datastore = version.datastore
    else:
        if ds_ref is None:
            all_ds = list_datastores(s)
            if len(all_ds) != 1:
                raise DatastoreNotSpecified(count=len(all_ds))
            datastore = all_ds[0]
        else:
            datastore = find_datastore(s, ds_ref)
        if version_ref is None:
            if not datastore.default_version_id:
                raise DatastoreDefaultVersionNotFound(id=datastore.name)
            version = get_version_by_id(s, datastore.default_version_id)
        else:
            version = find_version(s, datastore, version_ref, version_number)
    if not version.active:
        raise DatastoreVersionInactive(version=version.name)
    return datastore, version


def find_flavor(s: Session, flavor_id: str) -> models.Flavor:
    row = s.get(models.Flavor, str(flavor_id))
    if row is None:
        raise FlavorNotFound(id=flavor_id)
    return row


def list_flavors(s: Session) -> Sequence[models.Flavor]:
    return s.execute(select(models.Flavor)).scalars().all()


def allowed_flavor_ids(s: Session, version: models.DatastoreVersion) -> set[str] | None:
    """Flavor ids restricted to ``version``, or None when every flavor is allowed."""
    ids = s.execute(select(models.DatastoreVersionFlavor.flavor_id).where(
        models.DatastoreVersionFlavor.datastore_version_id == version.id)).scalars().all()
    return set(ids) or None


def list_version_flavors(s: Session, version: models.DatastoreVersion) -> list[models.Flavor]:
    allowed = allowed_flavor_ids(s, version)
    return [f for f in list_flavors(s) if allowed is None or f.id in allowed]


def check_flavor_allowed(s: Session, flavor: models.Flavor, datastore: models.Datastore,
                         version: models.DatastoreVersion) -> None:
    allowed = allowed_flavor_ids(s, version)
    if allowed is not None and flavor.id not in allowed:
        raise FlavorNotAllowed(flavor=flavor.id, datastore=datastore.name,
                               version=version.name)
