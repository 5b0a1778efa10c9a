"""SCIM Groups through the directory: members are the organization's users."""

import pytest

from audit.models import Event
from directory.models import Group, Membership

from .conftest import GROUP, new_user, patch_op, scim_error


@pytest.fixture
def people(scim):
    return [scim.post("Users", new_user(f"p{n}@acme.example")).json()["id"] for n in range(3)]


@pytest.fixture
def team(scim, people):
    body = {
        "schemas": [GROUP],
        "displayName": "Team",
        "externalId": "g-1",
        "members": [{"value": people[0]}, {"value": people[1]}],
    }
    response = scim.post("Groups", body)
    assert response.status_code == 201, response.content
    return response.json()


def _member_ids(group_id):
    return sorted(
        str(pk)
        for pk in Membership.objects.filter(group_id=group_id).values_list("user_id", flat=True)
    )


def test_creating_a_group_with_members(team, people):
    group = Group.objects.get(pk=team["id"])
    assert group.name == "Team" and group.scim.external_id == "g-1"
    assert _member_ids(group.pk) == sorted(people[:2])
    assert Event.objects.filter(type="group_member_add", target_id=team["id"]).count() == 2
    assert sorted(m["value"] for m in team["members"]) == sorted(people[:2])


def test_patch_adds_and_removes_members(scim, team, people):
    response = scim.patch(
        f"Groups/{team['id']}",
        patch_op(
            {"op": "add", "path": "members", "value": [{"value": people[2]}]},
            {"op": "remove", "path": f'members[value eq "{people[0]}"]'},
        ),
    )
    assert response.status_code == 200, response.content
    assert _member_ids(team["id"]) == sorted(people[1:])


def test_patch_renames(scim, team):
    scim.patch(
        f"Groups/{team['id']}", patch_op({"op": "replace", "path": "displayName", "value": "Crew"})
    )
    assert Group.objects.get(pk=team["id"]).name == "Crew"


def test_replace_sets_the_members_given(scim, team, people):
    body = {"schemas": [GROUP], "displayName": "Team", "members": [{"value": people[2]}]}
    assert scim.put(f"Groups/{team['id']}", body).status_code == 200
    assert _member_ids(team["id"]) == [people[2]]


def test_a_member_that_is_not_a_user_here_is_refused_and_nothing_is_written(scim, team, people):
    body = {"schemas": [GROUP], "displayName": "Other", "members": [{"value": "424242"}]}
    response = scim.post("Groups", body)
    assert response.status_code == 400
    assert scim_error(response)["scimType"] == "invalidValue"
    assert not Group.objects.filter(name="Other").exists()


def test_a_duplicate_group_name_is_a_uniqueness_error(scim, team):
    response = scim.post("Groups", {"schemas": [GROUP], "displayName": "team"})
    assert response.status_code == 409
    assert scim_error(response)["scimType"] == "uniqueness"


def test_groups_are_listed_filtered_by_name_and_member(scim, team, people):
    scim.post("Groups", {"schemas": [GROUP], "displayName": "Solo"})
    by_name = scim.get('Groups?filter=displayName eq "solo"').json()
    assert [g["displayName"] for g in by_name["Resources"]] == ["Solo"]
    by_member = scim.get(f'Groups?filter=members.value eq "{people[1]}"').json()
    assert [g["displayName"] for g in by_member["Resources"]] == ["Team"]
    sorted_ = scim.get("Groups?sortBy=displayName&sortOrder=descending&excludedAttributes=members")
    assert [g["displayName"] for g in sorted_.json()["Resources"]] == ["Team", "Solo"]
    assert all("members" not in g for g in sorted_.json()["Resources"])


def test_deleting_a_group(scim, team):
    assert scim.delete(f"Groups/{team['id']}").status_code == 204
    assert not Group.objects.filter(pk=team["id"]).exists()
