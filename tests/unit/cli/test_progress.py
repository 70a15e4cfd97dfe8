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
