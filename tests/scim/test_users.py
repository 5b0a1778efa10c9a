"""SCIM Users through the directory: create, read, replace, patch, delete, and lists
with filter, paging, sorting and attribute selection."""

import pytest

from audit.models import Event
from directory.models import User

from .conftest import ENTERPRISE, PASSWORD, new_user, patch_op, scim_error


@pytest.fixture
def dana(scim):
    body = new_user(
        externalId="hr-1",
        displayName="Dana D.",
        title="Engineer",
        **{ENTERPRISE: {"employeeNumber": "E-1", "department": "R&D", "organization": "Acme"}},
    )
    response = scim.post("Users", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_creating_a_user_writes_the_directory_and_records_the_event(scim, dana, alice):
    user = User.objects.get(email="dana@acme.example")
    assert (user.first_name, user.last_name, user.display_name, user.job_title) == (
        "Dana",
        "Doe",
        "Dana D.",
        "Engineer",
    )
    assert (user.employee_id, user.department, user.company_name) == ("E-1", "R&D", "Acme")
    assert user.organization.name == "Acme" and user.status == User.STAGED
    event = Event.objects.get(type="user_create", target_id=str(user.pk))
    assert event.actor == alice
    assert dana["id"] == str(user.pk) and dana["externalId"] == "hr-1"
    assert dana["meta"]["location"].endswith(f"/scim/v2/Users/{user.pk}")
    assert dana[ENTERPRISE]["employeeNumber"] == "E-1"


def test_the_create_answer_has_location_and_etag(scim):
    response = scim.post("Users", new_user())
    assert response["Location"] == response.json()["meta"]["location"]
    assert response["ETag"] == response.json()["meta"]["version"]
    assert response["ETag"].startswith('W/"')


def test_a_password_in_the_create_is_set_and_never_returned(scim):
    response = scim.post("Users", new_user(password=PASSWORD))
    assert response.status_code == 201
    user = User.objects.get(email="dana@acme.example")
    assert user.check_password(PASSWORD) and user.status == User.ACTIVE
    assert "password" not in response.json() and PASSWORD not in response.content.decode()
    assert PASSWORD not in str(list(Event.objects.values_list("details", flat=True)))


def test_reading_a_user(scim, dana):
    response = scim.get(f"Users/{dana['id']}")
    assert response.status_code == 200
    assert response.json()["userName"] == "dana@acme.example"
    assert response["Content-Type"] == "application/scim+json"


def test_a_manager_is_another_user_of_the_organization(scim, dana, bob):
    body = new_user("erin@acme.example", **{ENTERPRISE: {"manager": _ref(dana["id"])}})
    erin = scim.post("Users", body).json()
    assert erin[ENTERPRISE]["manager"]["value"] == dana["id"]
    found = scim.get(f'Users?filter=manager.value eq "{dana["id"]}"').json()
    assert [r["id"] for r in found["Resources"]] == [erin["id"]]


def test_a_manager_from_nowhere_is_refused(scim):
    body = new_user(**{ENTERPRISE: {"manager": _ref("99999")}})
    response = scim.post("Users", body)
    assert response.status_code == 400
    assert scim_error(response)["scimType"] == "invalidValue"
    assert not User.objects.filter(email="dana@acme.example").exists()


def _ref(pk):
    return {"value": pk, "$ref": f"http://testserver/scim/v2/Users/{pk}"}


def test_replacing_a_user_sets_what_is_given_and_clears_the_rest(scim, dana):
    body = new_user("dana.doe@acme.example", name={"givenName": "Dana"}, active=True)
    response = scim.put(f"Users/{dana['id']}", body)
    assert response.status_code == 200, response.content
    user = User.objects.get(pk=dana["id"])
    assert user.email == "dana.doe@acme.example"
    assert (user.last_name, user.job_title, user.department) == ("", "", "")
    assert user.scim.external_id == ""
    assert Event.objects.filter(type="user_update", target_id=dana["id"]).exists()


def test_patch_active_false_suspends_and_true_reactivates(scim, dana):
    response = scim.patch(
        f"Users/{dana['id']}", patch_op({"op": "replace", "path": "active", "value": False})
    )
    assert response.status_code == 200 and response.json()["active"] is False
    assert User.objects.get(pk=dana["id"]).status == User.SUSPENDED
    assert Event.objects.filter(type="user_suspend", target_id=dana["id"]).exists()
    scim.patch(f"Users/{dana['id']}", patch_op({"op": "replace", "value": {"active": True}}))
    assert User.objects.get(pk=dana["id"]).status == User.STAGED


def test_patch_changes_only_what_it_names(scim, dana):
    operation = {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Sales"}
    response = scim.patch(f"Users/{dana['id']}", patch_op(operation))
    assert response.status_code == 200
    user = User.objects.get(pk=dana["id"])
    assert (user.department, user.job_title, user.employee_id) == ("Sales", "Engineer", "E-1")
    event = Event.objects.filter(type="user_update", target_id=dana["id"]).last()
    assert event.details == {"changed": ["department"]}


def test_patch_with_a_password_sets_it(scim, dana):
    operation = {"op": "replace", "path": "password", "value": PASSWORD}
    assert scim.patch(f"Users/{dana['id']}", patch_op(operation)).status_code == 200
    assert User.objects.get(pk=dana["id"]).check_password(PASSWORD)
    event = Event.objects.get(type="user_password_set", target_id=dana["id"])
    assert event.details["source"] == "scim"


def test_deleting_a_user(scim, dana):
    assert scim.delete(f"Users/{dana['id']}").status_code == 204
    assert not User.objects.filter(pk=dana["id"]).exists()
    assert scim.get(f"Users/{dana['id']}").status_code == 404


def test_admins_are_read_only_through_scim(scim, alice):
    assert scim.get(f"Users/{alice.pk}").status_code == 200
    response = scim.patch(
        f"Users/{alice.pk}", patch_op({"op": "replace", "path": "active", "value": False})
    )
    assert response.status_code == 403
    assert "change admins in the console" in scim_error(response)["detail"]
    assert scim.delete(f"Users/{alice.pk}").status_code == 403
    assert User.objects.get(pk=alice.pk).status == User.ACTIVE


# --- lists -------------------------------------------------------------------------


@pytest.fixture
def many(scim):
    for n in range(7):
        body = new_user(
            f"user{n}@acme.example",
            name={"givenName": f"G{6 - n}", "familyName": "Many"},
            active=n % 2 == 0,
        )
        assert scim.post("Users", body).status_code == 201


def _ids_of(response):
    assert response.status_code == 200, response.content
    return [r["userName"] for r in response.json()["Resources"]]


def test_list_filters_by_user_name_case_insensitively(scim, many):
    assert _ids_of(scim.get('Users?filter=userName eq "USER3@acme.example"')) == [
        "user3@acme.example"
    ]


def test_list_filters_combine_and_negate(scim, many):
    names = _ids_of(scim.get('Users?filter=userName sw "user" and not (active eq false)'))
    assert names == [f"user{n}@acme.example" for n in (0, 2, 4, 6)]


def test_list_filter_by_extension_attribute_with_its_urn(scim, dana, many):
    query = f'Users?filter={ENTERPRISE}:department eq "R%26D"'
    assert _ids_of(scim.get(query)) == ["dana@acme.example"]


def test_list_pages_with_start_index_and_count(scim, many):
    response = scim.get('Users?filter=userName sw "user"&startIndex=3&count=2&sortBy=userName')
    body = response.json()
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (7, 3, 2)
    assert _ids_of(response) == ["user2@acme.example", "user3@acme.example"]


def test_list_sorts_by_given_name_descending(scim, many):
    response = scim.get(
        'Users?filter=userName sw "user"&sortBy=name.givenName&sortOrder=descending'
    )
    assert _ids_of(response) == [f"user{n}@acme.example" for n in range(7)]


def test_count_is_capped_at_max_results(scim, many, monkeypatch):
    monkeypatch.setattr("scim.selectors.MAX_RESULTS", 3)
    body = scim.get("Users?count=100000").json()
    assert (body["itemsPerPage"], body["totalResults"]) == (3, 8)  # alice and the 7


def test_attributes_and_excluded_attributes_select_what_is_returned(scim, dana):
    only = scim.get(f"Users/{dana['id']}?attributes=userName").json()
    assert set(only) == {"schemas", "id", "userName"}
    without = scim.get(f"Users/{dana['id']}?excludedAttributes=name,{ENTERPRISE}").json()
    assert "name" not in without and ENTERPRISE not in without and "title" in without


def test_search_by_post(scim, many):
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName eq "user1@acme.example"',
        "attributes": ["userName"],
    }
    response = scim.post("Users/.search", body)
    (found,) = response.json()["Resources"]
    assert set(found) == {"schemas", "id", "userName"}
    assert found["userName"] == "user1@acme.example"


# --- versions ----------------------------------------------------------------------


def test_if_none_match_with_the_current_version_is_304(scim, dana):
    etag = scim.get(f"Users/{dana['id']}")["ETag"]
    assert scim.get(f"Users/{dana['id']}", if_none_match=etag).status_code == 304


def test_the_version_changes_when_the_user_does_in_the_console(scim, dana, alice):
    from directory import services

    etag = scim.get(f"Users/{dana['id']}")["ETag"]
    services.user_update(actor=alice, user=User.objects.get(pk=dana["id"]), job_title="Boss")
    assert scim.get(f"Users/{dana['id']}")["ETag"] != etag


def test_a_write_with_a_stale_if_match_is_412_and_changes_nothing(scim, dana):
    stale = dana["meta"]["version"]
    scim.patch(f"Users/{dana['id']}", patch_op({"op": "replace", "path": "title", "value": "A"}))
    response = scim.patch(
        f"Users/{dana['id']}",
        patch_op({"op": "replace", "path": "title", "value": "B"}),
        if_match=stale,
    )
    assert response.status_code == 412
    scim_error(response)
    assert User.objects.get(pk=dana["id"]).job_title == "A"
    current = scim.get(f"Users/{dana['id']}")["ETag"]
    ok = scim.delete(f"Users/{dana['id']}", if_match=current)
    assert ok.status_code == 204


def test_attributes_stratus_does_not_use_are_kept_as_sent(scim):
    kept = {
        "nickName": "Dee",
        "preferredLanguage": "de-DE",
        "emails": [{"value": "dana@home.example", "type": "home", "primary": False}],
        "phoneNumbers": [{"value": "+49 30 1", "type": "work"}],
        "addresses": [{"locality": "Berlin", "country": "DE", "type": "work"}],
    }
    body = new_user(name={"givenName": "Dana", "familyName": "Doe", "middleName": "Q"}, **kept)
    body[ENTERPRISE] = {"costCenter": "CC-9", "department": "R&D"}
    created = scim.post("Users", body).json()
    read = scim.get(f"Users/{created['id']}").json()
    for key, value in kept.items():
        assert read[key] == value, key
    assert read["name"]["middleName"] == "Q"
    assert read[ENTERPRISE] == {"costCenter": "CC-9", "department": "R&D"}
    user = User.objects.get(pk=created["id"])
    assert user.department == "R&D" and user.email == "dana@acme.example"


def test_a_patch_through_a_value_path_changes_a_kept_attribute(scim):
    body = new_user(emails=[{"value": "old@home.example", "type": "home"}])
    created = scim.post("Users", body).json()
    operation = {
        "op": "replace",
        "path": 'emails[type eq "home"].value',
        "value": "new@home.example",
    }
    response = scim.patch(f"Users/{created['id']}", patch_op(operation))
    assert response.status_code == 200, response.content
    assert scim.get(f"Users/{created['id']}").json()["emails"][0]["value"] == "new@home.example"
