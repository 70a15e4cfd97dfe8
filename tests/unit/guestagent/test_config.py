"""Config rendering per flavor size and configuration-group files (no server)."""

import os

import pytest

from trove_lite.exceptions import InvalidConfigurationValue, InvalidName
from trove_lite.guestagent.datastore.mariadb import config
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "..",
                        "templates", "mariadb", "config.template")


def rendered(ram, vcpus=1, server_id=7):
    text = config.render_config(TEMPLATE, {"ram": ram, "vcpus": vcpus}, server_id)
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, val = line.partition("=")
            values[key.strip()] = val.strip()
    return text, values


@pytest.mark.parametrize("ram, pool, conns", [
    (512, "128M", "100"),
    (2048, "1024M", "400"),
    (16384, "8192M", "3200"),
])
def test_sizes_scale_with_flavor_ram(ram, pool, conns):
    text, values = rendered(ram)
    assert text.lstrip().startswith("# Rendered") and "[mariadbd]" in text
    assert values["innodb_buffer_pool_size"] == pool
    assert values["max_connections"] == conns


def test_binlog_and_fixed_settings_present():
    _, values = rendered(1024, server_id=4242)
    assert values["server_id"] == "4242"
    for key, val in {"log_bin": "mysql-bin", "binlog_format": "ROW",
                     "binlog_row_image": "FULL", "binlog_row_metadata": "FULL",
                     "log_slave_updates": "ON", "gtid_strict_mode": "ON",
                     "innodb_log_file_size": "32M", "skip_name_resolve": "ON",
                     "performance_schema": "OFF", "event_scheduler": "ON"}.items():
        assert values[key] == val, key
    for placement in ("datadir", "socket", "port", "bind_address", "pid_file"):
        assert placement not in values


def test_bad_flavor_or_server_id_refused():
    with pytest.raises(InvalidConfigurationValue):
        config.render_config(TEMPLATE, {"ram": 0}, 1)
    with pytest.raises(InvalidConfigurationValue):
        config.render_config(TEMPLATE, {"ram": 512}, 0)


@pytest.mark.parametrize("value, text", [
    (True, "ON"), (False, "OFF"), (77, "77"), (2.5, "2.5"), ("ROW", "ROW"),
    ("STRICT_TRANS_TABLES,NO_ZERO_DATE", "STRICT_TRANS_TABLES,NO_ZERO_DATE"),
    ("a b", '"a b"'),
])
def test_option_values_formatted(value, text):
    assert config.format_option_value(value) == text


@pytest.mark.parametrize("value", ["x\ny", "q'x", 'q"x', "b\\s", [1], "caf\u00e9"])
def test_option_values_an_option_file_cannot_hold(value):
    with pytest.raises(InvalidConfigurationValue):
        config.format_option_value(value)


def test_parse_option_value():
    assert config.parse_option_value("64M") == 64 << 20
    assert config.parse_option_value("1g") == 1 << 30
    assert config.parse_option_value("100") == 100
    assert config.parse_option_value("2.5") == 2.5
    assert config.parse_option_value('"a b"') == "a b"
    assert config.parse_option_value("ROW") == "ROW"


def test_overrides_file_written_read_and_removed(tmp_path):
    server = MariaDBServer(str(tmp_path))
    server.write_config()
    config.write_template_config(server, "[mariadbd]\nmax_connections = 100\n"
                                         "wait_timeout = 600\n")
    path = config.write_overrides(server, {"max-connections": 250, "sql_mode": "ANSI"})
    assert os.path.basename(path) == "50-configuration-group.cnf"
    assert config.read_overrides(server) == {"max_connections": 250, "sql_mode": "ANSI"}
    # the group wins over the template; placement from my.cnf is there too
    values = config.file_values(server)
    assert values["max_connections"] == 250 and values["wait_timeout"] == 600
    assert values["port"] == 3306
    assert config.remove_overrides(server) is True
    assert config.file_values(server)["max_connections"] == 100
    assert config.write_overrides(server, {}) is None
    assert config.remove_overrides(server) is False


def test_bad_parameter_name_writes_nothing(tmp_path):
    server = MariaDBServer(str(tmp_path))
    with pytest.raises(InvalidName):
        config.write_overrides(server, {"max_connections": 10, "x;y": 1})
    assert config.read_overrides(server) == {}
