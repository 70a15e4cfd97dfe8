"""The nftables script of instance access rules (a pure builder: no nft needed)."""

import logging

from trove_lite.drivers.compute import firewall


def test_each_restricted_instance_gets_one_reject_rule():
    script = firewall.ruleset("t1", [
        ("127.77.0.5", 3306, ("127.0.0.1/32", "10.0.0.0/8")),
        ("127.77.0.6", 3306, ("192.0.2.7",)),
    ])
    assert script.splitlines()[:2] == ["table inet t1", "delete table inet t1"]
    assert ("ip daddr 127.77.0.5 tcp dport 3306 ip saddr != { 10.0.0.0/8, 127.0.0.1/32 } "
            "reject with tcp reset") in script
    assert "ip daddr 127.77.0.6 tcp dport 3306 ip saddr != { 192.0.2.7/32 }" in script
    assert "type filter hook input priority filter; policy accept;" in script


def test_only_other_family_cidrs_refuse_every_source():
    script = firewall.ruleset("t1", [("127.77.0.5", 3306, ("2001:db8::/32",))])
    assert "ip daddr 127.77.0.5 tcp dport 3306 reject with tcp reset" in script


def test_no_restricted_instance_deletes_the_table():
    assert firewall.ruleset("t1", []) == "table inet t1\ndelete table inet t1\n"


def test_each_deployment_has_its_own_table():
    a, b = firewall.table_name("/srv/a"), firewall.table_name("/srv/b")
    assert a != b and a.startswith("trove_lite_") and len(a) <= 31


def test_not_enforced_says_so(caplog):
    fw = firewall.NotEnforced("no firewall here")
    assert fw.apply([("127.77.0.5", 3306, ("10.0.0.0/8",))]) is False
    assert "NOT enforced: no firewall here" in caplog.text


def test_a_failing_nft_is_reported_once_and_retried(tmp_path, caplog):
    nft = tmp_path / "nft"
    nft.write_text("#!/bin/sh\necho 'Operation not permitted' >&2\nexit 1\n")
    nft.chmod(0o755)
    fw = firewall.NftablesFirewall("t1", str(nft))
    entries = [("127.77.0.5", 3306, ("10.0.0.0/8",))]
    assert fw.apply(entries) is False and fw.apply(entries) is False
    # once at ERROR (what an operator sees); repeats go to DEBUG
    reported = [r for r in caplog.records if r.levelno >= logging.WARNING and
                "NOT enforced: nft failed on table t1: Operation not permitted" in r.getMessage()]
    assert len(reported) == 1
