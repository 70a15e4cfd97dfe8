"""Parsing a request body: depth, storable strings, JSON's own grammar."""

import pytest

from trove_lite.api.wsgi import parse_json
from trove_lite.exceptions import BadRequest


def test_brackets_inside_strings_do_not_count_as_depth():
    body = parse_json(b'{"name": "' + b"[{" * 100 + b'\\" ]"}', 32)
    assert body["name"].startswith("[{[{") and body["name"].endswith('" ]')


def test_depth_over_the_limit_is_refused_before_parsing():
    parse_json(b"[" * 32 + b"]" * 32, 32)
    with pytest.raises(BadRequest, match="nested too deep"):
        parse_json(b"[" * 33 + b"]" * 33, 32)
    with pytest.raises(BadRequest, match="nested too deep"):
        parse_json(b"[" * 100000, 32)  # never closed: still refused, no RecursionError


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": -Infinity}', b'{"a": "\\udfff"}',
                                 b'{"a": ["\\ud800x"]}', b'{"\\ud800": 1}'])
def test_non_json_numbers_and_lone_surrogates_are_refused(raw):
    with pytest.raises(BadRequest):
        parse_json(raw, 32)


def test_a_surrogate_pair_is_a_character():
    assert parse_json(b'{"a": "\\ud83d\\ude00"}', 32) == {"a": "\U0001F600"}
