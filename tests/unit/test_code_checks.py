"""The layer contracts, the type checker and the linter, run as part of the suite.

Their configuration is in pyproject.toml ([tool.importlinter], [tool.mypy],
[tool.ruff]). Caches live outside the clone (one per clone, under the system's
temporary directory), so a second run takes a few seconds and nothing is written
into the tree.
"""

import hashlib
import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
CACHE = os.path.join(tempfile.gettempdir(), "trove-lite-checks-%s" % hashlib.sha1(
    ROOT.encode()).hexdigest()[:12])


def run(*argv: str) -> subprocess.CompletedProcess:
    tool = os.path.join(BIN, argv[0])
    if not os.path.exists(tool):
        pytest.fail("%s is not installed: run tools/bootstrap.sh (it is a test extra)"
                    % argv[0])
    env = dict(os.environ, MYPY_CACHE_DIR=os.path.join(CACHE, "mypy"),
               RUFF_CACHE_DIR=os.path.join(CACHE, "ruff"))
    return subprocess.run([tool, *argv[1:]], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_layer_contracts_are_kept():
    """api -> services -> rpc; the guest, the drivers and osc import no control plane."""
    out = run("lint-imports", "--no-logo", "--cache-dir", os.path.join(CACHE, "imports"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout, out.stdout


def test_package_type_checks():
    out = run("mypy")   # files and options from pyproject.toml
    assert out.returncode == 0, out.stdout + out.stderr


def test_lint_rules_pass():
    out = run("ruff", "check", "--output-format", "concise", "trove_lite", "tests",
              "benchmarks", "tools")
    assert out.returncode == 0, out.stdout + out.stderr


def test_layer_contracts_waive_no_import():
    """A layer crossing is fixed by moving what both sides share below them
    (trove_lite/common, trove_lite/datastores), not named as an exception."""
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    assert {c["id"]: c.get("ignore_imports", []) for c in contracts} == {
        c["id"]: [] for c in contracts}


def test_every_function_of_the_package_is_annotated():
    """mypy checks every function's body only when it is annotated: the switch is
    on for the whole package, and no module is let off it."""
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        mypy = tomllib.load(f)["tool"]["mypy"]
    assert mypy.get("disallow_untyped_defs") is True
    assert [o["module"] for o in mypy.get("overrides", [])
            if o.get("disallow_untyped_defs") is False or o.get("ignore_errors")] == []
