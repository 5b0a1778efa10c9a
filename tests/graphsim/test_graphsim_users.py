"""Graph users: CRUD, query rules, paging, password policy, domains, soft delete, licences."""

from __future__ import annotations

import re

import pytest
from conftest import STRONG_PASSWORD

COMPLEXITY = (
    "The specified password does not comply with password complexity requirements. "
    "Please provide a different password."
)
NOT_FOUND = (
    "Resource '{}' does not exist or one of its queried reference-property objects are not present."
)


def error_of(response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def test_create_returns_201_with_default_properties_and_nulls(world):
    response = world.post("users", json=world.new_user_body("adelev", givenName="Adele"))
    body = response.json()
    assert response.status_code == 201
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
    assert set(body) - {"@odata.context", "@odata.id"} == {
        "id",
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    }
    assert body["givenName"] == "Adele" and body["mail"] is None and body["jobTitle"] is None
    assert response.headers["request-id"] and response.headers["x-ms-resource-unit"] == "1"


def test_get_by_id_and_upn_with_select_update_and_delete(world):
    user = world.create_user("meganb")
    by_upn = world.get(
        f"users/meganb@{world.domain}?$select=id,accountEnabled,"
        "lastPasswordChangeDateTime,passwordProfile"
    )
    assert by_upn.status_code == 200
    body = by_upn.json()
    assert body["@odata.context"].endswith(
        "#users(id,accountEnabled,lastPasswordChangeDateTime,passwordProfile)/$entity"
    )
    assert body["id"] == user["id"] and body["accountEnabled"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["lastPasswordChangeDateTime"])
    assert body["passwordProfile"]["password"] is None
    patch = world.patch(f"users/{user['id']}", json={"jobTitle": "CFO", "usageLocation": "NL"})
    assert patch.status_code == 204 and patch.content == b""
    assert world.get(f"users/{user['id']}").json()["jobTitle"] == "CFO"
    assert world.delete(f"users/{user['id']}").status_code == 204
    gone = world.get(f"users/{user['id']}")
    assert error_of(gone) == (404, "Request_ResourceNotFound", NOT_FOUND.format(user["id"]))


def test_unknown_upn_and_malformed_id(world):
    ghost = world.get(f"users/ghost@{world.domain}")
    assert error_of(ghost) == (
        404,
        "Request_ResourceNotFound",
        NOT_FOUND.format(f"ghost@{world.domain}"),
    )
    assert error_of(world.get("users/not-a-guid")) == (
        400,
        "Request_BadRequest",
        "Invalid object identifier 'not-a-guid'.",
    )


def test_error_envelope_echoes_client_request_id(world):
    response = world.get(
        "users/ghost@nowhere.example",
        headers={"Authorization": f"Bearer {world.token}", "client-request-id": "abc-123"},
    )
    inner = response.json()["error"]["innerError"]
    assert inner["client-request-id"] == "abc-123" == response.headers["client-request-id"]
    assert inner["request-id"] == response.headers["request-id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", inner["date"])


def test_upn_conflict_has_details(world):
    world.create_user("dup")
    again = world.post("users", json=world.new_user_body("dup"))
    assert error_of(again) == (
        400,
        "Request_BadRequest",
        "Another object with the same value for property userPrincipalName already exists.",
    )
    assert again.json()["error"]["details"] == [
        {"target": "userPrincipalName", "code": "ObjectConflict"}
    ]


@pytest.mark.parametrize(
    "password",
    [
        "Short1!",
        "alllowercase1",
        "NoDigitsOrSymbols",
        "C0ntos0Blank12",
        "Pässwörd-123",
        "Passw0rd1!",
    ],
)
def test_weak_passwords_are_rejected(world, password):
    body = world.new_user_body("weak")
    body["passwordProfile"]["password"] = password
    assert error_of(world.post("users", json=body)) == (400, "Request_BadRequest", COMPLEXITY)


def test_passwords_meeting_the_policy_are_accepted(world):
    for index, password in enumerate(["ContoS0Bl@nkf9!", "Tr0ub4dor&3x", "correct Horse 9"]):
        body = world.new_user_body(f"strong{index}")
        body["passwordProfile"]["password"] = password
        assert world.post("users", json=body).status_code == 201, password


@pytest.mark.parametrize(
    "upn, message",
    [
        (
            "bob@unverified.example",
            "The domain portion of the userPrincipalName property is invalid. "
            "You must use one of the verified domain names in your "
            "organization.",
        ),
        ("bo b@{domain}", "Property userPrincipalName is invalid."),
        ("bob.@{domain}", "Property userPrincipalName is invalid."),
    ],
)
def test_upn_must_be_valid_and_on_a_verified_domain(world, upn, message):
    body = world.new_user_body("bob", userPrincipalName=upn.format(domain=world.domain))
    assert error_of(world.post("users", json=body)) == (400, "Request_BadRequest", message)


def test_federated_domain_needs_immutable_id_and_rejects_password(make_world):
    world = make_world(
        domains=[{"name": "fabrikam.example", "federated": True, "partner": "godaddy"}]
    )
    federated = next(d["name"] for d in world.tenant["domains"] if not d["isInitial"])
    body = world.new_user_body("fed", userPrincipalName=f"fed@{federated}")
    assert error_of(world.post("users", json=body)) == (
        400,
        "Request_BadRequest",
        "SourceAnchor is a required property for creation of a federated user.",
    )
    body["onPremisesImmutableId"] = "ZmVkLXVzZXI="
    status, code, _ = error_of(world.post("users", json=body))
    assert (status, code) == (400, "Request_BadRequest")
    del body["passwordProfile"]
    assert world.post("users", json=body).status_code == 201
    domains = world.get("domains").json()["value"]
    fed = next(d for d in domains if d["id"] == federated)
    assert fed["authenticationType"] == "Federated"
    config = world.get(f"domains/{federated}/federationConfiguration").json()["value"][0]
    assert "godaddy.com" in config["passiveSignInUri"]
    org = world.get("organization").json()["value"][0]
    initial = next(d for d in org["verifiedDomains"] if d["isInitial"])
    assert initial["name"].startswith("NETORG") and initial["type"] == "Managed"
    assert org["id"] == world.tid


def test_list_paging_over_2500_users_follows_next_links(make_world):
    world = make_world(users=2500)
    url, seen, pages = "users?$top=999&$select=id,userPrincipalName", set(), 0
    while url:
        response = world.get(url)
        assert response.status_code == 200
        body = response.json()
        seen.update(u["id"] for u in body["value"])
        url = body.get("@odata.nextLink")
        pages += 1
        if url:
            assert url.startswith(world.sim.base_url) and "$skiptoken=" in url
    assert pages == 3 and len(seen) == 2501  # 2,500 generated + the admin
    assert len(world.get("users").json()["value"]) == 100  # default page size


def test_top_must_be_between_1_and_999(world):
    assert error_of(world.get("users?$top=1000")) == (
        400,
        "Request_BadRequest",
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.",
    )


def test_filters_without_advanced_query(world):
    world.create_user("anna", displayName="Anna Alpha")
    world.create_user("andy", displayName="Andy Beta", accountEnabled=False)
    names = lambda r: sorted(u["displayName"] for u in r.json()["value"])  # noqa: E731
    assert names(world.get("users?$filter=startswith(displayName,'An')")) == [
        "Andy Beta",
        "Anna Alpha",
    ]
    assert names(world.get("users?$filter=accountEnabled eq false")) == ["Andy Beta"]
    assert names(
        world.get(
            f"users?$filter=userPrincipalName eq 'anna@{world.domain}' or "
            "displayName in ('Andy Beta')"
        )
    ) == ["Andy Beta", "Anna Alpha"]


def test_advanced_operators_need_consistency_level_and_count(world):
    world.create_user("zed", displayName="Zed Omega")
    hint = (
        "is not supported because the required parameters might be missing. Try adding "
        "$count=true query parameter and ConsistencyLevel:eventual header. Refer to "
        "https://aka.ms/graph-docs/advanced-queries for more information"
    )
    assert error_of(world.get(f"users?$filter=endswith(userPrincipalName,'{world.domain}')")) == (
        400,
        "Request_UnsupportedQuery",
        f"Operator 'endsWith' {hint}",
    )
    assert error_of(world.get("users?$filter=displayName ne 'x'")) == (
        400,
        "Request_UnsupportedQuery",
        f"Operator 'ne' {hint}",
    )
    eventual = {"Authorization": f"Bearer {world.token}", "ConsistencyLevel": "eventual"}
    ok = world.get("users?$filter=displayName ne 'Zed Omega'&$count=true", headers=eventual)
    assert ok.status_code == 200 and ok.json()["@odata.count"] == 1  # only the admin remains


def test_count_rules(world):
    bare = world.get("users?$count=true")
    assert bare.status_code == 200 and "@odata.count" not in bare.json()
    assert error_of(world.get("users/$count")) == (
        400,
        "Request_BadRequest",
        "$count is not currently supported.",
    )
    eventual = {"Authorization": f"Bearer {world.token}", "ConsistencyLevel": "eventual"}
    count = world.get("users/$count", headers=eventual)
    assert count.status_code == 200 and count.text == "1"
    assert count.headers["content-type"].startswith("text/plain")


def test_search_needs_consistency_level(world):
    world.create_user("searchme", displayName="Rosalind Franklin")
    assert error_of(world.get('users?$search="displayName:rosa"')) == (
        400,
        "Request_UnsupportedQuery",
        "Request with $search query parameter only works through MSGraph with a special "
        "request header: 'ConsistencyLevel: eventual'",
    )
    found = world.get(
        'users?$search="displayName:rosa"',
        headers={"Authorization": f"Bearer {world.token}", "ConsistencyLevel": "eventual"},
    )
    assert [u["displayName"] for u in found.json()["value"]] == ["Rosalind Franklin"]


def test_soft_delete_keeps_upn_taken_until_restore_or_purge(world):
    user = world.create_user("temp")
    world.delete(f"users/{user['id']}")
    again = world.post("users", json=world.new_user_body("temp"))
    assert error_of(again)[2] == (
        "Another object with the same value for property userPrincipalName already exists."
    )
    deleted = world.get("directory/deletedItems/microsoft.graph.user").json()["value"]
    assert [d["id"] for d in deleted] == [user["id"]]
    assert deleted[0]["@odata.type"] == "#microsoft.graph.user" and deleted[0]["deletedDateTime"]
    restored = world.post(f"directory/deletedItems/{user['id']}/restore")
    assert restored.status_code == 200 and restored.json()["id"] == user["id"]
    assert world.get(f"users/{user['id']}").status_code == 200
    world.delete(f"users/{user['id']}")
    assert world.delete(f"directory/deletedItems/{user['id']}").status_code == 204
    assert world.get(f"directory/deletedItems/{user['id']}").status_code == 404
    assert world.post("users", json=world.new_user_body("temp")).status_code == 201


def test_deleted_items_expire_after_thirty_days_of_scaled_time(world):
    import time

    user = world.create_user("expiring")
    world.delete(f"users/{user['id']}")
    world.sim.control.set_time_scale(world.tid, 30 * 24 * 3600 * 4)  # 30 days -> 0.25 s
    time.sleep(0.3)
    assert world.get(f"directory/deletedItems/{user['id']}").status_code == 404


def test_password_reset_needs_a_directory_role_and_a_stronger_one_for_admins(world):
    user = world.create_user("resetme")
    reset = {
        "passwordProfile": {
            "password": "New-Str0ng-Passw0rd!",
            "forceChangePasswordNextSignIn": True,
        }
    }
    no_role = world.app_token(permissions=["User.ReadWrite.All"])
    assert error_of(world.patch(f"users/{user['id']}", json=reset, token=no_role)) == (
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
    directory_rw = world.app_token(
        permissions=["Directory.ReadWrite.All"], roles=["User Administrator"]
    )
    assert world.patch(f"users/{user['id']}", json=reset, token=directory_rw).status_code == 403
    before = world.get(f"users/{user['id']}?$select=lastPasswordChangeDateTime").json()
    assert world.patch(f"users/{user['id']}", json=reset).status_code == 204
    after = world.get(f"users/{user['id']}?$select=lastPasswordChangeDateTime").json()
    assert after["lastPasswordChangeDateTime"] >= before["lastPasswordChangeDateTime"]
    # The tenant's Global Administrator is out of reach for a User Administrator...
    admin = world.admin_upn
    assert world.patch(f"users/{admin}", json=reset).status_code == 403
    assert world.patch(f"users/{admin}", json={"accountEnabled": False}).status_code == 403
    assert world.delete(f"users/{admin}").status_code == 403
    # ...but not for a Privileged Authentication Administrator.
    strong = world.app_token(
        permissions=["User.ReadWrite.All"], roles=["Privileged Authentication Administrator"]
    )
    assert world.patch(f"users/{admin}", json=reset, token=strong).status_code == 204


def test_least_privileged_permissions(world):
    create_only = world.app_token(permissions=["User.Create"])
    created = world.post("users", json=world.new_user_body("lp1"), token=create_only)
    assert created.status_code == 201
    assert world.get("users", token=create_only).status_code == 403
    read_only = world.app_token(permissions=["User.Read.All"])
    assert world.get("users", token=read_only).status_code == 200
    assert (
        world.patch(
            f"users/lp1@{world.domain}", json={"jobTitle": "x"}, token=read_only
        ).status_code
        == 403
    )
    enable = world.app_token(permissions=["User.EnableDisableAccount.All", "User.Read.All"])
    assert (
        world.patch(
            f"users/lp1@{world.domain}", json={"accountEnabled": False}, token=enable
        ).status_code
        == 204
    )


def test_revoke_sign_in_sessions_and_photo(world):
    user = world.create_user("revoker")
    revoke = world.post(f"users/{user['id']}/revokeSignInSessions")
    assert revoke.status_code == 200 and revoke.json()["value"] is True
    photo = world.get(f"users/{user['id']}/photo/$value")
    assert error_of(photo)[:2] == (404, "ImageNotFound")


def test_licences_need_usage_location_and_free_seats(make_world):
    world = make_world(skus=[{"skuPartNumber": "SPE_E3", "seats": 1}])
    sku = world.get("subscribedSkus").json()["value"][0]
    assert sku["skuPartNumber"] == "SPE_E3" and sku["prepaidUnits"]["enabled"] == 1
    first, second = world.create_user("lic1"), world.create_user("lic2")
    body = {"addLicenses": [{"disabledPlans": [], "skuId": sku["skuId"]}], "removeLicenses": []}
    assert error_of(world.post(f"users/{first['id']}/assignLicense", json=body)) == (
        400,
        "Request_BadRequest",
        "License assignment cannot be done for user with invalid usage location.",
    )
    world.patch(f"users/{first['id']}", json={"usageLocation": "NL"})
    world.patch(f"users/{second['id']}", json={"usageLocation": "NL"})
    assigned = world.post(f"users/{first['id']}/assignLicense", json=body)
    assert assigned.status_code == 200 and assigned.json()["mail"] == f"lic1@{world.domain}"
    status, code, message = error_of(world.post(f"users/{second['id']}/assignLicense", json=body))
    assert (status, code) == (400, "Request_BadRequest")
    assert message.endswith("does not have any available licenses.")
    assert world.get("subscribedSkus").json()["value"][0]["consumedUnits"] == 1
    unknown = {
        "addLicenses": [{"skuId": "00000000-0000-0000-0000-000000000000"}],
        "removeLicenses": [],
    }
    assert error_of(world.post(f"users/{first['id']}/assignLicense", json=unknown))[2] == (
        "License 00000000-0000-0000-0000-000000000000 does not correspond to a valid company "
        "License."
    )


def test_method_not_allowed_and_unknown_segment(world):
    assert error_of(world.call("PUT", "users")) == (
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
    assert world.get("nonsense").status_code == 400


def test_admin_changes_in_the_portal_show_up_in_graph(world):
    user = world.create_user("drift")
    control = world.sim.control
    control.admin_update_user(world.tid, user["id"], jobTitle="Changed in portal")
    control.admin_block(world.tid, user["id"])
    seen = world.get(f"users/{user['id']}?$select=jobTitle,accountEnabled").json()
    assert seen["jobTitle"] == "Changed in portal" and seen["accountEnabled"] is False
    with pytest.raises(Exception) as weak:
        control.admin_set_password(world.tid, user["id"], "weak")
    assert weak.value.status == 400
    control.admin_set_password(world.tid, user["id"], STRONG_PASSWORD + "x")


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("xxjxnathanyy", "jonathan"),  # a substitution in the first half
        ("xxjonathxnyy", "jonathan"),  # ... in the second half
        ("jonthan99", "jonathan"),  # a deletion
        ("9jonaathan", "jonathan"),  # an insertion between the halves
        ("qwxrty!", "qwerty"),
    ],
)
def test_a_term_within_one_edit_is_found_whichever_half_the_edit_is_in(text, term):
    from graphsim.passwords import _find_fuzzy

    found = _find_fuzzy(text, term)
    assert found is not None and found[1] - found[0] in (len(term) - 1, len(term), len(term) + 1)


def test_a_password_with_neither_half_of_a_term_has_no_fuzzy_match():
    from graphsim.passwords import _find_fuzzy

    assert _find_fuzzy("k3Vb-9zQ_wPx7aZ7!", "jonathan") is None
