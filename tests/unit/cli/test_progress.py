"""``--wait``: the progress bar and how a wait ends (a fake client, no server)."""

import io
from types import SimpleNamespace

import pytest
from troveclient import exceptions as trove_exceptions

from trove_lite.cli import main as cli_main
from trove_lite.cli import progress


class Seq:
    """A manager whose ``get`` answers the next of ``items`` (then the last forever)."""

    def __init__(self, items):
        self.items = list(items)

    def get(self, _id):
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        return SimpleNamespace(_info=item) if isinstance(item, dict) else item


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(progress, "POLL", 0)


def test_create_wait_draws_stages_and_returns_the_active_instance():
    out = io.StringIO()
    infos = [{"status": "BUILD", "operating_status": "NEW"},
             {"status": "BUILD", "operating_status": "NEW", "ip": ["127.0.0.1"]},
             {"status": "BUILD", "operating_status": "RUNNING", "ip": ["127.0.0.1"]},
             {"status": "ACTIVE", "operating_status": "HEALTHY", "ip": ["127.0.0.1"]}]
    cs = SimpleNamespace(instances=Seq(infos[:1] + infos))
    info = progress.wait_instance(cs, "i1", "create", bar=progress.Bar(out))
    assert info["status"] == "ACTIVE"
    lines = out.getvalue().splitlines()
    assert [line.split("]")[1].split("%")[0].strip() for line in lines] == [
        "10", "40", "70", "100"]
    assert "BUILD" in lines[0] and "%/s" in lines[0] and "ETA" in lines[0]


def test_restart_wait_fails_with_the_new_fault_not_an_old_one():
    old = {"message": "an old failure", "created": "2026-01-01T00:00:00"}
    new = {"message": "Restart failed: the database did not start",
           "created": "2026-01-02T00:00:00"}
    cs = SimpleNamespace(instances=Seq([
        {"status": "REBOOT", "fault": old}, {"status": "REBOOT", "fault": old},
        {"status": "ACTIVE", "fault": new}]))
    with pytest.raises(trove_exceptions.CommandError) as failed:
        progress.wait_instance(cs, "i1", "restart", bar=progress.Bar(io.StringIO()))
    assert "the database did not start" in str(failed.value)


def test_backup_wait_shows_the_guest_percent_and_fails_with_the_reason():
    out = io.StringIO()
    b = lambda status, p, reason=None: SimpleNamespace(  # noqa: E731
        status=status, progress=p, fail_reason=reason)
    cs = SimpleNamespace(backups=Seq([b("NEW", 0), b("BUILDING", 25.0), b("SAVING", 75.0),
                                      b("COMPLETED", 100.0)]))
    assert progress.wait_backup(cs, "b1", bar=progress.Bar(out)).status == "COMPLETED"
    assert [line.split("]")[1].split("%")[0].strip() for line in
            out.getvalue().splitlines()] == ["0", "25", "75", "100"]
    cs = SimpleNamespace(backups=Seq([b("BUILDING", 10.0), b("FAILED", 10.0, "disk full")]))
    with pytest.raises(trove_exceptions.CommandError, match="disk full"):
        progress.wait_backup(cs, "b1", bar=progress.Bar(io.StringIO()))


def test_a_failed_wait_exits_1_with_the_fault(monkeypatch, capsys):
    cs = SimpleNamespace(instances=Seq([{"id": "i1", "name": "db"},
                                        {"status": "REBOOT"},
                                        {"status": "ERROR", "fault": {"message": "boom"}}]))
    cs.instances.restart = lambda inst: None
    monkeypatch.setattr(cli_main, "make_client", lambda endpoint, timeout: cs)
    monkeypatch.setattr(cli_main, "find_instance", lambda cs_, ref: SimpleNamespace(id="i1"))
    assert cli_main.main(["restart", "db", "--wait"]) == 1
    assert "ERROR: restart of instance i1 failed: boom" in capsys.readouterr().err


