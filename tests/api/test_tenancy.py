"""Every API endpoint that takes an object id, tried by charlie (Globex's admin) with
Acme's ids: each one is a 404 in the error shape and changes nothing. And bob, a member
of Acme, cannot use any of them."""

import pytest
from django.urls import get_resolver

from audit.models import Event
from directory.models import Group, Membership, User

from .helpers import error_of

NEW_PASSWORD = "Another-Horse-77"

# (method, path template, JSON body); {user} and {group} are Acme's objects.
ENDPOINTS = [
    ("get", "users/{user}", None),
    ("patch", "users/{user}", {"job_title": "Spy"}),
    ("delete", "users/{user}", None),
    ("post", "users/{user}/password", {"password": NEW_PASSWORD}),
    ("post", "users/{user}/suspend", None),
    ("post", "users/{user}/activate", None),
    ("get", "users/{user}/photo", None),
    ("put", "users/{user}/photo", {"not": "an image"}),
    ("delete", "users/{user}/photo", None),
    ("get", "groups/{group}", None),
    ("patch", "groups/{group}", {"name": "Taken over"}),
    ("delete", "groups/{group}", None),
    ("get", "groups/{group}/members", None),
    ("post", "groups/{group}/members/{user}", None),
    ("delete", "groups/{group}/members/{user}", None),
]


@pytest.fixture
def acme_objects(alice, bob, engineers):
    from directory import services

    services.group_member_add(actor=alice, group=engineers, user=bob)
    return {"user": bob.pk, "group": engineers.pk}


def _call(client, method, template, body, ids):
    url = "/api/v1/" + template.format(**ids)
    return (
        getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
    )


@pytest.mark.parametrize(
    "method,template,body", ENDPOINTS, ids=[f"{m} {t}" for m, t, _ in ENDPOINTS]
)
def test_another_organizations_admin_gets_404_and_changes_nothing(
    charlie_api, acme_objects, bob, engineers, method, template, body
):
    events = Event.objects.count()
    response = _call(charlie_api, method, template, body, acme_objects)
    assert response.status_code == 404, response.content
    assert error_of(response) == {"code": "not_found", "message": "Not found.", "fields": {}}
    assert "bob@acme.example" not in response.content.decode()
    bob_now = User.objects.get(pk=bob.pk)
    assert (bob_now.status, bob_now.job_title) == (User.ACTIVE, "")
    assert Group.objects.get(pk=engineers.pk).name == "Engineers"
    assert Membership.objects.filter(group=engineers, user=bob).exists()
    assert Event.objects.count() == events


@pytest.mark.parametrize(
    "method,template,body", ENDPOINTS, ids=[f"{m} {t}" for m, t, _ in ENDPOINTS]
)
def test_a_member_cannot_use_any_of_them(session_client, acme_objects, bob, method, template, body):
    response = _call(session_client(bob), method, template, body, acme_objects)
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


def test_the_walk_covers_every_api_route_that_takes_an_id():
    routes = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "api/v1/":
            routes = _routes(pattern.url_patterns)
    with_ids = {r for r in routes if "<" in r}
    walked = {
        t.replace("{user}", "<int:user_id>").replace("{group}", "<int:group_id>")
        for _, t, _ in ENDPOINTS
    }
    assert with_ids and with_ids == walked


def _routes(patterns, prefix=""):
    found = set()
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            found |= _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            found.add(prefix + str(pattern.pattern))
    return found
