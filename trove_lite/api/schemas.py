"""JSON Schemas of request bodies, and ``validate()`` mapping a mismatch to 400.

Shapes follow what python-troveclient and ``openstack database`` send (see
docs/trove-api.md): e.g. OSC always sends ``volume.type`` (null when unset),
``nics: []`` and ``access: {"is_public": false}``. Types are checked here;
meaning (does the flavor exist, is the name valid) is the service's job.
"""

import jsonschema

from trove_lite.exceptions import BadRequest

NON_EMPTY_STRING = {"type": "string", "minLength": 1, "maxLength": 255}
# Trove accepts sizes and flavor ids as numbers or as digit strings
VOLUME_SIZE = {"oneOf": [{"type": "integer", "minimum": 1},
                         {"type": "string", "pattern": "^[0-9]{1,16}$"}]}
FLAVOR_REF = {"oneOf": [NON_EMPTY_STRING, {"type": "integer"}]}

DATABASE = {
    "type": "object", "required": ["name"],
    "properties": {"name": {"type": "string"},
                   "character_set": {"type": ["string", "null"]},
                   "collate": {"type": ["string", "null"]}},
}
USER = {
    "type": "object", "required": ["name", "password"],
    "properties": {"name": {"type": "string"},
                   "password": {"type": "string"},
                   "host": {"type": ["string", "null"]},
                   "databases": {"type": "array", "items": {
                       "type": "object", "required": ["name"],
                       "properties": {"name": {"type": "string"}}}}},
}
ACCESS = {
    "type": "object",
    "properties": {"is_public": {"type": "boolean"},
                   "allowed_cidrs": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": False,
}

INSTANCE_CREATE = {
    "type": "object", "required": ["instance"],
    "properties": {"instance": {
        "type": "object", "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "flavorRef": FLAVOR_REF,
            "volume": {"type": "object", "required": ["size"],
                       "properties": {"size": VOLUME_SIZE,
                                      "type": {"type": ["string", "null"]}}},
            "datastore": {"type": "object",
                          "properties": {"type": {"type": ["string", "null"]},
                                         "version": {"type": ["string", "null"]},
                                         "version_number": {"type": ["string", "null"]}}},
            "databases": {"type": "array", "items": DATABASE},
            "users": {"type": "array", "items": USER},
            "restorePoint": {"type": "object", "required": ["backupRef"],
                             "properties": {"backupRef": NON_EMPTY_STRING}},
            "availability_zone": {"type": ["string", "null"]},
            "nics": {"type": "array", "items": {"type": "object"}},
            "configuration": {"type": ["string", "null"]},
            "replica_of": {"type": ["string", "null"]},
            "replica_count": {"type": ["integer", "null"], "minimum": 1},
            "modules": {"type": "array", "items": {"type": "object"}},
            "locality": {"type": ["string", "null"]},
            "region_name": {"type": ["string", "null"]},
            "access": ACCESS,
        },
    }},
}

INSTANCE_UPDATE = {
    "type": "object", "required": ["instance"],
    "properties": {"instance": {
        "type": "object",
        "properties": {"name": {"type": "string"},
                       "configuration": {"type": ["string", "null"]},
                       "replica_of": {"type": "null"},
                       "access": ACCESS},
    }},
}

INSTANCE_ACTION = {
    "type": "object", "minProperties": 1, "maxProperties": 1,
    "properties": {
        "restart": {"type": "object"},
        "reset_status": {"type": "object"},
        "resize": {"type": "object", "minProperties": 1, "maxProperties": 1,
                   "properties": {"flavorRef": FLAVOR_REF,
                                  "volume": {"type": "object", "required": ["size"],
                                             "properties": {"size": VOLUME_SIZE}}},
                   "additionalProperties": False},
        "promote_to_replica_source": {"type": "object"},
        "eject_replica_source": {"type": "object"},
    },
    "additionalProperties": False,
}


def _field(error):
    path = "/".join(str(p) for p in error.absolute_path)
    return path or "body"


def validate(schema, body):
    """Return ``body`` if it matches ``schema``; else BadRequest naming the field."""
    validator = jsonschema.Draft7Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is None:
        return body
    if error.validator == "oneOf" and error.context:
        detail = "%r is not valid here (%s)" % (
            error.instance, "; ".join(sorted({e.message for e in error.context})))
    else:
        detail = error.message
    raise BadRequest(reason="invalid input for field '%s': %s" % (_field(error), detail))