def test_restore_wait_shows_the_guests_phase_and_never_goes_back():
    out = io.StringIO()
    build = {"status": "BUILD", "operating_status": "BUILDING", "ip": ["127.0.0.1"]}
    phases = [("restoring backup", 0.0), ("restoring backup", 50.0),
              ("restoring backup", 100.0), ("downloading binlog", 100.0),
              ("replaying binlog", 30.0), ("replaying binlog", 100.0)]
    infos = [dict(build, restore_progress={"phase": p, "percent": pct}) for p, pct in phases]
    infos.append(dict(build, operating_status="RUNNING"))  # restored; the server starts
    infos.append({"status": "ACTIVE", "operating_status": "HEALTHY", "ip": ["127.0.0.1"]})
    cs = SimpleNamespace(instances=Seq(infos[:1] + infos))
    assert progress.wait_instance(cs, "i1", "create", bar=progress.Bar(out))["status"] == \
        "ACTIVE"
    lines = out.getvalue().splitlines()
    percents = [int(line.split("]")[1].split("%")[0]) for line in lines]
    assert percents == [40, 60, 80, 85, 88, 95, 95, 100], lines
    assert "BUILD (restoring backup)" in lines[0] and "BUILD (replaying binlog)" in lines[4]
    assert "ETA" in lines[4]


def test_migration_show_wait_draws_the_bar_and_exits_1_when_the_migration_failed(
        monkeypatch, capsys):
    from trove_lite.cli import schema_migrations as cli_migrations
    shown = [{"id": "m1", "status": "RUNNING", "fail_reason": None, "progress": {
        "percent": 40.0, "rows_copied": 400, "rows_estimated": 1000, "eta_seconds": 6,
        "lag_seconds": 0.2, "copy_seconds": 2.0}},
        {"id": "m1", "status": "FAILED", "fail_reason": "critical-load reached",
         "progress": {"percent": 55.0}}]
    http = SimpleNamespace(get=lambda path: (None, {"schema_migration": shown.pop(0)}))
    cs = SimpleNamespace(instances=SimpleNamespace(api=SimpleNamespace(client=http)))
    monkeypatch.setattr(cli_migrations.time, "sleep", lambda s: None)
    monkeypatch.setattr(cli_main, "make_client", lambda endpoint, timeout: cs)
    monkeypatch.setattr(cli_migrations, "find_instance",
                        lambda cs_, ref: SimpleNamespace(id="i1"))
    assert cli_main.main(["migration-show", "db", "m1", "--wait"]) == 1
    err = capsys.readouterr().err
    assert "40.0% 400/1000 rows at 200 rows/s, lag 0.2s, ETA 6s RUNNING" in err
    assert "schema migration m1 FAILED: critical-load reached" in err


def test_upgrade_wait_follows_the_database_down_and_back_and_fails_on_a_rollback(
        monkeypatch, capsys):
    out = io.StringIO()
    infos = [{"status": "ACTIVE", "operating_status": "HEALTHY"},
             {"status": "UPGRADE", "operating_status": "HEALTHY"},
             {"status": "UPGRADE", "operating_status": "SHUTDOWN"},
             {"status": "UPGRADE", "operating_status": "HEALTHY"},
             {"status": "ACTIVE", "operating_status": "HEALTHY",
              "datastore": {"version": "11.8"}}]
    cs = SimpleNamespace(instances=Seq(infos))
    assert progress.wait_instance(cs, "i1", "upgrade", bar=progress.Bar(out))[
        "datastore"]["version"] == "11.8"
    assert [line.split("]")[1].split("%")[0].strip() for line in
            out.getvalue().splitlines()] == ["15", "50", "85", "100"]
    # rolled back: ACTIVE again on the old version, with the fault saying why
    rolled = {"message": "Upgrade from 10.11 to 11.8 failed and was rolled back: boom",
              "created": "2026-01-02T00:00:00"}
    cs = SimpleNamespace(instances=Seq([{"id": "i1", "name": "db"}, {"status": "UPGRADE"},
                                        {"status": "ACTIVE", "fault": rolled}]))
    asked = []
    cs.instances.upgrade = lambda inst, version: asked.append((inst.id, version))
    monkeypatch.setattr(cli_main, "make_client", lambda endpoint, timeout: cs)
    monkeypatch.setattr(cli_main, "find_instance", lambda cs_, ref: SimpleNamespace(id="i1"))
    assert cli_main.main(["upgrade", "db", "11.8", "--wait"]) == 1
    assert asked == [("i1", "11.8")]
    assert "failed and was rolled back: boom" in capsys.readouterr().err
