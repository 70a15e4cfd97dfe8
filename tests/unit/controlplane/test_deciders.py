"""The pure decision functions of the control plane."""

import datetime

from trove_lite.conductor.manager import should_apply
from trove_lite.status import display_status
from trove_lite.taskmanager import reconcile

NOW = datetime.datetime(2026, 11, 21, 12, 0, 0)


def test_conductor_drops_out_of_order_and_duplicate_messages():
    assert should_apply(None, 10.0)[0] is True
    assert should_apply(10.0, 10.5)[0] is True
    ok, reason = should_apply(10.5, 10.0)
    assert ok is False and "out of order" in reason
    assert should_apply(10.5, 10.5)[0] is False
    assert should_apply(10.5, None)[0] is False


def test_status_shown_to_users_follows_trove():
    assert display_status("NONE", "HEALTHY") == "ACTIVE"
    assert display_status("BUILDING", "NEW") == "BUILD"
    assert display_status("BUILDING", "HEALTHY") == "BUILD"      # the task wins
    assert display_status("REBOOTING", "SHUTDOWN") == "REBOOT"
    assert display_status("RESIZING", "HEALTHY") == "RESIZE"
    assert display_status("DELETING", "HEALTHY") == "SHUTDOWN"
    assert display_status("BUILDING_ERROR_TIMEOUT_GA", "FAILED_TIMEOUT_GUESTAGENT") == "ERROR"
    assert display_status("NONE", "HEALTHY", backup_running=True) == "BACKUP"
    assert display_status("NONE", "CRASHED") == "SHUTDOWN"
    assert display_status("NONE", "FAILED") == "FAILED"
    assert display_status("NONE", "HEALTHY", server_status="ERROR") == "ERROR"
    assert display_status("NONE", "RESTART_REQUIRED") == "RESTART_REQUIRED"


def snap(**kw):
    base = dict(instance_id="i", task_status="BUILDING",
                task_started_at=NOW - datetime.timedelta(seconds=30), service_status="NEW",
                service_updated_at=None, has_server=True, now=NOW, usage_timeout=400,
                state_change_wait_time=180, driven_here=False)
    base.update(kw)
    return reconcile.Snapshot(**base)


def test_reconcile_resumes_a_cut_off_create_within_its_time():
    assert reconcile.decide(snap())[0] == reconcile.RESUME_CREATE


def test_reconcile_waits_for_the_create_cast_before_resuming_a_create_without_server():
    """The API writes the instance, then casts: a reconcile pass in between must not
    start a flow of its own (it would lack the request's users and databases)."""
    young = snap(has_server=False, task_started_at=NOW - datetime.timedelta(seconds=1))
    action, reason = reconcile.decide(young)
    assert action == reconcile.WAIT and "on its way" in reason
    # a taskmanager that just started: queued casts come first, however old the task
    assert reconcile.decide(snap(has_server=False, uptime=5))[0] == reconcile.WAIT
    assert reconcile.decide(snap(has_server=False, uptime=100))[0] == reconcile.RESUME_CREATE
    # with a server the cast was taken by a flow that died: resume at once
    assert reconcile.decide(snap(task_started_at=NOW - datetime.timedelta(seconds=1),
                                 uptime=1))[0] == reconcile.RESUME_CREATE


def test_reconcile_adopts_a_serving_guest_whose_server_was_never_recorded():
    """Killed after the driver made the server but before the flow recorded it: the
    guest reports HEALTHY; finishing would leave an instance with no server."""
    orphan = snap(has_server=False, service_status="HEALTHY", uptime=1,
                  task_started_at=NOW - datetime.timedelta(seconds=5))
    assert reconcile.decide(orphan)[0] == reconcile.RESUME_CREATE


def test_reconcile_fails_a_create_past_its_timeout():
    action, reason = reconcile.decide(snap(task_started_at=NOW - datetime.timedelta(
        seconds=401)))
    assert action == reconcile.FAIL_TIMEOUT and "401" in reason


def test_reconcile_finishes_a_create_whose_guest_already_reported():
    assert reconcile.decide(snap(service_status="HEALTHY"))[0] == reconcile.FINISH_OK


def test_reconcile_leaves_flows_this_process_drives_alone():
    assert reconcile.decide(snap(driven_here=True))[0] == reconcile.NOTHING


