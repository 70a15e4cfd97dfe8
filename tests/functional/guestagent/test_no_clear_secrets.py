"""No password in clear on the instance: every account statement the guest sends
(create user, password change, user update, root enable) reaches the binary log,
and so every replica, backup and binlog archive; the statements carry only the
mysql_native_password hash. Checked in the decoded binlog, in the raw files, and
in every file of the instance (datadir, config, state)."""

import glob
import os
import subprocess

import pytest

from tests.functional.guestagent.conftest import SMALL_FLAVOR, tcp
from trove_lite.guestagent import early
from trove_lite.guestagent.datastore.mariadb import sql

pytestmark = pytest.mark.slow

PASSWORDS = {
    "create": "Clear-Create-7f3a",
    "root": "Clear-Root-91bd",
    "update": "Clear-Update-2c4e",
    "change": "Clear-Change-5d6f",
    "root_again": "Clear-Root2-8e1a",
    "second": "Clear-Second-3b9c",
    "root_api": "Clear-RootApi-4a2d",
}


def _files_holding(root, needle):
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as f:
                    if needle.encode() in f.read():
                        found.append(path)
            except OSError:
                pass
    return found


def test_account_statements_keep_passwords_out_of_binlog_and_disk(app_factory):
    app = app_factory()
    app.prepare(SMALL_FLAVOR, server_id=77, databases=[{"name": "shop"}],
                users=[{"name": "alice", "password": PASSWORDS["create"],
                        "databases": [{"name": "shop"}]}],
                root_password=PASSWORDS["root"])
    admin = app.admin
    tcp(app.server, "alice", PASSWORDS["create"], "shop").close()
    tcp(app.server, "root", PASSWORDS["root"]).close()
    admin.update_user("alice", "%", new_password=PASSWORDS["update"])
    tcp(app.server, "alice", PASSWORDS["update"], "shop").close()
    admin.change_passwords([{"name": "alice", "password": PASSWORDS["change"]}])
    tcp(app.server, "alice", PASSWORDS["change"], "shop").close()
    app.enable_root(PASSWORDS["root_again"])
    tcp(app.server, "root", PASSWORDS["root_again"]).close()
    # through the API the guest gets only the hash, and returns no password
    assert admin.enable_root(password_hash=sql.native_password_hash(
        PASSWORDS["root_api"])) is None
    tcp(app.server, "root", PASSWORDS["root_api"]).close()
    admin.create_users([{"name": "bob", "password": PASSWORDS["second"]}])
    tcp(app.server, "bob", PASSWORDS["second"]).close()

    conn = app.connect()
    with conn.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
    conn.close()
    binlogs = sorted(glob.glob(os.path.join(app.server.datadir, "mysql-bin.0*")))
    assert binlogs, os.listdir(app.server.datadir)
    decoded = subprocess.run(["mariadb-binlog", "--verbose"] + binlogs, check=True,
                             capture_output=True, text=True, errors="replace").stdout
    # the account statements are in the binlog (with their hashes): the check looks
    # at the right place
    assert "CREATE USER 'alice'@'%'" in decoded and "ALTER USER 'alice'@'%'" in decoded
    root = os.path.dirname(app.server.base_dir)
    for what, password in PASSWORDS.items():
        assert password not in decoded, "%s password in the decoded binlog" % what
        assert not _files_holding(root, password), "%s password on disk" % what
    assert sql.native_password_hash(PASSWORDS["change"]) in decoded


def test_native_password_hash_is_the_servers():
    # known value: SELECT PASSWORD('pw') on MariaDB 10.11
    assert sql.native_password_hash("pw") == "*D821809F681A40A6E379B50D0463EFAE20BDD122"
    assert sql.create_user("bob", "%", "pw") == (
        "CREATE USER 'bob'@'%' IDENTIFIED BY PASSWORD "
        "'*D821809F681A40A6E379B50D0463EFAE20BDD122'")


def test_failed_early_prepare_removes_the_injected_request(tmp_path):
    """A prepare that fails must not leave the injected request (users and their
    secrets) on the instance until it is deleted."""
    server_dir = tmp_path / "server"
    (server_dir / "root" / "etc" / "trove-lite").mkdir(parents=True)
    device = tmp_path / "volume"
    device.mkdir()
    (server_dir / "server.json").write_text(
        '{"address": "127.202.255.254", "image": null, "volume_devices": {"v": "%s"},'
        ' "metadata": {"trove_instance_id": "x"}}' % device)
    request = server_dir / early.PREPARE_FILE
    # a user granted a database the request does not create: refused before start
    request.write_text('{"flavor": {"ram": 512, "vcpus": 1}, "databases": [], "users": '
                       '[{"name": "u", "password": "%s", "databases": [{"name": "nope"}]}]}'
                       % PASSWORDS["create"])
    prep = early.EarlyPrepare.maybe_start(str(server_dir), "/nonexistent/template")
    assert prep is not None and prep.wait(30)
    assert prep.state.read().get("prepare_failed")
    assert not request.exists()
