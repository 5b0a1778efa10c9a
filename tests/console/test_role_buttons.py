"""Helpdesk and read-only see no button that leads to 403: on the main pages, every form
that posts and every button-styled link is followed as that role (a form posted, a link
opened, and the forms on the page it opens posted too), and none answers 403. Pages hide
what a role cannot do through one template filter (`console_roles.may`, reading
directory/roles.py)."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from directory import services
from directory.models import User
from tests.conftest import PASSWORD
from tests.m365bridge.factories import TenantFactory


class _Actions(HTMLParser):
    """The page's posting forms (their action) and button-styled links (their href)."""

    def __init__(self):
        super().__init__()
        self.forms: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self.forms.append(attrs.get("action") or "")
        if tag == "a" and "button" in (attrs.get("class") or "").split():
            self.links.append(attrs.get("href") or "")


def _actions(html: str) -> _Actions:
    parser = _Actions()
    parser.feed(html)
    return parser


def _local(url: str, page: str) -> str | None:
    """A path on this site (a form without action posts to its page), else None."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith("#"):
        return None
    path = parts.path or page
    return f"{path}?{parts.query}" if parts.query else path


@pytest.fixture
def cast(acme, alice, bob):
    tenant = TenantFactory(organization=acme)
    group = services.group_create(actor=alice, organization=acme, name="Engineers")
    services.group_member_add(actor=alice, group=group, user=bob)
    suspended = services.user_create(
        actor=alice, organization=acme, email="sue@acme.example", password=PASSWORD
    )
    services.user_suspend(actor=alice, user=suspended)
    services.api_key_create(actor=alice, organization=acme, name="HR sync")
    return {"tenant": tenant, "group": group, "suspended": suspended}


def _pages(cast, bob):
    return [
        reverse("console:users"),
        reverse("console:user_detail", args=[bob.pk]),
        reverse("console:user_detail", args=[cast["suspended"].pk]),
        reverse("console:groups"),
        reverse("console:group_detail", args=[cast["group"].pk]),
        reverse("m365:tenants"),
        reverse("m365:tenant", args=[cast["tenant"].pk]),
        reverse("console:api_keys"),
        reverse("console:settings"),
    ]


@pytest.mark.parametrize("role", [User.HELPDESK, User.READ_ONLY])
def test_no_button_leads_a_narrow_role_to_403(acme, alice, bob, cast, role):
    person = services.user_create(
        actor=alice, organization=acme, email=f"{role}@acme.example", role=role, password=PASSWORD
    )

    def fresh():
        client = Client()
        client.force_login(person)
        return client

    opened, refused = 0, []
    for page in _pages(cast, bob):
        response = fresh().get(page)
        if response.status_code == 403:
            continue  # the page itself is not for this role (tests/console/test_roles.py)
        assert response.status_code == 200, (page, response.status_code)
        opened += 1
        found = _actions(response.content.decode())
        posts = [(page, _local(action, page)) for action in found.forms]
        for href in filter(None, (_local(link, page) for link in found.links)):
            target = fresh().get(href)
            if target.status_code == 403:
                refused.append(("link", page, href))
            elif target.status_code == 200:
                posts += [(href, _local(a, href)) for a in _actions(target.content.decode()).forms]
        for where, action in posts:
            if action and fresh().post(action, {}).status_code == 403:
                refused.append(("form", where, action))
    assert opened >= 4
    assert refused == []


def test_an_admin_still_sees_the_buttons(alice_client, bob, cast):
    detail = alice_client.get(reverse("console:user_detail", args=[bob.pk])).content.decode()
    for view in ("console:user_edit", "console:user_suspend", "console:user_delete"):
        assert reverse(view, args=[bob.pk]) in detail
    assert 'name="name"' in alice_client.get(reverse("console:api_keys")).content.decode()
