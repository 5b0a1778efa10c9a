"""The console's, the portal's and the API reference's own scripts run under the strict
Content-Security-Policy: real Chromium reports no violation on any page that uses them."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.m365bridge.factories import tenant_row

from .test_portal import console_sign_in, portal_sign_in

pytestmark = pytest.mark.e2e

# Recorded from the page itself as well, in case the console message is worded otherwise.
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def _watched(page):
    problems = []
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def _visit(page, problems, url, seen):
    page.goto(url)
    page.wait_for_load_state("networkidle")
    seen.extend(page.evaluate("window.__cspViolations"))
    seen.extend(problems)
    problems.clear()


def test_console_pages_with_scripts_raise_no_csp_violation(site, alice, acme, bob, new_page):
    tenant = tenant_row(acme, "acme.example")
    page = new_page()
    problems, seen = _watched(page), []
    console_sign_in(page, site.url, alice.email)
    for path in (
        "/console/",
        "/console/users/?status=active",
        f"/console/users/{bob.pk}/",
        "/console/groups/",
        "/console/events/",
        "/console/api-keys/",
        f"/console/m365/{tenant.pk}/",
    ):
        _visit(page, problems, site.url + path, seen)
    # console.js at work: a filter select submits its form by itself.
    page.goto(site.url + "/console/users/")
    page.select_option("form[data-autosubmit] select[name=status]", "active")
    page.wait_for_url("**status=active**")
    seen.extend(page.evaluate("window.__cspViolations") + problems)
    assert seen == []


def test_portal_pages_with_scripts_raise_no_csp_violation(site, bob, new_page):
    page = new_page()
    problems, seen = _watched(page), []
    portal_sign_in(page, site.url, bob.email, PASSWORD)
    page.wait_for_url(f"{site.url}/portal/")
    _visit(page, problems, site.url + "/portal/", seen)
    _visit(page, problems, site.url + "/portal/password/", seen)
    # portal.js at work: the checklist ticks as the password is typed.
    page.fill("#id_new_password", "a")
    assert page.get_attribute('[data-password-checklist] li[data-rule="lowercase"]', "class") == (
        "ok"
    )
    seen.extend(page.evaluate("window.__cspViolations") + problems)
    assert seen == []


def test_the_api_reference_tries_a_request_without_a_csp_violation(site, alice, new_page):
    page = new_page()
    problems, seen = _watched(page), []
    console_sign_in(page, site.url, alice.email)
    _visit(page, problems, site.url + "/api/v1/docs/", seen)
    box = page.locator('details.try[data-method="GET"][data-path="/api/v1/users"]')
    box.locator("summary").click()
    box.locator("button").click()
    expect(box.locator("[data-output]")).to_have_text(re.compile(r"^200 "))
    seen.extend(page.evaluate("window.__cspViolations") + problems)
    assert seen == []
