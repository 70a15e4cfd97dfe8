#!/usr/bin/env python3
"""Configuration attach and detach: what the API answers, and how long until the
server has the change, beside the guest call the attach used to make inside the
request (measured in the same run).

    .venv/bin/python benchmarks/config_apply.py [--runs 5]

One control plane (``[guest] rpc_short_timeout = 5``, as the tests use) and one
instance. Each run: (1) baseline, the old attach's cost: the same
``apply_configuration`` guest call, timed, then its detach; (2) now: PUT attach
(time to 202, time until the instance shows ``applied``) and PUT detach (time to
202, time until no configuration is shown). Then with the guest agent stopped
(SIGSTOP): the baseline call's time to GuestTimeout (the old API answered 503
after it) beside the PUT's time to 202. Last, a mgmt reboot of the instance while
it is RESTART_REQUIRED: seconds until it shows ACTIVE (before the fix the reboot
flow waited for a serving status until ``state_change_wait_time``, 180 s, and
left a fault; not re-measured here).
"""

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.functional.configuration_groups.test_configuration_groups import (  # noqa: E402
    guest_agent_pid)
from tests.functional.controlplane.conftest import destroy_everything  # noqa: E402
from tests.support.controlplane import ControlPlane, wait_for_status  # noqa: E402
from trove_lite import config, exceptions  # noqa: E402
from trove_lite.rpc import guest as guest_rpc  # noqa: E402

TENANT = "demo"
VALUES = {"max_connections": 150}


def until(fn, timeout=60):
    start = time.monotonic()
    while not fn():
        if time.monotonic() - start > timeout:
            raise RuntimeError("not reached within %d s" % timeout)
        time.sleep(0.05)
    return time.monotonic() - start


def put(cp, instance_id, configuration):
    start = time.monotonic()
    resp = requests.put(cp.endpoint(TENANT) + "/instances/%s" % instance_id,
                        json={"instance": {"configuration": configuration}}, timeout=60)
    assert resp.status_code == 202, resp.text
    return time.monotonic() - start


def shown(trove, instance_id):
    return getattr(trove.instances.get(instance_id), "configuration", None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="trove-lite-bench-cfg-")
    cp = ControlPlane(base, extra_conf="[guest]\nrpc_short_timeout = 5\n").start_aio()
    try:
        trove = cp.client(TENANT)
        inst = trove.instances.create("bench-cfg", "1", volume={"size": 1},
                                      datastore="mariadb", datastore_version="10.11")
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        group = trove.configurations.create("bench", '{"max_connections": 150}',
                                            datastore="mariadb", datastore_version="10.11")
        guest = guest_rpc.GuestAPI(config.make_conf([], config_files=[cp.conf_file]), inst.id)
        old, new_202, new_done, det_202, det_done = [], [], [], [], []
        for _ in range(args.runs):
            start = time.monotonic()
            guest.apply_configuration(VALUES, sorted(VALUES), {})
            old.append(time.monotonic() - start)
            guest.detach_configuration(sorted(VALUES), {})
            start = time.monotonic()
            new_202.append(put(cp, inst.id, group.id))
            until(lambda: (shown(trove, inst.id) or {}).get("apply", {}).get("state")
                  == "applied")
            new_done.append(time.monotonic() - start)
            start = time.monotonic()
            det_202.append(put(cp, inst.id, None))
            until(lambda: not shown(trove, inst.id))
            det_done.append(time.monotonic() - start)

        pid = guest_agent_pid(cp, trove, inst)
        os.kill(pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            try:
                guest.apply_configuration(VALUES, sorted(VALUES), {})
            except exceptions.GuestTimeout:
                pass
            old_down = time.monotonic() - start
            new_down = put(cp, inst.id, group.id)
            until(lambda: shown(trove, inst.id)["apply"]["state"] == "failed")
        finally:
            os.kill(pid, signal.SIGCONT)
        landed = until(lambda: shown(trove, inst.id)["apply"]["state"] == "applied")

        trove.configurations.edit(group.id, '{"innodb_log_buffer_size": "32M"}')
        until(lambda: trove.instances.get(inst.id).status == "RESTART_REQUIRED")
        start = time.monotonic()
        cp.client("admin").mgmt_instances.reboot(inst.id)
        until(lambda: trove.instances.get(inst.id).status == "REBOOT", timeout=10)
        until(lambda: trove.instances.get(inst.id).status == "ACTIVE", timeout=240)
        reboot = time.monotonic() - start

        def ms(xs):
            return "median %.0f ms, max %.0f ms" % (statistics.median(xs) * 1000,
                                                    max(xs) * 1000)
        print("attach, guest up (%d runs):" % args.runs)
        print("  baseline: guest call inside the request   %s" % ms(old))
        print("  now: PUT answers 202                      %s" % ms(new_202))
        print("  now: until the instance shows applied     %s" % ms(new_done))
        print("detach: PUT answers 202                     %s" % ms(det_202))
        print("detach: until no configuration is shown     %s" % ms(det_done))
        print("attach, guest agent stopped:")
        print("  baseline: guest call until GuestTimeout   %.2f s (old API: 503)" % old_down)
        print("  now: PUT answers 202                      %.3f s; applied %.1f s after "
              "SIGCONT" % (new_down, landed))
        print("mgmt reboot while RESTART_REQUIRED: ACTIVE after %.1f s "
              "(before the fix: waited 180 s, then a fault)" % reboot)
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
