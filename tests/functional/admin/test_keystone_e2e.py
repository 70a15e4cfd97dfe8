"""The whole control plane behind a real Keystone (``[api] auth_strategy = keystone``).

python-troveclient on keystoneauth password sessions for projects alpha and
beta (members) and admin: alpha's instance is invisible and untouchable for
beta (404 through beta's own path and through alpha's), no token is 401,
a member cannot reach ``mgmt/`` (403) and the admin can.
"""

import statistics
import time

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from troveclient import exceptions as trove_exceptions
from troveclient.v1 import client as trove_client

from tests.functional.admin.conftest import start_control_plane, stop_control_plane
from tests.support.controlplane import wait_for_status
from tests.support.keystone_aio import PASSWORD

pytestmark = pytest.mark.slow


def password_session(keystone, user, project):
    return ks_session.Session(auth=v3.Password(
        auth_url=keystone.auth_url, username=user, password=PASSWORD,
        project_name=project, user_domain_id="default", project_domain_id="default"))


def client(cp, session, project_id):
    """troveclient on a Keystone session; the catalog has no database endpoint,
    so the URL (with the project id as tenant) is given."""
    return trove_client.Client(session=session, endpoint_override=cp.endpoint(project_id))


@pytest.fixture(scope="module")
def ks(keystone_aio):
    cp = start_control_plane("trove-lite-keystone-", "[api]\nauth_strategy = keystone\n"
                             + keystone_aio.authtoken_config())
    projects = keystone_aio.projects
    sessions = {name: password_session(keystone_aio, user, name) for name, user in (
        ("alpha", "alpha-user"), ("beta", "beta-user"), ("admin", "admin"))}
    clients = {name: client(cp, sessions[name], projects[name]) for name in sessions}
    try:
        inst = clients["alpha"].instances.create(
            "alpha-db", "1", volume={"size": 1}, datastore="mariadb",
            datastore_version="10.11")
        yield cp, projects, sessions, clients, inst
    finally:
        stop_control_plane(cp, [clients["alpha"]])


def test_no_or_bad_token_is_401(ks):
    cp, projects, _, _, inst = ks
    for headers in ({}, {"X-Auth-Token": "not-a-token"}):
        resp = requests.get(cp.endpoint(projects["alpha"]) + "/instances/" + inst.id,
                            headers=headers, timeout=30)
        assert resp.status_code == 401
        assert resp.json() == {"unauthorized": {"code": 401,
                                                "message": "Authentication required."}}


def test_other_project_cannot_see_or_touch_an_instance(ks):
    cp, projects, sessions, clients, inst = ks
    alpha, beta = clients["alpha"], clients["beta"]
    inst = wait_for_status(alpha, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
    assert inst.status == "ACTIVE", getattr(inst, "fault", None)
    alpha.databases.create(inst.id, [{"name": "alpha_data"}])
    assert [d.name for d in alpha.databases.list(inst.id)] == ["alpha_data"]

    assert inst.id not in [i.id for i in beta.instances.list()]
    # beta's token on alpha's tenant path: refused before any lookup
    beta_on_alpha = client(cp, sessions["beta"], projects["alpha"])
    for trove in (beta, beta_on_alpha):
        with pytest.raises(trove_exceptions.NotFound):
            trove.instances.get(inst.id)
        with pytest.raises(trove_exceptions.NotFound):
            trove.instances.delete(inst.id)
        with pytest.raises(trove_exceptions.NotFound):
            trove.databases.list(inst.id)
        with pytest.raises(trove_exceptions.NotFound):
            trove.users.create(inst.id, [{"name": "intruder", "password": "x-pw-1"}])
    with pytest.raises(trove_exceptions.NotFound):
        beta_on_alpha.instances.list()
    assert alpha.instances.get(inst.id).status == "ACTIVE"
    assert [u.name for u in alpha.users.list(inst.id)] == []


def test_mgmt_is_admin_only(ks):
    cp, projects, _, clients, _ = ks
    with pytest.raises(trove_exceptions.Forbidden):
        clients["alpha"].quota.show(projects["alpha"])
    with pytest.raises(trove_exceptions.Forbidden):
        clients["alpha"].quota.update(projects["alpha"], {"instances": 100})
    quotas = {q.resource: q for q in clients["admin"].quota.show(projects["alpha"])}
    assert quotas["instances"].in_use == 1 and quotas["instances"].limit == 10
    assert clients["admin"].quota.update(projects["beta"], {"instances": 2}) == \
        {"instances": 2}
    (limits,) = clients["beta"].limits.list()
    assert limits.max_instances == 2


def test_request_latency_with_keystone(ks, keystone_aio, capsys):
    """Measured: a request with a token the middleware has seen, and with a fresh one."""
    cp, projects, _, clients, _ = ks
    alpha = clients["alpha"]
    alpha.instances.list()
    cached = []
    for _ in range(20):
        start = time.perf_counter()
        alpha.instances.list()
        cached.append((time.perf_counter() - start) * 1000)
    fresh = []
    for _ in range(5):
        trove = client(cp, password_session(keystone_aio, "alpha-user", "alpha"),
                       projects["alpha"])
        trove.client.session.get_token()  # the token is issued outside the timing
        start = time.perf_counter()
        trove.instances.list()
        fresh.append((time.perf_counter() - start) * 1000)
    with capsys.disabled():
        print("\nGET /instances with Keystone: seen token median %.1f ms (max %.1f), "
              "fresh token median %.1f ms (max %.1f)"
              % (statistics.median(cached), max(cached), statistics.median(fresh),
                 max(fresh)))
    assert statistics.median(cached) < 100
    assert statistics.median(fresh) < 300
