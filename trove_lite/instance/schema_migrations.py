"""Online schema migrations of an instance (issue 18): the control plane's side.

``POST /instances/{id}/schema_migrations`` validates the request (names, the
ALTER's text: a RENAME of the table, renamed columns, unbalanced quotes are 400),
refuses an instance that is not serving (409) or a replica (400, migrate its
source), and a second live migration of the same table (409). It records the
migration NEW and asks the guest to start it (``GuestAPI.start_schema_migration``):
the guest answers 404 for a missing table and 400 for an ALTER its server refuses
on an empty copy of the table, and then nothing is recorded. From then on the
conductor alone writes the migration, from the guest's heartbeats.

Actions (``cut_over``, ``abort``, ``throttle``, ``unthrottle``, ``set``) go to the
guest, which holds the running engine; a final migration refuses them (409).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.exceptions import BadRequest, Conflict, NotFound
from trove_lite.datastores.mariadb import validation as v
from trove_lite.osc import inspector as osc_inspector
from trove_lite.osc import parser as osc_parser

if TYPE_CHECKING:
    from trove_lite.instance.guest_admin import GuestAdminService

FINAL = frozenset(["COMPLETED", "FAILED", "ABORTED"])
SETTING_KEYS = ("chunk_size", "dml_batch_size", "nice_ratio", "max_lag_millis", "max_load",
                "critical_load", "cut_over_lock_timeout_seconds")
OPTION_KEYS = ("postpone_cut_over", "keep_old_table") + SETTING_KEYS
ACTIONS = ("cut_over", "abort", "throttle", "unthrottle", "set")


class SchemaMigrationNotFound(NotFound):
    code = "schema_migration_not_found"
    message_format = "Schema migration %(id)s could not be found."


def check_alter(table: str, alter: str) -> str:
    """The ALTER's clauses, or BadRequest with gh-ost's refusal (pure)."""
    try:
        plan = osc_parser.parse_alter(alter)
    except osc_parser.AlterParseError as exc:
        raise BadRequest(reason=str(exc))
    if plan.explicit_table and plan.explicit_table.lower() != table.lower():
        raise BadRequest(reason="the ALTER names table %s but the migration is of %s" % (
            plan.explicit_table, table))
    if not plan.alter.strip():
        raise BadRequest(reason="the ALTER is empty")
    refusal = osc_inspector.check_alter_plan(plan, approve_renamed=False, skip_renamed=False)
    if refusal:
        raise BadRequest(reason=refusal)
    return plan.alter


def check_load(text: str | None) -> None:
    from trove_lite.osc.context import parse_load
    try:
        parse_load(text or "")
    except ValueError as exc:
        raise BadRequest(reason=str(exc))


def view(row: models.SchemaMigration) -> dict:
    options = json.loads(row.options or "{}")
    progress = json.loads(row.progress or "null") or {}
    settings = progress.pop("settings", None)
    out = {"id": row.id, "instance_id": row.instance_id, "database": row.database_name,
           "table": row.table_name, "alter": row.alter, "status": row.status,
           "postpone_cut_over": bool(options.get("postpone_cut_over")),
           "keep_old_table": bool(options.get("keep_old_table")),
           "progress": progress or None, "fail_reason": row.fail_reason,
           "created": row.created.isoformat(), "updated": row.updated.isoformat(),
           "finished": row.finished.isoformat() if row.finished else None}
    out["settings"] = settings or {k: options[k] for k in SETTING_KEYS if k in options}
    return out


class SchemaMigrationService:
    def __init__(self, db: Database, guests: GuestAdminService) -> None:
        """``guests``: a GuestAdminService (serving-instance checks and GuestAPI)."""
        self.db = db
        self.guests = guests

    def _instance(self, s: Session, tenant_id: str, instance_id: str) -> None:
        models.get_owned(s, models.Instance, tenant_id, instance_id,
                         NotFound(kind="Instance", id=instance_id))

    def create(self, tenant_id: str, instance_id: str, body: dict) -> dict:
        v.validate_database_name(body["database"])
        table = body["table"]
        if table.endswith(" ") or "/" in table or "\\" in table or "." in table:
            raise BadRequest(reason="table name %r is not valid" % table)
        alter = check_alter(table, body["alter"])
        for key in ("max_load", "critical_load"):
            check_load(body.get(key))
        guest = self.guests.guest(tenant_id, instance_id, "schema migration")
        options = {k: body[k] for k in OPTION_KEYS if body.get(k) is not None}
        with self.db.session() as s:
            live = s.execute(select(models.SchemaMigration).where(
                models.SchemaMigration.instance_id == instance_id,
                models.SchemaMigration.status.not_in(FINAL))).scalars().all()
            for other in live:
                if (other.database_name.lower(), other.table_name.lower()) == (
                        body["database"].lower(), table.lower()):
                    raise Conflict(reason="schema migration %s of %s.%s is %s; one migration "
                                          "at a time per table" % (
                                              other.id, other.database_name,
                                              other.table_name, other.status))
            row = models.SchemaMigration(tenant_id=tenant_id, instance_id=instance_id,
                                         database_name=body["database"], table_name=table,
                                         alter=alter, options=json.dumps(options),
                                         status="NEW")
            s.add(row)
            s.flush()
            migration_id = row.id
        spec = dict(options, id=migration_id, database=body["database"], table=table,
                    alter=alter)
        try:
            guest.start_schema_migration(spec)
        except Exception:
            with self.db.session() as s:
                stored = s.get(models.SchemaMigration, migration_id)
                if stored is not None and stored.status == "NEW":
                    s.delete(stored)
            raise
        return self.show(tenant_id, instance_id, migration_id)

    def list(self, tenant_id: str, instance_id: str) -> list:
        with self.db.session() as s:
            self._instance(s, tenant_id, instance_id)
            rows = s.execute(select(models.SchemaMigration).where(
                models.SchemaMigration.instance_id == instance_id,
                models.SchemaMigration.tenant_id == tenant_id)
                .order_by(models.SchemaMigration.created)).scalars().all()
            return [view(r) for r in rows]

    def _row(self, s: Session, tenant_id: str, instance_id: str,
             migration_id: str) -> models.SchemaMigration:
        self._instance(s, tenant_id, instance_id)
        row = s.get(models.SchemaMigration, migration_id)
        if row is None or row.tenant_id != tenant_id or row.instance_id != instance_id:
            raise SchemaMigrationNotFound(id=migration_id)
        return row

    def show(self, tenant_id: str, instance_id: str, migration_id: str) -> dict:
        with self.db.session() as s:
            return view(self._row(s, tenant_id, instance_id, migration_id))

    def action(self, tenant_id: str, instance_id: str, migration_id: str, body: dict) -> dict:
        (name, values), = body.items()
        if name == "set":
            if not values:
                raise BadRequest(reason="'set' needs at least one setting")
            for key in ("max_load", "critical_load"):
                check_load(values.get(key))
        with self.db.session() as s:
            row = self._row(s, tenant_id, instance_id, migration_id)
            if row.status in FINAL:
                raise Conflict(reason="schema migration %s is %s; %s is not possible" % (
                    migration_id, row.status, name))
        guest = self.guests.guest(tenant_id, instance_id, "schema migration %s" % name)
        report = guest.schema_migration_action(migration_id, name, values or None)
        shown = self.show(tenant_id, instance_id, migration_id)
        # the guest's answer is newer than the last heartbeat the conductor applied
        if shown["status"] not in FINAL and report.get("status"):
            shown["status"] = report["status"]
            progress = dict(report.get("progress") or {})
            shown["settings"] = progress.pop("settings", shown["settings"])
            shown["progress"] = progress or shown["progress"]
        return shown
