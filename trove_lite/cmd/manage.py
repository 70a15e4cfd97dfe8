"""trove-lite-manage: operator commands on the control-plane database.

    trove-lite-manage [--config-file F] db_sync
    trove-lite-manage datastore_update NAME DEFAULT_VERSION
    trove-lite-manage datastore_version_update DATASTORE VERSION MANAGER IMAGE_ID PACKAGES ACTIVE
                                               [--version NUMBER]
    trove-lite-manage datastore_version_flavor_add DATASTORE VERSION FLAVOR_IDS
    trove-lite-manage datastore_version_flavor_delete DATASTORE VERSION FLAVOR_ID
    trove-lite-manage db_load_datastore_config_parameters DATASTORE VERSION RULES_JSON
    trove-lite-manage flavor_create ID NAME RAM_MB VCPUS DISK_GB
    trove-lite-manage flavor_list
    trove-lite-manage image_register_system [IMAGE_ID]
    trove-lite-manage image_fetch IMAGE_ID... [--inactive]

Argument order and meaning follow trove-manage. Each command prints one line
saying what it changed; a bad argument exits 2 with a message and changes nothing.
"""

import argparse
import json
import os
import sys
from typing import Callable

from oslo_config import cfg
from sqlalchemy import select

from trove_lite import catalog, config, datastores, exceptions
from trove_lite.db import deployment, models
from trove_lite.db.session import Database


# -- operations (also used by trove-lite-aio) ---------------------------------------
def datastore_update(db: Database, name: str, default_version: str) -> str:
    with db.session() as s:
        ds = s.execute(select(models.Datastore).where(
            models.Datastore.name == name)).scalar_one_or_none()
        if ds is None:
            ds = models.Datastore(name=name)
            s.add(ds)
            s.flush()
        if default_version:
            v = catalog.find_version(s, ds, default_version)
            ds.default_version_id = v.id
        return "Datastore '%s' updated." % name


def datastore_version_update(db: Database, datastore: str, version: str, manager: str,
                             image_id: str, packages: str | None, active: object,
                             version_number: str | None = None) -> str:
    datastores.get(manager)   # a manager no guest implements is refused
    with db.session() as s:
        ds = catalog.find_datastore(s, datastore)
        v = s.execute(select(models.DatastoreVersion).where(
            models.DatastoreVersion.datastore_id == ds.id,
            models.DatastoreVersion.name == version)).scalar_one_or_none()
        if v is None:
            v = models.DatastoreVersion(datastore_id=ds.id, name=version)
            s.add(v)
        v.manager, v.image_id, v.packages = manager, image_id, packages or ""
        v.active = _bool(active)
        v.version = version_number or version
        s.flush()
        if ds.default_version_id is None:
            ds.default_version_id = v.id
        return "Datastore version '%s' of '%s' updated." % (version, datastore)


def datastore_version_flavor_add(db: Database, datastore: str, version: str,
                                 flavor_ids: str) -> str:
    with db.session() as s:
        v = catalog.find_version(s, catalog.find_datastore(s, datastore), version)
        added: list[str] = []
        for fid in [f.strip() for f in flavor_ids.split(",") if f.strip()]:
            if s.get(models.Flavor, fid) is None:
                raise exceptions.NotFound(kind="Flavor", id=fid)
            exists = s.execute(select(models.DatastoreVersionFlavor).where(
                models.DatastoreVersionFlavor.datastore_version_id == v.id,
                models.DatastoreVersionFlavor.flavor_id == fid)).scalar_one_or_none()
            if exists is None:
                s.add(models.DatastoreVersionFlavor(datastore_version_id=v.id, flavor_id=fid))
                added.append(fid)
        return "Added flavors %s to %s %s." % (",".join(added) or "(none new)", datastore,
                                                version)


def datastore_version_flavor_delete(db: Database, datastore: str, version: str,
                                    flavor_id: str) -> str:
    with db.session() as s:
        v = catalog.find_version(s, catalog.find_datastore(s, datastore), version)
        row = s.execute(select(models.DatastoreVersionFlavor).where(
            models.DatastoreVersionFlavor.datastore_version_id == v.id,
            models.DatastoreVersionFlavor.flavor_id == flavor_id)).scalar_one_or_none()
        if row is None:
            raise exceptions.NotFound(kind="Flavor association", id=flavor_id)
        s.delete(row)
        return "Removed flavor %s from %s %s." % (flavor_id, datastore, version)


