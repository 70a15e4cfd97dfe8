"""Name rules: what a user may and may not call a database or a user."""

import pytest

from trove_lite.exceptions import BadRequest, InvalidName
from trove_lite.datastores.mariadb import validation as v

BAD_NAMES = ["with`backtick", "it's", 'dq"x', "semi;colon", "back\\slash", "a/b",
             "x" * 100, "caf\u00e9", "\u6570\u636e", "", " lead", "trail ", "nul\0x",
             "new\nline"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_database_names_refused(name):
    with pytest.raises(InvalidName) as err:
        v.validate_database_name(name)
    assert err.value.http_status == 400 and err.value.code == "invalid_name"


@pytest.mark.parametrize("name", BAD_NAMES + ["a@b"])
def test_bad_user_names_refused(name):
    with pytest.raises(InvalidName):
        v.validate_user_name(name)


@pytest.mark.parametrize("name", ["mysql", "MySQL", "information_schema", "performance_schema",
                                  "sys", "lost+found", "#mysql50#anything"])
def test_reserved_databases(name):
    with pytest.raises(InvalidName, match="reserved"):
        v.validate_database_name(name)


@pytest.mark.parametrize("name", ["root", "ROOT", "os_admin", "mariadb.sys", "mysql"])
def test_reserved_users(name):
    with pytest.raises(InvalidName, match="reserved"):
        v.validate_user_name(name)


@pytest.mark.parametrize("name", ["shop", "a_b", "my-db", "x.y", "db 2", "d" * 64, "100%"])
def test_good_database_names(name):
    assert v.validate_database_name(name) == name


def test_length_limits():
    with pytest.raises(InvalidName):
        v.validate_database_name("d" * 65)
    assert v.validate_user_name("u" * 80) == "u" * 80
    with pytest.raises(InvalidName):
        v.validate_user_name("u" * 81)
    with pytest.raises(InvalidName):
        v.validate_user_name("u" * 33, max_length=32)


@pytest.mark.parametrize("host", ["%", "10.0.0.5", "10.0.%", "192.168.0.0/255.255.255.0",
                                  "::1", "db.example.com"])
def test_good_hosts(host):
    assert v.validate_host(host) == host


@pytest.mark.parametrize("host", ["localhost", "a'b", "x;y", "h`", "h\u00e9", "a b", "h" * 61])
def test_bad_hosts(host):
    with pytest.raises(InvalidName):
        v.validate_host(host)


def test_missing_host_means_any():
    assert v.validate_host(None) == "%" and v.validate_host("") == "%"


def test_passwords():
    assert v.validate_password("p'w\"d;\\x") == "p'w\"d;\\x"
    for bad in ["", None, "x" * 129, "caf\u00e9", "a\nb"]:
        with pytest.raises(BadRequest):
            v.validate_password(bad)


def test_charset_and_collation_shape():
    assert v.validate_charset("utf8mb4") == "utf8mb4"
    assert v.validate_charset(None) is None
    for bad in ["utf8; DROP", "UTF8", "x" * 65]:
        with pytest.raises(BadRequest):
            v.validate_charset(bad)


def test_split_user_id_like_troveclient():
    assert v.split_user_id("bob@10.0.%") == ("bob", "10.0.%")
    assert v.split_user_id("bob") == ("bob", "%")
    assert v.split_user_id("bob@") == ("bob", "%")
    assert v.split_user_id("a@b@%") == ("a@b", "%")


def test_user_spec_normalised():
    spec = v.validate_user_spec({"name": "bob", "password": "pw",
                                 "databases": [{"name": "shop"}]})
    assert spec == {"name": "bob", "host": "%", "password": "pw", "databases": ["shop"]}
    with pytest.raises(InvalidName):
        v.validate_user_spec({"name": "bob", "password": "pw", "databases": [{"name": "a;b"}]})


def test_parameter_names():
    assert v.validate_parameter_name("max-connections") == "max_connections"
    for bad in ["max`x", "x;y", "", "9abc"]:
        with pytest.raises(InvalidName):
            v.validate_parameter_name(bad)
