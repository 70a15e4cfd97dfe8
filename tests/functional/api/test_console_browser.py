"""The web console in real headless Chromium (Debian's chromium and chromium-driver
through selenium): it lists a tenant's instances and nobody else's, draws the
replication graph with lag on each edge, and a running backup's progress bar moves
as the conductor records progress. A screenshot is saved under tests/artifacts/."""

import datetime
import json
import os
import re
import shutil
import time
import uuid

import pytest
from sqlalchemy import update

from trove_lite.db import models

ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "..", "artifacts")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="chromium and chromium-driver are not installed")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1280,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations show there
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(predicate, timeout=10, what="condition"):
    """``predicate()`` until it is true. The console redraws its parts on timers, so an
    element found a moment ago may be gone (stale) or not drawn yet: that counts as
    "not yet", and the predicate finds its elements again on the next try."""
    from selenium.common.exceptions import (NoAlertPresentException, NoSuchElementException,
                                            StaleElementReferenceException)
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
        except (StaleElementReferenceException, NoSuchElementException,
                NoAlertPresentException) as e:
            value, last = None, e
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for %s (last: %r)" % (what, last)
        time.sleep(0.1)


def _click(browser, css, what=None):
    """Click the element ``css`` names, found afresh (a redraw may replace it)."""
    from selenium.webdriver.common.by import By
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, css).click() or True,
          what=what or "a click on " + css)


def _confirm(browser):
    _wait(lambda: browser.switch_to.alert, what="the confirmation").accept()


# Read in one script, so a redraw cannot land between finding a row and reading it
ROWS = ("return Array.from(document.querySelectorAll(arguments[0]), (tr) => "
        "({id: tr.dataset.id, cells: Array.from(tr.cells, (c) => c.textContent)}))")
TEXTS = "return Array.from(document.querySelectorAll(arguments[0]), (e) => e.textContent)"
WIDTHS = ("return Array.from(document.querySelectorAll(arguments[0]), "
          "(e) => parseFloat(e.style.width))")


def _rows(browser, css):
    """{data-id: [cell texts]} of the table rows ``css`` selects."""
    return {r["id"]: r["cells"] for r in browser.execute_script(ROWS, css)}


def _texts(browser, css):
    return browser.execute_script(TEXTS, css)


def _replicating(api_env, replica_id, source_id, lag):
    with api_env.db.session() as s:
        s.execute(update(models.Instance).where(models.Instance.id == replica_id).values(
            slave_of_id=source_id))
        s.execute(update(models.ServiceStatus).where(
            models.ServiceStatus.instance_id == replica_id).values(replication=json.dumps(
                {"role": "replica", "lag_seconds": lag, "source_id": source_id})))


def _progress(api_env, backup_id, percent):
    with api_env.db.session() as s:
        s.execute(update(models.Backup).where(models.Backup.id == backup_id).values(
            status="SAVING", progress=percent))


@pytest.mark.parametrize("api_env", ["sqlite"], indirect=True)
def test_console_lists_draws_the_topology_and_moves_the_backup_bar(api_env, tenant, browser):
    client = api_env.client(tenant)
    names = ["shop-db", "shop-r1", "shop-r2"]
    ids = [client.instances.create(n, "1", volume={"size": 1}, datastore="mariadb",
                                   datastore_version="10.11").id for n in names]
    for iid in ids:
        api_env.make_active(iid)
    _replicating(api_env, ids[1], ids[0], 0.5)
    _replicating(api_env, ids[2], ids[0], 7)
    other = "t" + uuid.uuid4().hex[:12]
    secret = api_env.client(other).instances.create(
        "other-tenants-db", "1", volume={"size": 1}, datastore="mariadb",
        datastore_version="10.11")
    with api_env.db.session() as s:
        backup = models.Backup(name="nightly", tenant_id=tenant, instance_id=ids[0],
                               status="BUILDING", progress=5.0)
        s.add(backup)
        s.flush()
        backup_id = backup.id

    browser.get(api_env.url + "/console/?tenant=" + tenant)
    # the list is drawn page by page ("Instances (n…)"), then whole ("Instances (n)")
    _wait(lambda: re.fullmatch(r"Instances \(\d+\)", "".join(_texts(browser, "#list h2"))),
          what="the whole list")
    rows = {cells[0]: " ".join(cells) for cells in _rows(browser, "#instances tr[data-id]")
            .values()}
    assert sorted(rows) == sorted(names)
    assert "other-tenants-db" not in browser.page_source
    assert "BACKUP HEALTHY" in rows["shop-db"] and "source (2 replicas)" in rows["shop-db"]
    assert "ACTIVE HEALTHY" in rows["shop-r1"] and "replica of shop-db" in rows["shop-r1"]

    browser.get(api_env.url + "/console/#/instances/" + ids[0])
    _wait(lambda: _texts(browser, "#topology-graph"), what="the replication graph")
    assert len(_texts(browser, "#topology-graph line.edge")) == 2
    assert sorted(_texts(browser, "#topology-graph text.lag")) == ["lag 0.5 s", "lag 7 s"]
    assert {"shop-db", "shop-r1", "shop-r2"} <= {
        t.split(" (")[0] for t in _texts(browser, "#topology-graph text")}

    def width():
        widths = browser.execute_script(WIDTHS, "#backup-table .fill")
        return widths[0] if widths else None
    seen = [_wait(width, what="the backup bar")]
    for percent in (30.0, 60.0):
        _progress(api_env, backup_id, percent)
        seen.append(_wait(lambda: width() if width() and width() >= percent else None,
                          what="the bar to reach %s%%" % percent))
    assert seen[0] < seen[1] < seen[2], seen
    throughput = _texts(browser, "#backup-table .throughput")[0]
    assert "%/s" in throughput and "ETA" in throughput
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "console-instance.png")
    assert browser.save_screenshot(shot) and os.path.getsize(shot) > 1000

    # another tenant's instance, asked for by id, is not found: nothing of it shows
    browser.get(api_env.url + "/console/#/instances/" + secret.id)
    err = _wait(lambda: _texts(browser, "#main .err"), what="the not-found message")
    assert "could not be found" in err[0]
    assert "other-tenants-db" not in browser.page_source


