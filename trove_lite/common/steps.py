"""The steps of the taskmanager's flows: which ones each flow declares, and how long
each took.

- ``FLOW_STEPS`` and ``mark``: each flow's declared steps, logged as "instance <id>:
  <flow> step <key>" when done; the fault matrix (tests/functional/faults/) kills a
  process at each of them, so a step added here is covered without editing the test.
- The duration of each finished step goes to the control database
  (``db/step_durations.py``), where the API's ``/metrics`` reads it.
"""

import logging

LOG = logging.getLogger("trove_lite.taskmanager.steps")

# Each flow's logged steps, in order: ``mark`` logs "instance <id>: <flow> step <key>"
# when one is done, and the fault matrix (tests/functional/faults/) kills a process
# at each of them, so a step added here is covered without editing the test.
FLOW_STEPS: dict[str, tuple[str, ...]] = {
    "create": ("volume_created", "queue_declared", "server_created", "server_active",
               "prepare_sent", "serving"),
    "restore": ("volume_created", "queue_declared", "server_created", "server_active",
                "prepare_sent", "serving"),
    "delete": ("server_deleted", "volume_deleted", "recorded"),
    "restart": ("status_restarting", "restart_sent", "serving"),
    "resize": ("flavor_sent", "restart_sent", "serving"),
    "backup": ("requested", "handed_to_guest"),
}


def mark(flow: str, key: str, instance_id: str) -> None:
    """Log that ``flow``'s step ``key`` is done for an instance (a key must be
    declared in FLOW_STEPS: an undeclared one raises, so tests catch it)."""
    if key not in FLOW_STEPS[flow]:
        raise KeyError("step %s is not declared in FLOW_STEPS[%r]" % (key, flow))
    LOG.info("instance %s: %s step %s", instance_id, flow, key)
