"""Security groups and membership, delta rounds, and $batch."""

from __future__ import annotations

import time

from conftest import STRONG_PASSWORD

DUPLICATE = (
    "One or more added object references already exist for the following modified "
    "properties: 'members'."
)


def group_body(name: str, **extra) -> dict:
    return {
        "displayName": name,
        "mailEnabled": False,
        "mailNickname": name.replace(" ", ""),
        "securityEnabled": True,
        "groupTypes": [],
        **extra,
    }


def bind(world, user_id: str) -> str:
    return f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"


def test_group_lifecycle_and_membership_errors(world):
    alice, bob = world.create_user("galice"), world.create_user("gbob")
    created = world.post(
        "groups",
        json=group_body("Operations", **{"members@odata.bind": [bind(world, alice["id"])]}),
    )
    assert created.status_code == 201
    group = created.json()
    assert group["securityEnabled"] is True and group["groupTypes"] == []
    assert group["securityIdentifier"].startswith("S-1-12-1-")
    members = world.get(f"groups/{group['id']}/members").json()["value"]
    assert [(m["@odata.type"], m["id"]) for m in members] == [
        ("#microsoft.graph.user", alice["id"])
    ]
    assert world.get(f"groups/{group['id']}/members").headers["x-ms-resource-unit"] == "3"

    ref = {"@odata.id": bind(world, bob["id"])}
    assert world.post(f"groups/{group['id']}/members/$ref", json=ref).status_code == 204
    duplicate = world.post(f"groups/{group['id']}/members/$ref", json=ref).json()["error"]
    assert (duplicate["code"], duplicate["message"]) == ("Request_BadRequest", DUPLICATE)
    missing_id = "11111111-2222-3333-4444-555555555555"
    missing = world.post(
        f"groups/{group['id']}/members/$ref", json={"@odata.id": bind(world, missing_id)}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        f"Resource '{missing_id}' does not exist or one of its queried reference-property "
        "objects are not present."
    )
    assert world.delete(f"groups/{group['id']}/members/{bob['id']}/$ref").status_code == 204
    assert world.delete(f"groups/{group['id']}/members/{bob['id']}/$ref").status_code == 404

    assert world.patch(f"groups/{group['id']}", json={"description": "Ops"}).status_code == 204
    assert world.get(f"groups/{group['id']}").json()["description"] == "Ops"
    assert world.delete(f"groups/{group['id']}").status_code == 204
    assert world.get(f"groups/{group['id']}").status_code == 404
    deleted = world.get("directory/deletedItems/microsoft.graph.group").json()["value"]
    assert deleted == []  # security groups are deleted permanently


def test_members_bind_is_limited_to_20_and_all_or_nothing(world):
    users = [world.create_user(f"bind{i}") for i in range(21)]
    group = world.post("groups", json=group_body("Binders")).json()
    too_many = world.patch(
        f"groups/{group['id']}", json={"members@odata.bind": [bind(world, u["id"]) for u in users]}
    )
    assert too_many.status_code == 400
    first = {"@odata.id": bind(world, users[0]["id"])}
    world.post(f"groups/{group['id']}/members/$ref", json=first)
    partial = world.patch(
        f"groups/{group['id']}",
        json={"members@odata.bind": [bind(world, u["id"]) for u in users[:5]]},
    )
    assert partial.json()["error"]["message"] == DUPLICATE
    members = world.get(f"groups/{group['id']}/members").json()["value"]
    assert [m["id"] for m in members] == [users[0]["id"]]  # nothing else was added
    ok = world.patch(
        f"groups/{group['id']}",
        json={"members@odata.bind": [bind(world, u["id"]) for u in users[1:21]]},
    )
    assert ok.status_code == 204
    assert len(world.get(f"groups/{group['id']}/members").json()["value"]) == 21


