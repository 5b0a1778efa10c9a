"""Every console and portal page is `Cache-Control: no-store` and every page carries a
strict Content-Security-Policy; no template needs `unsafe-inline`."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.m365bridge.factories import tenant_row

TEMPLATES = Path(settings.BASE_DIR) / "templates"

CONSOLE_PAGES = [
    "/console/",
    "/console/users/",
    "/console/users/new/",
    "/console/groups/",
    "/console/events/",
    "/console/settings/",
    "/console/api-keys/",
    "/console/m365/",
]
PORTAL_PAGES = ["/portal/", "/portal/password/"]
SIGNED_OUT_PAGES = [
    "/console/sign-in/",
    "/console/sign-up/",
    "/portal/sign-in/",
    "/portal/forgot/",
]


def _csp(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parts}


def _assert_private_and_strict(response):
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    policy = _csp(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("path", CONSOLE_PAGES)
def test_console_pages_are_no_store_with_a_strict_policy(alice_client, path):
    _assert_private_and_strict(alice_client.get(path))


def test_object_pages_are_no_store_with_a_strict_policy(alice_client, acme, engineers, bob):
    tenant = tenant_row(acme, "acme.example")
    for path in (
        reverse("console:user_detail", args=[bob.pk]),
        reverse("console:group_detail", args=[engineers.pk]),
        reverse("m365:tenant", args=[tenant.pk]),
    ):
        _assert_private_and_strict(alice_client.get(path))


@pytest.mark.parametrize("path", PORTAL_PAGES)
def test_portal_pages_are_no_store_with_a_strict_policy(bob, path):
    browser = Client()
    assert browser.login(email=bob.email, password=PASSWORD)
    _assert_private_and_strict(browser.get(path))


@pytest.mark.parametrize("path", SIGNED_OUT_PAGES)
def test_sign_in_pages_are_no_store_with_a_strict_policy(db, path):
    _assert_private_and_strict(Client().get(path))


def test_the_api_reference_has_the_strict_policy_too(db):
    response = Client().get("/api/v1/docs/")
    assert _csp(response)["script-src"] == ["'self'"]


def test_a_tenant_connection_may_be_sent_on_to_microsofts_sign_in(db):
    policy = _csp(Client().get("/console/sign-in/"))
    assert policy["form-action"] == ["'self'", settings.M365_LOGIN_URL]


# Page templates (emails are not pages: mail clients need their inline styles).
PAGE_TEMPLATES = sorted(p for p in TEMPLATES.rglob("*.html") if "emails" not in p.parts)
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>"  # a script element with its code inline
    r"|<style\b"  # a style element
    r"|\son[a-z]+\s*="  # an event handler attribute
    r"|\sstyle\s*="  # a style attribute
    r"|javascript:",
    re.IGNORECASE,
)


@pytest.mark.parametrize("template", PAGE_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_page_template_has_inline_script_or_style(template):
    found = INLINE.findall(template.read_text())
    assert found == [], f"{template.name}: move {found} into static/"
