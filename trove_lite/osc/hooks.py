"""gh-ost hooks: executables in --hooks-path named ``gh-ost-on-<event>*``.

``run(event, progress_env)`` runs every matching executable in name order with
gh-ost's environment (GH_OST_DATABASE_NAME, ...), waits for it, and raises
MigrationError if one exits non-zero (a failing hook aborts the migration).
A hook that runs longer than ``timeout`` seconds is killed and counts as failed.
"""

from __future__ import annotations

import os
import subprocess
import logging
from typing import TYPE_CHECKING, Callable

from trove_lite.osc.errors import MigrationError
from trove_lite.osc.context import MigrationRequest

if TYPE_CHECKING:
    from trove_lite.osc.migrator import TableNames

EVENTS = ("startup", "validated", "rowcount-complete", "before-row-copy", "status",
          "interactive-command", "row-copy-complete", "stop-replication", "start-replication",
          "begin-postponed", "before-cut-over", "success", "failure", "batch-copy-retry")


class Hooks:
    def __init__(self, request: MigrationRequest, names: TableNames, log: logging.Logger,
                 timeout: int = 600) -> None:
        self.path = request.hooks_path
        self.req = request
        self.names = names
        self.log = log
        self.timeout = timeout
        # on_event(event): told of each event before its executables run (the guest
        # agent logs its declared steps from it)
        self.on_event: Callable[[str], None] | None = None

    def base_env(self) -> dict[str, str]:
        r = self.req
        return {
            "GH_OST_DATABASE_NAME": r.database, "GH_OST_TABLE_NAME": r.table,
            "GH_OST_GHOST_TABLE_NAME": self.names.ghost,
            "GH_OST_OLD_TABLE_NAME": self.names.old, "GH_OST_DDL": r.alter,
            "GH_OST_EXECUTING_HOST": os.uname().nodename,
            "GH_OST_INSPECTED_HOST": r.host, "GH_OST_INSPECTED_LAG": "0",
            "GH_OST_HOOKS_HINT": r.hooks_hint, "GH_OST_HOOKS_HINT_OWNER": r.hooks_hint_owner,
            "GH_OST_HOOKS_HINT_TOKEN": r.hooks_hint_token,
            "GH_OST_DRY_RUN": str(not r.execute).lower(),
        }

    def executables(self, event: str) -> list[str]:
        if not self.path or not os.path.isdir(self.path):
            return []
        prefix = "gh-ost-on-" + event
        out = []
        for name in sorted(os.listdir(self.path)):
            full = os.path.join(self.path, name)
            if name.startswith(prefix) and os.path.isfile(full) and os.access(full, os.X_OK):
                # gh-ost-on-status must not match gh-ost-on-startup and vice versa
                rest = name[len(prefix):]
                if event == "start" and rest.startswith("up"):
                    continue
                out.append(full)
        return out

    def run(self, event: str, progress_env: dict[str, str] | None = None,
            extra: dict[str, str] | None = None) -> None:
        if self.on_event is not None:
            self.on_event(event)
        for exe in self.executables(event):
            env = dict(os.environ)
            env.update(self.base_env())
            env.update(progress_env or {})
            env.update(extra or {})
            self.log.info("executing %s hook: %s", event, exe)
            try:
                proc = subprocess.run([exe], env=env, capture_output=True, text=True,
                                      timeout=self.timeout)
            except subprocess.TimeoutExpired:
                raise MigrationError("hook %s timed out after %ds" % (exe, self.timeout))
            if proc.returncode != 0:
                raise MigrationError("hook %s failed with exit code %d: %s" % (
                    exe, proc.returncode, (proc.stderr or proc.stdout).strip()[-500:]))
