"""The local compute driver's address range is its deployment's own: with a range
prefix (the default 127.77), each driver claims a /24 no other deployment holds,
keeps it across restarts, and takes over only claims whose deployment is gone."""

import os
import shutil

from trove_lite.drivers.compute.local import LocalComputeDriver


def _driver(tmp_path, name, claims, deployment_id="same-id-for-everyone"):
    # the same deployment id makes every driver start its search at the same /24:
    # the claim, not luck, must keep them apart
    return LocalComputeDriver(str(tmp_path / name), images=None, address_prefix="127.206",
                              deployment_id=deployment_id, claims_dir=str(claims))


def test_two_deployments_get_different_subnets_and_keep_them(tmp_path):
    claims = tmp_path / "claims"
    one, two = _driver(tmp_path, "one", claims), _driver(tmp_path, "two", claims)
    first, second = one.subnet(), two.subnet()
    assert first != second
    assert first.startswith("127.206.") and second.startswith("127.206.")
    # a restarted deployment finds its own /24 again
    assert _driver(tmp_path, "one", claims).subnet() == first
    # with its claim file gone (e.g. /tmp cleaned), it still prefers its /24
    shutil.rmtree(claims)
    assert _driver(tmp_path, "two", claims).subnet() == second


def test_claim_of_a_deployment_that_is_gone_is_taken_over(tmp_path):
    claims = tmp_path / "claims"
    gone = _driver(tmp_path, "gone", claims)
    subnet = gone.subnet()
    assert _driver(tmp_path, "other", claims).subnet() != subnet
    shutil.rmtree(tmp_path / "gone")
    assert _driver(tmp_path, "new", claims).subnet() == subnet


def test_a_full_subnet_prefix_is_used_as_given(tmp_path):
    d = LocalComputeDriver(str(tmp_path / "s"), images=None, address_prefix="127.206.9",
                           claims_dir=str(tmp_path / "claims"))
    assert d.subnet() == "127.206.9"
    assert not os.path.exists(tmp_path / "claims" / "127.206.9")
