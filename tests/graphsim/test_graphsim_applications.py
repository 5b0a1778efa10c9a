"""The app's own application object as Graph serves it: found by appId with
passwordCredentials (end dates, hints, never the secret), only in the app's home tenant,
and 403 Authorization_RequestDenied without Application.Read.All. The control API and
the CLI set the end date of the app's current secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SELECT = "$select=id,appId,passwordCredentials"


def _world_that_may_read(make_world):
    return make_world(permissions=("User.Read.All", "Application.Read.All"))


def test_the_app_reads_its_own_secrets_end_date_by_app_id(make_world):
    world = _world_that_may_read(make_world)
    control, app_id = world.sim.control, world.app["clientId"]
    set_ = control.set_secret_expiry(world.tid, app_id, "2027-01-31T12:00:00Z")
    assert set_["passwordCredential"]["endDateTime"] == "2027-01-31T12:00:00Z"

    listed = world.get(f"applications?$filter=appId eq '{app_id}'&{SELECT}")
    assert listed.status_code == 200, listed.text
    [application] = listed.json()["value"]
    assert set(application) == {"id", "appId", "passwordCredentials"}
    [credential] = application["passwordCredentials"]
    assert credential["endDateTime"] == "2027-01-31T12:00:00Z"
    assert credential["hint"] == world.app["secret"][:3] and credential["keyId"]
    assert credential["secretText"] is None
    assert world.app["secret"] not in listed.text

    direct = world.get(f"applications(appId='{app_id}')?{SELECT}")
    assert direct.status_code == 200 and direct.json()["id"] == application["id"]
    assert direct.json()["@odata.context"].endswith("/$entity")
    by_object_id = world.get(f"applications/{application['id']}?$select=appId")
    assert by_object_id.json()["appId"] == app_id
    other = world.get("applications?$filter=appId eq '00000000-0000-0000-0000-000000000001'")
    assert other.status_code == 200 and other.json()["value"] == []


def test_without_application_read_all_graph_says_authorization_request_denied(make_world):
    world = make_world()
    world.sim.control.set_secret_expiry(world.tid, world.app["clientId"], "2027-01-31T00:00:00Z")
    for path in (
        f"applications?$filter=appId eq '{world.app['clientId']}'",
        f"applications(appId='{world.app['clientId']}')",
    ):
        response = world.get(path)
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "Authorization_RequestDenied"
        assert error["message"] == "Insufficient privileges to complete the operation."


def test_another_tenant_holds_only_the_service_principal(make_world):
    home = _world_that_may_read(make_world)
    home.sim.control.set_secret_expiry(home.tid, home.app["clientId"], "2027-01-31T00:00:00Z")
    customer = _world_that_may_read(make_world)
    customer.sim.control.grant(
        customer.tid, home.app["clientId"], application_permissions=["Application.Read.All"]
    )
    token = customer.sim.control.app_token(customer.tid, home.app["clientId"], home.app["secret"])

    listed = customer.get(f"applications?$filter=appId eq '{home.app['clientId']}'", token=token)
    assert listed.status_code == 200 and listed.json()["value"] == []
    direct = customer.get(f"applications(appId='{home.app['clientId']}')", token=token)
    assert direct.status_code == 404
    assert direct.json()["error"]["code"] == "Request_ResourceNotFound"


def test_a_fresh_secret_ends_two_years_on_and_bad_dates_are_refused(make_world, sim):
    world = _world_that_may_read(make_world)
    control = sim.control
    control.update_app(world.app["clientId"], homeTenantId=world.tid)
    [credential] = world.get(f"applications(appId='{world.app['clientId']}')").json()[
        "passwordCredentials"
    ]
    assert int(credential["endDateTime"][:4]) - int(credential["startDateTime"][:4]) == 2
    try:
        control.set_secret_expiry(world.tid, world.app["clientId"], "soon")
    except Exception as exc:  # GraphSimError(400, ...)
        assert "endDateTime" in str(exc)
    else:
        raise AssertionError("a date that is not ISO 8601 must be refused")


def test_the_cli_sets_the_end_date(make_world, sim):
    world = _world_that_may_read(make_world)
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "graphsim",
            "--url",
            sim.base_url,
            "--ca",
            sim.ca_path,
            "app",
            "secret-expiry",
            world.tid,
            world.app["clientId"],
            "2026-12-20T00:00:00Z",
        ],
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert json.loads(output)["passwordCredential"]["endDateTime"] == "2026-12-20T00:00:00Z"
    read = world.get(f"applications(appId='{world.app['clientId']}')?{SELECT}").json()
    assert read["passwordCredentials"][0]["endDateTime"] == "2026-12-20T00:00:00Z"
