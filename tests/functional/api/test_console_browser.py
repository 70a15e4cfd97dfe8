"""The web console in real headless Chromium (Debian's chromium and chromium-driver
through selenium): it lists a tenant's instances and nobody else's, draws the
replication graph with lag on each edge, and a running backup's progress bar moves
as the conductor records progress. A screenshot is saved under tests/artifacts/."""

import json
import os
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
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


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
    from selenium.webdriver.common.by import By
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
    rows = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#instances tr[data-id]"),
                 what="the instance list")
    assert sorted(r.find_element(By.TAG_NAME, "a").text for r in rows) == sorted(names)
    assert "other-tenants-db" not in browser.page_source
    by_name = {r.find_element(By.TAG_NAME, "a").text: r.text for r in rows}
    assert "BACKUP HEALTHY" in by_name["shop-db"] and "source (2 replicas)" in by_name["shop-db"]
    assert "ACTIVE HEALTHY" in by_name["shop-r1"] and "replica of shop-db" in by_name["shop-r1"]

    browser.get(api_env.url + "/console/#/instances/" + ids[0])
    graph = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#topology-graph"),
                  what="the replication graph")[0]
    assert len(graph.find_elements(By.CSS_SELECTOR, "line.edge")) == 2
    lags = sorted(t.text for t in graph.find_elements(By.CSS_SELECTOR, "text.lag"))
    assert lags == ["lag 0.5 s", "lag 7 s"]
    assert {"shop-db", "shop-r1", "shop-r2"} <= {
        t.text.split(" (")[0] for t in graph.find_elements(By.TAG_NAME, "text")}

    def width():
        fills = browser.find_elements(By.CSS_SELECTOR, "#backup-table .fill")
        return float(browser.execute_script("return arguments[0].style.width", fills[0])
                     .rstrip("%")) if fills else None
    seen = [_wait(width, what="the backup bar")]
    for percent in (30.0, 60.0):
        _progress(api_env, backup_id, percent)
        seen.append(_wait(lambda: width() if width() and width() >= percent else None,
                          what="the bar to reach %s%%" % percent))
    assert seen[0] < seen[1] < seen[2], seen
    throughput = browser.find_element(By.CSS_SELECTOR, "#backup-table .throughput").text
    assert "%/s" in throughput and "ETA" in throughput
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "console-instance.png")
    assert browser.save_screenshot(shot) and os.path.getsize(shot) > 1000

    # another tenant's instance, asked for by id, is not found: nothing of it shows
    browser.get(api_env.url + "/console/#/instances/" + secret.id)
    err = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#main .err"),
                what="the not-found message")
    assert "could not be found" in err[0].text
    assert "other-tenants-db" not in browser.page_source


@pytest.mark.parametrize("api_env", ["sqlite"], indirect=True)
def test_console_actions_create_restart_backup_delete(api_env, tenant, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    browser.get(api_env.url + "/console/?tenant=" + tenant)
    form = _wait(lambda: browser.find_elements(By.ID, "create"), what="the create form")[0]
    form.find_element(By.NAME, "name").send_keys("from-the-console")
    # the list refreshes every 5 s; what the user typed survives it
    table = _wait(lambda: browser.find_elements(By.ID, "instances"), what="the list")[0]

    def replaced():
        try:
            table.tag_name
            return False
        except StaleElementReferenceException:
            return True
    _wait(replaced, timeout=8, what="a refresh of the list")
    assert form.find_element(By.NAME, "name").get_attribute("value") == "from-the-console"
    flavor = form.find_element(By.NAME, "flavor")
    flavor.clear()
    flavor.send_keys("1")
    form.find_element(By.TAG_NAME, "button").click()
    _wait(lambda: "#/instances/" in browser.current_url, what="the new instance's page")
    iid = browser.current_url.rsplit("/", 1)[1]
    assert api_env.recorder.wait_for("create_instance", iid)
    assert api_env.client(tenant).instances.get(iid).name == "from-the-console"
    api_env.make_active(iid)

    browser.refresh()
    _wait(lambda: "ACTIVE" in browser.find_element(By.ID, "title").text, what="ACTIVE")
    browser.find_element(By.ID, "restart").click()
    assert api_env.recorder.wait_for("restart_instance", iid)
    api_env.make_active(iid)
    _wait(lambda: "ACTIVE" in browser.find_element(By.ID, "title").text, what="ACTIVE again")
    browser.find_element(By.ID, "backup").click()
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#backup-table tr[data-id]"),
          what="the new backup in the table")
    assert [b.instance_id for b in api_env.client(tenant).backups.list()] == [iid]
    with api_env.db.session() as s:  # let the delete through: the backup ended
        s.execute(update(models.Backup).where(models.Backup.instance_id == iid).values(
            status="COMPLETED", progress=100.0))

    browser.find_element(By.ID, "delete").click()
    browser.switch_to.alert.accept()
    assert api_env.recorder.wait_for("delete_instance", iid)
    _wait(lambda: browser.current_url.endswith("#/"), what="back to the list")
