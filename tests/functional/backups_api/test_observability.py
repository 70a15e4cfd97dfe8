"""After a real create and a real backup on the all-in-one: /metrics has the
series an operator graphs, with sane values, and the instance's event history
tells the owner what happened, with the request id the API answered."""

import json
import subprocess
import sys
import time

import pytest
import requests

from tests.functional.api.test_metrics_health import samples
from tests.functional.backups_api.conftest import wait_active, wait_backup

pytestmark = pytest.mark.slow


def test_metrics_and_events_after_a_create_and_a_backup(local_cp):
    trove = local_cp.client()
    resp = requests.post(local_cp.endpoint() + "/instances", timeout=30, json={"instance": {
        "name": "observed", "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": "mariadb", "version": "10.11"}}})
    assert resp.status_code == 200, resp.text
    create_request = resp.headers["X-OpenStack-Request-ID"]
    inst = wait_active(trove, resp.json()["instance"]["id"])
    backup = wait_backup(trove, trove.backups.create("nightly", inst.id).id)
    assert backup.status == "COMPLETED", backup.fail_reason

    deadline = time.monotonic() + 10
    while True:  # the COMPLETED event is written just after the status
        found = requests.get(local_cp.endpoint() + "/instances/%s/events" % inst.id,
                             timeout=10).json()["events"]
        if any("COMPLETED" in e["detail"] for e in found) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    kinds = [e["kind"] for e in reversed(found)]  # oldest first
    assert kinds == ["create", "backup", "backup"], found
    assert found[-1]["request_id"] == create_request
    assert "ACTIVE after" in found[-1]["detail"]
    assert "started" in found[1]["detail"] and "COMPLETED" in found[0]["detail"]
    assert requests.get(local_cp.endpoint("someone-else") + "/instances/%s/events"
                        % inst.id, timeout=10).status_code == 404

    scrape = samples(requests.get(local_cp.endpoint_root + "/metrics", timeout=10).text)
    steps = {labels["step"]: v for labels, v in
             scrape["trove_lite_task_step_duration_seconds_count"]}
    sums = {labels["step"]: v for labels, v in
            scrape["trove_lite_task_step_duration_seconds_sum"]}
    assert steps["volume * created"] >= 1 and steps["server * created"] >= 1, steps
    assert 0 < sums["the guest reports the database serving"] < 120
    rate = dict((labels["instance_id"], v) for labels, v in
                scrape["trove_lite_backup_throughput_bytes_per_second"])[inst.id]
    assert 1024 < rate < 10 * 1024 ** 3, rate
    age = dict((labels["instance_id"], v) for labels, v in
               scrape["trove_lite_instance_heartbeat_age_seconds"])[inst.id]
    assert 0 <= age < 30
    assert ({"status": "COMPLETED"}, 1.0) in scrape["trove_lite_backups"]
    assert any(labels["status"] == "ACTIVE" and v >= 1
               for labels, v in scrape["trove_lite_instances"])
    assert scrape["trove_lite_failovers_total"] == [({}, 0.0)]
    posts = [v for labels, v in scrape["trove_lite_api_request_duration_seconds_count"]
             if labels["route"] == "/v1.0/{tenant_id}/instances" and labels["method"] == "POST"
             and labels["status"] == "200"]
    assert posts == [1.0]
    assert "observed" not in requests.get(local_cp.endpoint_root + "/metrics", timeout=10).text


