"""``openstack database ...`` (python-openstackclient, unchanged) and ``trove-lite``.

Client processes cost about a second each, so these run against SQLite only
(the storage paths are covered by test_instances_api.py on both backends).
"""

import json
import os
import subprocess
import sys

import pytest

from trove_lite.guestagent.datastore.mariadb import sql

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("api_env", ["sqlite"], indirect=True)]

BIN = os.path.dirname(sys.executable)


def run(argv, env=None, check=True):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def osc(api_env, tenant, *args):
    argv = [os.path.join(BIN, "openstack"), "--os-auth-type", "none",
            "--os-endpoint", api_env.endpoint(tenant), "database", *args]
    return run(argv)


def trove_lite(api_env, tenant, *args, check=True):
    return run([os.path.join(BIN, "trove-lite"), *args], check=check,
               env={"TROVE_LITE_ENDPOINT": api_env.endpoint(tenant)})


def test_openstack_database_commands(api_env, tenant):
    created = json.loads(osc(api_env, tenant, "instance", "create", "osc-db", "--flavor",
                             "m1.small", "--size", "1", "--datastore", "mariadb",
                             "--datastore-version", "10.11", "--databases", "shop",
                             "--users", "app:pw1", "-f", "json").stdout)
    assert created["status"] == "BUILD" and created["name"] == "osc-db"
    assert (created["flavor"], created["volume"], created["datastore"]) == ("1", 1, "mariadb")
    api_env.recorder.wait_for("create_instance", created["id"])
    request = api_env.create_request(created["id"])
    assert request["users"][0]["name"] == "app" and request["users"][0]["databases"] == ["shop"]

    api_env.make_active(created["id"])
    listed = json.loads(osc(api_env, tenant, "instance", "list", "-f", "json").stdout)
    assert [(i["Name"], i["Status"], i["Operating Status"], i["Size"]) for i in listed] == [
        ("osc-db", "ACTIVE", "HEALTHY", 1)]
    # show by name: OSC falls back to listing when GET /instances/osc-db is 404
    shown = json.loads(osc(api_env, tenant, "instance", "show", "osc-db", "-f", "json").stdout)
    assert shown["id"] == created["id"] and shown["ip"] == "127.77.1.2"

    flavors = json.loads(osc(api_env, tenant, "flavor", "list", "-f", "json").stdout)
    assert {f["Name"] for f in flavors} == {"m1.small", "m1.medium", "m1.tiny"}

    osc(api_env, tenant, "instance", "resize", "volume", "osc-db", "4")
    assert api_env.recorder.wait_for("resize_volume", created["id"])["new_size"] == 4
    api_env.make_active(created["id"])
    osc(api_env, tenant, "instance", "delete", "osc-db")
    api_env.recorder.wait_for("delete_instance", created["id"])


def test_trove_lite_cli(api_env, tenant):
    out = trove_lite(api_env, tenant, "create", "cli-db", "m1.small", "--size", "2",
                     "--datastore", "mariadb", "--datastore-version", "10.11",
                     "--databases", "db1", "db2", "--users", "u1:p:w").stdout
    assert "| status" in out and "BUILD" in out
    inst_id = [line.split("|")[2].strip() for line in out.splitlines()
               if line.startswith("| id ")][0]
    api_env.recorder.wait_for("create_instance", inst_id)
    assert api_env.create_request(inst_id)["users"] == [
        {"name": "u1", "host": "%", "password_hash": sql.native_password_hash("p:w"),
         "databases": ["db1", "db2"]}]

    table = trove_lite(api_env, tenant, "list").stdout.splitlines()
    assert [c.strip() for c in table[1].split("|")[1:-1]] == [
        "ID", "Name", "Datastore", "Datastore Version", "Status", "Operating Status",
        "Flavor ID", "Size", "Region"]
    assert [c.strip() for c in table[3].split("|")[1:-1]] == [
        inst_id, "cli-db", "mariadb", "10.11", "BUILD", "NEW", "1", "2", "RegionOne"]

    as_json = json.loads(trove_lite(api_env, tenant, "--json", "list").stdout)
    assert [i["id"] for i in as_json] == [inst_id] and as_json[0]["volume"] == {"size": 2}

    shown = trove_lite(api_env, tenant, "show", "cli-db").stdout
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in shown.splitlines() if line.startswith("| ") and "Property" not in line}
    assert rows["id"] == inst_id and rows["flavor"] == "1" and rows["volume"] == "2"
    assert rows["datastore_version"] == "10.11"

    flavors = trove_lite(api_env, tenant, "flavor-list").stdout.splitlines()
    assert [c.strip() for c in flavors[1].split("|")[1:-1]] == [
        "ID", "Name", "RAM", "vCPUs", "Disk", "Ephemeral"]
    names = [line.split("|")[2].strip() for line in flavors[3:-1]]
    assert names == ["m1.tiny", "m1.small", "m1.medium"]  # ordered by RAM, like trove
    assert json.loads(trove_lite(api_env, tenant, "flavor-list", "--json").stdout)[0]["str_id"]

    missing = trove_lite(api_env, tenant, "show", "no-such-db", check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("ERROR: ")
    refused = trove_lite(api_env, tenant, "delete", inst_id, check=False)
    assert refused.returncode == 1 and "BUILDING" in refused.stdout + refused.stderr


def test_api_process_serves_until_sigterm(api_env, tmp_path):
    """The ``trove-lite-api`` console script: config file, serve, clean exit on SIGTERM."""
    import signal
    import time

    import requests

    from tests.support.net import free_port
    port = free_port()
    conf_file = tmp_path / "api.conf"
    conf_file.write_text("[DEFAULT]\nstate_dir = %s\n[database]\nconnection = %s\n"
                         "[api]\nbind_port = %d\n" % (tmp_path, api_env.db.url, port))
    proc = subprocess.Popen([os.path.join(BIN, "trove-lite-api"), "--config-file",
                             str(conf_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 20
        while True:
            try:
                assert requests.get(url + "/", timeout=2).json()["versions"][0]["id"] == "v1.0"
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.1)
        flavors = requests.get(url + "/v1.0/demo/flavors", timeout=5).json()["flavors"]
        assert {f["name"] for f in flavors} == {"m1.small", "m1.medium", "m1.tiny"}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert "SIGTERM received" in out and "please report it as a BUG" not in out
