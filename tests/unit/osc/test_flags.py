import pytest

from trove_lite.osc import flags
from trove_lite.osc.context import Tunables, request_from_flags


def test_go_syntax_equals_space_bare_bool_and_last_value_wins():
    values, given, rest = flags.parse([
        "--host", "10.0.0.1", "-port=3307", "--alter=engine=innodb", "--execute",
        "--chunk-size=10", "--chunk-size", "500", "--allow-on-master=false", "--nice-ratio=0.5"])
    assert values["host"] == "10.0.0.1" and values["port"] == 3307
    assert values["alter"] == "engine=innodb"       # only the first '=' separates
    assert values["execute"] is True
    assert values["chunk-size"] == 500
    assert values["allow-on-master"] is False
    assert values["nice-ratio"] == 0.5
    assert "chunk-size" in given and rest == []


def test_bool_does_not_consume_next_argument():
    values, _, rest = flags.parse(["--execute", "extra"])
    assert values["execute"] is True and rest == ["extra"]


def test_unknown_flag_is_rejected_with_go_wording():
    with pytest.raises(flags.FlagError, match="flag provided but not defined: -no-such-flag"):
        flags.parse(["--no-such-flag"])


def test_no_abbreviations():
    with pytest.raises(flags.FlagError, match="not defined: -exec"):
        flags.parse(["--exec"])


def test_bad_int_value():
    with pytest.raises(flags.FlagError, match='invalid value "ten" for flag -chunk-size'):
        flags.parse(["--chunk-size=ten"])


def test_missing_argument():
    with pytest.raises(flags.FlagError, match="flag needs an argument: -table"):
        flags.parse(["--table"])


def test_every_harness_flag_is_known():
    harness = ("host port user password database table alter allow-on-master exact-rowcount "
               "assume-rbr skip-metadata-lock-check initially-drop-old-table "
               "initially-drop-ghost-table throttle-query throttle-flag-file serve-socket-file "
               "initially-drop-socket-file postpone-cut-over-flag-file default-retries "
               "chunk-size verbose debug stack execute approve-renamed-columns "
               "panic-on-warnings include-triggers trigger-suffix "
               "remove-trigger-suffix-if-exists allow-zero-in-date discard-foreign-keys gtid "
               "analyze-ghost-table-before-cutover attempt-instant-ddl checkpoint "
               "checkpoint-seconds resume nice-ratio dml-batch-size "
               "cut-over-lock-timeout-seconds test-on-replica migrate-on-replica "
               "assume-master-host switch-to-rbr max-lag-millis max-load critical-load "
               "hooks-path serve-tcp-port").split()
    assert [f for f in harness if f not in flags.FLAGS] == []


def test_tunables_clamp_like_gh_ost():
    t = Tunables({"chunk-size": 5, "dml-batch-size": 1000, "max-load": "Threads_running=25"})
    assert t.chunk_size == 10 and t.dml_batch_size == 100
    assert t.max_load == {"Threads_running": 25.0}
    t.set_chunk_size(10 ** 9)
    assert t.chunk_size == 100000


def test_request_clamps_cut_over_timeout():
    values, _, _ = flags.parse(["--database=d", "--table=t", "--alter=x",
                                "--cut-over-lock-timeout-seconds=60"])
    req = request_from_flags(values)
    assert req.cut_over_lock_timeout_seconds == 10 and req.table == "t"
