"""The pure decisions of datastore logs: statuses, pending bytes, the conf.d file,
and the guest's reads and rotation on real files."""

import base64
import os
import types

import pytest

from trove_lite.exceptions import BadRequest, NotFound
from trove_lite.guestagent import logs as guest_logs
from trove_lite.guestagent.state import GuestState
from trove_lite.instance import logs as service


@pytest.mark.parametrize("log_type,enabled,pending,size,expected", [
    ("SYS", False, False, 0, "Unavailable"),
    ("SYS", False, False, 10, "Ready"),
    ("USER", False, False, 10, "Disabled"),
    ("USER", True, False, 0, "Enabled"),
    ("USER", True, False, 5, "Ready"),
    ("USER", True, True, 5, "Restart Required"),
])
def test_guest_status(log_type, enabled, pending, size, expected):
    assert guest_logs.decide_status(log_type, enabled, pending, size) == expected


@pytest.mark.parametrize("guest,published,pending,rotated,expected", [
    ("Ready", 0, 10, False, "Ready"),
    ("Ready", 10, 0, False, "Published"),
    ("Ready", 10, 5, False, "Partial"),
    ("Ready", 10, 5, True, "Rotated"),
    ("Disabled", 10, 0, False, "Disabled"),
    ("Restart Required", 10, 0, False, "Restart Required"),
])
def test_trove_status(guest, published, pending, rotated, expected):
    assert service.log_status(guest, published, pending, rotated) == expected


def test_pending_counts_from_the_offset_of_the_same_file_only():
    meta = dict(service.empty_meta(), file_id="1:2", offset=100)
    assert service.pending_bytes(meta, {"file_id": "1:2", "size": 150}) == 50
    assert service.pending_bytes(meta, {"file_id": "1:3", "size": 30}) == 30


def test_conf_keeps_the_switches_and_files():
    text = guest_logs.render_conf({"general"}, {"general": "/v/logs/general.log",
                                                "slow_query": "/v/logs/slow_query.log"})
    assert "general_log = ON" in text and "slow_query_log = OFF" in text
    assert "general_log_file = /v/logs/general.log" in text


def test_unknown_name_is_not_found():
    with pytest.raises(NotFound):
        guest_logs.check_name("../../etc/passwd")


def _logs(tmp_path, max_size=100, keep=2):
    return guest_logs.GuestLogs(lambda: None, GuestState(str(tmp_path / "state.json")),
                                lambda: str(tmp_path),
                                lambda: str(tmp_path / "guest.log"), max_size, keep)


def test_sys_log_refuses_enable(tmp_path):
    with pytest.raises(BadRequest):
        _logs(tmp_path).set_enabled("guest", True)


def test_reads_continue_from_the_offset_and_restart_after_rotation(tmp_path):
    logs = _logs(tmp_path)
    path = tmp_path / "guest.log"
    path.write_bytes(b"a" * 60)
    first = logs.read("guest", 0, 40)
    assert base64.b64decode(first["data"]) == b"a" * 40 and first["next_offset"] == 40
    second = logs.read("guest", 40, 40, first["file_id"])
    assert base64.b64decode(second["data"]) == b"a" * 20 and not second["rotated"]
    os.replace(path, str(path) + ".1")
    path.write_bytes(b"new\n")
    third = logs.read("guest", 60, 40, first["file_id"])
    assert third["rotated"] and base64.b64decode(third["data"]) == b"new\n"


@pytest.mark.parametrize("size,read_to_end,expected", [
    (50, True, False), (150, True, True), (150, False, False), (401, False, True)])
def test_rotation_decision(size, read_to_end, expected):
    assert guest_logs.should_rotate(size, 100, read_to_end) is expected


class _NoServer:
    def connect(self):
        raise __import__("pymysql").MySQLError("no server")


