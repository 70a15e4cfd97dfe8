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
    "resize_volume": ("db_stopped", "volume_detached", "volume_extended", "volume_attached",
                      "db_started", "serving"),
    "upgrade": ("pre_upgrade_done", "server_rebuilt", "post_upgrade_done",
                "version_recorded", "serving"),
    "promote": ("source_demoted", "replicas_caught_up", "replica_promoted",
                "members_followed"),
    "eject": ("members_reported", "winner_promoted", "members_followed", "source_fenced"),
    # logged by the guest agent (in its guest.log), which runs the migration's engine
    "schema_migration": ("started", "row_copy_begun", "row_copy_done", "cut_over_begun",
                         "completed"),
}

# Flows whose steps the guest agent logs, not the taskmanager.
GUEST_FLOWS = frozenset(["schema_migration"])


def mark(flow: str, key: str, instance_id: str) -> None:
    """Log that ``flow``'s step ``key`` is done for an instance (a key must be
    declared in FLOW_STEPS: an undeclared one raises, so tests catch it)."""
    if key not in FLOW_STEPS[flow]:
        raise KeyError("step %s is not declared in FLOW_STEPS[%r]" % (key, flow))
    LOG.info("instance %s: %s step %s", instance_id, flow, key)