def test_reconcile_finishes_a_cut_off_delete():
    assert reconcile.decide(snap(task_status="DELETING"))[0] == reconcile.RESUME_DELETE


def test_reconcile_waits_then_fails_a_cut_off_restart():
    assert reconcile.decide(snap(task_status="REBOOTING", service_status="SHUTDOWN"))[0] \
        == reconcile.WAIT
    assert reconcile.decide(snap(task_status="REBOOTING", service_status="SHUTDOWN",
                                 task_started_at=NOW - datetime.timedelta(seconds=200))
                            )[0] == reconcile.FAIL_TIMEOUT


def test_reconcile_leaves_a_just_requested_action_to_its_cast():
    # the API sets the task, then casts: a pass in between must not end the task
    # because the database still serves (an upgrade then ran while shown ACTIVE)
    for task in ("UPGRADING", "REBOOTING", "RESIZING"):
        just_now = snap(task_status=task, service_status="HEALTHY",
                        task_started_at=NOW - datetime.timedelta(seconds=0.2))
        assert reconcile.decide(just_now)[0] == reconcile.WAIT
        later = snap(task_status=task, service_status="HEALTHY",
                     task_started_at=NOW - datetime.timedelta(seconds=45))
        assert reconcile.decide(later)[0] == reconcile.FINISH_OK


def test_reconcile_fails_a_create_whose_request_is_lost_instead_of_degrading_it():
    """No server, no stored request (users, databases) and the cast had its time:
    resuming would report ACTIVE an instance without what was asked for."""
    lost = snap(has_server=False, has_request=False, uptime=100)
    action, reason = reconcile.decide(lost)
    assert action == reconcile.FAIL_LOST_REQUEST
    assert "users and databases are unknown and were not created" in reason
    # while the cast may still come, it waits; with a server, the guest has the request
    assert reconcile.decide(snap(has_server=False, has_request=False, uptime=1))[0] == \
        reconcile.WAIT
    assert reconcile.decide(snap(has_request=False))[0] == reconcile.RESUME_CREATE


def test_reconcile_resumes_an_upgrade_that_recorded_its_step():
    # whatever the guest reports: a database down mid-rebuild is not a finished upgrade
    for service in ("SHUTDOWN", "HEALTHY", None):
        cut = snap(task_status="UPGRADING", service_status=service, upgrade_step="rebuild",
                   task_started_at=NOW - datetime.timedelta(seconds=500))
        action, reason = reconcile.decide(cut)
        assert action == reconcile.RESUME_UPGRADE and "rebuild" in reason
    driven = snap(task_status="UPGRADING", upgrade_step="rebuild", driven_here=True)
    assert reconcile.decide(driven)[0] == reconcile.NOTHING


def test_reconcile_resumes_a_cut_off_set_upgrade_as_a_set_not_member_by_member():
    # the source still serves while its replicas upgrade: without the set's stage it
    # was finished as is (left on the old version, the replicas on the new one)
    source = snap(task_status="UPGRADING", service_status="HEALTHY",
                  set_upgrade_step="replicas")
    action, reason = reconcile.decide(source)
    assert action == reconcile.RESUME_UPGRADE and "set" in reason
    # the replica cut off mid-hop is the set flow's to resume, whatever its own step
    replica = snap(instance_id="r", task_status="UPGRADING", service_status="SHUTDOWN",
                   upgrade_step="rebuild", set_upgrade_of="i")
    action, reason = reconcile.decide(replica)
    assert action == reconcile.NOTHING and "i" in reason
    # the old source, mid its own hop at the last stage: the set flow resumes it too
    last = snap(task_status="UPGRADING", upgrade_step="rebuild", set_upgrade_step="old_source")
    assert reconcile.decide(last)[0] == reconcile.RESUME_UPGRADE
    assert reconcile.decide(last._replace(driven_here=True))[0] == reconcile.NOTHING


def test_an_upgrade_cut_off_before_stopping_counts_as_serving_only_on_a_newer_heartbeat():
    from trove_lite.taskmanager.upgrade_flows import _serving_since
    before, after = NOW - datetime.timedelta(seconds=5), NOW + datetime.timedelta(seconds=1)
    assert _serving_since(("HEALTHY", None, after), NOW)
    assert not _serving_since(("HEALTHY", None, before), NOW)
    assert not _serving_since(("SHUTDOWN", None, after), NOW)
    assert not _serving_since((None, None, None), NOW)
