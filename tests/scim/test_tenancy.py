"""Every SCIM endpoint tried with Globex's SCIM key on Acme's users and groups: each is
a 404 (or, for lists, shows none of Acme's), in SCIM's error shape, and changes
nothing. The walk must cover every SCIM route."""

import pytest
from django.urls import get_resolver, resolve

from audit.models import Event
from directory import services
from directory.models import Group, Membership, User

from .conftest import GROUP, new_user, patch_op, scim_error

REPLACE_TITLE = patch_op({"op": "replace", "path": "title", "value": "Spy"})
RENAME = patch_op({"op": "replace", "path": "displayName", "value": "Taken over"})

# (method, path, body); {user} and {group} are Acme's.
BY_ID = [
    ("get", "Users/{user}", None),
    ("put", "Users/{user}", new_user("bob@acme.example", title="Spy")),
    ("patch", "Users/{user}", REPLACE_TITLE),
    ("delete", "Users/{user}", None),
    ("get", "Groups/{group}", None),
    ("put", "Groups/{group}", {"schemas": [GROUP], "displayName": "Taken over"}),
    ("patch", "Groups/{group}", RENAME),
    ("delete", "Groups/{group}", None),
]
SEARCH = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
LISTS = [
    ("get", "Users", None),
    ("post", "Users/.search", SEARCH),
    ("get", "Groups", None),
    ("post", "Groups/.search", SEARCH),
]
# Routes with nothing of an organization's in them (the discovery documents, the
# catch-all 404, the cross-type search that answers 501): walked for completeness.
SHARED = [
    ("get", "ServiceProviderConfig", None),
    ("get", "ResourceTypes", None),
    ("get", "ResourceTypes/User", None),
    ("get", "Schemas", None),
    ("get", "Schemas/urn:ietf:params:scim:schemas:core:2.0:User", None),
    ("post", ".search", SEARCH),
    ("get", "Nothing/here", None),
]


@pytest.fixture
def acme_objects(acme, alice, bob, scim):
    group = services.group_create(actor=alice, organization=acme, name="Engineers")
    services.group_member_add(actor=alice, group=group, user=bob)
    return {"user": bob.pk, "group": group.pk}


def _call(client, method, template, body, ids):
    path = template.format(**ids)
    return (
        getattr(client, method)(path, body) if body is not None else getattr(client, method)(path)
    )


@pytest.mark.parametrize("method,template,body", BY_ID, ids=[f"{m} {t}" for m, t, _ in BY_ID])
def test_another_organizations_key_gets_404_and_changes_nothing(
    charlie_scim, acme_objects, bob, method, template, body
):
    events = Event.objects.count()
    response = _call(charlie_scim, method, template, body, acme_objects)
    assert response.status_code == 404, response.content
    scim_error(response)
    assert "bob@acme.example" not in response.content.decode()
    bob_now = User.objects.get(pk=bob.pk)
    assert (bob_now.status, bob_now.job_title) == (User.ACTIVE, "")
    assert Group.objects.get(pk=acme_objects["group"]).name == "Engineers"
    assert Membership.objects.filter(group_id=acme_objects["group"], user=bob).exists()
    assert Event.objects.count() == events


@pytest.mark.parametrize("method,template,body", LISTS, ids=[f"{m} {t}" for m, t, _ in LISTS])
def test_another_organizations_lists_show_none_of_acme(
    charlie_scim, acme_objects, method, template, body
):
    response = _call(charlie_scim, method, template, body, acme_objects)
    assert response.status_code == 200
    text = response.content.decode()
    assert "acme.example" not in text and "Engineers" not in text


def test_acmes_own_key_sees_its_objects(scim, acme_objects):
    assert scim.get(f"Users/{acme_objects['user']}").status_code == 200
    assert scim.get(f"Groups/{acme_objects['group']}").status_code == 200


@pytest.mark.parametrize("method,template,body", SHARED, ids=[f"{m} {t}" for m, t, _ in SHARED])
def test_shared_routes_answer_a_scim_key_and_leak_nothing(
    charlie_scim, acme_objects, method, template, body
):
    response = _call(charlie_scim, method, template, body, acme_objects)
    assert response.status_code in (200, 404, 501)
    assert "acme" not in response.content.decode().lower()


def test_the_walk_covers_every_scim_route():
    routes = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "scim/v2/":
            routes = {f"scim/v2/{str(p.pattern).lstrip('^')}" for p in pattern.url_patterns}
    ids = {"user": 1, "group": 1}
    walked = {resolve("/scim/v2/" + t.format(**ids)).route for _, t, _ in BY_ID + LISTS + SHARED}
    assert routes and routes == walked
