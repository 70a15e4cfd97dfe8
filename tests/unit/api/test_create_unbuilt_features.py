"""Create-body fields of features this deployment does not offer are refused with a
4xx naming them, never 5xx (found by the schemathesis run: a create with
``modules`` answered 501)."""

import pytest

from trove_lite.api import instances
from trove_lite.config import make_conf
from trove_lite.exceptions import BadRequest, NotFound

BODY = {"name": "x", "flavorRef": "1", "volume": {"size": 1}}


@pytest.fixture(scope="module")
def conf():
    return make_conf()


def test_a_module_is_not_found_as_trove_answers_an_unknown_module(conf):
    body = {"instance": dict(BODY, modules=[{"id": "mod-1"}])}
    with pytest.raises(NotFound) as exc:
        instances.create_request(body, conf)
    assert exc.value.http_status == 404
    assert "mod-1" in exc.value.message


def test_a_module_without_id_is_a_bad_request(conf):
    with pytest.raises(BadRequest, match="modules"):
        instances.create_request({"instance": dict(BODY, modules=[{}])}, conf)


def test_locality_is_a_bad_request_naming_it(conf):
    with pytest.raises(BadRequest, match="locality"):
        instances.create_request({"instance": dict(BODY, locality="affinity")}, conf)
