"""Every error class of trove_lite is in the one hierarchy (trove_lite/exceptions.py)
with a stable code of its own, so the API maps any of them to Trove's fault format in
one place and a client can tell errors apart by code."""

import importlib
import inspect
import pkgutil

import trove_lite
from trove_lite.exceptions import TroveLiteError, fault_body

# signals that unwind a flow, not errors (see their docstrings)
NOT_ERRORS = {"trove_lite.taskmanager.instance_flows.FlowCancelled"}


def error_classes():
    found = {}
    for info in pkgutil.walk_packages(trove_lite.__path__, "trove_lite."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__):
                found["%s.%s" % (obj.__module__, obj.__qualname__)] = obj
    return found


def test_every_error_class_is_in_the_hierarchy_with_a_code_of_its_own():
    classes = error_classes()
    assert len(classes) > 50
    outside = sorted(n for n, c in classes.items()
                     if not issubclass(c, TroveLiteError) and n not in NOT_ERRORS)
    assert outside == []
    without_code = sorted(n for n, c in classes.items()
                          if issubclass(c, TroveLiteError) and "code" not in vars(c))
    assert without_code == []
    by_code = {}
    for name, cls in classes.items():
        if issubclass(cls, TroveLiteError):
            by_code.setdefault(cls.code, []).append(name)
    assert {c: n for c, n in by_code.items() if len(n) > 1} == {}


def test_any_error_maps_to_a_trove_fault():
    from trove_lite.osc.flags import FlagError
    status, body = fault_body(FlagError("flag provided but not defined: -x"))
    assert status == 500 and body["instanceFault"]["message"].startswith("flag provided")
    assert str(FlagError("bad")) == "bad" and isinstance(FlagError("bad"), ValueError)
