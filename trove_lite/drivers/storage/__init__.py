"""Backup storage drivers behind one interface (see ``base.StorageDriver``)."""

from oslo_config import cfg

from trove_lite.drivers.storage.base import (  # noqa: F401
    ChecksumMismatch, ObjectNotFound, StorageDriver, StorageError, StoredObject)


def get_storage(conf: cfg.ConfigOpts) -> StorageDriver:
    """The driver named by ``[backup_storage] driver``, built from ``conf``."""
    name = conf.backup_storage.driver
    if name == "local":
        from trove_lite.drivers.storage.local import LocalStorage
        return LocalStorage.from_conf(conf)
    if name == "swift":
        from trove_lite.drivers.storage.swift import SwiftStorage
        return SwiftStorage.from_conf(conf)
    raise StorageError("unknown backup storage driver %r" % name)
