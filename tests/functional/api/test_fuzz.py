"""Schemathesis against the live API, driven by the document it serves.

``GET /v1.0/openapi.json`` is loaded from the running API (SQLite control DB,
real RabbitMQ, a recording taskmanager) and every operation gets
``TROVE_LITE_FUZZ_EXAMPLES`` (default 6) positive and as many negative cases
(bodies, path parameters). Every response must be: not 5xx, of a status and
content type the document declares, and conforming to its schema (a refusal:
Trove's fault document). The run prints the cases tried and failures found.

A longer run, drawing new cases: ``TROVE_LITE_FUZZ_EXAMPLES=200 TROVE_LITE_FUZZ_RANDOM=1
pytest -m fuzz -s tests/functional/api/test_fuzz.py`` (CI replays the same cases each run).
"""

import collections
import os

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from schemathesis.specs.openapi import checks as oa_checks
from schemathesis import checks as st_checks

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("TROVE_LITE_FUZZ_EXAMPLES", "6"))
# CI replays the same cases; a long run may draw new ones
RANDOM = os.environ.get("TROVE_LITE_FUZZ_RANDOM") == "1"
CHECKS = [st_checks.not_a_server_error, oa_checks.status_code_conformance,
          oa_checks.content_type_conformance, oa_checks.response_schema_conformance]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


def _fuzz_operation(operation, mode, base_url, session, stats, failures):
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                         derandomize=not RANDOM, phases=[hypothesis.Phase.generate],
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        response = case.call(base_url=base_url, session=session, timeout=30)
        stats["cases"] += 1
        if response.status_code >= 500:
            stats["5xx"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # a group of check failures
            failures.append("%s %s (%s) -> %d %s\n%s" % (
                case.method, case.formatted_path, mode.value, response.status_code,
                response.text[:300], str(exc)[:600]))
    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        stats["unsatisfiable"] += 1  # nothing to negate (no parameter, no body)


@pytest.mark.timeout(max(900, EXAMPLES * 60))  # a long run outlasts the suite's 900 s
@pytest.mark.parametrize("api_env", ["sqlite"], indirect=True)
def test_no_5xx_and_every_response_conforms(api_env):
    base_url = api_env.url
    document = requests.get(base_url + "/v1.0/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    stats, failures = collections.Counter(), []
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in MODES:
            _fuzz_operation(operation, mode, base_url, session, stats, failures)
    print("\nfuzz: %d operations, %d cases, %d responses 5xx, %d failed checks" % (
        len(operations), stats["cases"], stats["5xx"], len(failures)))
    assert stats["cases"] >= len(operations)
    assert not failures, "\n\n".join(failures[:20])
