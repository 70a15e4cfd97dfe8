"""Which exchange and topics a deployment uses (rpc/transport.py isolate)."""

from trove_lite import config
from trove_lite.rpc import transport


def test_unset_names_derive_from_the_deployment_id():
    conf = config.make_conf([])
    chosen = transport.isolate(conf, "0123456789abcdef0123456789abcdef")
    assert conf.control_exchange == "trove_lite_0123456789ab"
    assert conf.taskmanager.topic == "trove-lite-taskmanager.0123456789ab"
    assert conf.conductor.topic == "trove-lite-conductor.0123456789ab"
    assert len(chosen) == 3
    other = config.make_conf([])
    transport.isolate(other, "fedcba9876543210fedcba9876543210")
    assert other.taskmanager.topic != conf.taskmanager.topic


def test_names_the_operator_set_are_kept(tmp_path):
    conf_file = tmp_path / "t.conf"
    conf_file.write_text("[DEFAULT]\ncontrol_exchange = mine\n[taskmanager]\ntopic = tm-mine\n")
    conf = config.make_conf([], config_files=[str(conf_file)])
    transport.isolate(conf, "0123456789abcdef0123456789abcdef")
    assert (conf.control_exchange, conf.taskmanager.topic) == ("mine", "tm-mine")
    assert conf.conductor.topic == "trove-lite-conductor.0123456789ab"