def test_mail_enabled_security_groups_are_refused(world):
    response = world.post("groups", json=group_body("Mailers", mailEnabled=True))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(
        "The service does not currently support writes of mail-enabled groups."
    )


def rounds(world, url: str, **kwargs) -> tuple[list, str]:
    """Follow nextLinks to the deltaLink; return all items and the deltaLink."""
    items = []
    while True:
        body = world.get(url, **kwargs).json()
        items += body["value"]
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


def test_users_delta_rounds_with_changes_and_removals(make_world):
    world = make_world(users=150)
    initial, link = rounds(world, "users/delta?$select=displayName,jobTitle")
    assert len(initial) == 151 and all(set(u) == {"id", "displayName", "jobTitle"} for u in initial)
    quiet, link = rounds(world, link)
    assert quiet == []

    changed = initial[5]["id"]
    world.patch(f"users/{changed}", json={"jobTitle": "Delta tester"})
    new = world.create_user("deltanew")
    soft = initial[6]["id"]
    world.delete(f"users/{soft}")
    hard = initial[7]["id"]
    world.delete(f"users/{hard}")
    world.delete(f"directory/deletedItems/{hard}")
    items, link = rounds(world, link)
    by_id = {i["id"]: i for i in items}
    assert by_id[changed]["jobTitle"] == "Delta tester"
    assert "@removed" not in by_id[new["id"]]
    assert by_id[soft] == {"id": soft, "@removed": {"reason": "changed"}}
    assert by_id[hard] == {"id": hard, "@removed": {"reason": "deleted"}}
    assert len(items) == 4

    world.post(f"directory/deletedItems/{soft}/restore")
    items, link = rounds(world, link)
    assert [i["id"] for i in items] == [soft] and "@removed" not in items[0]


def test_groups_delta_reports_members_delta(world):
    alice, bob = world.create_user("dalice"), world.create_user("dbob")
    group = world.post(
        "groups",
        json=group_body("Delta group", **{"members@odata.bind": [bind(world, alice["id"])]}),
    ).json()
    initial, link = rounds(world, "groups/delta")
    entry = next(g for g in initial if g["id"] == group["id"])
    assert entry["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": alice["id"]}]
    world.post(f"groups/{group['id']}/members/$ref", json={"@odata.id": bind(world, bob["id"])})
    world.delete(f"groups/{group['id']}/members/{alice['id']}/$ref")
    items, link = rounds(world, link)
    assert len(items) == 1
    assert sorted(items[0]["members@delta"], key=lambda m: m["id"] != bob["id"]) == [
        {"@odata.type": "#microsoft.graph.user", "id": bob["id"]},
        {
            "@odata.type": "#microsoft.graph.user",
            "id": alice["id"],
            "@removed": {"reason": "deleted"},
        },
    ]
    world.delete(f"groups/{group['id']}")
    items, _ = rounds(world, link)
    assert items == [{"id": group["id"], "@removed": {"reason": "deleted"}}]


def test_delta_tokens_expire_after_seven_scaled_days(world):
    _, link = rounds(world, "users/delta")
    world.sim.control.set_time_scale(world.tid, 7 * 24 * 3600 * 4)  # 7 days -> 0.25 s
    time.sleep(0.3)
    expired = world.get(link)
    assert expired.status_code == 400
    error = expired.json()["error"]
    assert error["code"] == "syncStateNotFound"
    assert error["message"] == (
        "The sync state generation is not found. The delta token is "
        "expired and data must be synchronized again."
    )


def test_delta_tokens_die_with_a_tenant_reset(world):
    _, link = rounds(world, "users/delta")
    world.sim.control.reset_tenant(world.tid)
    assert world.get(link).json()["error"]["code"] == "syncStateNotFound"


