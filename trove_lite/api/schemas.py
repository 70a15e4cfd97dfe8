"""JSON Schemas of request bodies, the helpers that build them, and ``validate()``.

Every body schema is strict, built from the helpers below:

- ``obj(...)`` refuses unknown fields (``additionalProperties: false``);
- ``name(n)`` / ``text(n)`` are bounded by their column (``n``) and refuse
  NUL and other control characters (``text`` allows newlines and tabs);
- ``integer(lo, hi)`` is a bounded JSON integer: ``1.0`` is not one (stock
  jsonschema draft 7 says it is), and ``10**30`` is out of range, not an
  OverflowError in the database layer.

Shapes follow what python-troveclient and ``openstack database`` send:
e.g. OSC always sends ``volume.type`` (null when unset),
``nics: []`` and ``access: {"is_public": false}``. Types and sizes are
checked here; meaning (does the flavor exist, may the user have that
database) is the service's job. ``tests/unit/api/test_schemas.py`` walks
every schema to keep it strict.
"""

from typing import Any
from collections.abc import Iterable

import jsonschema

from trove_lite.exceptions import BadRequest
from trove_lite.datastores.mariadb import validation as mariadb

# no C0 control characters, no DEL; lone surrogates are refused before any schema
NO_CONTROL = "^[^\\x00-\\x1f\\x7f]*$"
NO_CONTROL_BUT_WHITESPACE = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"
INT32_MAX = 2 ** 31 - 1


def name(max_length: int, min_length: int = 1, nullable: bool = False) -> dict[str, Any]:
    schema = {"type": ["string", "null"] if nullable else "string",
              "minLength": min_length, "maxLength": max_length, "pattern": NO_CONTROL}
    return schema


def text(max_length: int, nullable: bool = True) -> dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string",
            "maxLength": max_length, "pattern": NO_CONTROL_BUT_WHITESPACE}


def integer(minimum: int, maximum: int = INT32_MAX, nullable: bool = False) -> dict[str, Any]:
    return {"type": ["integer", "null"] if nullable else "integer",
            "minimum": minimum, "maximum": maximum}


def array(items: dict[str, Any], max_items: int = 100, min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items, "maxItems": max_items}


def obj(required: Iterable[str] = (), min_properties: int = 0, max_properties: int | None = None,
        **properties: Any) -> dict[str, Any]:
    """A strict object: only ``properties``, the ``required`` ones present."""
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if min_properties:
        schema["minProperties"] = min_properties
    if max_properties is not None:
        schema["maxProperties"] = max_properties
    return schema


ID = name(36)
NULLABLE_ID = name(36, nullable=True)
EMPTY = obj()
# Trove accepts sizes and flavor ids as numbers or as digit strings
VOLUME_SIZE = {"oneOf": [integer(1), {"type": "string", "maxLength": 9,
                                          "pattern": "^[0-9]{1,9}$"}]}
FLAVOR_REF = {"oneOf": [name(255), integer(0)]}

DATABASE_NAME = name(mariadb.DATABASE_NAME_MAX)
USER_NAME = name(mariadb.USER_NAME_MAX)
HOST = name(mariadb.HOST_MAX, nullable=True)
PASSWORD = name(mariadb.PASSWORD_MAX, min_length=0)
CHARSET = name(64, nullable=True)

DATABASE = obj(["name"], name=DATABASE_NAME, character_set=CHARSET, collate=CHARSET)
DATABASE_REF = obj(["name"], name=DATABASE_NAME)
USER = obj(["name", "password"], name=USER_NAME, password=PASSWORD, host=HOST,
           databases=array(DATABASE_REF))
# CIDRs are parsed by the service (ipaddress); here only their shape and count
ACCESS = obj(is_public={"type": "boolean"},
             allowed_cidrs=array(name(43), max_items=50))
DATASTORE = obj(type=name(255, nullable=True), version=name(255, nullable=True),
                version_number=name(255, nullable=True))

INSTANCE_NAME = name(255)
_NIC: dict[str, Any] = {"net-id": name(36, nullable=True), "v4-fixed-ip": name(15),
                         "port-id": name(36, nullable=True), "network_id": ID,
                         "subnet_id": ID, "ip_address": name(45)}
INSTANCE_CREATE_FIELDS: dict[str, Any] = {
    "name": INSTANCE_NAME,
    "flavorRef": FLAVOR_REF,
    "volume": obj(["size"], size=VOLUME_SIZE, type=name(255, nullable=True)),
    "datastore": DATASTORE,
    "databases": array(DATABASE),
    "users": array(USER),
    # backupRef, or instanceRef + restoreTime (point in time): checked by the service
    "restorePoint": obj(min_properties=1, backupRef=name(255), instanceRef=name(255),
                        restoreTime=name(40)),
    "availability_zone": name(255, nullable=True),
    # any network but the deployment's own is refused by the service
    "nics": array(obj(**_NIC), max_items=8),
    "configuration": NULLABLE_ID,
    "replica_of": NULLABLE_ID,
    "replica_count": integer(1, 16, nullable=True),
    "modules": array(obj(id=ID), max_items=20),
    "locality": name(32, nullable=True),
    "region_name": name(255, nullable=True),
    "access": ACCESS,
}
INSTANCE_CREATE = obj(["instance"], instance=obj(["name"], **INSTANCE_CREATE_FIELDS))

INSTANCE_UPDATE = obj(["instance"], instance=obj(
    name=INSTANCE_NAME, configuration=NULLABLE_ID, replica_of={"type": "null"},
    access=ACCESS, durability=name(16)))

INSTANCE_EDIT = obj(["instance"], instance=obj(
    min_properties=1, datastore_version=name(255), name=INSTANCE_NAME,
    configuration=NULLABLE_ID, replica_of={"type": "null"}, durability=name(16)))

INSTANCE_ACTION = obj(
    min_properties=1, max_properties=1,
    restart=EMPTY,
    reset_status=EMPTY,
    resize=obj(min_properties=1, max_properties=1, flavorRef=FLAVOR_REF,
               volume=obj(["size"], size=VOLUME_SIZE)),
    promote_to_replica_source=EMPTY,
    eject_replica_source=EMPTY,
)


def _is_strict_integer(_checker: object, instance: object) -> bool:
    # JSON integers only: not bool (a Python int subclass), not 1.0
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine(
        "integer", _is_strict_integer))


def _field(error: jsonschema.exceptions.ValidationError) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    return path or "body"


def _detail(error: jsonschema.exceptions.ValidationError) -> str:
    if error.validator == "oneOf" and error.context:
        return "%r is not valid here (%s)" % (
            _short(error.instance), "; ".join(sorted({e.message for e in error.context})))
    if error.validator == "pattern":
        return "control characters are not allowed"
    if error.validator == "maxLength":
        return "longer than %d characters" % error.validator_value
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed",
                                     "unknown field(s)")
    return error.message if len(error.message) < 300 else error.message[:300] + "..."


def _short(value: object) -> str:
    text_ = repr(value)
    return text_ if len(text_) < 60 else text_[:60] + "..."


def validate(schema: dict[str, Any], body: Any) -> Any:
    """Return ``body`` if it matches ``schema``; else BadRequest naming the field."""
    error = jsonschema.exceptions.best_match(_Validator(schema).iter_errors(body))
    if error is None:
        return body
    raise BadRequest(reason="invalid input for field '%s': %s" % (_field(error),
                                                                   _detail(error)))
