"""Control-plane databases for tests: SQLite in a temp dir and a private schema on
the machine's MariaDB (127.0.0.1:3306, root, no password)."""

import os
import tempfile
import uuid

import pymysql
import pytest

from trove_lite.db.session import Database

MARIADB_ADMIN = dict(host="127.0.0.1", port=3306, user="root", password="")


def _mariadb_url(schema):
    return "mysql+pymysql://root@127.0.0.1:3306/%s?charset=utf8mb4" % schema


@pytest.fixture(params=["sqlite", "mariadb"])
def control_db(request):
    """A migrated control-plane Database on each supported backend."""
    if request.param == "sqlite":
        d = tempfile.mkdtemp(prefix="trove-lite-db-")
        db = Database("sqlite:///" + os.path.join(d, "cp.sqlite"))
        db.sync()
        yield db
        db.dispose()
        return
    schema = "trove_lite_test_%s" % uuid.uuid4().hex[:12]
    conn = pymysql.connect(**MARIADB_ADMIN, autocommit=True)
    conn.cursor().execute("CREATE DATABASE `%s` CHARACTER SET utf8mb4" % schema)
    db = Database(_mariadb_url(schema))
    db.sync()
    try:
        yield db
    finally:
        db.dispose()
        conn.cursor().execute("DROP DATABASE `%s`" % schema)
        conn.close()


def sqlite_with_version(path, **instances):
    """A migrated SQLite control DB at ``path`` with the MariaDB 10.11 version
    ("ds"/"dsv") and one instance per keyword (its id: its columns)."""
    from trove_lite.db import models
    db = Database("sqlite:///" + str(path))
    db.sync()
    with db.session() as s:
        s.add(models.Datastore(id="ds", name="mariadb"))
        s.add(models.DatastoreVersion(id="dsv", datastore_id="ds", name="10.11",
                                      image_id="img"))
    with db.session() as s:
        for instance_id, columns in instances.items():
            s.add(models.Instance(id=instance_id, name=instance_id, tenant_id="t",
                                  flavor_id="1", datastore_version_id="dsv", **columns))
    return db
