"""Decide what to do with an instance whose flow may have been cut off.

Pure: a snapshot in, an (action, reason) out. The taskmanager calls this on
start for every instance with a task in progress and that no flow of this
process is driving, and periodically afterwards.
"""

import datetime
from typing import NamedTuple

from trove_lite.status import ServiceStatus, TaskStatus


class Snapshot(NamedTuple):
    instance_id: str
    task_status: str
    task_started_at: datetime.datetime | None
    service_status: str | None
    service_updated_at: datetime.datetime | None
    has_server: bool
    now: datetime.datetime
    usage_timeout: int          # seconds a create may take
    state_change_wait_time: int  # seconds a restart/resize may take
    driven_here: bool           # a flow of this process is working on it
    uptime: float = 1e9         # seconds this taskmanager has been running
    has_request: bool = True    # the create's stored request (users, databases) exists
    upgrade_step: str | None = None  # the step an upgrade reached (upgrade_progress)
    leased_elsewhere: bool = False  # another taskmanager's unexpired flow lease holds it
    set_upgrade_step: str | None = None  # the stage its set's upgrade reached (set_upgrades)
    set_upgrade_of: str | None = None  # the UPGRADING source whose set upgrade includes it


# A create with no server yet may not have reached any taskmanager: the API
# writes the instance (and its request) and then casts, and a cast waits in the
# queue while the taskmanager is busy or down. The stored request lets a resumed
# flow do everything the cast asked for; the grace only spares running the create
# twice (the cast, when it comes, is then ignored).
CREATE_CAST_GRACE = 10


RESUME_CREATE = "resume_create"
RESUME_DELETE = "resume_delete"
RESUME_UPGRADE = "resume_upgrade"
FINISH_OK = "finish_ok"
FAIL_TIMEOUT = "fail_timeout"
FAIL_LOST_REQUEST = "fail_lost_request"
WAIT = "wait"
NOTHING = "nothing"


def decide(s: Snapshot) -> tuple[str, str]:
    """Return (action, reason) for one instance."""
    if s.driven_here:
        return NOTHING, "a flow of this taskmanager is driving it"
    if s.leased_elsewhere:
        return NOTHING, "a flow of another taskmanager holds its lease"
    age = (s.now - s.task_started_at).total_seconds() if s.task_started_at else None
    if s.task_status == TaskStatus.BUILDING:
        if s.service_status in ServiceStatus.SERVING:
            if not s.has_server:
                # cut off between creating the server and recording it: the resumed
                # flow adopts the server (and its address) and finishes at once
                return RESUME_CREATE, "the guest reported %s but its server is not " \
                                      "recorded; resuming to adopt it" % s.service_status
            return FINISH_OK, "the guest reported %s; the create finished while no " \
                              "taskmanager watched" % s.service_status
        if age is not None and age > s.usage_timeout:
            return FAIL_TIMEOUT, "create was cut off and %d s have passed (limit %d s)" % (
                age, s.usage_timeout)
        waited = min(age if age is not None else 0.0, s.uptime)
        if not s.has_server and waited < CREATE_CAST_GRACE:
            return WAIT, "no server yet; the create request may still be on its way " \
                         "(%d s of %d s)" % (waited, CREATE_CAST_GRACE)
        if not s.has_server and not s.has_request:
            # resuming would make an instance without what was asked for
            return FAIL_LOST_REQUEST, "the create request never reached a taskmanager " \
                                      "and is not stored: its users and databases are " \
                                      "unknown and were not created"
        return RESUME_CREATE, "create was cut off %s; resuming it" % (
            "%d s in" % age if age is not None else "")
    if s.task_status == TaskStatus.DELETING:
        return RESUME_DELETE, "delete was cut off; finishing it"
    if s.task_status == TaskStatus.UPGRADING and s.set_upgrade_of:
        # resuming it alone would race the set's flow, which resumes it in its turn
        return NOTHING, "its replication set's upgrade (source %s) resumes it" % \
            s.set_upgrade_of
    if s.task_status == TaskStatus.UPGRADING and s.set_upgrade_step:
        return RESUME_UPGRADE, "the replication set's upgrade was cut off at stage %s; " \
                               "resuming the set" % s.set_upgrade_step
    if s.task_status == TaskStatus.UPGRADING and s.upgrade_step:
        # the flow recorded its step: it started, and no flow here drives it now
        return RESUME_UPGRADE, "upgrade was cut off at step %s; resuming it" % s.upgrade_step
    if s.task_status in (TaskStatus.REBOOTING, TaskStatus.RESIZING, TaskStatus.UPDATING,
                         TaskStatus.UPGRADING):
        waited = min(age if age is not None else 0.0, s.uptime)
        if s.service_status in ServiceStatus.SERVING and waited < CREATE_CAST_GRACE:
            # the API sets the task, then casts: the flow may not have started yet
            return WAIT, "%s requested %d s ago; its request may still be on its way" % (
                s.task_status, waited)
        if s.service_status in ServiceStatus.SERVING:
            return FINISH_OK, "%s was cut off but the database is serving" % s.task_status
        if age is not None and age > s.state_change_wait_time:
            return FAIL_TIMEOUT, "%s was cut off %d s ago and the database is %s" % (
                s.task_status, age, s.service_status)
        return WAIT, "%s cut off; waiting for the guest to report" % s.task_status
    if s.task_status in (TaskStatus.PROMOTING, TaskStatus.EJECTING, TaskStatus.DETACHING):
        # not resumed: a switchover cut off halfway needs a person to look at the set
        if age is not None and age > s.state_change_wait_time:
            return FAIL_TIMEOUT, "%s was cut off %d s ago; the replication set may be " \
                                 "half switched over: check each member's replica_of " \
                                 "and read_only" % (s.task_status, age)
        return WAIT, "%s cut off; its flow may still end" % s.task_status
    return NOTHING, "no task in progress"