def test_a_read_to_the_end_rotates_loses_nothing_and_keeps_a_bound(tmp_path):
    logs = guest_logs.GuestLogs(_NoServer, GuestState(str(tmp_path / "state.json")),
                                lambda: str(tmp_path),
                                lambda: None, max_size=10, keep=2)
    path = tmp_path / "logs" / "general.log"
    path.parent.mkdir()
    for round_ in range(4):
        path.write_bytes(b"%d" % round_ * 30)
        part = logs.read("general", 0, 20, None)
        assert part["next_offset"] == 20 and part["file_id"]  # not at the end: kept
        rest = logs.read("general", 20, 20, part["file_id"])
        # the end of a file past max_size: rotated, the rest handed over with it
        assert base64.b64decode(rest["data"]) == b"%d" % round_ * 10
        assert rest["next_offset"] == 0 and rest["file_id"] is None
    assert sorted(os.listdir(path.parent)) == ["general.log.1", "general.log.2"]


def test_maintain_rotates_an_unpublished_log_past_the_hard_bound(tmp_path):
    logs = guest_logs.GuestLogs(_NoServer, GuestState(str(tmp_path / "state.json")),
                                lambda: str(tmp_path),
                                lambda: None, max_size=10, keep=2)
    path = tmp_path / "logs" / "general.log"
    path.parent.mkdir()
    path.write_bytes(b"y" * 30)
    logs.maintain()
    assert path.exists()  # under 4 x max_size: waits for a publish
    path.write_bytes(b"y" * 41)
    logs.maintain()
    assert not path.exists() and (path.parent / "general.log.1").exists()


def test_published_objects_open_only_with_the_tenants_key_under_their_own_name():
    from cryptography.exceptions import InvalidTag
    blob = service.LogCipher("tenant-a-key").encrypt(b"SELECT 1\n", "i/general/log-000001")
    assert b"SELECT" not in blob
    assert service.LogCipher("tenant-a-key").decrypt(
        blob, "i/general/log-000001") == b"SELECT 1\n"
    for key, name in (("tenant-b-key", "i/general/log-000001"),
                      ("tenant-a-key", "i/general/log-000002")):
        with pytest.raises(InvalidTag):
            service.LogCipher(key).decrypt(blob, name)


@pytest.mark.parametrize("statement", [
    b"CREATE USER 'u1'@'%' IDENTIFIED BY 'Sekret1'",
    b"SET PASSWORD FOR 'u1'@'%' = PASSWORD('Sek''ret\\'1')",
    b'alter user u1 identified by "Sekret1"',
    b"SET PASSWORD = 'Sekret1'",
    b"CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='Sekret1', MASTER_PORT=3306",
    b"CREATE USER a IDENTIFIED VIA mysql_native_password USING PASSWORD('Sekret1')",
])
def test_password_literals_never_leave_the_guest(statement):
    redacted = guest_logs.redact(b"\t5 Query\t" + statement + b"\n")
    assert b"Sekret1" not in redacted and b"ret" not in redacted.split(b"<secret>")[-1]
    assert b"'<secret>'" in redacted


def test_other_statements_pass_unchanged():
    text = b"SELECT 'IDENTIFIED BY', password FROM t WHERE x = 'PASSWORD'\n"
    assert guest_logs.redact(text) == text


def test_full_pieces_end_on_a_whole_line(tmp_path):
    logs = _logs(tmp_path)
    (tmp_path / "guest.log").write_bytes(b"line one\nline two IDENTIFIED BY 'pw'\n")
    piece = logs.read("guest", 0, 20)
    assert base64.b64decode(piece["data"]) == b"line one\n" and piece["next_offset"] == 9
    assert not piece["at_end"]
    rest = logs.read("guest", 9, 100, piece["file_id"])
    assert base64.b64decode(rest["data"]) == b"line two IDENTIFIED BY '<secret>'\n"
    assert rest["at_end"]


def test_redaction_keeps_every_other_byte():
    lines = [b"SELECT %d\n" % i for i in range(50)]
    lines[10] = b"GRANT ALL ON *.* TO a IDENTIFIED BY 'one'\n"
    lines[11] = b"SET PASSWORD = PASSWORD('two') -- password\n"
    lines[49] = b"ALTER USER b IDENTIFIED BY 'three'"  # no newline at the end
    out = guest_logs.redact(b"".join(lines))
    expected = list(lines)
    expected[10] = b"GRANT ALL ON *.* TO a IDENTIFIED BY '<secret>'\n"
    expected[11] = b"SET PASSWORD = PASSWORD('<secret>') -- password\n"
    expected[49] = b"ALTER USER b IDENTIFIED BY '<secret>'"
    assert out == b"".join(expected)


