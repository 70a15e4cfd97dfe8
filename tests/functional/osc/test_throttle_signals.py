"""Throttle signals from outside the server, through the real command line:
``--throttle-http`` (an operator's endpoint says when to pause) and
``--critical-load`` with its interval and hibernation (gh-ost's three ways to
react to a server in trouble). Load is made with real extra sessions, which
``Threads_connected`` counts."""

import time

import pytest

from tests.functional.osc import support
from tests.support.http_stub import StatusEndpoint
from tests.support.net import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def kw(mariadb_factory):
    server = mariadb_factory(area=201)
    kw = support.prepare(server)
    support.create_table(kw, "t", 20000)
    return kw


def _slow_engine(kw, table, log, *flags):
    """The engine on ``table`` copying 100 rows a chunk with a pause as long as each
    chunk: a 20,000-row copy takes long enough to watch it held."""
    return support.start_engine(support.engine_cmd(
        kw, table, "add column extra int", "--chunk-size=100", "--nice-ratio=1", *flags), log)


def _copy_lines(log):
    return [ln for ln in open(log).read().splitlines() if ln.startswith("Copy: ")]


def _assert_no_rows_copied_for(log, seconds):
    time.sleep(seconds)
    held = _copy_lines(log)[-3:]
    assert all("throttled" in ln for ln in held), held
    assert len({ln.split(";")[0] for ln in held}) == 1, "rows were copied while throttled"


def _threads_connected(kw):
    c = support.connect(kw)
    with c.cursor() as cur:
        cur.execute("show global status like 'Threads_connected'")
        n = int(cur.fetchone()[1])
    c.close()
    return n


def _close(conns):
    for c in conns:
        if c.open:
            c.close()


@pytest.fixture
def endpoint():
    with StatusEndpoint(503) as ep:
        yield ep


def test_throttle_http_pauses_the_copy_until_the_endpoint_says_200(kw, endpoint, tmp_path):
    log = str(tmp_path / "engine.log")
    proc = _slow_engine(kw, "t", log, "--throttle-http=%s" % endpoint.url,
                        "--throttle-http-interval-millis=50")
    try:
        support.wait_log(log, "State: throttled, http=503", proc, timeout=30)
        _assert_no_rows_copied_for(log, 2.5)
        assert endpoint.heads >= 20            # polled every 50 ms, not once
        endpoint.code = 200
        assert proc.wait(120) == 0, open(log).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")


def test_unreachable_throttle_http_throttles_unless_errors_are_ignored(kw, tmp_path):
    dead = "http://127.0.0.1:%d/" % free_port()
    log = str(tmp_path / "strict.log")
    proc = support.start_engine(support.engine_cmd(
        kw, "t", "add column extra int", "--chunk-size=100", "--throttle-http=%s" % dead), log)
    try:
        support.wait_log(log, "State: throttled, http=-1", proc, timeout=30)
    finally:
        proc.kill()
        proc.wait()
    lenient = str(tmp_path / "lenient.log")
    proc = support.start_engine(support.engine_cmd(
        kw, "t", "add column extra int", "--throttle-http=%s" % dead, "--ignore-http-errors",
        "--initially-drop-ghost-table", "--initially-drop-old-table"), lenient)
    assert proc.wait(120) == 0, open(lenient).read()[-3000:]
    assert "http=" not in open(lenient).read()


def test_critical_load_interval_survives_a_spike_and_panics_on_a_lasting_one(kw, tmp_path):
    """The cut-over is postponed (flag file) in both runs, so neither migration can
    finish before the second look, however fast the machine copies."""
    limit = _threads_connected(kw) + 12      # the engine's own sessions stay below it
    spike = [support.connect(kw) for _ in range(20)]
    log = str(tmp_path / "spike.log")
    flag = tmp_path / "postpone.flag"
    flag.write_text("")
    proc = _slow_engine(kw, "t", log, "--critical-load=Threads_connected=%d" % limit,
                        "--critical-load-interval-millis=1500",
                        "--postpone-cut-over-flag-file=%s" % flag)
    try:
        support.wait_log(log, "critical-load met once: Threads_connected=", proc, timeout=30)
        _close(spike)                        # gone before the second look
        support.wait_log(log, "critical-load no longer met after 1500 millis", proc,
                         timeout=30)
        support.wait_log(log, "postponing cut-over", proc, timeout=120)
        flag.unlink()
        assert proc.wait(120) == 0, open(log).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")

    support.create_table(kw, "u", 20000)
    lasting = [support.connect(kw) for _ in range(20)]
    log = str(tmp_path / "lasting.log")
    flag.write_text("")
    proc = _slow_engine(kw, "u", log, "--critical-load=Threads_connected=%d" % limit,
                        "--critical-load-interval-millis=1000",
                        "--postpone-cut-over-flag-file=%s" % flag)
    try:
        assert proc.wait(60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        _close(lasting)
    text = open(log).read()
    assert "critical-load met again after 1000 millis: Threads_connected=" in text, text[-3000:]
    assert "Done migrating" not in text


def test_critical_load_hibernate_stops_all_writes_then_finishes(kw, tmp_path):
    limit = _threads_connected(kw) + 12
    crowd = [support.connect(kw) for _ in range(20)]
    log = str(tmp_path / "engine.log")
    proc = _slow_engine(kw, "t", log, "--critical-load=Threads_connected=%d" % limit,
                        "--critical-load-hibernate-seconds=4")
    try:
        support.wait_log(log, "State: throttled, critical-load-hibernate until", proc,
                         timeout=30)
        c = support.connect(kw)
        with c.cursor() as cur:
            cur.execute("select value from _t_ghc where hint = 'heartbeat'")
            beat = cur.fetchone()[0]
            _assert_no_rows_copied_for(log, 1.5)
            cur.execute("select value from _t_ghc where hint = 'heartbeat'")
            assert cur.fetchone()[0] == beat, "the heartbeat kept writing while hibernating"
        c.close()
        _close(crowd)
        assert proc.wait(120) == 0, open(log).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        _close(crowd)
    text = open(log).read()
    assert "Will hibernate for the duration of 4s" in text
    assert "panic" not in text.lower()
    assert support.checksum(kw, "t") == support.checksum(kw, "_t_del")
