"""The quota engine on both control-plane databases (SQLite, the machine's MariaDB).

The API's create path is ``reserve`` + insert in one transaction; these tests
drive exactly that from many threads and count what got in.
"""

import threading

import pytest
from sqlalchemy import func, select

from tests.support.controldb import control_db  # noqa: F401  (fixture)
from trove_lite import config, quota
from trove_lite.db import models
from trove_lite.exceptions import BadRequest


@pytest.fixture
def conf():
    return config.make_conf(overrides={"quota.max_instances_per_tenant": 3,
                                       "quota.max_ram_per_tenant": 4096})


def _seed(db):
    with db.session() as s:
        ds = models.Datastore(name="mariadb")
        s.add(ds)
        s.flush()
        version = models.DatastoreVersion(datastore_id=ds.id, name="10.11", image_id="x")
        s.add(version)
        s.add(models.Flavor(id="1", name="tiny", ram=512))
        s.add(models.Flavor(id="3", name="big", ram=2048))
        s.flush()
        return version.id


def _create(db, engine, tenant, version_id, flavor_id="1", size=1):
    """What InstanceService.create does: reserve and insert in one transaction."""
    with db.session() as s:
        ram = s.get(models.Flavor, flavor_id).ram
        engine.reserve(s, tenant, quota.instance_deltas(size, ram))
        inst = models.Instance(name="i", tenant_id=tenant, flavor_id=flavor_id,
                               datastore_version_id=version_id, volume_size=size)
        s.add(inst)
    return inst.id


def test_concurrent_creates_at_quota_3_accept_exactly_3(control_db, conf):
    version_id = _seed(control_db)
    engine = quota.QuotaEngine(conf)
    results = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        try:
            results.append(_create(control_db, engine, "t1", version_id))
        except quota.QuotaOverLimit as e:
            results.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if not isinstance(r, str)]
    assert len(accepted) == 3 and len(refused) == 5
    assert all(e.http_status == 413 and
               e.message == "Quota exceeded for resources: ['instances']" for e in refused)
    with control_db.session() as s:
        assert s.execute(select(func.count(models.Instance.id))).scalar() == 3
        shown = {q["resource"]: q for q in engine.show(s, "t1")}
    assert shown["instances"] == {"resource": "instances", "in_use": 3, "reserved": 0,
                                  "limit": 3}
    assert shown["volumes"]["in_use"] == 3 and shown["ram"]["in_use"] == 1536


def test_release_is_idempotent_and_frees_room(control_db, conf):
    version_id = _seed(control_db)
    engine = quota.QuotaEngine(conf)
    ids = [_create(control_db, engine, "t2", version_id, size=2) for _ in range(3)]
    with pytest.raises(quota.QuotaOverLimit):
        _create(control_db, engine, "t2", version_id)
    with control_db.session() as s:
        s.get(models.Instance, ids[0]).deleted = True
    assert quota.release_instance(control_db, conf, ids[0]) is True
    assert quota.release_instance(control_db, conf, ids[0]) is False  # a resumed delete
    with control_db.session() as s:
        usage = {q["resource"]: q["in_use"] for q in engine.show(s, "t2")}
    assert usage == {"instances": 2, "volumes": 4, "backups": 0, "ram": 1024}
    _create(control_db, engine, "t2", version_id)


def test_ram_and_overrides(control_db, conf):
    version_id = _seed(control_db)
    engine = quota.QuotaEngine(conf)
    _create(control_db, engine, "t3", version_id, flavor_id="3")
    _create(control_db, engine, "t3", version_id, flavor_id="3")
    with pytest.raises(quota.QuotaOverLimit) as err:
        _create(control_db, engine, "t3", version_id, flavor_id="1")
    assert err.value.message == "Quota exceeded for resources: ['ram']"
    with control_db.session() as s:
        engine.set_limits(s, "t3", {"ram": -1, "instances": 10})
    _create(control_db, engine, "t3", version_id, flavor_id="3")
    with control_db.session() as s:
        assert engine.limits(s, "t3")["ram"] == -1
        assert engine.limits(s, "other")["instances"] == 3  # defaults elsewhere


def test_first_usage_counts_existing_instances(control_db, conf):
    version_id = _seed(control_db)
    with control_db.session() as s:
        for _ in range(2):
            s.add(models.Instance(name="old", tenant_id="t4", flavor_id="1",
                                  datastore_version_id=version_id, volume_size=5))
    engine = quota.QuotaEngine(conf)
    with control_db.session() as s:
        usage = {q["resource"]: q["in_use"] for q in engine.show(s, "t4")}
    assert usage == {"instances": 2, "volumes": 10, "backups": 0, "ram": 1024}


@pytest.mark.parametrize("values", [{"cows": 1}, {"instances": "3"}, {"instances": True},
                                    {"instances": -2}, {}])
def test_validate_limits_refuses(values):
    with pytest.raises(BadRequest):
        quota.validate_limits(values)


def test_over_limit_decision():
    limits = {"instances": 3, "volumes": -1, "ram": 100, "backups": 0}
    usage = {"instances": 3, "volumes": 10 ** 6, "ram": 50, "backups": 0}
    assert quota.over_limit(limits, usage, {"instances": 1, "volumes": 5}) == ["instances"]
    assert quota.over_limit(limits, usage, {"ram": 50}) == []
    assert quota.over_limit(limits, usage, {"ram": 51, "backups": 1}) == ["backups", "ram"]
    assert quota.over_limit(limits, usage, {"instances": -1}) == []


def test_release_of_an_untracked_tenant_counts_instead_of_subtracting(control_db, conf):
    """Instances recorded before quotas were tracked: the first usage rows are
    counted from live rows, so the deleted instance is not subtracted twice."""
    version_id = _seed(control_db)
    with control_db.session() as s:
        rows = [models.Instance(name="old", tenant_id="t5", flavor_id="1",
                                datastore_version_id=version_id, volume_size=3)
                for _ in range(2)]
        s.add_all(rows)
    with control_db.session() as s:
        s.get(models.Instance, rows[0].id).deleted = True
    assert quota.release_instance(control_db, conf, rows[0].id) is True
    with control_db.session() as s:
        usage = {q["resource"]: q["in_use"] for q in quota.QuotaEngine(conf).show(s, "t5")}
    assert usage == {"instances": 1, "volumes": 3, "backups": 0, "ram": 512}