@pytest.mark.parametrize("api_env", ["sqlite"], indirect=True)
def test_console_actions_create_restart_backup_delete(api_env, tenant, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    browser.get(api_env.url + "/console/?tenant=" + tenant)
    name = "#create [name=name]"
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, name).send_keys(
        "from-the-console") or True, what="the create form")
    # the list refreshes every 5 s; what the user typed survives it
    table = _wait(lambda: browser.find_elements(By.ID, "instances"), what="the list")[0]

    def replaced():
        try:
            table.tag_name
            return False
        except StaleElementReferenceException:
            return True
    _wait(replaced, timeout=8, what="a refresh of the list")
    assert browser.find_element(By.CSS_SELECTOR, name).get_attribute("value") == \
        "from-the-console"
    flavor = browser.find_element(By.CSS_SELECTOR, "#create [name=flavor]")
    flavor.clear()
    flavor.send_keys("1")
    _click(browser, "#create button")
    _wait(lambda: "#/instances/" in browser.current_url, what="the new instance's page")
    iid = browser.current_url.rsplit("/", 1)[1]
    assert api_env.recorder.wait_for("create_instance", iid)
    assert api_env.client(tenant).instances.get(iid).name == "from-the-console"
    api_env.make_active(iid)

    browser.refresh()
    title = "#title"
    _wait(lambda: "ACTIVE" in "".join(_texts(browser, title)), what="ACTIVE")
    _click(browser, "#restart")
    assert api_env.recorder.wait_for("restart_instance", iid)
    api_env.make_active(iid)
    _wait(lambda: "ACTIVE" in "".join(_texts(browser, title)), what="ACTIVE again")
    _click(browser, "#backup")  # the page may be redrawn after the restart: found afresh
    _wait(lambda: _rows(browser, "#backup-table tr[data-id]"),
          what="the new backup in the table")
    assert [b.instance_id for b in api_env.client(tenant).backups.list()] == [iid]
    with api_env.db.session() as s:  # let the delete through: the backup ended
        s.execute(update(models.Backup).where(models.Backup.instance_id == iid).values(
            status="COMPLETED", progress=100.0))

    _click(browser, "#delete")
    _confirm(browser)
    assert api_env.recorder.wait_for("delete_instance", iid)
    _wait(lambda: browser.current_url.endswith("#/"), what="back to the list")


class _GuestStandIn:
    """The instance's guest on the bus (sealed, as GuestAPI calls it): records the
    schema-migration actions the console sends and answers as a guest would."""

    def __init__(self):
        import oslo_messaging as messaging
        self.target = messaging.Target(version="1.17")
        self.actions = []

    def schema_migration_action(self, ctxt, migration_id, action, values=None):
        self.actions.append((migration_id, action))
        return {"status": "RUNNING"}


def _guest(api_env, instance_id):
    from trove_lite.rpc import guest as guest_rpc, sealed, transport
    key = sealed.control_key_for(api_env.conf)
    endpoint = sealed.SealedEndpoint(
        stand_in := _GuestStandIn(), lambda iid: key(iid) if iid == instance_id else None,
        sealed.TO_GUEST, sealed.window_of(api_env.conf))
    server = transport.make_server(api_env.conf, guest_rpc.guest_topic(instance_id), "guest",
                                   [endpoint])
    server.start()
    return stand_in, server


