"""A key's own scope, on every route of /api/v1/ with every method: a read-only key
gets 403 on every write, a key limited to some areas 403 everywhere outside them, and
what its scope allows gets through (the creator, alice, is an owner, so her role limits
nothing here). Routes come from the URL configuration (tests/api/test_roles.py), so a
new endpoint is walked without being listed, and fails until it has an area."""

import pytest
from django.urls import resolve

from directory import roles, services
from directory.models import ApiKey, User
from tests.conftest import PASSWORD

from .helpers import error_of, key_client
from .test_roles import api_routes, concrete

METHODS = ("get", "post", "patch", "delete")
AREAS = [area for area, _ in ApiKey.AREAS]


def _url_name(route: str) -> str:
    return resolve(concrete(route, 1)).url_name


def test_every_api_route_belongs_to_an_area():
    unclassified = [r for r in api_routes() if _url_name(r) not in roles.API_AREAS]
    assert unclassified == []
    assert set(roles.API_AREAS.values()) == set(AREAS)


def _key(acme, alice, **scope):
    _, secret = services.api_key_create(actor=alice, organization=acme, name="k", **scope)
    return key_client(secret)


@pytest.mark.parametrize("route", api_routes())
def test_every_api_route_with_keys_of_every_scope(acme, alice, bob, route):
    path = concrete(route, bob.pk)
    area = roles.API_AREAS[resolve(path).url_name]
    keys = {"read-only": _key(acme, alice, read_only=True)}
    keys.update({f"only {a}": _key(acme, alice, areas=[a]) for a in AREAS})
    for label, client in keys.items():
        for method in METHODS:
            response = getattr(client, method)(path, {}, format="json")
            if label == "read-only":
                allowed = method == "get"
            else:
                allowed = label == f"only {area}"
            if allowed:
                assert response.status_code != 403, (label, method, path, response.content)
            elif response.status_code != 405:
                assert response.status_code == 403, (label, method, path, response.status_code)
                error = error_of(response)
                assert error["code"] == "permission_denied"
                expected = "read-only" if label == "read-only" else "limited to"
                assert expected in error["message"], error


def test_a_key_for_two_areas_uses_both_and_nothing_else(acme, alice, bob, engineers):
    client = _key(acme, alice, areas=["users", "groups"], read_only=True)
    assert client.get("/api/v1/users").status_code == 200
    assert client.get(f"/api/v1/groups/{engineers.pk}").status_code == 200
    refused = client.get("/api/v1/events")
    assert refused.status_code == 403
    assert error_of(refused)["message"] == (
        "This API key is limited to Users, Groups; this endpoint is in Events."
    )
    assert client.post(f"/api/v1/users/{bob.pk}/suspend").status_code == 403


def test_the_documents_are_open_to_an_area_limited_key(acme, alice):
    client = _key(acme, alice, areas=["events"])
    assert client.get("/api/v1/schema/").status_code == 200


def test_a_keys_scope_and_its_creators_role_both_hold(acme, alice, bob, engineers):
    """Effective rights are the intersection: a helpdesk creator's read-write key for
    users may set a password (both allow it) but not suspend (the role does not) nor
    read groups (the key does not)."""
    helpdesk = services.user_create(
        actor=alice,
        organization=acme,
        email="hd@acme.example",
        role=User.HELPDESK,
        password=PASSWORD,
    )
    _, secret = services.api_key_create(
        actor=helpdesk, organization=acme, name="desk", areas=["users"]
    )
    client = key_client(secret)
    body = {"password": "Another-Horse-77"}
    assert client.post(f"/api/v1/users/{bob.pk}/password", body, format="json").status_code in (
        200,
        204,
    )
    assert client.post(f"/api/v1/users/{bob.pk}/suspend").status_code == 403
    assert client.get("/api/v1/groups").status_code == 403


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"areas": ["payroll"]}, "areas"),
        ({"scope": ApiKey.SCOPE_SCIM, "read_only": True}, "areas"),
    ],
)
def test_a_key_with_a_bad_scope_is_refused_naming_the_field(acme, alice, options, field):
    from directory.errors import InvalidInput

    with pytest.raises(InvalidInput) as raised:
        services.api_key_create(actor=alice, organization=acme, name="k", **options)
    assert field in raised.value.fields
    assert not ApiKey.objects.exists()
