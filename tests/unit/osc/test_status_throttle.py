from trove_lite.osc import status
from trove_lite.osc.throttler import CriticalLoad, Decision, HttpCheck, Metrics, decide


def _snap(**kw):
    base = dict(rows_copied=500, rows_estimate=1000, dml_applied=7, backlog=2, backlog_size=1000,
                elapsed=75, copy_elapsed=10, coords="mysql-bin.000001:1234", lag=0.1,
                heartbeat_lag=0.12, state="migrating", copy_complete=False)
    base.update(kw)
    return status.StatusSnapshot(**base)


def test_status_line_as_gh_ost_prints_it():
    assert status.status_line(_snap()) == (
        "Copy: 500/1000 50.0%; Applied: 7; Backlog: 2/1000; Time: 1m15s(total), 10s(copy); "
        "streamer: mysql-bin.000001:1234; Lag: 0.10s, HeartbeatLag: 0.12s, State: migrating; "
        "ETA: 10s")


def test_eta_na_and_due():
    assert status.eta(_snap(rows_copied=0)) == "N/A"
    line = status.status_line(_snap(copy_complete=True, state="postponing cut-over"))
    assert "100.0%" in line and "ETA: due" in line and "State: postponing cut-over" in line


def test_go_durations():
    assert [status.go_duration(s) for s in (0, 45, 65, 3723)] == ["0s", "45s", "1m5s", "1h2m3s"]


def test_print_cadence_every_second_then_less_often():
    assert all(status.should_print(s, s - 1) for s in range(1, 61))
    assert not status.should_print(61, 60) and status.should_print(65, 60)
    assert not status.should_print(200, 180) and status.should_print(210, 180)
    assert not status.should_print(5.5, 5)


T = {"max_lag_millis": 1500, "max_load": {"Threads_running": 20},
     "critical_load": {"Threads_running": 100}, "user_throttle": False}


def test_throttle_decisions():
    assert decide(Metrics(), T) == Decision(False)
    assert decide(Metrics(heartbeat_lag=2.0), T).reason.startswith("lag=")
    assert decide(Metrics(throttle_query_result=1), T).reason == "throttle-query"
    assert decide(Metrics(flag_files=("/f",)), T).reason == "flag-file"
    assert decide(Metrics(status={"Threads_running": 25}), T).reason.startswith("max-load")
    assert decide(Metrics(), dict(T, user_throttle=True)).reason == "commanded by user"


def test_control_replica_lag_throttles():
    lagging = Metrics(replica_lags=(("r1:3306", 0.2), ("r2:3307", 2.5)))
    assert decide(lagging, T) == Decision(True, "r2:3307 replica-lag=2.500000s")
    assert decide(Metrics(replica_lags=(("r1:3306", 0.2),)), T) == Decision(False)
    # a replica we cannot read is not assumed to be fine
    assert decide(Metrics(replica_lags=(("r1:3306", None),)), T).reason == \
        "r1:3306 replica-lag unknown"
    from trove_lite.osc.context import parse_replicas
    assert parse_replicas("h1:3307, h2") == [("h1", 3307), ("h2", 3306)]


def test_panic_file_panics_and_critical_load_is_reported_with_the_other_reasons():
    assert decide(Metrics(panic_flag_exists=True), T).panic == "Found panic-file; aborting"
    d = decide(Metrics(status={"Threads_running": 100}, throttle_query_result=1), T)
    assert d.critical == "Threads_running=100, >=100" and d.reason == "throttle-query"
    assert decide(Metrics(status={"Threads_running": 99}), T).critical == ""


def test_throttle_http_status_other_than_200_throttles():
    assert decide(Metrics(http_status=200), T) == Decision(False)
    assert decide(Metrics(http_status=0), T) == Decision(False)  # not configured
    assert decide(Metrics(http_status=503), T).reason == "http=503"
    assert decide(Metrics(http_status=-1), T).reason == "http=-1"  # unreachable


class _Log:
    def __init__(self):
        self.lines = []

    def _add(self, fmt, *args):
        self.lines.append(fmt % args)

    info = error = debug = warning = _add


MET = "Threads_running=100, >=100"


def test_critical_load_panics_at_once_by_default():
    c = CriticalLoad(0, 0, _Log())
    assert c.react("", 10.0) is None
    assert c.react(MET, 10.0).panic == "critical-load met: " + MET


def test_critical_load_interval_looks_again_before_panicking():
    log = _Log()
    c = CriticalLoad(500, 0, log)
    assert c.react(MET, 10.0) is None and not c.recheck_due(10.4)
    assert log.lines == ["critical-load met once: %s. Will check again in 500 millis" % MET]
    assert c.react(MET, 10.2) is None                # waiting for the second look
    assert c.recheck_due(10.5)
    assert c.react("", 10.5) is None                 # gone: the migration goes on
    assert c.react(MET, 20.0) is None                # met once more: a new first look
    assert c.react(MET, 20.5).panic == "critical-load met again after 500 millis: " + MET


def test_critical_load_hibernate_throttles_for_the_period_then_looks_again():
    log = _Log()
    c = CriticalLoad(0, 3, log)
    d = c.react(MET, 100.0)
    assert d.throttle and d.reason.startswith("critical-load-hibernate until ")
    assert "Will hibernate for the duration of 3s" in log.lines[0]
    assert c.hibernating(102.9) and c.react("", 102.9).throttle
    assert not c.hibernating(103.0) and c.react("", 103.0) is None
    assert c.react(MET, 104.0).throttle and c.hibernating(106.9)   # never a panic


def test_http_check_reads_the_status_and_errors():
    from tests.support.http_stub import StatusEndpoint

    with StatusEndpoint(200) as ep:
        check = HttpCheck(ep.url, 100, 1000, False, _Log())
        assert check.check() == 200
        ep.code = 429
        assert check.check() == 429
    assert check.check() == -1                       # nobody listens any more
    lenient = HttpCheck(ep.url, 100, 1000, True, _Log())
    assert lenient.check() == 0                      # --ignore-http-errors: no signal


def test_a_panic_stays_until_the_migrator_looks():
    """critical-load met again -> panic; the load then drops (or a new first look
    starts): the published decision must still be the panic."""
    import threading

    from trove_lite.osc.context import Tunables
    from trove_lite.osc.throttler import Throttler

    t = Throttler(None, "test", Tunables(), lambda: 0.0, "", _Log())
    decisions = iter([Decision(False, panic="critical-load met again after 500 millis: x"),
                      Decision(False), Decision(True, "throttle-query")])
    t.evaluate = lambda: next(decisions)
    runner = threading.Thread(target=t._run, daemon=True)
    runner.start()
    runner.join(2)
    assert not runner.is_alive()
    assert t.current.panic.startswith("critical-load met again")