def load_config_parameters(db: Database, datastore: str, version: str, rules_path: str) -> str:
    with open(rules_path) as f:
        rules = json.load(f)["configuration-parameters"]
    with db.session() as s:
        v = catalog.find_version(s, catalog.find_datastore(s, datastore), version)
        existing = {r.name: r for r in s.execute(
            select(models.DatastoreConfigurationParameter).where(
                models.DatastoreConfigurationParameter.datastore_version_id == v.id)).scalars()}
        for rule in rules:
            row = existing.get(rule["name"]) or models.DatastoreConfigurationParameter(
                datastore_version_id=v.id, name=rule["name"])
            row.data_type = rule["type"]
            row.min_size = None if rule.get("min") is None else str(rule["min"])
            row.max_size = None if rule.get("max") is None else str(rule["max"])
            row.restart_required = bool(rule.get("restart_required", False))
            row.dynamic = bool(rule.get("dynamic", not row.restart_required))
            row.allowed_values = (json.dumps(rule["allowed_values"])
                                  if rule.get("allowed_values") else None)
            extra = {k: rule[k] for k in ("multiple", "pattern", "cnf_option") if rule.get(k)}
            row.cnf_extra = json.dumps(extra, sort_keys=True) if extra else None
            row.deleted = False
            s.add(row)
        return "Loaded %d configuration parameters for %s %s." % (len(rules), datastore,
                                                                   version)


def flavor_create(db: Database, flavor_id: str, name: str, ram: int | str, vcpus: int | str,
                  disk: int | str) -> str:
    for label, value in (("RAM_MB", ram), ("VCPUS", vcpus), ("DISK_GB", disk)):
        if int(value) < (1 if label != "DISK_GB" else 0):
            raise exceptions.BadRequest(reason="%s must be positive, not %s" % (label, value))
    with db.session() as s:
        if s.get(models.Flavor, str(flavor_id)) is not None:
            raise exceptions.Conflict(reason="Flavor %s already exists." % flavor_id)
        s.add(models.Flavor(id=str(flavor_id), name=name, ram=int(ram), vcpus=int(vcpus),
                            disk=int(disk)))
        return "Flavor %s (%s) created." % (flavor_id, name)


def flavor_list(db: Database) -> str:
    with db.session() as s:
        rows = s.execute(select(models.Flavor).order_by(models.Flavor.ram)).scalars().all()
        lines = ["%-6s %-12s %8s %6s %6s" % ("ID", "Name", "RAM(MB)", "vCPUs", "Disk")]
        lines += ["%-6s %-12s %8d %6d %6d" % (f.id, f.name, f.ram, f.vcpus, f.disk)
                  for f in rows]
        return "\n".join(lines)


def image_register_system(conf: cfg.ConfigOpts, image_id: str | None = None) -> str:
    from trove_lite.drivers import factory
    registry = factory.build_image_registry(conf, register_system=False)
    spec = registry.ensure_system_mariadb(*([image_id] if image_id else []))
    version = (spec or {}).get("binaries", {}).get("version", "?")
    return "Registered local image %s (%s)." % (image_id or "mariadb-10.11", version)


