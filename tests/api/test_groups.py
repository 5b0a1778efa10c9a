from audit.models import Event
from directory import services
from directory.models import Group, Membership

from .helpers import error_of


def test_it_lists_and_searches_the_organizations_groups(
    api, acme, alice, engineers, globex, charlie
):
    services.group_create(actor=alice, organization=acme, name="Sales")
    services.group_create(actor=charlie, organization=globex, name="Globex engineers")
    body = api.get("/api/v1/groups").json()
    assert [g["name"] for g in body["results"]] == ["Engineers", "Sales"]
    assert body["count"] == 2
    found = api.get("/api/v1/groups", {"q": "engin"}).json()["results"]
    assert [g["name"] for g in found] == ["Engineers"]
    assert set(found[0]) == {"id", "name", "description", "created_at"}


def test_it_creates_a_group(api, acme, alice):
    response = api.post(
        "/api/v1/groups", {"name": " Support ", "description": "Helps"}, format="json"
    )
    assert response.status_code == 201
    group = Group.objects.get(pk=response.json()["id"])
    assert group.organization == acme and group.name == "Support"
    event = Event.objects.get(type="group_create")
    assert event.actor == alice


def test_a_group_needs_a_name(api):
    response = api.post("/api/v1/groups", {"description": "No name"}, format="json")
    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["name"]


def test_a_blank_name_is_refused_by_name(api):
    response = api.post("/api/v1/groups", {"name": "   "}, format="json")
    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["name"]


def test_a_taken_group_name_is_a_409_whatever_its_case(api, engineers):
    response = api.post("/api/v1/groups", {"name": "ENGINEERS"}, format="json")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "group_name_taken" and "name" in error["fields"]


def test_the_same_group_name_in_another_organization_is_fine(charlie_api, engineers):
    assert (
        charlie_api.post("/api/v1/groups", {"name": "Engineers"}, format="json").status_code == 201
    )


def test_it_retrieves_renames_and_deletes_a_group(api, engineers):
    assert api.get(f"/api/v1/groups/{engineers.pk}").json()["description"] == "Builds things"
    response = api.patch(f"/api/v1/groups/{engineers.pk}", {"name": "Builders"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Builders"
    assert response.json()["description"] == "Builds things"
    assert api.delete(f"/api/v1/groups/{engineers.pk}").status_code == 204
    assert not Group.objects.filter(pk=engineers.pk).exists()


def test_renaming_to_a_taken_name_is_a_409(api, acme, alice, engineers):
    services.group_create(actor=alice, organization=acme, name="Sales")
    response = api.patch(f"/api/v1/groups/{engineers.pk}", {"name": "sales"}, format="json")
    assert response.status_code == 409


def test_a_missing_group_is_a_404_in_the_error_shape(api):
    response = api.get("/api/v1/groups/424242")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_it_adds_lists_and_removes_members(api, alice, bob, engineers):
    url = f"/api/v1/groups/{engineers.pk}/members/{bob.pk}"
    assert api.post(url).status_code == 204
    assert api.post(url).status_code == 204  # again: still a member, nothing changes
    assert Event.objects.filter(type="group_member_add").count() == 1
    members = api.get(f"/api/v1/groups/{engineers.pk}/members").json()
    assert [m["email"] for m in members["results"]] == ["bob@acme.example"]
    assert members["results"][0]["groups"] == [engineers.pk]
    assert api.delete(url).status_code == 204
    assert not Membership.objects.filter(group=engineers).exists()
    assert api.delete(url).status_code == 204
    event = Event.objects.get(type="group_member_remove")
    assert event.actor == alice and event.details["user_id"] == bob.pk


def test_adding_a_user_who_does_not_exist_is_a_404(api, engineers):
    response = api.post(f"/api/v1/groups/{engineers.pk}/members/999999")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
