"""``trove-lite`` commands for quotas (admin: ``/mgmt/quotas``) and limits.

As trove: ``quota-show <tenant_id>``, ``quota-update <tenant_id> <resource>
<limit>``, ``limit-list``. The quota commands need an admin endpoint (no-auth:
``--tenant admin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
import argparse

from trove_lite.cli.main import Record, Table, arg, command

if TYPE_CHECKING:
    from troveclient.v1.client import Client


@command("quota-show", "Show quotas for a tenant.",
         arg("tenant_id", metavar="<tenant_id>", help="Id of tenant for which to show "
                                                      "quotas."))
def do_quota_show(cs: Client, args: argparse.Namespace) -> Table:
    raw = [q._info for q in cs.quota.show(args.tenant_id)]
    return Table(raw=raw, rows=raw, fields=["resource", "in_use", "reserved", "limit"])


@command("quota-update", "Update quotas for a tenant.",
         arg("tenant_id", metavar="<tenant_id>", help="Id of tenant for which to update "
                                                      "quotas."),
         arg("resource", metavar="<resource>", help="Id of resource to change."),
         arg("limit", metavar="<limit>", type=int, help="New limit to set for the named "
                                                         "resource."))
def do_quota_update(cs: Client, args: argparse.Namespace) -> Record:
    updated = cs.quota.update(args.tenant_id, {args.resource: args.limit})
    return Record(raw=updated, flat=dict(updated))


@command("limit-list", "Lists the limits for a tenant.")
def do_limit_list(cs: Client, args: argparse.Namespace) -> Table | Record:
    limits = [limit._info for limit in cs.limits.list()]
    absolute = limits.pop(0) if limits and limits[0].get("verb") == "ABSOLUTE" else {}
    if limits:
        # rate limits, shown as trove does, after the absolute ones
        return Table(raw=[absolute] + limits, rows=limits,
                     fields=["value", "verb", "remaining", "unit"])
    flat = {k: v for k, v in absolute.items() if k != "verb"}
    return Record(raw=[absolute], flat=flat)
