"""No password or key in clear anywhere a person could look, after a session that
used them all: create with a user, password changes, root enable (given and
generated), a backup (the tenant's backup key) and the instance's sealed RPC.

Searched for each secret: every API response (only root enable's may carry the
root password, as Trove defines), every file under the deployment (its logs,
the guests' and mariadbd's logs, the SQLite control DB and its WAL, the
instance's datadir and binlogs, the backup store), and the argv and environment
of every process on the machine. The two keys have one home each: the master
secret its 0600 file, the instance's RPC key its injected guest.conf.
"""

import os
import stat
import time
import uuid

import pytest
import requests

pytestmark = pytest.mark.slow

TAG = uuid.uuid4().hex[:8]
PASSWORDS = {"user": "User-Pw-%s" % TAG, "changed": "Changed-Pw-%s" % TAG,
             "updated": "Updated-Pw-%s" % TAG, "root": "Root-Pw-%s" % TAG}


class Recorder:
    """Every API exchange of the session: (method, path, status, body text)."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.seen = []
        self.http = requests.Session()

    def __call__(self, method, path, body=None, expect=(200, 202, 204)):
        response = self.http.request(method, self.endpoint + path, json=body, timeout=60)
        self.seen.append((method, path, response.status_code, response.text))
        assert response.status_code in expect, (method, path, response.text)
        return response.json() if response.content else None

    def wait(self, path, key, field, wanted, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self("GET", path)[key][field]
            if value in wanted:
                return value
            time.sleep(1)
        pytest.fail("%s %s never reached %s" % (path, field, wanted))


def _control_conf(cp):
    from trove_lite.cmd import aio as aio_cmd
    return aio_cmd.make_aio_conf(cp.state_dir, config_files=[cp.conf_file])


def _keys(cp, instance_id):
    from trove_lite import config
    from trove_lite.backup import keys
    from trove_lite.common.master_key import load_master
    from trove_lite.db.session import Database
    from trove_lite.rpc import sealed
    conf = _control_conf(cp)
    master = load_master(conf)
    db = Database(config.database_url(conf))
    try:
        backup_key = keys.TenantKeys(conf, db).get("demo", create=False)
    finally:
        db.dispose()
    return {"master": master.decode(), "backup": backup_key,
            "rpc": sealed.instance_key(master, instance_id).decode()}


def _regular_files(root):
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    yield path
            except OSError:
                pass


def _files_holding(root, needles):
    found = {}
    for path in _regular_files(root):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        for label, needle in needles.items():
            if needle.encode() in data:
                found.setdefault(label, []).append(path)
    return found


def _processes_holding(needles):
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (pid, part), "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for label, needle in needles.items():
                if needle.encode() in data:
                    found.setdefault(label, []).append("pid %s %s" % (pid, part))
    return found


def test_no_password_or_key_in_clear_outside_its_one_place(aio):
    cp = aio
    api = Recorder(cp.endpoint("demo"))
    inst = api("POST", "/instances", {"instance": {
        "name": "secrets", "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": "mariadb", "version": "10.11"},
        "databases": [{"name": "shop"}],
        "users": [{"name": "alice", "password": PASSWORDS["user"],
                   "databases": [{"name": "shop"}]}]}})["instance"]
    iid = inst["id"]
    api.wait("/instances/" + iid, "instance", "status", {"ACTIVE", "ERROR"})
    assert api("GET", "/instances/" + iid)["instance"]["status"] == "ACTIVE"
    api("PUT", "/instances/%s/users" % iid,
        {"users": [{"name": "alice", "password": PASSWORDS["changed"]}]})
    api("PUT", "/instances/%s/users/alice" % iid, {"user": {"password": PASSWORDS["updated"]}})
    given = api("POST", "/instances/%s/root" % iid, {"password": PASSWORDS["root"]})
    assert given["user"]["password"] == PASSWORDS["root"]
    generated = api("POST", "/instances/%s/root" % iid)["user"]["password"]
    backup = api("POST", "/backups", {"backup": {"name": "b1", "instance": iid}})["backup"]
    api.wait("/backups/" + backup["id"], "backup", "status", {"COMPLETED", "FAILED"})
    assert api("GET", "/backups/" + backup["id"])["backup"]["status"] == "COMPLETED"
    api("GET", "/instances/" + iid)
    api("GET", "/instances/%s/users" % iid)
    api("GET", "/instances/%s/root" % iid)

    secrets = dict(PASSWORDS, generated_root=generated, **_keys(cp, iid))
    assert secrets["backup"], "the backup used the tenant's key"

    in_responses = [(method, path, label) for method, path, _status, text in api.seen
                    for label, secret in secrets.items() if secret in text
                    and not (method == "POST" and path.endswith("/root"))]
    assert in_responses == []

    scanned = [os.path.basename(p) for p in _regular_files(cp.base_dir)]
    # the scan reaches the instance's binlogs and the control DB, not only the logs
    assert any(n.startswith("mysql-bin.0") for n in scanned) and "trove-lite.sqlite" in scanned
    files = _files_holding(cp.base_dir, secrets)
    master_home = os.path.join(cp.state_dir, "backup-master.key")
    assert files.pop("master", []) == [master_home]
    rpc_homes = files.pop("rpc", [])
    assert rpc_homes and all(p.endswith("root/etc/trove-lite/guest.conf") for p in rpc_homes)
    assert all(oct(os.stat(p).st_mode & 0o777) == "0o600" for p in rpc_homes + [master_home])
    assert files == {}

    assert _processes_holding(secrets) == {}
