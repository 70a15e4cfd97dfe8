"""Every third-party module imported under trove_lite/ is declared in setup.cfg.

``pip install .`` installs install_requires only; a module that the test
extras happen to bring (jsonschema came with them) imports in the test venv
and fails on a user's machine. Imports are read from the source (ast), so a
module imported lazily inside a function counts too.
"""

import ast
import configparser
import importlib.metadata
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "trove_lite")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def declared():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    names = set()
    for line in cfg["options"]["install_requires"].splitlines():
        line = line.strip()
        if line:
            names.add(canonical(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]))
    return names


def imported_modules():
    """{top-level module: first file importing it} over trove_lite/, absolute imports only."""
    found = {}
    for dirpath, _dirs, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for mod in mods:
                    found.setdefault(mod.split(".")[0], os.path.relpath(path, ROOT))
    return found


def test_every_third_party_import_is_an_install_requirement():
    dists_of = importlib.metadata.packages_distributions()
    requires = declared()
    missing = []
    for module, where in sorted(imported_modules().items()):
        if module in sys.stdlib_module_names or module == "trove_lite":
            continue
        dists = {canonical(d) for d in dists_of.get(module, [])}
        assert dists, "%s (imported in %s) is not installed at all" % (module, where)
        if not dists & requires:
            missing.append("%s (imported in %s; distribution %s)"
                           % (module, where, ", ".join(sorted(dists))))
    assert not missing, "not in setup.cfg install_requires: " + "; ".join(missing)


def test_every_install_requirement_is_used():
    """Only what the code imports is declared (oslo.log was declared and unused)."""
    dists_of = importlib.metadata.packages_distributions()
    used = set()
    for module in imported_modules():
        used |= {canonical(d) for d in dists_of.get(module, [])}
    unused = sorted(declared() - used)
    assert unused == [], "declared in setup.cfg but never imported: %s" % unused
