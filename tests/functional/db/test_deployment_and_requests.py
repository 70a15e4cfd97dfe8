"""The deployment id db_sync makes, and create requests at rest, on SQLite and MariaDB."""

import pytest
from sqlalchemy import select

from trove_lite import config
from trove_lite.cmd import manage
from trove_lite.db import create_requests, deployment, models
from trove_lite.db.session import Database
from trove_lite.guestagent.datastore.mariadb import sql

USERS = [{"name": "clerk", "host": "%", "password": "At-rest-pw-61", "databases": ["shop"]}]
DATABASES = [{"name": "shop", "character_set": None, "collate": None}]


def test_db_sync_makes_one_deployment_id_and_keeps_it(control_db):
    first = deployment.deployment_id(control_db)
    control_db.sync()
    assert deployment.deployment_id(control_db) == first and len(first) == 32


def test_manage_db_sync_names_the_deployment(tmp_path, capsys):
    conf_file = tmp_path / "t.conf"
    conf_file.write_text("[DEFAULT]\nstate_dir = %s\n" % tmp_path)
    assert manage.main(["--config-file", str(conf_file), "db_sync"]) == 0
    out = capsys.readouterr().out
    db = Database("sqlite:///%s" % (tmp_path / "trove-lite.sqlite"))
    try:
        assert "(deployment %s)" % deployment.deployment_id(db) in out
    finally:
        db.dispose()


def _conf(tmp_path, master=None):
    overrides = {"state_dir": str(tmp_path)}
    if master:
        overrides["backup.master_key"] = master
    return config.make_conf([], overrides=overrides)


def test_request_is_kept_encrypted_with_hashes_only_and_erased(control_db, tmp_path):
    requests = create_requests.CreateRequests(_conf(tmp_path), control_db)
    with control_db.session() as s:
        s.add(requests.row("inst-1", DATABASES, USERS))
    with control_db.session() as s:
        stored = s.execute(select(models.CreateRequest)).scalar_one()
    assert "At-rest-pw-61" not in stored.encrypted and "clerk" not in stored.encrypted
    assert stored.summary == "users clerk@% and databases shop"
    loaded = requests.load("inst-1")
    assert loaded["users"] == [{"name": "clerk", "host": "%", "databases": ["shop"],
                                "password_hash": sql.native_password_hash("At-rest-pw-61")}]
    requests.erase("inst-1")
    assert requests.load("inst-1") is None


def test_request_under_another_master_key_fails_naming_what_was_asked(control_db, tmp_path):
    with control_db.session() as s:
        s.add(create_requests.CreateRequests(_conf(tmp_path, "key-one"), control_db)
              .row("inst-2", DATABASES, USERS))
    other = create_requests.CreateRequests(_conf(tmp_path, "key-two"), control_db)
    with pytest.raises(create_requests.RequestUnreadable) as err:
        other.load("inst-2")
    assert "users clerk@% and databases shop were not created" in err.value.message
