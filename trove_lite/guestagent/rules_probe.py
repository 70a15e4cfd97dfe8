"""A new version's configuration rules, read from a throw-away server of it.

``python -m trove_lite.guestagent.rules_probe SPEC_JSON RULES_JSON WORK_DIR``: the
image builder (drivers/imagebuild.py) runs this as a process of its own once per
image build, since starting a server is the guest's job and drivers import no
guest module. SPEC_JSON is the image spec (datastores.base Binaries fields); the
rules are written to RULES_JSON. Exit status 1 with the reason on stderr when the
server cannot be set up or read.
"""

import importlib.util
import json
import os
import sys
from types import ModuleType
from typing import Any

from trove_lite.datastores.base import binaries_from_spec
from trove_lite.guestagent.state import server_class

TOOLS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                         "tools")


def write_rules(spec: dict, path: str, work: str) -> None:
    """Start a server of ``spec`` in ``work`` (no networking), read its rules into
    ``path``, and remove the server; the server's errors propagate."""
    gen = _gen_tool()
    binaries = binaries_from_spec(spec)
    server = server_class(binaries)(os.path.join(work, "rules-server"), binaries=binaries,
                                    options={"skip-networking": None})
    try:
        server.initialize()
        server.start()
        conn = server.connect()
        try:
            rules = (_mysql_rules(conn, gen) if binaries.datastore == "mysql"
                     else _mariadb_rules(conn, gen))
        finally:
            conn.close()
    finally:
        server.destroy()
    with open(path, "w") as f:
        f.write(gen.render(rules))


def _mariadb_rules(conn: Any, gen: ModuleType) -> list:
    with conn.cursor() as cur:
        cur.execute("SELECT LOWER(VARIABLE_NAME) FROM information_schema.SYSTEM_VARIABLES")
        known = {r[0] for r in cur.fetchall()}
    # the curated list is 10.11's; a variable this version lacks is left out
    return gen.read_rules(conn, [n for n in gen.PARAMETERS if n in known])[1]


def _mysql_rules(conn: Any, gen: ModuleType) -> list:
    from trove_lite.datastores.mysql import rules as mysql_rules
    return mysql_rules.read_rules(conn, gen.OVERRIDES)[1]


def _gen_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_validation_rules", os.path.join(TOOLS_DIR, "gen_validation_rules.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print("usage: python -m trove_lite.guestagent.rules_probe SPEC_JSON RULES_JSON "
              "WORK_DIR", file=sys.stderr)
        return 2
    with open(args[0]) as f:
        spec = json.load(f)
    try:
        write_rules(spec, args[1], args[2])
    except Exception as exc:
        print("%s: %s" % (type(exc).__name__, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
