"""The MFA policy holds on every console URL: an admin without a factor is led to
enrolment, and one who has a factor but has not passed it this session is led to the
code page, whatever page they ask for and however (GET or POST). The walk reads the URL
configuration, so a new console route is walked without anyone listing it."""

import re

import pytest
from django.urls import get_resolver, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from directory.models import User
from tests.support.mfa import totp_code

# Public pages: they come before any sign-in.
PUBLIC = {"console/sign-in/", "console/sign-out/", "console/sign-up/"}


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def console_routes() -> list[str]:
    routes = [r for r in _routes(get_resolver().url_patterns) if r.startswith("console/")]
    return sorted(set(routes) - PUBLIC)


def assert_led_to(response, page: str, route: str) -> None:
    """Sent to the MFA page, or (a POST to a read-only page) refused with 405 before the
    view runs: nothing is shown or done either way."""
    if response.status_code == 405:
        return
    assert response.status_code == 302, route
    assert response["Location"].startswith(reverse(page)), route


def concrete(route: str) -> str:
    """A real path for a route: every <int:...> becomes 1, every <str:...> `csv`."""
    path = re.sub(r"<int:\w+>", "1", route)
    return "/" + re.sub(r"<str:\w+>", "csv", path)


def test_the_walk_finds_the_console_and_its_microsoft_365_pages():
    routes = console_routes()
    assert "console/users/<int:pk>/mfa-reset/" in routes
    assert "console/m365/connect/" in routes
    assert len(routes) > 40


@pytest.fixture
def acme_mfa(acme):
    acme.mfa_required_for_admins = True
    acme.save()
    return acme


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("route", console_routes())
def test_an_admin_without_a_factor_is_sent_to_enrolment(client, acme_mfa, alice, route, method):
    client.force_login(alice)
    response = getattr(client, method)(concrete(route))
    assert_led_to(response, "portal:mfa_enrol", route)


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("route", console_routes())
def test_an_admin_with_an_unverified_factor_is_asked_for_a_code(client, acme, alice, route, method):
    client.force_login(alice)
    client.get(reverse("portal:mfa_enrol"))
    device = TOTPDevice.objects.get(user=alice)
    client.post(reverse("portal:mfa_enrol"), {"code": totp_code(device)})
    client.logout()
    client.force_login(User.objects.get(pk=alice.pk))  # a new session, password only
    response = getattr(client, method)(concrete(route))
    assert_led_to(response, "portal:mfa_verify", route)


# Portal pages that come before a second factor: signing in, links from emails, and the
# second-factor pages themselves (each checks who may use it; tests/directory/test_mfa.py
# and test_passkeys.py).
PORTAL_BEFORE_FACTOR = {
    "portal/sign-in/",
    "portal/sign-out/",
    "portal/forgot/",
    "portal/forgot/sent/",
    "portal/activate/<str:token>/",
    "portal/reset/<str:token>/",
    "portal/dev/mail/",
    "portal/security/verify/",
    "portal/security/enrol/",
    "portal/security/passkeys/register/options/",
    "portal/security/passkeys/register/",
    "portal/security/passkeys/sign-in/options/",
    "portal/security/passkeys/sign-in/",
    "portal/passkey/options/",
    "portal/passkey/",
}


def portal_routes() -> list[str]:
    routes = {r for r in _routes(get_resolver().url_patterns) if r.startswith("portal/")}
    assert PORTAL_BEFORE_FACTOR <= routes
    return sorted(routes - PORTAL_BEFORE_FACTOR)


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("route", portal_routes())
def test_every_other_portal_page_needs_the_factor_first(client, acme_mfa, alice, route, method):
    client.force_login(alice)
    response = getattr(client, method)(concrete(route))
    assert_led_to(response, "portal:mfa_enrol", route)
