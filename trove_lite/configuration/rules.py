"""Configuration-parameter rules and the validation of configuration-group values.

A rule says what one server variable accepts: Trove's keys (``name``, ``type`` in
integer/float/string/boolean, ``min``, ``max``, ``restart_required``) plus ours
(``dynamic``, ``allowed_values``, ``multiple``, ``pattern``, ``cnf_option``; see
tools/gen_validation_rules.py). Rules come from templates/<datastore>/
validation-rules.json or, once loaded by ``trove-lite-manage
db_load_datastore_config_parameters``, from database rows: everything here takes
plain dicts, so both sources work the same.

Everything is pure (no I/O except :func:`read_rules_file`). Errors are
``InvalidConfigurationValue`` (HTTP 400) whose message names each bad parameter
and what it accepts; all bad parameters of one request are reported together.
"""

import collections.abc
import dataclasses
import json
import math
import os
import re
from typing import Any, Callable, Iterable, Mapping, cast

from trove_lite.exceptions import InvalidConfigurationValue

TYPES = ("integer", "float", "string", "boolean")
DEFAULT_RULES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                  os.pardir, "templates", "mariadb", "validation-rules.json")

_TRUE = {"1", "on", "true"}
_FALSE = {"0", "off", "false"}
# mariadbd reads "64M" in option files; we store the number it means
_INTEGER_RE = re.compile(r"^\s*([+-]?\d+)\s*([kmgt]?)\s*$", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_FLOAT_RE = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
STRING_MAX = 1024
# Option files process backslash escapes, strip surrounding quotes and treat "#"
# as a comment; a value containing any of them would mean one thing in my.cnf
# and another in SET GLOBAL. Control characters (newline!) would end the line.
_UNSAFE_CHARS = set("\"'`\\#")
_SHOWN_VALUES = 12

# A validated value (what a configuration group stores).
Value = bool | int | float | str


@dataclasses.dataclass(frozen=True)
class Rule:
    """What one configuration parameter accepts."""

    name: str
    type: str
    restart_required: bool
    dynamic: bool
    min: int | float | None = None
    max: int | float | None = None
    allowed_values: tuple | None = None
    multiple: bool = False
    pattern: str | None = None
    cnf_option: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Rule":
        """A rule from Trove's dict form or a database row; ValueError if malformed.

        Row spellings are accepted too: ``data_type``, ``min_size``/``max_size``
        (numbers stored as strings) and ``allowed_values`` as a JSON list or a
        comma-separated string. Without ``dynamic`` (a plain Trove rule) a
        parameter is dynamic exactly when it needs no restart.
        """
        name, kind = data.get("name"), data.get("type", data.get("data_type"))
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError("rule name %r is not a server variable name" % (name,))
        if kind not in TYPES:
            raise ValueError("rule %s: type %r is not one of %s" % (name, kind, TYPES))
        restart = bool(data.get("restart_required", False))
        dynamic = data.get("dynamic")
        rule = cls(name=name, type=kind, restart_required=restart,
                   dynamic=(not restart) if dynamic is None else bool(dynamic),
                   min=_limit(data.get("min", data.get("min_size")), kind, name),
                   max=_limit(data.get("max", data.get("max_size")), kind, name),
                   allowed_values=_allowed(data.get("allowed_values")),
                   multiple=bool(data.get("multiple", False)),
                   pattern=data.get("pattern") or None,
                   cnf_option=data.get("cnf_option") or None)
        if rule.min is not None and rule.max is not None and rule.min > rule.max:
            raise ValueError("rule %s: min %s > max %s" % (name, rule.min, rule.max))
        if rule.pattern is not None:
            re.compile(rule.pattern)
        return rule

    def to_dict(self) -> dict[str, Any]:
        """Trove's form (what GET .../parameters shows) plus our non-empty extras."""
        data: dict[str, Any] = {"name": self.name, "type": self.type,
                "restart_required": self.restart_required, "dynamic": self.dynamic}
        if self.type in ("integer", "float"):
            data.update(min=self.min, max=self.max)
        for key in ("allowed_values", "pattern", "cnf_option"):
            if getattr(self, key):
                data[key] = list(getattr(self, key)) if key == "allowed_values" \
                    else getattr(self, key)
        if self.multiple:
            data["multiple"] = True
        return data

    @property
    def option_name(self) -> str:
        """The name to write in an option file (my.cnf)."""
        return self.cnf_option or self.name

    @property
    def applies_live(self) -> bool:
        """True when SET GLOBAL is enough; False when the value waits for a restart."""
        return self.dynamic and not self.restart_required


# Rules as {name: Rule}, or rule dicts (or Rules) in a list or by name.
RuleSource = Mapping[str, "Rule | Mapping[str, Any]"] | Iterable["Rule | Mapping[str, Any]"]


def _limit(value: Any, kind: str, name: str) -> int | float | None:
    if value is None or value == "" or kind not in ("integer", "float"):
        return None
    try:
        return float(value) if kind == "float" else int(value)
    except (TypeError, ValueError):
        raise ValueError("rule %s: limit %r is not a number" % (name, value)) from None


def _allowed(value: Any) -> tuple | None:
    if not value:
        return None
    if isinstance(value, str):
        value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
    return tuple(value)


def parse_rules(rules: RuleSource) -> dict[str, Rule]:
    """{name: Rule} from an iterable of rule dicts (or Rules); ValueError on bad input."""
    items = rules.values() if isinstance(rules, collections.abc.Mapping) else rules
    parsed = {}
    for item in items:
        rule = item if isinstance(item, Rule) else Rule.from_dict(item)
        if rule.name in parsed:
            raise ValueError("rule %s is defined twice" % rule.name)
        parsed[rule.name] = rule
    return parsed


def read_rules_file(path: str = DEFAULT_RULES_FILE) -> list[dict[str, Any]]:
    """The rule dicts of a validation-rules.json file (validated by parsing them)."""
    with open(path) as f:
        data = json.load(f)
    dicts: list[dict[str, Any]] = data["configuration-parameters"]
    parse_rules(dicts)
    return dicts


def load_rules_file(path: str = DEFAULT_RULES_FILE) -> dict[str, Rule]:
    return parse_rules(read_rules_file(path))


def normalize_name(name: str) -> str:
    """Variable names are case-insensitive and ``-`` equals ``_``, as in my.cnf."""
    return name.strip().lower().replace("-", "_") if isinstance(name, str) else name


def validate_values(rules: RuleSource, values: object) -> dict[str, Value]:
    """Check a configuration group's ``values`` against ``rules``; return them normalised.

    ``rules`` is {name: Rule} or an iterable of rule dicts. Normalised means:
    names lower-case with ``_``; integers as int (``"64M"`` becomes 67108864);
    floats as float; booleans as bool (from true/false, 1/0, ON/OFF); enum values
    in the server's spelling; sets de-duplicated and comma-joined. Raises
    InvalidConfigurationValue listing every bad parameter; ``errors`` in its
    kwargs holds the individual messages.
    """
    rules = _as_rules(rules)
    if not isinstance(values, collections.abc.Mapping):
        raise InvalidConfigurationValue(
            reason="Configuration values must be an object mapping parameter names "
                   "to values, not %s." % _json_type(values), errors=[])
    result: dict[str, Value] = {}
    errors: list[str] = []
    for raw_name, value in values.items():
        name = normalize_name(raw_name)
        rule = rules.get(name)
        if rule is None:
            errors.append("Unknown configuration parameter: %s." % (raw_name,))
        elif name in result:
            errors.append("Configuration parameter %s is given twice." % name)
        else:
            try:
                result[name] = _validate_one(rule, value)
            except _Invalid as exc:
                errors.append(str(exc))
    errors.extend(_check_combinations(result))
    if errors:
        raise InvalidConfigurationValue(reason=" ".join(errors), errors=errors)
    return result


def split_dynamic(rules: RuleSource, values: Mapping[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split validated ``values`` into (applied live, applied at the next restart).

    A parameter is applied live when its rule is dynamic and not
    restart_required. Unknown names raise InvalidConfigurationValue.
    """
    rules = _as_rules(rules)
    dynamic: dict[str, Any] = {}
    restart: dict[str, Any] = {}
    for raw_name, value in values.items():
        name = normalize_name(raw_name)
        if name not in rules:
            raise InvalidConfigurationValue(
                reason="Unknown configuration parameter: %s." % raw_name)
        (dynamic if rules[name].applies_live else restart)[name] = value
    return dynamic, restart


def format_value(rule: Rule, value: Any) -> str:
    """A normalised value as mariadbd reads it (option file or SET GLOBAL literal)."""
    if rule.type == "boolean":
        return "ON" if value else "OFF"
    if rule.type == "float":
        return format(value, "f").rstrip("0").rstrip(".")
    return str(value)


class _Invalid(InvalidConfigurationValue):
    """One parameter's value is not valid (collected into one API error)."""

    code = "invalid_configuration_parameter"


def validate_value(rule: Rule, value: Any) -> Value:
    """One parameter's normalised value; InvalidConfigurationValue if it is not valid.

    Checks the value alone (no cross-parameter rules: see validate_values).
    """
    try:
        return _validate_one(rule, value)
    except _Invalid as exc:
        raise InvalidConfigurationValue(reason=str(exc), errors=[str(exc)]) from None


def _validate_one(rule: Rule, value: Any) -> Value:
    if value is None:
        raise _Invalid("%s needs a value, not null." % rule.name)
    return _VALIDATORS[rule.type](rule, value)


def _validate_integer(rule: Rule, value: Any) -> int:
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        match = _INTEGER_RE.match(value)
        if match:
            number = int(match.group(1)) * _SIZE_FACTORS[match.group(2).lower()]
    if number is None:
        raise _Invalid("%s must be an integer, not %s." % (rule.name, _show(value)))
    _check_range(rule, number, value)
    return number


def _validate_float(rule: Rule, value: Any) -> float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and _FLOAT_RE.match(value):
        number = float(value)
    if number is None or math.isnan(number) or math.isinf(number):
        raise _Invalid("%s must be a number, not %s." % (rule.name, _show(value)))
    _check_range(rule, number, value)
    return number


def _validate_boolean(rule: Rule, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (int, str)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Invalid("%s must be a boolean (true/false, 1/0, ON/OFF), not %s."
                   % (rule.name, _show(value)))


def _validate_string(rule: Rule, value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("%s must be a string, not %s." % (rule.name, _show(value)))
    if len(value) > STRING_MAX:
        raise _Invalid("The value for %s is longer than %d characters."
                       % (rule.name, STRING_MAX))
    bad = sorted({c for c in value if c in _UNSAFE_CHARS or not c.isprintable()
                  or not c.isascii()})
    if bad:
        raise _Invalid("The value for %s contains characters that are not allowed: %s."
                       % (rule.name, ", ".join(repr(c) for c in bad)))
    value = value.strip()
    if rule.allowed_values:
        value = _match_allowed(rule, value)
    if rule.pattern and not re.fullmatch(rule.pattern, value):
        raise _Invalid("The value %s for %s is not valid: it must match %s."
                       % (_show(value), rule.name, rule.pattern))
    return value


def _match_allowed(rule: Rule, value: str) -> str:
    canonical = {v.lower(): v for v in rule.allowed_values or ()}
    if rule.multiple:
        chosen: list[str] = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            if part.lower() not in canonical:
                raise _Invalid("The value %s for %s is not valid: %s is not one of %s."
                               % (_show(value), rule.name, _show(part), _choices(rule)))
            if canonical[part.lower()] not in chosen:
                chosen.append(canonical[part.lower()])
        return ",".join(chosen)
    if value.lower() not in canonical:
        raise _Invalid("The value %s for %s is not valid: it must be one of %s."
                       % (_show(value), rule.name, _choices(rule)))
    return canonical[value.lower()]


_VALIDATORS: dict[str, Callable[[Rule, Any], Value]] = {
    "integer": _validate_integer, "float": _validate_float,
    "boolean": _validate_boolean, "string": _validate_string}


def _check_range(rule: Rule, number: int | float, given: Any) -> None:
    low = rule.min if rule.min is not None else -math.inf
    high = rule.max if rule.max is not None else math.inf
    if not low <= number <= high:
        raise _Invalid("The value %s for %s is out of range: min %s, max %s."
                       % (given, rule.name, rule.min, rule.max))


def _check_combinations(values: Mapping[str, Value]) -> list[str]:
    """Cross-parameter rules that would stop mariadbd from starting.

    The instance's config template sets both character_set_server and
    collation_server; a group that overrides only one of them leaves a pair that
    does not match, and mariadbd exits at start (measured on 10.11). So they
    come together, and the collation must belong to the character set.
    """
    charset, collation = values.get("character_set_server"), values.get("collation_server")
    if (charset is None) != (collation is None):
        return ["character_set_server and collation_server must be set together."]
    if charset and not (collation == charset == "binary"
                        or str(collation).startswith(str(charset) + "_")):
        return ["collation_server %s does not belong to character_set_server %s."
                % (collation, charset)]
    return []


def _as_rules(rules: RuleSource) -> Mapping[str, Rule]:
    if isinstance(rules, collections.abc.Mapping) and all(
            isinstance(r, Rule) for r in rules.values()):
        return cast(Mapping[str, Rule], rules)   # every value checked just above
    return parse_rules(rules)


def _choices(rule: Rule) -> str:
    values = rule.allowed_values or ()
    shown = ", ".join(values[:_SHOWN_VALUES])
    if len(values) > _SHOWN_VALUES:
        shown += " ... (%d values)" % len(values)
    return shown


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else (
        json.dumps(value) if _jsonable(value) else repr(value))
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text) if isinstance(value, str) else "%s %s" % (_json_type(value), text)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, collections.abc.Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _jsonable(value: object) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False
