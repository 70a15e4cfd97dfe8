"""Durations of taskmanager flow steps, for ``/metrics``.

The flows call ``observe_step`` as each step ends; the API's ``/metrics`` serves
``STEPS`` beside its own registry. Both live in the process that runs them, so the
all-in-one shows them; a taskmanager running alone keeps its own.
"""

import re

from prometheus_client import CollectorRegistry, Histogram

STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_VARYING = re.compile(r"\S*\d\S*")

STEPS = CollectorRegistry()
STEP_DURATION = Histogram("trove_lite_task_step_duration_seconds",
                          "Duration of one step of a taskmanager flow",
                          ["step"], buckets=STEP_BUCKETS, registry=STEPS)


def observe_step(what: str, seconds: float) -> None:
    """One finished flow step; ids, addresses and numbers become ``*`` in the label."""
    STEP_DURATION.labels(_VARYING.sub("*", what)[:80]).observe(seconds)
