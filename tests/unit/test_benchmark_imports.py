"""Every trove_lite name a benchmark uses exists.

Benchmarks are scripts the suite does not run, and many import lazily inside
functions: a function moved to another module left ``benchmarks/heartbeats.py``
failing on its first run (``keys.load_master``). This reads every import statement
of every benchmark (nested ones too), resolves it, and checks each attribute the
script reads from an imported trove_lite module (``alias.name``).
"""

import ast
import glob
import importlib
import importlib.util
import os
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*.py")))


def _resolve(module, name):
    """The object ``from module import name`` binds, or None when it is missing."""
    mod = importlib.import_module(module)
    if name is None:
        return mod
    if hasattr(mod, name):
        return getattr(mod, name)
    try:
        return importlib.import_module("%s.%s" % (module, name))
    except ImportError:
        return None


def missing_names(source, filename="<benchmark>"):
    """["line N: what"] for each trove_lite import or module attribute that does not
    resolve in ``source``."""
    tree = ast.parse(source, filename)
    missing, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "trove_lite":
            pairs = [(node.module, a.name, a.asname or a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            pairs = [(a.name, None, a.asname) for a in node.names
                     if a.name.split(".")[0] == "trove_lite" and a.asname]
        else:
            continue
        for module, name, bound in pairs:
            try:
                obj = _resolve(module, name)
            except ImportError as e:
                missing.append("line %d: %s (%s)" % (node.lineno, module, e))
                continue
            if obj is None:
                missing.append("line %d: %s has no %s" % (node.lineno, module, name))
            elif isinstance(obj, types.ModuleType):
                modules[bound] = obj
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in modules and isinstance(node.ctx, ast.Load):
            mod = modules[node.value.id]
            if not hasattr(mod, node.attr) and not (
                    hasattr(mod, "__path__") and importlib.util.find_spec(
                        "%s.%s" % (mod.__name__, node.attr)) is not None):
                missing.append("line %d: %s has no %s" % (node.lineno, mod.__name__,
                                                         node.attr))
    return missing


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_every_trove_lite_name_a_benchmark_uses_resolves(path):
    with open(path) as f:
        assert missing_names(f.read(), path) == []


def test_the_check_sees_a_moved_function():
    """The check itself, on the import that broke: the module is there, the
    function moved to trove_lite.common.master_key."""
    old = ("def main(conf):\n    from trove_lite.backup import keys\n"
           "    return keys.load_master(conf)\n")
    assert missing_names(old) == ["line 3: trove_lite.backup.keys has no load_master"]
    new = old.replace("from trove_lite.backup import keys",
                      "from trove_lite.common import master_key as keys")
    assert missing_names(new) == []