def test_enable_on_a_server_that_is_down_waits_for_the_restart(tmp_path):
    from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer
    server = MariaDBServer(str(tmp_path / "srv"), bind_address="127.0.0.1", port=1)
    app = type("App", (), {"server": server, "connect": lambda self: server.connect(
        connect_timeout=1)})()
    logs = guest_logs.GuestLogs(lambda: app, GuestState(str(tmp_path / "state.json")),
                                lambda: str(tmp_path / "vol"), lambda: None, 10, 2)
    assert logs.set_enabled("slow_query", True)["status"] == "Restart Required"
    conf = (tmp_path / "srv" / "conf.d" / guest_logs.CONF_NAME).read_text()
    assert "slow_query_log = ON" in conf and "general_log = OFF" in conf
    logs.after_restart()
    assert logs.describe("slow_query")["status"] == "Enabled"


# -- where publish puts logs -------------------------------------------------------------
def test_auto_store_is_the_tenants_swift_only_with_keystone_and_swift():
    assert service.pick_store("auto", "keystone", "swift") == "tenant_swift"
    assert service.pick_store("auto", "noauth", "swift") == "deployment"
    assert service.pick_store("auto", "keystone", "local") == "deployment"
    assert service.pick_store("deployment", "keystone", "swift") == "deployment"
    assert service.pick_store("tenant_swift", "noauth", "local") == "tenant_swift"


def test_tenant_account_url_from_swift_url_or_the_catalog():
    v2 = [{"type": "identity", "endpoints": [{"publicURL": "http://ks/v3"}]},
          {"type": "object-store", "endpoints": [
              {"region": "Other", "publicURL": "http://far/v1/AUTH_p"},
              {"region": "RegionOne", "publicURL": "http://swift/v1/AUTH_p"}]}]
    v3 = [{"type": "object-store", "endpoints": [
        {"interface": "internal", "url": "http://int/v1/AUTH_p", "region_id": "RegionOne"},
        {"interface": "public", "url": "http://pub/v1/AUTH_p", "region_id": "RegionOne"}]}]
    assert service.tenant_storage_url(None, v2, "p", "RegionOne") == "http://swift/v1/AUTH_p"
    assert service.tenant_storage_url(None, v3, "p") == "http://pub/v1/AUTH_p"
    assert service.tenant_storage_url("http://s:8080/v1/AUTH_", v2, "p1") == \
        "http://s:8080/v1/AUTH_p1"
    assert service.tenant_storage_url("http://s/v1/KEY_%(project_id)s/", None, "p1") == \
        "http://s/v1/KEY_p1/"
    assert service.tenant_storage_url(None, [{"type": "compute", "endpoints": []}], "p") \
        is None
    assert service.tenant_storage_url(None, None, "p") is None


def test_tenant_swift_store_needs_a_token_and_an_endpoint():
    conf = types.SimpleNamespace(
        logs=types.SimpleNamespace(store="tenant_swift", swift_url=None,
                                   container="database_logs"),
        storage_swift=types.SimpleNamespace(region_name=None, retries=1, timeout=5.0))
    svc = service.LogService(conf, None, None)
    with pytest.raises(BadRequest, match="Keystone token"):
        svc.store("p", service.UserAuth())
    with pytest.raises(BadRequest, match="object-store endpoint"):
        svc.store("p", service.UserAuth(token="t", catalog=[]))
    store = svc.store("p", service.UserAuth(token="t", catalog=[
        {"type": "object-store", "endpoints": [{"publicURL": "http://swift/v1/AUTH_p"}]}]))
    assert store.storage_url == "http://swift/v1/AUTH_p" and not store.encrypted


def test_an_unreachable_tenant_swift_is_a_clear_503():
    store = service.TenantSwiftStore("database_logs", "http://127.0.0.1:1/v1/AUTH_p",
                                     "tok-SECRET",
                                     retries=0, timeout=2)
    with pytest.raises(service.LogStoreError, match="unreachable") as err:
        store.put("i/general/log-000001", b"SELECT 1\n", 1)
    assert err.value.http_status == 503
    assert "tok-SECRET" not in str(err.value)