def image_fetch(conf: cfg.ConfigOpts, db: Database, image_id: str, active: bool = True,
                progress: Callable[[str], None] = print) -> str:
    """Build (or take from the cache) a local image of another server version, register
    it and its datastore version, and load that version's own configuration rules."""
    from trove_lite.drivers import factory, imagebuild
    registry = factory.build_image_registry(conf)
    if image_id == "mariadb-10.11":
        spec = registry.ensure_system_mariadb(image_id)["binaries"]
        rules = os.path.join(config.templates_dir(conf), "mariadb", "validation-rules.json")
        datastore, version = "mariadb", "10.11"
    else:
        recipe = imagebuild.recipe_of(image_id)
        spec, rules = imagebuild.build(image_id, progress=progress)
        product = "MySQL" if recipe.datastore == "mysql" else "MariaDB"
        registry.register(image_id, "%s %s (Debian %s)" % (product, spec["version"],
                                                           recipe.suite), spec)
        datastore, version = recipe.datastore, recipe.version
    with db.session() as s:
        known = s.execute(select(models.Datastore).where(
            models.Datastore.name == datastore)).scalar_one_or_none()
    if known is None:
        datastore_update(db, datastore, "")
    datastore_version_update(db, datastore, version, datastore, image_id, "",
                             "1" if active else "0", version)
    load_config_parameters(db, datastore, version, rules)
    return "Image %s (%s %s) registered as datastore %s version %s." % (
        image_id, datastore, spec["version"], datastore, version)


def _bool(text: object) -> bool:
    if str(text).lower() in ("1", "true", "yes", "on"):
        return True
    if str(text).lower() in ("0", "false", "no", "off"):
        return False
    raise exceptions.BadRequest(reason="ACTIVE must be 1/0 or true/false, not %r" % text)


# -- command line ---------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trove-lite-manage")
    p.add_argument("--config-file", action="append", default=[])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("db_sync")
    c = sub.add_parser("datastore_update")
    c.add_argument("name"), c.add_argument("default_version")
    c = sub.add_parser("datastore_version_update")
    for a in ("datastore", "version", "manager", "image_id", "packages", "active"):
        c.add_argument(a)
    c.add_argument("--version", dest="version_number")
    c = sub.add_parser("datastore_version_flavor_add")
    c.add_argument("datastore"), c.add_argument("version"), c.add_argument("flavor_ids")
    c = sub.add_parser("datastore_version_flavor_delete")
    c.add_argument("datastore"), c.add_argument("version"), c.add_argument("flavor_id")
    c = sub.add_parser("db_load_datastore_config_parameters")
    c.add_argument("datastore"), c.add_argument("version"), c.add_argument("rules_path")
    c = sub.add_parser("flavor_create")
    for a in ("id", "name", "ram", "vcpus", "disk"):
        c.add_argument(a)
    sub.add_parser("flavor_list")
    c = sub.add_parser("image_register_system")
    c.add_argument("image_id", nargs="?")
    c = sub.add_parser("image_fetch")
    c.add_argument("image_ids", nargs="+")
    c.add_argument("--inactive", action="store_true")
    return p


def run(args: argparse.Namespace, conf: cfg.ConfigOpts, db: Database) -> str:
    cmd = args.command
    if cmd == "db_sync":
        db.sync()
        return "Database schema is at the newest revision (deployment %s)." % (
            deployment.deployment_id(db))
    if cmd == "datastore_update":
        return datastore_update(db, args.name, args.default_version)
    if cmd == "datastore_version_update":
        return datastore_version_update(db, args.datastore, args.version, args.manager,
                                        args.image_id, args.packages, args.active,
                                        args.version_number)
    if cmd == "datastore_version_flavor_add":
        return datastore_version_flavor_add(db, args.datastore, args.version, args.flavor_ids)
    if cmd == "datastore_version_flavor_delete":
        return datastore_version_flavor_delete(db, args.datastore, args.version,
                                               args.flavor_id)
    if cmd == "db_load_datastore_config_parameters":
        return load_config_parameters(db, args.datastore, args.version, args.rules_path)
    if cmd == "flavor_create":
        return flavor_create(db, args.id, args.name, args.ram, args.vcpus, args.disk)
    if cmd == "flavor_list":
        return flavor_list(db)
    if cmd == "image_register_system":
        return image_register_system(conf, args.image_id)
    if cmd == "image_fetch":
        return "\n".join(image_fetch(conf, db, i, not args.inactive) for i in args.image_ids)
    raise AssertionError(cmd)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    conf = config.make_conf([], config_files=args.config_file)
    db = Database(config.database_url(conf))
    try:
        print(run(args, conf, db))
    except exceptions.TroveLiteError as e:
        print("ERROR: %s" % e.message, file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as e:
        print("ERROR: %s" % e, file=sys.stderr)
        return 2
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