def test_cli_wait_follows_a_create_and_a_backup_to_the_end(local_cp):
    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "trove_lite.cli.main", "--endpoint",
                               local_cp.endpoint(), "--json", *argv], capture_output=True,
                              text=True, timeout=180)
    made = cli("create", "waited", "1", "--size", "1", "--datastore", "mariadb",
               "--datastore_version", "10.11", "--wait")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["status"] == "ACTIVE"
    bars = made.stderr.splitlines()
    assert bars[0].startswith("[") and "BUILD" in bars[0] and "ETA" in bars[0], bars
    assert bars[-1].startswith("[####################] 100%  ACTIVE"), bars
    inst_id = json.loads(made.stdout)["id"]
    backup = cli("backup-create", inst_id, "waited-backup", "--wait")
    assert backup.returncode == 0, backup.stderr
    assert json.loads(backup.stdout)["status"] == "COMPLETED"
    assert "100%  COMPLETED" in backup.stderr.splitlines()[-1]
    restart = cli("restart", inst_id, "--wait")
    assert restart.returncode == 0 and "100%  ACTIVE" in restart.stderr, restart.stderr

    backup_id = json.loads(backup.stdout)["id"]
    restored = cli("create", "restored", "1", "--size", "1", "--datastore", "mariadb",
                   "--datastore_version", "10.11", "--backup", backup_id, "--wait")
    assert restored.returncode == 0, restored.stderr
    restored_id = json.loads(restored.stdout)["id"]
    scrape = samples(requests.get(local_cp.endpoint_root + "/metrics", timeout=10).text)
    rate = dict((labels["instance_id"], v) for labels, v in
                scrape["trove_lite_restore_throughput_bytes_per_second"])[restored_id]
    assert 1024 < rate < 10 * 1024 ** 3, rate


def test_configuration_apply_and_resize_are_in_the_event_history(local_cp):
    trove = local_cp.client()
    inst = wait_active(trove, trove.instances.create(
        "evented", "1", volume={"size": 1}, datastore="mariadb",
        datastore_version="10.11").id)
    group = trove.configurations.create("ev-group", json.dumps({"max_connections": 120}),
                                        datastore="mariadb", datastore_version="10.11")
    trove.instances.update(inst.id, configuration=group.id)
    trove.configurations.edit(group.id, json.dumps({"max_connections": 130}))

    def kinds():
        return [e["kind"] for e in requests.get(
            local_cp.endpoint() + "/instances/%s/events" % inst.id, timeout=10
        ).json()["events"]]

    def wait_kind(kind):
        deadline = time.monotonic() + 60
        while kind not in kinds():
            assert time.monotonic() < deadline, kinds()
            time.sleep(0.3)
    wait_kind("configuration")  # the edit's apply (an attach asks the guest in the request)
    trove.instances.resize_volume(inst.id, 2)
    wait_kind("resize")
    found = requests.get(local_cp.endpoint() + "/instances/%s/events" % inst.id,
                         timeout=10).json()["events"]
    details = {e["kind"]: e["detail"] for e in found}
    assert details["resize"] == "volume 1 -> 2 GB"
    assert details["configuration"].startswith("configuration %s applied" % group.id)
    assert "fault" not in details


def test_a_resize_sent_while_a_configuration_applies_still_happens(local_cp):
    """The API takes a resize while the taskmanager applies a configuration edit to the
    same instance; the resize must run once the apply ends, not be dropped."""
    trove = local_cp.client()
    inst = wait_active(trove, trove.instances.create(
        "raced", "1", volume={"size": 1}, datastore="mariadb",
        datastore_version="10.11").id)
    group = trove.configurations.create("race-group", json.dumps({"max_connections": 120}),
                                        datastore="mariadb", datastore_version="10.11")
    trove.instances.update(inst.id, configuration=group.id)
    trove.configurations.edit(group.id, json.dumps({"max_connections": 140}))
    trove.instances.resize_volume(inst.id, 2)
    deadline = time.monotonic() + 40
    while trove.instances.get(inst.id).volume.get("size") != 2:
        assert time.monotonic() < deadline, (trove.instances.get(inst.id).status, [
            line for line in local_cp.log_tail("aio", 400).splitlines()
            if "ignored" in line or "resize" in line.lower()][-5:])
        time.sleep(0.3)
    assert wait_active(trove, inst.id).volume["size"] == 2