def test_batch_with_dependencies_and_partial_failure(world):
    batch = {
        "requests": [
            {
                "id": "1",
                "method": "POST",
                "url": "/users",
                "headers": {"Content-Type": "application/json"},
                "body": world.new_user_body("batch1"),
            },
            {"id": "2", "dependsOn": ["1"], "method": "GET", "url": f"users/batch1@{world.domain}"},
            {
                "id": "3",
                "method": "POST",
                "url": "/users",
                "headers": {"Content-Type": "application/json"},
                "body": {**world.new_user_body("batch3"), "passwordProfile": {"password": "weak"}},
            },
            {"id": "4", "dependsOn": ["3"], "method": "GET", "url": f"users/batch3@{world.domain}"},
            {"id": "5", "method": "DELETE", "url": "/users/11111111-2222-3333-4444-555555555555"},
            {
                "id": "6",
                "method": "GET",
                "url": "users?$select=id&$count=true",
                "headers": {"ConsistencyLevel": "eventual"},
            },
        ]
    }
    response = world.post("$batch", json=batch)
    assert response.status_code == 200
    items = {r["id"]: r for r in response.json()["responses"]}
    assert items["1"]["status"] == 201 and items["1"]["body"]["displayName"] == "Batch1"
    assert items["2"]["status"] == 200
    assert items["3"]["status"] == 400
    assert items["3"]["body"]["error"]["message"].startswith("The specified password")
    assert items["4"]["status"] == 424
    assert items["5"]["status"] == 404
    assert items["6"]["body"]["@odata.count"] == 2
    assert items["2"]["headers"]["x-ms-resource-unit"] == "1"


def test_batch_limits(world):
    too_many = {
        "requests": [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(21)]
    }
    assert world.post("$batch", json=too_many).status_code == 400
    duplicate = {
        "requests": [
            {"id": "1", "method": "GET", "url": "/organization"},
            {"id": "1", "method": "GET", "url": "/domains"},
        ]
    }
    assert world.post("$batch", json=duplicate).status_code == 400
    no_type = {
        "requests": [
            {"id": "1", "method": "POST", "url": "/users", "body": world.new_user_body("x")}
        ]
    }
    item = world.post("$batch", json=no_type).json()["responses"][0]
    assert item["status"] == 400


def test_delegated_token_acts_as_the_signed_in_user(world):
    """A member's delegated token may read but not create users."""
    import msal

    control = world.sim.control
    control.admin_create_user(world.tid, f"member@{world.domain}", password=STRONG_PASSWORD)
    control.grant(
        world.tid, world.app["clientId"], delegated_permissions=["User.Read", "User.ReadWrite.All"]
    )
    app = msal.ConfidentialClientApplication(
        world.app["clientId"],
        client_credential=world.app["secret"],
        authority=world.sim.authority(world.tid),
        instance_discovery=False,
        http_client=world.sim.session(),
    )
    flow = app.initiate_auth_code_flow(
        ["User.ReadWrite.All"], redirect_uri="http://localhost:8400/callback"
    )
    from urllib.parse import parse_qs, urlsplit

    page = world.session.post(
        flow["auth_uri"],
        data={"login": f"member@{world.domain}", "passwd": STRONG_PASSWORD},
        allow_redirects=False,
    )
    params = {k: v[0] for k, v in parse_qs(urlsplit(page.headers["location"]).query).items()}
    token = app.acquire_token_by_auth_code_flow(flow, params)["access_token"]
    assert world.get("users", token=token).status_code == 200
    denied = world.post("users", json=world.new_user_body("nope"), token=token)
    assert denied.status_code == 403


def test_groups_delta_accepts_members_in_select_as_microsoft_documents(world):
    alice = world.create_user("salice")
    group = world.post(
        "groups",
        json=group_body("Selected", **{"members@odata.bind": [bind(world, alice["id"])]}),
    ).json()
    initial, _ = rounds(world, "groups/delta?$select=displayName,description,members")
    entry = next(g for g in initial if g["id"] == group["id"])
    assert set(entry) == {"id", "displayName", "description", "members@delta"}
    assert entry["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": alice["id"]}]
