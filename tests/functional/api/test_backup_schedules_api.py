"""``/backup_schedules`` through the real API stack: shapes, strict 4xx, tenants.

Bad bodies answer 400 in Trove's fault format and record nothing; another
tenant's schedules and instances are 404. (The scheduler that runs schedules is
tested in tests/functional/backup_schedules/.)
"""

import datetime

import pytest
from sqlalchemy import func, select, update

from tests.functional.api.test_instances_api import create, fault
from trove_lite.db import models

pytestmark = pytest.mark.slow


def body(instance_id, **extra):
    b = {"instance_id": instance_id, "name": "nightly", "pattern": "30 2 * * *",
         "incremental": True, "retention": {"count": 7}}
    b.update(extra)
    return {"backup_schedule": b}


def count(env):
    with env.db.session() as s:
        return s.execute(select(func.count()).select_from(models.BackupSchedule)).scalar_one()


def test_create_show_list_patch_delete(api_env, tenant):
    inst = create(api_env, tenant)
    resp = api_env.http("POST", tenant, "/backup_schedules", body(inst.id))
    assert resp.status_code == 201, resp.text
    made = resp.json()["backup_schedule"]
    assert made["instance_id"] == inst.id and made["pattern"] == "30 2 * * *"
    assert made["incremental"] is True and made["retention"] == {"count": 7}
    assert made["next_run"].endswith("02:30:00") and made["last_run"] is None
    assert made["last_backup_status"] is None
    shown = api_env.http("GET", tenant, "/backup_schedules/" + made["id"]).json()
    assert shown["backup_schedule"] == made
    listed = api_env.http("GET", tenant, "/backup_schedules").json()["backup_schedules"]
    assert [s["id"] for s in listed] == [made["id"]]
    assert api_env.http("GET", tenant, "/backup_schedules?instance_id=other").json() == {
        "backup_schedules": []}

    resp = api_env.http("PATCH", tenant, "/backup_schedules/" + made["id"],
                        {"backup_schedule": {"pattern": "0 */6 * * *",
                                             "retention": {"days": 3}}})
    assert resp.status_code == 200, resp.text
    changed = resp.json()["backup_schedule"]
    assert changed["pattern"] == "0 */6 * * *" and changed["retention"] == {"days": 3}
    next_run = datetime.datetime.strptime(changed["next_run"], "%Y-%m-%dT%H:%M:%S")
    assert next_run.hour % 6 == 0 and next_run.minute == 0
    assert changed["name"] == "nightly" and changed["incremental"] is True

    assert api_env.http("DELETE", tenant, "/backup_schedules/" + made["id"]).status_code == 202
    fault(api_env.http("GET", tenant, "/backup_schedules/" + made["id"]), "itemNotFound", 404)
    assert api_env.http("GET", tenant, "/backup_schedules").json()["backup_schedules"] == []


BAD = [
    ("unknown field", {"colour": "red"}, "colour"),
    ("4 cron fields", {"pattern": "* * * *"}, "4 field(s)"),
    ("6 cron fields", {"pattern": "* * * * * */5"}, "6 field(s)"),
    ("minute 61", {"pattern": "61 * * * *"}, "not a valid cron pattern"),
    ("alias", {"pattern": "@daily"}, "1 field(s)"),
    ("never matches", {"pattern": "0 0 30 2 *"}, "never matches"),
    ("both retentions", {"retention": {"count": 2, "days": 3}}, "retention"),
    ("empty retention", {"retention": {}}, "retention"),
    ("retention count 0", {"retention": {"count": 0}}, "retention"),
    ("retention float", {"retention": {"days": 1.5}}, "retention"),
    ("retention unknown", {"retention": {"weeks": 1}}, "retention"),
    ("incremental string", {"incremental": "yes"}, "incremental"),
    ("blank name", {"name": "   "}, "blank"),
    ("control char", {"name": "a\x1bb"}, "name"),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: c[0])
def test_bad_body_is_400_and_records_nothing(api_env, tenant, case):
    _, extra, words = case
    inst = create(api_env, tenant)
    before = count(api_env)
    message = fault(api_env.http("POST", tenant, "/backup_schedules", body(inst.id, **extra)),
                    "badRequest", 400)
    assert words in message
    assert count(api_env) == before


def test_missing_fields_and_bad_patch(api_env, tenant):
    inst = create(api_env, tenant)
    for field in ("instance_id", "name", "pattern", "retention"):
        b = body(inst.id)
        del b["backup_schedule"][field]
        assert field in fault(api_env.http("POST", tenant, "/backup_schedules", b),
                              "badRequest", 400)
    made = api_env.http("POST", tenant, "/backup_schedules", body(inst.id)).json()
    sid = made["backup_schedule"]["id"]
    for patch in ({"instance_id": inst.id}, {}, {"pattern": "99 * * * *"},
                  {"retention": {"count": -1}}):
        fault(api_env.http("PATCH", tenant, "/backup_schedules/" + sid,
                           {"backup_schedule": patch}), "badRequest", 400)
    assert api_env.http("GET", tenant, "/backup_schedules/" + sid).json() == made


def test_tenants_see_only_their_own(api_env, tenant):
    inst = create(api_env, tenant)
    sid = api_env.http("POST", tenant, "/backup_schedules",
                       body(inst.id)).json()["backup_schedule"]["id"]
    other = tenant + "x"
    for method, b in (("GET", None), ("PATCH", {"backup_schedule": {"name": "mine"}}),
                      ("DELETE", None)):
        fault(api_env.http(method, other, "/backup_schedules/" + sid, b), "itemNotFound", 404)
    assert api_env.http("GET", other, "/backup_schedules").json()["backup_schedules"] == []
    fault(api_env.http("POST", other, "/backup_schedules", body(inst.id)), "itemNotFound", 404)
    assert api_env.http("GET", tenant, "/backup_schedules/" + sid).status_code == 200


def test_schedule_of_a_deleted_instance_is_gone(api_env, tenant):
    inst = create(api_env, tenant)
    sid = api_env.http("POST", tenant, "/backup_schedules",
                       body(inst.id)).json()["backup_schedule"]["id"]
    with api_env.db.session() as s:
        s.execute(update(models.Instance).where(models.Instance.id == inst.id)
                  .values(deleted=True))
    fault(api_env.http("GET", tenant, "/backup_schedules/" + sid), "itemNotFound", 404)
    assert api_env.http("GET", tenant, "/backup_schedules").json()["backup_schedules"] == []
    fault(api_env.http("POST", tenant, "/backup_schedules", body(inst.id)), "itemNotFound", 404)
