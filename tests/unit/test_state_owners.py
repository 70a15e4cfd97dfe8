"""One writer per piece of state (db/models.py names the owners): the conductor alone
creates or changes ``service_statuses`` rows; the taskmanager and the API send it
what they learned. Read from the source, since a second writer shows up as a status
that flips back and forth only under load."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OWNER = os.path.join("trove_lite", "conductor", "manager.py")


def writes_of_service_statuses(path):
    """Lines that build a ServiceStatus row, change one's columns, or run an
    insert/update/delete on its table."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    rows = set()   # names bound to ServiceStatus rows fetched in this file
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = ast.unparse(node.func)
            if fn.endswith("models.ServiceStatus"):
                found.append(node.lineno)
            if fn.split(".")[-1] in ("insert", "update", "delete") and node.args and \
                    ast.unparse(node.args[0]).endswith("ServiceStatus"):
                found.append(node.lineno)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            text = ast.unparse(node.value)
            if "select(models.ServiceStatus)" in text:
                rows |= {ast.unparse(t) for t in node.targets}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                    if isinstance(t, ast.Attribute) and ast.unparse(t.value) in rows:
                        found.append(node.lineno)
    return found


def test_only_the_conductor_writes_service_statuses():
    writers = {}
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, "trove_lite")):
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, ROOT)
            if name.endswith(".py") and rel != OWNER and rel != os.path.join(
                    "trove_lite", "db", "models.py"):
                lines = writes_of_service_statuses(path)
                if lines:
                    writers[rel] = lines
    assert writers == {}
    assert writes_of_service_statuses(os.path.join(ROOT, OWNER)), "the check sees nothing"


TASK_COLUMNS = {"task_status", "task_seq", "task_started_at"}
CLAIM_COLUMNS = {"claimed_task", "claim_seq", "claimed_at"}
TASKMANAGER = os.path.join("trove_lite", "taskmanager")


def writes_of_columns(path, columns):
    """Lines that set one of ``columns``: a keyword of a call (a row built, an
    update's values, a helper's fields) or an assignment to an attribute."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found += [node.lineno for kw in node.keywords if kw.arg in columns]
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                if isinstance(t, ast.Attribute) and t.attr in columns:
                    found.append(node.lineno)
    return found


def package_files():
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, "trove_lite")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                yield os.path.relpath(path, ROOT), path


def test_only_the_taskmanager_writes_the_task_column():
    """The API claims a task in its own columns; the taskmanager adopts the claim
    and alone sets ``task_status`` (db/models.py), and never touches the claim."""
    outside, claims_inside = {}, {}
    for rel, path in package_files():
        if rel == os.path.join("trove_lite", "db", "models.py"):
            continue
        if rel.startswith(TASKMANAGER + os.sep):
            lines = writes_of_columns(path, CLAIM_COLUMNS)
            if lines:
                claims_inside[rel] = lines
        else:
            lines = writes_of_columns(path, TASK_COLUMNS)
            if lines:
                outside[rel] = lines
    assert outside == {}
    assert claims_inside == {}
    assert writes_of_columns(os.path.join(ROOT, TASKMANAGER, "instance_flows.py"),
                             TASK_COLUMNS), "the check sees nothing"
