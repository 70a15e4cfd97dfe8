"""Every request-body schema of the API is strict: no unknown field passes, every
string is bounded, every integer is a bounded JSON integer."""

import pytest

from trove_lite.api import backup_schedules, backups, configurations, databases, mgmt, schemas
from trove_lite.exceptions import BadRequest

BODY_SCHEMAS = {
    "instance create": schemas.INSTANCE_CREATE,
    "instance update": schemas.INSTANCE_UPDATE,
    "instance edit": schemas.INSTANCE_EDIT,
    "instance action": schemas.INSTANCE_ACTION,
    "databases create": databases.DATABASES_CREATE,
    "users create": databases.USERS_CREATE,
    "passwords change": databases.PASSWORDS_CHANGE,
    "user update": databases.USER_UPDATE,
    "access grant": databases.ACCESS_GRANT,
    "root enable": databases.ROOT_ENABLE,
    "configuration create": configurations.CONFIGURATION_CREATE,
    "configuration change": configurations.CONFIGURATION_CHANGE,
    "backup create": backups.BACKUP_CREATE,
    "strategy create": backups.STRATEGY_CREATE,
    "quotas update": mgmt.QUOTAS_UPDATE,
    "mgmt action": mgmt.MGMT_ACTION,
    "backup schedule create": backup_schedules.SCHEDULE_CREATE,
    "backup schedule update": backup_schedules.SCHEDULE_UPDATE,
}


def walk(schema, path="body"):
    """(path, sub-schema) for every schema nested in ``schema``."""
    yield path, schema
    for key, sub in (schema.get("properties") or {}).items():
        yield from walk(sub, path + "/" + key)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from walk(schema[key], path + "/" + key)
    for sub in schema.get("oneOf", []):
        yield from walk(sub, path)


def types(schema):
    t = schema.get("type", [])
    return set([t] if isinstance(t, str) else t)


@pytest.mark.parametrize("name", sorted(BODY_SCHEMAS))
def test_schema_is_strict(name):
    for path, sub in walk(BODY_SCHEMAS[name]):
        if "object" in types(sub):
            assert "additionalProperties" in sub, "%s: %s accepts unknown fields" % (name, path)
        if "string" in types(sub):
            assert "maxLength" in sub, "%s: %s is an unbounded string" % (name, path)
            assert "pattern" in sub or "enum" in sub, "%s: %s takes control characters" % (
                name, path)
        if "integer" in types(sub):
            assert "maximum" in sub, "%s: %s is an unbounded integer" % (name, path)
        if "array" in types(sub):
            assert "maxItems" in sub, "%s: %s is an unbounded list" % (name, path)


@pytest.mark.parametrize("value", [1.0, 2.5, True, 10 ** 30, -1, "1.0", "x"])
def test_volume_size_is_a_bounded_integer(value):
    body = {"instance": {"name": "x", "volume": {"size": value}}}
    with pytest.raises(BadRequest, match="instance/volume/size"):
        schemas.validate(schemas.INSTANCE_CREATE, body)


@pytest.mark.parametrize("value", [1, "1", 2 ** 31 - 1])
def test_volume_size_accepts_what_trove_accepts(value):
    schemas.validate(schemas.INSTANCE_CREATE, {"instance": {"name": "x",
                                                            "volume": {"size": value}}})


@pytest.mark.parametrize("bad", ["a\x00b", "a\nb", "a\x7fb", "\x1b[31m"])
def test_names_refuse_control_characters(bad):
    with pytest.raises(BadRequest, match="control characters"):
        schemas.validate(schemas.INSTANCE_CREATE, {"instance": {"name": bad}})


def test_descriptions_keep_newlines_and_are_bounded():
    body = {"configuration": {"name": "c", "values": {}, "description": "line 1\nline 2"}}
    schemas.validate(configurations.CONFIGURATION_CREATE, body)
    body["configuration"]["description"] = "d" * 256
    with pytest.raises(BadRequest, match="longer than 255"):
        schemas.validate(configurations.CONFIGURATION_CREATE, body)


def test_an_error_message_does_not_echo_a_huge_value():
    with pytest.raises(BadRequest) as err:
        schemas.validate(schemas.INSTANCE_CREATE, {"instance": {"name": "\x00" * 100000}})
    assert len(str(err.value)) < 300
