"""Configuration groups: parameter rules and the validation of values."""

from trove_lite.configuration.rules import (  # noqa: F401
    DEFAULT_RULES_FILE, Rule, format_value, load_rules_file, normalize_name,
    parse_rules, read_rules_file, split_dynamic, validate_value, validate_values)