def _restorable(api_env, tenant, instance_id, now):
    """What the conductor stores from the guest's archive reports: two completed
    backups, the binlog archive after each, and a gap between them."""
    t0 = int(now) - 7200
    at = datetime.datetime.fromtimestamp  # naive UTC, like the columns

    def backup(name, done, binlog_file, pos):
        return models.Backup(name=name, tenant_id=tenant, instance_id=instance_id,
                             status="COMPLETED", created=at(done - 60, datetime.UTC)
                             .replace(tzinfo=None), updated=at(done, datetime.UTC)
                             .replace(tzinfo=None), meta=json.dumps({"binlog": {
                                 "binlog_file": binlog_file, "binlog_position": pos}}))

    def segment(kind, seq, start, end, first, last, detail=None):
        return models.BinlogSegment(instance_id=instance_id, kind=kind,
                                    file="mysql-bin.%06d" % seq, file_seq=seq,
                                    start_pos=start, end_pos=end, first_ts=first,
                                    last_ts=last, events=10, detail=detail)
    with api_env.db.session() as s:
        first, second = backup("monday", t0, "mysql-bin.000001", 100), \
            backup("tuesday", t0 + 3600, "mysql-bin.000003", 50)
        s.add_all([first, second,
                   segment("data", 1, 0, 1000, t0 - 100, t0 + 600),
                   segment("gap", 2, 0, 0, None, None, "the archiver was stopped"),
                   segment("data", 3, 0, 500, t0 + 3500, t0 + 4000),
                   models.BinlogArchive(instance_id=instance_id, state="ACTIVE",
                                        caught_up_at=t0 + 5000)])
        s.flush()
        return second.id


def _migration(api_env, tenant, instance_id, status, **progress):
    with api_env.db.session() as s:
        row = models.SchemaMigration(tenant_id=tenant, instance_id=instance_id,
                                     database_name="shop", table_name="orders",
                                     alter="add column note text", status=status,
                                     progress=json.dumps(progress) if progress else None)
        s.add(row)
        s.flush()
        return row.id


def _set_migration(api_env, migration_id, **values):
    with api_env.db.session() as s:
        s.execute(update(models.SchemaMigration).where(
            models.SchemaMigration.id == migration_id).values(**values))


