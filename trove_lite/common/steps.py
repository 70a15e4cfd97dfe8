"""The steps of the taskmanager's flows: which ones each flow declares, and how long
each took.

- ``FLOW_STEPS`` and ``mark``: each flow's declared steps, logged as "instance <id>:
  <flow> step <key>" when done; the fault matrix (tests/functional/faults/) kills a
  process at each of them, so a step added here is covered without editing the test.
- ``observe_step``: the duration of each finished step, in the ``STEPS`` registry the
  API's ``/metrics`` serves beside its own. It lives in the process that runs the
  flows, so the all-in-one shows it; a taskmanager running alone keeps its own.
"""

import logging
import re

from prometheus_client import CollectorRegistry, Histogram

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


STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_VARYING = re.compile(r"\S*\d\S*")

STEPS = CollectorRegistry()
STEP_DURATION = Histogram("trove_lite_task_step_duration_seconds",
                          "Duration of one step of a taskmanager flow",
                          ["step"], buckets=STEP_BUCKETS, registry=STEPS)


def observe_step(what: str, seconds: float) -> None:
    """One finished flow step; ids, addresses and numbers become ``*`` in the label."""
    STEP_DURATION.labels(_VARYING.sub("*", what)[:80]).observe(seconds)
