#!/usr/bin/env python3
"""First paint of the web console's instance list with many instances, beside a baseline.

    .venv/bin/python benchmarks/console.py [--instances 200] [--runs 5]

Headless Chromium (selenium) opens ``/console/?tenant=T`` of an API (SQLite control
database) holding ``--instances`` ACTIVE instances of that tenant. Printed per run,
in milliseconds from navigation start: first contentful paint, and when the table of
all instances is in the page (the console's ``instances-rendered`` mark, after its
``/instances/detail`` pages arrived). Baseline, measured in the same run and browser:
a static HTML file holding the same table, already rendered (its first paint is the
browser's floor for a page of that size).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

from tests.functional.api.conftest import seed  # noqa: E402
from trove_lite.api import server as api_server  # noqa: E402
from trove_lite.api import wsgi  # noqa: E402
from trove_lite.config import make_conf  # noqa: E402
from trove_lite.db import models  # noqa: E402
from trove_lite.db.session import Database  # noqa: E402

FCP = ("return (performance.getEntriesByName('first-contentful-paint')[0] || {})"
       ".startTime")
MARK = "return (performance.getEntriesByName('instances-rendered')[0] || {}).startTime"


def populate(db, ids, tenant, n):
    with db.session() as s:
        for i in range(n):
            inst = models.Instance(name="db-%03d" % i, tenant_id=tenant, flavor_id="1",
                                   datastore_version_id=ids["10.11"], volume_size=1,
                                   address="127.77.9.%d" % (i % 250 + 1), task_status="NONE")
            s.add(inst)
            s.flush()
            s.add(models.ServiceStatus(instance_id=inst.id, status="HEALTHY"))


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1280,1000"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def wait_for(driver, script, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value is not None:
            return value
        time.sleep(0.02)
    raise RuntimeError("timed out: " + script)


def static_table(path, n):
    rows = "".join("<tr><td><a href='#'>db-%03d</a></td><td>ACTIVE</td><td>HEALTHY</td>"
                   "<td>mariadb 10.11</td><td></td><td>127.77.9.%d</td></tr>"
                   % (i, i % 250 + 1) for i in range(n))
    with open(path, "w") as f:
        f.write("<!doctype html><html><head><meta charset='utf-8'><title>t</title></head>"
                "<body><header><h1>trove-lite</h1></header><main><table>%s</table>"
                "</main></body></html>" % rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--instances", type=int, default=200)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="trove-lite-bench-console-")
    db = Database("sqlite:///" + os.path.join(tmp, "control.sqlite"))
    db.sync()
    tenant = "bench-" + uuid.uuid4().hex[:8]
    populate(db, seed(db), tenant, args.instances)
    conf = make_conf(overrides={"state_dir": tmp})
    server = api_server.serve(conf, wsgi.make_app(conf, db, None), "127.0.0.1", 0)
    baseline = os.path.join(tmp, "baseline.html")
    static_table(baseline, args.instances)
    driver = browser()
    ours_fcp, ours_table, base_fcp = [], [], []
    try:
        for run in range(args.runs):
            driver.get("file://" + baseline)
            base_fcp.append(wait_for(driver, FCP))
            driver.get("%s/console/?tenant=%s&run=%d" % (server.url, tenant, run))
            ours_table.append(wait_for(driver, MARK))
            ours_fcp.append(wait_for(driver, FCP))
            rows = driver.execute_script(
                "return document.querySelectorAll('#instances tr[data-id]').length")
            assert rows == args.instances, rows
            print("run %d: console first paint %6.0f ms, all %d instances shown %6.0f ms; "
                  "baseline static table first paint %6.0f ms"
                  % (run + 1, ours_fcp[-1], args.instances, ours_table[-1], base_fcp[-1]))
    finally:
        driver.quit()
        server.shutdown()
        db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    print("median: console first paint %.0f ms, instance list shown %.0f ms (target < 1000); "
          "baseline static first paint %.0f ms"
          % (statistics.median(ours_fcp), statistics.median(ours_table),
             statistics.median(base_fcp)))


if __name__ == "__main__":
    main()
