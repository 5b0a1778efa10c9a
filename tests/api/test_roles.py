"""Helpdesk and read-only through the API, on every route of /api/v1/ with every method:
what directory/roles.py allows gets through (200, 201, 204, 404 or 405), everything else
is a 403 `permission_denied` in the error shape. Routes come from the URL configuration,
so a new endpoint is walked without being listed."""

import re

import pytest
from django.urls import get_resolver, resolve

from directory import services
from directory.models import User
from tests.conftest import PASSWORD

from .helpers import error_of

HELPDESK_READS = {
    "api-users",
    "api-user",
    "api-user-photo",
    "api-groups",
    "api-group",
    "api-group-members",
}
HELPDESK_ACTIONS = {"api-user-password"}
OPEN = {"api-schema", "api-docs"}  # the documents, readable by everyone


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif getattr(pattern, "name", None) not in OPEN | {None}:
            yield prefix + str(pattern.pattern)


def api_routes() -> list[str]:
    routes = [r for r in _routes(get_resolver().url_patterns) if r.startswith("api/v1/")]
    return sorted(r for r in set(routes) if not r.startswith("api/v1/^"))


def concrete(route: str, pk: int) -> str:
    return "/" + re.sub(r"<int:\w+>", str(pk), route)


def may(role: str, url_name: str, method: str) -> bool:
    if role == User.READ_ONLY:
        return method == "get"
    return url_name in HELPDESK_ACTIONS or (method == "get" and url_name in HELPDESK_READS)


def test_the_walk_reads_the_api_and_its_microsoft_365_part():
    routes = api_routes()
    assert "api/v1/users/<int:user_id>/password" in routes
    assert any(r.startswith("api/v1/m365/") for r in routes)


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
@pytest.mark.parametrize("role", [User.HELPDESK, User.READ_ONLY])
@pytest.mark.parametrize("route", api_routes())
def test_every_api_route_with_every_narrow_role(
    session_client, acme, alice, bob, route, role, method
):
    person = services.user_create(
        actor=alice, organization=acme, email=f"{role}@acme.example", role=role, password=PASSWORD
    )
    client = session_client(person)
    path = concrete(route, bob.pk)
    response = getattr(client, method)(path, {}, format="json")
    denied = response.status_code == 403
    if may(role, resolve(path).url_name, method):
        assert not denied, (route, response.content)
    else:
        assert denied or response.status_code == 405, (route, response.status_code)
        if denied:
            assert error_of(response)["code"] == "permission_denied"


def test_helpdesk_sets_a_password_and_read_only_cannot(session_client, acme, alice, bob):
    helpdesk, read_only = (
        services.user_create(
            actor=alice, organization=acme, email=f"{r}@acme.example", role=r, password=PASSWORD
        )
        for r in (User.HELPDESK, User.READ_ONLY)
    )
    url = f"/api/v1/users/{bob.pk}/password"
    body = {"password": "Another-Horse-77"}
    assert session_client(read_only).post(url, body, format="json").status_code == 403
    assert session_client(helpdesk).post(url, body, format="json").status_code in (200, 204)