@pytest.mark.parametrize("api_env", ["sqlite"], indirect=True)
def test_console_schedules_restorable_window_and_schema_migrations(api_env, tenant, browser):
    from selenium.webdriver.common.by import By
    client = api_env.client(tenant)
    iid = client.instances.create("ledger", "1", volume={"size": 1}, datastore="mariadb",
                                  datastore_version="10.11").id
    api_env.make_active(iid)
    newest_backup = _restorable(api_env, tenant, iid, time.time())
    running = _migration(api_env, tenant, iid, "RUNNING", percent=42.0, rows_copied=420,
                         rows_estimated=1000, eta_seconds=12, lag_seconds=0.4)
    postponed = _migration(api_env, tenant, iid, "POSTPONED", percent=100.0,
                           rows_copied=1000, rows_estimated=1000, eta_seconds=0,
                           lag_seconds=0.2)
    done = _migration(api_env, tenant, iid, "COMPLETED", percent=100.0)
    guest, server = _guest(api_env, iid)
    try:
        browser.get(api_env.url + "/console/?tenant=%s#/instances/%s" % (tenant, iid))

        # -- the restorable window, as the instance's show states it ----------------
        window = client.instances.get(iid)._info["restorable_window"]
        assert len(window["gaps"]) == 1, window
        _wait(lambda: _texts(browser, "#window .earliest"), what="the restorable window")
        assert _texts(browser, "#window .earliest") == [window["earliest"]]
        assert _texts(browser, "#window .latest") == [window["latest"]]
        gap = _texts(browser, "#window .gaps")[0]
        assert window["gaps"][0]["from"] in gap and window["gaps"][0]["to"] in gap
        assert "the archiver was stopped" in gap

        # -- schema migrations: bars, ETA, lag, the actions each one allows --------
        rows = _wait(lambda: _rows(browser, "#migration-table tr[data-id]"),
                     what="the migrations")
        assert set(rows) == {running, postponed, done}
        widths = browser.execute_script(WIDTHS, "#migration-table .fill")
        assert sorted(widths) == [42.0, 100.0, 100.0]
        assert "420 / 1000" in rows[running] and "12 s" in rows[running]
        assert "0.4 s" in rows[running]
        buttons = {m: _texts(browser, '#migration-table tr[data-id="%s"] button' % m)
                   for m in rows}
        assert buttons == {running: ["Abort"], postponed: ["Cut over", "Abort"], done: []}

        _set_migration(api_env, running, progress=json.dumps(
            {"percent": 80.0, "rows_copied": 800, "rows_estimated": 1000, "eta_seconds": 3,
             "lag_seconds": 0.1}))
        _wait(lambda: 80.0 in browser.execute_script(WIDTHS, "#migration-table .fill"),
              what="the migration bar to move to 80%")
        _click(browser, '#migration-table tr[data-id="%s"] .cut-over' % postponed)
        _wait(lambda: (postponed, "cut_over") in guest.actions, what="the cut-over")
        _click(browser, '#migration-table tr[data-id="%s"] .abort' % running)
        _confirm(browser)
        _wait(lambda: (running, "abort") in guest.actions, what="the abort")
        assert len(guest.actions) == 2, guest.actions
        # the conductor records what the guest then reports
        _set_migration(api_env, postponed, status="COMPLETED")
        _wait(lambda: "COMPLETED" in _rows(browser, "#migration-table tr[data-id]")
              [postponed], what="the cut-over done")
        assert _texts(browser, '#migration-table tr[data-id="%s"] button' % postponed) == []

        # -- backup schedules: create, see the next run and last result, delete -----
        form = "#schedule-create "
        browser.find_element(By.CSS_SELECTOR, form + "[name=schedule-name]").send_keys(
            "nightly")
        pattern = browser.find_element(By.CSS_SELECTOR, form + "[name=pattern]")
        pattern.clear()
        pattern.send_keys("30 2 * * *")
        _click(browser, form + "button")
        rows = _wait(lambda: _rows(browser, "#schedule-table tr[data-id]"),
                     what="the new schedule")
        (sid, cells), = rows.items()
        made = client.backups.api.client.get("/backup_schedules/" + sid)[1]["backup_schedule"]
        assert made["instance_id"] == iid and made["pattern"] == "30 2 * * *"
        assert made["next_run"].endswith("T02:30:00")
        assert made["next_run"] in cells and "never" in cells and "last 7" in cells
        with api_env.db.session() as s:  # what the scheduler records after a run
            s.execute(update(models.BackupSchedule).where(models.BackupSchedule.id == sid)
                      .values(last_result="started backup nightly-1",
                              last_backup_id=newest_backup))
        _wait(lambda: "started backup nightly-1; backup COMPLETED" in _texts(
            browser, "#schedule-table .last-result"), what="the last result")
        _click(browser, "#schedule-table .delete-schedule")
        _confirm(browser)
        _wait(lambda: not _rows(browser, "#schedule-table tr[data-id]"),
              what="the schedule gone")
        assert client.backups.api.client.get(
            "/backup_schedules?instance_id=" + iid)[1]["backup_schedules"] == []
        os.makedirs(ARTIFACTS, exist_ok=True)
        assert browser.save_screenshot(os.path.join(ARTIFACTS, "console-pitr-migrations.png"))

        # -- restore to a point: a time in the gap is refused with the window stated ---
        when = browser.find_element(By.CSS_SELECTOR, "#restore-create [name=restore-time]")
        assert when.get_attribute("value") == window["latest"]  # offered by default
        when.clear()
        in_gap = datetime.datetime.strptime(window["gaps"][0]["from"], "%Y-%m-%dT%H:%M:%SZ") \
            + datetime.timedelta(seconds=60)
        when.send_keys(in_gap.strftime("%Y-%m-%dT%H:%M:%SZ"))
        _click(browser, "#restore-create button")
        refusal = _wait(lambda: _texts(browser, "#restore-create .err"), what="the refusal")
        assert "outside what can be restored" in refusal[0] and window["latest"] in refusal[0]
        when = browser.find_element(By.CSS_SELECTOR, "#restore-create [name=restore-time]")
        when.clear()
        when.send_keys(window["latest"])
        _click(browser, "#restore-create button")
        _wait(lambda: "#/instances/" in browser.current_url
              and not browser.current_url.endswith(iid), what="the restored instance's page")
        restored = browser.current_url.rsplit("/", 1)[1]
        assert api_env.recorder.wait_for("create_instance", restored)["backup_id"] == \
            newest_backup
        assert client.instances.get(restored).name == "ledger-restored"
        # the strict CSP held: nothing the new sections draw was refused
        refused = [e["message"] for e in browser.get_log("browser")
                   if "Content Security Policy" in e["message"]]
        assert refused == []
    finally:
        server.stop()
        server.wait()
